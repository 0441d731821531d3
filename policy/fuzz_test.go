package policy

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/deskwoot/deskwoot/fault"
)

// FuzzDecide feeds arbitrary decision inputs to the real policy. No input
// may make it fail (a failure would deny with "internal" reasons) or
// panic, and no input may be allowed unless the token holds the scope the
// catalog names for the tool and the account gate is open.
func FuzzDecide(f *testing.F) {
	e := testEngine(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		var in Input
		if json.Unmarshal(raw, &in) != nil {
			return
		}
		d, err := e.Decide(context.Background(), in)
		if err != nil {
			t.Fatalf("Decide(%s): %v", raw, err)
		}
		if !d.Allow {
			return
		}
		tool, ok := e.Catalog()[in.Tool]
		if !ok || !slices.Contains(in.Principal.Scopes, tool.Scope) || !in.Account.MCPEnabled {
			t.Fatalf("allowed %q for %s without its scope %q or an open gate", in.Tool, raw, tool.Scope)
		}
	})
}

// FuzzTenantRules feeds arbitrary account modules and tests through
// everything an admin can make the server do with them: check, tests, and
// decisions with the module in force. The process never dies (the seed
// corpus, testdata/fuzz/FuzzTenantRules, holds the payloads that crashed,
// stalled or flooded it: bits.lsh of 2^63-1, 1 / 0, 20,000 reasons, a
// step of 2^34 leaves, a type checker chewing for minutes, deep
// comprehensions), a refusal is a RuleError (or a busy sandbox), no
// decision allows what the base policy denies, every decision's reasons
// are capped, and a failure of the rules says so in plain words.
func FuzzTenantRules(f *testing.F) {
	e := testEngine(f)
	f.Add("package deskwoot.tenant\n\ndeny contains \"no replies in 9\" if {\n\tinput.tool == \"reply_to_conversation\"\n\tinput.target.inbox_id == 9\n}\n", okTests)
	allowed := Input{Principal: Principal{AccountID: 1, TokenID: 7, Scopes: []string{"conversations:read", "conversations:reply"}},
		Account: activeEnterprise(), Tool: "reply_to_conversation", Args: map[string]any{"conversation_id": 12, "content": "hi"},
		Target: Target{Kind: "conversation", ConversationID: 12, InboxID: 9}, Now: testNow}
	denied := allowed
	denied.Principal.Scopes = []string{"conversations:read"}
	listing := listInboxes()
	f.Fuzz(func(t *testing.T, regoSrc, tests string) {
		ctx := context.Background()
		acct := testAcct()
		tr, err := e.ParseTenantRules(ctx, acct, regoSrc, tests)
		if err == nil {
			var rep TestReport
			if rep, err = e.RunTenantTests(ctx, acct, tr); err == nil && rep.Passed+rep.Failed+len(rep.Results) == 0 {
				t.Fatalf("tests ran but report nothing: %+v", rep)
			}
		}
		if err != nil {
			var re *RuleError
			if !errors.As(err, &re) && fault.KindOf(err) != fault.Unavailable {
				t.Fatalf("refused with %T %v, want a RuleError", err, err)
			}
			if !strings.Contains(regoSrc+tests, "goroutine") { // a refusal may quote the module
				plain(t, err.Error(), "goroutine ", "runtime error")
			}
		}
		tp := e.PrepareTenant(acct, 1, TenantRules{Rego: regoSrc})
		for _, in := range []Input{allowed, denied, listing} {
			base, _ := e.Decide(ctx, in)
			d, err := tp.Decide(ctx, in)
			if d.Allow && (!base.Allow || err != nil) {
				t.Fatalf("%s: allowed (%v) where the base policy says %+v", in.Tool, err, base)
			}
			if len(d.Reasons) > MaxReasons {
				t.Fatalf("%d reasons", len(d.Reasons))
			}
			for _, r := range d.Reasons {
				if utf8.RuneCountInString(r) > MaxReasonChars {
					t.Fatalf("a reason of %d characters", utf8.RuneCountInString(r))
				}
			}
			if d.Rule == RuleTenantFailed {
				plain(t, strings.Join(d.Reasons, "; "), "goroutine ", "runtime error", "panic:", ".go:", "0x")
			}
		}
	})
}

// plain fails the test when text shows any of Go's internals.
func plain(t *testing.T, text string, internals ...string) {
	t.Helper()
	for _, internal := range internals {
		if strings.Contains(text, internal) {
			t.Fatalf("%q shows internals (%q)", text, internal)
		}
	}
}
