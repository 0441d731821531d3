package mcp_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/server"
	"github.com/deskwoot/deskwoot/tenancy"
)

// edgeServer is a server of its own, so that its per-address and
// per-token counters start empty.
func edgeServer(t *testing.T, cfg server.Config) string {
	t.Helper()
	cfg.AppDatabaseURL, cfg.PublicURL, cfg.ClientIPHeader = dbtest.AppURL(), "http://127.0.0.1", "X-Forwarded-For"
	app, err := server.Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(app.Handler)
	t.Cleanup(ts.Close)
	return ts.URL + "/api/mcp"
}

func mcpRequest(t *testing.T, ctx context.Context, method, url, token, ip, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("X-Forwarded-For", ip)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func status429(t *testing.T, res *http.Response, what string) {
	t.Helper()
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	n, err := strconv.Atoi(res.Header.Get("Retry-After"))
	if res.StatusCode != 429 || err != nil || n < 1 || !bytes.Contains(body, []byte("retry in")) {
		t.Fatalf("%s: HTTP %d, Retry-After %q, body %s; want 429 saying when to retry", what, res.StatusCode, res.Header.Get("Retry-After"), body)
	}
}

const listToolsBody = `{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}`

// TestFailedAuthenticationIsLimitedPerAddress: an address sending missing,
// unknown or revoked tokens is turned away with 429 after its budget, before
// any look-up; other addresses are not.
func TestFailedAuthenticationIsLimitedPerAddress(t *testing.T) {
	t.Parallel()
	url := edgeServer(t, server.Config{})
	w := newWorld(t)
	good := w.token(t, allScopes, nil)
	ctx := context.Background()
	for i := 0; ; i++ {
		tok := []string{"", "dw_mcp_unknown" + strconv.Itoa(i), "garbage"}[i%3]
		res := mcpRequest(t, ctx, "POST", url, tok, "192.0.2.10", listToolsBody)
		if res.StatusCode == 429 {
			if i < 100 {
				t.Fatalf("throttled after %d failures, want a burst of 100", i)
			}
			status429(t, res, "failed authentications past the budget")
			break
		}
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Fatalf("failure %d: HTTP %d, want 401", i, res.StatusCode)
		}
		if i > 200 {
			t.Fatal("200 failed authentications from one address, none throttled")
		}
	}
	res := mcpRequest(t, ctx, "POST", url, good, "192.0.2.11", listToolsBody)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("another address with a good token: HTTP %d", res.StatusCode)
	}
}

// TestToolsListCountsAgainstTheRateLimit: tools/list spends the token's
// per-minute budget like a tool call; past it, 429 with Retry-After.
func TestToolsListCountsAgainstTheRateLimit(t *testing.T) {
	t.Parallel()
	url := edgeServer(t, server.Config{})
	w := newWorld(t)
	tok := w.token(t, allScopes, nil, func(in *tenancy.MCPTokenInput) { in.RateLimitPerMinute = 3 })
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		res := mcpRequest(t, ctx, "POST", url, tok, "192.0.2.20", listToolsBody)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("tools/list %d within the limit: HTTP %d", i+1, res.StatusCode)
		}
	}
	status429(t, mcpRequest(t, ctx, "POST", url, tok, "192.0.2.20", listToolsBody), "tools/list past the token's limit")
	status429(t, mcpRequest(t, ctx, "POST", url, tok, "192.0.2.20", "["+listToolsBody+","+listToolsBody+"]"), "a batch of tools/list past the limit")
}

// TestOpenStreamsAreBoundedPerToken: a token holds at most 4 GET streams;
// each ends after the stream timeout, which frees its place.
func TestOpenStreamsAreBoundedPerToken(t *testing.T) {
	t.Parallel()
	url := edgeServer(t, server.Config{MCPStreamTimeout: 2 * time.Second})
	w := newWorld(t)
	tok, other := w.token(t, allScopes, nil), w.token(t, allScopes, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var open []*http.Response
	start := time.Now()
	for i := 0; i < 4; i++ {
		res := mcpRequest(t, ctx, "GET", url, tok, "192.0.2.30", "")
		if res.StatusCode != 200 {
			t.Fatalf("stream %d: HTTP %d", i+1, res.StatusCode)
		}
		open = append(open, res)
	}
	status429(t, mcpRequest(t, ctx, "GET", url, tok, "192.0.2.30", ""), "a 5th stream of one token")
	res := mcpRequest(t, ctx, "GET", url, other, "192.0.2.30", "")
	if res.StatusCode != 200 {
		t.Fatalf("another token's stream: HTTP %d", res.StatusCode)
	}
	open = append(open, res)
	// Every stream ends by itself at the timeout.
	for i, res := range open {
		done := make(chan struct{})
		go func() { io.Copy(io.Discard, res.Body); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("stream %d still open %v after it started, past the 2 s timeout", i+1, time.Since(start))
		}
		res.Body.Close()
	}
	res = mcpRequest(t, ctx, "GET", url, tok, "192.0.2.30", "")
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("a stream after the others ended: HTTP %d", res.StatusCode)
	}
}
