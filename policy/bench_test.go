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
