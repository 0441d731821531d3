package policy

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

const okTests = `package deskwoot.tenant_test

import data.deskwoot.tenant

test_reply_in_inbox_9_denied if {
	count(tenant.deny) == 1 with input as {"tool": "reply_to_conversation", "target": {"inbox_id": 9}}
}
`

func TestTenantModuleRejectedWithItsLine(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	cases := []struct {
		name, rego, tests string
		file              string
		line              int
		want              string
	}{
		{"other package", "package deskwoot.authz\n\ndeny contains \"x\"\n", okTests, TenantFile, 1, "must be package deskwoot.tenant"},
		{"an allow rule", "package deskwoot.tenant\n\nallow := true\n", okTests, TenantFile, 3, "rule allow is not allowed"},
		{"a decision rule", "package deskwoot.tenant\n\ndeny contains \"x\" if false\n\ndecision := {\"allow\": true}\n", okTests, TenantFile, 5, "rule decision is not allowed"},
		{"deny as one value", "package deskwoot.tenant\n\ndeny := {\"x\"}\n", okTests, TenantFile, 3, "deny must be written as"},
		{"default deny", "package deskwoot.tenant\n\ndefault deny := set()\n", okTests, TenantFile, 3, "deny must be written as"},
		{"deny as a function", "package deskwoot.tenant\n\ndeny(x) := x\n", okTests, TenantFile, 3, "deny must be written as"},
		{"a helper rule", "package deskwoot.tenant\n\nvip := 9\n\ndeny contains \"x\" if input.target.inbox_id == vip\n", okTests, TenantFile, 3, "rule vip is not allowed"},
		{"import of data", "package deskwoot.tenant\n\nimport data.deskwoot.authz\n\ndeny contains \"x\" if authz.allow\n", okTests, TenantFile, 3, "import data.deskwoot.authz is not allowed"},
		{"reading the base decision", "package deskwoot.tenant\n\ndeny contains \"x\" if {\n\tdata.deskwoot.authz.decision.allow\n}\n", okTests, TenantFile, 4, "data.deskwoot.authz.decision.allow is not readable"},
		{"reading another account's data", "package deskwoot.tenant\n\ndeny contains \"x\" if {\n\tdata.accounts[_]\n}\n", okTests, TenantFile, 4, "is not readable"},
		{"http.send", "package deskwoot.tenant\n\ndeny contains \"x\" if {\n\thttp.send({\"method\": \"get\", \"url\": \"http://127.0.0.1\"})\n}\n", okTests, TenantFile, 4, "http.send is not allowed in account rules (no network access)"},
		{"net lookup", "package deskwoot.tenant\n\ndeny contains \"x\" if {\n\tnet.lookup_ip_addr(\"example.com\")\n}\n", okTests, TenantFile, 4, "net.lookup_ip_addr is not allowed"},
		{"opa.runtime", "package deskwoot.tenant\n\ndeny contains \"x\" if {\n\topa.runtime().env\n}\n", okTests, TenantFile, 4, "opa.runtime is not allowed"},
		{"the clock", "package deskwoot.tenant\n\ndeny contains \"x\" if {\n\ttime.now_ns() > 0\n}\n", okTests, TenantFile, 4, "time.now_ns is not allowed"},
		{"randomness", "package deskwoot.tenant\n\ndeny contains \"x\" if {\n\trand.intn(\"k\", 2) == 0\n}\n", okTests, TenantFile, 4, "rand.intn is not allowed"},
		{"a parse error", "package deskwoot.tenant\n\ndeny contains \"x\" if {\n\tinput.tool ==\n}\n", okTests, TenantFile, 5, ""},
		{"an unsafe variable", "package deskwoot.tenant\n\ndeny contains reason if {\n\tinput.tool == \"reply_to_conversation\"\n}\n", okTests, TenantFile, 3, "unsafe"},
		{"an empty module", "  \n", okTests, TenantFile, 0, "empty"},
		{"tests in another package", "package deskwoot.tenant\n\ndeny contains \"x\" if false\n", "package deskwoot.authz_test\n\ntest_x if true\n", TenantTestsFile, 1, "must be package deskwoot.tenant_test"},
		{"tests without a test", "package deskwoot.tenant\n\ndeny contains \"x\" if false\n", "package deskwoot.tenant_test\n\nx := 1\n", TenantTestsFile, 1, "no test_ rules"},
		{"no tests", "package deskwoot.tenant\n\ndeny contains \"x\" if false\n", "", TenantTestsFile, 0, "no tests"},
		{"tests that call out", "package deskwoot.tenant\n\ndeny contains \"x\" if false\n", "package deskwoot.tenant_test\n\ntest_x if {\n\thttp.send({\"method\": \"get\", \"url\": \"http://127.0.0.1\"})\n}\n", TenantTestsFile, 4, "http.send is not allowed"},
	}
	for _, c := range cases {
		_, err := e.ParseTenantRules(context.Background(), testAcct(), c.rego, c.tests)
		var re *RuleError
		if !errors.As(err, &re) {
			t.Errorf("%s: got %v, want a RuleError", c.name, err)
			continue
		}
		if re.File != c.file || re.Line != c.line || !strings.Contains(re.Msg, c.want) {
			t.Errorf("%s: got %q (file %s line %d), want file %s line %d containing %q", c.name, re.Error(), re.File, re.Line, c.file, c.line, c.want)
		}
	}
	if _, err := e.ParseTenantRules(context.Background(), testAcct(), "package deskwoot.tenant\n\ndeny contains \"no replies in 9\" if {\n\tinput.tool == \"reply_to_conversation\"\n\tinput.target.inbox_id == 9\n}\n", okTests); err != nil {
		t.Errorf("a well-formed module was refused: %v", err)
	}
}

