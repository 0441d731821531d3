package mcp_test

import (
	"strconv"
	"testing"

	"github.com/deskwoot/deskwoot/identity"
)

// TestQuotaHeaders: every /api/mcp answer that spends the token's rate
// limit (tools/call, tools/list) says what is left of it: X-RateLimit-Limit,
// -Remaining (one less per call) and -Reset, whether the principal was
// authenticated in a round trip of its own (the first request) or kept in
// memory and re-checked by its guard (the next ones); over the limit,
// Remaining is 0 and Reset says when to come back. A request that spends
// nothing (initialize) carries none.
func TestQuotaHeaders(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, allScopes, nil, func(in *identity.MCPTokenInput) { in.RateLimitPerMinute = 5 })
	num := func(r rpcResult, name string) int {
		t.Helper()
		v, err := strconv.Atoi(r.Header.Get(name))
		if err != nil {
			t.Fatalf("%s = %q in %v", name, r.Header.Get(name), r.Header)
		}
		return v
	}
	for i := range 5 {
		var r rpcResult
		if i == 2 {
			r = rpc(t, url, token, "tools/list", map[string]any{})
		} else {
			r = rpc(t, url, token, "tools/call", map[string]any{"name": "list_labels", "arguments": map[string]any{}})
		}
		if r.Status != 200 || num(r, "X-RateLimit-Limit") != 5 || num(r, "X-RateLimit-Remaining") != 4-i {
			t.Fatalf("call %d: HTTP %d, headers %v", i, r.Status, r.Header)
		}
		if reset := num(r, "X-RateLimit-Reset"); reset < 1 || reset > 60 {
			t.Fatalf("call %d: X-RateLimit-Reset %d", i, reset)
		}
	}
	over := rpc(t, url, token, "tools/call", map[string]any{"name": "list_labels", "arguments": map[string]any{}})
	if num(over, "X-RateLimit-Remaining") != 0 || num(over, "X-RateLimit-Reset") < 1 || num(over, "X-RateLimit-Limit") != 5 {
		t.Fatalf("over the limit: headers %v", over.Header)
	}
	overList := rpc(t, url, token, "tools/list", map[string]any{})
	if overList.Status != 429 || num(overList, "X-RateLimit-Remaining") != 0 {
		t.Fatalf("tools/list over the limit: HTTP %d headers %v", overList.Status, overList.Header)
	}
	init := rpc(t, url, token, "initialize", map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "t", "version": "1"}})
	if init.Status != 200 || init.Header.Get("X-RateLimit-Limit") != "" {
		t.Fatalf("initialize: HTTP %d headers %v", init.Status, init.Header)
	}
}
