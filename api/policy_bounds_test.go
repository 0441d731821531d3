package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/api"
	"github.com/deskwoot/deskwoot/dbtest"
)

// Issue 18: an account's own Rego runs inside bounds. These tests send the
// red team's payloads through the REST and MCP doors.

const otherToolsTest = "package deskwoot.tenant_test\n\nimport data.deskwoot.tenant\n\ntest_other_tools if {\n\tcount(tenant.deny) == 0 with input as {\"tool\": \"get_article\"}\n}\n"

// activateRule submits a candidate whose tests pass and puts it in force.
func activateRule(t *testing.T, w mcpWorkspace, rego, tests string) {
	t.Helper()
	c := want(t, call(t, "POST", "/api/v1/policy/candidates", w.Token, obj{"rego": rego, "tests": tests}), 201)
	if c["tests"].(obj)["failed"] != float64(0) {
		t.Fatalf("candidate's tests failed: %v", c["tests"])
	}
	want(t, call(t, "POST", fmt.Sprintf("/api/v1/policy/candidates/%d/activate", id(t, c["id"])), w.Token, nil), 200)
}

// TestCandidateCrashPayloadRefused: the test module that took the whole
// server down (bits.lsh(1, 9223372036854775807) in a test) is refused with
// its line and the builtin, and the server goes on answering; so is the
// shift that held a test for 10 s and 80 MB.
func TestCandidateCrashPayloadRefused(t *testing.T) {
	t.Parallel()
	w := signup(t)
	for shift, line := range map[string]string{"9223372036854775807": "tests line 4", "33554432": "tests line 4"} {
		msg := wantErr(t, call(t, "POST", "/api/v1/policy/candidates", w.Token, obj{
			"rego":  "package deskwoot.tenant\n\ndeny contains \"x\" if false\n",
			"tests": "package deskwoot.tenant_test\n\ntest_boom if {\n\tbits.lsh(1, " + shift + ") > 0\n}\n",
		}), 400, "bad_request")
		if !strings.Contains(msg, line) || !strings.Contains(msg, "bits.lsh is not allowed in account rules") {
			t.Errorf("shift %s: 400 message %q does not name %s and bits.lsh", shift, msg, line)
		}
	}
	msg := wantErr(t, call(t, "POST", "/api/v1/policy/candidates", w.Token, obj{
		"rego":  "package deskwoot.tenant\n\ndeny contains \"x\" if {\n\tbits.lsh(1, 16777216) > 0\n}\n",
		"tests": otherToolsTest,
	}), 400, "bad_request")
	if !strings.Contains(msg, "rego line 4") || !strings.Contains(msg, "bits.lsh") {
		t.Errorf("400 message %q", msg)
	}
	want(t, call(t, "GET", "/api/v1/policy", w.Token, nil), 200)
}

// TestErringTenantRuleDenies: a rule that raises an error (1 / 0) denies
// the call it was about instead of letting it through; the answer and the
// audit row say so in plain words (no Go internals), and the explanation
// names the rule's line for the admins.
func TestErringTenantRuleDenies(t *testing.T) {
	t.Parallel()
	w := newMCPWorkspace(t, dbtest.Unique("ERR"))
	activateRule(t, w, "package deskwoot.tenant\n\ndeny contains \"never\" if {\n\tinput.tool == \"list_inboxes\"\n\tx := 1 / 0\n\tx > 0\n}\n", otherToolsTest)
	text, isErr, _ := mcpTool(t, w.token, "list_inboxes", obj{})
	const plain = "this account's policy rules (version 1) could not be evaluated: a rule raised an error; the call was refused until an admin fixes or removes them"
	if !isErr || text != plain {
		t.Errorf("list_inboxes under an erring rule: %q (isError %v), want %q", text, isErr, plain)
	}
	rows := auditRows(t, w.Token, "list_inboxes")
	if len(rows) != 1 || rows[0]["decision"] != "deny" || fmt.Sprint(rows[0]["reasons"]) != "["+plain+"]" {
		t.Fatalf("audit rows %v", rows)
	}
	x := want(t, call(t, "GET", fmt.Sprintf("/api/v1/audit/%d/explanation", id(t, rows[0]["id"])), w.Token, nil), 200)
	if e := fmt.Sprint(x["error"]); !strings.Contains(e, "rego line 5: div: divide by zero") || strings.Contains(e, "goroutine") {
		t.Errorf("explanation error %q", e)
	}
	if _, isErr, _ := mcpTool(t, w.token, "list_labels", obj{}); isErr {
		t.Errorf("a tool the rule is not about was refused")
	}
}

