package console

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/auditrow"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/live"
	"github.com/deskwoot/deskwoot/tenancy"
)

// liveConsole is a test console whose desk has a running events hub (as
// serve's does) and whose streams re-check their session every 300 ms.
func liveConsole(t *testing.T, bounds live.Config) (*Console, *httptest.Server) {
	t.Helper()
	return testConsole(t, func(c *Console) {
		hub := desk.NewEventHub(c.cfg.DB.Pool)
		ctx, stop := context.WithCancel(context.Background())
		t.Cleanup(stop)
		ready := make(chan struct{})
		go hub.Run(ctx, ready)
		<-ready
		c.cfg.Desk.Hub = hub
		if bounds.Recheck == 0 {
			bounds.Recheck = 300 * time.Millisecond
		}
		bounds.Desk, bounds.Now = c.cfg.Desk, c.cfg.Now
		c.live = live.New(bounds)
	})
}

// sseFrame is one server-sent event as the browser would dispatch it.
type sseFrame struct {
	ID, Event string
	Change    live.Change
}

// sse is an open GET /live of a browser.
type sse struct {
	t      *testing.T
	res    *http.Response
	frames chan sseFrame
	closed chan struct{}
}

// openLive opens the browser's stream (lastID, when given, as a reconnect
// sends it) and reads its frames in the background.
func openLive(t *testing.T, b *browser, lastID string) *sse {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+"/live", nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	hc := &http.Client{Jar: b.hc.Jar} // no timeout: a stream lasts
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		res.Body.Close()
		t.Fatalf("GET /live: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	s := &sse{t: t, res: res, frames: make(chan sseFrame, 1000), closed: make(chan struct{})}
	t.Cleanup(s.close)
	go s.read()
	return s
}

// read parses the stream's frames into s.frames until it closes.
func (s *sse) read() {
	defer close(s.closed)
	sc := bufio.NewScanner(s.res.Body)
	var f sseFrame
	var data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != "" {
				json.Unmarshal([]byte(data), &f.Change)
				s.frames <- f
			}
			f, data = sseFrame{}, ""
		case strings.HasPrefix(line, "id: "):
			f.ID = line[4:]
		case strings.HasPrefix(line, "event: "):
			f.Event = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		}
	}
}

func (s *sse) close() { s.res.Body.Close() }

// changesUntil reads the stream's changes until enough says it has them
// all, then for settle more (so that anything it should not get has the
// time to show), or until max. Events wait behind the cluster's oldest
// open transaction (the feed is gapless), and in a full test run another
// package's long transaction can hold them back for seconds.
func (s *sse) changesUntil(max, settle time.Duration, enough func([]sseFrame) bool) []sseFrame {
	var out []sseFrame
	deadline := time.After(max)
	var settled <-chan time.Time
	for {
		select {
		case f := <-s.frames:
			if f.Event == "" {
				out = append(out, f)
			}
			if settled == nil && enough(out) {
				settled = time.After(settle)
			}
		case <-settled:
			return out
		case <-deadline:
			return out
		}
	}
}

// next waits for the stream's next change.
func (s *sse) next(what string) sseFrame {
	s.t.Helper()
	deadline := time.After(30 * time.Second) // see changesUntil
	for {
		select {
		case f := <-s.frames:
			if f.Event == "" {
				return f
			}
		case <-deadline:
			s.t.Fatalf("no change on the stream: %s", what)
		}
	}
}

// ended waits for the stream's end event and its close.
func (s *sse) ended(what string) {
	s.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f := <-s.frames:
			if f.Event == "end" {
				select {
				case <-s.closed:
					return
				case <-deadline:
					s.t.Fatalf("%s: the stream said end but stayed open", what)
				}
			}
		case <-s.closed:
			for {
				select {
				case f := <-s.frames: // read before the close
					if f.Event == "end" {
						return
					}
					continue
				default:
				}
				break
			}
			s.t.Fatalf("%s: the stream closed without an end event", what)
		case <-deadline:
			s.t.Fatalf("%s: the stream did not end", what)
		}
	}
}

