package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
)

// TestRemovalEndsWhatIsInFlight is the issue's bar: "removing a person
// while they have a long-poll, a live stream and a REST call in flight
// loses no data and ends all three", on every replica. The person works
// on replica one; an admin offboards them on replica two. Their REST
// reply is held in flight by a lock the test holds on the conversation
// (as a slow statement would be); their live stream is open on their
// console session; and, for an admin (agents cannot connect apps), an
// MCP long-poll waits on the app they connected with OAuth.
func TestRemovalEndsWhatIsInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two replicas")
	}
	f := startFleetAt(t, dbtest.AppURL(), 2, true)
	one, two := f.urls[0], f.urls[1]
	// late: Pat's reply is sent while the offboarding is under way (held
	// up by the test's lock on Pat's open conversation, which it
	// unassigns), rather than before it.
	for _, c := range []struct {
		name, role   string
		remove, late bool
	}{
		{"agent removed", "agent", true, false},
		{"agent deactivated", "agent", false, false},
		{"admin with a connected app removed", "admin", true, false},
		{"agent removed, replying meanwhile", "agent", true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			admin, adminEmail, inbox := adminWorkspace(t, one, "In flight "+c.name)
			mustCall(t, 200, "PUT", one+"/api/v1/settings/mcp", admin, map[string]any{"enabled": true})
			email := dbtest.Unique("pat") + "@example.com"
			created := mustCall(t, 201, "POST", one+"/api/v1/users", admin, map[string]any{"email": email, "name": "Pat Leaving", "password": "pat password 1", "role": c.role})
			pat, patToken := int64(created["user"].(map[string]any)["id"].(float64)), created["api_token"].(string)
			mustCall(t, 200, "POST", fmt.Sprintf("%s/api/v1/inboxes/%d/members", one, inbox), admin, map[string]any{"user_id": pat})
			conv := func(who, text string) int64 {
				in := mustCall(t, 201, "POST", fmt.Sprintf("%s/api/v1/inboxes/%d/messages", one, inbox), admin,
					map[string]any{"contact": map[string]any{"email": who + "@customer.test", "name": who}, "content": text, "source_id": dbtest.Unique("s")})
				return int64(in["conversation_id"].(float64))
			}
			mine, held := conv("cat", "My order is late"), conv("dan", "Where is my refund?")
			mustCall(t, 200, "PATCH", fmt.Sprintf("%s/api/v1/conversations/%d", one, mine), admin, map[string]any{"assignee_id": pat})
			mustCall(t, 201, "POST", fmt.Sprintf("%s/api/v1/conversations/%d/messages", one, mine), patToken, map[string]any{"content": "On its way today."})

			// Pat's console session, with its live stream open on replica one.
			browser := newBrowserClient(t, one)
			browser.signIn(email, "pat password 1")
			stream := openLive(t, browser)

			// An admin's MCP long-poll, on the app they connected.
			var poll chan pollResult
			var appToken string
			if c.role == "admin" {
				// The app sees another inbox only: the reply's event wakes
				// its poll but shows it nothing, so the poll waits on.
				other := mustCall(t, 201, "POST", one+"/api/v1/inboxes", admin, map[string]any{"name": "Billing", "channel": "api"})
				appToken = connectApp(t, browser, one, int64(other["id"].(float64)))
				mustTool(t, one, appToken, "list_inboxes", nil)
				poll = make(chan pollResult, 1)
				go func() { poll <- longPoll(one, appToken) }()
			}

			// Pat's reply, held in flight by the test's lock on the
			// conversation; the admin offboards Pat on replica two. What the
			// offboarding's answer says is done must stay done: a reply of
			// Pat's that is not written when it comes may never be written
			// after.
			acct := int64(mustCall(t, 200, "GET", one+"/api/v1/account", admin, nil)["account"].(map[string]any)["id"].(float64))
			reply := make(chan int, 1)
			const text = "Refund sent, sorry for the wait."
			sendReply := func() {
				go func() {
					st, _, err := call("POST", fmt.Sprintf("%s/api/v1/conversations/%d/messages", one, held), patToken, map[string]any{"content": text})
					if err != nil {
						t.Errorf("the reply in flight: %v", err)
					}
					reply <- st
				}()
			}
			type answer struct {
				status      int
				at          time.Time
				replyExists bool
			}
			offboarded := make(chan answer, 1)
			offboard := func() {
				go func() {
					var st int
					if c.remove {
						st, _, _ = call("DELETE", fmt.Sprintf("%s/api/v1/users/%d", two, pat), admin, nil)
					} else {
						st, _, _ = call("PATCH", fmt.Sprintf("%s/api/v1/users/%d", two, pat), admin, map[string]any{"active": false})
					}
					offboarded <- answer{status: st, at: time.Now(), replyExists: hasMessage(t, two, admin, held, text)}
				}()
			}
			var off answer
			var lock *heldLock
			if !c.late {
				lock = holdConversation(t, acct, held)
				sendReply()
				lock.waitBlocked(t, 1)
				time.Sleep(300 * time.Millisecond) // the long-poll and the stream are waiting by now
				offboard()
				select {
				case off = <-offboarded:
					t.Error("the offboarding answered while Pat's reply was still in flight: it must wait for the reply, or the reply for it")
				case <-time.After(time.Second):
				}
			} else {
				lock = holdConversation(t, acct, mine)
				offboard()
				lock.waitBlocked(t, 1) // the offboarding, holding Pat's membership, waits to unassign
				sendReply()
				lock.waitBehind(t) // the reply waits for the offboarding
			}
			lock.release(t)
			released := time.Now()
			if off.status == 0 {
				select {
				case off = <-offboarded:
				case <-time.After(15 * time.Second):
					t.Fatal("the offboarding never answered")
				}
			}
			if off.status != 200 {
				t.Fatalf("offboarding: HTTP %d", off.status)
			}
			t.Logf("the offboarding answered %v after the reply in flight was let go", off.at.Sub(released).Round(time.Millisecond))
			st := <-reply
			written := hasMessage(t, one, admin, held, text)
			switch {
			case st == 201 && !written:
				t.Error("the reply answered 201 but is not in the conversation")
			case st == 201 && !off.replyExists:
				t.Error("the reply committed after the offboarding had answered")
			case (st == 401 || st == 403) && written:
				t.Errorf("the reply answered %d but was written", st)
			case st != 201 && st != 401 && st != 403:
				t.Errorf("the reply in flight: HTTP %d, want 201 or 401/403", st)
			case c.late && st != 401:
				t.Errorf("a reply sent while the offboarding was under way: HTTP %d, want 401", st)
			}

			// All three end promptly: the stream with its end event.
			select {
			case s := <-stream:
				if !s.ended {
					t.Errorf("the live stream closed without an end event (%v)", s.err)
				}
				d := s.at.Sub(off.at)
				t.Logf("the live stream ended %v after the offboarding answered", d.Round(time.Millisecond))
				if d > 3*time.Second {
					t.Errorf("the live stream ended %v after the offboarding", d)
				}
			case <-time.After(5 * time.Second):
				t.Error("the live stream is still open 5 s after the offboarding")
			}
			if poll != nil {
				select {
				case p := <-poll:
					if p.err != nil || (p.status == 200 && !p.isError) {
						t.Errorf("the long-poll ended with HTTP %d %v %s, want a refusal", p.status, p.err, p.text)
					}
					d := p.at.Sub(off.at)
					t.Logf("the long-poll answered %v after the offboarding answered", d.Round(time.Millisecond))
					if d > 3*time.Second {
						t.Errorf("the long-poll answered %v after the offboarding", d)
					}
				case <-time.After(5 * time.Second):
					t.Error("the long-poll still waits 5 s after the offboarding")
				}
			}

			// Every credential gets 401 on every replica.
			for _, base := range f.urls {
				mustCall(t, 401, "GET", base+"/api/v1/conversations", patToken, nil)
				if code, err := page(base+"/conversations", browser.session()); err != nil || code != http.StatusSeeOther {
					t.Errorf("Pat's session on %s: %d %v, want 303 to sign-in", base, code, err)
				}
				if code, err := page(base+"/live", browser.session()); err != nil || code != http.StatusUnauthorized {
					t.Errorf("Pat's live stream on %s: %d %v, want 401", base, code, err)
				}
				if appToken != "" {
					if code, _, err := tool(base, appToken, "list_inboxes", nil); err != nil || code != 401 {
						t.Errorf("Pat's app on %s: HTTP %d %v, want 401", base, code, err)
					}
				}
			}

			// Nothing else is lost: the conversation keeps Pat's message
			// and becomes unassigned; the audit keeps Pat's name.
			got := convOf(t, one, admin, mine)
			if got["assignee"] != nil {
				t.Errorf("Pat's open conversation is still assigned: %v", got["assignee"])
			}
			if !hasMessage(t, one, admin, mine, "On its way today.") {
				t.Error("Pat's earlier reply is gone")
			}
			adminPage := newBrowserClient(t, one)
			adminPage.signIn(adminEmail, "correct horse battery")
			if _, body := adminPage.get("/audit"); !strings.Contains(body, "Pat Leaving") {
				t.Error("the audit page no longer names Pat")
			}
		})
	}
}

