package api_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/server"
)

// TestMain: started as a sandbox child evaluating account rules, the test
// binary serves that and nothing else (policy.ServeSandboxIfChild).
func TestMain(m *testing.M) {
	policy.ServeSandboxIfChild()
	dbtest.Main(m)
}

// testInboundDomain is the test server's DESKWOOT_INBOUND_DOMAIN.
const testInboundDomain = "in.deskwoot.test"

// testAuditKey signs the test server's audit checkpoints.
var _, testAuditKey, _ = ed25519.GenerateKey(rand.Reader)

var (
	srvOnce sync.Once
	srvURL  string
	srvErr  error
)

// base builds the whole server once per package and serves it over real HTTP.
func base(t *testing.T) string {
	t.Helper()
	srvOnce.Do(func() {
		app, err := server.Build(context.Background(), server.Config{AppDatabaseURL: dbtest.AppURL(), PublicURL: "http://127.0.0.1",
			InboundDomain: testInboundDomain, SignupsPerHour: 1_000_000, AuditSigningKey: testAuditKey})
		if err != nil {
			srvErr = err
			return
		}
		// The server lives for the whole test process; TestMain's exit ends it.
		srvURL = httptest.NewServer(app.Handler).URL
	})
	if srvErr != nil {
		t.Fatalf("server.Build: %v", srvErr)
	}
	return srvURL
}

// obj is a decoded JSON object.
type obj = map[string]any

type resp struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   obj
}

// call sends one request. body is marshalled unless it is a string or []byte,
// which are sent as is.
func call(t *testing.T, method, path, token string, body any) resp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, base(t)+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := resp{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			t.Fatalf("%s %s: response is not a JSON object: %v\n%s", method, path, err, raw)
		}
	}
	return r
}

// want asserts the status and returns the body.
func want(t *testing.T, r resp, status int) obj {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Raw)
	}
	return r.Body
}

// wantErr asserts the status and the error shape with its code, and returns the message.
func wantErr(t *testing.T, r resp, status int, code string) string {
	t.Helper()
	b := want(t, r, status)
	e, ok := b["error"].(obj)
	if !ok {
		t.Fatalf("no error object in %s", r.Raw)
	}
	if e["code"] != code {
		t.Fatalf("error code %v, want %s; body %s", e["code"], code, r.Raw)
	}
	msg, _ := e["message"].(string)
	if msg == "" {
		t.Fatalf("error without a message: %s", r.Raw)
	}
	if len(b) != 1 || len(e) != 2 {
		t.Fatalf("error body has extra fields: %s", r.Raw)
	}
	return msg
}

func id(t *testing.T, v any) int64 {
	t.Helper()
	f, ok := v.(float64)
	if !ok || f <= 0 || f != float64(int64(f)) {
		t.Fatalf("not a positive integer id: %#v", v)
	}
	return int64(f)
}

func str(t *testing.T, v any) string {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Fatalf("not a string: %#v", v)
	}
	return s
}

func list(t *testing.T, b obj, key string) []obj {
	t.Helper()
	raw, ok := b[key].([]any)
	if !ok {
		t.Fatalf("%q is not an array in %v", key, b)
	}
	out := make([]obj, len(raw))
	for i, v := range raw {
		out[i], ok = v.(obj)
		if !ok {
			t.Fatalf("%q[%d] is not an object: %#v", key, i, v)
		}
	}
	return out
}

type tenant struct {
	Email     string
	Token     string
	AccountID int64
	UserID    int64
}

func uniqueEmail() string { return dbtest.Unique("x") + "@example.com" }

func signup(t *testing.T) tenant {
	t.Helper()
	email := uniqueEmail()
	b := want(t, call(t, "POST", "/api/v1/signup", "", obj{"account_name": "Acme " + email, "email": email, "password": "correct horse battery"}), 201)
	acct, user := b["account"].(obj), b["user"].(obj)
	return tenant{Email: email, Token: str(t, b["api_token"]), AccountID: id(t, acct["id"]), UserID: id(t, user["id"])}
}

func createInbox(t *testing.T, token string) int64 {
	t.Helper()
	b := want(t, call(t, "POST", "/api/v1/inboxes", token, obj{"name": "Support " + dbtest.Unique("i"), "channel": "api", "settings": obj{}}), 201)
	return id(t, b["id"])
}

func incoming(t *testing.T, token string, inbox int64, email, content, source string) resp {
	t.Helper()
	return call(t, "POST", fmt.Sprintf("/api/v1/inboxes/%d/messages", inbox), token,
		obj{"contact": obj{"email": email, "name": "Customer"}, "content": content, "source_id": source})
}

// newConversation posts one incoming message from a new contact and returns its ids.
func newConversation(t *testing.T, token string, inbox int64) (conv, msg, contact int64) {
	t.Helper()
	b := want(t, incoming(t, token, inbox, uniqueEmail(), "my order is late", dbtest.Unique("src")), 201)
	return id(t, b["conversation_id"]), id(t, b["message_id"]), id(t, b["contact_id"])
}

func conversationIDs(t *testing.T, token, query string) []int64 {
	t.Helper()
	b := want(t, call(t, "GET", "/api/v1/conversations"+query, token, nil), 200)
	var out []int64
	for _, c := range list(t, b, "conversations") {
		out = append(out, id(t, c["id"]))
	}
	return out
}

func createAgent(t *testing.T, adminToken string) (userID int64, token string) {
	t.Helper()
	b := want(t, call(t, "POST", "/api/v1/users", adminToken, obj{"email": uniqueEmail(), "name": "Agent", "password": "agent password 1", "role": "agent"}), 201)
	u := b["user"].(obj)
	if u["role"] != "agent" {
		t.Fatalf("user role %v, want agent", u["role"])
	}
	tok := str(t, b["api_token"])
	if !strings.HasPrefix(tok, "dw_usr_") {
		t.Fatalf("agent token %q lacks dw_usr_", tok)
	}
	return id(t, u["id"]), tok
}

