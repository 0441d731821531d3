package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/audit"
)

// TestPolicyPages: a security reviewer reads the policy in force and the
// explanation of an audit row in the console; agents and other workspaces
// cannot.
func TestPolicyPages(t *testing.T) {
	t.Parallel()
	c, srv := testConsole(t, nil)
	b, _ := signUp(t, srv)
	p, _ := accountOf(t, c, b)

	// The base policy's tests run once per process, on the first look
	// (every tool × every scope, with coverage): on a loaded 2-core machine
	// under -race that alone can outlast the browser's 30 s, so they run
	// here first, outside the page's request.
	if _, err := c.cfg.Policy.Tests(context.Background()); err != nil {
		t.Fatal(err)
	}
	pg := wantStatus(t, b.get("/policy"), http.StatusOK)
	pg.has(t, c.cfg.Policy.Revision(), "reply_to_conversation", "conversations:reply", "authz.rego",
		"none: the base policy alone decides", "passed, 0 failed")

	// The explanation of a person's action says it records no decision.
	wantRedirect(t, b.post("/settings/mcp", url.Values{"enabled": {"on"}}), "/settings/mcp")
	rows, err := audit.List(context.Background(), c.cfg.DB, p.AccountID, audit.Filter{Action: "settings.mcp", Limit: 10})
	if err != nil || len(rows) == 0 {
		t.Fatalf("audit rows: %v, %v", rows, err)
	}
	id := rows[0].ID
	if link := fmt.Sprintf(`href="/audit/%d/explanation"`, id); !strings.Contains(wantStatus(t, b.get("/audit"), http.StatusOK).Body, link) {
		t.Fatalf("the audit page does not link row %d to its explanation", id)
	}
	wantStatus(t, b.get(fmt.Sprintf("/audit/%d/explanation", id)), http.StatusOK).
		has(t, "settings.mcp", "records no policy decision")
	wantStatus(t, b.get("/audit/987654321/explanation"), http.StatusNotFound)
	wantStatus(t, b.get("/audit/abc/explanation"), http.StatusNotFound)

	// Another workspace's row is not found; an agent may not read either page.
	other, _ := signUp(t, srv)
	wantStatus(t, other.get(fmt.Sprintf("/audit/%d/explanation", id)), http.StatusNotFound)
	ag := newAgent(t, srv, b, p.AccountID)
	wantStatus(t, ag.get("/policy"), http.StatusForbidden)
	wantStatus(t, ag.get(fmt.Sprintf("/audit/%d/explanation", id)), http.StatusForbidden)
}

// TestPolicyPageListsShadowFlips: the Policy page shows the account's
// shadow (issue 24) and the calls its candidate would have decided
// differently, each linked to its audit entry's explanation.
func TestPolicyPageListsShadowFlips(t *testing.T) {
	t.Parallel()
	c, srv := testConsole(t, nil)
	b, _ := signUp(t, srv)
	p, _ := accountOf(t, c, b)
	if _, err := c.cfg.Policy.Tests(context.Background()); err != nil { // as in TestPolicyPages
		t.Fatal(err)
	}
	wantStatus(t, b.get("/policy"), http.StatusOK).has(t, "No candidate has been in shadow.")

	ctx := context.Background()
	var row int64
	err := c.cfg.DB.InTenant(ctx, p.AccountID, func(tx pgx.Tx) error {
		var cand int64
		if err := tx.QueryRow(ctx, `INSERT INTO tenant_rules (account_id, rego, tests, tests_passed, tests_failed, shadow_from, shadow_until, shadow_decisions)
			VALUES ($1, 'package deskwoot.tenant', 'package deskwoot.tenant_test', 1, 0, now(), now() + interval '2 days', 7) RETURNING id`, p.AccountID).Scan(&cand); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO audit_log (account_id, actor_kind, action, decision) VALUES ($1, 'agent', 'list_labels', 'allow') RETURNING id`, p.AccountID).Scan(&row); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO shadow_trips (account_id, id, candidate_id, audit_ids, tools, befores, afters, reasons)
			VALUES ($1, nextval('shadow_trips_id_seq'), $2, ARRAY[$3::bigint], '{list_labels}', '{allow}', '{deny}', '[["no label lists for agents"]]')`, p.AccountID, cand, row)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	pg := wantStatus(t, b.get("/policy"), http.StatusOK)
	pg.has(t, "is in shadow until", "Live calls it decided beside the rules in force: 7; decided differently: 1.",
		"list_labels", "no label lists for agents", fmt.Sprintf("audit entry %d", row))
	if link := fmt.Sprintf(`href="/audit/%d/explanation"`, row); !strings.Contains(pg.Body, link) {
		t.Errorf("the Policy page does not link the flip to its audit entry's explanation (%s)", link)
	}
}
