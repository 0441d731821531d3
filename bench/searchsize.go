package bench

import (
	"context"
	"fmt"
	"time"
)

// searchAtSize measures search_conversations in the workspaces seeded for
// it (Scale.SearchSizes): the largest's p95 against the smallest's (its
// cost must not grow with the workspace, DESIGN §16), and against the same
// statement through pgx.
func (e *env) searchAtSize(ctx context.Context, warm, d time.Duration) []row {
	small := row{figure: "search_conversations p95 in a workspace of 1M messages vs one of 10k (same words, same share of matches)",
		baseName: "10k workspace", target: "≤ 2× (p95)"}
	big := row{figure: "search_conversations p95 in a workspace of 1M messages vs the same statement through pgx (as the app role, tenant set)",
		baseName: "same SQL", target: "≤ 50 ms (p95)"}
	if len(e.fx.Sized) < 2 {
		small.skipped, big.skipped = "needs --scale large", "needs --scale large"
		return []row{small, big}
	}
	lo, hi := e.fx.Sized[0], e.fx.Sized[len(e.fx.Sized)-1]
	small.figure = fmt.Sprintf("search_conversations p95 in a workspace of %s messages vs one of %s (same words, same share of matches)", count(int64(hi.Messages)), count(int64(lo.Messages)))
	big.figure = fmt.Sprintf("search_conversations p95 in a workspace of %s messages vs the same statement through pgx (as the app role, tenant set)", count(int64(hi.Messages)))
	search := func(ws SizedWorkspace) func(ctx context.Context, w, i int) error {
		return func(ctx context.Context, w, i int) error {
			_, err := e.cl.call(ctx, ws.Token, "search_conversations", map[string]any{"query": e.fx.SearchTerm, "limit": 25})
			return err
		}
	}
	fmt.Fprintf(e.cfg.Log, "measuring search_conversations at %s and %s messages…\n", count(int64(lo.Messages)), count(int64(hi.Messages)))
	small.base = run(ctx, 1, warm, d, search(lo))
	small.ours = run(ctx, 1, warm, d, search(hi))
	small.ratio = times(small.ours.p95, small.base.p95)
	big.ours = small.ours
	if e.bare == nil {
		big.skipped = "the same SQL needs --database-url"
		return []row{small, big}
	}
	big.base = run(ctx, 1, warm, d, func(ctx context.Context, w, i int) error {
		return sameSearch(ctx, e.bare, hi.AccountID, e.fx.SearchTerm)
	})
	big.ratio = fmt.Sprintf("%s (%s)", big.ours.p95.Round(100*time.Microsecond), times(big.ours.p95, big.base.p95))
	return []row{small, big}
}
