package desk

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/deskwoot/deskwoot/tenancy"
)

// pollShare lets polls of one feed position share one read. A commit
// wakes every waiting poll of its workspace at once, and a workspace's
// console tabs (live streams) mostly wait at the same cursor, so hundreds
// of them would send the same query at the same moment; with this the
// first one reads and the others take its page. The page stays exact for
// each of them: it is what a poll from that cursor returns at a moment
// after they began waiting, and its next cursor stops at that read's
// horizon, so a commit that came later is read by the next poll (a woken
// poll that found nothing re-polls within milliseconds).
//
// Only plain reads share: a request that carries a guard to re-check or
// an audit row to write (an MCP call) always reads for itself.
type pollShare struct {
	mu       sync.Mutex
	inflight map[string]*sharedPoll
}

type sharedPoll struct {
	done chan struct{}
	page EventPage
	err  error
}

// shareable reports whether a poll may share its read.
func shareable(req *tenancy.Request, q EventQuery) bool {
	return req.Guard == nil && req.Audit == nil && q.Cursor != ""
}

// pollKey names what a poll reads: the same key, the same page. An
// unrestricted scope (nil: every inbox) and an empty one (no inbox) must
// differ, and %v prints both as [].
func pollKey(acct int64, q EventQuery) string {
	inboxes := "all"
	if q.Scope.InboxIDs != nil {
		inboxes = fmt.Sprint(q.Scope.InboxIDs)
	}
	return fmt.Sprintf("%d|%s|%d|%d|%v|%s|%d|%v", acct, q.Cursor, q.Limit, q.Backfill, q.Types, inboxes, q.Scope.TokenID, q.Contacts)
}

// eventPollShared is EventPoll, sharing the read with polls of the same
// position in flight when the request allows it. Callers only read the
// page: it may be theirs and others' at once.
func (d *Desk) eventPollShared(ctx context.Context, req *tenancy.Request, q EventQuery, now time.Time) (EventPage, error) {
	if !shareable(req, q) {
		return d.EventPoll(ctx, req, q, now)
	}
	key := pollKey(req.AccountID, q)
	s := &d.polls
	s.mu.Lock()
	if p, ok := s.inflight[key]; ok {
		s.mu.Unlock()
		select {
		case <-p.done:
			if p.err != nil && ctx.Err() == nil {
				return d.EventPoll(ctx, req, q, now) // the leader's failure may be its own (its request ended)
			}
			return p.page, p.err
		case <-ctx.Done():
			return EventPage{}, ctx.Err()
		}
	}
	p := &sharedPoll{done: make(chan struct{})}
	if s.inflight == nil {
		s.inflight = map[string]*sharedPoll{}
	}
	s.inflight[key] = p
	s.mu.Unlock()
	p.page, p.err = d.EventPoll(ctx, req, q, now)
	s.mu.Lock()
	delete(s.inflight, key)
	s.mu.Unlock()
	close(p.done)
	return p.page, p.err
}
