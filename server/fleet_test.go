package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/server"
)

// fleet is several `serve` replicas on one database: each a server.App of
// its own (pool, event listener, outbox workers, audit sealer) behind its
// own HTTP server, as separate processes behind a load balancer would be.
type fleet struct {
	apps []*server.App
	urls []string
}

func startFleet(t *testing.T, appURL string, n int) *fleet {
	return startFleetAt(t, appURL, n, false)
}

// startFleetAt is startFleet whose replicas, when public is set, all
// take the first replica's address as their public URL, as replicas
// behind one load balancer do (OAuth binds its tokens to it).
func startFleetAt(t *testing.T, appURL string, n int, public bool) *fleet {
	t.Helper()
	f := &fleet{}
	publicURL := ""
	for i := 0; i < n; i++ {
		ts := httptest.NewUnstartedServer(nil)
		if public && i == 0 {
			publicURL = "http://" + ts.Listener.Addr().String()
		}
		// Callers may name their address (fleetAddr), as clients behind a
		// proxy are told apart: the per-address throttles count each apart.
		app, err := server.Build(context.Background(), server.Config{AppDatabaseURL: appURL, AllowPrivateWebhooks: true, OutboxWorkers: 4,
			ClientIPHeader: fleetAddr, PublicURL: publicURL})
		if err != nil {
			ts.Close()
			t.Fatal(err)
		}
		bg, stop := context.WithCancel(context.Background())
		app.Background(bg)
		ts.Config.Handler = app.Handler
		ts.Start()
		t.Cleanup(func() {
			ts.Close()
			stop()
			select {
			case <-app.Outbox.Stopped():
			case <-time.After(10 * time.Second):
			}
			app.DB.Close()
		})
		f.apps = append(f.apps, app)
		f.urls = append(f.urls, ts.URL)
	}
	return f
}

// client bounds every request, so a hang is an error rather than a stuck test.
var client = &http.Client{Timeout: 15 * time.Second}

// call is one REST request; out is the decoded JSON answer.
func call(method, url, token string, body any) (status int, out map[string]any, err error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	json.Unmarshal(raw, &out)
	return resp.StatusCode, out, nil
}

func mustCall(t *testing.T, want int, method, url, token string, body any) map[string]any {
	t.Helper()
	status, out, err := call(method, url, token, body)
	if err != nil || status != want {
		t.Fatalf("%s %s: %d %v %v, want %d", method, url, status, out, err, want)
	}
	return out
}

// tool is one MCP tools/call; result is the JSON-RPC result (nil when the
// HTTP status is not 200).
func tool(base, token, name string, args map[string]any) (status int, result map[string]any, err error) {
	return toolFrom("", base, token, name, args)
}

// fleetAddr is the header a fleet's replicas take a caller's address from.
const fleetAddr = "X-Fleet-Client"

// toolFrom is tool from the client address addr ("" for the connection's).
func toolFrom(addr, base, token, name string, args map[string]any) (status int, result map[string]any, err error) {
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": map[string]any{"name": name, "arguments": args}})
	req, _ := http.NewRequest(http.MethodPost, base+"/api/mcp", bytes.NewReader(body))
	if addr != "" {
		req.Header.Set(fleetAddr, addr)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	result, _ = out["result"].(map[string]any)
	return resp.StatusCode, result, nil
}

// toolNames is the tools/list of a token on one replica.
func toolNames(t *testing.T, base, token string) []string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
	req, _ := http.NewRequest(http.MethodPost, base+"/api/mcp", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Result struct{ Tools []struct{ Name string } }
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("tools/list on %s: HTTP %d %v", base, resp.StatusCode, err)
	}
	var names []string
	for _, tl := range out.Result.Tools {
		names = append(names, tl.Name)
	}
	return names
}

func toolText(res map[string]any) string {
	content, _ := res["content"].([]any)
	if len(content) == 0 {
		return ""
	}
	s, _ := content[0].(map[string]any)["text"].(string)
	return s
}

func mustTool(t *testing.T, base, token, name string, args map[string]any) map[string]any {
	t.Helper()
	status, res, err := tool(base, token, name, args)
	if err != nil || status != 200 || res == nil || res["isError"] == true {
		t.Fatalf("%s on %s: HTTP %d %v %s", name, base, status, err, toolText(res))
	}
	sc, _ := res["structuredContent"].(map[string]any)
	return sc
}