// tenantModules are well-formed account modules of every shape the
// contract allows, including ones that deny nothing or try hard to.
var tenantModules = map[string]string{
	"denies nothing":               "package deskwoot.tenant\n\ndeny contains \"never\" if false\n",
	"requires nothing":             "package deskwoot.tenant\n\nrequire_approval contains \"never\" if false\n",
	"with-overrides its own input": "package deskwoot.tenant\n\ndeny contains \"x\" if {\n\tfalse with input as {}\n}\n",
	"non-string reasons":           "package deskwoot.tenant\n\ndeny contains 1 if false\n",
}

// TestTenantRulesCannotAllow: for every catalog tool, a call the base
// policy denies (wrong scope, object outside the token's inboxes, gate
// shut) stays denied with every module, and an allowed call stays allowed
// with a module that objects to nothing.
func TestTenantRulesCannotAllow(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	ctx := context.Background()
	for mname, src := range tenantModules {
		tp := e.PrepareTenant(testAcct(), 1, TenantRules{Rego: src})
		for name, tool := range e.Catalog() {
			good := Input{
				Principal: Principal{AccountID: 1, TokenID: 7, Scopes: []string{tool.Scope}, InboxIDs: []int64{1}},
				Account:   activeEnterprise(),
				Tool:      name,
				Args:      map[string]any{"inbox_id": 1},
				Target:    Target{Kind: tool.Target, ConversationID: 12, InboxID: 1, ContactID: 5, ContactInboxIDs: []int64{1}},
				Now:       testNow,
			}
			wrongScope, outside, shut := good, good, good
			wrongScope.Principal.Scopes = []string{"helpcenter:read"}
			if tool.Scope == "helpcenter:read" {
				wrongScope.Principal.Scopes = []string{"events:read"}
			}
			outside.Principal.InboxIDs = []int64{2}
			shut.Account.MCPEnabled = false
			for label, in := range map[string]Input{"wrong scope": wrongScope, "gate shut": shut, "outside inboxes": outside} {
				base, _ := e.Decide(ctx, in)
				if label == "outside inboxes" && base.Allow {
					continue // a tool without an inbox-bound object
				}
				if base.Allow {
					t.Fatalf("%s, %s: the base policy allows", name, label)
				}
				if d, err := tp.Decide(ctx, in); d.Allow {
					t.Errorf("module %q, %s, %s: allowed (%v), want a denial", mname, name, label, err)
				}
			}
			d, err := tp.Decide(ctx, good)
			base, _ := e.Decide(ctx, good)
			if err != nil || d.Allow != base.Allow || d.DraftOnly != base.DraftOnly {
				t.Errorf("module %q, %s: %+v (%v), want as the base policy %+v", mname, name, d, err, base)
			}
		}
	}
}

