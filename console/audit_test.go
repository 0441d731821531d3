package console

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/tenancy"
)

func TestAuditPage(t *testing.T) {
	t.Parallel()
	c, srv := testConsole(t, nil)
	b, _ := signUp(t, srv)
	p, _ := accountOf(t, c, b)
	wantRedirect(t, b.post("/settings/mcp", url.Values{"enabled": {"on"}}), "/settings/mcp")
	// Sealing takes only rows below the oldest running transaction, so a
	// concurrent test's open transaction can hold the rows back a moment.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := audit.Seal(context.Background(), c.cfg.DB, p.AccountID); err != nil {
			t.Fatal(err)
		}
		res, err := audit.Verify(context.Background(), c.cfg.DB, p.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		if res.Unsealed == 0 || time.Now().After(deadline) {
			break
		}
	}
	pg := wantStatus(t, b.get("/audit"), http.StatusOK)
	pg.has(t, "Verified through row", "settings.mcp", "enabled=true", "user.signup", "Export CSV", "Export JSON lines")

	// Filters: the tool filter keeps only its rows; the form keeps the value.
	pg = wantStatus(t, b.get("/audit?tool=settings.mcp"), http.StatusOK)
	pg.lacks(t, ">user.signup<")
	if pg.fieldValue("tool") != "settings.mcp" {
		t.Fatal("the tool filter is not kept")
	}
	wantStatus(t, b.get("/audit?decision=deny"), http.StatusOK).has(t, "No audit rows match")
	bad := wantStatus(t, b.get("/audit?actor=abc&tool=x"), http.StatusBadRequest)
	if e := bad.fieldError("actor"); !strings.Contains(e, "non-negative integer") || bad.fieldValue("tool") != "x" {
		t.Fatalf("bad actor: error %q, tool kept %q", e, bad.fieldValue("tool"))
	}
	bad = wantStatus(t, b.get("/audit?since=yesterday"), http.StatusBadRequest)
	if bad.fieldError("since") == "" {
		t.Fatal("no error next to Since")
	}

	// Export: CSV of the filtered rows, audited as an export.
	ex := wantStatus(t, b.get("/audit/export?format=csv&tool=settings.mcp"), http.StatusOK)
	recs, err := csv.NewReader(strings.NewReader(ex.Body)).ReadAll()
	if err != nil || len(recs) < 2 || recs[1][5] != "settings.mcp" || recs[1][14] != "row" || recs[0][14] != "record" {
		t.Fatalf("csv export %v (%v)", recs, err)
	}
	// The rows, then the checkpoints that cover them, with the public key.
	for _, rec := range recs[2:] {
		if rec[14] != "checkpoint" || rec[15] != audit.EncodePublicKey(c.cfg.Audit.PublicKey()) {
			t.Fatalf("csv export: after the one row, %v", rec)
		}
	}
	if cd := ex.Header.Get("Content-Disposition"); !strings.Contains(cd, "attachment") {
		t.Fatalf("Content-Disposition %q", cd)
	}
	jl := wantStatus(t, b.get("/audit/export?format=jsonl"), http.StatusOK)
	if !strings.Contains(jl.Body, `"action":"audit.export"`) {
		t.Fatal("the export is not audited")
	}
	wantStatus(t, b.get("/audit/export?format=pdf"), http.StatusBadRequest)

	// Agents and other workspaces see none of it.
	ag := newAgent(t, srv, b, p.AccountID)
	wantStatus(t, ag.get("/audit"), http.StatusForbidden)
	wantStatus(t, ag.get("/audit/export?format=csv"), http.StatusForbidden)
	other, _ := signUp(t, srv)
	wantStatus(t, other.get("/audit"), http.StatusOK).lacks(t, "settings.mcp")
	if body := wantStatus(t, other.get("/audit/export?format=jsonl"), http.StatusOK).Body; strings.Contains(body, "settings.mcp") {
		t.Fatal("another workspace exported these rows")
	}
	wantRedirect(t, newBrowser(t, srv).get("/audit"), "/signin?next=%2Faudit")
}

