package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// breakdown is where a get_conversation's time goes in the server, from
// its own metrics over a run of calls: the whole HTTP request, the tool
// call inside it (reads, decision, audit row), the Rego decision, the round
// trips to PostgreSQL, and the processor time the server spent per call
// (on a shared, loaded machine a request's wall time is mostly waiting for
// a processor, so this says what a call costs that the floors do not pay),
// and the heap allocations per call.
func (e *env) breakdown(ctx context.Context, d time.Duration) row {
	r := row{figure: "where a get_conversation's server time goes (1 client; from the server's /metrics and /proc)", baseName: "per call", target: "–"}
	base := strings.TrimSuffix(e.mcpURL, "/api/mcp")
	before, err := scrape(ctx, base, e.metricsToken)
	if err != nil {
		r.skipped = err.Error()
		return r
	}
	cpu0, cpuErr := cpuTime(e.pid)
	st := run(ctx, 1, 0, d, e.getConversation)
	after, err := scrape(ctx, base, e.metricsToken)
	if err != nil {
		r.skipped = err.Error()
		return r
	}
	cpu1, cpuErr2 := cpuTime(e.pid)
	calls := after[`deskwoot_mcp_tool_calls_total{decision="allow",tool="get_conversation"}`] - before[`deskwoot_mcp_tool_calls_total{decision="allow",tool="get_conversation"}`]
	if calls <= 0 {
		r.skipped = "no get_conversation calls in the server's metrics"
		return r
	}
	per := func(name string) float64 { return (after[name] - before[name]) / calls }
	us := func(seconds float64) string { return fmtDur(time.Duration(seconds * float64(time.Second))) }
	httpT := per(`deskwoot_http_request_duration_seconds_sum{route="/api/mcp"}`)
	tool := per(`deskwoot_mcp_tool_call_duration_seconds_sum{tool="get_conversation"}`)
	r.oursCell = fmt.Sprintf("HTTP %s = around the tool (auth, gate, mcp-go, JSON) %s + tool %s (decision %s; %.1f round trips to PostgreSQL)",
		us(httpT), us(httpT-tool), us(tool), us(per("deskwoot_policy_decision_seconds_sum")), per("deskwoot_db_round_trips_total"))
	r.baseCell = fmt.Sprintf("client p50 %s", fmtDur(st.p50))
	if cpuErr == nil && cpuErr2 == nil {
		r.ratio = fmt.Sprintf("server processor time %s per call", fmtDur(time.Duration(float64(cpu1-cpu0)/calls)))
	}
	// The Go runtime's count of heap allocations (go_memstats_mallocs_total):
	// what a call leaves for the garbage collector, steadier than time.
	if mallocs := per("go_memstats_mallocs_total"); mallocs > 0 {
		if r.ratio != "" {
			r.ratio += "; "
		}
		r.ratio += fmt.Sprintf("%.0f heap allocations per call", mallocs)
	}
	return r
}

// scrape reads the server's /metrics samples by name (with labels).
func scrape(ctx context.Context, base, token string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: HTTP %d", resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// cpuTime is the processor time (user and system) process pid has used.
func cpuTime(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, errors.New("no server pid")
	}
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the command (which may hold spaces) in parentheses:
	// utime and stime are the 12th and 13th, in clock ticks (100 a second).
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc/pid/stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unreadable /proc/pid/stat")
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}