func TestHealth(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"/healthz", "/readyz"} {
		b := want(t, call(t, "GET", p, "", nil), 200)
		if b["status"] == nil {
			t.Errorf("%s: no status in %v", p, b)
		}
	}
}

func TestSignup(t *testing.T) {
	t.Parallel()
	email := uniqueEmail()
	before := time.Now()
	r := call(t, "POST", "/api/v1/signup", "", obj{"account_name": "Acme", "email": email, "password": "correct horse battery"})
	b := want(t, r, 201)
	acct, ok := b["account"].(obj)
	if !ok {
		t.Fatalf("no account: %s", r.Raw)
	}
	id(t, acct["id"])
	if acct["name"] != "Acme" || acct["plan"] != "enterprise" || acct["subscription_status"] != "trialing" {
		t.Errorf("account %v", acct)
	}
	trial, err := time.Parse(time.RFC3339, str(t, acct["trial_ends_at"]))
	if err != nil {
		t.Fatal(err)
	}
	if d := trial.Sub(before); d < 168*time.Hour-time.Minute || d > 168*time.Hour+time.Minute {
		t.Errorf("trial ends %v after signup, want 168h", d)
	}
	user, ok := b["user"].(obj)
	if !ok {
		t.Fatalf("no user: %s", r.Raw)
	}
	id(t, user["id"])
	if user["email"] != email {
		t.Errorf("user email %v, want %s", user["email"], email)
	}
	tok := str(t, b["api_token"])
	if !strings.HasPrefix(tok, "dw_usr_") || len(tok) < 20 {
		t.Errorf("api_token %q", tok)
	}
	// The token works.
	got := want(t, call(t, "GET", "/api/v1/account", tok, nil), 200)
	if id(t, got["account"].(obj)["id"]) != id(t, acct["id"]) {
		t.Errorf("GET /account = %v", got)
	}

	// Same email again, even in another case of the account name.
	msg := wantErr(t, call(t, "POST", "/api/v1/signup", "", obj{"account_name": "Other", "email": email, "password": "another password"}), 409, "conflict")
	if !strings.Contains(msg, email) {
		t.Errorf("conflict message %q does not name the email", msg)
	}

	for name, body := range map[string]obj{
		"bad email":      {"account_name": "A", "email": "not-an-email", "password": "correct horse battery"},
		"short password": {"account_name": "A", "email": uniqueEmail(), "password": "short"},
		"no name":        {"account_name": "", "email": uniqueEmail(), "password": "correct horse battery"},
	} {
		t.Run(name, func(t *testing.T) {
			wantErr(t, call(t, "POST", "/api/v1/signup", "", body), 400, "bad_request")
		})
	}
}

func TestInboxes(t *testing.T) {
	t.Parallel()
	a := signup(t)
	r := call(t, "POST", "/api/v1/inboxes", a.Token, obj{"name": "Support", "channel": "api", "settings": obj{}})
	b := want(t, r, 201)
	ib := id(t, b["id"])
	if b["name"] != "Support" || b["channel"] != "api" {
		t.Errorf("inbox %s", r.Raw)
	}
	lb := want(t, call(t, "GET", "/api/v1/inboxes", a.Token, nil), 200)
	if v, ok := lb["next_cursor"]; !ok || v != nil {
		t.Errorf("next_cursor %v (present %v), want null", v, ok)
	}
	ibs := list(t, lb, "inboxes")
	if len(ibs) != 1 || id(t, ibs[0]["id"]) != ib {
		t.Errorf("inboxes %v, want just %d", ibs, ib)
	}

	msg := wantErr(t, call(t, "POST", "/api/v1/inboxes", a.Token, obj{"name": "X", "channel": "pigeon", "settings": obj{}}), 400, "bad_request")
	if !strings.Contains(msg, "channel") {
		t.Errorf("message %q does not name channel", msg)
	}
	wantErr(t, call(t, "POST", "/api/v1/inboxes", a.Token, obj{"name": "", "channel": "api"}), 400, "bad_request")
	// Nothing was written by the failures.
	if n := len(list(t, want(t, call(t, "GET", "/api/v1/inboxes", a.Token, nil), 200), "inboxes")); n != 1 {
		t.Errorf("%d inboxes after failed creates, want 1", n)
	}
	// Another account sees none of them.
	o := signup(t)
	if n := len(list(t, want(t, call(t, "GET", "/api/v1/inboxes", o.Token, nil), 200), "inboxes")); n != 0 {
		t.Errorf("another account sees %d inboxes", n)
	}
}

// TestInboxSettings: admins set a webhook URL and secret after creation;
// the secret is never shown back; bad settings and agents are refused.
func TestInboxSettings(t *testing.T) {
	t.Parallel()
	a := signup(t)
	ib := createInbox(t, a.Token)
	path := fmt.Sprintf("/api/v1/inboxes/%d", ib)
	b := want(t, call(t, "PATCH", path, a.Token, obj{"settings": obj{"webhook_url": "https://hooks.example.com/desk", "webhook_secret": "s3cret"}}), 200)
	settings := b["settings"].(obj)
	if settings["webhook_url"] != "https://hooks.example.com/desk" || settings["webhook_secret"] != "********" {
		t.Fatalf("settings after update: %v", settings)
	}
	for _, ibx := range list(t, want(t, call(t, "GET", "/api/v1/inboxes", a.Token, nil), 200), "inboxes") {
		if strings.Contains(fmt.Sprint(ibx), "s3cret") {
			t.Fatalf("inbox list shows the secret: %v", ibx)
		}
	}
	wantErr(t, call(t, "PATCH", path, a.Token, obj{"settings": obj{"webhook_url": "ftp://nope"}}), 400, "bad_request")
	b = want(t, call(t, "PATCH", path, a.Token, obj{"name": "Renamed", "settings": obj{"webhook_secret": nil}}), 200)
	if b["name"] != "Renamed" || b["settings"].(obj)["webhook_secret"] != nil || b["settings"].(obj)["webhook_url"] == nil {
		t.Fatalf("rename and secret removal: %v", b)
	}
	_, agent := createAgent(t, a.Token)
	wantErr(t, call(t, "PATCH", path, agent, obj{"name": "x"}), 403, "forbidden")
	o := signup(t)
	wantErr(t, call(t, "PATCH", path, o.Token, obj{"name": "x"}), 404, "not_found")
}