// TestRevokingATokenEndsItsLongPoll: a token revoked on one replica ends
// the poll_events waiting on it on another at once, not when its wait is
// over.
func TestRevokingATokenEndsItsLongPoll(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two replicas")
	}
	f := startFleet(t, dbtest.AppURL(), 2)
	w := newWorkspace(t, f.urls[0])
	id, raw := w.token(t, 600)
	mustTool(t, f.urls[0], raw, "list_labels", nil)
	poll := make(chan pollResult, 1)
	go func() { poll <- longPoll(f.urls[0], raw) }()
	time.Sleep(500 * time.Millisecond) // the poll waits by now
	mustCall(t, 200, "DELETE", fmt.Sprintf("%s/api/v1/mcp/tokens/%d", f.urls[1], id), w.admin, nil)
	revoked := time.Now()
	select {
	case p := <-poll:
		if p.err != nil || (p.status == 200 && !p.isError) {
			t.Errorf("the long-poll ended with HTTP %d %v %s, want a refusal", p.status, p.err, p.text)
		}
		d := p.at.Sub(revoked)
		t.Logf("the long-poll answered %v after the revocation answered", d.Round(time.Millisecond))
		if d > 3*time.Second {
			t.Errorf("the long-poll answered %v after the revocation", d)
		}
	case <-time.After(5 * time.Second):
		t.Error("the long-poll still waits 5 s after its token was revoked")
	}
}