// TestTenantReasonsCappedOverMCP: a rule denying with 20,000 reasons made
// each denied call answer 2 MB and write 1.4 MB to the audit log; now the
// answer and the audit row stay small, whether the rule finishes in time
// (capped reasons) or not (refused for running long).
func TestTenantReasonsCappedOverMCP(t *testing.T) {
	t.Parallel()
	w := newMCPWorkspace(t, dbtest.Unique("MANY"))
	activateRule(t, w, `package deskwoot.tenant

deny contains sprintf("reason %d%d%d%d%d: no listing of inboxes today, by order of the security team", [a, b, c, d, f]) if {
	input.tool == "list_inboxes"
	xs := [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
	some a in xs
	some b in xs
	some c in xs
	some d in xs
	some f in [0, 1]
}
`, otherToolsTest)
	text, isErr, _ := mcpTool(t, w.token, "list_inboxes", obj{})
	if !isErr || len(text) > 4<<10 {
		t.Errorf("denied answer of %d bytes (isError %v), want at most 4 KB", len(text), isErr)
	}
	rows := auditRows(t, w.Token, "list_inboxes")
	if len(rows) != 1 {
		t.Fatalf("audit rows %v", rows)
	}
	if b, _ := json.Marshal(rows[0]); len(b) > 8<<10 {
		t.Errorf("audit row of %d bytes, want at most 8 KB", len(b))
	}
	if strings.Contains(text, "reason") && !strings.Contains(text, "… and 19991 more reasons") {
		t.Errorf("capped reasons do not say how many more: %q", text)
	}
}

// TestPolicyVersionOutOfRange: a version number past PostgreSQL's int
// answered 500; it names no version.
func TestPolicyVersionOutOfRange(t *testing.T) {
	t.Parallel()
	w := signup(t)
	for _, n := range []string{"2147483648", "9223372036854775808", "-1", "0", "x"} {
		msg := wantErr(t, call(t, "POST", "/api/v1/policy/versions/"+n+"/activate", w.Token, nil), 404, "not_found")
		if !strings.Contains(msg, "version") {
			t.Errorf("version %s: %q", n, msg)
		}
	}
}

// TestCandidateSourceUpTo64K: the input layer allows a module and its
// tests of the sandbox's own size, 65,536 characters each (it stopped
// them at 1,000), and refuses one character more, naming the field.
func TestCandidateSourceUpTo64K(t *testing.T) {
	t.Parallel()
	w := signup(t)
	const module = "package deskwoot.tenant\n\ndeny contains \"x\" if input.tool == \"list_inboxes\"\n"
	pad := func(src string, chars int) string {
		return src + "# " + strings.Repeat("é", chars-len([]rune(src))-3) + "\n"
	}
	c := want(t, call(t, "POST", "/api/v1/policy/candidates", w.Token, obj{"rego": pad(module, 65536), "tests": pad(otherToolsTest, 65536)}), 201)
	if c["tests"].(obj)["passed"] != float64(1) {
		t.Errorf("tests %v", c["tests"])
	}
	msg := wantErr(t, call(t, "POST", "/api/v1/policy/candidates", w.Token, obj{"rego": pad(module, 65537), "tests": otherToolsTest}), 400, "bad_request")
	if !strings.Contains(msg, "rego is at most 65536 characters") {
		t.Errorf("400 message %q", msg)
	}
}

