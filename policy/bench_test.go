package policy

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// BenchmarkDecision measures one allowed tool decision for an
// inbox-restricted token replying in one of its inboxes: the common path.
func BenchmarkDecision(b *testing.B) {
	ctx := context.Background()
	e, err := New(ctx)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	trial := now.Add(72 * time.Hour)
	in := Input{
		Principal: Principal{AccountID: 1, TokenID: 7, Scopes: []string{"conversations:read", "conversations:reply", "conversations:note"}, InboxIDs: []int64{3, 4}},
		Account:   Account{Plan: "business", Status: "trialing", TrialEndsAt: &trial, MCPEnabled: true},
		Tool:      "reply_to_conversation",
		Args:      map[string]any{"conversation_id": 12, "body": "Hello, thanks for writing in.", "idempotency_key": "k-1"},
		Target:    Target{Kind: "conversation", ConversationID: 12, InboxID: 4},
		Now:       now,
	}
	b.ReportAllocs()
	for b.Loop() {
		d, err := e.Decide(ctx, in)
		if err != nil || !d.Allow {
			b.Fatalf("decision %+v, %v", d, err)
		}
	}
}

// BenchmarkDecisionDenied measures a denial (reasons are worked out).
func BenchmarkDecisionDenied(b *testing.B) {
	ctx := context.Background()
	e, err := New(ctx)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	in := Input{
		Principal: Principal{AccountID: 1, TokenID: 7, Scopes: []string{"conversations:read"}, InboxIDs: []int64{3, 4}},
		Account:   Account{Plan: "enterprise", Status: "active", MCPEnabled: true},
		Tool:      "reply_to_conversation",
		Args:      map[string]any{"conversation_id": 12},
		Target:    Target{Kind: "conversation", ConversationID: 12, InboxID: 4},
		Now:       now,
	}
	b.ReportAllocs()
	for b.Loop() {
		d, err := e.Decide(ctx, in)
		if err != nil || d.Allow {
			b.Fatalf("decision %+v, %v", d, err)
		}
	}
}

// BenchmarkGate measures the account gate alone.
func BenchmarkGate(b *testing.B) {
	ctx := context.Background()
	e, err := New(ctx)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	acct := Account{Plan: "enterprise", Status: "active", MCPEnabled: true}
	b.ReportAllocs()
	for b.Loop() {
		g, err := e.Gate(ctx, acct, now)
		if err != nil || !g.Allow {
			b.Fatalf("gate %+v, %v", g, err)
		}
	}
}

// BenchmarkDecisionWithAccountRules measures, side by side in one run, the
// allowed reply decision with the base policy alone and with an account's
// rules version in force (two deny rules and a require_approval rule that
// do not fire), the path every call of such an account takes. Target: the
// second ≤ 1.3× the first.
func BenchmarkDecisionWithAccountRules(b *testing.B) {
	ctx := context.Background()
	e, err := New(ctx)
	if err != nil {
		b.Fatal(err)
	}
	src := `package deskwoot.tenant

deny contains "no agent replies in the VIP inbox" if {
	input.tool == "reply_to_conversation"
	input.target.inbox_id == 99
}

deny contains "contacts are read-only for agents" if {
	startswith(input.tool, "update_contact")
}

require_approval contains "outbound needs a human" if input.tool == "start_conversation"
`
	tp := e.AddTenant(testAcct(), 1, src)
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	in := Input{
		Principal: Principal{AccountID: 1, TokenID: 7, Scopes: []string{"conversations:read", "conversations:reply", "conversations:note"}, InboxIDs: []int64{3, 4}},
		Account:   Account{Plan: "enterprise", Status: "active", MCPEnabled: true},
		Tool:      "reply_to_conversation",
		Args:      map[string]any{"conversation_id": 12, "body": "Hello, thanks for writing in.", "idempotency_key": "k-1"},
		Target:    Target{Kind: "conversation", ConversationID: 12, InboxID: 4},
		Now:       now,
	}
	b.Run("base", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if d, err := e.Decide(ctx, in); err != nil || !d.Allow {
				b.Fatalf("decision %+v, %v", d, err)
			}
		}
	})
	b.Run("with_account_rules", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if d, err := tp.Decide(ctx, in); err != nil || !d.Allow {
				b.Fatalf("decision %+v, %v", d, err)
			}
		}
	})
}