func TestIncomingMessages(t *testing.T) {
	t.Parallel()
	a := signup(t)
	ib := createInbox(t, a.Token)
	email := uniqueEmail()
	path := fmt.Sprintf("/api/v1/inboxes/%d/messages", ib)

	first := want(t, incoming(t, a.Token, ib, email, "hello, my order is late", "src-1"), 201)
	conv, msgID, contact := id(t, first["conversation_id"]), id(t, first["message_id"]), id(t, first["contact_id"])

	// The same source_id: 200 with the same ids, nothing new.
	again := want(t, incoming(t, a.Token, ib, email, "hello, my order is late", "src-1"), 200)
	if id(t, again["conversation_id"]) != conv || id(t, again["message_id"]) != msgID || id(t, again["contact_id"]) != contact {
		t.Errorf("repeat answered %v, want %v", again, first)
	}
	view := want(t, call(t, "GET", fmt.Sprintf("/api/v1/conversations/%d", conv), a.Token, nil), 200)
	if n := len(list(t, view, "messages")); n != 1 {
		t.Fatalf("%d messages after a repeated source_id, want 1", n)
	}

	// A new source_id from the same contact continues the conversation.
	second := want(t, incoming(t, a.Token, ib, email, "any news?", "src-2"), 201)
	if id(t, second["conversation_id"]) != conv || id(t, second["contact_id"]) != contact || id(t, second["message_id"]) == msgID {
		t.Errorf("second message %v, want conversation %d contact %d and a new message", second, conv, contact)
	}
	// The email matches case-insensitively.
	third := want(t, incoming(t, a.Token, ib, strings.ToUpper(email), "hello again", "src-3"), 201)
	if id(t, third["conversation_id"]) != conv {
		t.Errorf("upper-case email started conversation %v, want %d", third["conversation_id"], conv)
	}
	view = want(t, call(t, "GET", fmt.Sprintf("/api/v1/conversations/%d", conv), a.Token, nil), 200)
	msgs := list(t, view, "messages")
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want 3", len(msgs))
	}
	for _, m := range msgs {
		if m["type"] != "incoming" || m["sender"].(obj)["kind"] != "contact" {
			t.Errorf("message %v, want incoming from the contact", m)
		}
	}

	// An identifier-based contact.
	ident := dbtest.Unique("cust")
	r := call(t, "POST", path, a.Token, obj{"contact": obj{"identifier": ident, "name": "Ident"}, "content": "hi", "source_id": "i-1"})
	ib1 := want(t, r, 201)
	if id(t, ib1["contact_id"]) == contact || id(t, ib1["conversation_id"]) == conv {
		t.Errorf("identifier contact reused the email contact: %s", r.Raw)
	}
	ib2 := want(t, call(t, "POST", path, a.Token, obj{"contact": obj{"identifier": ident}, "content": "again", "source_id": "i-2"}), 201)
	if ib2["contact_id"] != ib1["contact_id"] || ib2["conversation_id"] != ib1["conversation_id"] {
		t.Errorf("identifier contact not continued: %v vs %v", ib2, ib1)
	}
	// Without a source_id each post is a new message.
	n1 := want(t, call(t, "POST", path, a.Token, obj{"contact": obj{"identifier": ident}, "content": "x"}), 201)
	n2 := want(t, call(t, "POST", path, a.Token, obj{"contact": obj{"identifier": ident}, "content": "x"}), 201)
	if n1["message_id"] == n2["message_id"] {
		t.Errorf("two posts without source_id gave one message")
	}

	before := conversationIDs(t, a.Token, "?limit=100")

	// Unknown inbox.
	wantErr(t, incoming(t, a.Token, 999999999999, uniqueEmail(), "hi", "u-1"), 404, "not_found")
	wantErr(t, call(t, "POST", "/api/v1/inboxes/abc/messages", a.Token, obj{"contact": obj{"email": uniqueEmail()}, "content": "hi"}), 404, "not_found")
	// Another account's inbox is unknown here.
	o := signup(t)
	wantErr(t, incoming(t, o.Token, ib, uniqueEmail(), "hi", "u-2"), 404, "not_found")

	// Missing contact, bad email, empty content.
	msg := wantErr(t, call(t, "POST", path, a.Token, obj{"contact": obj{"name": "Nobody"}, "content": "hi", "source_id": "b-1"}), 400, "bad_request")
	if !strings.Contains(msg, "email") || !strings.Contains(msg, "identifier") {
		t.Errorf("message %q should say an email or identifier is needed", msg)
	}
	wantErr(t, call(t, "POST", path, a.Token, obj{"contact": obj{"email": "nope"}, "content": "hi"}), 400, "bad_request")
	wantErr(t, call(t, "POST", path, a.Token, obj{"contact": obj{"email": uniqueEmail()}, "content": "   "}), 400, "bad_request")
	wantErr(t, call(t, "POST", path, a.Token, obj{"contact": obj{"email": uniqueEmail()}, "content": "hi", "extra": 1}), 400, "bad_request")

	// Nothing half-written: no conversation appeared.
	after := conversationIDs(t, a.Token, "?limit=100")
	if len(after) != len(before) {
		t.Errorf("conversations %d → %d after failed incoming messages", len(before), len(after))
	}
	if got := conversationIDs(t, o.Token, ""); len(got) != 0 {
		t.Errorf("other account has conversations %v", got)
	}
}

