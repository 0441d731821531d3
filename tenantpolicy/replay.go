package tenantpolicy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/sandbox"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Replay re-decides the account's recorded tool decisions with a
// candidate, in its sandbox, and lists every decision whose outcome would
// change. A replay has a budget: a submission answers after at most
// InlineReplay decisions or InlineReplayTime, whichever comes first; what
// is left goes on in the background (Replays), at most MaxReplay decisions
// and BackgroundReplayTime in all, its progress kept with the candidate.
// Replaying used to allow 200,000 decisions inline: a rule that spends its
// whole second on one tool made a submission take 10.5 s for 88 decisions.
const (
	// InlineReplay and InlineReplayTime bound the replay before a
	// submission answers.
	InlineReplay     = 5000
	InlineReplayTime = 2 * time.Second
	// MaxReplay bounds the decisions one replay re-decides in all; an
	// account with more in its window is replayed oldest first and the
	// replay says it was truncated.
	MaxReplay = 50000
	// BackgroundReplayTime bounds a replay's time in the background.
	BackgroundReplayTime = 2 * time.Minute
	// MaxListedFlips bounds the flips a replay lists (Flipped counts all).
	MaxListedFlips = 1000
)

// The states of a replay.
const (
	ReplayRunning     = "running"     // going on in the background
	ReplayDone        = "done"        // every decision of the window (up to MaxReplay) replayed
	ReplayStopped     = "stopped"     // BackgroundReplayTime ran out first: partial
	ReplayCanceled    = "canceled"    // a newer candidate of the account, or the server's stop, ended it: partial
	ReplayFailed      = "failed"      // it could not go on (the database, a crash): partial
	ReplayInterrupted = "interrupted" // its replica stopped while it ran: partial
)

// Replay is what a candidate would have changed.
type Replay struct {
	Since time.Time `json:"since"`
	// Status is one of running, done, stopped, canceled, failed,
	// interrupted.
	Status string `json:"status"`
	// Done is how many recorded decisions have been gone through, of Total
	// (the decisions in the window, at most MaxReplay).
	Done  int `json:"done"`
	Total int `json:"total"`
	// Decisions is how many were re-decided (Done less any whose record
	// cannot be read).
	Decisions int `json:"decisions"`
	// Flipped counts the decisions whose outcome would change; Flips lists
	// the first MaxListedFlips of them.
	Flipped int    `json:"flipped"`
	Flips   []Flip `json:"flips"`
	// Truncated is true when the account had more decisions in the window
	// than one replay takes (MaxReplay); the newest were left out.
	Truncated bool `json:"truncated,omitempty"`
}

// Flip is one recorded decision whose outcome (allow, draft, deny) the
// candidate would change.
type Flip struct {
	AuditID int64    `json:"audit_id"`
	Tool    string   `json:"tool"`
	Before  string   `json:"before"`
	After   string   `json:"after"`
	Reasons []string `json:"reasons,omitempty"` // the new decision's reasons
}

// ReplayCandidate replays a candidate against the account's decisions
// since the given time, to the end (at most MaxReplay), without a time
// budget: for `deskwoot policy replay`, where an operator waits for it.
// Rules that read the text of arguments cannot be replayed faithfully: the
// stored input keeps only their type and size.
func ReplayCandidate(ctx context.Context, db *tenancy.DB, e *policy.Engine, acct int64, tr policy.TenantRules, since time.Time) (Replay, error) {
	r, err := startReplay(ctx, db, e, acct, tr, since)
	if err != nil {
		return Replay{}, err
	}
	if _, err := r.run(ctx, time.Time{}, MaxReplay); err != nil {
		return r.out, err
	}
	r.out.Status = ReplayDone
	return r.out, nil
}

// replay is one replay under way.
type replay struct {
	db        *tenancy.DB
	acct      int64
	tp        *policy.TenantPolicy
	filter    audit.DecisionFilter
	queue     []recorded // read, not yet re-decided
	exhausted bool       // every row of the window has been read
	single    bool       // the last trip failed: send one decision at a time for now
	out       Replay
}

// recorded is one recorded decision to replay.
type recorded struct {
	id           int64
	tool, before string
	input        json.RawMessage
}

