package widget_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
	"github.com/deskwoot/deskwoot/widget"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const site = "https://shop.example"

// fixture is a workspace with a website inbox served by a widget door.
type fixture struct {
	t      *testing.T
	d      *desk.Desk
	srv    *httptest.Server
	acct   int64
	userID int64
	inbox  desk.Inbox
}

func newFixture(t *testing.T, settings map[string]any, limits widget.Limits) *fixture {
	t.Helper()
	ctx := context.Background()
	db := dbtest.App(t)
	hub := desk.NewEventHub(db.Pool)
	hubCtx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	ready := make(chan struct{})
	go hub.Run(hubCtx, ready)
	<-ready
	d := &desk.Desk{DB: db, Hub: hub, PublicURL: "https://desk.example"}
	tn := dbtest.NewTenant(t)
	if settings == nil {
		settings = map[string]any{"allowed_origins": []any{site}, "greeting": "Hello there"}
	}
	ib, err := d.InboxCreate(ctx, tenancy.For(tn.Account.ID), desk.InboxInput{Name: "Website chat", Channel: "website", Settings: settings})
	if err != nil {
		t.Fatal(err)
	}
	// A stream outlives its re-check (20 s), which is what brings a reply
	// whose id committed out of order, as happens in a full test run.
	w := widget.New(widget.Config{Desk: d, Limits: limits, StreamTimeout: time.Minute})
	srv := httptest.NewServer(w)
	t.Cleanup(srv.Close)
	return &fixture{t: t, d: d, srv: srv, acct: tn.Account.ID, userID: tn.User.ID, inbox: ib}
}

type answer struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// do sends a widget request from origin with the visitor token tok.
func (f *fixture) do(method, path, origin, tok string, body any) answer {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		js, _ := json.Marshal(b)
		rd = bytes.NewReader(js)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	a := answer{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	json.Unmarshal(raw, &a.Body)
	return a
}

func (f *fixture) api(p string) string { return "/widget/v1/" + f.inbox.PublicID + p }

// start writes a first anonymous message and returns the visitor token.
func (f *fixture) start(content string) string {
	f.t.Helper()
	a := f.do("POST", f.api("/messages"), site, "", map[string]any{"content": content})
	if a.Status != 201 {
		f.t.Fatalf("first message: %d %s", a.Status, a.Raw)
	}
	tok, _ := a.Body["token"].(string)
	if tok == "" {
		f.t.Fatalf("no token in %s", a.Raw)
	}
	return tok
}

// counts is what a refused request must leave unchanged.
func (f *fixture) counts() [4]int {
	f.t.Helper()
	var c [4]int
	err := f.d.DB.InTenant(context.Background(), f.acct, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM contacts), (SELECT count(*) FROM messages),
			(SELECT count(*) FROM messages WHERE delivery_status = 'delivered'), (SELECT count(*) FROM contact_inboxes WHERE notify_email IS NOT NULL)`).
			Scan(&c[0], &c[1], &c[2], &c[3])
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// conversationOf is the visitor's conversation id (from the desk side).
func (f *fixture) conversationOf(contentLike string) int64 {
	f.t.Helper()
	var id int64
	err := f.d.DB.InTenant(context.Background(), f.acct, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT conversation_id FROM messages WHERE content = $1`, contentLike).Scan(&id)
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

func (f *fixture) reply(conv int64, content string, private bool) desk.Message {
	f.t.Helper()
	m, err := f.d.MessageCreate(context.Background(), f.acct, conv, content, private, desk.Author{Kind: "user", UserID: f.userID, Name: "Ann"})
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

func TestConfigGivesTheGreetingToAllowedOriginsOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, widget.Limits{})
	a := f.do("GET", f.api("/config"), site, "", nil)
	if a.Status != 200 || a.Body["greeting"] != "Hello there" || a.Header.Get("Access-Control-Allow-Origin") != site {
		t.Fatalf("config: %d %v %s", a.Status, a.Header, a.Raw)
	}
	for _, origin := range []string{"", "https://evil.example", "null", "https://shop.example.evil"} {
		a := f.do("GET", f.api("/config"), origin, "", nil)
		if a.Status != 403 || a.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("origin %q: %d %v", origin, a.Status, a.Header)
		}
	}
	pre := f.do("OPTIONS", f.api("/messages"), site, "", nil)
	if pre.Status != 204 || !strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight: %d %v", pre.Status, pre.Header)
	}
	if a := f.do("GET", "/widget/v1/wi_NOSUCHINBOXATALLXXXXXXXXX/config", site, "", nil); a.Status != 404 {
		t.Fatalf("unknown inbox: %d", a.Status)
	}
}

