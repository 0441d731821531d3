package oauth_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
)

// TestOAuthGrantRateLimit: an OAuth grant is an MCP token like any other,
// and its tool calls spend its per-minute limit in PostgreSQL too.
func TestOAuthGrantRateLimit(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	redirect := "https://client.example/cb"
	client := w.register(t, redirect)
	access, _ := w.tokens(t, client, redirect, newPKCE())
	err := dbtest.App(t).InTenant(context.Background(), w.Account.ID, func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `UPDATE mcp_tokens SET rate_limit_per_minute = 3 WHERE client_id IS NOT NULL`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	call := func() string {
		r := w.mcp(t, access, "tools/call", map[string]any{"name": "list_labels", "arguments": map[string]any{}})
		res, _ := r.JSON["result"].(map[string]any)
		if r.Status != 200 || res == nil {
			t.Fatalf("tools/call: %d %s", r.Status, r.Body)
		}
		if res["isError"] == true {
			return string(r.Body)
		}
		return ""
	}
	for i := 0; i < 2; i++ {
		if e := call(); e != "" {
			t.Fatalf("call %d within the limit: %s", i+1, e)
		}
	}
	// tools/list spends the limit like a tool call (issue 11): the third.
	if r := w.mcp(t, access, "tools/list", map[string]any{}); r.Status != 200 {
		t.Fatalf("tools/list: %d %s", r.Status, r.Body)
	}
	if e := call(); !strings.Contains(e, "rate limit of 3 calls per minute exceeded") {
		t.Fatalf("4th call: %q, want the rate limit", e)
	}
	if r := w.mcp(t, access, "tools/list", map[string]any{}); r.Status != 429 {
		t.Fatalf("tools/list past the limit: %d %s, want 429", r.Status, r.Body)
	}
}