func TestConversations(t *testing.T) {
	t.Parallel()
	a := signup(t)
	ib1, ib2 := createInbox(t, a.Token), createInbox(t, a.Token)
	const n = 7
	made := map[int64]bool{}
	for i := 0; i < n; i++ {
		c, _, _ := newConversation(t, a.Token, ib1)
		if made[c] {
			t.Fatalf("conversation %d made twice", c)
		}
		made[c] = true
	}
	other, _, _ := newConversation(t, a.Token, ib2)

	// Filters.
	if got := conversationIDs(t, a.Token, fmt.Sprintf("?inbox_id=%d", ib2)); len(got) != 1 || got[0] != other {
		t.Errorf("inbox_id filter gave %v, want [%d]", got, other)
	}
	if got := conversationIDs(t, a.Token, fmt.Sprintf("?inbox_id=%d&limit=100", ib1)); len(got) != n {
		t.Errorf("inbox_id filter gave %d, want %d", len(got), n)
	}
	if got := conversationIDs(t, a.Token, "?status=open&limit=100"); len(got) != n+1 {
		t.Errorf("status=open gave %d, want %d", len(got), n+1)
	}
	if got := conversationIDs(t, a.Token, "?status=resolved"); len(got) != 0 {
		t.Errorf("status=resolved gave %v", got)
	}
	wantErr(t, call(t, "GET", "/api/v1/conversations?status=bogus", a.Token, nil), 400, "bad_request")
	wantErr(t, call(t, "GET", "/api/v1/conversations?inbox_id=x", a.Token, nil), 400, "bad_request")
	wantErr(t, call(t, "GET", "/api/v1/conversations?limit=101", a.Token, nil), 400, "bad_request")
	wantErr(t, call(t, "GET", "/api/v1/conversations?limit=-1", a.Token, nil), 400, "bad_request")

	// Default page: everything fits, next_cursor null.
	b := want(t, call(t, "GET", "/api/v1/conversations", a.Token, nil), 200)
	if v, ok := b["next_cursor"]; !ok || v != nil {
		t.Errorf("next_cursor %v (present %v), want null", v, ok)
	}
	if cs := list(t, b, "conversations"); len(cs) != n+1 {
		t.Errorf("%d conversations, want %d", len(cs), n+1)
	} else {
		c := cs[0]
		for _, k := range []string{"id", "inbox_id", "status", "contact", "last_activity_at"} {
			if _, ok := c[k]; !ok {
				t.Errorf("conversation summary lacks %q: %v", k, c)
			}
		}
	}

	// Cursor paging: walk next_cursor until null.
	const limit = 3
	seen := map[int64]bool{}
	cursor, pages := "", 0
	var lastAt string
	for {
		q := fmt.Sprintf("?inbox_id=%d&limit=%d", ib1, limit)
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		b := want(t, call(t, "GET", "/api/v1/conversations"+q, a.Token, nil), 200)
		pages++
		cs := list(t, b, "conversations")
		if len(cs) > limit {
			t.Fatalf("page of %d, limit %d", len(cs), limit)
		}
		for _, c := range cs {
			cid := id(t, c["id"])
			if seen[cid] {
				t.Fatalf("conversation %d seen twice", cid)
			}
			seen[cid] = true
			at := str(t, c["last_activity_at"])
			if lastAt != "" {
				t1, _ := time.Parse(time.RFC3339Nano, lastAt)
				t2, _ := time.Parse(time.RFC3339Nano, at)
				if t2.After(t1) {
					t.Errorf("not most recent first: %s after %s", at, lastAt)
				}
			}
			lastAt = at
		}
		nc, present := b["next_cursor"]
		if !present {
			t.Fatal("next_cursor missing")
		}
		if nc == nil {
			break
		}
		cursor = str(t, nc)
		if len(cs) != limit {
			t.Fatalf("short page %d with a next_cursor", len(cs))
		}
		if pages > n {
			t.Fatal("paging does not end")
		}
	}
	if pages != (n+limit-1)/limit {
		t.Errorf("%d pages, want %d", pages, (n+limit-1)/limit)
	}
	for c := range made {
		if !seen[c] {
			t.Errorf("conversation %d never seen while paging", c)
		}
	}
	if len(seen) != n {
		t.Errorf("saw %d conversations, want %d", len(seen), n)
	}

	// Forged cursors: not base64, wrong version tag, a non-numeric time, id 0.
	for _, c := range []string{"garbage!", "Yzk6MTAwOjE", "YzE6YWJjOjE", "YzE6MTow", "%00"} {
		msg := wantErr(t, call(t, "GET", "/api/v1/conversations?cursor="+c, a.Token, nil), 400, "bad_request")
		if !strings.Contains(msg, "cursor") {
			t.Errorf("message %q does not name the cursor", msg)
		}
	}

	// One conversation.
	var conv int64
	for c := range made {
		conv = c
		break
	}
	r := call(t, "GET", fmt.Sprintf("/api/v1/conversations/%d", conv), a.Token, nil)
	v := want(t, r, 200)
	cv, ok := v["conversation"].(obj)
	if !ok || id(t, cv["id"]) != conv || id(t, cv["inbox_id"]) != ib1 || cv["status"] != "open" {
		t.Errorf("conversation view %s", r.Raw)
	}
	if ct, ok := cv["contact"].(obj); !ok || ct["email"] == nil {
		t.Errorf("contact %v lacks an email", cv["contact"])
	}
	msgs := list(t, v, "messages")
	if len(msgs) != 1 || msgs[0]["content"] != "my order is late" {
		t.Errorf("messages %v", msgs)
	}
	if nc, ok := v["next_cursor"]; !ok || nc != nil {
		t.Errorf("next_cursor %v (present %v), want null", nc, ok)
	}
	wantErr(t, call(t, "GET", "/api/v1/conversations/999999999999", a.Token, nil), 404, "not_found")
	wantErr(t, call(t, "GET", "/api/v1/conversations/abc", a.Token, nil), 404, "not_found")
	wantErr(t, call(t, "GET", fmt.Sprintf("/api/v1/conversations/%d?messages_cursor=forged", conv), a.Token, nil), 400, "bad_request")
}