// hasMessage says whether a conversation has a message with content.
func hasMessage(t *testing.T, base, token string, id int64, content string) bool {
	t.Helper()
	out := mustCall(t, 200, "GET", fmt.Sprintf("%s/api/v1/conversations/%d", base, id), token, nil)
	msgs, _ := out["messages"].([]any)
	for _, m := range msgs {
		if m.(map[string]any)["content"] == content {
			return true
		}
	}
	return false
}

// session is the browser's console session cookie.
func (b *browserClient) session() string {
	u, _ := url.Parse(b.base)
	for _, c := range b.hc.Jar.Cookies(u) {
		if c.Name == "deskwoot_session" {
			return c.Value
		}
	}
	return ""
}

// streamEnd is how a live stream ended.
type streamEnd struct {
	ended bool // it sent its end event
	at    time.Time
	err   error
}

// openLive opens GET /live with the browser's session and returns once
// the stream answered; the channel reports its end.
func openLive(t *testing.T, b *browserClient) <-chan streamEnd {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/live", nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := (&http.Client{Jar: b.hc.Jar}).Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /live: %v %v", res, err)
	}
	done := make(chan streamEnd, 1)
	go func() {
		defer res.Body.Close()
		var s streamEnd
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if sc.Text() == "event: end" {
				s.ended = true
			}
		}
		s.at, s.err = time.Now(), sc.Err()
		done <- s
	}()
	return done
}

// pollResult is how an MCP long-poll answered.
type pollResult struct {
	status  int
	isError bool
	text    string
	at      time.Time
	err     error
}

