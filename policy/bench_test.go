package policy

import (
	"context"
	"testing"
	"time"
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
	tp := e.CompileTenant(ctx, 1, 1, src)
	if tp.err != nil {
		b.Fatal(tp.err)
	}
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