func TestTenantDenyAndApproval(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	ctx := context.Background()
	src := `package deskwoot.tenant

deny contains "no agent replies in the VIP inbox" if {
	input.tool == "reply_to_conversation"
	input.target.inbox_id == 9
}

require_approval contains "outbound needs a human" if input.tool == "start_conversation"

require_approval contains "notes need a human" if {
	input.tool == "add_private_note"
	input.target.inbox_id == 9
}
`
	tp := e.PrepareTenant(testAcct(), 3, TenantRules{Rego: src})
	in := func(tool string, inbox int64) Input {
		return Input{
			Principal: Principal{AccountID: 1, TokenID: 7, Scopes: []string{"conversations:reply", "conversations:note", "conversations:create"}},
			Account:   activeEnterprise(), Tool: tool, Args: map[string]any{"inbox_id": inbox},
			Target: Target{Kind: "conversation", ConversationID: 12, InboxID: inbox, ContactID: 5, ContactInboxIDs: []int64{inbox}},
			Now:    testNow,
		}
	}
	d, _ := tp.Decide(ctx, in("reply_to_conversation", 9))
	if d.Allow || d.Rule != RuleAccountRule || d.TenantVersion != 3 || len(d.Reasons) != 1 || !strings.Contains(d.Reasons[0], "no agent replies in the VIP inbox") {
		t.Errorf("reply in 9: %+v", d)
	}
	if d, _ := tp.Decide(ctx, in("reply_to_conversation", 8)); !d.Allow || d.DraftOnly {
		t.Errorf("reply in 8: %+v", d)
	}
	in2 := in("start_conversation", 8)
	in2.Target.Kind = "contact"
	if d, _ := tp.Decide(ctx, in2); !d.Allow || !d.DraftOnly || len(d.ApprovalReasons) != 1 {
		t.Errorf("start: %+v, want a draft", d)
	}
	if d, _ := tp.Decide(ctx, in("add_private_note", 9)); d.Allow || !strings.Contains(d.Reasons[0], "cannot be drafted") {
		t.Errorf("note in 9: %+v, want a denial (a note cannot be drafted)", d)
	}
	if d, _ := tp.Decide(ctx, in("add_private_note", 8)); !d.Allow || d.DraftOnly {
		t.Errorf("note in 8: %+v", d)
	}
}

// TestTenantRuleThatRunsLongIsCutOff: a rule that would loop for minutes is
// stopped after TenantTimeout and the call is denied, saying why.
func TestTenantRuleThatRunsLongIsCutOff(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	ctx := context.Background()
	tp := e.PrepareTenant(testAcct(), 4, TenantRules{Rego: slowRule})
	start := time.Now()
	d, err := tp.Decide(ctx, Input{Principal: Principal{AccountID: 1, TokenID: 7, Scopes: []string{"conversations:read"}},
		Account: activeEnterprise(), Tool: "list_inboxes", Args: map[string]any{}, Now: testNow})
	took := time.Since(start)
	if d.Allow || !errors.Is(err, ErrTenantFailed) || d.Rule != RuleTenantFailed || !strings.Contains(d.Reasons[0], "ran longer than") {
		t.Errorf("got %+v, %v; want a fail-closed denial", d, err)
	}
	if took > 20*TenantTimeout {
		t.Errorf("the rule ran %s; it should be cut off after about %s", took, TenantTimeout)
	}
}