func TestAuditPageShowsABrokenChain(t *testing.T) {
	t.Parallel()
	c, srv := testConsole(t, nil)
	b, _ := signUp(t, srv)
	p, _ := accountOf(t, c, b)
	// Sealing takes only rows below the oldest running transaction, so a
	// concurrent test's open transaction can hold the rows back a moment.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := audit.Seal(context.Background(), c.cfg.DB, p.AccountID); err != nil {
			t.Fatal(err)
		}
		res, err := audit.Verify(context.Background(), c.cfg.DB, p.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		if res.Unsealed == 0 || time.Now().After(deadline) {
			break
		}
	}
	// Tamper with a sealed row as the owner would have to (the app cannot).
	owner := ownerPool(t)
	tx, err := owner.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	for _, s := range []string{`SELECT set_config('deskwoot.account_id', $1::bigint::text, true)`, `UPDATE audit_log SET action = 'tampered' WHERE account_id = $1`} {
		if _, err := tx.Exec(context.Background(), s, p.AccountID); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, b.get("/audit"), http.StatusOK).has(t, "Broken at row", "altered after sealing")
}

// TestConsoleChangesCommitWithTheirAuditRows: a change made in the console
// and its audit row commit together: with the row refused, the change is
// not made and the person sees that it failed; signing out, whose row is
// refused too, keeps the session.
func TestConsoleChangesCommitWithTheirAuditRows(t *testing.T) {
	t.Parallel()
	c, srv := testConsole(t, nil)
	b, _ := signUp(t, srv)
	p, _ := accountOf(t, c, b)
	dbtest.RefuseAuditRows(t, p.AccountID)
	for path, form := range map[string]url.Values{
		"/settings/labels":  {"name": {"refused"}},
		"/settings/mcp":     {"enabled": {"on"}},
		"/settings/inboxes": {"name": {"Refused"}, "channel": {"api"}},
	} {
		if pg := b.post(path, form); pg.Status < 500 {
			t.Errorf("POST %s with its audit row refused: %d, want a failure", path, pg.Status)
		}
	}
	labels, err := c.cfg.Desk.LabelList(context.Background(), tenancy.For(p.AccountID))
	if err != nil || len(labels) != 0 {
		t.Fatalf("labels %v %v", labels, err)
	}
	if _, a := accountOf(t, c, b); a.MCPEnabled {
		t.Fatal("MCP switched on without its audit row")
	}
	if pg := b.post("/signout", nil); pg.Status < 500 {
		t.Errorf("sign-out with its audit row refused: %d, want a failure", pg.Status)
	}
	accountOf(t, c, b) // the session still stands
}

// TestAuditPageCatchesATamperedExplanation: the chain covers explanations;
// the page checks the rows it shows against their links, so an explanation
// changed behind the last signed checkpoint is caught when its row is on
// show, while the chain's state is read from that checkpoint.
func TestAuditPageCatchesATamperedExplanation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, srv := testConsole(t, nil)
	b, _ := signUp(t, srv)
	p, _ := accountOf(t, c, b)
	if err := c.cfg.DB.Record(ctx, tenancy.Recorded(p.AccountID, audit.Entry{ActorKind: "agent", Action: "list_inboxes", Decision: "allow",
		Explanation: []byte(`{"path": "deskwoot/authz/decision", "result": {"allow": true}}`)})); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := audit.Seal(ctx, c.cfg.DB, p.AccountID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := audit.WriteCheckpoint(ctx, c.cfg.DB, p.AccountID, testAuditKey); err != nil {
			t.Fatal(err)
		}
		res, err := audit.VerifyRecent(ctx, c.cfg.DB, p.AccountID, c.cfg.Audit.PublicKey(), nil)
		if err != nil || !res.OK {
			t.Fatalf("%+v, %v", res, err)
		}
		if res.Unsealed == 0 && res.From != nil && res.Checked == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still unsealed or unsigned rows: %+v", res)
		}
	}
	wantStatus(t, b.get("/audit"), http.StatusOK).has(t, "Verified through row", "signed checkpoint")
	ownerTx(t, p.AccountID, `UPDATE audit_log SET explanation = jsonb_set(explanation, '{result,allow}', 'false') WHERE account_id = $1 AND action = 'list_inboxes'`)
	wantStatus(t, b.get("/audit"), http.StatusOK).has(t, "Broken at row", "altered after sealing")
}

// ownerTx runs a statement with $1 the account, in the account, as the
// schema owner (the app cannot change the trail).
func ownerTx(t *testing.T, acct int64, stmt string) {
	t.Helper()
	ctx := context.Background()
	tx, err := ownerPool(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, s := range []string{`SELECT set_config('deskwoot.account_id', $1::bigint::text, true)`, stmt} {
		if _, err := tx.Exec(ctx, s, acct); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}