func TestNoAllowedOriginsRefusesEverySite(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]any{}, widget.Limits{})
	if a := f.do("GET", f.api("/config"), site, "", nil); a.Status != 403 {
		t.Fatalf("no origins: %d %s", a.Status, a.Raw)
	}
	g := newFixture(t, map[string]any{"allowed_origins": []any{"*"}}, widget.Limits{})
	if a := g.do("GET", g.api("/config"), "https://anywhere.example", "", nil); a.Status != 200 || a.Header.Get("Access-Control-Allow-Origin") != "https://anywhere.example" {
		t.Fatalf("*: %d %v", a.Status, a.Header)
	}
}

// TestVisitorChatsLive: a first message makes a contact and an incoming
// message of the inbox; a person's reply reaches the open stream at once;
// a private note never does; the widget's seen marks the reply delivered.
func TestVisitorChatsLive(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, widget.Limits{})
	tok := f.start("Where is my order?")
	conv := f.conversationOf("Where is my order?")

	req, _ := http.NewRequest("GET", f.srv.URL+f.api("/stream"), nil)
	req.Header.Set("Origin", site)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %v %v", err, res)
	}
	defer res.Body.Close()
	events := make(chan desk.WidgetMessage, 10)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var m desk.WidgetMessage
				json.Unmarshal([]byte(data), &m)
				events <- m
			}
		}
		close(events)
	}()
	// The feed is gapless, so in a full test run another package's long
	// transaction may hold an event back for seconds: the test waits for
	// it; how fast it comes is the bench's (a reply reaches an open widget).
	next := func() desk.WidgetMessage {
		select {
		case m := <-events:
			return m
		case <-time.After(30 * time.Second):
			t.Fatal("no event within 30 s")
		}
		return desk.WidgetMessage{}
	}
	if m := next(); m.From != "visitor" || m.Content != "Where is my order?" {
		t.Fatalf("first event %+v", m)
	}
	f.reply(conv, "Only for us agents", true)
	r := f.reply(conv, "It ships <b>today</b>", false)
	m := next()
	if m.ID != r.ID || m.From != "agent" || m.Author != "Ann" || m.Content != "It ships <b>today</b>" {
		t.Fatalf("reply event %+v", m)
	}
	hist := f.do("GET", f.api("/messages"), site, tok, nil)
	if hist.Status != 200 || strings.Contains(hist.Raw, "Only for us agents") || !strings.Contains(hist.Raw, "ships") {
		t.Fatalf("history: %d %s", hist.Status, hist.Raw)
	}
	if a := f.do("POST", f.api("/seen"), site, tok, map[string]any{"message_ids": []int64{r.ID}}); a.Status != 200 {
		t.Fatalf("seen: %d %s", a.Status, a.Raw)
	}
	var status string
	f.d.DB.InTenant(context.Background(), f.acct, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT delivery_status FROM messages WHERE id = $1`, r.ID).Scan(&status)
	})
	if status != "delivered" {
		t.Fatalf("delivery status %q after seen", status)
	}
	if a := f.do("POST", f.api("/email"), site, tok, map[string]any{"email": "visitor@example.com"}); a.Status != 200 {
		t.Fatalf("email: %d %s", a.Status, a.Raw)
	}
	// The second message continues the same conversation.
	if a := f.do("POST", f.api("/messages"), site, tok, map[string]any{"content": "Thanks!"}); a.Status != 201 || a.Body["token"] != nil {
		t.Fatalf("second message: %d %s", a.Status, a.Raw)
	}
	if f.conversationOf("Thanks!") != conv {
		t.Fatal("second message started another conversation")
	}
}

// TestEveryEndpointRefusesWithoutWriting: a disallowed origin, a forged,
// expired or other inbox's token, another visitor's message, oversized
// or NUL-bearing input: each a clear 4xx, and nothing written.
func TestEveryEndpointRefusesWithoutWriting(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, widget.Limits{})
	other := newFixture(t, nil, widget.Limits{})
	tok := f.start("Hello from A")
	reply := f.reply(f.conversationOf("Hello from A"), "Hi A", false)
	tokB := f.start("Hello from B")
	otherTok := other.start("Hello elsewhere")
	ctx := context.Background()
	wi, err := f.d.WidgetInboxGet(ctx, f.inbox.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	va, err := f.d.VisitorTokenOpen(ctx, wi, tok, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	expired, _ := f.d.VisitorTokenIssue(ctx, va, time.Now().Add(-time.Minute))
	forged := tok[:len(tok)-4] + "AAAA"

	endpoints := []struct {
		method, path string
		body         any
	}{
		{"GET", "/config", nil},
		{"POST", "/identify", map[string]any{"user_id": "u1", "user_hash": "00"}},
		{"POST", "/messages", map[string]any{"content": "hi"}},
		{"GET", "/messages", nil},
		{"GET", "/stream", nil},
		{"POST", "/seen", map[string]any{"message_ids": []int64{reply.ID}}},
		{"POST", "/email", map[string]any{"email": "x@example.com"}},
		{"GET", "/articles?q=refund", nil},
		{"GET", "/articles/1", nil},
	}
	before := f.counts()
	for _, e := range endpoints {
		if a := f.do(e.method, f.api(e.path), "https://evil.example", tok, e.body); a.Status != 403 || a.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s %s from a disallowed origin: %d %s", e.method, e.path, a.Status, a.Raw)
		}
		for name, bad := range map[string]string{"forged": forged, "expired": expired, "other inbox's": otherTok, "garbage": "v1.x.y"} {
			if a := f.do(e.method, f.api(e.path), site, bad, e.body); a.Status != 401 {
				t.Errorf("%s %s with a %s token: %d %s", e.method, e.path, name, a.Status, a.Raw)
			}
		}
	}
	// Another visitor's reply is not found; its own history holds no A.
	if a := f.do("POST", f.api("/seen"), site, tokB, map[string]any{"message_ids": []int64{reply.ID}}); a.Status != 404 {
		t.Errorf("B marks A's reply seen: %d %s", a.Status, a.Raw)
	}
	if a := f.do("GET", f.api("/messages"), site, tokB, nil); a.Status != 200 || strings.Contains(a.Raw, "from A") || strings.Contains(a.Raw, "Hi A") {
		t.Errorf("B's history: %d %s", a.Status, a.Raw)
	}
	// Bad input.
	bad := []struct {
		path string
		body any
		want int
	}{
		{"/messages", `{"content":"a\u0000b"}`, 400},
		{"/messages", map[string]any{"content": strings.Repeat("x", 100001)}, 400},
		{"/messages", map[string]any{"content": strings.Repeat("x", 600000)}, 413},
		{"/messages", map[string]any{"content": "   "}, 400},
		{"/messages", `{"content":"hi","conversation_id":1}`, 400},
		{"/messages", `not json`, 400},
		{"/email", map[string]any{"email": "not an email"}, 400},
		{"/email", `{"email":"a\u0000@example.com"}`, 400},
		{"/seen", map[string]any{"message_ids": []int64{}}, 400},
		{"/identify", `{"user_id":"u\u0000","user_hash":"00"}`, 400},
	}
	for _, b := range bad {
		if a := f.do("POST", f.api(b.path), site, tok, b.body); a.Status != b.want {
			t.Errorf("POST %s %.60v: %d, want %d: %s", b.path, b.body, a.Status, b.want, a.Raw)
		}
	}
	if a := f.do("GET", f.api("/articles?q="+strings.Repeat("q", 501)), site, "", nil); a.Status != 400 {
		t.Errorf("long search: %d", a.Status)
	}
	if after := f.counts(); after != before {
		t.Fatalf("refused requests wrote: before %v, after %v", before, after)
	}
}

func userHash(secret, userID string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(userID))
	return hex.EncodeToString(mac.Sum(nil))
}

// TestIdentifiedVisitorIsOneContactOnEveryDevice: a valid user_hash gives
// the same contact (the same conversation) to a second device; a wrong
// one is refused and writes nothing; a rotated secret stops the old hash.
func TestIdentifiedVisitorIsOneContactOnEveryDevice(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]any{"allowed_origins": []any{site}, "require_identity": true}, widget.Limits{})
	secret := f.inbox.IdentitySecret
	if len(secret) != 64 || !strings.Contains(f.inbox.EmbedSnippet, `data-deskwoot-inbox="`+f.inbox.PublicID+`"`) ||
		!strings.HasPrefix(f.inbox.EmbedSnippet, `<script src="https://desk.example/widget.js"`) {
		t.Fatalf("created inbox: %+v", f.inbox)
	}
	// Anonymous visitors are refused by this inbox.
	if a := f.do("POST", f.api("/messages"), site, "", map[string]any{"content": "anon"}); a.Status != 403 {
		t.Fatalf("anonymous on require_identity: %d %s", a.Status, a.Raw)
	}
	before := f.counts()
	wrong := f.do("POST", f.api("/identify"), site, "", map[string]any{"user_id": "42", "email": "jo@example.com", "name": "Jo", "user_hash": userHash("nope", "42")})
	if wrong.Status != 403 || !strings.Contains(wrong.Raw, "user_hash") {
		t.Fatalf("wrong hash: %d %s", wrong.Status, wrong.Raw)
	}
	if after := f.counts(); after != before {
		t.Fatalf("wrong hash wrote: %v → %v", before, after)
	}
	id := map[string]any{"user_id": "42", "email": "jo@example.com", "name": "Jo", "user_hash": userHash(secret, "42")}
	one := f.do("POST", f.api("/identify"), site, "", id)
	if one.Status != 200 {
		t.Fatalf("identify: %d %s", one.Status, one.Raw)
	}
	tok1 := one.Body["token"].(string)
	if a := f.do("POST", f.api("/messages"), site, tok1, map[string]any{"content": "From my laptop"}); a.Status != 201 {
		t.Fatalf("identified message: %d %s", a.Status, a.Raw)
	}
	two := f.do("POST", f.api("/identify"), site, "", id)
	tok2 := two.Body["token"].(string)
	if a := f.do("GET", f.api("/messages"), site, tok2, nil); !strings.Contains(a.Raw, "From my laptop") {
		t.Fatalf("second device does not see the conversation: %s", a.Raw)
	}
	rotated, err := f.d.InboxIdentitySecretRotate(context.Background(), tenancy.For(f.acct), f.inbox.ID)
	if err != nil || rotated.IdentitySecret == "" || rotated.IdentitySecret == secret {
		t.Fatalf("rotate: %v %+v", err, rotated)
	}
	if a := f.do("POST", f.api("/identify"), site, "", id); a.Status != 403 {
		t.Fatalf("old hash after rotation: %d", a.Status)
	}
	// Visitors identified with the old secret are signed out.
	if a := f.do("GET", f.api("/messages"), site, tok2, nil); a.Status != 401 {
		t.Fatalf("a token identified with the old secret after rotation: %d %s", a.Status, a.Raw)
	}
	id["user_hash"] = userHash(rotated.IdentitySecret, "42")
	if a := f.do("POST", f.api("/identify"), site, "", id); a.Status != 200 {
		t.Fatalf("new hash after rotation: %d %s", a.Status, a.Raw)
	}
	// The identity secret is stored encrypted, never in clear.
	var stored []byte
	f.d.DB.InTenant(context.Background(), f.acct, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT identity_secret FROM inboxes WHERE id = $1`, f.inbox.ID).Scan(&stored)
	})
	if len(stored) == 0 || bytes.Contains(stored, []byte(rotated.IdentitySecret)) {
		t.Fatal("identity secret stored in clear")
	}
}

