package mcp_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/tenancy"
)

type auditRow struct {
	id       int64
	action   string
	decision string
	reasons  []string
}

func auditRows(t *testing.T, acct int64) []auditRow {
	t.Helper()
	rows, err := audit.List(context.Background(), dbtest.App(t), acct, audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []auditRow
	for _, r := range rows {
		out = append(out, auditRow{r.ID, r.Action, r.Decision, r.Reasons})
	}
	return out
}

// TestAuditTrailAndChain: N calls, allowed and denied, make N rows; the
// chain verifies; altering one row as the owner breaks it at that row.
func TestAuditTrailAndChain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := endpoint(t)
	w := newWorld(t)
	full := w.token(t, allScopes, nil)
	narrow := w.token(t, []string{"helpcenter:read"}, nil)
	calls := []struct {
		token, tool string
		args        map[string]any
		decision    string
	}{
		{full, "get_conversation", map[string]any{"conversation_id": w.conv1}, "allow"},
		{narrow, "get_conversation", map[string]any{"conversation_id": w.conv1}, "deny"},
		{full, "list_inboxes", nil, "allow"},
		// Reads whose audit row rides in their own batch (one or several).
		{full, "search_conversations", map[string]any{"query": "refund"}, "allow"},
		{full, "list_team", nil, "allow"},
		{full, "poll_events", map[string]any{"backfill": 5}, "allow"},
		{narrow, "search_help_center", map[string]any{"query": "refund"}, "allow"},
		{narrow, "search_contacts", map[string]any{"query": "ann"}, "deny"},
		{full, "get_conversation", map[string]any{"conversation_id": 999999999}, "error"},
	}
	before := len(auditRows(t, w.Account.ID))
	for _, c := range calls {
		callTool(t, url, c.token, c.tool, c.args)
	}
	rows := auditRows(t, w.Account.ID)
	if len(rows)-before != len(calls) {
		t.Fatalf("%d calls wrote %d audit rows", len(calls), len(rows)-before)
	}
	for i, c := range calls {
		got := rows[len(calls)-1-i] // newest first
		if got.action != c.tool || got.decision != c.decision {
			t.Errorf("audit row for call %d: %+v, want %s %s", i, got, c.tool, c.decision)
		}
	}
	db := dbtest.App(t)
	// Sealing takes only rows below the oldest running transaction, so a
	// concurrent test's open transaction can hold a row back for a moment.
	var res audit.VerifyResult
	var err error
	for try := 0; try < 50; try++ {
		if _, err = audit.Seal(ctx, db, w.Account.ID); err != nil {
			t.Fatal(err)
		}
		if res, err = audit.Verify(ctx, db, w.Account.ID); err != nil || res.Unsealed == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || !res.OK || res.Checked < len(calls) || res.Unsealed != 0 {
		t.Fatalf("verify: %+v %v", res, err)
	}

	// The owner (not bound by the app's missing UPDATE grant) alters a row.
	victim := rows[2].id
	owner := &tenancy.DB{Pool: dbtest.Owner(t)}
	err = owner.InTenant(ctx, w.Account.ID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE audit_log SET decision = 'deny', reasons = '{forged}' WHERE id = $1`, victim)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err = audit.Verify(ctx, owner, w.Account.ID)
	if err != nil || res.OK || res.BrokenAt == nil || *res.BrokenAt != victim {
		t.Fatalf("verify after tampering with row %d: %+v %v", victim, res, err)
	}
}
