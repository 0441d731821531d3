package mcp_test

import (
	"context"
	"testing"

	"github.com/deskwoot/deskwoot/desk"
)

// TestReadRoundTrips pins how many round trips to PostgreSQL a read costs
// (DESIGN §16: one bearer check, one read, one audit row). A token's first
// request authenticates in a round trip of its own; later ones carry the
// check in the request's first transaction (tenancy.Guard). A read whose
// policy target is in its answer (get_conversation) reads both in that
// transaction, and its audit row follows in a second once the policy has
// decided; a read with no target to load is decided first and goes with
// its audit row in one. The server is this test's own, so that no other
// test's queries are counted.
func TestReadRoundTrips(t *testing.T) {
	ctx := context.Background()
	app, url := countedServer(t)
	w := newWorld(t)
	token := w.token(t, allScopes, nil)

	trips := func(tool string, args map[string]any, wantError bool) int64 {
		t.Helper()
		before := app.DB.RoundTrips()
		text, isError, _ := callTool(t, url, token, tool, args)
		if isError != wantError {
			t.Fatalf("%s: error %v: %s", tool, isError, text)
		}
		return app.DB.RoundTrips() - before
	}
	conv := map[string]any{"conversation_id": w.conv1}
	for _, c := range []struct {
		what      string
		tool      string
		args      map[string]any
		wantError bool
		want      int64
	}{
		{"first request: authenticate, target with answer, audit row", "get_conversation", conv, false, 3},
		{"cached principal: target with answer and guard, then the audit row", "get_conversation", conv, false, 2},
		{"a list, its audit row riding", "list_labels", nil, false, 1},
		{"a search, its audit row riding", "search_conversations", map[string]any{"query": "refund"}, false, 1},
		{"a conversation not read before: target with answer, then the audit row", "get_conversation", map[string]any{"conversation_id": w.conv2}, false, 2},
	} {
		if got := trips(c.tool, c.args, c.wantError); got != c.want {
			t.Errorf("%s (%s): %d round trips, want %d", c.what, c.tool, got, c.want)
		}
	}

	// A conversation deleted since it was read is not found, and the call
	// is audited as an error, not as an allowed read.
	if err := w.d.ConversationDelete(ctx, w.Account.ID, desk.Scope{}, w.conv1, desk.Author{Kind: "user", UserID: w.User.ID, Name: "Admin"}); err != nil {
		t.Fatal(err)
	}
	before := len(auditRows(t, w.Account.ID))
	if text, isError, _ := callTool(t, url, token, "get_conversation", conv); !isError {
		t.Fatalf("deleted conversation: %s", text)
	}
	rows := auditRows(t, w.Account.ID)
	if len(rows) != before+1 || rows[0].action != "get_conversation" || rows[0].decision != "error" {
		t.Fatalf("deleted conversation audited as %+v (%d new rows)", rows[0], len(rows)-before)
	}
}
