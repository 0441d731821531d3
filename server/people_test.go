package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/devmail"
	"github.com/deskwoot/deskwoot/server"
)

var mailQueues atomic.Int64

// mailServer runs a whole server whose mail to people goes to box, a real
// SMTP listener, on a mail queue of its own (so that other tests' servers
// never send its mail).
func mailServer(t *testing.T) (base string, box *devmail.Box) {
	t.Helper()
	box, err := devmail.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	ts := httptest.NewUnstartedServer(nil)
	base = "http://" + ts.Listener.Addr().String()
	app, err := server.Build(context.Background(), server.Config{AppDatabaseURL: dbtest.AppURL(), PublicURL: base,
		MailRelayURL: box.RelayURL(), MailFrom: "Deskwoot <desk@deskwoot.test>", MailQueue: fmt.Sprintf("test_people_%d_%d", os.Getpid(), mailQueues.Add(1))})
	if err != nil {
		t.Fatal(err)
	}
	bg, stop := context.WithCancel(context.Background())
	app.Background(bg)
	ts.Config.Handler = app.Handler
	ts.Start()
	t.Cleanup(func() {
		ts.Close()
		stop()
		select {
		case <-app.Outbox.Stopped():
		case <-time.After(10 * time.Second):
		}
		app.DB.Close()
	})
	return base, box
}

// browserClient keeps cookies and shows each redirect instead of following it.
type browserClient struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newBrowserClient(t *testing.T, base string) *browserClient {
	jar, _ := cookiejar.New(nil)
	return &browserClient{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browserClient) do(method, path string, form url.Values, site string) (int, string, string) {
	b.t.Helper()
	req, _ := http.NewRequest(method, b.base+path, strings.NewReader(form.Encode()))
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", site)
		if site == "same-origin" {
			req.Header.Set("Origin", b.base)
		}
	}
	res, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Location"), string(body)
}

func (b *browserClient) get(path string) (int, string) {
	st, _, body := b.do(http.MethodGet, path, nil, "")
	return st, body
}

func (b *browserClient) post(path string, form url.Values) (int, string, string) {
	return b.do(http.MethodPost, path, form, "same-origin")
}

// signIn signs in through the console's form and returns where it sends the browser.
func (b *browserClient) signIn(email, password string) string {
	b.t.Helper()
	st, loc, body := b.post("/signin", url.Values{"email": {email}, "password": {password}})
	if st != http.StatusSeeOther {
		b.t.Fatalf("sign-in as %s: %d\n%s", email, st, body)
	}
	return loc
}

// adminWorkspace signs up a workspace with an api inbox through REST.
func adminWorkspace(t *testing.T, base, name string) (token, email string, inbox int64) {
	t.Helper()
	email = dbtest.Unique("admin") + "@example.com"
	out := mustCall(t, 201, "POST", base+"/api/v1/signup", "", map[string]any{"account_name": name, "email": email, "password": "correct horse battery"})
	token = out["api_token"].(string)
	ib := mustCall(t, 201, "POST", base+"/api/v1/inboxes", token, map[string]any{"name": "Support", "channel": "api"})
	return token, email, int64(ib["id"].(float64))
}

var linkRE = regexp.MustCompile(`https?://\S+/(invite|password/reset)/(dw_[a-z]{3}_[0-9A-Za-z]+)`)

// mailTo waits for the first mail to an address and returns it with the
// link path it carries.
func mailTo(t *testing.T, box *devmail.Box, to string) (devmail.Mail, string) {
	t.Helper()
	m, ok := box.Wait(15*time.Second, func(m devmail.Mail) bool { return len(m.To) == 1 && m.To[0] == to })
	if !ok {
		t.Fatalf("no mail reached %s", to)
	}
	l := linkRE.FindStringSubmatch(m.Body)
	if l == nil {
		t.Fatalf("the mail to %s carries no link:\n%s", to, m.Body)
	}
	return m, "/" + l[1] + "/" + l[2]
}

