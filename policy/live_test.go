package policy

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestDecideLiveIsTheWholeDecision: for a table of calls, each decided
// live with the rules in force (none, or a version), a candidate decides
// each through DecideLive exactly as its whole decision does: a call the
// base denied comes back as decided, without a trip; a call the rules in
// force allowed is decided with account_decision, reasons, draft and rule
// alike; any other is decided in full.
func TestDecideLiveIsTheWholeDecision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := testEngine(t)
	inInbox := Target{Kind: "conversation", ConversationID: 12, InboxID: 1}
	restricted := []int64{1, 2}
	all := []string{"conversations:read", "conversations:reply", "conversations:note", "conversations:draft", "conversations:manage"}
	call := func(tool string, p Principal, acct Account, target Target) Input {
		p.AccountID, p.TokenID = 1, 7
		if p.Scopes == nil {
			p.Scopes = all
		}
		return Input{Principal: p, Account: acct, Tool: tool, Args: map[string]any{"conversation_id": 12, "body": "hi"}, Target: target, Now: testNow}
	}
	active := activeEnterprise()
	paused := activeEnterprise()
	paused.AgentsPaused = true
	noLabels := activeEnterprise()
	noLabels.DisabledTools = []string{"get_conversation"}
	shut := activeEnterprise()
	shut.MCPEnabled = false
	inputs := []Input{
		call("get_conversation", Principal{}, active, inInbox),
		call("get_conversation", Principal{InboxIDs: restricted}, active, inInbox),
		call("get_conversation", Principal{InboxIDs: []int64{3}}, active, inInbox),                    // not found
		call("get_conversation", Principal{Scopes: []string{"conversations:reply"}}, active, inInbox), // lacks its scope
		call("get_conversation", Principal{}, noLabels, inInbox),                                      // switched off
		call("get_conversation", Principal{}, shut, inInbox),                                          // the gate is shut
		call("reply_to_conversation", Principal{}, active, inInbox),
		call("reply_to_conversation", Principal{RequireApproval: true}, active, inInbox),
		call("reply_to_conversation", Principal{}, paused, inInbox), // agents paused
		call("reply_to_conversation", Principal{Paused: true, PauseReason: "too many refusals"}, active, inInbox),
		call("add_private_note", Principal{}, active, inInbox),
		call("add_private_note", Principal{RequireApproval: true}, active, inInbox),
		call("approve_draft", Principal{ChatApproval: true}, active, Target{Kind: "none"}),
		call("approve_draft", Principal{}, active, Target{Kind: "none"}),
		call("delete_conversation", Principal{}, active, inInbox),
		call("list_labels", Principal{}, active, Target{}),
	}
	rules := map[string]string{
		"denies every call":  "package deskwoot.tenant\n\ndeny contains \"not while we try this\" if input.tool\n",
		"denies replies":     "package deskwoot.tenant\n\ndeny contains \"no replies\" if input.tool == \"reply_to_conversation\"\n\ndeny contains \"and not here\" if input.target.inbox_id == 1\n",
		"requires approval":  "package deskwoot.tenant\n\nrequire_approval contains \"a human reads it first\" if input.tool\n",
		"denies nothing":     "package deskwoot.tenant\n\ndeny contains \"never\" if input.tool == \"no such tool\"\n",
		"does not compile":   "package deskwoot.tenant\n\ndeny contains x if { x := undefined_function(1) }\n",
		"fails on its input": "package deskwoot.tenant\n\ndeny contains \"x\" if { 1 / 0 == input.tool }\n",
		"fails on replies":   "package deskwoot.tenant\n\nrequire_approval contains \"x\" if { input.tool == \"reply_to_conversation\"; 1 / 0 == 2 }\n\ndeny contains \"no notes\" if input.tool == \"add_private_note\"\n",
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range rules {
			if !yield(n) {
				return
			}
		}
	})
	// The rules in force: the base policy alone, or a version of each
	// of the rules above.
	inForce := []struct {
		name   string
		decide func(Input) Decision
	}{{"no account rules", func(in Input) Decision { d, _ := e.Decide(ctx, in); return d }}}
	for _, n := range names {
		tp := e.PrepareTenant(testAcct(), 3, TenantRules{Rego: rules[n]})
		inForce = append(inForce, struct {
			name   string
			decide func(Input) Decision
		}{"version that " + n, func(in Input) Decision { d, _ := tp.Decide(ctx, in); return d }})
	}
	reached := map[string]bool{}
	for _, n := range names {
		cand := e.PrepareShadow(testAcct(), TenantRules{Rego: rules[n]})
		for _, f := range inForce {
			var calls []LiveCall
			var whole []Decision
			for _, in := range inputs {
				calls = append(calls, LiveCall{Input: in, Decision: f.decide(in)})
				d, _ := cand.Decide(ctx, in)
				whole = append(whole, d)
			}
			got, err := cand.DecideLive(ctx, calls, time.Minute)
			if err != nil || len(got) != len(calls) {
				t.Fatalf("candidate that %s beside the %s: %d results, %v", n, f.name, len(got), err)
			}
			for i, c := range calls {
				g, w := got[i].Decision, whole[i]
				where := fmt.Sprintf("candidate that %s, %s, %s (live: %s %q)", n, f.name, c.Input.Tool, c.Decision.Rule, c.Decision.Reasons)
				if g.Outcome() != w.Outcome() {
					t.Errorf("%s: DecideLive says %s, the whole decision %s", where, g.Outcome(), w.Outcome())
					continue
				}
				switch {
				case c.Decision.settled():
					reached["settled"] = true
				case c.Decision.Allow:
					reached["allowed "+g.Outcome()] = true
					if fmt.Sprint(g) != fmt.Sprint(w) {
						t.Errorf("%s:\n DecideLive %+v\n whole      %+v", where, g, w)
					}
				default:
					reached["in full"] = true
				}
			}
		}
	}
	for _, want := range []string{"settled", "allowed allow", "allowed draft", "allowed deny", "in full"} {
		if !reached[want] {
			t.Errorf("the table never reached a call %s", want)
		}
	}
}

// TestDecideLiveSettlesBaseDenialsWithoutATrip: calls the base policy
// denied are answered with their decision, in order among the others,
// without the sandbox (a policy with no sandbox at all answers them).
func TestDecideLiveSettlesBaseDenialsWithoutATrip(t *testing.T) {
	t.Parallel()
	tp := &TenantPolicy{AccountID: testAcct(), Version: 0}
	denied := []Decision{
		{Reasons: []string{"token lacks scope conversations:reply; mint a token with that scope"}, Rule: RuleDeny},
		{Reasons: []string{"conversation 12 not found"}, NotFound: true, Rule: RuleNotFound},
		{Reasons: []string{"tool get_conversation is switched off for this workspace"}, Rule: RuleSwitch},
	}
	var calls []LiveCall
	for _, d := range denied {
		calls = append(calls, LiveCall{Input: Input{Tool: "get_conversation"}, Decision: d})
	}
	got, err := tp.DecideLive(context.Background(), calls, 0)
	if err != nil || len(got) != len(denied) {
		t.Fatalf("%d results, %v", len(got), err)
	}
	for i, r := range got {
		if r.Skipped || r.Err != nil || fmt.Sprint(r.Decision) != fmt.Sprint(denied[i]) {
			t.Errorf("result %d: %+v, want %+v", i, r, denied[i])
		}
	}
}