// startReplay counts the decisions to replay.
func startReplay(ctx context.Context, db *tenancy.DB, e *policy.Engine, acct int64, tr policy.TenantRules, since time.Time) (*replay, error) {
	r := &replay{db: db, acct: acct, tp: e.PrepareTenant(acct, 0, tr),
		filter: audit.DecisionFilter{Since: since, Path: policy.PathDecision, Limit: 1000},
		out:    Replay{Since: since.UTC(), Status: ReplayRunning, Flips: []Flip{}}}
	n, err := audit.DecisionCount(ctx, db, acct, r.filter, MaxReplay+1)
	if err != nil {
		return nil, err
	}
	r.out.Total, r.out.Truncated = min(n, MaxReplay), n > MaxReplay
	return r, nil
}

// replayTrip is how long one trip to the sandbox may start new decisions,
// and replayChunk the most decisions sent in one trip.
const (
	replayTrip  = 250 * time.Millisecond
	replayChunk = 200
)

// run replays until the end of the window, until the time until (zero:
// none) or until limit decisions in all have been gone through, and says
// whether the end was reached. The replay can be run again from where it
// stopped.
func (r *replay) run(ctx context.Context, until time.Time, limit int) (finished bool, err error) {
	limit = min(limit, r.out.Total)
	for r.out.Done < limit {
		if !until.IsZero() && !time.Now().Before(until) {
			return false, nil
		}
		if len(r.queue) == 0 {
			if r.exhausted {
				break
			}
			if err := r.read(ctx); err != nil {
				return false, err
			}
			continue
		}
		if err := r.trip(ctx, until, limit); err != nil {
			return false, err
		}
	}
	return true, nil
}

// read takes the next page of recorded decisions.
func (r *replay) read(ctx context.Context) error {
	rows, err := audit.DecisionList(ctx, r.db, r.acct, r.filter)
	if err != nil {
		return err
	}
	for _, row := range rows {
		var x policy.Explanation
		if json.Unmarshal(row.Explanation, &x) != nil || len(x.Input) == 0 {
			r.out.Done++ // unreadable: gone through, not re-decided
			continue
		}
		r.queue = append(r.queue, recorded{id: row.ID, tool: row.Action, before: x.Result.Outcome(), input: x.Input})
	}
	if len(rows) < r.filter.Limit {
		r.exhausted = true
	} else {
		r.filter.AfterID = rows[len(rows)-1].ID
	}
	return nil
}

// trip sends one chunk of the queue to the sandbox and records what came
// back. A trip whose child ran over or died is sent again one decision at a
// time; a single decision that fails so is the fail-closed denial the
// account's calls would get. A sandbox busy with the account's live calls
// is tried again.
func (r *replay) trip(ctx context.Context, until time.Time, limit int) error {
	n := min(len(r.queue), replayChunk, limit-r.out.Done)
	budget := replayTrip
	if r.single {
		n, budget = 1, 0
	}
	if !until.IsZero() {
		budget = min(budget, max(0, time.Until(until)))
	}
	chunk := r.queue[:n]
	inputs := make([][]byte, n)
	for i, c := range chunk {
		inputs[i] = c.input
	}
	rs, err := r.tp.DecideMany(ctx, inputs, budget)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, sandbox.ErrBusy):
		return nil
	case err != nil && n > 1:
		r.single = true
		return nil
	case err != nil:
		rs = []policy.DecideResult{{Decision: policy.FailedDecision(0, err)}}
	}
	r.single = false
	for i, res := range rs {
		r.out.Done++
		if res.Skipped {
			continue
		}
		r.out.Decisions++
		c, d := chunk[i], res.Decision
		if after := d.Outcome(); c.before != after {
			r.out.Flipped++
			if len(r.out.Flips) < MaxListedFlips {
				fl := Flip{AuditID: c.id, Tool: c.tool, Before: c.before, After: after}
				if !d.Allow {
					fl.Reasons = d.Reasons
				}
				r.out.Flips = append(r.out.Flips, fl)
			}
		}
	}
	r.queue = r.queue[len(rs):]
	return nil
}

// snapshot is the replay as it stands, safe to keep while it goes on.
func (r *replay) snapshot() Replay {
	out := r.out
	out.Flips = append([]Flip{}, r.out.Flips...)
	return out
}

// Replays runs candidates' replays past their inline budget in the
// background on this replica: at most maxBackgroundReplays at once, one
// per account (a newer candidate's replay cancels the account's older
// one), each bounded by BackgroundReplayTime and MaxReplay, its progress
// saved with the candidate about every second. A panic ends the replay as
// failed, never the process. Close cancels them all.
type Replays struct {
	db    *tenancy.DB
	base  context.Context
	stop  context.CancelFunc
	slots chan struct{}
	wg    sync.WaitGroup

	mu     sync.Mutex
	byAcct map[int64]running // the background replay of each account
}