func TestRateLimitsAnswerRetryAfter(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, widget.Limits{PerAddressBurst: 3, PerAddressEvery: time.Hour})
	var last answer
	for range 4 {
		last = f.do("GET", f.api("/config"), site, "", nil)
	}
	if last.Status != 429 || last.Header.Get("Retry-After") == "" {
		t.Fatalf("4th request: %d %v", last.Status, last.Header)
	}
	g := newFixture(t, nil, widget.Limits{PerVisitorBurst: 2, PerVisitorEvery: time.Hour})
	tok := g.start("hi")
	g.do("GET", g.api("/messages"), site, tok, nil)
	g.do("GET", g.api("/messages"), site, tok, nil)
	if a := g.do("GET", g.api("/messages"), site, tok, nil); a.Status != 429 || a.Header.Get("Retry-After") == "" {
		t.Fatalf("visitor over its limit: %d %v", a.Status, a.Header)
	}
}

func TestArticlesArePublishedOnesOfTheWorkspace(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, widget.Limits{})
	other := newFixture(t, nil, widget.Limits{})
	ctx := context.Background()
	pub, err := f.d.ArticleCreate(ctx, tenancy.For(f.acct), "Refund policy", "Refunds arrive within five days.", "published")
	if err != nil {
		t.Fatal(err)
	}
	draft, _ := f.d.ArticleCreate(ctx, tenancy.For(f.acct), "Refund secrets", "Draft refund text.", "draft")
	theirs, _ := other.d.ArticleCreate(ctx, tenancy.For(other.acct), "Refund elsewhere", "Refunds elsewhere.", "published")
	a := f.do("GET", f.api("/articles?q=refunded"), site, "", nil)
	if a.Status != 200 || !strings.Contains(a.Raw, "Refund policy") || strings.Contains(a.Raw, "secrets") || strings.Contains(a.Raw, "elsewhere") {
		t.Fatalf("search: %d %s", a.Status, a.Raw)
	}
	if a := f.do("GET", f.api("/articles/"+itoa(pub.ID)), site, "", nil); a.Status != 200 || a.Body["body"] != "Refunds arrive within five days." {
		t.Fatalf("article: %d %s", a.Status, a.Raw)
	}
	for _, id := range []int64{draft.ID, theirs.ID} {
		if a := f.do("GET", f.api("/articles/"+itoa(id)), site, "", nil); a.Status != 404 {
			t.Errorf("article %d: %d %s", id, a.Status, a.Raw)
		}
	}
}

