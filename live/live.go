// Package live streams a signed-in person's share of the events feed to a
// browser tab as server-sent events (the console's GET /live, DESIGN §18).
//
// A stream is the same feed poll_events reads, woken by the same
// LISTEN/NOTIFY hub: it holds no database connection while it waits, and
// each SSE id is the feed's cursor right after that event, so a browser
// that reconnects with Last-Event-ID resumes exactly there and misses
// nothing. The door that serves it (the console) authenticates the person
// and hands over who they are and a way to re-check it; this package keeps
// the stream going, bounded and honest:
//
//   - it re-checks the session at least every Recheck (and at once when
//     this replica signs the session out, or any replica deactivates or
//     removes the person), and ends the stream with an "end" event when
//     the session is over;
//   - a person may hold PerSession streams per session, a workspace
//     PerWorkspace, on each replica; beyond that a new one is refused
//     with 429;
//   - when the database goes away (a restart) the stream stays open,
//     keeps its cursor and resumes from it once the database is back.
package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Defaults of Config.
const (
	DefaultPerSession   = 8   // tabs of one browser session
	DefaultPerWorkspace = 500 // streams of one workspace on one replica
	DefaultRecheck      = 30 * time.Second
	DefaultHeartbeat    = 25 * time.Second
)

// Config bounds and paces the streams; zero values take the defaults.
type Config struct {
	Desk *desk.Desk
	// PerSession and PerWorkspace bound the open streams on this replica.
	PerSession   int
	PerWorkspace int
	// Recheck is how often a stream re-checks its session (at most 60 s,
	// as the console promises); Heartbeat how often an idle stream writes,
	// so proxies keep it open and the browser sees a dead one.
	Recheck   time.Duration
	Heartbeat time.Duration
	// Now is the clock of cursors; time.Now when nil.
	Now func() time.Time
}

// Viewer is whom a stream serves: a person of an account, signed in with
// a console session, who sees the conversations of Scope.
type Viewer struct {
	AccountID int64
	UserID    int64
	SessionID int64
	Scope     desk.Scope
}

// Check re-reads the viewer's standing: the scope as it is now, or an
// error wrapping identity.ErrUnauthenticated once the session is over
// (signed out, expired, the person deactivated or removed). Any other
// error (the database away for a moment) keeps the stream open.
type Check func(ctx context.Context) (desk.Scope, error)

// Streams serves and counts the open streams of one replica.
type Streams struct {
	cfg Config

	mu        sync.Mutex
	open      map[*stream]struct{}
	bySession map[int64]int
	byAccount map[int64]int
}

// New makes the replica's streams.
func New(cfg Config) *Streams {
	if cfg.PerSession <= 0 {
		cfg.PerSession = DefaultPerSession
	}
	if cfg.PerWorkspace <= 0 {
		cfg.PerWorkspace = DefaultPerWorkspace
	}
	if cfg.Recheck <= 0 || cfg.Recheck > time.Minute {
		cfg.Recheck = DefaultRecheck
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Streams{cfg: cfg, open: map[*stream]struct{}{}, bySession: map[int64]int{}, byAccount: map[int64]int{}}
	if cfg.Desk != nil && cfg.Desk.Hub != nil {
		// A person deactivated or removed on any replica: their streams
		// here end at once.
		cfg.Desk.Hub.OnAccessEnded(s.EndUser)
		// A session signed out on any replica: its streams here end at
		// once.
		cfg.Desk.Hub.OnSessionEnded(s.EndSession)
	}
	return s
}

// stream is one open GET /live.
type stream struct {
	v   Viewer
	end context.CancelCauseFunc
}

// errSessionEnded is the cause a stream ends with when this replica
// ends its session (sign-out, offboarding).
var errSessionEnded = errors.New("live: the session ended")

// Open counts the streams open on this replica.
func (s *Streams) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}

// EndSession ends the streams of a console session at once (its sign-out,
// on this replica or, through the event hub's OnSessionEnded, any other).
func (s *Streams) EndSession(sessionID int64) {
	s.endWhere(func(v Viewer) bool { return v.SessionID == sessionID })
}

// EndUser ends every stream of a person in an account (0: in every one)
// at once: they were deactivated or removed, or reset their password (the
// event hub's OnAccessEnded, on every replica).
func (s *Streams) EndUser(accountID, userID int64) {
	s.endWhere(func(v Viewer) bool { return (accountID == 0 || v.AccountID == accountID) && v.UserID == userID })
}

func (s *Streams) endWhere(match func(Viewer) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for st := range s.open {
		if match(st.v) {
			st.end(errSessionEnded)
		}
	}
}

// admit counts a new stream in, or says why not.
func (s *Streams) admit(st *stream) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.bySession[st.v.SessionID] >= s.cfg.PerSession:
		return fmt.Errorf("this browser session already has %d live streams open (one per tab); close a tab, or reload this page later", s.cfg.PerSession)
	case s.byAccount[st.v.AccountID] >= s.cfg.PerWorkspace:
		return fmt.Errorf("this workspace already has %d live streams open on this server; the page works without one, reload it to see changes", s.cfg.PerWorkspace)
	}
	s.open[st] = struct{}{}
	s.bySession[st.v.SessionID]++
	s.byAccount[st.v.AccountID]++
	return nil
}

func (s *Streams) release(st *stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.open, st)
	if s.bySession[st.v.SessionID]--; s.bySession[st.v.SessionID] <= 0 {
		delete(s.bySession, st.v.SessionID)
	}
	if s.byAccount[st.v.AccountID]--; s.byAccount[st.v.AccountID] <= 0 {
		delete(s.byAccount, st.v.AccountID)
	}
}