func TestReplies(t *testing.T) {
	t.Parallel()
	a := signup(t)
	ib := createInbox(t, a.Token)
	conv, _, _ := newConversation(t, a.Token, ib)
	path := fmt.Sprintf("/api/v1/conversations/%d/messages", conv)

	r := call(t, "POST", path, a.Token, obj{"content": "We are on it.", "private": false})
	m, ok := want(t, r, 201)["message"].(obj)
	if !ok {
		t.Fatalf("no message in %s", r.Raw)
	}
	id(t, m["id"])
	if m["type"] != "outgoing" || m["private"] != false || m["content"] != "We are on it." || id(t, m["conversation_id"]) != conv {
		t.Errorf("reply %s", r.Raw)
	}
	if s := m["sender"].(obj); s["kind"] != "user" || id(t, s["id"]) != a.UserID {
		t.Errorf("sender %v, want user %d", s, a.UserID)
	}

	r = call(t, "POST", path, a.Token, obj{"content": "VIP customer", "private": true})
	m = want(t, r, 201)["message"].(obj)
	if m["type"] != "note" || m["private"] != true || m["sender"].(obj)["kind"] != "user" {
		t.Errorf("note %s", r.Raw)
	}

	wantErr(t, call(t, "POST", path, a.Token, obj{"content": ""}), 400, "bad_request")
	wantErr(t, call(t, "POST", "/api/v1/conversations/999999999999/messages", a.Token, obj{"content": "hi"}), 404, "not_found")

	msgs := list(t, want(t, call(t, "GET", fmt.Sprintf("/api/v1/conversations/%d", conv), a.Token, nil), 200), "messages")
	types := map[string]int{}
	for _, m := range msgs {
		types[m["type"].(string)]++
	}
	if len(msgs) != 3 || types["incoming"] != 1 || types["outgoing"] != 1 || types["note"] != 1 {
		t.Errorf("messages by type %v", types)
	}
}

func TestRequestErrors(t *testing.T) {
	t.Parallel()
	a := signup(t)
	ib := createInbox(t, a.Token)
	conv, _, _ := newConversation(t, a.Token, ib)
	reply := fmt.Sprintf("/api/v1/conversations/%d/messages", conv)
	before := len(list(t, want(t, call(t, "GET", fmt.Sprintf("/api/v1/conversations/%d", conv), a.Token, nil), 200), "messages"))

	// Over 1 MiB.
	big := `{"content":"` + strings.Repeat("a", 1<<20+10) + `"}`
	wantErr(t, call(t, "POST", reply, a.Token, big), 413, "payload_too_large")

	msg := wantErr(t, call(t, "POST", reply, a.Token, `{"content": "hi",`), 400, "bad_request")
	if !strings.Contains(strings.ToLower(msg), "json") {
		t.Errorf("malformed JSON message %q does not say JSON", msg)
	}
	msg = wantErr(t, call(t, "POST", reply, a.Token, `{"content" "hi"}`), 400, "bad_request")
	if !strings.Contains(msg, "malformed JSON") {
		t.Errorf("syntax error message %q", msg)
	}
	msg = wantErr(t, call(t, "POST", reply, a.Token, `{"content": 5}`), 400, "bad_request")
	if !strings.Contains(msg, "content") {
		t.Errorf("type error message %q does not name the field", msg)
	}
	msg = wantErr(t, call(t, "POST", reply, a.Token, `{"content": "hi", "sneaky": true}`), 400, "bad_request")
	if !strings.Contains(msg, "sneaky") {
		t.Errorf("unknown field message %q does not name the field", msg)
	}
	wantErr(t, call(t, "POST", reply, a.Token, ``), 400, "bad_request")
	wantErr(t, call(t, "POST", reply, a.Token, `{"content":"a"} {"content":"b"}`), 400, "bad_request")

	// Nothing was written by any of those.
	after := len(list(t, want(t, call(t, "GET", fmt.Sprintf("/api/v1/conversations/%d", conv), a.Token, nil), 200), "messages"))
	if after != before {
		t.Errorf("messages %d → %d after rejected requests", before, after)
	}

	// Authentication.
	r := call(t, "GET", "/api/v1/conversations", "", nil)
	wantErr(t, r, 401, "unauthorized")
	if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
	}
	r = call(t, "GET", "/api/v1/conversations", "dw_usr_notarealtoken", nil)
	wantErr(t, r, 401, "unauthorized")
	if r.Header.Get("WWW-Authenticate") == "" {
		t.Error("no WWW-Authenticate on a bad token")
	}
	wantErr(t, call(t, "POST", reply, "", obj{"content": "hi"}), 401, "unauthorized")

	// Unknown routes and methods keep the error shape.
	wantErr(t, call(t, "GET", "/api/v1/nope", a.Token, nil), 404, "not_found")
	wantErr(t, call(t, "DELETE", "/api/v1/conversations", a.Token, nil), 405, "method_not_allowed")

	// Another account cannot read or write this account's conversation.
	o := signup(t)
	wantErr(t, call(t, "GET", fmt.Sprintf("/api/v1/conversations/%d", conv), o.Token, nil), 404, "not_found")
	wantErr(t, call(t, "POST", reply, o.Token, obj{"content": "hijack"}), 404, "not_found")
	if got := conversationIDs(t, o.Token, ""); len(got) != 0 {
		t.Errorf("another account lists %v", got)
	}
	wantErr(t, call(t, "POST", fmt.Sprintf("/api/v1/inboxes/%d/members", ib), o.Token, obj{"user_id": o.UserID}), 404, "not_found")
}