// TestCandidateSubmissionsRateLimited: each submission compiles, tests and
// replays Rego; a workspace may send CandidatesPerMinute at once, then one
// every 60/CandidatesPerMinute seconds, and past that gets 429
// rate_limited saying when to come back. Another workspace is not
// affected.
func TestCandidateSubmissionsRateLimited(t *testing.T) {
	t.Parallel()
	w, other := signup(t), signup(t)
	body := obj{"rego": "package deskwoot.tenant\n\ndeny contains \"x\" if false\n", "tests": otherToolsTest}
	start := time.Now()
	accepted := 0
	var refused resp
	for i := 0; i < 3*api.CandidatesPerMinute; i++ {
		r := call(t, "POST", "/api/v1/policy/candidates", w.Token, body)
		if r.Status != 201 {
			refused = r
			break
		}
		accepted++
	}
	// The bucket refills while the submissions run (each takes a moment).
	if most := api.CandidatesPerMinute + 1 + int(time.Since(start)/(time.Minute/api.CandidatesPerMinute)); accepted < api.CandidatesPerMinute || accepted > most {
		t.Errorf("%d submissions accepted, want %d to %d", accepted, api.CandidatesPerMinute, most)
	}
	msg := wantErr(t, refused, 429, "rate_limited")
	if !strings.Contains(msg, "submit again in") || refused.Header.Get("Retry-After") == "" {
		t.Errorf("429 %q, Retry-After %q", msg, refused.Header.Get("Retry-After"))
	}
	want(t, call(t, "POST", "/api/v1/policy/candidates", other.Token, body), 201)
}

// TestCandidateReadBack: a candidate, with its replay as it stands, reads
// back by id and in the list, for its own account only.
func TestCandidateReadBack(t *testing.T) {
	t.Parallel()
	w := newMCPWorkspace(t, dbtest.Unique("READ"))
	other := signup(t)
	mcpTool(t, w.token, "list_inboxes", obj{})
	c := want(t, call(t, "POST", "/api/v1/policy/candidates", w.Token, obj{
		"rego": "package deskwoot.tenant\n\ndeny contains \"no listing\" if input.tool == \"list_inboxes\"\n", "tests": otherToolsTest}), 201)
	if r := c["replay"].(obj); r["status"] != "done" || r["done"] != float64(1) || r["total"] != float64(1) || r["decisions"] != float64(1) || len(list(t, r, "flips")) != 1 {
		t.Errorf("the answer's replay %v", r)
	}
	path := fmt.Sprintf("/api/v1/policy/candidates/%d", id(t, c["id"]))
	got := want(t, call(t, "GET", path, w.Token, nil), 200)
	if got["id"] != c["id"] || fmt.Sprint(got["replay"]) != fmt.Sprint(c["replay"]) || fmt.Sprint(got["tests"]) != fmt.Sprint(c["tests"]) {
		t.Errorf("read back %v, answered %v", got, c)
	}
	cs := list(t, want(t, call(t, "GET", "/api/v1/policy/candidates", w.Token, nil), 200), "candidates")
	if len(cs) != 1 || cs[0]["id"] != c["id"] {
		t.Errorf("candidates %v", cs)
	}
	wantErr(t, call(t, "GET", path, other.Token, nil), 404, "not_found")
	if cs := list(t, want(t, call(t, "GET", "/api/v1/policy/candidates", other.Token, nil), 200), "candidates"); len(cs) != 0 {
		t.Errorf("another account sees %v", cs)
	}
}

// sharedLeaves is a rule for list_inboxes whose one evaluation step (==
// of two arrays of 2^34 shared leaves) runs for hours: the sandbox kills
// its child.
func sharedLeaves() string {
	var b strings.Builder
	b.WriteString("package deskwoot.tenant\n\ndeny contains \"never\" if {\n\tinput.tool == \"list_inboxes\"\n\ta0 := \"x\"\n\tb0 := \"x\"\n")
	for i := 1; i <= 34; i++ {
		fmt.Fprintf(&b, "\ta%d := array.slice([a%d, a%d], 0, 2)\n\tb%d := array.slice([b%d, b%d], 0, 2)\n", i, i-1, i-1, i, i-1, i-1)
	}
	b.WriteString("\ta34 == b34\n\tfalse\n}\n")
	return b.String()
}