func TestScriptIsVersionedAndSmall(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, widget.Limits{})
	res, err := http.Get(f.srv.URL + "/widget.js")
	if err != nil {
		t.Fatal(err)
	}
	loader, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(loader), "/widget/app/widget."+widget.Version+".js") || !strings.Contains(res.Header.Get("Cache-Control"), "max-age=300") {
		t.Fatalf("loader: %v %s", res.Header, loader)
	}
	res, err = http.Get(f.srv.URL + "/widget/app/widget." + widget.Version + ".js")
	if err != nil {
		t.Fatal(err)
	}
	app, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") || len(app) >= 40<<10 {
		t.Fatalf("app: %d %v, %d bytes", res.StatusCode, res.Header, len(app))
	}
	if strings.Contains(string(app), "innerHTML") || strings.Contains(string(app), "insertAdjacentHTML") {
		t.Fatal("the widget inserts HTML")
	}
	if res, _ := http.Get(f.srv.URL + "/widget/app/widget.000000000000.js"); res.StatusCode != 404 {
		t.Fatalf("old version: %d", res.StatusCode)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestUnacknowledgedRepliesNeverBlockNewOnes: a widget that never marks
// replies seen (its panel closed) still gets the newest reply, however
// many unseen ones came before it.
func TestUnacknowledgedRepliesNeverBlockNewOnes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, widget.Limits{})
	tok := f.start("Anyone?")
	conv := f.conversationOf("Anyone?")
	var last desk.Message
	var shown []int64 // what the stream has sent already
	for i := range 120 {
		if last.ID != 0 {
			shown = append(shown, last.ID)
		}
		last = f.reply(conv, "reply "+strconv.Itoa(i), false)
	}
	wi, _ := f.d.WidgetInboxGet(context.Background(), f.inbox.PublicID)
	v, _ := f.d.VisitorTokenOpen(context.Background(), wi, tok, time.Now())
	news, err := f.d.WidgetNews(context.Background(), v, last.ID-1, shown)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range news {
		found = found || m.ID == last.ID
	}
	if !found {
		t.Fatalf("the newest reply is not among the %d news", len(news))
	}
}

