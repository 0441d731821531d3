package desk

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// EventHub wakes long-polls when events commit. Every replica listens on
// the deskwoot_events channel, so a commit on any replica wakes pollers on
// all of them.
type EventHub struct {
	cfg       *pgx.ConnConfig
	listening atomic.Bool
	connects  atomic.Int64

	mu       sync.Mutex
	waiters  map[int64]map[chan struct{}]struct{}
	ended    []func(accountID, userID int64)
	sessions []func(sessionID int64)
}

// accessEndedChannel carries "account:user" when a person's access to a
// workspace ends (deactivated or removed), or "0:user" when every session
// of theirs ends (a password reset): every replica ends that person's open
// streams at once, not at their next re-check.
const accessEndedChannel = "deskwoot_access_ended"

// accessEnded queues, in tx, the notification that ends a person's open
// streams in an account (0: in every one) on every replica once tx
// commits. Ending their access to an account also wakes its long-polls,
// so that those on the person's tokens re-check them.
func accessEnded(ctx context.Context, tx pgx.Tx, accountID, userID int64) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2::bigint::text || ':' || $3::bigint::text),
		CASE WHEN $2 <> 0 THEN pg_notify('deskwoot_events', $2::bigint::text) END`, accessEndedChannel, accountID, userID)
	return err
}

// OnAccessEnded registers f to run (on the listener's goroutine, so
// briefly) whenever a person's access to a workspace ends on any replica
// (accountID 0: every session of theirs ended).
func (h *EventHub) OnAccessEnded(f func(accountID, userID int64)) {
	h.mu.Lock()
	h.ended = append(h.ended, f)
	h.mu.Unlock()
}

// OnSessionEnded registers f to run (on the listener's goroutine, so
// briefly) whenever a console session ends on any replica (a sign-out:
// identity.SessionEndedChannel).
func (h *EventHub) OnSessionEnded(f func(sessionID int64)) {
	h.mu.Lock()
	h.sessions = append(h.sessions, f)
	h.mu.Unlock()
}

// sessionEndedNotice dispatches one notification of
// identity.SessionEndedChannel.
func (h *EventHub) sessionEndedNotice(payload string) {
	id, err := strconv.ParseInt(payload, 10, 64)
	if err != nil {
		return
	}
	h.mu.Lock()
	fs := slices.Clone(h.sessions)
	h.mu.Unlock()
	for _, f := range fs {
		f(id)
	}
}

// accessEndedNotice dispatches one notification of accessEndedChannel.
func (h *EventHub) accessEndedNotice(payload string) {
	a, u, ok := strings.Cut(payload, ":")
	acct, err1 := strconv.ParseInt(a, 10, 64)
	user, err2 := strconv.ParseInt(u, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return
	}
	h.mu.Lock()
	fs := slices.Clone(h.ended)
	h.mu.Unlock()
	for _, f := range fs {
		f(acct, user)
	}
}

// NewEventHub makes a hub that listens with its own connection (not one of
// the pool's).
func NewEventHub(pool *pgxpool.Pool) *EventHub {
	return &EventHub{cfg: pool.Config().ConnConfig.Copy(), waiters: map[int64]map[chan struct{}]struct{}{}}
}

// Reconnect backoff of the listener: from the first to the last step,
// doubling, with jitter. Long-polls keep re-checking every second while
// the listener is down, so a lost notification costs at most that.
const (
	hubBackoffMin = 50 * time.Millisecond
	hubBackoffMax = 2 * time.Second
)

// Listening reports whether the hub's LISTEN is in place now.
func (h *EventHub) Listening() bool { return h.listening.Load() }

// Connects counts the LISTEN connections the hub has made (1 + reconnects).
func (h *EventHub) Connects() int64 { return h.connects.Load() }

// Run listens until ctx ends, reconnecting with backoff after errors (the
// database restarting, a dropped connection). ready, when not nil, is
// closed once the first LISTEN is in place.
func (h *EventHub) Run(ctx context.Context, ready chan<- struct{}) {
	backoff := hubBackoffMin
	for ctx.Err() == nil {
		established, err := h.listen(ctx, &ready)
		if ctx.Err() != nil {
			return
		}
		if established {
			backoff = hubBackoffMin
			slog.Warn("event listener lost its connection; reconnecting", "err", err)
		}
		h.wakeAll() // pollers re-check: a notification may have been missed
		wait := backoff + time.Duration(rand.Int64N(int64(backoff)/2+1))
		backoff = min(2*backoff, hubBackoffMax)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

func (h *EventHub) listen(ctx context.Context, ready *chan<- struct{}) (established bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, h.cfg)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	for _, ch := range []string{"deskwoot_events", accessEndedChannel, identity.SessionEndedChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+ch); err != nil {
			return false, err
		}
	}
	h.listening.Store(true)
	defer h.listening.Store(false)
	if h.connects.Add(1) > 1 {
		slog.Info("event listener reconnected")
		h.wakeAll() // events that committed while it was away
	}
	if *ready != nil {
		close(*ready)
		*ready = nil
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		switch n.Channel {
		case accessEndedChannel:
			h.accessEndedNotice(n.Payload)
			continue
		case identity.SessionEndedChannel:
			h.sessionEndedNotice(n.Payload)
			continue
		}
		acct, err := strconv.ParseInt(n.Payload, 10, 64)
		if err != nil {
			continue
		}
		h.wake(acct)
	}
}

// Wait returns a channel closed at the next event of the account, and a
// function to stop waiting.
func (h *EventHub) Wait(acct int64) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	h.mu.Lock()
	if h.waiters[acct] == nil {
		h.waiters[acct] = map[chan struct{}]struct{}{}
	}
	h.waiters[acct][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		if _, ok := h.waiters[acct][ch]; ok {
			delete(h.waiters[acct], ch)
			close(ch)
		}
		if len(h.waiters[acct]) == 0 {
			delete(h.waiters, acct)
		}
		h.mu.Unlock()
	}
}

func (h *EventHub) wake(acct int64) {
	h.mu.Lock()
	for ch := range h.waiters[acct] {
		close(ch)
	}
	delete(h.waiters, acct)
	h.mu.Unlock()
}

func (h *EventHub) wakeAll() {
	h.mu.Lock()
	for acct, set := range h.waiters {
		for ch := range set {
			close(ch)
		}
		delete(h.waiters, acct)
	}
	h.mu.Unlock()
}

// Re-check intervals of a waiting poll. Without a working listener it
// polls every pollRecheck. With one, a commit wakes it, so it only
// re-checks every listenRecheck (plus jitter, so a thousand waiting
// pollers do not poll in step) in case a notification was lost on a
// connection that died silently: a thousand long-polls polling every second
// kept the pool busy and their goroutines' stacks grown for nothing.
const (
	pollRecheck   = time.Second
	listenRecheck = 10 * time.Second
)

// EventPollWait is EventPoll that, when nothing is there yet, waits up to
// wait for the account's next event. After a wake it polls again at once
// and then in growing steps while the event waits for older transactions
// to finish (an event is released only below the horizon); it holds no
// database connection while it waits.
func (d *Desk) EventPollWait(ctx context.Context, req *tenancy.Request, q EventQuery, wait time.Duration, now func() time.Time) (EventPage, error) {
	acct := req.AccountID
	deadline := time.Now().Add(wait)
	polled := false
	poll := func() (EventPage, error) {
		page, err := d.eventPollShared(ctx, req, q, now())
		if err != nil && polled && errors.Is(err, ErrUnavailable) {
			// The database went away during the wait: wait on from the
			// cursor already reached, so the poll resumes there once it
			// is back (or ends empty at the deadline) and skips nothing.
			return EventPage{Events: []Event{}, NextCursor: q.Cursor}, nil
		}
		polled = polled || err == nil
		return page, err
	}
	// step is the next re-check; 0 while nothing woke the poll. woken says
	// the last wait ended with a wake.
	var step time.Duration
	woken := false
	for {
		var ch <-chan struct{}
		stop := func() {}
		if d.Hub != nil && wait > 0 {
			ch, stop = d.Hub.Wait(acct) // before polling, so no commit slips between
		}
		page, err := poll()
		if err != nil || len(page.Events) > 0 || wait <= 0 || !time.Now().Before(deadline) {
			stop()
			return page, err
		}
		if woken && q.Still != nil {
			// Woken, and nothing to show: perhaps the poller's token was
			// paused (which wakes the account's pollers).
			if err := q.Still(ctx); err != nil {
				stop()
				return page, err
			}
		}
		woken = false
		q.Cursor, q.Backfill = page.NextCursor, 0
		recheck := pollRecheck
		switch {
		case step > 0:
			// Woken earlier: the event is still held back behind an
			// older transaction.
			recheck, step = step, min(2*step, pollRecheck)
		case d.Hub != nil && d.Hub.Listening():
			recheck = listenRecheck + rand.N(listenRecheck/5)
		}
		timer := time.NewTimer(min(recheck, time.Until(deadline)))
		select {
		case <-ctx.Done():
			stop()
			timer.Stop()
			return page, nil
		case <-ch:
			// Woken: poll again right away, then in growing steps.
			stop()
			timer.Stop()
			step, woken = 5*time.Millisecond, true
		case <-timer.C:
			stop()
		}
	}
}