func TestAgents(t *testing.T) {
	t.Parallel()
	a := signup(t)
	ib := createInbox(t, a.Token)
	ib2 := createInbox(t, a.Token)
	conv, _, _ := newConversation(t, a.Token, ib)
	conv2, _, _ := newConversation(t, a.Token, ib2)
	agentID, agent := createAgent(t, a.Token)

	wantErr(t, call(t, "POST", "/api/v1/inboxes", agent, obj{"name": "Mine", "channel": "api", "settings": obj{}}), 403, "forbidden")
	wantErr(t, call(t, "POST", "/api/v1/users", agent, obj{"email": uniqueEmail(), "name": "X", "password": "some password", "role": "admin"}), 403, "forbidden")
	wantErr(t, call(t, "POST", fmt.Sprintf("/api/v1/inboxes/%d/members", ib), agent, obj{"user_id": agentID}), 403, "forbidden")

	// Not a member of anything: sees nothing.
	if got := conversationIDs(t, agent, ""); len(got) != 0 {
		t.Errorf("agent without inboxes sees %v", got)
	}
	if ibs := list(t, want(t, call(t, "GET", "/api/v1/inboxes", agent, nil), 200), "inboxes"); len(ibs) != 0 {
		t.Errorf("agent without inboxes sees inboxes %v", ibs)
	}
	wantErr(t, call(t, "GET", fmt.Sprintf("/api/v1/conversations/%d", conv), agent, nil), 404, "not_found")
	wantErr(t, call(t, "POST", fmt.Sprintf("/api/v1/conversations/%d/messages", conv), agent, obj{"content": "hi"}), 404, "not_found")

	// Added to one inbox: sees exactly its conversations.
	b := want(t, call(t, "POST", fmt.Sprintf("/api/v1/inboxes/%d/members", ib), a.Token, obj{"user_id": agentID}), 200)
	if id(t, b["inbox_id"]) != ib || id(t, b["user_id"]) != agentID {
		t.Errorf("member add answered %v", b)
	}
	// Adding twice is harmless.
	want(t, call(t, "POST", fmt.Sprintf("/api/v1/inboxes/%d/members", ib), a.Token, obj{"user_id": agentID}), 200)
	if got := conversationIDs(t, agent, ""); len(got) != 1 || got[0] != conv {
		t.Errorf("agent sees %v, want [%d]", got, conv)
	}
	if ibs := list(t, want(t, call(t, "GET", "/api/v1/inboxes", agent, nil), 200), "inboxes"); len(ibs) != 1 || id(t, ibs[0]["id"]) != ib {
		t.Errorf("agent sees inboxes %v, want [%d]", ibs, ib)
	}
	want(t, call(t, "GET", fmt.Sprintf("/api/v1/conversations/%d", conv), agent, nil), 200)
	wantErr(t, call(t, "GET", fmt.Sprintf("/api/v1/conversations/%d", conv2), agent, nil), 404, "not_found")
	m := want(t, call(t, "POST", fmt.Sprintf("/api/v1/conversations/%d/messages", conv), agent, obj{"content": "Agent here"}), 201)["message"].(obj)
	if s := m["sender"].(obj); s["kind"] != "user" || id(t, s["id"]) != agentID {
		t.Errorf("agent reply sender %v", s)
	}
	// The admin still sees both.
	if got := conversationIDs(t, a.Token, ""); len(got) != 2 {
		t.Errorf("admin sees %v, want 2", got)
	}

	// Bad member adds.
	wantErr(t, call(t, "POST", "/api/v1/inboxes/999999999999/members", a.Token, obj{"user_id": agentID}), 404, "not_found")
	o := signup(t)
	wantErr(t, call(t, "POST", fmt.Sprintf("/api/v1/inboxes/%d/members", ib), a.Token, obj{"user_id": o.UserID}), 404, "not_found")

	// Duplicate user email.
	wantErr(t, call(t, "POST", "/api/v1/users", a.Token, obj{"email": a.Email, "name": "Dup", "password": "agent password 1", "role": "agent"}), 409, "conflict")
	wantErr(t, call(t, "POST", "/api/v1/users", a.Token, obj{"email": uniqueEmail(), "name": "X", "password": "agent password 1", "role": "root"}), 400, "bad_request")
}

