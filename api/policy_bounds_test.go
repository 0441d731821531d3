package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

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