// Change is what a stream tells the page about one event: enough to know
// whether the page shows it, nothing more (the page re-reads what it
// shows through the console, under the person's own access).
type Change struct {
	Type           string `json:"type"`
	ConversationID *int64 `json:"conversation_id,omitempty"`
	InboxID        *int64 `json:"inbox_id,omitempty"`
}

// Serve streams the viewer's events from cursor (the browser's
// Last-Event-ID, or the cursor its page was rendered at; empty starts
// from now) until the session ends or the browser goes. It answers 429
// when the bounds are reached. The door has authenticated the viewer.
func (s *Streams) Serve(w http.ResponseWriter, r *http.Request, v Viewer, cursor string, check Check) {
	ctx, end := context.WithCancelCause(r.Context())
	defer end(nil)
	st := &stream{v: v, end: end}
	if err := s.admit(st); err != nil {
		w.Header().Set("Retry-After", "30")
		http.Error(w, err.Error(), http.StatusTooManyRequests)
		return
	}
	defer s.release(st)

	req := tenancy.For(v.AccountID)
	if cursor == "" {
		// "From now" is from before the answer starts: a client that saw
		// the headers and then made a change gets it. (When the database
		// is away, the loop below takes the cursor once it is back.)
		if c, err := s.cfg.Desk.EventCursorNow(ctx, v.AccountID, s.cfg.Now()); err == nil {
			cursor = c
		}
	}
	out := newWriter(w, s.cfg.Heartbeat)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // a buffering proxy would hold the events back
	w.WriteHeader(http.StatusOK)
	// retry: the browser's reconnect delay after a dropped connection.
	if out.send("retry: 2000\n: deskwoot live\n\n") != nil {
		return
	}

	nextCheck := time.Now().Add(s.cfg.Recheck)
	down := time.Duration(0)
	for {
		if cursor == "" {
			c, err := s.cfg.Desk.EventCursorNow(ctx, v.AccountID, s.cfg.Now())
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				down = s.pause(ctx, out, down)
				continue
			}
			cursor = c
		}
		wait := min(s.cfg.Heartbeat, time.Until(nextCheck))
		page, err := s.cfg.Desk.EventPollWait(ctx, req, desk.EventQuery{Cursor: cursor, Limit: 100, Scope: v.Scope}, wait, s.cfg.Now)
		if ctx.Err() != nil {
			break
		}
		switch {
		case fault.KindOf(err) == fault.Invalid:
			// A cursor of another feed, or older than the retention: start
			// from now and have the page read itself afresh.
			cursor = ""
			if out.send("event: reset\ndata: {}\n\n") != nil {
				return
			}
			continue
		case err != nil:
			// The database is away (a restart): keep the cursor, keep the
			// browser's connection, try again shortly.
			if !errors.Is(err, tenancy.ErrUnavailable) {
				slog.Warn("live stream: poll failed; retrying", "account", v.AccountID, "err", err)
			}
			down = s.pause(ctx, out, down)
			continue
		}
		down = 0
		for _, e := range page.Events {
			if out.event(e.Cursor, "", Change{Type: e.Type, ConversationID: e.ConversationID, InboxID: e.InboxID}) != nil {
				return
			}
		}
		cursor = page.NextCursor
		if len(page.Events) == 0 {
			// Nothing for this page within a heartbeat: a ping keeps the
			// connection open through proxies, shows the browser the
			// stream lives, and moves its cursor on, so a reconnect does
			// not re-read what the stream skipped.
			if out.event(cursor, "ping", struct{}{}) != nil {
				return
			}
		}
		if !time.Now().Before(nextCheck) {
			nextCheck = time.Now().Add(s.cfg.Recheck)
			sc, err := check(ctx)
			if errors.Is(err, identity.ErrUnauthenticated) {
				out.event("", "end", map[string]string{"reason": "session"})
				return
			}
			if err == nil {
				v.Scope = sc // inbox membership may have changed
			}
		}
	}
	if errors.Is(context.Cause(ctx), errSessionEnded) {
		out.event("", "end", map[string]string{"reason": "session"})
	}
}

// pause waits out a database outage a little longer each time (up to
// 5 s), writing a comment so the browser's connection stays warm.
func (s *Streams) pause(ctx context.Context, out *writer, last time.Duration) time.Duration {
	next := min(max(2*last, 250*time.Millisecond), 5*time.Second)
	t := time.NewTimer(next)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
		out.send(": waiting for the database\n\n")
	}
	return next
}

// writer writes SSE frames, each flushed at once and under a deadline of
// its own (the server's WriteTimeout would cut a long stream).
type writer struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	grace time.Duration
	err   error
}

func newWriter(w http.ResponseWriter, heartbeat time.Duration) *writer {
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{}) // a GET has no body to read; the stream outlives ReadTimeout
	return &writer{w: w, rc: rc, grace: heartbeat + 30*time.Second}
}

func (o *writer) send(frame string) error {
	if o.err != nil {
		return o.err
	}
	o.rc.SetWriteDeadline(time.Now().Add(o.grace))
	if _, o.err = o.w.Write([]byte(frame)); o.err == nil {
		o.err = o.rc.Flush()
	}
	return o.err
}

// event writes one event: id (when given) is the cursor after it, name
// its SSE event name ("" for a change, the page's message), data JSON.
func (o *writer) event(id, name string, data any) error {
	b, _ := json.Marshal(data)
	frame := ""
	if id != "" {
		frame += "id: " + id + "\n"
	}
	if name != "" {
		frame += "event: " + name + "\n"
	}
	return o.send(frame + "data: " + string(b) + "\n\n")
}
