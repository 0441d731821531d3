package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/tenancy"
	"github.com/deskwoot/deskwoot/trial"
)

func TestSignedOutGoesToSignInAndBack(t *testing.T) {
	t.Parallel()
	_, srv := testConsole(t, nil)
	b := newBrowser(t, srv)
	wantRedirect(t, b.get("/"), "/signin")
	wantRedirect(t, b.get("/?tab=2"), "/signin?next=%2F%3Ftab%3D2")

	// After signing up elsewhere, a fresh browser signs in and lands on next.
	_, email := signUp(t, srv)
	p := wantStatus(t, b.get("/signin?next=%2F%3Ftab%3D2"), http.StatusOK)
	if p.Body == "" || !strings.Contains(p.Body, `name="next" value="/?tab=2"`) {
		t.Fatalf("sign-in form does not carry next:\n%s", p.Body)
	}
	wantRedirect(t, b.post("/signin", url.Values{"email": {email}, "password": {"correct horse battery"}, "next": {"/?tab=2"}}), "/?tab=2")
	wantStatus(t, b.get("/?tab=2"), http.StatusOK).has(t, "Sign out")
}

func TestNextNeverLeavesTheSite(t *testing.T) {
	t.Parallel()
	for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "evil", "/%0d%0aSet-Cookie:x", "", "javascript:alert(1)"} {
		if got := safeNext(next); got != "/" && !strings.HasPrefix(got, "/%") {
			t.Errorf("safeNext(%q) = %q, want a local path", next, got)
		}
	}
	if got := safeNext("/settings/mcp?x=1"); got != "/settings/mcp?x=1" {
		t.Errorf("a local path was changed to %q", got)
	}
	_, srv := testConsole(t, nil)
	_, email := signUp(t, srv)
	b := newBrowser(t, srv)
	wantRedirect(t, b.post("/signin", url.Values{"email": {email}, "password": {"correct horse battery"}, "next": {"//evil.example/"}}), "/")
}

func TestSignUpShowsTheTrialAndSignsIn(t *testing.T) {
	t.Parallel()
	c, srv := testConsole(t, nil)
	b, _ := signUp(t, srv)
	ck := b.cookie(sessionCookie)
	if ck == nil || !strings.HasPrefix(ck.Value, "dw_ses_") {
		t.Fatalf("session cookie %+v", ck)
	}
	p := wantStatus(t, b.get("/"), http.StatusOK)
	p.has(t, "7 days left in your Enterprise trial", "Upgrade", "Sign out", "Welcome to Deskwoot", "Conversations", "Drafts", "MCP server", "Audit log", "Billing")
	for h, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"} {
		if got := p.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if strings.Contains(p.Body, "<script>") || strings.Contains(p.Body, "style=") {
		t.Error("the page has inline script or style")
	}
	// The flash shows once.
	wantStatus(t, b.get("/"), http.StatusOK).lacks(t, "Welcome to Deskwoot")
	_, acct := accountOf(t, c, b)
	if acct.Plan != "enterprise" || acct.SubscriptionStatus != "trialing" {
		t.Fatalf("account %+v", acct)
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	t.Parallel()
	_, srv := testConsole(t, nil)
	b := newBrowser(t, srv)
	email := dbtest.Unique("c") + "@example.com"
	p := b.post("/signup", url.Values{"workspace": {"Cookies"}, "email": {email}, "password": {"correct horse battery"}})
	var set string
	for _, v := range p.Header.Values("Set-Cookie") {
		if strings.HasPrefix(v, sessionCookie+"=") {
			set = v
		}
	}
	for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(set, want) {
			t.Errorf("session cookie %q lacks %s", set, want)
		}
	}
	if strings.Contains(set, "Secure") {
		t.Error("Secure set on a plain-http public URL (the browser would drop the cookie)")
	}
	// Over https the cookie is Secure.
	c, err := New(Config{DB: dbtest.App(t), PublicURL: "https://desk.example.com"})
	if err != nil || !c.secure {
		t.Fatalf("https console: secure=%v err=%v", c != nil && c.secure, err)
	}
}

