package tenantpolicy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/deskwoot/deskwoot/tenancy"
)

// Replays runs candidates' replays past their inline budget in the
// background on this replica: at most maxBackgroundReplays at once, one
// per account (a newer candidate's replay cancels the account's older
// one), each bounded by BackgroundReplayTime and MaxReplay, its progress
// saved with the candidate about every second, so that GET on any replica
// shows it. A panic ends the replay as failed, never the process. Close
// cancels them all.
type Replays struct {
	db    *tenancy.DB
	base  context.Context // canceled by Close
	stop  context.CancelFunc
	slots chan struct{} // one per replay running at once
	wg    sync.WaitGroup

	mu     sync.Mutex
	byAcct map[int64]running // the background replay of each account
}

// running is one background replay: its candidate, and how to end it.
type running struct {
	candidate int64
	cancel    context.CancelFunc
}

// maxBackgroundReplays bounds the replays running at once on a replica:
// each holds its account's sandbox child for trips of replayTrip.
const maxBackgroundReplays = 4

// replaySaveEvery is how often a background replay saves its progress (a
// replay waiting for its turn too, so that readers do not take it for
// interrupted: replayStale).
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
func (rs *Replays) goOn(acct, candidate int64, r *replayer) {
	ctx, cancel := context.WithTimeout(rs.base, BackgroundReplayTime)
	rs.mu.Lock()
	if old, ok := rs.byAcct[acct]; ok {
		old.cancel()
	}
	rs.byAcct[acct] = running{candidate: candidate, cancel: cancel}
	rs.mu.Unlock()
	rs.wg.Add(1)
	go func() {
		defer rs.wg.Done()
		defer cancel()
		status := ReplayFailed // unless it ends otherwise (a panic)
		defer func() { rs.finish(ctx, acct, candidate, r, status, recover()) }()
		if !rs.waitForSlot(ctx, acct, candidate, r) {
			status = endStatus(ctx)
			return
		}
		defer func() { <-rs.slots }()
		status = rs.run(ctx, acct, candidate, r)
	}()
}

// finish saves how the replay ended, with status (failed after a panic,
// whose value is p) and lets the account run another.
func (rs *Replays) finish(ctx context.Context, acct, candidate int64, r *replayer, status string, p any) {
	if p != nil {
		slog.Error("background replay panicked", "account", acct, "candidate", candidate, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		status = ReplayFailed
	}
	r.out.Status = status
	// The replay's own context may be over (canceled, out of time); the
	// save still gets its moment.
	save, done := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer done()
	if err := TenantRulesReplaySave(save, rs.db, acct, candidate, r.out); err != nil {
		slog.Error("background replay: save", "account", acct, "candidate", candidate, "err", err)
	}
	rs.mu.Lock()
	if rs.byAcct[acct].candidate == candidate {
		delete(rs.byAcct, acct)
	}
	rs.mu.Unlock()
}

// waitForSlot waits for one of the replica's replay slots, saving the
// replay as it stands every replaySaveEvery (its heartbeat), and says
// whether it got one before ctx ended.
func (rs *Replays) waitForSlot(ctx context.Context, acct, candidate int64, r *replayer) bool {
	tick := time.NewTicker(replaySaveEvery)
	defer tick.Stop()
	for {
		select {
		case rs.slots <- struct{}{}:
			return true
		case <-ctx.Done():
			return false
		case <-tick.C:
			rs.save(ctx, acct, candidate, r)
		}
	}
}

// run replays to the end, saving progress as it goes, and returns the
// final status.
func (rs *Replays) run(ctx context.Context, acct, candidate int64, r *replayer) string {
	for {
		finished, err := r.run(ctx, time.Now().Add(replaySaveEvery), MaxReplay)
		switch {
		case finished:
			return ReplayDone
		case ctx.Err() != nil:
			return endStatus(ctx)
		case err != nil:
			slog.Error("background replay", "account", acct, "candidate", candidate, "err", err)
			return ReplayFailed
		}
		rs.save(ctx, acct, candidate, r)
	}
}

// save records the replay's progress (a failed save is logged: the next
// one, a second later, may succeed).
func (rs *Replays) save(ctx context.Context, acct, candidate int64, r *replayer) {
	if err := TenantRulesReplaySave(ctx, rs.db, acct, candidate, r.out); err != nil && ctx.Err() == nil {
		slog.Error("background replay: save progress", "account", acct, "candidate", candidate, "err", err)
	}
}

// endStatus says why a background replay's context ended.
func endStatus(ctx context.Context) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ReplayStopped
	}
	return ReplayCanceled
}
