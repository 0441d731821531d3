package tenantpolicy

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/sandbox"
	"github.com/deskwoot/deskwoot/tenancy"
)

// replayer is one replay under way: it reads the account's recorded
// decisions a page at a time, oldest first, and re-decides them with the
// candidate in trips to the account's sandbox. It can be stopped at any
// point (a budget ran out) and run again from where it stopped, on
// another goroutine (Replays), but never on two at once.
type replayer struct {
	db     *tenancy.DB
	acct   int64
	rules  *policy.TenantPolicy
	filter audit.DecisionFilter // the next page to read

	queue     []recorded // read, not yet re-decided
	exhausted bool       // every row of the window has been read
	// oneByOne is how many of the queue's first decisions go to the
	// sandbox one per trip: a trip of many that ran over or killed its
	// child is sent again this way, so that the decision to blame fails
	// alone (as the fail-closed denial a live call would get) and the
	// others are replayed.
	oneByOne int

	out Replay
}

// recorded is one recorded decision to replay.
type recorded struct {
	auditID      int64
	tool, before string
	input        json.RawMessage
}

// startReplay counts the decisions to replay (at most MaxReplay).
func startReplay(ctx context.Context, db *tenancy.DB, e *policy.Engine, acct int64, tr policy.TenantRules, since time.Time) (*replayer, error) {
	r := &replayer{db: db, acct: acct, rules: e.PrepareTenant(acct, 0, tr),
		filter: audit.DecisionFilter{Since: since, Path: policy.PathDecision, Limit: replayPage},
		out:    Replay{Since: since.UTC(), Status: ReplayRunning, Flips: []Flip{}}}
	n, err := audit.DecisionCount(ctx, db, acct, r.filter, MaxReplay+1)
	if err != nil {
		return nil, err
	}
	r.out.Total, r.out.Truncated = min(n, MaxReplay), n > MaxReplay
	return r, nil
}

// Sizes of the replay's steps.
const (
	// replayPage is how many recorded decisions one read takes.
	replayPage = 1000
	// replayChunk is the most decisions sent in one trip to the sandbox,
	// and replayTrip how long one trip may go on starting new ones: short
	// trips let the account's live calls, which share its one sandbox
	// child, in between.
	replayChunk = 200
	replayTrip  = 250 * time.Millisecond
)

// run replays until the end of the window, until the time until (zero:
// no time limit) or until limit decisions in all have been gone through,
// whichever comes first, and says whether the whole window (up to
// MaxReplay) has been replayed.
func (r *replayer) run(ctx context.Context, until time.Time, limit int) (finished bool, err error) {
	limit = min(limit, r.out.Total)
	for r.out.Done < limit && !r.windowDone() {
		if !until.IsZero() && !time.Now().Before(until) {
			break
		}
		if len(r.queue) == 0 {
			err = r.read(ctx)
		} else {
			err = r.trip(ctx, until, limit)
		}
		if err != nil {
			return false, err
		}
	}
	return r.out.Done >= r.out.Total || r.windowDone(), nil
}

// windowDone says whether every recorded decision read has been replayed
// and none is left to read (the window held fewer than counted at the
// start: rows past their retention went).
func (r *replayer) windowDone() bool { return r.exhausted && len(r.queue) == 0 }

// read takes the next page of recorded decisions. A row whose input cannot
// be read (an explanation from before inputs were kept) counts as gone
// through, not as re-decided.
func (r *replayer) read(ctx context.Context) error {
	rows, err := audit.DecisionList(ctx, r.db, r.acct, r.filter)
	if err != nil {
		return err
	}
	for _, row := range rows {
		var x policy.Explanation
		if json.Unmarshal(row.Explanation, &x) != nil || len(x.Input) == 0 {
			r.out.Done++
			continue
		}
		r.queue = append(r.queue, recorded{auditID: row.ID, tool: row.Action, before: x.Result.Outcome(), input: x.Input})
	}
	if len(rows) < r.filter.Limit {
		r.exhausted = true
	} else {
		r.filter.AfterID = rows[len(rows)-1].ID
	}
	return nil
}

// trip sends the queue's next decisions to the sandbox and records what
// came back; the sandbox may answer fewer than were sent (its budget ran
// out), and the rest stay queued. A sandbox busy with the account's live
// calls leaves the queue as it was, to be tried again.
func (r *replayer) trip(ctx context.Context, until time.Time, limit int) error {
	n, budget := min(len(r.queue), replayChunk, limit-r.out.Done), replayTrip
	if r.oneByOne > 0 {
		n, budget = 1, 0 // the first decision always starts
	}
	if !until.IsZero() {
		budget = min(budget, max(0, time.Until(until)))
	}
	chunk := r.queue[:n]
	inputs := make([][]byte, n)
	for i, c := range chunk {
		inputs[i] = c.input
	}
	results, err := r.rules.DecideMany(ctx, inputs, budget)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, sandbox.ErrBusy):
		return nil
	case err != nil && n > 1:
		r.oneByOne = n
		return nil
	case err != nil:
		results = []policy.DecideResult{{Decision: policy.FailedDecision(0, err)}}
	}
	for i, res := range results {
		r.note(chunk[i], res)
	}
	r.queue = r.queue[len(results):]
	r.oneByOne = max(0, r.oneByOne-len(results))
	return nil
}

// note records one re-decided decision, and its flip if it has one.
func (r *replayer) note(c recorded, res policy.DecideResult) {
	r.out.Done++
	if res.Skipped {
		return
	}
	r.out.Decisions++
	d := res.Decision
	after := d.Outcome()
	if c.before == after {
		return
	}
	r.out.Flipped++
	if len(r.out.Flips) == MaxListedFlips {
		return
	}
	fl := Flip{AuditID: c.auditID, Tool: c.tool, Before: c.before, After: after}
	if !d.Allow {
		fl.Reasons = d.Reasons
	}
	r.out.Flips = append(r.out.Flips, fl)
}

// snapshot is the replay as it stands, safe to keep while it goes on.
func (r *replayer) snapshot() Replay {
	out := r.out
	out.Flips = append([]Flip{}, r.out.Flips...)
	return out
}
