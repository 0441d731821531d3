package desk

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EventHub wakes long-polls when events commit. Every replica listens on
// the deskwoot_events channel, so a commit on any replica wakes pollers on
// all of them.
type EventHub struct {
	cfg *pgx.ConnConfig

	mu      sync.Mutex
	waiters map[int64]map[chan struct{}]struct{}
}

// NewEventHub makes a hub that listens with its own connection (not one of
// the pool's).
func NewEventHub(pool *pgxpool.Pool) *EventHub {
	return &EventHub{cfg: pool.Config().ConnConfig.Copy(), waiters: map[int64]map[chan struct{}]struct{}{}}
}

// Run listens until ctx ends, reconnecting after errors. ready, when not
// nil, is closed once the first LISTEN is in place.
func (h *EventHub) Run(ctx context.Context, ready chan<- struct{}) {
	for ctx.Err() == nil {
		err := h.listen(ctx, ready)
		ready = nil
		if ctx.Err() != nil {
			return
		}
		slog.Warn("event listener reconnecting", "err", err)
		h.wakeAll() // pollers re-check: a notification may have been missed
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (h *EventHub) listen(ctx context.Context, ready chan<- struct{}) error {
	conn, err := pgx.ConnectConfig(ctx, h.cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN deskwoot_events"); err != nil {
		return err
	}
	if ready != nil {
		close(ready)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
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

// EventPollWait is EventPoll that, when nothing is there yet, waits up to
// wait for the account's next event. It re-checks shortly after each wake
// (an event commits below the horizon only once older transactions end)
// and every second in any case.
func (d *Desk) EventPollWait(ctx context.Context, acct int64, q EventQuery, wait time.Duration, now func() time.Time) (EventPage, error) {
	deadline := time.Now().Add(wait)
	for {
		var ch <-chan struct{}
		stop := func() {}
		if d.Hub != nil && wait > 0 {
			ch, stop = d.Hub.Wait(acct) // before polling, so no commit slips between
		}
		page, err := d.EventPoll(ctx, acct, q, now())
		if err != nil || len(page.Events) > 0 || wait <= 0 || !time.Now().Before(deadline) {
			stop()
			return page, err
		}
		q.Cursor, q.Backfill = page.NextCursor, 0
		recheck := time.Second
		timer := time.NewTimer(min(recheck, time.Until(deadline)))
		select {
		case <-ctx.Done():
			stop()
			timer.Stop()
			return page, nil
		case <-ch:
			// Woken: poll again right away, then in short steps while the
			// event waits for older transactions to finish.
			stop()
			timer.Stop()
			for i := 0; i < 20 && time.Now().Before(deadline); i++ {
				page, err = d.EventPoll(ctx, acct, q, now())
				if err != nil || len(page.Events) > 0 {
					return page, err
				}
				q.Cursor = page.NextCursor
				time.Sleep(5 * time.Millisecond)
			}
		case <-timer.C:
			stop()
		}
	}
}
