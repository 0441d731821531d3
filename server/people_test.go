package server_test

import (
	"context"
	"encoding/json"
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
	return mailServerWith(t, nil)
}

// mailServerWith is mailServer with its configuration changed by set.
func mailServerWith(t *testing.T, set func(*server.Config)) (base string, box *devmail.Box) {
	t.Helper()
	box, err := devmail.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	ts := httptest.NewUnstartedServer(nil)
	base = "http://" + ts.Listener.Addr().String()
	cfg := server.Config{AppDatabaseURL: dbtest.AppURL(), PublicURL: base,
		MailRelayURL: box.RelayURL(), MailFrom: "Deskwoot <desk@deskwoot.test>", MailQueue: fmt.Sprintf("test_people_%d_%d", os.Getpid(), mailQueues.Add(1))}
	if set != nil {
		set(&cfg)
	}
	app, err := server.Build(context.Background(), cfg)
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
	return &browserClient{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: time.Minute,
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

var linkRE = regexp.MustCompile(`https?://\S+/(invite|password/reset|profile/email|signup/confirm)/(dw_[a-z]{3}_[0-9A-Za-z]+)`)

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
	if st != 200 || !strings.Contains(body, "Sign in to join") {
		t.Fatalf("link for an existing login = %d\n%s", st, body)
	}
	// Not signed in: joining is refused, and a new password for the
	// email is too (a login cannot be made twice).
	if st, _, _ := b.post(link, url.Values{}); st != http.StatusBadRequest {
		t.Fatalf("join without signing in = %d", st)
	}
	if st, _, body := b.post(link, url.Values{"name": {"Cy"}, "password": {"another password"}}); st != http.StatusConflict || !strings.Contains(body, "sign in with it") {
		t.Fatalf("join with a new password for an existing login = %d\n%s", st, body)
	}
	// Someone else signed in cannot take it.
	other := newBrowserClient(t, base)
	_, otherEmail, _ := adminWorkspace(t, base, "Third Co")
	other.signIn(otherEmail, "correct horse battery")
	if st, _, _ := other.post(link, url.Values{}); st != http.StatusBadRequest {
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

func TestProfileNameTimeZonePasswordAndTokens(t *testing.T) {
	base, box := mailServer(t)
	admin, email, _ := adminWorkspace(t, base, "Profiles")
	api := base + "/api/v1/profile"
	prof := mustCall(t, 200, "GET", api, admin, nil)["profile"].(map[string]any)
	if prof["email"] != email || prof["time_zone"] != "UTC" || prof["notifications"].(map[string]any)["escalated"].(map[string]any)["email"] != true {
		t.Fatalf("profile = %v", prof)
	}
	prof = mustCall(t, 200, "PATCH", api, admin, map[string]any{"name": "Ada Admin", "time_zone": "Europe/Paris",
		"notifications": map[string]any{"draft_waiting": map[string]any{"in_app": true, "email": false}}})["profile"].(map[string]any)
	if prof["name"] != "Ada Admin" || prof["time_zone"] != "Europe/Paris" || prof["notifications"].(map[string]any)["draft_waiting"].(map[string]any)["email"] != false {
		t.Fatalf("patched profile = %v", prof)
	}
	// Bad input says which field and changes nothing.
	for _, bad := range []map[string]any{
		{"time_zone": "Mars/Olympus"}, {"time_zone": "Local"}, {"name": " "},
		{"email": "new@example.com"}, // no current password
		{"new_password": "a new password", "current_password": "wrong password"},
		{"notifications": map[string]any{"birthday": map[string]any{"in_app": true}}},
	} {
		st, out, _ := call("PATCH", api, admin, bad)
		if st != 400 {
			t.Errorf("PATCH %v = %d %v, want 400", bad, st, out)
		}
	}
	if p := mustCall(t, 200, "GET", api, admin, nil)["profile"].(map[string]any); p["time_zone"] != "Europe/Paris" || p["email"] != email {
		t.Fatalf("a refused change changed the profile: %v", p)
	}
	// A new email waits for the link mailed to it, and the answer is the
	// same whether another login has the address or not: only whoever
	// reads that mailbox learns it, when the link is opened.
	_, other, _ := adminWorkspace(t, base, "Others")
	fresh := dbtest.Unique("ada") + "@example.com"
	change := func(addr string) string {
		p := mustCall(t, 200, "PATCH", api, admin, map[string]any{"email": addr, "current_password": "correct horse battery"})["profile"].(map[string]any)
		if p["email"] != email || p["email_pending"] != addr {
			t.Fatalf("PATCH email %s: %v, want the email unchanged and %s pending", addr, p, addr)
		}
		_, link := mailTo(t, box, addr)
		return link
	}
	token := func(link string) string { return link[strings.LastIndex(link, "/")+1:] }
	takenLink := change(other)
	mustCall(t, 409, "POST", base+"/api/v1/profile/email/confirm", "", map[string]any{"token": token(takenLink)})
	if p := mustCall(t, 200, "GET", api, admin, nil)["profile"].(map[string]any); p["email"] != email {
		t.Fatalf("a taken address became the email: %v", p)
	}
	freshLink := change(fresh)
	mustCall(t, 404, "POST", base+"/api/v1/profile/email/confirm", "", map[string]any{"token": token(takenLink)}) // superseded
	// The link opens a page that asks first (a GET changes nothing); the
	// newest change is the one that counts, once.
	visitor := newBrowserClient(t, base)
	if st, body := visitor.get(freshLink); st != 200 || !strings.Contains(body, fresh) || !strings.Contains(body, "Confirm email") {
		t.Fatalf("the confirm page = %d\n%s", st, body)
	}
	if p := mustCall(t, 200, "GET", api, admin, nil)["profile"].(map[string]any); p["email"] != email {
		t.Fatalf("opening the link changed the email: %v", p)
	}
	if st, loc, body := visitor.post(freshLink, url.Values{}); st != 303 || loc != "/profile" {
		t.Fatalf("confirm = %d → %q\n%s", st, loc, body)
	}
	if p := mustCall(t, 200, "GET", api, admin, nil)["profile"].(map[string]any); p["email"] != fresh || p["email_pending"] != nil {
		t.Fatalf("after the link: %v, want %s", p, fresh)
	}
	mustCall(t, 404, "POST", base+"/api/v1/profile/email/confirm", "", map[string]any{"token": token(freshLink)})
	if st, _ := visitor.get(freshLink); st != 404 {
		t.Fatalf("a used link = %d, want 404", st)
	}
	email = fresh

	// Personal tokens: created (shown once), listed, used, revoked.
	tok := mustCall(t, 201, "POST", api+"/tokens", admin, map[string]any{"name": "backup script"})
	raw := tok["api_token"].(string)
	id := int64(tok["token"].(map[string]any)["id"].(float64))
	mustCall(t, 200, "GET", api, raw, nil)
	list := mustCall(t, 200, "GET", api+"/tokens", admin, nil)["tokens"].([]any)
	if len(list) != 2 || strings.Contains(fmt.Sprint(list), raw) {
		t.Fatalf("tokens = %v", list)
	}
	mustCall(t, 400, "POST", api+"/tokens", admin, map[string]any{"name": ""})
	mustCall(t, 200, "DELETE", fmt.Sprintf("%s/tokens/%d", api, id), raw, nil) // a token may revoke itself
	mustCall(t, 401, "GET", api, raw, nil)
	mustCall(t, 404, "DELETE", fmt.Sprintf("%s/tokens/%d", api, id), admin, nil)

	// A password change in the console keeps this session and ends the others.
	here, there := newBrowserClient(t, base), newBrowserClient(t, base)
	here.signIn(email, "correct horse battery")
	there.signIn(email, "correct horse battery")
	st, _, body := here.post("/profile", url.Values{"name": {"Ada Admin"}, "email": {email}, "time_zone": {"Europe/Paris"},
		"current_password": {"wrong one"}, "new_password": {"a new password 2"}})
	if st != 400 || !strings.Contains(body, "Must be your current password") {
		t.Fatalf("wrong current password = %d\n%s", st, body)
	}
	if st, loc, _ := here.post("/profile", url.Values{"name": {"Ada Admin"}, "email": {email}, "time_zone": {"Europe/Paris"},
		"current_password": {"correct horse battery"}, "new_password": {"a new password 2"}}); st != 303 || loc != "/profile" {
		t.Fatalf("password change = %d → %q", st, loc)
	}
	if st, body := here.get("/profile"); st != 200 || !strings.Contains(body, "other sessions have ended") {
		t.Fatalf("the session that changed the password: %d", st)
	}
	if st, _ := there.get("/profile"); st != 303 {
		t.Fatalf("the other session after a password change: %d, want 303 to sign-in", st)
	}
	// REST tokens keep working after a password change; the old password does not.
	mustCall(t, 200, "GET", api, admin, nil)
	if st, _, _ := newBrowserClient(t, base).post("/signin", url.Values{"email": {email}, "password": {"correct horse battery"}}); st != 401 {
		t.Fatalf("old password signs in: %d", st)
	}
	newBrowserClient(t, base).signIn(email, "a new password 2")

	// The console shows a new token once.
	st, _, body = here.post("/profile/tokens", url.Values{"token_name": {"laptop"}})
	m := regexp.MustCompile(`value="(dw_usr_[0-9A-Za-z]+)"`).FindStringSubmatch(body)
	if st != 201 || m == nil {
		t.Fatalf("console token = %d\n%s", st, body)
	}
	mustCall(t, 200, "GET", api, m[1], nil)
	if _, body := here.get("/profile"); strings.Contains(body, m[1]) || !strings.Contains(body, "laptop") {
		t.Fatal("the profile page shows the token again, or not its name")
	}
}

func TestPasswordResetByMailEndsEverySessionAndToken(t *testing.T) {
	base, box := mailServer(t)
	admin, email, _ := adminWorkspace(t, base, "Forgetful Co")
	old := newBrowserClient(t, base)
	old.signIn(email, "correct horse battery")
	stream := openLive(t, old) // the old session's open page
	personal := mustCall(t, 201, "POST", base+"/api/v1/profile/tokens", admin, map[string]any{"name": "cron"})["api_token"].(string)

	// The forgot page answers alike for an unknown and a known address.
	b := newBrowserClient(t, base)
	if st, body := b.get("/signin"); st != 200 || !strings.Contains(body, "Forgot password?") {
		t.Fatalf("sign-in page lacks the link: %d", st)
	}
	nobody := dbtest.Unique("nobody") + "@example.com"
	answer := func(addr string) string {
		st, loc, _ := b.post("/password/forgot", url.Values{"email": {addr}})
		if st != http.StatusSeeOther || loc != "/password/forgot" {
			t.Fatalf("forgot %s = %d → %q", addr, st, loc)
		}
		_, body := b.get("/password/forgot")
		return strings.ReplaceAll(body, addr, "ADDR")
	}
	if a, k := answer(nobody), answer(email); a != k || !strings.Contains(k, "a link to reset its password is on its way") {
		t.Fatalf("the answers differ for an unknown and a known email:\n%s\n---\n%s", a, k)
	}
	st1, out1, _ := call("POST", base+"/api/v1/password/forgot", "", map[string]any{"email": dbtest.Unique("nobody") + "@example.com"})
	st2, out2, _ := call("POST", base+"/api/v1/password/forgot", "", map[string]any{"email": email})
	if st1 != 202 || st2 != 202 || fmt.Sprint(out1) != fmt.Sprint(out2) {
		t.Fatalf("REST answers: %d %v / %d %v", st1, out1, st2, out2)
	}

	m, link := mailTo(t, box, email)
	if m.Subject != "Reset your Deskwoot password" || !strings.HasPrefix(link, "/password/reset/dw_rst_") || strings.Contains(m.Body, admin) {
		t.Fatalf("reset mail %q link %q\n%s", m.Subject, link, m.Body)
	}
	// Two requests for the email were made; only the newer link works.
	time.Sleep(500 * time.Millisecond)
	var links []string
	for _, m := range box.Mails() {
		if len(m.To) == 1 && m.To[0] == email {
			links = append(links, "/"+linkRE.FindStringSubmatch(m.Body)[1]+"/"+linkRE.FindStringSubmatch(m.Body)[2])
		}
		if len(m.To) == 1 && m.To[0] == nobody {
			t.Fatal("a mail went to an address nobody signs in with")
		}
	}
	if len(links) != 2 {
		t.Fatalf("%d reset mails, want 2 (one per request)", len(links))
	}
	// The requests ran as jobs, perhaps side by side: whichever wrote its
	// link last superseded the other.
	st0, _ := b.get(links[0])
	st1, _ = b.get(links[1])
	switch {
	case st0 == 200 && st1 == 404:
		link = links[0]
	case st0 == 404 && st1 == 200:
		link = links[1]
	default:
		t.Fatalf("the two links open with %d and %d; want exactly one", st0, st1)
	}

	if st, body := b.get(link); st != 200 || !strings.Contains(body, "New password") || !strings.Contains(body, email) {
		t.Fatalf("reset page = %d\n%s", st, body)
	}
	if st, _, _ := b.do(http.MethodPost, link, url.Values{"password": {"brand new password"}}, "cross-site"); st != 403 {
		t.Fatalf("cross-site reset = %d", st)
	}
	if st, _, _ := b.post(link, url.Values{"password": {"short"}}); st != 400 {
		t.Fatalf("short password = %d", st)
	}
	if st, loc, _ := b.post(link, url.Values{"password": {"brand new password"}}); st != 303 || loc != "/signin" {
		t.Fatalf("set password = %d → %q", st, loc)
	}
	// Every session and personal token of the person has ended, and the
	// old session's live stream with them.
	select {
	case s := <-stream:
		if !s.ended {
			t.Errorf("the old session's live stream closed without an end event (%v)", s.err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the old session's live stream is still open 5 s after the reset")
	}
	if st, _ := old.get("/conversations"); st != 303 {
		t.Fatalf("the old session after the reset: %d, want 303 to sign-in", st)
	}
	mustCall(t, 401, "GET", base+"/api/v1/profile", personal, nil)
	mustCall(t, 401, "GET", base+"/api/v1/profile", admin, nil)
	if st, _ := b.get(link); st != 404 {
		t.Fatalf("the used link opens again: %d", st)
	}
	mustCall(t, 404, "POST", base+"/api/v1/password/reset", "", map[string]any{"token": strings.TrimPrefix(link, "/password/reset/"), "password": "another password"})
	if st, _, _ := newBrowserClient(t, base).post("/signin", url.Values{"email": {email}, "password": {"correct horse battery"}}); st != 401 {
		t.Fatalf("the old password still signs in: %d", st)
	}
	newBrowserClient(t, base).signIn(email, "brand new password")
}

func TestPasswordForgotIsThrottledAlikeForEveryAddress(t *testing.T) {
	base, _ := mailServer(t)
	_, email, _ := adminWorkspace(t, base, "Throttled")
	for _, addr := range []string{email, dbtest.Unique("nobody") + "@example.com"} {
		var last int
		for i := 0; i < 4; i++ {
			last, _, _ = call("POST", base+"/api/v1/password/forgot", "", map[string]any{"email": addr})
		}
		if last != http.StatusTooManyRequests {
			t.Errorf("4th request for %s = %d, want 429", addr, last)
		}
	}
	// A form post to the JSON endpoint is refused: no page elsewhere can send them.
	req, _ := http.NewRequest("POST", base+"/api/v1/password/forgot", strings.NewReader("email=x%40example.com"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("form post = %d, want 415", res.StatusCode)
	}
}

// convOf reads a conversation through REST.
func convOf(t *testing.T, base, token string, id int64) map[string]any {
	t.Helper()
	return mustCall(t, 200, "GET", fmt.Sprintf("%s/api/v1/conversations/%d", base, id), token, nil)["conversation"].(map[string]any)
}

func TestOffboardingEndsAccessOnEveryReplicaAndKeepsTheAuditName(t *testing.T) {
	f := startFleet(t, dbtest.AppURL(), 2)
	one, two := f.urls[0], f.urls[1]
	admin, adminEmail, inbox := adminWorkspace(t, one, "Offboarders")
	bo := dbtest.Unique("bo") + "@example.com"
	created := mustCall(t, 201, "POST", one+"/api/v1/users", admin, map[string]any{"email": bo, "name": "Bo Leaving", "password": "bo password 1", "role": "agent"})
	boID, boToken := int64(created["user"].(map[string]any)["id"].(float64)), created["api_token"].(string)
	mustCall(t, 200, "POST", fmt.Sprintf("%s/api/v1/inboxes/%d/members", one, inbox), admin, map[string]any{"user_id": boID})
	in := mustCall(t, 201, "POST", fmt.Sprintf("%s/api/v1/inboxes/%d/messages", one, inbox), admin,
		map[string]any{"contact": map[string]any{"email": "cat@customer.test", "name": "Cat"}, "content": "Help", "source_id": "s1"})
	open := int64(in["conversation_id"].(float64))
	in = mustCall(t, 201, "POST", fmt.Sprintf("%s/api/v1/inboxes/%d/messages", one, inbox), admin,
		map[string]any{"contact": map[string]any{"email": "dan@customer.test", "name": "Dan"}, "content": "Thanks", "source_id": "s2"})
	done := int64(in["conversation_id"].(float64))
	mustCall(t, 200, "PATCH", fmt.Sprintf("%s/api/v1/conversations/%d", one, open), admin, map[string]any{"assignee_id": boID})
	mustCall(t, 200, "PATCH", fmt.Sprintf("%s/api/v1/conversations/%d", one, done), admin, map[string]any{"assignee_id": boID, "status": "resolved"})

	// Bo works on replica one: a session and a token.
	page := newBrowserClient(t, one)
	page.signIn(bo, "bo password 1")
	if st, _ := page.get("/conversations"); st != 200 {
		t.Fatalf("Bo's page before: %d", st)
	}
	mustCall(t, 200, "GET", one+"/api/v1/conversations", boToken, nil)
	// Agents may not offboard anyone.
	mustCall(t, 403, "PATCH", fmt.Sprintf("%s/api/v1/users/%d", one, boID), boToken, map[string]any{"active": false})

	// Deactivated on replica two: replica one refuses Bo's very next requests.
	u := mustCall(t, 200, "PATCH", fmt.Sprintf("%s/api/v1/users/%d", two, boID), admin, map[string]any{"active": false})["user"].(map[string]any)
	if u["status"] != "deactivated" {
		t.Fatalf("user after deactivation = %v", u)
	}
	if st, _ := page.get("/conversations"); st != http.StatusSeeOther {
		t.Fatalf("Bo's open page after deactivation: %d, want 303 to sign-in", st)
	}
	mustCall(t, 401, "GET", one+"/api/v1/conversations", boToken, nil)
	if st, _, _ := newBrowserClient(t, one).post("/signin", url.Values{"email": {bo}, "password": {"bo password 1"}}); st != 401 {
		t.Fatalf("a deactivated person signs in: %d", st)
	}
	if convOf(t, one, admin, open)["assignee"] != nil || convOf(t, one, admin, done)["assignee"] == nil {
		t.Fatal("deactivation must unassign the open conversation and leave the resolved one")
	}
	// Undo: Bo signs in again; the revoked token stays revoked.
	mustCall(t, 200, "PATCH", fmt.Sprintf("%s/api/v1/users/%d", one, boID), admin, map[string]any{"active": true})
	page.signIn(bo, "bo password 1")
	mustCall(t, 401, "GET", one+"/api/v1/conversations", boToken, nil)

	// Inbox members: removed once, then not found.
	mustCall(t, 200, "DELETE", fmt.Sprintf("%s/api/v1/inboxes/%d/members/%d", one, inbox, boID), admin, nil)
	mustCall(t, 404, "DELETE", fmt.Sprintf("%s/api/v1/inboxes/%d/members/%d", one, inbox, boID), admin, nil)

	// Removed on replica two: the page Bo has open on replica one gets nothing more.
	gone := mustCall(t, 200, "DELETE", fmt.Sprintf("%s/api/v1/users/%d", two, boID), admin, nil)
	if gone["removed"] != true {
		t.Fatalf("remove = %v", gone)
	}
	if st, _ := page.get("/conversations"); st != http.StatusSeeOther {
		t.Fatalf("Bo's page after removal: %d", st)
	}
	if st, _, _ := page.post("/profile", url.Values{"name": {"still here"}}); st != http.StatusSeeOther {
		t.Fatalf("Bo's post after removal: %d", st)
	}
	for _, u := range mustCall(t, 200, "GET", one+"/api/v1/users", admin, nil)["users"].([]any) {
		if u.(map[string]any)["email"] == bo {
			t.Fatal("a removed person is still listed")
		}
	}
	mustCall(t, 404, "PATCH", fmt.Sprintf("%s/api/v1/users/%d", one, boID), admin, map[string]any{"active": true})
	// The audit log still names Bo (his sign-ins) and records each step with the admin as actor.
	adminPage := newBrowserClient(t, one)
	adminPage.signIn(adminEmail, "correct horse battery")
	if _, body := adminPage.get("/audit"); !strings.Contains(body, "Bo Leaving") {
		t.Error("the audit page no longer names the removed person")
	}
	adminID := int64(mustCall(t, 200, "GET", one+"/api/v1/profile", admin, nil)["profile"].(map[string]any)["id"].(float64))
	rows := mustCall(t, 200, "GET", fmt.Sprintf("%s/api/v1/audit?actor=%d", one, adminID), admin, nil)
	actions := fmt.Sprint(rows)
	for _, want := range []string{"user.update", "inbox.member.remove", "user.remove"} {
		if !strings.Contains(actions, want) {
			t.Errorf("the audit lacks %s by the admin", want)
		}
	}
}

func TestTheLastAdminStays(t *testing.T) {
	base, _ := mailServer(t)
	admin, _, _ := adminWorkspace(t, base, "Lonely")
	me := int64(mustCall(t, 200, "GET", base+"/api/v1/profile", admin, nil)["profile"].(map[string]any)["id"].(float64))
	for _, c := range []struct {
		method string
		body   map[string]any
	}{{"PATCH", map[string]any{"role": "agent"}}, {"PATCH", map[string]any{"active": false}}, {"DELETE", nil}} {
		st, out, _ := call(c.method, fmt.Sprintf("%s/api/v1/users/%d", base, me), admin, c.body)
		if st != 409 || !strings.Contains(fmt.Sprint(out), "last active admin") {
			t.Errorf("%s %v on the last admin = %d %v, want 409 in words", c.method, c.body, st, out)
		}
	}
	// With a second admin, either can step down; then the other is the last.
	other := mustCall(t, 201, "POST", base+"/api/v1/users", admin, map[string]any{"email": dbtest.Unique("co") + "@example.com", "password": "co password 1", "role": "admin"})
	otherID := int64(other["user"].(map[string]any)["id"].(float64))
	mustCall(t, 200, "PATCH", fmt.Sprintf("%s/api/v1/users/%d", base, me), admin, map[string]any{"role": "agent"})
	mustCall(t, 409, "DELETE", fmt.Sprintf("%s/api/v1/users/%d", base, otherID), other["api_token"].(string), nil)
	mustCall(t, 403, "PATCH", fmt.Sprintf("%s/api/v1/users/%d", base, otherID), admin, map[string]any{"role": "agent"}) // no longer an admin
}

func TestDeletingInboxesTeamsLabelsAndEditingArticles(t *testing.T) {
	base, _ := mailServer(t)
	admin, _, inbox := adminWorkspace(t, base, "Tidy Co")
	in := mustCall(t, 201, "POST", fmt.Sprintf("%s/api/v1/inboxes/%d/messages", base, inbox), admin,
		map[string]any{"contact": map[string]any{"email": "eve@customer.test", "name": "Eve"}, "content": "Hi", "source_id": "e1"})
	conv := int64(in["conversation_id"].(float64))
	label := mustCall(t, 201, "POST", base+"/api/v1/labels", admin, map[string]any{"name": "vip"})
	team := mustCall(t, 201, "POST", base+"/api/v1/teams", admin, map[string]any{"name": "Tier 2"})
	mustCall(t, 200, "PATCH", fmt.Sprintf("%s/api/v1/conversations/%d", base, conv), admin, map[string]any{"add_labels": []string{"vip"}, "team_id": team["id"]})

	mustCall(t, 204, "DELETE", fmt.Sprintf("%s/api/v1/labels/%d", base, int64(label["id"].(float64))), admin, nil)
	mustCall(t, 204, "DELETE", fmt.Sprintf("%s/api/v1/teams/%d", base, int64(team["id"].(float64))), admin, nil)
	c := convOf(t, base, admin, conv)
	if len(c["labels"].([]any)) != 0 || c["team"] != nil {
		t.Fatalf("after deleting the label and team, the conversation = %v", c)
	}
	mustCall(t, 404, "DELETE", fmt.Sprintf("%s/api/v1/labels/%d", base, int64(label["id"].(float64))), admin, nil)

	art := mustCall(t, 201, "POST", base+"/api/v1/articles", admin, map[string]any{"title": "Refunds", "body": "30 days."})
	a := mustCall(t, 200, "PATCH", fmt.Sprintf("%s/api/v1/articles/%d", base, int64(art["id"].(float64))), admin, map[string]any{"body": "60 days.", "status": "draft"})
	if a["body"] != "60 days." || a["status"] != "draft" || a["title"] != "Refunds" {
		t.Fatalf("edited article = %v", a)
	}
	mustCall(t, 400, "PATCH", fmt.Sprintf("%s/api/v1/articles/%d", base, int64(art["id"].(float64))), admin, map[string]any{"title": ""})

	// The console asks for the inbox's name and says what goes with it.
	b := newBrowserClient(t, base)
	adminEmail := mustCall(t, 200, "GET", base+"/api/v1/profile", admin, nil)["profile"].(map[string]any)["email"].(string)
	b.signIn(adminEmail, "correct horse battery")
	path := fmt.Sprintf("/settings/inboxes/%d/delete", inbox)
	if st, body := b.get(path); st != 200 || !strings.Contains(body, "1 conversations go with it") || !strings.Contains(body, "Type the inbox") {
		t.Fatalf("inbox delete page = %d\n%s", st, body)
	}
	if st, _, _ := b.post(path, url.Values{"confirm_name": {"support"}}); st != 400 {
		t.Fatalf("a wrong name deletes: %d", st)
	}
	convOf(t, base, admin, conv) // still there
	if st, loc, _ := b.post(path, url.Values{"confirm_name": {"Support"}}); st != 303 || loc != "/settings/inboxes" {
		t.Fatalf("delete with the name = %d → %q", st, loc)
	}
	mustCall(t, 404, "GET", fmt.Sprintf("%s/api/v1/conversations/%d", base, conv), admin, nil)
	mustCall(t, 404, "DELETE", fmt.Sprintf("%s/api/v1/inboxes/%d", base, inbox), admin, nil)
}

// notificationsOf lists a person's notifications through REST.
func notificationsOf(t *testing.T, base, token string) ([]map[string]any, int) {
	t.Helper()
	out := mustCall(t, 200, "GET", base+"/api/v1/notifications", token, nil)
	var ns []map[string]any
	for _, n := range out["notifications"].([]any) {
		ns = append(ns, n.(map[string]any))
	}
	return ns, int(out["unread"].(float64))
}

func TestEscalationAssignmentAndMentionNotifyTheRightPeople(t *testing.T) {
	base, box := mailServer(t)
	admin, adminEmail, inbox := adminWorkspace(t, base, "Notified Co")
	other := mustCall(t, 201, "POST", base+"/api/v1/inboxes", admin, map[string]any{"name": "Partners", "channel": "api"})
	mk := func(name string, inboxID int64) (int64, string, string) {
		email := dbtest.Unique(strings.ToLower(name)) + "@example.com"
		u := mustCall(t, 201, "POST", base+"/api/v1/users", admin, map[string]any{"email": email, "name": name, "password": "agent password 1", "role": "agent"})
		id := int64(u["user"].(map[string]any)["id"].(float64))
		mustCall(t, 200, "POST", fmt.Sprintf("%s/api/v1/inboxes/%d/members", base, inboxID), admin, map[string]any{"user_id": id})
		return id, u["api_token"].(string), email
	}
	bobID, bob, bobEmail := mk("Bob", inbox)
	_, cy, cyEmail := mk("Cy", int64(other["id"].(float64))) // not a member of Support

	mustCall(t, 200, "PUT", base+"/api/v1/settings/mcp", admin, map[string]any{"enabled": true})
	bot := mustCall(t, 201, "POST", base+"/api/v1/mcp/tokens", admin, map[string]any{"name": "bot", "preset": "full_agent"})["token"].(string)
	in := mustCall(t, 201, "POST", fmt.Sprintf("%s/api/v1/inboxes/%d/messages", base, inbox), admin, map[string]any{
		"contact": map[string]any{"email": "fay@customer.test", "name": "Fay"}, "source_id": "f1",
		"content": "I was charged twice for order 77 and I am furious " + strings.Repeat("about this ", 40)})
	conv := int64(in["conversation_id"].(float64))

	// The agent escalates: the inbox's members and the admins hear of it, Cy does not.
	mustTool(t, base, bot, "escalate_to_human", map[string]any{"conversation_id": conv, "reason": "double charge; the customer is angry"})
	for who, tok := range map[string]string{"admin": admin, "Bob": bob} {
		ns, unread := notificationsOf(t, base, tok)
		if unread != 1 || ns[0]["kind"] != "escalated" || !strings.Contains(ns[0]["title"].(string), "double charge") || int64(ns[0]["conversation_id"].(float64)) != conv {
			t.Fatalf("%s's notifications after the escalation: %d unread, %v", who, unread, ns)
		}
	}
	if ns, _ := notificationsOf(t, base, cy); len(ns) != 0 {
		t.Fatalf("Cy, outside the inbox, was notified: %v", ns)
	}
	m, _ := box.Wait(15*time.Second, func(m devmail.Mail) bool { return len(m.To) == 1 && m.To[0] == adminEmail })
	if !strings.HasPrefix(m.Subject, "Escalated to people") || !strings.Contains(m.Body, fmt.Sprintf("/conversations/%d", conv)) ||
		strings.Contains(m.Body, "dw_") || strings.Count(m.Body, "about this") > 20 {
		t.Fatalf("escalation mail:\nSubject: %s\n%s", m.Subject, m.Body)
	}
	if c := convOf(t, base, admin, conv); c["escalated"] != true {
		t.Fatalf("the conversation is not shown escalated: %v", c)
	}
	if b, _ := json.Marshal(mustTool(t, base, bot, "get_conversation", map[string]any{"conversation_id": conv})); !strings.Contains(string(b), `"escalated":true`) {
		t.Fatalf("MCP does not show escalated: %s", b)
	}

	// The admin assigns it to Bob: Bob hears of it; it is no longer escalated.
	mustCall(t, 200, "PATCH", fmt.Sprintf("%s/api/v1/conversations/%d", base, conv), admin, map[string]any{"assignee_id": bobID})
	if ns, unread := notificationsOf(t, base, bob); unread != 2 || ns[0]["kind"] != "assigned" {
		t.Fatalf("Bob after the assignment: %d unread, %v", unread, ns)
	}
	if _, unread := notificationsOf(t, base, admin); unread != 1 {
		t.Fatalf("the admin heard of their own assignment: %d unread", unread)
	}
	if c := convOf(t, base, admin, conv); c["escalated"] != false {
		t.Fatal("a person assigned the conversation, yet it is still escalated")
	}
	if m, ok := box.Wait(15*time.Second, func(m devmail.Mail) bool {
		return len(m.To) == 1 && m.To[0] == bobEmail && strings.HasPrefix(m.Subject, "Assigned to you")
	}); !ok || strings.Contains(m.Body, "dw_") {
		t.Fatalf("no assignment mail to Bob (or it holds a token)")
	}

	// A private note mentions Bob and Cy: Bob hears of it; Cy, outside the inbox, does not.
	bobHandle := strings.Split(bobEmail, "@")[0]
	cyHandle := strings.Split(cyEmail, "@")[0]
	mustCall(t, 201, "POST", fmt.Sprintf("%s/api/v1/conversations/%d/messages", base, conv), admin,
		map[string]any{"content": "@" + bobHandle + " please check the refund, and @" + cyHandle, "private": true})
	if ns, _ := notificationsOf(t, base, bob); ns[0]["kind"] != "mentioned" {
		t.Fatalf("Bob after the mention: %v", ns)
	}
	if ns, _ := notificationsOf(t, base, cy); len(ns) != 0 {
		t.Fatalf("Cy heard of a conversation outside their inboxes: %v", ns)
	}

	// Mark read: one, then all.
	ns, _ := notificationsOf(t, base, bob)
	mustCall(t, 200, "POST", base+"/api/v1/notifications/read", bob, map[string]any{"ids": []int64{int64(ns[0]["id"].(float64))}})
	if _, unread := notificationsOf(t, base, bob); unread != 2 {
		t.Fatalf("after marking one read: %d unread", unread)
	}
	mustCall(t, 400, "POST", base+"/api/v1/notifications/read", bob, map[string]any{})
	mustCall(t, 200, "POST", base+"/api/v1/notifications/read", bob, map[string]any{"all": true})
	if _, unread := notificationsOf(t, base, bob); unread != 0 {
		t.Fatalf("after marking all read: %d unread", unread)
	}

	// An escalation again, then Bob answers: no longer escalated.
	mustTool(t, base, bot, "escalate_to_human", map[string]any{"conversation_id": conv, "reason": "again"})
	mustCall(t, 201, "POST", fmt.Sprintf("%s/api/v1/conversations/%d/messages", base, conv), bob, map[string]any{"content": "Refunded, sorry!"})
	if c := convOf(t, base, admin, conv); c["escalated"] != false {
		t.Fatal("a person answered, yet the conversation is still escalated")
	}
}