func TestInvitationMailJoinAndSignIn(t *testing.T) {
	base, box := mailServer(t)
	admin, _, inbox := adminWorkspace(t, base, "Acme Support")
	ann := dbtest.Unique("ann") + "@example.com"
	sent := mustCall(t, 201, "POST", base+"/api/v1/invitations", admin, map[string]any{"email": ann, "role": "agent", "inbox_ids": []int64{inbox}})
	if sent["mailed"] != true || sent["link"] != nil || sent["status"] != "pending" {
		t.Fatalf("invitation = %v; want mailed, with no link in the answer", sent)
	}
	list := mustCall(t, 200, "GET", base+"/api/v1/invitations", admin, nil)
	if invs := list["invitations"].([]any); len(invs) != 1 || invs[0].(map[string]any)["email"] != ann {
		t.Fatalf("pending invitations = %v", list)
	}
	m, link := mailTo(t, box, ann)
	if !strings.Contains(m.Subject, "Acme Support") || !strings.Contains(m.Body, "as an agent") || strings.Contains(m.Body, admin) {
		t.Fatalf("invitation mail:\nSubject: %s\n%s", m.Subject, m.Body)
	}
	if !strings.HasPrefix(link, "/invite/dw_inv_") {
		t.Fatalf("link %q", link)
	}

	b := newBrowserClient(t, base)
	if st, body := b.get(link); st != 200 || !strings.Contains(body, "Join") || !strings.Contains(body, "Acme Support") {
		t.Fatalf("GET %s = %d\n%s", link, st, body)
	}
	// A cross-site post is refused before anything happens.
	if st, _, _ := b.do(http.MethodPost, link, url.Values{"name": {"Ann"}, "password": {"ann password 1"}}, "cross-site"); st != http.StatusForbidden {
		t.Fatalf("cross-site join = %d, want 403", st)
	}
	if st, _, body := b.post(link, url.Values{"name": {"Ann Agent"}, "password": {"short"}}); st != 400 || !strings.Contains(body, "8 to 72") {
		t.Fatalf("short password = %d", st)
	}
	st, loc, _ := b.post(link, url.Values{"name": {"Ann Agent"}, "password": {"ann password 1"}})
	if st != http.StatusSeeOther || loc != "/" {
		t.Fatalf("join = %d → %q", st, loc)
	}
	// Signed in, as an agent who sees the invitation's inbox.
	if st, body := b.get("/conversations"); st != 200 || !strings.Contains(body, "Ann Agent · agent") || !strings.Contains(body, "Support") {
		t.Fatalf("after joining, /conversations = %d\n%s", st, body)
	}
	// The link worked once.
	if st, body := newBrowserClient(t, base).get(link); st != 404 || !strings.Contains(body, "not valid") {
		t.Fatalf("second visit = %d", st)
	}
	if invs := mustCall(t, 200, "GET", base+"/api/v1/invitations", admin, nil)["invitations"].([]any); len(invs) != 0 {
		t.Fatalf("accepted invitation still pending: %v", invs)
	}
	// She signs in again later with her new password.
	if loc := newBrowserClient(t, base).signIn(ann, "ann password 1"); loc != "/" {
		t.Fatalf("sign-in goes to %q", loc)
	}
	users := mustCall(t, 200, "GET", base+"/api/v1/users", admin, nil)["users"].([]any)
	found := false
	for _, u := range users {
		u := u.(map[string]any)
		found = found || (u["email"] == ann && u["role"] == "agent" && u["status"] == "active")
	}
	if !found {
		t.Fatalf("users = %v", users)
	}
}

