package policy

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

func BenchmarkScratch(b *testing.B) {
	ctx := context.Background()
	srcs, _ := readSources(os.DirFS("../rego"), false)
	extra := os.Getenv("SCRATCH_MODULE")
	if extra != "" {
		bs, _ := os.ReadFile(extra)
		srcs = append(srcs, source{name: "scratch.rego", text: string(bs)})
	}
	mods, err := parseModules(srcs)
	if err != nil {
		b.Fatal(err)
	}
	c := ast.NewCompiler()
	if c.Compile(mods); c.Failed() {
		b.Fatal(c.Errors)
	}
	pq, err := rego.New(rego.Query(os.Getenv("SCRATCH_QUERY")), rego.Compiler(c), rego.Store(inmem.New())).PrepareForEval(ctx, prepOpts()...)
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
	v, _ := in.value()
	rs, err := pq.Eval(ctx, rego.EvalParsedInput(v))
	b.Log(rs, err)
	noop := metrics.NoOp()
	for b.Loop() {
		pq.Eval(ctx, rego.EvalParsedInput(v), rego.EvalMetrics(noop))
	}
}

func prepOpts() []rego.PrepareOption {
	if os.Getenv("SCRATCH_PE") != "" {
		return []rego.PrepareOption{rego.WithPartialEval()}
	}
	return nil
}
