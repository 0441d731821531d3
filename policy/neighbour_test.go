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
// same decisions are timed with the slow account paused, in alternating
// rounds of the same run (so that a machine whose load drifts weighs on
// both alike), and the ratio of the medians is reported (p50-ratio;
// target at most 1.2).
//
// Worst rules, each in a sub-benchmark:
//   - loop: a rule that loops until its deadline on every call (one CPU
//     of a sandbox child, the whole second, every second);
//   - one-step: a rule whose single evaluation step would run for hours
//     (two equal arrays of 2^34 shared leaves), killed with its child
//     0.5 s past the deadline (or at its memory limit) every call, so
//     that a child is started again each time as well.
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
	const rounds = 6
	for _, worst := range []struct{ name, rego string }{{"loop", slowRule}, {"one-step", sharedLeaves(34)}} {
		for _, n := range neighbours {
			b.Run(worst.name+"/"+n.name, func(b *testing.B) {
				if d, err := n.decide(); err != nil || !d.Allow { // warm: the neighbour's child has its module
					b.Fatalf("%+v %v", d, err)
				}
				h := startHog(e, worst.rego, 4)
				defer h.stop()
				per := max(b.N/rounds, 100)
				var alone, beside []time.Duration
				for range rounds {
					h.pause()
					alone = append(alone, timings(b, n.decide, per)...)
					h.resume()
					time.Sleep(1500 * time.Millisecond) // the slow account's calls under way
					beside = append(beside, timings(b, n.decide, per)...)
				}
				a, s := median(alone), median(beside)
				b.ReportMetric(float64(a.Microseconds()), "alone-p50-µs")
				b.ReportMetric(float64(s.Microseconds()), "beside-p50-µs")
				b.ReportMetric(float64(s)/float64(a), "p50-ratio")
			})
		}
	}
}

// hogger runs a slow rule for one account from several goroutines, back
// to back; paused, it lets its calls in flight finish first.
type hogger struct {
	mu       sync.Mutex
	paused   bool
	wake     *sync.Cond
	inFlight sync.WaitGroup
	cancel   context.CancelFunc
	done     sync.WaitGroup
}

func startHog(e *Engine, rego string, goroutines int) *hogger {
	tp := e.PrepareTenant(testAcct(), 1, TenantRules{Rego: rego})
	in := listInboxes()
	ctx, cancel := context.WithCancel(context.Background())
	h := &hogger{cancel: cancel}
	h.wake = sync.NewCond(&h.mu)
	for range goroutines {
		h.done.Go(func() {
			for ctx.Err() == nil {
				h.mu.Lock()
				for h.paused && ctx.Err() == nil {
					h.wake.Wait()
				}
				h.inFlight.Add(1)
				h.mu.Unlock()
				tp.Decide(ctx, in)
				h.inFlight.Done()
			}
		})
	}
	return h
}

func (h *hogger) pause() {
	h.mu.Lock()
	h.paused = true
	h.mu.Unlock()
	h.inFlight.Wait()
}

func (h *hogger) resume() {
	h.mu.Lock()
	h.paused = false
	h.mu.Unlock()
	h.wake.Broadcast()
}

func (h *hogger) stop() {
	h.cancel()
	h.resume()
	h.done.Wait()
}

// timings times n decisions.
func timings(b *testing.B, decide func() (Decision, error), n int) []time.Duration {
	took := make([]time.Duration, n)
	for i := range took {
		start := time.Now()
		if d, err := decide(); err != nil || !d.Allow {
			b.Fatalf("the neighbour's decision %+v, %v", d, err)
		}
		took[i] = time.Since(start)
	}
	return took
}

func median(d []time.Duration) time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	return d[len(d)/2]
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
	inProcess := median(timings(b, func() (Decision, error) {
		d, _, err := local.decide(ctx, e, 1, in, false)
		return d, err
	}, max(b.N, 200)))
	inSandbox := median(timings(b, func() (Decision, error) { return sandboxed.Decide(ctx, in) }, max(b.N, 200)))
	b.ReportMetric(float64(inProcess.Microseconds()), "in-process-p50-µs")
	b.ReportMetric(float64(inSandbox.Microseconds()), "sandbox-p50-µs")
}