// TestApprovedDraftsReachTheWidgetRejectedOnesDoNot: an AI agent's draft
// approved by a person is a reply in the widget; a rejected one and the
// drafts themselves never are.
func TestApprovedDraftsReachTheWidgetRejectedOnesDoNot(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, widget.Limits{})
	ctx := context.Background()
	tok := f.start("Can I get a refund?")
	conv := f.conversationOf("Can I get a refund?")
	if _, err := identity.MCPEnable(ctx, f.d.DB, tenancy.For(f.acct), true); err != nil {
		t.Fatal(err)
	}
	mt, _, err := identity.MCPTokenCreate(ctx, f.d.DB, tenancy.For(f.acct), identity.MCPTokenInput{Name: "careful-bot", Scopes: []string{"conversations:draft"},
		RateLimitPerMinute: 600, CreatedBy: f.userID}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	draft := func(content string) int64 {
		var id int64
		err := f.d.DB.InTenant(ctx, f.acct, func(tx pgx.Tx) error {
			dr, err := f.d.DraftCreate(ctx, tx, f.acct, desk.DraftInput{Kind: "reply", ConversationID: conv, Content: content, TokenID: mt.ID})
			id = dr.ID
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	yes, no := draft("Yes: refunded today."), draft("Refunds are never possible.")
	if h := f.do("GET", f.api("/messages"), site, tok, nil); strings.Contains(h.Raw, "refunded today") {
		t.Fatalf("a pending draft reached the widget: %s", h.Raw)
	}
	if _, _, err := f.d.DraftDecide(ctx, f.acct, yes, desk.Scope{}, desk.DraftDecision{Approve: true, UserID: f.userID}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.d.DraftDecide(ctx, f.acct, no, desk.Scope{}, desk.DraftDecision{Reason: "wrong", UserID: f.userID}); err != nil {
		t.Fatal(err)
	}
	h := f.do("GET", f.api("/messages"), site, tok, nil)
	if !strings.Contains(h.Raw, "Yes: refunded today.") || strings.Contains(h.Raw, "never possible") {
		t.Fatalf("history after the decisions: %s", h.Raw)
	}
}

// TestIdentifyWithoutASecretIsRefusedNot500: an inbox whose identity
// secret is gone refuses identities clearly.
func TestIdentifyWithoutASecretIsRefusedNot500(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, widget.Limits{})
	ctx := context.Background()
	tx, err := dbtest.Owner(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT set_config('deskwoot.account_id', $1::bigint::text, true)`, f.acct); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE inboxes SET identity_secret = NULL WHERE id = $1`, f.inbox.ID); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	a := f.do("POST", f.api("/identify"), site, "", map[string]any{"user_id": "1", "user_hash": userHash("x", "1")})
	if a.Status != 403 || !strings.Contains(a.Raw, "no identity secret") {
		t.Fatalf("identify without a secret: %d %s", a.Status, a.Raw)
	}
}

// openStream opens a visitor's stream and returns its messages as they come.
func (f *fixture) openStream(tok string) <-chan desk.WidgetMessage {
	f.t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+f.api("/stream"), nil)
	req.Header.Set("Origin", site)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		f.t.Fatalf("stream: %v %v", err, res)
	}
	f.t.Cleanup(func() { res.Body.Close() })
	out := make(chan desk.WidgetMessage, 50)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var m desk.WidgetMessage
				json.Unmarshal([]byte(data), &m)
				out <- m
			}
		}
	}()
	return out
}

