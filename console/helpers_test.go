package console

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/throttle"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// testAuditKey signs the test consoles' audit checkpoints.
var _, testAuditKey, _ = ed25519.GenerateKey(rand.Reader)

var (
	engineOnce sync.Once
	engine     *policy.Engine
	engineErr  error
)

// testConsole builds a console on the test database and serves it; extra
// registers routes a test needs before the server starts.
func testConsole(t *testing.T, extra func(c *Console)) (*Console, *httptest.Server) {
	t.Helper()
	db := dbtest.App(t)
	engineOnce.Do(func() { engine, engineErr = policy.New(context.Background()) })
	if engineErr != nil {
		t.Fatal(engineErr)
	}
	c, err := New(Config{DB: db, Identities: dbtest.Identities(t), Desk: &desk.Desk{DB: db, InboundDomain: "in.deskwoot.test", PublicURL: "http://127.0.0.1"},
		Throttle: throttle.NewGuard(throttle.Limits{SignupsPerHour: 100000}), Policy: engine,
		Audit: &audit.Log{DB: db, Key: testAuditKey}, PublicURL: "http://127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if extra != nil {
		extra(c)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv
}

// browser is a cookie-keeping client that does not follow redirects, so
// tests see each 303.
type browser struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newBrowser(t *testing.T, srv *httptest.Server) *browser {
	return &browser{t: t, base: srv.URL, hc: newBrowserClient()}
}

func newBrowserClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type page struct {
	Status int
	Header http.Header
	Body   string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	res, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return page{Status: res.StatusCode, Header: res.Header, Body: string(body)}
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	return b.do(req)
}

// post submits a form as a same-origin browser would.
func (b *browser) post(path string, form url.Values, headers ...string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.do(req)
}

func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.base)
	for _, c := range b.hc.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// wantStatus asserts a status and returns the page.
func wantStatus(t *testing.T, p page, status int) page {
	t.Helper()
	if p.Status != status {
		t.Fatalf("status %d, want %d\n%s", p.Status, status, p.Body)
	}
	return p
}

// wantRedirect asserts a 303 to location.
func wantRedirect(t *testing.T, p page, location string) {
	t.Helper()
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != location {
		t.Fatalf("got %d to %q, want 303 to %q\n%s", p.Status, p.Header.Get("Location"), location, p.Body)
	}
}

// text is the page's visible text with tags removed and spaces collapsed.
func (p page) text() string {
	s := regexp.MustCompile(`(?s)<head>.*?</head>|<[^>]+>`).ReplaceAllString(p.Body, " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

func (p page) has(t *testing.T, words ...string) {
	t.Helper()
	for _, w := range words {
		if !strings.Contains(p.text(), w) {
			t.Fatalf("page lacks %q:\n%s", w, p.text())
		}
	}
}

func (p page) lacks(t *testing.T, words ...string) {
	t.Helper()
	for _, w := range words {
		if strings.Contains(p.Body, w) {
			t.Fatalf("page shows %q:\n%s", w, p.text())
		}
	}
}

// fieldError is the error shown next to a form field (its id f-NAME).
func (p page) fieldError(name string) string {
	m := regexp.MustCompile(`<p class="error" id="f-` + regexp.QuoteMeta(name) + `-error">([^<]*)</p>`).FindStringSubmatch(p.Body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// fieldValue is the value an input named name is filled with.
func (p page) fieldValue(name string) string {
	m := regexp.MustCompile(`<input id="[^"]*" name="` + regexp.QuoteMeta(name) + `" type="[^"]*" value="([^"]*)"`).FindStringSubmatch(p.Body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

var seq struct {
	sync.Mutex
	n int
}

// signUp creates a workspace through the sign-up form and returns the
// signed-in browser and the admin's email.
func signUp(t *testing.T, srv *httptest.Server) (*browser, string) {
	t.Helper()
	b := newBrowser(t, srv)
	email := dbtest.Unique("admin") + "@example.com"
	p := b.post("/signup", url.Values{"workspace": {"Acme " + email}, "email": {email}, "password": {"correct horse battery"}})
	wantRedirect(t, p, "/")
	return b, email
}

// accountOf reads the signed-in browser's principal.
func accountOf(t *testing.T, c *Console, b *browser) (identity.UserPrincipal, identity.Account) {
	t.Helper()
	ck := b.cookie(sessionCookie)
	if ck == nil {
		t.Fatal("no session cookie")
	}
	p, a, err := identity.SessionAuthenticate(context.Background(), c.cfg.DB, ck.Value, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p, a
}

func ownerPool(t *testing.T) *pgxpool.Pool { return dbtest.Owner(t) }
