package mcp_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/server"
)

// TestRateLimitPerToken: past its per-minute limit a token gets a tool
// error saying when to retry, and the refusal is audited.
func TestRateLimitPerToken(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, allScopes, nil, func(in *identity.MCPTokenInput) { in.RateLimitPerMinute = 3 })
	for i := 0; i < 3; i++ {
		if text, isErr, _ := callTool(t, url, token, "list_inboxes", nil); isErr {
			t.Fatalf("call %d within the limit: %s", i+1, text)
		}
	}
	text, isErr, _ := callTool(t, url, token, "list_inboxes", nil)
	if !isErr || !strings.Contains(text, "rate limit of 3 calls per minute exceeded; retry in") {
		t.Fatalf("4th call: isError=%v %q", isErr, text)
	}
	if rows := auditRows(t, w.Account.ID); rows[0].decision != "deny" || !strings.Contains(rows[0].reasons[0], "rate limit") {
		t.Fatalf("rate-limited call not audited as a denial: %+v", rows[0])
	}
}

// TestHostGuardAndBodyLimit: behind a proxy only the configured public host
// is accepted (loopback names always are); bodies over 1 MiB are refused.
func TestHostGuardAndBodyLimit(t *testing.T) {
	t.Parallel()
	app, err := server.Build(context.Background(), server.Config{AppDatabaseURL: dbtest.AppURL(),
		PublicURL: "https://desk.example.com", AllowedHosts: []string{"internal.example.net"}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(app.Handler)
	defer ts.Close()
	w := newWorld(t)
	token := w.token(t, allScopes, nil)
	post := func(host string, body []byte) int {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/mcp", bytes.NewReader(body))
		req.Host = host
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	list := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`)
	for host, want := range map[string]int{"desk.example.com": 200, "internal.example.net": 200, "localhost:8080": 200, "evil.example.org": 403} {
		if got := post(host, list); got != want {
			t.Errorf("Host %s: HTTP %d, want %d", host, got, want)
		}
	}
	origin := func(o string) int {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/mcp", bytes.NewReader(list))
		req.Host = "desk.example.com"
		req.Header.Set("Origin", o)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for o, want := range map[string]int{"https://desk.example.com": 200, "http://localhost:3000": 200, "https://evil.example.org": 403, "null": 403} {
		if got := origin(o); got != want {
			t.Errorf("Origin %s: HTTP %d, want %d", o, got, want)
		}
	}
	big := append([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_inboxes","arguments":{"pad":"`),
		bytes.Repeat([]byte("x"), 2<<20)...)
	big = append(big, []byte(`"}}}`)...)
	if got := post("localhost", big); got < 400 {
		t.Errorf("2 MiB body: HTTP %d, want a refusal", got)
	}
}
