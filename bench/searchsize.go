package bench

import (
	"context"
	"fmt"
	"time"
)

// searchAtSize measures search_conversations in the workspaces seeded for
// it (Scale.SearchSizes): the largest's p95 against the smallest's (its
// cost must not grow with the workspace, DESIGN §16), and against the same
// statement through pgx. The three are measured interleaved, call by call,
// so that they share the same moments of a shared machine.
func (e *env) searchAtSize(ctx context.Context, warm, d time.Duration) []row {
	small := row{figure: "search_conversations p95 in a workspace of 1M messages vs one of 10k (same words, same share of matches)",
		baseName: "10k workspace", target: "≤ 2× (p95)"}
	big := row{figure: "search_conversations p95 in a workspace of 1M messages vs the same statement through pgx (as the app role, tenant set)",
		baseName: "same SQL", target: "≤ 50 ms (p95)"}
	if len(e.fx.Sized) < 2 {
		small.skipped, big.skipped = "needs --scale large", "needs --scale large"
		return []row{small, big}
	}
	if e.bare == nil {
		small.skipped, big.skipped = "needs the database (no --url)", "needs the database (no --url)"
		return []row{small, big}
	}
	lo, hi := e.fx.Sized[0], e.fx.Sized[len(e.fx.Sized)-1]
	small.figure = fmt.Sprintf("search_conversations p95 in a workspace of %s messages vs one of %s (same words, same share of matches; interleaved)", count(int64(hi.Messages)), count(int64(lo.Messages)))
	big.figure = fmt.Sprintf("search_conversations p95 in a workspace of %s messages vs the same statement through pgx (as the app role, tenant set; interleaved)", count(int64(hi.Messages)))
	search := func(ws SizedWorkspace) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			_, err := e.cl.call(ctx, ws.Token, "search_conversations", map[string]any{"query": e.fx.SearchTerm, "limit": 25})
			return err
		}
	}
	fmt.Fprintf(e.cfg.Log, "measuring search_conversations at %s and %s messages…\n", count(int64(lo.Messages)), count(int64(hi.Messages)))
	s := interleaved(ctx, warm, d, search(lo), search(hi), func(ctx context.Context) error {
		return sameSearch(ctx, e.bare, hi.AccountID, e.fx.SearchTerm)
	})
	small.base, small.ours, big.base = s[0], s[1], s[2]
	small.ratio = times(small.ours.p95, small.base.p95)
	big.ours = small.ours
	big.ratio = fmt.Sprintf("%s (%s)", big.ours.p95.Round(100*time.Microsecond), times(big.ours.p95, big.base.p95))
	return []row{small, big}
}

// interleaved calls the ops in turn from one client, closed loop, for d
// after a warm-up, and returns each op's figures.
func interleaved(ctx context.Context, warm, d time.Duration, ops ...func(ctx context.Context) error) []stats {
	lat := make([][]time.Duration, len(ops))
	errs := make([]int, len(ops))
	first := make([]error, len(ops))
	measureFrom := time.Now().Add(warm)
	end := measureFrom.Add(d)
	for time.Now().Before(end) && ctx.Err() == nil {
		for i, op := range ops {
			t0 := time.Now()
			err := op(ctx)
			if t0.Before(measureFrom) {
				continue
			}
			if err != nil {
				errs[i]++
				if first[i] == nil {
					first[i] = err
				}
				continue
			}
			lat[i] = append(lat[i], time.Since(t0))
		}
	}
	elapsed := time.Since(measureFrom)
	out := make([]stats, len(ops))
	for i := range ops {
		out[i] = summarize(lat[i])
		out[i].perSec = float64(len(lat[i])) / elapsed.Seconds()
		out[i].errors, out[i].firstErr, out[i].elapsed = errs[i], first[i], elapsed
	}
	return out
}