func TestSignUpBadInputKeepsFields(t *testing.T) {
	t.Parallel()
	_, srv := testConsole(t, nil)
	b := newBrowser(t, srv)
	p := wantStatus(t, b.post("/signup", url.Values{"workspace": {"  "}, "email": {"not-an-email"}, "password": {"short"}}), http.StatusBadRequest)
	if p.fieldError("workspace") == "" {
		t.Fatalf("no error next to Workspace name:\n%s", p.text())
	}
	if p.fieldValue("email") != "not-an-email" {
		t.Fatalf("email not kept: %q", p.fieldValue("email"))
	}
	if strings.Contains(p.Body, `value="short"`) {
		t.Fatal("the password was sent back")
	}
	p = wantStatus(t, b.post("/signup", url.Values{"workspace": {"Acme"}, "email": {"not-an-email"}, "password": {"correct horse battery"}}), http.StatusBadRequest)
	if e := p.fieldError("email"); !strings.Contains(e, "address") {
		t.Fatalf("email error %q", e)
	}
	if p.fieldValue("workspace") != "Acme" {
		t.Fatalf("workspace not kept: %q", p.fieldValue("workspace"))
	}
	p = wantStatus(t, b.post("/signup", url.Values{"workspace": {"Acme"}, "email": {"a@example.com"}, "password": {"short"}}), http.StatusBadRequest)
	if e := p.fieldError("password"); !strings.Contains(e, "8 to 72") {
		t.Fatalf("password error %q", e)
	}
	// A taken email: the error sits next to Email, nothing is half-written.
	_, taken := signUp(t, srv)
	p = wantStatus(t, b.post("/signup", url.Values{"workspace": {"Second"}, "email": {taken}, "password": {"correct horse battery"}}), http.StatusBadRequest)
	if e := p.fieldError("email"); !strings.Contains(e, "already exists") {
		t.Fatalf("taken email error %q", e)
	}
	if b.cookie(sessionCookie) != nil {
		t.Fatal("a failed sign-up signed in")
	}
}

func TestSignInErrorsAndThrottle(t *testing.T) {
	t.Parallel()
	_, srv := testConsole(t, nil)
	_, email := signUp(t, srv)
	b := newBrowser(t, srv)
	p := wantStatus(t, b.post("/signin", url.Values{"email": {email}, "password": {""}}), http.StatusBadRequest)
	if p.fieldError("password") == "" || p.fieldValue("email") != email {
		t.Fatalf("empty password: error %q, email kept %q", p.fieldError("password"), p.fieldValue("email"))
	}
	p = wantStatus(t, b.post("/signin", url.Values{"email": {email}, "password": {"wrong password"}}), http.StatusUnauthorized)
	p.has(t, "The email or password is wrong")
	if p.fieldValue("email") != email {
		t.Fatal("email not kept")
	}
	// Ten attempts in all are allowed, then the per-email throttle answers.
	for i := 0; i < 9; i++ {
		b.post("/signin", url.Values{"email": {email}, "password": {"wrong password"}})
	}
	p = wantStatus(t, b.post("/signin", url.Values{"email": {email}, "password": {"correct horse battery"}}), http.StatusTooManyRequests)
	p.has(t, "Too many sign-in attempts")
	if ra := p.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("a throttled sign-in carries Retry-After %q, want seconds", ra)
	}
	if b.cookie(sessionCookie) != nil {
		t.Fatal("signed in past the throttle")
	}
}

func TestSignOutEndsTheSessionServerSide(t *testing.T) {
	t.Parallel()
	_, srv := testConsole(t, nil)
	b, _ := signUp(t, srv)
	raw := b.cookie(sessionCookie).Value
	wantRedirect(t, b.post("/signout", nil), "/signin")
	if b.cookie(sessionCookie) != nil {
		t.Fatal("the cookie survived sign-out")
	}
	wantStatus(t, b.get("/signin"), http.StatusOK).has(t, "You are signed out")
	// The old id, replayed, is dead on the server.
	thief := newBrowser(t, srv)
	u, _ := url.Parse(srv.URL)
	thief.hc.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: raw}})
	wantRedirect(t, thief.get("/"), "/signin")
}