// TestRuleKilledInItsSandbox: a rule one step of which would run for
// hours is stopped with its sandbox child; the MCP call is a tool error
// in plain words (not -32603 with Go's text), audited as a denial, and
// replaying such a candidate answers 201 (it closed the connection) with
// each replayed call flipped to a denial.
func TestRuleKilledInItsSandbox(t *testing.T) {
	t.Parallel()
	w := newMCPWorkspace(t, dbtest.Unique("KILL"))
	for range 3 {
		if _, isErr, _ := mcpTool(t, w.token, "list_inboxes", obj{}); isErr {
			t.Fatal("list_inboxes failed before any rule")
		}
	}
	c := want(t, call(t, "POST", "/api/v1/policy/candidates", w.Token, obj{"rego": sharedLeaves(), "tests": otherToolsTest}), 201)
	if s := c["replay"].(obj)["status"]; s != "running" && s != "done" {
		t.Fatalf("replay status %v", s)
	}
	path := fmt.Sprintf("/api/v1/policy/candidates/%d", id(t, c["id"]))
	var replay obj
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		if replay = want(t, call(t, "GET", path, w.Token, nil), 200)["replay"].(obj); replay["status"] != "running" {
			break
		}
	}
	if replay["status"] != "done" || replay["decisions"] != float64(3) || replay["flipped"] != float64(3) {
		t.Fatalf("replay %v; want 3 calls replayed, each flipped", replay)
	}
	for _, f := range list(t, replay, "flips") {
		if f["before"] != "allow" || f["after"] != "deny" || !strings.Contains(fmt.Sprint(f["reasons"]), "could not be evaluated") {
			t.Errorf("flip %v", f)
		}
	}
	want(t, call(t, "POST", fmt.Sprintf("/api/v1/policy/candidates/%d/activate", id(t, c["id"])), w.Token, nil), 200)
	// Killed for its time, or (under the race detector, whose shadow
	// memory the walk touches) for its memory: either way in plain words.
	text, isErr, _ := mcpTool(t, w.token, "list_inboxes", obj{})
	timeOrMemory := regexp.MustCompile(`^this account's policy rules \(version 1\) could not be evaluated: it (ran longer than 1s|used more memory than its limit); the call was refused until an admin fixes or removes them$`)
	if !isErr || !timeOrMemory.MatchString(text) {
		t.Errorf("list_inboxes: %q (isError %v)", text, isErr)
	}
	if rows := auditRows(t, w.Token, "list_inboxes"); len(rows) != 4 || rows[0]["decision"] != "deny" || fmt.Sprint(rows[0]["reasons"]) != "["+text+"]" {
		t.Errorf("audit rows %v", rows)
	}
}

// TestActiveRuleThatNoLongerPassesTheChecks: a version activated before
// its builtin was refused (bits.lsh held each call 2.2–2.5 s) does not
// compile in the sandbox now: its account's calls are denied at once,
// audited, in plain words; the explanation names the builtin.
func TestActiveRuleThatNoLongerPassesTheChecks(t *testing.T) {
	t.Parallel()
	w := newMCPWorkspace(t, dbtest.Unique("OLD"))
	ctx := context.Background()
	err := dbtest.App(t).InTenant(ctx, w.AccountID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO tenant_rules (account_id, version, rego, tests, tests_passed, tests_failed) VALUES ($1, 1, $2, 'package deskwoot.tenant_test', 1, 0)`,
			w.AccountID, "package deskwoot.tenant\n\ndeny contains \"x\" if {\n\tbits.lsh(1, 16777216) > 0\n}\n"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE accounts SET tenant_rules_version = 1 WHERE id = $1`, w.AccountID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	text, isErr, _ := mcpTool(t, w.token, "list_inboxes", obj{})
	const plain = "this account's policy rules (version 1) could not be loaded; the call was refused until an admin fixes or removes them"
	if !isErr || text != plain {
		t.Fatalf("list_inboxes: %q (isError %v), want %q", text, isErr, plain)
	}
	rows := auditRows(t, w.Token, "list_inboxes")
	if len(rows) != 1 || rows[0]["decision"] != "deny" {
		t.Fatalf("audit rows %v", rows)
	}
	x := want(t, call(t, "GET", fmt.Sprintf("/api/v1/audit/%d/explanation", id(t, rows[0]["id"])), w.Token, nil), 200)
	if e := fmt.Sprint(x["error"]); !strings.Contains(e, "bits.lsh is not allowed in account rules") {
		t.Errorf("explanation error %q", e)
	}
}