// workspace is a tenant set up through REST: an admin, an api inbox whose
// webhook is rx, and MCP switched on.
type workspace struct {
	admin     string
	inbox     int64
	conv      int64
	rx        *receiver
	base      string
	accountID int64
	userID    int64
}

func newWorkspace(t *testing.T, base string) *workspace {
	t.Helper()
	rx := newReceiver(t)
	email := fmt.Sprintf("admin-%d@fleet.test", time.Now().UnixNano())
	out := mustCall(t, 201, "POST", base+"/api/v1/signup", "", map[string]any{"account_name": "Fleet Co", "email": email, "password": "correct horse battery"})
	w := &workspace{admin: out["api_token"].(string), rx: rx, base: base}
	w.accountID = int64(out["account"].(map[string]any)["id"].(float64))
	w.userID = int64(out["user"].(map[string]any)["id"].(float64))
	ib := mustCall(t, 201, "POST", base+"/api/v1/inboxes", w.admin, map[string]any{"name": "API", "channel": "api",
		"settings": map[string]any{"webhook_url": rx.url, "webhook_secret": "s3cret-s3cret-s3cret"}})
	w.inbox = int64(ib["id"].(float64))
	mustCall(t, 200, "PUT", base+"/api/v1/settings/mcp", w.admin, map[string]any{"enabled": true})
	in := mustCall(t, 201, "POST", fmt.Sprintf("%s/api/v1/inboxes/%d/messages", base, w.inbox), w.admin,
		map[string]any{"contact": map[string]any{"email": "cat@customer.test", "name": "Cat"}, "content": "Where is my order?", "source_id": "first"})
	w.conv = int64(in["conversation_id"].(float64))
	return w
}

// token mints an MCP token with every scope and the given per-minute limit.
func (w *workspace) token(t *testing.T, perMinute int) (int64, string) {
	t.Helper()
	out := mustCall(t, 201, "POST", w.base+"/api/v1/mcp/tokens", w.admin, map[string]any{"name": "bot", "preset": "full_agent", "rate_limit_per_minute": perMinute})
	return int64(out["id"].(float64)), out["token"].(string)
}

// receiver is an api inbox's webhook endpoint that counts deliveries by
// their Idempotency-Key.
type receiver struct {
	url string
	mu  sync.Mutex
	got map[string]int
}

func newReceiver(t *testing.T) *receiver {
	rx := &receiver{got: map[string]int{}}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		rx.mu.Lock()
		rx.got[r.Header.Get("Idempotency-Key")]++
		rx.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(ts.Close)
	rx.url = ts.URL + "/hook"
	return rx
}

func (rx *receiver) count(key string) int {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	return rx.got[key]
}

func waitUntil(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pollAll pages poll_events from cursor until a page comes back empty and
// returns the events and the last cursor.
func pollAll(t *testing.T, base, token, cursor string) ([]map[string]any, string) {
	t.Helper()
	var all []map[string]any
	for {
		sc := mustTool(t, base, token, "poll_events", map[string]any{"cursor": cursor, "limit": 500})
		evs, _ := sc["events"].([]any)
		cursor = sc["next_cursor"].(string)
		if len(evs) == 0 {
			return all, cursor
		}
		for _, e := range evs {
			all = append(all, e.(map[string]any))
		}
	}
}

func messageIDs(events []map[string]any) map[int64]bool {
	ids := map[int64]bool{}
	for _, e := range events {
		if e["type"] == "message.created" {
			data, _ := e["data"].(map[string]any)
			if id, ok := data["message_id"].(float64); ok {
				ids[int64(id)] = true
			}
		}
	}
	return ids
}

func isRateLimited(res map[string]any) bool {
	return res["isError"] == true && strings.Contains(toolText(res), "rate limit")
}

// page GETs a console page with a session cookie (no redirects followed).
func page(url, session string) (int, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.AddCookie(&http.Cookie{Name: "deskwoot_session", Value: session})
	resp, err := noRedirect.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

var noRedirect = &http.Client{Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