// mcpCall posts a JSON-RPC tools/list to /api/mcp with the token.
func mcpCall(t *testing.T, token string) resp {
	t.Helper()
	req, err := http.NewRequest("POST", base(t)+"/api/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return resp{Status: res.StatusCode, Header: res.Header, Raw: raw}
}

func TestMCPAdmin(t *testing.T) {
	t.Parallel()
	a := signup(t)
	ib := createInbox(t, a.Token)
	_, agent := createAgent(t, a.Token)

	g := want(t, call(t, "GET", "/api/v1/settings/mcp", a.Token, nil), 200)
	if g["enabled"] != false || g["url"] != "http://127.0.0.1/api/mcp" {
		t.Errorf("settings before enabling %v", g)
	}
	b := want(t, call(t, "PUT", "/api/v1/settings/mcp", a.Token, obj{"enabled": true}), 200)
	if b["enabled"] != true || b["service_user_id"] == nil {
		t.Errorf("enable answered %v", b)
	}
	wantErr(t, call(t, "PUT", "/api/v1/settings/mcp", a.Token, obj{}), 400, "bad_request")
	if acct := want(t, call(t, "GET", "/api/v1/account", a.Token, nil), 200)["account"].(obj); acct["mcp_enabled"] != true {
		t.Errorf("account after enabling %v", acct)
	}

	r := call(t, "POST", "/api/v1/mcp/tokens", a.Token, obj{"name": "bot", "preset": "read_only"})
	tk := want(t, r, 201)
	raw := str(t, tk["token"])
	if !strings.HasPrefix(raw, "dw_mcp_") {
		t.Errorf("token %q lacks dw_mcp_", raw)
	}
	tokID := id(t, tk["id"])
	var scopes []string
	for _, s := range tk["scopes"].([]any) {
		scopes = append(scopes, s.(string))
	}
	if strings.Join(scopes, ",") != "contacts:read,conversations:read,events:read,helpcenter:read" {
		t.Errorf("read_only scopes %v", scopes)
	}
	if tk["name"] != "bot" || tk["inbox_ids"] != nil || tk["revoked_at"] != nil {
		t.Errorf("token %s", r.Raw)
	}

	// Preset and scopes together: the union; inbox_ids of this account.
	tk2 := want(t, call(t, "POST", "/api/v1/mcp/tokens", a.Token, obj{"name": "bot2", "preset": "read_only", "scopes": []string{"conversations:reply"},
		"inbox_ids": []int64{ib}, "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}), 201)
	if n := len(tk2["scopes"].([]any)); n != 5 {
		t.Errorf("union has %d scopes, want 5: %v", n, tk2["scopes"])
	}
	if ids := tk2["inbox_ids"].([]any); len(ids) != 1 || id(t, ids[0]) != ib {
		t.Errorf("inbox_ids %v", ids)
	}

	// Bad token requests.
	o := signup(t)
	oib := createInbox(t, o.Token)
	for name, body := range map[string]any{
		"unknown scope":    obj{"name": "x", "scopes": []string{"nope"}},
		"unknown preset":   obj{"name": "x", "preset": "god_mode"},
		"no scopes":        obj{"name": "x"},
		"no name":          obj{"preset": "read_only"},
		"empty inbox_ids":  obj{"name": "x", "preset": "read_only", "inbox_ids": []int64{}},
		"foreign inbox":    obj{"name": "x", "preset": "read_only", "inbox_ids": []int64{oib}},
		"past expires_at":  obj{"name": "x", "preset": "read_only", "expires_at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)},
		"negative rate":    obj{"name": "x", "preset": "read_only", "rate_limit_per_minute": -1},
		"huge rate":        obj{"name": "x", "preset": "read_only", "rate_limit_per_minute": 60001},
		"unknown field":    obj{"name": "x", "preset": "read_only", "admin": true},
		"bad expires_at":   obj{"name": "x", "preset": "read_only", "expires_at": "tomorrow"},
		"string inbox_ids": obj{"name": "x", "preset": "read_only", "inbox_ids": "all"},
	} {
		t.Run(name, func(t *testing.T) {
			msg := wantErr(t, call(t, "POST", "/api/v1/mcp/tokens", a.Token, body), 400, "bad_request")
			if name == "unknown scope" && !strings.Contains(msg, "nope") {
				t.Errorf("message %q does not name the scope", msg)
			}
		})
	}

	// The list never holds a raw token.
	lr := call(t, "GET", "/api/v1/mcp/tokens", a.Token, nil)
	lb := want(t, lr, 200)
	toks := list(t, lb, "tokens")
	if len(toks) != 2 {
		t.Errorf("%d tokens listed, want 2 (failed creates write nothing): %s", len(toks), lr.Raw)
	}
	if bytes.Contains(lr.Raw, []byte(raw)) || bytes.Contains(lr.Raw, []byte(str(t, tk2["token"]))) || bytes.Contains(lr.Raw, []byte(`"token"`)) {
		t.Errorf("token list leaks a raw token: %s", lr.Raw)
	}
	if v, ok := lb["next_cursor"]; !ok || v != nil {
		t.Errorf("next_cursor %v", v)
	}
	// Another account sees none of them.
	if n := len(list(t, want(t, call(t, "GET", "/api/v1/mcp/tokens", o.Token, nil), 200), "tokens")); n != 0 {
		t.Errorf("another account lists %d tokens", n)
	}

	// The token works on /api/mcp until revoked.
	if r := mcpCall(t, raw); r.Status != 200 || !bytes.Contains(r.Raw, []byte("tools")) {
		t.Errorf("tools/list with a live token: %d %s", r.Status, r.Raw)
	}
	wantErr(t, call(t, "DELETE", fmt.Sprintf("/api/v1/mcp/tokens/%d", tokID), o.Token, nil), 404, "not_found")
	rv := want(t, call(t, "DELETE", fmt.Sprintf("/api/v1/mcp/tokens/%d", tokID), a.Token, nil), 200)
	if id(t, rv["id"]) != tokID || rv["revoked"] != true {
		t.Errorf("revoke answered %v", rv)
	}
	wantErr(t, call(t, "DELETE", "/api/v1/mcp/tokens/999999999999", a.Token, nil), 404, "not_found")
	r = mcpCall(t, raw)
	if r.Status != 401 || r.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("tools/list with a revoked token: %d %s", r.Status, r.Raw)
	}
	if r := mcpCall(t, "dw_mcp_forged"); r.Status != 401 {
		t.Errorf("tools/list with a forged token: %d", r.Status)
	}
	for _, tk := range list(t, want(t, call(t, "GET", "/api/v1/mcp/tokens", a.Token, nil), 200), "tokens") {
		if id(t, tk["id"]) == tokID && tk["revoked_at"] == nil {
			t.Errorf("revoked token listed without revoked_at: %v", tk)
		}
	}

	// Agents may not touch any of it.
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/settings/mcp"}, {"PUT", "/api/v1/settings/mcp"},
		{"GET", "/api/v1/mcp/tokens"}, {"POST", "/api/v1/mcp/tokens"},
		{"DELETE", fmt.Sprintf("/api/v1/mcp/tokens/%d", id(t, tk2["id"]))}, {"GET", "/api/v1/audit"},
	} {
		var body any
		if c.method == "PUT" {
			body = obj{"enabled": false}
		} else if c.method == "POST" {
			body = obj{"name": "mine", "preset": "full_agent"}
		}
		wantErr(t, call(t, c.method, c.path, agent, body), 403, "forbidden")
	}
	if mcpCall(t, str(t, tk2["token"])).Status != 200 {
		t.Error("the agent's DELETE revoked the token anyway")
	}

	// The audit log.
	ab := want(t, call(t, "GET", "/api/v1/audit", a.Token, nil), 200)
	actions := map[string]int{}
	for _, row := range list(t, ab, "audit") {
		actions[row["action"].(string)]++
	}
	for _, act := range []string{"mcp.token.create", "mcp.token.revoke", "settings.mcp"} {
		if actions[act] == 0 {
			t.Errorf("audit lacks %s: %v", act, actions)
		}
	}
	if actions["mcp.token.create"] != 2 {
		t.Errorf("%d mcp.token.create rows, want 2", actions["mcp.token.create"])
	}
	fb := want(t, call(t, "GET", "/api/v1/audit?action=mcp.token.create", a.Token, nil), 200)
	for _, row := range list(t, fb, "audit") {
		if row["action"] != "mcp.token.create" {
			t.Errorf("action filter let through %v", row)
		}
	}
	// Paging the audit log one row at a time visits every row once.
	seen := map[int64]bool{}
	cursor := ""
	for i := 0; ; i++ {
		q := "/api/v1/audit?limit=1"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		pb := want(t, call(t, "GET", q, a.Token, nil), 200)
		for _, row := range list(t, pb, "audit") {
			if rid := id(t, row["id"]); seen[rid] {
				t.Fatalf("audit row %d twice", rid)
			} else {
				seen[rid] = true
			}
		}
		if pb["next_cursor"] == nil {
			break
		}
		cursor = str(t, pb["next_cursor"])
		if i > 100 {
			t.Fatal("audit paging does not end")
		}
	}
	if len(seen) != len(list(t, ab, "audit")) {
		t.Errorf("paged %d audit rows, listed %d", len(seen), len(list(t, ab, "audit")))
	}
	wantErr(t, call(t, "GET", "/api/v1/audit?cursor=forged", a.Token, nil), 400, "bad_request")
	wantErr(t, call(t, "GET", "/api/v1/audit?limit=1000", a.Token, nil), 400, "bad_request")
	// Another account's audit log holds only its own actions.
	for _, row := range list(t, want(t, call(t, "GET", "/api/v1/audit", o.Token, nil), 200), "audit") {
		if id(t, row["actor_id"]) != o.UserID {
			t.Errorf("another account's audit shows a row of someone else: %v", row)
		}
	}
}

// TestHumanActionsAreAudited: what people do over REST lands in the audit
// log with them as the actor.
func TestHumanActionsAreAudited(t *testing.T) {
	t.Parallel()
	a := signup(t)
	ib := createInbox(t, a.Token)
	conv, _, _ := newConversation(t, a.Token, ib)
	want(t, call(t, "POST", fmt.Sprintf("/api/v1/conversations/%d/messages", conv), a.Token, obj{"content": "On it", "private": false}), 201)
	want(t, call(t, "POST", "/api/v1/labels", a.Token, obj{"name": "urgent"}), 201)
	got := map[string]bool{}
	for _, row := range list(t, want(t, call(t, "GET", "/api/v1/audit", a.Token, nil), 200), "audit") {
		if row["actor_kind"] == "user" && id(t, row["actor_id"]) == a.UserID {
			got[str(t, row["action"])] = true
		}
	}
	for _, action := range []string{"inbox.create", "message.reply", "label.create"} {
		if !got[action] {
			t.Errorf("audit lacks %s (has %v)", action, got)
		}
	}
}

// TestLogin: a person who lost their token signs in with email and
// password; wrong credentials are one 401; several accounts need account_id.
func TestLogin(t *testing.T) {
	t.Parallel()
	a := signup(t)
	b := want(t, call(t, "POST", "/api/v1/login", "", obj{"email": a.Email, "password": "correct horse battery"}), 200)
	tok := str(t, b["api_token"])
	if tok == a.Token || id(t, b["account"].(obj)["id"]) != a.AccountID || id(t, b["user"].(obj)["id"]) != a.UserID {
		t.Fatalf("login: %v", b)
	}
	want(t, call(t, "GET", "/api/v1/account", tok, nil), 200)
	for _, bad := range []obj{
		{"email": a.Email, "password": "wrong password"},
		{"email": "nobody-" + a.Email, "password": "correct horse battery"},
	} {
		r := call(t, "POST", "/api/v1/login", "", bad)
		if msg := wantErr(t, r, 401, "unauthorized"); !strings.Contains(msg, "email or password is wrong") {
			t.Errorf("bad login %v: %q", bad, msg)
		}
	}
	// An agent invited by this admin signs in to this account.
	_, agentTok := createAgent(t, a.Token)
	_ = agentTok
	users := list(t, want(t, call(t, "GET", "/api/v1/users", a.Token, nil), 200), "users")
	var agentEmail string
	for _, u := range users {
		if u["role"] == "agent" && u["kind"] == "human" {
			agentEmail = str(t, u["email"])
		}
	}
	b = want(t, call(t, "POST", "/api/v1/login", "", obj{"email": agentEmail, "password": "agent password 1"}), 200)
	if id(t, b["account"].(obj)["id"]) != a.AccountID || b["user"].(obj)["role"] != "agent" {
		t.Fatalf("agent login: %v", b)
	}
	wantErr(t, call(t, "POST", "/api/v1/login", "", obj{"email": a.Email, "password": "correct horse battery", "account_id": 987654321}), 400, "bad_request")
}

// TestLoginThrottle: after a burst of wrong passwords an email must wait.
func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	app, err := server.Build(context.Background(), server.Config{AppDatabaseURL: dbtest.AppURL(), PublicURL: "http://127.0.0.1", Now: frozenClock()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler)
	defer srv.Close()
	login := func(body obj) resp {
		raw, _ := json.Marshal(body)
		return do(t, srv.URL, "POST", "/api/v1/login", map[string]string{"Content-Type": "application/json"}, raw)
	}
	a := signup(t)
	for i := 0; i < 10; i++ {
		wantErr(t, login(obj{"email": a.Email, "password": fmt.Sprint("guess-", i)}), 401, "unauthorized")
	}
	r := login(obj{"email": a.Email, "password": "correct horse battery"})
	msg := wantErr(t, r, 429, "rate_limited")
	if !strings.Contains(msg, "try again in") {
		t.Errorf("throttled login: %q", msg)
	}
	if n, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || n < 1 || n > 60 {
		t.Errorf("throttled login: Retry-After %q; want 1 to 60 seconds", r.Header.Get("Retry-After"))
	}
}
