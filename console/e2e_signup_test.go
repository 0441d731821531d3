package console_test

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/devmail"
	"github.com/deskwoot/deskwoot/server"
	"github.com/deskwoot/deskwoot/signup"
)

var signupLink = regexp.MustCompile(`https?://\S+(/signup/confirm/dw_sgn_[0-9A-Za-z]+)`)

// signupLinkIn waits for the signup mail to to and returns its link's path.
func signupLinkIn(t *testing.T, box *devmail.Box, to string) (devmail.Mail, string) {
	t.Helper()
	m, ok := box.Wait(20*time.Second, func(m devmail.Mail) bool { return len(m.To) == 1 && m.To[0] == to })
	if !ok {
		t.Fatalf("no signup mail reached %s", to)
	}
	l := signupLink.FindStringSubmatch(m.Body)
	if l == nil {
		t.Fatalf("the signup mail carries no link:\n%s", m.Body)
	}
	return m, l[1]
}

// TestConfirmedSignupEndToEnd drives email-confirmed signup
// (DESKWOOT_SIGNUP=confirm) in headless Chromium: "Create account" says
// "check your email" alike for a new email and for one that has a login;
// the newcomer's link creates the workspace and signs them in; the other
// link asks its login to sign in first, then creates the workspace for it.
func TestConfirmedSignupEndToEnd(t *testing.T) {
	br := startChrome(t, 5*time.Minute)
	// The first login, made the open way on a server of its own.
	openBase, _, _ := startMailServer(t)
	taken := dbtest.Unique("owner") + "@example.com"
	if st := postJSON(t, openBase+"/api/v1/signup", fmt.Sprintf(`{"account_name":"First Co","email":%q,"password":"correct horse battery"}`, taken)); st != 201 {
		t.Fatalf("open signup: %d", st)
	}
	// A mail queue of its own: the open server above must not take its jobs.
	base, _, box := startMailServerWith(t, func(c *server.Config) {
		c.Signup, c.MailQueue = signup.Confirm, fmt.Sprintf("e2e_signup_%d", os.Getpid())
	})
	person := func() *page { return br.tab(base) }
	ask := func(p *page, workspace, email string) string {
		p.open("/signup")
		p.fill("Workspace name", workspace)
		p.fill("Email", email)
		p.fill("Password", "a new password")
		p.press("Create account", "")
		p.has("We sent a link to", email)
		return strings.ReplaceAll(p.text(), email, "EMAIL")
	}

	newcomer := person()
	fresh := dbtest.Unique("newcomer") + "@example.com"
	freshPage := ask(newcomer, "Second Co", fresh)
	newcomer.shot("signup-01-check-your-email")
	stranger := person()
	if takenPage := ask(stranger, "Second Co", taken); takenPage != freshPage {
		t.Fatalf("sign-up pages differ:\n--- taken\n%s\n--- new\n%s", takenPage, freshPage)
	}

	// The newcomer's link: "Create workspace" → signed in.
	_, link := signupLinkIn(t, box, fresh)
	newcomer.open(link)
	newcomer.has("Create the workspace Second Co", fresh)
	newcomer.shot("signup-02-confirm")
	newcomer.press("Create workspace", "")
	newcomer.has("Your 7-day Enterprise trial of Second Co has started", "Conversations")
	newcomer.shot("signup-03-signed-in")

	// The existing login's mail says so; its link asks to sign in first.
	m, link := signupLinkIn(t, box, taken)
	if !strings.Contains(m.Body, "already has a Deskwoot sign-in") {
		t.Fatalf("mail to an existing login:\n%s", m.Body)
	}
	owner := person()
	owner.open(link)
	owner.has("already has a Deskwoot sign-in", "Sign in to continue")
	owner.shot("signup-04-existing-login")
	owner.run("sign in link", chromedp.Click(`//a[contains(., "Sign in to continue")]`), chromedp.WaitVisible(`//button[contains(., "Sign in")]`))
	owner.fill("Email", taken)
	owner.fill("Password", "correct horse battery")
	owner.press("Sign in", "")
	owner.has("the new workspace is yours with the same login")
	owner.press("Create workspace", "")
	owner.has("Your 7-day Enterprise trial of Second Co has started")
	owner.open("/workspaces")
	owner.has("First Co", "Second Co")

	// The same pages on a phone.
	phone := person()
	phone.run("phone size", chromedp.EmulateViewport(390, 844))
	ask(phone, "Phone Co", dbtest.Unique("phone")+"@example.com")
	phone.shot("signup-05-check-your-email-phone")
}

// postJSON posts a JSON body and returns the status.
func postJSON(t *testing.T, url, body string) int {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}
