package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
)

// Issue 24, shadow rules: a candidate in shadow is decided beside the
// rules in force on every live call, changes nothing, and each call it
// would have decided differently is listed.

const denyLabels = "package deskwoot.tenant\n\ndeny contains \"no label lists for agents\" if {\n\tinput.tool == \"list_labels\"\n}\n"

const denyLabelsTests = "package deskwoot.tenant_test\n\nimport data.deskwoot.tenant\n\ntest_labels if {\n\tcount(tenant.deny) == 1 with input as {\"tool\": \"list_labels\"}\n}\n"

// submitCandidate submits a candidate whose tests pass and returns its id.
func submitCandidate(t *testing.T, w mcpWorkspace, rego, tests string) int64 {
	t.Helper()
	c := want(t, call(t, "POST", "/api/v1/policy/candidates", w.Token, obj{"rego": rego, "tests": tests}), 201)
	if c["tests"].(obj)["failed"] != float64(0) {
		t.Fatalf("candidate's tests failed: %v", c["tests"])
	}
	return id(t, c["id"])
}

// shadowFlips waits until the account's shadow lists n flips (the shadow
// decides after the call, off its path) and returns the listing.
func shadowFlips(t *testing.T, w mcpWorkspace, n int) obj {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		b := want(t, call(t, "GET", "/api/v1/policy/shadow", w.Token, nil), 200)
		if got := len(list(t, b, "flips")); got >= n || time.Now().After(deadline) {
			if got != n {
				t.Fatalf("the shadow lists %d flips, want %d: %v", got, n, b)
			}
			return b
		}
	}
}

// TestShadowRecordsWhatTheCandidateWouldChange: with a candidate that
// denies list_labels in shadow, list_labels is still answered; the call
// is listed with its audit row, before allow, after deny and the
// candidate's reason; calls it decides alike are counted, not listed;
// activating the candidate then works as without a shadow.
func TestShadowRecordsWhatTheCandidateWouldChange(t *testing.T) {
	t.Parallel()
	w := newMCPWorkspace(t, dbtest.Unique("SHADOW"))
	cand := submitCandidate(t, w, denyLabels, denyLabelsTests)
	sh := want(t, call(t, "POST", fmt.Sprintf("/api/v1/policy/candidates/%d/shadow", cand), w.Token, obj{"days": 7}), 200)
	until, err := time.Parse(time.RFC3339, sh["until"].(string))
	if id(t, sh["candidate_id"]) != cand || err != nil || time.Until(until) < 6*24*time.Hour || time.Until(until) > 8*24*time.Hour {
		t.Fatalf("shadow %v (%v); want candidate %d until 7 days from now", sh, err, cand)
	}
	if text, isErr, _ := mcpTool(t, w.token, "list_labels", obj{}); isErr {
		t.Fatalf("list_labels with a denying candidate in shadow: %q; the shadow must change nothing", text)
	}
	if _, isErr, _ := mcpTool(t, w.token, "list_inboxes", obj{}); isErr {
		t.Fatal("list_inboxes failed")
	}
	b := shadowFlips(t, w, 1)
	f := list(t, b, "flips")[0]
	rows := auditRows(t, w.Token, "list_labels")
	if len(rows) != 1 || rows[0]["decision"] != "allow" {
		t.Fatalf("list_labels audit rows %v", rows)
	}
	if f["tool"] != "list_labels" || f["before"] != "allow" || f["after"] != "deny" || id(t, f["candidate_id"]) != cand ||
		f["audit_id"] != rows[0]["id"] || !strings.Contains(fmt.Sprint(f["reasons"]), "no label lists for agents") {
		t.Errorf("flip %v; want list_labels of audit row %v, allow → deny with the candidate's reason", f, rows[0]["id"])
	}
	// The listing's shadow counts both calls once each has been decided.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		s := want(t, call(t, "GET", "/api/v1/policy/shadow", w.Token, nil), 200)["shadow"].(obj)
		if s["decisions"] == float64(2) && s["flipped"] == float64(1) && s["skipped"] == float64(0) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shadow %v; want 2 decisions, 1 flipped, none skipped", s)
		}
	}
	if a := auditRows(t, w.Token, "policy.shadow.start"); len(a) != 1 || id(t, a[0]["actor_id"]) != w.UserID {
		t.Errorf("policy.shadow.start audit rows %v", a)
	}

	want(t, call(t, "POST", fmt.Sprintf("/api/v1/policy/candidates/%d/activate", cand), w.Token, nil), 200)
	if text, isErr, _ := mcpTool(t, w.token, "list_labels", obj{}); !isErr || !strings.Contains(text, "no label lists for agents") {
		t.Errorf("list_labels after activation: %q (isError %v)", text, isErr)
	}
}