func TestTenantTests(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	tr, err := e.ParseTenantRules(context.Background(), testAcct(), "package deskwoot.tenant\n\ndeny contains \"no replies in 9\" if {\n\tinput.tool == \"reply_to_conversation\"\n\tinput.target.inbox_id == 9\n}\n",
		okTests+"\ntest_wrong if {\n\tcount(tenant.deny) == 0 with input as {\"tool\": \"reply_to_conversation\", \"target\": {\"inbox_id\": 9}}\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := e.RunTenantTests(context.Background(), testAcct(), tr)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Passed != 1 || rep.Failed != 1 || len(rep.Results) != 2 || rep.Results[1].Name != "deskwoot.tenant_test.test_wrong" || rep.Results[1].Pass {
		t.Errorf("report %+v", rep)
	}
}

// TestExplanationRedactsArguments: text never reaches a stored explanation;
// ids, keys and sizes do.
func TestExplanationRedactsArguments(t *testing.T) {
	t.Parallel()
	in := Input{Principal: Principal{AccountID: 1, TokenID: 7, Scopes: []string{"contacts:write"}}, Account: activeEnterprise(),
		Tool: "update_contact", Now: testNow, Target: Target{Kind: "contact", ContactID: 5},
		Args: map[string]any{"contact_id": float64(5), "email": "MARKER-a@example.com", "custom_attributes": map[string]any{"tier": "MARKER-b"},
			"labels": []any{"MARKER-c"}, "ids": []any{float64(1), float64(2)}, "vip": true}}
	b := Explain(in, Decision{Allow: true, Reasons: []string{}, Rule: RuleAllow}, "abc", nil)
	if strings.Contains(string(b), "MARKER") {
		t.Fatalf("explanation carries argument text: %s", b)
	}
	var x Explanation
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Args map[string]json.RawMessage `json:"args"`
	}
	json.Unmarshal(x.Input, &got)
	for k, want := range map[string]string{"contact_id": `5`, "vip": `true`, "ids": `[1,2]`,
		"email": `{"redacted":"string","bytes":20}`, "custom_attributes": `{"redacted":"object","bytes":19,"items":1,"keys":["tier"]}`} {
		if string(got.Args[k]) != want {
			t.Errorf("args.%s = %s, want %s", k, got.Args[k], want)
		}
	}
	if len(x.Masked) != 3 || x.ArgsDigest != "abc" {
		t.Errorf("masked %v, digest %q", x.Masked, x.ArgsDigest)
	}
}

// TestExplanationMarshalIsJSONMarshal keeps Explanation.marshal byte for byte
// equal to encoding/json's output, for every optional field set or not.
func TestExplanationMarshalIsJSONMarshal(t *testing.T) {
	in := Input{Principal: Principal{AccountID: 1, TokenID: 7, Scopes: []string{"conversations:read"}, InboxIDs: []int64{3}},
		Tool: "get_conversation", Args: map[string]any{"conversation_id": 12.0, "body": "<b>\u2028é</b>"}, Now: testNow}
	raw, masked := in.Redacted()
	for _, x := range []Explanation{
		{Path: PathDecision, Input: raw, Masked: masked, Result: Decision{Allow: true, Reasons: []string{}, Rule: RuleAllow}, ArgsDigest: "abc"},
		{Path: PathDecision, Input: raw, Result: Decision{Reasons: []string{"token lacks scope <x> & \"y\""}, Rule: RuleDeny}, Error: "boom\n<br>"},
		{Path: PathGate},
	} {
		want, err := json.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		if got := x.marshal(); string(got) != string(want) {
			t.Errorf("marshal\n%s\nwant\n%s", got, want)
		}
	}
}