// longPoll calls poll_events waiting up to 25 s for events.
func longPoll(base, token string) pollResult {
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call",
		"params": map[string]any{"name": "poll_events", "arguments": map[string]any{"wait_seconds": 25}}})
	req, _ := http.NewRequest(http.MethodPost, base+"/api/mcp", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return pollResult{err: err, at: time.Now()}
	}
	defer res.Body.Close()
	var out struct {
		Result map[string]any `json:"result"`
	}
	json.NewDecoder(res.Body).Decode(&out)
	return pollResult{status: res.StatusCode, isError: out.Result["isError"] == true, text: toolText(out.Result), at: time.Now()}
}

// connectApp connects an MCP client with OAuth as the signed-in admin
// (register, consent, code exchange) for one inbox and returns its
// access token.
func connectApp(t *testing.T, b *browserClient, base string, inbox int64) string {
	t.Helper()
	const redirect = "http://127.0.0.1:9/callback"
	reg := mustCall(t, 201, "POST", base+"/oauth/register", "", map[string]any{"client_name": "Pat's desktop app", "redirect_uris": []string{redirect},
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"}})
	client := reg["client_id"].(string)
	verifier := rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	form := url.Values{"response_type": {"code"}, "client_id": {client}, "redirect_uri": {redirect},
		"scope": {"conversations:read events:read"}, "state": {"state-12345"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}, "resource": {base + "/api/mcp"},
		"consent": {"allow"}, "scope_grant": {"conversations:read", "events:read"}, "inboxes": {"chosen"}, "inbox": {fmt.Sprint(inbox)}}
	st, loc, body := b.post("/oauth/authorize", form)
	u, err := url.Parse(loc)
	if st != http.StatusSeeOther && st != http.StatusFound || err != nil || u.Query().Get("code") == "" {
		t.Fatalf("consent: %d %q %s", st, loc, body)
	}
	tok := url.Values{"grant_type": {"authorization_code"}, "client_id": {client}, "code": {u.Query().Get("code")},
		"redirect_uri": {redirect}, "code_verifier": {verifier}, "resource": {base + "/api/mcp"}}
	res, err := http.PostForm(base+"/oauth/token", tok)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	access, _ := out["access_token"].(string)
	if res.StatusCode != 200 || access == "" {
		t.Fatalf("token exchange: %d %v", res.StatusCode, out)
	}
	return access
}

// heldLock is a conversation row the test holds locked, as a slow
// statement of another request would.
type heldLock struct {
	conn *pgx.Conn
	tx   pgx.Tx
	pid  uint32
}

func holdConversation(t *testing.T, acct, id int64) *heldLock {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbtest.AppURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	h := &heldLock{conn: conn, pid: conn.PgConn().PID()}
	if h.tx, err = conn.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	// The app role sees a conversation only in its tenant.
	if _, err := h.tx.Exec(ctx, `SELECT set_config('deskwoot.account_id', $1::bigint::text, true)`, acct); err != nil {
		t.Fatal(err)
	}
	if _, err := h.tx.Exec(ctx, `SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE`, id); err != nil {
		t.Fatal(err)
	}
	return h
}

// waitBlocked waits until n statements wait for the held lock.
func (h *heldLock) waitBlocked(t *testing.T, n int) {
	t.Helper()
	waitUntil(t, 10*time.Second, "a statement waiting on the held lock", func() bool {
		var waiting int
		err := h.tx.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, int(h.pid)).Scan(&waiting)
		return err == nil && waiting >= n
	})
}

// waitBehind waits until a statement waits for one that waits for the
// held lock.
func (h *heldLock) waitBehind(t *testing.T) {
	t.Helper()
	waitUntil(t, 10*time.Second, "a statement waiting behind the held lock's waiter", func() bool {
		var waiting int
		err := h.tx.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_activity b
			ON b.pid = ANY(pg_blocking_pids(a.pid)) WHERE $1 = ANY(pg_blocking_pids(b.pid))`, int(h.pid)).Scan(&waiting)
		return err == nil && waiting >= 1
	})
}

func (h *heldLock) release(t *testing.T) {
	t.Helper()
	if err := h.tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
}