func customerWrites(t *testing.T, c *Console, acct, inbox int64, text string) desk.IncomingResult {
	t.Helper()
	res, err := c.cfg.Desk.IncomingMessage(context.Background(), acct, inbox, desk.IncomingInput{
		Contact: desk.IncomingContact{Email: dbtest.Unique("cust") + "@example.com", Name: "Carla Customer"}, Content: text})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestLiveNeedsAConsoleSession(t *testing.T) {
	t.Parallel()
	_, srv := liveConsole(t, live.Config{})
	for name, cookie := range map[string]string{"no cookie": "", "unknown session": identity.SessionPrefix + "nope", "garbage": "x"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/live", nil)
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized || res.Header.Get("Content-Type") == "text/event-stream" {
			t.Errorf("%s: %d %s, want a 401 and no stream", name, res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
}

// TestLiveStreamsAreFenced opens streams for two workspaces and an agent
// restricted to one inbox, makes changes in each, and checks every event
// each stream receives: all of its own, none of anyone else's.
func TestLiveStreamsAreFenced(t *testing.T) {
	t.Parallel()
	c, srv := liveConsole(t, live.Config{})
	adminA, _ := signUp(t, srv)
	pa, _ := accountOf(t, c, adminA)
	adminB, _ := signUp(t, srv)
	pb, _ := accountOf(t, c, adminB)
	mine, other := newInbox(t, c, pa.AccountID, "Mine"), newInbox(t, c, pa.AccountID, "Other")
	inB := newInbox(t, c, pb.AccountID, "B's")
	q := queue{c: c, srv: srv, acct: pa.AccountID}
	agent, agentID := q.agent(t)
	if err := c.cfg.Desk.InboxMemberAdd(context.Background(), tenancy.For(pa.AccountID), mine.ID, agentID); err != nil {
		t.Fatal(err)
	}

	streams := map[string]*sse{"admin A": openLive(t, adminA, ""), "agent A": openLive(t, agent, ""), "admin B": openLive(t, adminB, "")}
	// Changes everywhere: a new conversation, a reply and a status change
	// in each inbox.
	convs := map[string]int64{}
	for name, ib := range map[string]struct{ acct, inbox int64 }{"mine": {pa.AccountID, mine.ID}, "other": {pa.AccountID, other.ID}, "B": {pb.AccountID, inB.ID}} {
		res := customerWrites(t, c, ib.acct, ib.inbox, "Hello from "+name)
		convs[name] = res.ConversationID
		by := desk.Author{Kind: "user", UserID: pa.UserID, Name: "Admin"}
		if name == "B" {
			by.UserID = pb.UserID
		}
		if _, err := c.cfg.Desk.PersonMessage(context.Background(), ib.acct, desk.Scope{}, res.ConversationID, "On it", false, by); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string][]int64{
		"admin A": {convs["mine"], convs["other"]},
		"agent A": {convs["mine"]},
		"admin B": {convs["B"]},
	}
	for name, s := range streams {
		got := s.changesUntil(30*time.Second, 500*time.Millisecond, func(got []sseFrame) bool {
			n := map[int64]int{}
			for _, f := range got {
				if f.Change.ConversationID != nil {
					n[*f.Change.ConversationID]++
				}
			}
			for _, id := range want[name] {
				if n[id] < 3 {
					return false
				}
			}
			return true
		})
		seen := map[int64]int{}
		for _, f := range got {
			if f.Change.ConversationID == nil || !slices.Contains(want[name], *f.Change.ConversationID) {
				t.Errorf("%s received an event it may not see: %+v", name, f.Change)
				continue
			}
			seen[*f.Change.ConversationID]++
			if f.ID == "" {
				t.Errorf("%s: an event without an id (the feed cursor): %+v", name, f.Change)
			}
		}
		for _, id := range want[name] {
			// conversation.created, message.created (customer), message.created (reply)
			if seen[id] < 3 {
				t.Errorf("%s saw %d events of conversation %d, want at least 3 (got %d events in all)", name, seen[id], id, len(got))
			}
		}
	}
}

// TestLiveResumesFromLastEventID reconnects with the id of the last event
// the browser had: the stream goes on right after it, missing nothing and
// repeating nothing.
func TestLiveResumesFromLastEventID(t *testing.T) {
	t.Parallel()
	c, srv := liveConsole(t, live.Config{})
	b, _ := signUp(t, srv)
	p, _ := accountOf(t, c, b)
	ib := newInbox(t, c, p.AccountID, "Support")
	s := openLive(t, b, "")
	first := customerWrites(t, c, p.AccountID, ib.ID, "first")
	var last sseFrame
	for last.Change.Type != desk.EventMessageCreated {
		last = s.next("the first message")
	}
	s.close()

	// While the browser is away: two more conversations.
	second := customerWrites(t, c, p.AccountID, ib.ID, "second")
	third := customerWrites(t, c, p.AccountID, ib.ID, "third")
	again := openLive(t, b, last.ID)
	var got []int64
	for _, f := range again.changesUntil(30*time.Second, 500*time.Millisecond, func(got []sseFrame) bool { return len(got) >= 4 }) {
		got = append(got, *f.Change.ConversationID)
	}
	want := []int64{second.ConversationID, second.ConversationID, third.ConversationID, third.ConversationID}
	if !slices.Equal(got, want) {
		t.Fatalf("after Last-Event-ID: events of conversations %v, want %v (created and message of each, not %d again)", got, want, first.ConversationID)
	}

	// An id this server did not issue starts afresh (and says so) rather
	// than failing the page.
	odd := openLive(t, b, "not-a-cursor")
	select {
	case f := <-odd.frames:
		if f.Event != "reset" {
			t.Fatalf("a foreign Last-Event-ID: first frame %+v, want reset", f)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a foreign Last-Event-ID: no reset")
	}
}

// TestLiveEndsWithTheSession: signing out ends the tab's stream at once;
// a person deactivated elsewhere (another replica, here straight through
// the desk) loses theirs at the next re-check.
func TestLiveEndsWithTheSession(t *testing.T) {
	t.Parallel()
	c, srv := liveConsole(t, live.Config{})
	b, _ := signUp(t, srv)
	p, _ := accountOf(t, c, b)
	s := openLive(t, b, "")
	wantRedirect(t, b.post("/signout", nil), "/signin")
	s.ended("sign-out")
	wantStatus(t, b.do(mustReq(b.base+"/live")), http.StatusUnauthorized)

	q := queue{c: c, srv: srv, acct: p.AccountID}
	agent, agentID := q.agent(t)
	as := openLive(t, agent, "")
	off := false
	if _, err := c.cfg.Desk.PersonChange(context.Background(), tenancy.Recorded(p.AccountID, auditrow.Entry{ActorKind: "user", ActorID: p.UserID, Action: "user.update"}), agentID,
		desk.PersonPatch{Active: &off}, time.Now()); err != nil {
		t.Fatal(err)
	}
	as.ended("deactivation")

	// An admin deactivating through the console ends the stream at once.
	agent2, agent2ID := q.agent(t)
	s2 := openLive(t, agent2, "")
	b2 := newBrowser(t, srv)
	email := dbtest.Unique("admin2") + "@example.com"
	if _, _, err := dbtest.Identities(t).UserCreate(context.Background(), tenancy.For(p.AccountID), email, "Second Admin", "admin password 1", "admin"); err != nil {
		t.Fatal(err)
	}
	wantRedirect(t, b2.post("/signin", url.Values{"email": {email}, "password": {"admin password 1"}}), "/")
	wantRedirect(t, b2.post(fmt.Sprintf("/settings/team/people/%d/deactivate", agent2ID), nil), "/settings/team")
	s2.ended("deactivation in the console")
}

func mustReq(u string) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return req
}

// TestLiveIsBounded: a session holds PerSession streams, a workspace
// PerWorkspace; the next is a 429 in words, never a stream.
func TestLiveIsBounded(t *testing.T) {
	t.Parallel()
	c, srv := liveConsole(t, live.Config{PerSession: 2, PerWorkspace: 3})
	b, _ := signUp(t, srv)
	p, _ := accountOf(t, c, b)
	openLive(t, b, "")
	openLive(t, b, "")
	res := b.get("/live")
	if res.Status != http.StatusTooManyRequests || !strings.Contains(res.Body, "already has 2 live streams") || res.Header.Get("Retry-After") == "" {
		t.Fatalf("a third stream of one session: %d %q", res.Status, res.Body)
	}
	q := queue{c: c, srv: srv, acct: p.AccountID}
	ag, _ := q.agent(t)
	openLive(t, ag, "")
	res = ag.get("/live")
	if res.Status != http.StatusTooManyRequests || !strings.Contains(res.Body, "workspace already has 3 live streams") {
		t.Fatalf("a fourth stream of one workspace: %d %q", res.Status, res.Body)
	}
}

// TestPagesSubscribeFromTheirCursor: a signed-in page loads live.js (no
// inline script; the CSP is unchanged) and carries the feed's cursor from
// before it read anything, so a change made after the page was read and
// before its stream opened still arrives. Signed-out pages do not
// subscribe.
func TestPagesSubscribeFromTheirCursor(t *testing.T) {
	t.Parallel()
	c, srv := liveConsole(t, live.Config{})
	b, _ := signUp(t, srv)
	p, _ := accountOf(t, c, b)
	ib := newInbox(t, c, p.AccountID, "Support")
	pg := wantStatus(t, b.get("/conversations"), http.StatusOK)
	if !strings.Contains(pg.Body, `<script src="/static/live.js?v=`) || strings.Contains(pg.Body, "<script>") {
		t.Fatalf("the page does not load live.js, or has an inline script:\n%s", pg.Body)
	}
	if csp := pg.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self';") {
		t.Fatalf("CSP %q", csp)
	}
	m := regexp.MustCompile(`data-live-cursor="([^"]+)"`).FindStringSubmatch(pg.Body)
	if m == nil {
		t.Fatalf("no live cursor on the page:\n%s", pg.Body)
	}
	// Between the page and its stream: a customer writes.
	res := customerWrites(t, c, p.AccountID, ib.ID, "written while the page loaded")
	req, _ := http.NewRequest(http.MethodGet, b.base+"/live?cursor="+url.QueryEscape(html.UnescapeString(m[1])), nil)
	hc := &http.Client{Jar: b.hc.Jar}
	r, err := hc.Do(req)
	if err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("GET /live?cursor=: %v %v", r, err)
	}
	s := &sse{t: t, res: r, frames: make(chan sseFrame, 100), closed: make(chan struct{})}
	t.Cleanup(s.close)
	go s.read()
	if f := s.next("the change made before the stream opened"); f.Change.ConversationID == nil || *f.Change.ConversationID != res.ConversationID {
		t.Fatalf("first change %+v, want conversation %d's", f.Change, res.ConversationID)
	}

	out := wantStatus(t, newBrowser(t, srv).get("/signin"), http.StatusOK)
	if strings.Contains(out.Body, "live.js") || strings.Contains(out.Body, "data-live") {
		t.Fatal("a signed-out page subscribes to live updates")
	}
}

// TestLiveEndsWhenTheSessionExpires: a stream's re-checks do not keep its
// session alive (an open tab is not a person using it), so the session
// expires on time and the stream ends with it.
func TestLiveEndsWhenTheSessionExpires(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	c, srv := testConsole(t, func(c *Console) {
		c.cfg.Now = now
		hub := desk.NewEventHub(c.cfg.DB.Pool)
		ctx, stop := context.WithCancel(context.Background())
		t.Cleanup(stop)
		ready := make(chan struct{})
		go hub.Run(ctx, ready)
		<-ready
		c.cfg.Desk.Hub = hub
		c.live = live.New(live.Config{Desk: c.cfg.Desk, Now: now, Recheck: 200 * time.Millisecond})
	})
	b, _ := signUp(t, srv)
	p, _ := accountOf(t, c, b)
	s := openLive(t, b, "")
	// Past the point where a use would have pushed the expiry out (a
	// minute), with the stream re-checking all along.
	skew.Store(int64(2 * time.Minute))
	time.Sleep(time.Second)
	var expires time.Time
	if err := c.cfg.DB.InTenant(context.Background(), p.AccountID, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT expires_at FROM console_sessions WHERE id = $1`, p.SessionID).Scan(&expires)
	}); err != nil {
		t.Fatal(err)
	}
	if expires.After(now().Add(identity.SessionTTL - time.Minute)) {
		t.Fatalf("the stream's re-checks slid the session's expiry to %v", expires)
	}
	skew.Store(int64(identity.SessionTTL + time.Hour))
	s.ended("expiry")
}
