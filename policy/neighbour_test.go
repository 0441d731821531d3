package policy

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkNeighbourOfAWorstRule: one workspace cannot slow another. One
// account runs the slowest rule the bounds still permit, from several
// goroutines at once, while another account's decisions are timed; the
// same decisions are timed without the slow account in the same run, and
// the ratio of the medians is reported (p50-ratio; target at most 1.2).
//
// Worst rules, each in a sub-benchmark:
//   - loop: a rule that loops until its deadline on every call (one CPU
//     of a sandbox child, the whole second, every second);
//   - one-step: a rule whose single evaluation step would run for hours
//     (two equal arrays of 2^34 shared leaves), killed with its child
//     0.5 s past the deadline every call, so that the child is started
//     again each time as well.
//
// The neighbour's decisions: base (an account without rules of its own,
// decided in the server's process) and own-rules (an account with a
// small rule of its own, decided in its sandbox child).
func BenchmarkNeighbourOfAWorstRule(b *testing.B) {
	ctx := context.Background()
	e, err := New(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	neighbourRules := e.PrepareTenant(testAcct(), 1, TenantRules{Rego: "package deskwoot.tenant\n\ndeny contains \"no replies in 99\" if {\n\tinput.tool == \"reply_to_conversation\"\n\tinput.target.inbox_id == 99\n}\n"})
	in := Input{Principal: Principal{AccountID: 2, TokenID: 9, Scopes: []string{"conversations:read", "conversations:reply"}, InboxIDs: []int64{3, 4}},
		Account: activeEnterprise(), Tool: "reply_to_conversation", Args: map[string]any{"conversation_id": 12, "content": "Hello"},
		Target: Target{Kind: "conversation", ConversationID: 12, InboxID: 4}, Now: testNow}
	neighbours := []struct {
		name   string
		decide func() (Decision, error)
	}{
		{"base", func() (Decision, error) { return e.Decide(ctx, in) }},
		{"own-rules", func() (Decision, error) { return neighbourRules.Decide(ctx, in) }},
	}
	for _, worst := range []struct{ name, rego string }{{"loop", slowRule}, {"one-step", sharedLeaves(34)}} {
		for _, n := range neighbours {
			b.Run(worst.name+"/"+n.name, func(b *testing.B) {
				if d, err := n.decide(); err != nil || !d.Allow { // warm: the neighbour's child has its module
					b.Fatalf("%+v %v", d, err)
				}
				alone := medianOf(b, n.decide, b.N)
				stop := hog(e, worst.rego, 4)
				time.Sleep(2 * time.Second) // the slow account's calls under way
				beside := medianOf(b, n.decide, b.N)
				stop()
				b.ReportMetric(float64(alone.Microseconds()), "alone-p50-µs")
				b.ReportMetric(float64(beside.Microseconds()), "beside-p50-µs")
				b.ReportMetric(float64(beside)/float64(alone), "p50-ratio")
			})
		}
	}
}

// hog runs the slow rule for one account from several goroutines, back to
// back, until stop is called.
func hog(e *Engine, rego string, goroutines int) (stop func()) {
	tp := e.PrepareTenant(testAcct(), 1, TenantRules{Rego: rego})
	in := listInboxes()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for ctx.Err() == nil {
				tp.Decide(ctx, in)
			}
		})
	}
	return func() { cancel(); wg.Wait() }
}

// medianOf times n decisions (at least 200) and returns the median.
func medianOf(b *testing.B, decide func() (Decision, error), n int) time.Duration {
	n = max(n, 200)
	took := make([]time.Duration, n)
	for i := range took {
		start := time.Now()
		if d, err := decide(); err != nil || !d.Allow {
			b.Fatalf("the neighbour's decision %+v, %v", d, err)
		}
		took[i] = time.Since(start)
	}
	slices.Sort(took)
	return took[n/2]
}

// BenchmarkSandboxCost: what deciding in a sandbox child costs a call
// with account rules, against deciding with the same compiled module in
// the server's process (as before the sandbox), medians in one run.
func BenchmarkSandboxCost(b *testing.B) {
	ctx := context.Background()
	e, err := New(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	const rules = "package deskwoot.tenant\n\ndeny contains \"no replies in 99\" if {\n\tinput.tool == \"reply_to_conversation\"\n\tinput.target.inbox_id == 99\n}\n"
	in := Input{Principal: Principal{AccountID: 2, TokenID: 9, Scopes: []string{"conversations:read", "conversations:reply"}, InboxIDs: []int64{3, 4}},
		Account: activeEnterprise(), Tool: "reply_to_conversation", Args: map[string]any{"conversation_id": 12, "content": "Hello"},
		Target: Target{Kind: "conversation", ConversationID: 12, InboxID: 4}, Now: testNow}
	local := e.compileTenant(ctx, rules)
	sandboxed := e.PrepareTenant(testAcct(), 1, TenantRules{Rego: rules})
	sandboxed.Decide(ctx, in)
	inProcess := medianOf(b, func() (Decision, error) {
		d, _, err := local.decide(ctx, e, 1, in)
		return d, err
	}, b.N)
	inSandbox := medianOf(b, func() (Decision, error) { return sandboxed.Decide(ctx, in) }, b.N)
	b.ReportMetric(float64(inProcess.Microseconds()), "in-process-p50-µs")
	b.ReportMetric(float64(inSandbox.Microseconds()), "sandbox-p50-µs")
}