// running is one background replay: its candidate, and how to end it.
type running struct {
	id     int64
	cancel context.CancelFunc
}

// maxBackgroundReplays bounds the replays running at once on a replica.
const maxBackgroundReplays = 4

// replaySaveEvery is how often a background replay saves its progress.
const replaySaveEvery = time.Second

// NewReplays makes the background replays of one replica.
func NewReplays(db *tenancy.DB) *Replays {
	base, stop := context.WithCancel(context.Background())
	return &Replays{db: db, base: base, stop: stop, slots: make(chan struct{}, maxBackgroundReplays), byAcct: map[int64]running{}}
}

// Close cancels every background replay and waits until each has saved
// where it stopped.
func (rs *Replays) Close() {
	rs.stop()
	rs.wg.Wait()
}

// cancel ends the account's background replay, if one runs (a newer
// submission of the account replaces it).
func (rs *Replays) cancel(acct int64) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if old, ok := rs.byAcct[acct]; ok {
		old.cancel()
		delete(rs.byAcct, acct)
	}
}

// goOn runs the rest of the candidate's replay in the background.
func (rs *Replays) goOn(acct, id int64, r *replay) {
	ctx, cancel := context.WithTimeout(rs.base, BackgroundReplayTime)
	rs.mu.Lock()
	if old, ok := rs.byAcct[acct]; ok {
		old.cancel()
	}
	rs.byAcct[acct] = running{id: id, cancel: cancel}
	rs.mu.Unlock()
	rs.wg.Add(1)
	go func() {
		defer rs.wg.Done()
		defer cancel()
		status := ReplayFailed
		defer func() {
			if p := recover(); p != nil {
				slog.Error("background replay panicked", "account", acct, "candidate", id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				status = ReplayFailed
			}
			r.out.Status = status
			save, done := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer done()
			if err := rs.db.TenantRulesReplaySave(save, acct, id, r.out); err != nil {
				slog.Error("background replay: save", "account", acct, "candidate", id, "err", err)
			}
			rs.mu.Lock()
			if rs.byAcct[acct].id == id {
				delete(rs.byAcct, acct)
			}
			rs.mu.Unlock()
		}()
		select {
		case rs.slots <- struct{}{}:
			defer func() { <-rs.slots }()
		case <-ctx.Done():
			status = endStatus(ctx)
			return
		}
		status = rs.run(ctx, acct, id, r)
	}()
}

// run replays to the end, saving progress as it goes, and returns the
// final status.
func (rs *Replays) run(ctx context.Context, acct, id int64, r *replay) string {
	for {
		finished, err := r.run(ctx, time.Now().Add(replaySaveEvery), MaxReplay)
		switch {
		case finished:
			return ReplayDone
		case ctx.Err() != nil:
			return endStatus(ctx)
		case err != nil:
			slog.Error("background replay", "account", acct, "candidate", id, "err", err)
			return ReplayFailed
		}
		if err := rs.db.TenantRulesReplaySave(ctx, acct, id, r.out); err != nil && ctx.Err() == nil {
			slog.Error("background replay: save progress", "account", acct, "candidate", id, "err", err)
		}
	}
}

// endStatus says why a background replay's context ended.
func endStatus(ctx context.Context) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ReplayStopped
	}
	return ReplayCanceled
}

// replayStale is how long a running replay may go without saving progress
// before a reader takes its replica for stopped.
const replayStale = 30 * time.Second

// storedReplay reads a candidate's stored replay as a reader sees it now.
func storedReplay(raw json.RawMessage, at *time.Time, now time.Time) Replay {
	var r Replay
	if len(raw) == 0 || json.Unmarshal(raw, &r) != nil {
		return Replay{Status: ReplayDone, Flips: []Flip{}}
	}
	if r.Flips == nil {
		r.Flips = []Flip{}
	}
	if r.Status == ReplayRunning && (at == nil || now.Sub(*at) > replayStale) {
		r.Status = ReplayInterrupted
	}
	return r
}

// replaySummary is the replay's figures in words, for the audit row.
func replaySummary(r Replay) string {
	s := fmt.Sprintf("replay: %d decisions, %d would flip", r.Decisions, r.Flipped)
	if r.Status == ReplayRunning {
		s = "replay: running in the background, " + strconv.Itoa(r.Done) + " of " + strconv.Itoa(r.Total) + " so far, " + strconv.Itoa(r.Flipped) + " would flip"
	}
	return s
}