func TestCrossSitePostsAreRefused(t *testing.T) {
	t.Parallel()
	_, srv := testConsole(t, nil)
	b, email := signUp(t, srv)
	form := url.Values{"email": {email}, "password": {"correct horse battery"}}
	p := wantStatus(t, b.post("/signin", form, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"), http.StatusForbidden)
	p.has(t, "came from another site")
	wantStatus(t, b.post("/signout", nil, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"), http.StatusForbidden)
	// Still signed in: the forged sign-out did nothing.
	wantStatus(t, b.get("/"), http.StatusOK).has(t, "Sign out")
	// An old browser without Sec-Fetch-Site but with a foreign Origin.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/signout", nil)
	req.Header.Set("Origin", "https://evil.example")
	wantStatus(t, b.do(req), http.StatusForbidden)
}

func TestAgentCannotReachAdminPages(t *testing.T) {
	t.Parallel()
	c, srv := testConsole(t, func(c *Console) {
		c.handle("GET /test/admin-only", admin, func(w http.ResponseWriter, r *http.Request) {
			c.render(w, r, http.StatusOK, "error", Page{Title: "Admin", Data: "secret admin page"})
		})
	})
	a, _ := signUp(t, srv)
	p, _ := accountOf(t, c, a)
	wantStatus(t, a.get("/test/admin-only"), http.StatusOK).has(t, "secret admin page")

	email := dbtest.Unique("agent") + "@example.com"
	if _, _, err := dbtest.Identities(t).UserCreate(context.Background(), tenancy.For(p.AccountID), email, "Agent Ann", "agent password 1", "agent"); err != nil {
		t.Fatal(err)
	}
	ag := newBrowser(t, srv)
	wantRedirect(t, ag.post("/signin", url.Values{"email": {email}, "password": {"agent password 1"}}), "/")
	home := wantStatus(t, ag.get("/"), http.StatusOK)
	home.has(t, "Agent Ann", "Conversations", "Drafts")
	home.lacks(t, `href="/settings/mcp"`, `href="/audit"`, `href="/billing"`)
	wantStatus(t, ag.get("/test/admin-only"), http.StatusForbidden).has(t, "Only workspace admins")
}

func TestUnknownPathIsNotFound(t *testing.T) {
	t.Parallel()
	_, srv := testConsole(t, nil)
	b := newBrowser(t, srv)
	wantStatus(t, b.get("/no/such/page"), http.StatusNotFound).has(t, "There is no page at /no/such/page")
	s, _ := signUp(t, srv)
	wantStatus(t, s.get("/no/such/page"), http.StatusNotFound).has(t, "Sign out", "There is no page")
	wantStatus(t, b.get("/static/console.css"), http.StatusOK)
}

func TestTrialBannerWords(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	cases := []struct {
		state policy.Account
		want  []string
		warn  bool
	}{
		{policy.Account{Plan: "enterprise", Status: "trialing", TrialEndsAt: at(7 * 24 * time.Hour)}, []string{"7 days left", "2026-12-09"}, false},
		{policy.Account{Plan: "enterprise", Status: "trialing", TrialEndsAt: at(36 * time.Hour)}, []string{"2 days left"}, true},
		{policy.Account{Plan: "enterprise", Status: "trialing", TrialEndsAt: at(3 * time.Hour)}, []string{"Less than a day left"}, true},
		{policy.Account{Plan: "enterprise", Status: "trialing", TrialEndsAt: at(-time.Hour)}, []string{"MCP is paused: the Enterprise trial ended on 2026-12-02; upgrade to Enterprise to use MCP."}, true},
		{policy.Account{Plan: "business", Status: "active"}, []string{"MCP is paused: the business plan does not include MCP"}, true},
	}
	for _, tc := range cases {
		b := trialBanner(trial.Compute(tc.state, now), now)
		if b == nil {
			t.Fatalf("%+v: no banner", tc.state)
		}
		for _, w := range tc.want {
			if !strings.Contains(b.Text, w) {
				t.Errorf("%+v: banner %q lacks %q", tc.state, b.Text, w)
			}
		}
		if b.Warn != tc.warn || !b.Upgrade {
			t.Errorf("%+v: warn %v upgrade %v", tc.state, b.Warn, b.Upgrade)
		}
	}
	if b := trialBanner(trial.Compute(policy.Account{Plan: "enterprise", Status: "active"}, now), now); b != nil {
		t.Errorf("an active Enterprise subscription shows %q", b.Text)
	}
}
