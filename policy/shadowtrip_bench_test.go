package policy

import (
	"context"
	"encoding/json"
	"syscall"
	"testing"
	"time"
)

// processCPU is this process's user and system time so far: on a shared
// machine, what a benchmark costs the CPUs, which its wall time is not.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkShadowTrip measures what a sandbox child spends on one trip
// of a rule in shadow: 32 recorded get_conversation calls, each decided
// by a candidate that denies every one of them (the shadow's worst case).
func BenchmarkShadowTrip(b *testing.B) {
	ctx := context.Background()
	e, err := New(ctx)
	if err != nil {
		b.Fatal(err)
	}
	src := "package deskwoot.tenant\n\ndeny contains \"not while we try this\" if {\n\tinput.tool == \"get_conversation\"\n}\n"
	w := &sandboxWorker{e: e, compiled: map[string]*compiledTenant{}}
	now := time.Now()
	trial := now.Add(72 * time.Hour)
	in := Input{
		Principal: Principal{AccountID: 1, TokenID: 7, Scopes: []string{"conversations:read", "conversations:reply", "conversations:note"}, InboxIDs: nil},
		Account:   Account{Plan: "business", Status: "trialing", TrialEndsAt: &trial, MCPEnabled: true, DisabledTools: []string{}},
		Tool:      "get_conversation",
		Args:      map[string]any{"conversation_id": 12, "messages_limit": 20},
		Target:    Target{Kind: "conversation", ConversationID: 12, InboxID: 4},
		Now:       now,
	}
	raw, _ := json.Marshal(in)
	inputs := make([][]byte, 32)
	for i := range inputs {
		inputs[i] = raw
	}
	allowed := make([]bool, len(inputs))
	for i := range allowed {
		allowed[i] = true
	}
	for _, c := range []struct {
		name    string
		allowed []bool
	}{{"whole_decision", nil}, {"account_decision", allowed}} {
		req := sandboxRequest{Op: opDecide, Hash: "h", Rules: TenantRules{Rego: src}, Inputs: inputs, Allowed: c.allowed, Budget: time.Second}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				a := w.decide(ctx, req)
				if len(a.Results) != 32 || a.Results[0].Decision.Allow || a.Results[0].Decision.Rule != RuleAccountRule {
					b.Fatalf("answer %+v", a.Results[0])
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*32), "µs/call")
			b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N*32), "cpu-µs/call")
		})
	}
}