// TestEachStreamGetsItsOwnRepliesLive: with several visitors' streams open
// in one workspace (one feed wakes them), each reply reaches its own
// visitor's stream at once and no other.
func TestEachStreamGetsItsOwnRepliesLive(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, widget.Limits{})
	type visitor struct {
		conv   int64
		stream <-chan desk.WidgetMessage
	}
	var vs []visitor
	for i := range 3 {
		text := "visitor " + strconv.Itoa(i) + " here"
		tok := f.start(text)
		vs = append(vs, visitor{conv: f.conversationOf(text), stream: f.openStream(tok)})
		if m := <-vs[i].stream; m.Content != text {
			t.Fatalf("history of %d: %+v", i, m)
		}
	}
	for round := range 2 {
		for i, v := range vs {
			text := "reply " + strconv.Itoa(round) + " to " + strconv.Itoa(i)
			f.reply(v.conv, text, false)
			select {
			case m := <-v.stream:
				if m.Content != text {
					t.Fatalf("visitor %d got %+v, want %q", i, m, text)
				}
			case <-time.After(30 * time.Second): // a wait, not a speed test (see TestVisitorChatsLive)
				t.Fatalf("visitor %d: %q did not arrive within 30 s", i, text)
			}
		}
	}
	for i, v := range vs {
		select {
		case m := <-v.stream:
			t.Fatalf("visitor %d got another's message: %+v", i, m)
		default:
		}
	}
}