// BenchmarkDecisionVsFloor measures, side by side in one run, OPA's fixed
// cost on this machine (a one-rule policy, same engine, the same input
// document already converted: what deskwoot bench calls the floor) and the
// tool decision for the same input, the way the MCP server asks it
// (get_conversation by an inbox-restricted token). DESIGN §16: decision ≤ 3×
// floor.
func BenchmarkDecisionVsFloor(b *testing.B) {
	ctx := context.Background()
	e, in, now, pq, v := floorSetup(b)
	b.Run("floor", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if rs, err := pq.Eval(ctx, rego.EvalParsedInput(v)); err != nil || !rs.Allowed() {
				b.Fatalf("floor %v, %v", rs, err)
			}
		}
	})
	// The floor again, with the cancel that Engine hands OPA instead of
	// the goroutine OPA otherwise starts per evaluation to watch a
	// cancellable context (the server's and deskwoot bench's contexts are).
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b.Run("floor_cancellable_ctx", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if rs, err := pq.Eval(cctx, rego.EvalParsedInput(v)); err != nil || !rs.Allowed() {
				b.Fatalf("floor %v, %v", rs, err)
			}
		}
	})
	b.Run("floor_cancellable_ctx_external_cancel", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := topdown.NewCancel()
			stop := context.AfterFunc(cctx, c.Cancel)
			rs, err := pq.Eval(cctx, rego.EvalParsedInput(v), rego.EvalExternalCancel(c))
			stop()
			if err != nil || !rs.Allowed() {
				b.Fatalf("floor %v, %v", rs, err)
			}
		}
	})
	b.Run("decision_cancellable_ctx", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if d, err := e.Decide(cctx, in); err != nil || !d.Allow {
				b.Fatalf("decision %+v, %v", d, err)
			}
		}
	})
	b.Run("decision", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if d, err := e.Decide(ctx, in); err != nil || !d.Allow {
				b.Fatalf("decision %+v, %v", d, err)
			}
		}
	})
	b.Run("gate_rego", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if g, err := e.evalGate(ctx, in.Account, now); err != nil || !g.Allow {
				b.Fatalf("gate %+v, %v", g, err)
			}
		}
	})
	b.Run("gate_cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if g, err := e.Gate(ctx, in.Account, now); err != nil || !g.Allow {
				b.Fatalf("gate %+v, %v", g, err)
			}
		}
	})
	b.Run("explain", func(b *testing.B) {
		b.ReportAllocs()
		d := Decision{Allow: true, Reasons: []string{}, Rule: RuleAllow}
		for b.Loop() {
			_ = Explain(in, d, "digest", nil)
		}
	})
}

// floorSetup builds the engine, the get_conversation input of deskwoot
// bench, and the one-rule floor policy with that input already converted.
func floorSetup(b *testing.B) (*Engine, Input, time.Time, rego.PreparedEvalQuery, ast.Value) {
	ctx := context.Background()
	e, err := New(ctx)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	trial := now.Add(72 * time.Hour)
	in := Input{
		Principal: Principal{AccountID: 1, TokenID: 7, Scopes: []string{"conversations:read", "conversations:reply", "conversations:note"}, InboxIDs: []int64{3, 4}},
		Account:   Account{Plan: "enterprise", Status: "trialing", TrialEndsAt: &trial, MCPEnabled: true},
		Tool:      "get_conversation",
		Args:      map[string]any{"conversation_id": float64(12), "messages_limit": float64(20)},
		Target:    Target{Kind: "conversation", ConversationID: 12, InboxID: 4, ContactID: 9},
		Now:       now,
	}
	pq, err := rego.New(rego.Query("data.floor.allow"),
		rego.Module("floor.rego", "package floor\n\nallow if input.tool == \"get_conversation\"\n")).PrepareForEval(ctx)
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := json.Marshal(in)
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		b.Fatal(err)
	}
	v, err := ast.InterfaceToValue(doc)
	if err != nil {
		b.Fatal(err)
	}
	return e, in, now, pq, v
}

// BenchmarkDecisionRatio reports the decision's cost as a multiple of the
// floor (x_floor), measured in alternating rounds of a few hundred calls so
// that a busy machine slows both alike; the median round is reported. The
// context is cancellable, as the server's is. DESIGN §16: ≤ 3.
func BenchmarkDecisionRatio(b *testing.B) {
	e, in, _, pq, v := floorSetup(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	floor := func() {
		if rs, err := pq.Eval(ctx, rego.EvalParsedInput(v)); err != nil || !rs.Allowed() {
			b.Fatalf("floor %v, %v", rs, err)
		}
	}
	decide := func() {
		if d, err := e.Decide(ctx, in); err != nil || !d.Allow {
			b.Fatalf("decision %+v, %v", d, err)
		}
	}
	const n = 200
	timed := func(f func()) float64 {
		start := time.Now()
		for range n {
			f()
		}
		return float64(time.Since(start)) / n
	}
	var ratios []float64
	for b.Loop() {
		f1 := timed(floor)
		d := timed(decide)
		f2 := timed(floor)
		ratios = append(ratios, 2*d/(f1+f2))
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "x_floor")
	b.ReportMetric(0, "ns/op")
}
