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
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/server"
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

// TestValidTokenPassesTheAddressThrottle: an address over its budget of
// failed authentications (110 bad tokens, well-formed and not) still gets
// 429 for every bad token, missing or malformed, but a valid token from the
// same address is served, on a POST and on a GET stream (issue 18, item 11).
func TestValidTokenPassesTheAddressThrottle(t *testing.T) {
	t.Parallel()
	url := edgeServer(t, server.Config{})
	w := newWorld(t)
	ctx := context.Background()
	const ip = "192.0.2.12"
	unknown := func() string { raw, _, _ := identity.NewToken(identity.MCPTokenPrefix); return raw }
	for i := range 110 {
		tok := []string{unknown(), "dw_mcp_garbage", ""}[i%3]
		mcpRequest(t, ctx, "POST", url, tok, ip, listToolsBody).Body.Close()
	}
	refused := func(tok, what string) {
		t.Helper()
		// The budget refills twice a second; a slow moment may let one
		// failure through as 401, which spends it again.
		for range 3 {
			res := mcpRequest(t, ctx, "POST", url, tok, ip, listToolsBody)
			if res.StatusCode == 401 {
				res.Body.Close()
				continue
			}
			status429(t, res, what)
			return
		}
		t.Fatalf("%s: 401 three times in a row from an address over its budget", what)
	}
	refused(unknown(), "a well-formed unknown token")
	good := w.token(t, allScopes, nil) // never used: no principal kept in memory
	res := mcpRequest(t, ctx, "POST", url, good, ip, listToolsBody)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Contains(body, []byte(`"tools"`)) {
		t.Fatalf("a valid token from an address over its budget: HTTP %d %s", res.StatusCode, body)
	}
	streamCtx, cancel := context.WithCancel(ctx)
	stream := mcpRequest(t, streamCtx, "GET", url, good, ip, "")
	if stream.StatusCode != 200 {
		t.Fatalf("a GET stream with a valid token from an address over its budget: HTTP %d", stream.StatusCode)
	}
	cancel()
	stream.Body.Close()
	refused(unknown(), "a well-formed unknown token after a valid one")
	refused("dw_mcp_garbage", "a malformed token")
	refused("", "no token")
}

// TestMCPAnswersAreNoStore: a GET stream and a POST of /api/mcp say
// Cache-Control: no-store, never the no-cache that mcp-go sets on streams
// (a cache may store a no-cache answer; issue 18, item 11).
func TestMCPAnswersAreNoStore(t *testing.T) {
	t.Parallel()
	url := edgeServer(t, server.Config{})
	w := newWorld(t)
	tok := w.token(t, allScopes, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := mcpRequest(t, ctx, "GET", url, tok, "192.0.2.13", "")
	defer stream.Body.Close()
	if stream.StatusCode != 200 || stream.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET stream: HTTP %d, Cache-Control %q; want 200 with no-store", stream.StatusCode, stream.Header.Get("Cache-Control"))
	}
	res := mcpRequest(t, ctx, "POST", url, tok, "192.0.2.13", listToolsBody)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("POST: HTTP %d, Cache-Control %q; want 200 with no-store", res.StatusCode, res.Header.Get("Cache-Control"))
	}
}

// TestToolsListCountsAgainstTheRateLimit: tools/list spends the token's
// per-minute budget like a tool call; past it, 429 with Retry-After.
func TestToolsListCountsAgainstTheRateLimit(t *testing.T) {
	t.Parallel()
	url := edgeServer(t, server.Config{})
	w := newWorld(t)
	tok := w.token(t, allScopes, nil, func(in *identity.MCPTokenInput) { in.RateLimitPerMinute = 3 })
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