// TestShadowThatFailsChangesNothing: a candidate in shadow that runs past
// its deadline, or whose module does not compile, leaves the live call as
// the rules in force decide it; the shadow records the fail-closed denial
// the candidate would have given. Ending the shadow ends the recording.
func TestShadowThatFailsChangesNothing(t *testing.T) {
	t.Parallel()
	w := newMCPWorkspace(t, dbtest.Unique("SHFAIL"))
	const slow = "package deskwoot.tenant\n\ndeny contains \"never\" if {\n\tinput.tool == \"list_labels\"\n\txs := [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29]\n\tsome a in xs\n\tsome b in xs\n\tsome c in xs\n\tsome d in xs\n\tsome e in xs\n\tsome f in xs\n\ta + b + c + d + e + f < 0\n}\n"
	cand := submitCandidate(t, w, slow, otherToolsTest)
	want(t, call(t, "POST", fmt.Sprintf("/api/v1/policy/candidates/%d/shadow", cand), w.Token, obj{"days": 1}), 200)
	if text, isErr, _ := mcpTool(t, w.token, "list_labels", obj{}); isErr {
		t.Fatalf("list_labels beside a candidate in shadow that runs over: %q", text)
	}
	f := list(t, shadowFlips(t, w, 1), "flips")[0]
	if f["after"] != "deny" || !strings.Contains(fmt.Sprint(f["reasons"]), "could not be evaluated: it ran longer than") {
		t.Errorf("flip %v; want the fail-closed denial of a rule that ran over", f)
	}

	// A module that does not compile beside the base policy (written past
	// the submission's checks, as a version from before a check existed).
	broken := int64(0)
	err := dbtest.App(t).InTenant(context.Background(), w.AccountID, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `INSERT INTO tenant_rules (account_id, rego, tests, tests_passed, tests_failed)
			VALUES ($1, 'package deskwoot.tenant

deny contains x if { x := undefined_function(1) }', '', 0, 0) RETURNING id`, w.AccountID).Scan(&broken)
	})
	if err != nil {
		t.Fatal(err)
	}
	want(t, call(t, "POST", fmt.Sprintf("/api/v1/policy/candidates/%d/shadow", broken), w.Token, obj{"days": 1}), 200)
	if text, isErr, _ := mcpTool(t, w.token, "list_inboxes", obj{}); isErr {
		t.Fatalf("list_inboxes beside a candidate in shadow that does not compile: %q", text)
	}
	f = list(t, shadowFlips(t, w, 2), "flips")[0]
	if id(t, f["candidate_id"]) != broken || f["tool"] != "list_inboxes" || f["after"] != "deny" || !strings.Contains(fmt.Sprint(f["reasons"]), "could not be loaded") {
		t.Errorf("flip %v; want the broken candidate's fail-closed denial of list_inboxes", f)
	}

	want(t, call(t, "DELETE", "/api/v1/policy/shadow", w.Token, nil), 204)
	if _, isErr, _ := mcpTool(t, w.token, "list_inboxes", obj{}); isErr {
		t.Fatal("list_inboxes failed")
	}
	time.Sleep(500 * time.Millisecond) // what a shadow would take to record it
	b := shadowFlips(t, w, 2)
	if s := b["shadow"].(obj); id(t, s["candidate_id"]) != broken {
		t.Errorf("latest shadow %v", s)
	}
	if a := auditRows(t, w.Token, "policy.shadow.stop"); len(a) != 1 {
		t.Errorf("policy.shadow.stop audit rows %v", a)
	}
}

// TestShadowBadInput: bad days, unknown candidates, bad cursors and limits
// are clear errors that change nothing; paging works.
func TestShadowBadInput(t *testing.T) {
	t.Parallel()
	w := newMCPWorkspace(t, dbtest.Unique("SHBAD"))
	cand := submitCandidate(t, w, denyLabels, denyLabelsTests)
	path := fmt.Sprintf("/api/v1/policy/candidates/%d/shadow", cand)
	for _, body := range []any{obj{"days": 0}, obj{"days": 31}, obj{"days": -1}, obj{"days": "7"}, obj{}, "not json", obj{"days": 1e30}} {
		wantErr(t, call(t, "POST", path, w.Token, body), 400, "bad_request")
	}
	for _, p := range []string{"/api/v1/policy/candidates/999999999/shadow", "/api/v1/policy/candidates/99999999999999999999/shadow", "/api/v1/policy/candidates/x/shadow"} {
		wantErr(t, call(t, "POST", p, w.Token, obj{"days": 1}), 404, "not_found")
	}
	b := want(t, call(t, "GET", "/api/v1/policy/shadow", w.Token, nil), 200)
	if b["shadow"] != nil || len(list(t, b, "flips")) != 0 || b["next_cursor"] != nil {
		t.Fatalf("shadow of an account that never had one: %v", b)
	}
	for _, q := range []string{"?limit=0x", "?limit=101", "?limit=-1", "?cursor=abc", "?cursor=-5", "?limit=99999999999999999999"} {
		wantErr(t, call(t, "GET", "/api/v1/policy/shadow"+q, w.Token, nil), 400, "bad_request")
	}
	want(t, call(t, "DELETE", "/api/v1/policy/shadow", w.Token, nil), 204) // none: nothing to end

	want(t, call(t, "POST", path, w.Token, obj{"days": 1}), 200)
	for i := 0; i < 3; i++ {
		mcpTool(t, w.token, "list_labels", obj{})
	}
	shadowFlips(t, w, 3)
	first := want(t, call(t, "GET", "/api/v1/policy/shadow?limit=2", w.Token, nil), 200)
	cursor, _ := first["next_cursor"].(string)
	if len(list(t, first, "flips")) != 2 || cursor == "" {
		t.Fatalf("first page %v", first)
	}
	second := want(t, call(t, "GET", "/api/v1/policy/shadow?limit=2&cursor="+cursor, w.Token, nil), 200)
	if len(list(t, second, "flips")) != 1 || second["next_cursor"] != nil {
		t.Errorf("second page %v", second)
	}
}
