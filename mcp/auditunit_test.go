package mcp_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
)

// TestNoCallAnsweredUnaudited: when PostgreSQL refuses the account's audit
// rows, a read is not answered (its answer never reaches the agent) and a
// write writes nothing — the call fails instead, each tool with and without
// a target to load first, the principal authenticated afresh or taken from
// memory.
func TestNoCallAnsweredUnaudited(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, allScopes, nil)
	if text, isErr, _ := callTool(t, url, token, "list_labels", nil); isErr { // the principal is now kept in memory
		t.Fatal(text)
	}
	dbtest.RefuseAuditRows(t, w.Account.ID)
	before := counts(t, w.Account.ID)
	for _, c := range []struct {
		tool   string
		args   map[string]any
		secret string // what the answer would show
	}{
		{"get_conversation", map[string]any{"conversation_id": w.conv1}, "My refund has not arrived"},
		{"search_conversations", map[string]any{"query": "refund"}, "My refund has not arrived"},
		{"get_contact", map[string]any{"contact_id": w.contact1}, "ann@example.com"},
		{"get_article", map[string]any{"article_id": w.article}, "5 business days"},
		{"list_inboxes", nil, "Inbox 1"},
		{"reply_to_conversation", map[string]any{"conversation_id": w.conv1, "content": "On it.", "idempotency_key": "k1"}, "On it."},
		{"create_contact", map[string]any{"name": "Cy", "email": "cy@example.com"}, "cy@example.com"},
	} {
		text, isErr, sc := callTool(t, url, token, c.tool, c.args)
		if !isErr || sc != nil || strings.Contains(text, c.secret) {
			t.Errorf("%s with its audit row refused: error %v, answer %q %v; want a failure that shows nothing", c.tool, isErr, text, sc)
		}
	}
	if after := counts(t, w.Account.ID); !sameCounts(before, after) {
		t.Fatalf("calls whose audit rows were refused wrote rows: %v → %v", before, after)
	}
}

// TestChangedPrincipalIsReadAfresh: a principal kept in memory whose token
// changed since (here its name, so the agent's messages show the new one)
// is found stale by the call's first transaction, which did nothing; the
// door authenticates afresh and makes the call with the principal as it
// is now — answered once, audited once, under the new name.
func TestChangedPrincipalIsReadAfresh(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, allScopes, nil)
	if text, isErr, _ := callTool(t, url, token, "list_labels", nil); isErr { // the principal is kept now
		t.Fatal(text)
	}
	err := dbtest.App(t).InTenant(ctx, w.Account.ID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE mcp_tokens SET name = 'renamed bot'`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	before := len(auditRows(t, w.Account.ID))
	text, isErr, sc := callTool(t, url, token, "add_private_note", map[string]any{"conversation_id": w.conv1, "content": "Checked.", "idempotency_key": "n1"})
	if isErr {
		t.Fatalf("a call with a changed principal: %s", text)
	}
	msg, _ := sc["message"].(map[string]any)
	sender, _ := msg["sender"].(map[string]any)
	if name, _ := sender["name"].(string); !strings.Contains(name, "renamed bot") {
		t.Fatalf("the note was written as %q, want the token's new name", name)
	}
	rows := auditRows(t, w.Account.ID)
	if len(rows) != before+1 || rows[0].action != "add_private_note" || rows[0].decision != "allow" {
		t.Fatalf("the call made %d audit rows (newest %+v), want one allowed", len(rows)-before, rows[0])
	}
}
