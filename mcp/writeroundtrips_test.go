package mcp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/server"
	"github.com/deskwoot/deskwoot/tenancy"
)

// TestReplyRoundTrips pins how many round trips to PostgreSQL a
// reply_to_conversation costs once the token is known (tenancy.Guard), from
// its target to the commit of the message, its event, its delivery job, the
// idempotency record and the audit row (one unit of work, desk.Write), and
// what a replay of it costs. A change that adds a round trip fails here.
//
// Before the unit of work a reply took 9 or 10: the target; then BEGIN,
// the claim, the message, the delivery job, River's NOTIFY (which River
// sends at most so often per queue), the event, the stored result, the
// audit row and COMMIT, each on its own; a replay 6.
// Now: BEGIN with the token's re-check, the conversation's target (the
// policy decides on it in the unit of work), the claim and its look-up;
// the message; the delivery job; everything else with COMMIT. A replay:
// the first of those; COMMIT with its audit row.
func TestReplyRoundTrips(t *testing.T) {
	app, url := countedServer(t)
	w := newWorld(t)
	token := w.token(t, allScopes, nil)
	reply := func(key string) int64 {
		t.Helper()
		before := app.DB.RoundTrips()
		if text, isErr, _ := callTool(t, url, token, "reply_to_conversation", map[string]any{
			"conversation_id": w.conv1, "content": "We are on it.", "idempotency_key": key}); isErr {
			t.Fatal(text)
		}
		return app.DB.RoundTrips() - before
	}
	for i := range 4 { // authenticate the token, prepare the statements
		reply(fmt.Sprint("warm-", i))
	}
	if got := reply("measured"); got != 4 {
		t.Errorf("a reply took %d round trips, want 4", got)
	}
	if got := reply("measured"); got != 2 {
		t.Errorf("its replay took %d round trips, want 2", got)
	}

	// A conversation deleted since: the reply is not found, writes
	// nothing, and is audited as an error.
	if err := w.d.ConversationDelete(context.Background(), w.Account.ID, desk.Scope{}, w.conv1, desk.Author{Kind: "user", UserID: w.User.ID, Name: "Admin"}); err != nil {
		t.Fatal(err)
	}
	before := counts(t, w.Account.ID)
	text, isErr, _ := callTool(t, url, token, "reply_to_conversation", map[string]any{
		"conversation_id": w.conv1, "content": "Still there?", "idempotency_key": "after-delete"})
	if !isErr || text != fmt.Sprintf("conversation %d not found", w.conv1) {
		t.Fatalf("reply to a deleted conversation: error %v %q", isErr, text)
	}
	if after := counts(t, w.Account.ID); !sameCounts(before, after) {
		t.Fatalf("reply to a deleted conversation wrote rows: %v → %v", before, after)
	}
	if rows := auditRows(t, w.Account.ID); rows[0].action != "reply_to_conversation" || rows[0].decision != "error" {
		t.Fatalf("reply to a deleted conversation audited as %+v", rows[0])
	}
}

// countedServer is a server of the test's own, so that no other test's
// queries are counted in its app.DB.RoundTrips, and its MCP URL.
func countedServer(t *testing.T) (*server.App, string) {
	t.Helper()
	app, err := server.Build(context.Background(), server.Config{AppDatabaseURL: dbtest.AppURL(), PublicURL: "http://127.0.0.1", AllowPrivateWebhooks: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.DB.Close)
	srv := httptest.NewServer(app.Handler)
	t.Cleanup(srv.Close)
	return app, srv.URL + "/api/mcp"
}

// TestRevokedTokenWritesNothing: a write carries the token's re-check in
// the round trip that begins its unit of work, so once the token is
// revoked its very next write is refused (HTTP 401), and nothing of it
// commits: no message, no idempotency key, no delivery.
func TestRevokedTokenWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, allScopes, nil)
	args := func(key string) map[string]any {
		return map[string]any{"conversation_id": w.conv1, "content": "On it.", "idempotency_key": key}
	}
	for _, key := range []string{"before-1", "before-2"} { // the principal and the target are now cached
		if text, isErr, _ := callTool(t, url, token, "reply_to_conversation", args(key)); isErr {
			t.Fatal(text)
		}
	}
	p, err := identity.AuthenticateMCP(ctx, w.d.DB, token, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := identity.MCPTokenRevoke(ctx, w.d.DB, tenancy.For(w.Account.ID), p.TokenID); err != nil {
		t.Fatal(err)
	}
	before := counts(t, w.Account.ID)
	r := rpc(t, url, token, "tools/call", map[string]any{"name": "reply_to_conversation", "arguments": args("after")})
	if r.Status != http.StatusUnauthorized {
		t.Fatalf("a write with a revoked token: HTTP %d %v, want 401", r.Status, r.Body)
	}
	if after := counts(t, w.Account.ID); !sameCounts(before, after) {
		t.Fatalf("a write with a revoked token wrote rows: %v → %v", before, after)
	}
}
