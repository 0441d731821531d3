package tenantpolicy

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/tenancy"
)

// A replay re-decides the account's recorded tool decisions with a
// candidate, in the account's sandbox (replayer.go), and lists every
// decision whose outcome would change. It has a budget: a submission
// answers after at most InlineReplay decisions or InlineReplayTime,
// whichever comes first; what is left goes on in the background
// (background.go), at most MaxReplay decisions and BackgroundReplayTime in
// all, its progress kept with the candidate. Replaying used to allow
// 200,000 decisions inline: a rule that spends its whole second on one
// tool made a submission take 10.5 s for 88 decisions.
const (
	// InlineReplay and InlineReplayTime bound the replay before a
	// submission answers (Service.Inline may set others).
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
	if r.Status == ReplayRunning {
		return fmt.Sprintf("replay: running in the background, %d of %d so far, %d would flip", r.Done, r.Total, r.Flipped)
	}
	return fmt.Sprintf("replay: %d decisions, %d would flip", r.Decisions, r.Flipped)
}

// ReplayBudget bounds the part of a replay a submission waits for.
type ReplayBudget struct {
	Decisions int
	Time      time.Duration
}

// withDefaults fills what is unset with InlineReplay and InlineReplayTime.
func (b ReplayBudget) withDefaults() ReplayBudget {
	if b.Decisions <= 0 {
		b.Decisions = InlineReplay
	}
	if b.Time <= 0 {
		b.Time = InlineReplayTime
	}
	return b
}