func TestInvitationRevokedLinkDies(t *testing.T) {
	base, box := mailServer(t)
	admin, _, _ := adminWorkspace(t, base, "Revokers")
	bo := dbtest.Unique("bo") + "@example.com"
	sent := mustCall(t, 201, "POST", base+"/api/v1/invitations", admin, map[string]any{"email": bo, "role": "admin"})
	_, link := mailTo(t, box, bo)
	mustCall(t, 200, "DELETE", fmt.Sprintf("%s/api/v1/invitations/%d", base, int64(sent["id"].(float64))), admin, nil)
	mustCall(t, 404, "DELETE", fmt.Sprintf("%s/api/v1/invitations/%d", base, int64(sent["id"].(float64))), admin, nil)
	b := newBrowserClient(t, base)
	if st, _ := b.get(link); st != 404 {
		t.Fatalf("revoked link GET = %d", st)
	}
	if st, _, _ := b.post(link, url.Values{"name": {"Bo"}, "password": {"bo password 1"}}); st != 404 {
		t.Fatalf("revoked link POST = %d", st)
	}
	// Bad input changes nothing and says why.
	mustCall(t, 400, "POST", base+"/api/v1/invitations", admin, map[string]any{"email": "not-an-address", "role": "agent"})
	mustCall(t, 400, "POST", base+"/api/v1/invitations", admin, map[string]any{"email": bo, "role": "owner"})
	mustCall(t, 404, "POST", base+"/api/v1/invitations", admin, map[string]any{"email": bo, "role": "agent", "inbox_ids": []int64{1 << 40}})
}

func TestInvitationForSomeoneWithALoginAndTheWorkspaceChooser(t *testing.T) {
	base, box := mailServer(t)
	_, cyEmail, _ := adminWorkspace(t, base, "First Co")
	admin2, _, _ := adminWorkspace(t, base, "Second Co")
	mustCall(t, 201, "POST", base+"/api/v1/invitations", admin2, map[string]any{"email": cyEmail, "role": "agent"})
	_, link := mailTo(t, box, cyEmail)

	b := newBrowserClient(t, base)
	st, body := b.get(link)
	if st != 200 || !strings.Contains(body, "Sign in to join") || strings.Contains(body, `name="password"`) {
		t.Fatalf("link for an existing login = %d\n%s", st, body)
	}
	// Not signed in: joining is refused.
	if st, _, _ := b.post(link, url.Values{}); st != http.StatusForbidden {
		t.Fatalf("join without signing in = %d", st)
	}
	// Someone else signed in cannot take it.
	other := newBrowserClient(t, base)
	_, otherEmail, _ := adminWorkspace(t, base, "Third Co")
	other.signIn(otherEmail, "correct horse battery")
	if st, _, _ := other.post(link, url.Values{}); st != http.StatusForbidden {
		t.Fatalf("someone else's join = %d", st)
	}
	// Signed in with the same login, the person joins.
	b.signIn(cyEmail, "correct horse battery")
	if st, body := b.get(link); st != 200 || !strings.Contains(body, "same login") {
		t.Fatalf("signed-in invitee sees %d\n%s", st, body)
	}
	if st, loc, body := b.post(link, url.Values{}); st != http.StatusSeeOther || loc != "/" {
		t.Fatalf("join = %d → %q\n%s", st, loc, body)
	}
	if _, body := b.get("/conversations"); !strings.Contains(body, "Second Co") {
		t.Fatalf("after joining, the session is not in Second Co")
	}
	// Signing in now offers both workspaces.
	c := newBrowserClient(t, base)
	if loc := c.signIn(cyEmail, "correct horse battery"); loc != "/workspaces" {
		t.Fatalf("sign-in with two workspaces goes to %q, want the chooser", loc)
	}
	_, body = c.get("/workspaces")
	for _, want := range []string{"First Co", "Second Co", "Open Second Co"} {
		if !strings.Contains(body, want) {
			t.Fatalf("chooser lacks %q\n%s", want, body)
		}
	}
	id := regexp.MustCompile(`name="account_id" value="(\d+)">\s*<input type="hidden" name="next" value="/">\s*<span><strong>Second Co`).FindStringSubmatch(body)
	if id == nil {
		t.Fatalf("no form for Second Co\n%s", body)
	}
	if st, loc, _ := c.post("/workspaces", url.Values{"account_id": {id[1]}}); st != http.StatusSeeOther || loc != "/" {
		t.Fatalf("choose = %d → %q", st, loc)
	}
	if _, body := c.get("/conversations"); !strings.Contains(body, "Second Co") {
		t.Fatal("the chooser did not open Second Co")
	}
	// A workspace that is not theirs is refused.
	if st, _, _ := c.post("/workspaces", url.Values{"account_id": {"1"}}); st != http.StatusNotFound {
		t.Fatalf("foreign workspace = %d", st)
	}
}
