package mcp_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// shadowDenyAll is the worst candidate for a shadow's cost: it decides
// differently from the rules in force on every call, so each call is
// decided again and recorded as a flip.
const shadowDenyAll = `package deskwoot.tenant

deny contains "not while we try this" if {
	input.tool == "get_conversation"
}
`

const shadowDenyAllTests = `package deskwoot.tenant_test

import data.deskwoot.tenant

test_denies if {
	count(tenant.deny) == 1 with input as {"tool": "get_conversation"}
}
`

// BenchmarkShadowCost times get_conversation (20 messages) over MCP/HTTP
// with the account's candidate in shadow and without, in alternating
// blocks of calls in the same workspace (so that a machine whose load
// drifts weighs on both alike), and reports the ratio of the medians and
// of the server's own time per call (issue 24: at most 1.1). The
// candidate flips every call, so each is decided again in the shadow's
// sandbox child and recorded. Before a block without the shadow, the
// shadow has decided every call of the block before (its work is counted
// where it was caused).
//
// It also reports CPU per call (cpu-µs-without, cpu-µs-with, cpu-ratio)
// of every process a call keeps busy: this test process (the server and
// the client), its sandbox children and PostgreSQL; and the shadow's
// share of each (shadow-server-µs, shadow-child-µs, shadow-pg-µs: a call
// with it less one without). On a saturated machine every CPU-microsecond
// the shadow spends comes out of the live calls, so cpu-ratio is what
// server-ratio tends to there.
//
// Measured on a shared 2-core machine, the code before and after in
// alternation against one PostgreSQL, runs of 3,000 calls. At load 3 to
// 18, 15 runs each: before (every call decided with the whole decision
// in the child, a row per flip), cpu-ratio median 1.27 (1.20 to 1.51),
// server-ratio 1.16 (0.86 to 1.54); after (base denials settled without
// a trip, allowed calls asked account_decision, GOGC 400 in the child, a
// row per trip), cpu-ratio 1.17 (1.05 to 1.22), server-ratio 1.10 (0.85
// to 1.37). At load 1 to 2.5, 5 runs each, with children and PostgreSQL
// read from schedstat: before, cpu-ratio 1.26 (1.22 to 1.37),
// server-ratio 1.07 (1.04 to 1.18), the shadow's CPU per call 37 µs in
// the server, 437 in the child, 58 in PostgreSQL against a call's 2,040;
// after, cpu-ratio 1.14 (1.07 to 1.22), server-ratio 1.07 (0.99 to
// 1.15), 82, 129 and 73 µs against 2,060 (the server's and PostgreSQL's
// shares vary by ±60 µs from run to run; a CPU profile puts the shadow's
// own work in the server at about 35 µs a call). Earlier, in the old
// benchmark: at load 7 to 13, p50 ratio 1.01 to 1.02 and server ratio
// 1.04 to 1.12; before the worker let calls gather (50 ms) into one trip
// and one write, the p50 ratio was 1.40.
func BenchmarkShadowCost(b *testing.B) {
	url := endpoint(b)
	w, token := benchConversation(b)
	rest := strings.TrimSuffix(url, "/api/mcp") + "/api/v1"
	body := callBody("get_conversation", map[string]any{"conversation_id": w.conv1, "messages_limit": 20})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	var cand struct{ ID int64 }
	shadowREST(b, client, "POST", rest+"/policy/candidates", w.APIToken, map[string]any{"rego": shadowDenyAll, "tests": shadowDenyAllTests}, 201, &cand)
	// decided is how many calls the shadow has gone through (decided or
	// skipped).
	decided := func() int64 {
		var s struct {
			Shadow *struct{ Decisions, Skipped int64 }
		}
		shadowREST(b, client, "GET", rest+"/policy/shadow", w.APIToken, nil, 200, &s)
		if s.Shadow == nil {
			return 0
		}
		return s.Shadow.Decisions + s.Shadow.Skipped
	}

	const block = 50
	const serverSum = `deskwoot_http_request_duration_seconds_sum{route="/api/mcp"}`
	var lat [2][]time.Duration // [0] without, [1] with the shadow
	var server [2]float64      // seconds of server time
	var cpu [2]cpuTimes        // CPU time of the processes the calls keep busy
	var calls [2]int
	meter := newCPUMeter(b)
	if meter == nil {
		b.Skip("no /proc to read CPU times from")
	}
	// The shadow's sandbox child starts (and compiles the base policy and
	// the candidate) at the shadow's first call, once per replica: a
	// block before the timing starts lets it, so that the figures are
	// what each call costs.
	shadowREST(b, client, "POST", fmt.Sprintf("%s/policy/candidates/%d/shadow", rest, cand.ID), w.APIToken, map[string]any{"days": 1}, 200, nil)
	if err := mcpCall(client, url, token, body); err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); decided() < 1 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
	}
	shadowREST(b, client, "DELETE", rest+"/policy/shadow", w.APIToken, nil, 204, nil)
	shadowed, want, asked := false, int64(1), 1
	before, cpuBefore := metricSum(b, url, serverSum), meter.read()
	for i := 0; b.Loop(); i++ {
		if i%block == 0 {
			b.StopTimer()
			now := metricSum(b, url, serverSum)
			if i > 0 {
				server[mode(shadowed)] += now - before
			}
			// Both sides wait alike, then ask for the shadow's counts
			// until the shadow has decided the block's calls, so that
			// the CPU of the shadow's work is counted where it was
			// caused; the side without asks as many times as the block
			// before it did, so that the asking (a REST call each) costs
			// both sides alike.
			time.Sleep(100 * time.Millisecond)
			if shadowed {
				asked = 0
				for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
					asked++
					if decided() >= want {
						break
					}
				}
			} else {
				for n := 0; n < asked; n++ {
					if n > 0 {
						time.Sleep(20 * time.Millisecond)
					}
					decided()
				}
			}
			if i > 0 {
				cpu[mode(shadowed)] = cpu[mode(shadowed)].add(meter.read().sub(cpuBefore))
			}
			if shadowed {
				shadowREST(b, client, "DELETE", rest+"/policy/shadow", w.APIToken, nil, 204, nil)
			} else {
				shadowREST(b, client, "POST", fmt.Sprintf("%s/policy/candidates/%d/shadow", rest, cand.ID), w.APIToken, map[string]any{"days": 1}, 200, nil)
				want += block
			}
			shadowed = !shadowed
			before, cpuBefore = metricSum(b, url, serverSum), meter.read()
			b.StartTimer()
		}
		start := time.Now()
		if err := mcpCall(client, url, token, body); err != nil {
			b.Fatal(err)
		}
		lat[mode(shadowed)] = append(lat[mode(shadowed)], time.Since(start))
		calls[mode(shadowed)]++
	}
	b.StopTimer()
	server[mode(shadowed)] += metricSum(b, url, serverSum) - before
	time.Sleep(100 * time.Millisecond)
	for deadline := time.Now().Add(time.Minute); shadowed && decided() < want && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
	}
	cpu[mode(shadowed)] = cpu[mode(shadowed)].add(meter.read().sub(cpuBefore))
	if calls[0] == 0 || calls[1] == 0 {
		return // too few calls for both (run with -benchtime=2000x or more)
	}
	p50 := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2].Microseconds())
	}
	without, with := p50(lat[0]), p50(lat[1])
	sWithout, sWith := server[0]/float64(calls[0])*1e6, server[1]/float64(calls[1])*1e6
	b.ReportMetric(without, "p50-µs-without")
	b.ReportMetric(with, "p50-µs-with")
	b.ReportMetric(with/without, "p50-ratio")
	b.ReportMetric(sWithout, "server-µs-without")
	b.ReportMetric(sWith, "server-µs-with")
	b.ReportMetric(sWith/sWithout, "server-ratio")
	// CPU per call, on each side and in all; the shadow's share is what a
	// call with it cost each kind of process more than one without.
	perCall := func(d time.Duration, n int) float64 { return float64(d.Microseconds()) / float64(n) }
	cWithout, cWith := perCall(cpu[0].total(), calls[0]), perCall(cpu[1].total(), calls[1])
	b.ReportMetric(cWithout, "cpu-µs-without")
	b.ReportMetric(cWith, "cpu-µs-with")
	b.ReportMetric(cWith/cWithout, "cpu-ratio")
	b.ReportMetric(perCall(cpu[1].self, calls[1])-perCall(cpu[0].self, calls[0]), "shadow-server-µs")
	b.ReportMetric(perCall(cpu[1].children, calls[1])-perCall(cpu[0].children, calls[0]), "shadow-child-µs")
	b.ReportMetric(perCall(cpu[1].postgres, calls[1])-perCall(cpu[0].postgres, calls[0]), "shadow-pg-µs")
}

func mode(shadowed bool) int {
	if shadowed {
		return 1
	}
	return 0
}

// shadowREST makes one REST call with a user API token and decodes the
// answer into out (when not nil), failing unless the status is status.
func shadowREST(b *testing.B, client *http.Client, method, url, token string, in any, status int, out any) {
	b.Helper()
	var rd *bytes.Reader
	if in != nil {
		raw, _ := json.Marshal(in)
		rd = bytes.NewReader(raw)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var raw bytes.Buffer
	raw.ReadFrom(resp.Body)
	if resp.StatusCode != status {
		b.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, raw.String())
	}
	if out != nil {
		if err := json.Unmarshal(raw.Bytes(), out); err != nil {
			b.Fatal(err)
		}
	}
}
