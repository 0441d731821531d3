package mcp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/tenancy"
)

// benchConversation is a world whose first conversation has 20 messages.
func benchConversation(b *testing.B) (world, string) {
	b.Helper()
	w := newWorld(b)
	// Replies are delivered for real, to a receiver that accepts them.
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	b.Cleanup(receiver.Close)
	if _, err := w.d.InboxUpdate(context.Background(), tenancy.For(w.Account.ID), w.inbox1, desk.InboxPatch{Settings: map[string]any{"webhook_url": receiver.URL}}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 19; i++ {
		if _, err := w.d.MessageCreate(context.Background(), w.Account.ID, w.conv1, fmt.Sprintf("reply %d", i), i%4 == 0,
			desk.Author{Kind: "user", UserID: w.User.ID, Name: "Admin"}); err != nil {
			b.Fatal(err)
		}
	}
	return w, w.token(b, allScopes, nil)
}

// mcpCall posts one tools/call and checks it succeeded.
func mcpCall(client *http.Client, url, token, body string) error {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || bytes.Contains(raw, []byte(`"isError":true`)) {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, raw)
	}
	return nil
}

func callBody(tool string, args map[string]any) string {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": map[string]any{"name": tool, "arguments": args}})
	return string(b)
}

// BenchmarkGetConversation compares get_conversation (20 messages) over
// MCP/HTTP on loopback — authentication, gate, target load, policy,
// query, audit row — with the same SQL straight through pgx, one client
// and 8 concurrent clients (calls/s reported).
func BenchmarkGetConversation(b *testing.B) {
	url := endpoint(b)
	w, token := benchConversation(b)
	body := callBody("get_conversation", map[string]any{"conversation_id": w.conv1, "messages_limit": 20})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.Run("mcp-http", func(b *testing.B) {
		httpBefore := metricSum(b, url, `deskwoot_http_request_duration_seconds_sum{route="/api/mcp"}`)
		toolBefore := metricSum(b, url, `deskwoot_mcp_tool_call_duration_seconds_sum{tool="get_conversation"}`)
		policyBefore := metricSum(b, url, "deskwoot_policy_decision_seconds_sum")
		cpuBefore := processCPU()
		n := 0
		for b.Loop() {
			if err := mcpCall(client, url, token, body); err != nil {
				b.Fatal(err)
			}
			n++
		}
		// Where the time goes, from the server's own metrics: the whole
		// HTTP request, the tool call inside it (target+answer, decision,
		// audit row) and the decision alone.
		per := func(name string, before float64) float64 {
			return (metricSum(b, url, name) - before) / float64(n) * 1e6
		}
		b.ReportMetric(per(`deskwoot_http_request_duration_seconds_sum{route="/api/mcp"}`, httpBefore), "server-µs")
		b.ReportMetric(per(`deskwoot_mcp_tool_call_duration_seconds_sum{tool="get_conversation"}`, toolBefore), "tool-µs")
		b.ReportMetric(per("deskwoot_policy_decision_seconds_sum", policyBefore), "policy-µs")
		// Processor time of the whole process (server and client) per call:
		// on a shared machine, steadier than the wall time above.
		b.ReportMetric(float64((processCPU()-cpuBefore).Microseconds())/float64(n), "cpu-µs")
	})
	b.Run("mcp-http-8-clients", func(b *testing.B) {
		b.SetParallelism(4) // GOMAXPROCS 2 × 4 = 8 clients
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := mcpCall(client, url, token, body); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
	})
	if dbtest.SuperuserURL() == "" {
		b.Skip("no superuser for the bare-SQL baseline")
	}
	raw, err := pgxpool.New(context.Background(), dbtest.SuperuserURL())
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	b.Run("pgx-same-sql", func(b *testing.B) {
		for b.Loop() {
			if err := bareGet(raw, w.Account.ID, w.conv1); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// processCPU is the processor time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func bareGet(pool *pgxpool.Pool, acct, conv int64) error {
	bt := &pgx.Batch{}
	drain := func(rows pgx.Rows) error {
		for rows.Next() {
			rows.Values()
		}
		return rows.Err()
	}
	bt.Queue(`SELECT c.id, c.inbox_id, c.subject, c.status, c.priority, c.labels, ct.id, ct.name, ct.email, c.assignee_id, u.name,
		c.team_id, tm.name, c.custom_attributes, c.snoozed_until, c.last_activity_at, c.created_at
		FROM conversations c JOIN contacts ct ON ct.account_id = c.account_id AND ct.id = c.contact_id
		LEFT JOIN users u ON u.id = c.assignee_id LEFT JOIN teams tm ON tm.account_id = c.account_id AND tm.id = c.team_id
		WHERE c.account_id = $2 AND c.id = $1`, conv, acct).Query(drain)
	bt.Queue(`SELECT id, conversation_id, type, content, private, sender_kind, sender_id, sender_name, delivery_status, delivery_error, approved_by, created_at
		FROM messages WHERE account_id = $2 AND conversation_id = $1 AND id > 0 ORDER BY id LIMIT 21`, conv, acct).Query(drain)
	return pool.SendBatch(context.Background(), bt).Close()
}

// BenchmarkReply measures reply_to_conversation with 8 concurrent clients:
// calls/s and p99 latency.
func BenchmarkReply(b *testing.B) {
	url := endpoint(b)
	w, token := benchConversation(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	policyBefore, toolBefore := metricSum(b, url, "deskwoot_policy_decision_seconds_sum"), metricSum(b, url, `deskwoot_mcp_tool_call_duration_seconds_sum{tool="reply_to_conversation"}`)
	var n atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(4)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			body := callBody("reply_to_conversation", map[string]any{"conversation_id": w.conv1,
				"content": "Thanks for waiting, here is an update.", "idempotency_key": fmt.Sprint("bench-", n.Add(1), "-", time.Now().UnixNano())})
			t0 := time.Now()
			if err := mcpCall(client, url, token, body); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "calls/s")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
	// The share of the calls' server time spent in the Rego decision, from
	// the server's own metrics.
	inPolicy := metricSum(b, url, "deskwoot_policy_decision_seconds_sum") - policyBefore
	inTool := metricSum(b, url, `deskwoot_mcp_tool_call_duration_seconds_sum{tool="reply_to_conversation"}`) - toolBefore
	if inTool > 0 {
		b.ReportMetric(100*inPolicy/inTool, "policy-%")
	}
}

// metricSum reads one sample from the server's /metrics.
// benchMetricsToken is the token of the test server's /metrics (off
// without one), which the benchmarks read the server's own timings from.
const benchMetricsToken = "bench-metrics"

func metricSum(b *testing.B, mcpURL, name string) float64 {
	req, _ := http.NewRequest(http.MethodGet, strings.TrimSuffix(mcpURL, "/api/mcp")+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+benchMetricsToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}
