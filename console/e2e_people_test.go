package console_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/devmail"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/server"
	"github.com/deskwoot/deskwoot/tenancy"
)

// startMailServer runs the whole server with mail to people going to a
// real SMTP listener (a devmail box, also shown at /dev/mail), on a mail
// queue of its own.
func startMailServer(t *testing.T) (base string, app *server.App, box *devmail.Box) {
	t.Helper()
	return startMailServerWith(t, nil)
}

// startMailServerWith is startMailServer with its configuration changed
// by set.
func startMailServerWith(t *testing.T, set func(*server.Config)) (base string, app *server.App, box *devmail.Box) {
	t.Helper()
	box, err := devmail.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base = "http://" + addr
	cfg := server.Config{AppDatabaseURL: dbtest.AppURL(), PublicURL: base,
		MailRelayURL: box.RelayURL(), MailFrom: "Deskwoot <desk@deskwoot.test>", DevMailbox: box.Handler(base),
		MailQueue: fmt.Sprintf("e2e_people_%d", os.Getpid())}
	if set != nil {
		set(&cfg)
	}
	app, err = server.Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, addr) }()
	t.Cleanup(func() { stop(); <-done })
	for i := 0; ; i++ {
		if res, err := http.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			break
		}
		if i > 100 {
			t.Fatal("the server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return base, app, box
}

var mailLink = regexp.MustCompile(`https?://\S+(/(?:invite|password/reset)/dw_[a-z]{3}_[0-9A-Za-z]+)`)

// linkIn waits for a mail to to whose subject contains subject and
// returns the path of the link it carries.
func linkIn(t *testing.T, box *devmail.Box, to, subject string) string {
	t.Helper()
	m, ok := box.Wait(20*time.Second, func(m devmail.Mail) bool {
		return len(m.To) == 1 && m.To[0] == to && strings.Contains(m.Subject, subject)
	})
	if !ok {
		t.Fatalf("no mail %q reached %s", subject, to)
	}
	l := mailLink.FindStringSubmatch(m.Body)
	if l == nil {
		t.Fatalf("mail %q carries no link:\n%s", m.Subject, m.Body)
	}
	return l[1]
}

// TestPeopleEndToEnd drives DESIGN §19 in headless Chromium with mail
// through a real SMTP listener: an admin invites an agent, who joins from
// the mailed link and is signed in; the agent forgets their password and
// resets it from the mailed link, which ends their old session and token;
// the admin removes them, and their open page and personal token get
// nothing more.
func TestPeopleEndToEnd(t *testing.T) {
	br := startChrome(t, 8*time.Minute)
	base, app, box := startMailServer(t)
	// Each person browses in a tab of their own (own cookies).
	person := func() *page { return br.tab(base) }
	api := func(method, path, token string) int {
		req, _ := http.NewRequest(method, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}

	// The admin signs up; the workspace has an inbox.
	admin := person()
	adminEmail := dbtest.Unique("owner") + "@example.com"
	admin.open("/signup")
	admin.fill("Workspace name", "Acme Support")
	admin.fill("Email", adminEmail)
	admin.fill("Password", "correct horse battery")
	admin.press("Create account", "")
	ws, err := identity.Workspaces(context.Background(), app.DB, adminUserID(t, app, adminEmail))
	if err != nil || len(ws) != 1 {
		t.Fatalf("workspaces: %v %v", ws, err)
	}
	d := &desk.Desk{DB: app.DB}
	if _, err := d.InboxCreate(context.Background(), tenancy.For(ws[0].AccountID), desk.InboxInput{Name: "Support", Channel: "api"}); err != nil {
		t.Fatal(err)
	}

	// Invite → mail → join → signed in as an agent.
	ann := dbtest.Unique("ann") + "@example.com"
	admin.open("/settings/team")
	admin.fill("Email", ann)
	admin.fill("Role", "agent")
	admin.tick("Support")
	admin.press("Send invitation", "")
	admin.has("Invitation sent to "+ann, "Pending invitations", ann)
	admin.shot("people-01-invitation-sent")
	invite := linkIn(t, box, ann, "invited you to Acme Support")
	admin.open("/dev/mail")
	admin.has("invited you to Acme Support", invite)
	admin.shot("people-02-dev-mailbox")

	agent := person()
	agent.open(invite)
	agent.has("You are invited to join Acme Support as an agent", ann)
	agent.shot("people-03-invite")
	agent.fill("Name", "Ann Agent")
	agent.fill("Password", "ann password 1")
	agent.press("Join", "")
	agent.has("Welcome to Acme Support", "Ann Agent · agent", "Conversations")
	agent.shot("people-04-joined-as-agent")
	admin.open("/settings/team")
	admin.has("Ann Agent", "No pending invitations")
	admin.shot("people-05-team")

	// Her profile: a personal token, shown once.
	agent.open("/profile")
	agent.fill("Token name", "laptop script")
	agent.press("Create token", "")
	agent.has("Copy it now", "laptop script")
	token := agent.value("Token")
	if !strings.HasPrefix(token, identity.UserTokenPrefix) || api("GET", "/api/v1/profile", token) != 200 {
		t.Fatalf("the personal token %q does not work", token)
	}
	agent.shot("people-06-profile-token")
	agent.open("/profile")
	if strings.Contains(agent.text(), token) {
		t.Fatal("the profile shows the token again")
	}

	// Forgot → mail → reset → the old session is dead (and the token).
	stranger := person()
	stranger.open("/signin")
	stranger.run("forgot link", chromedp.Click(`//a[contains(., "Forgot password?")]`), chromedp.WaitVisible(`//button[contains(., "Send reset link")]`))
	stranger.fill("Email", ann)
	stranger.press("Send reset link", "")
	stranger.has("a link to reset its password is on its way")
	stranger.shot("people-07-forgot-sent")
	reset := linkIn(t, box, ann, "Reset your Deskwoot password")
	stranger.open(reset)
	stranger.has("Set a new password", ann)
	stranger.shot("people-08-reset")
	stranger.fill("New password", "ann password 2")
	stranger.press("Set password", "")
	stranger.has("Your password is set", "Sign in")
	agent.open("/profile")
	agent.has("Sign in", "Forgot password?") // the old session is dead: back at sign-in
	if st := api("GET", "/api/v1/profile", token); st != http.StatusUnauthorized {
		t.Fatalf("the personal token after the reset: %d", st)
	}
	agent.fill("Email", ann)
	agent.fill("Password", "ann password 2")
	agent.press("Sign in", "")
	agent.has("Ann Agent · agent")
	agent.open("/profile")
	agent.fill("Token name", "second script")
	agent.press("Create token", "")
	token = agent.value("Token")
	agent.open("/conversations")

	// Remove → her open page and personal token get nothing more.
	admin.open("/settings/team")
	href := eval[string](admin, "remove link", `[...document.querySelectorAll('tr')].find(tr => tr.innerText.includes('Ann Agent')).querySelector('a[href$="/remove"]').getAttribute('href')`)
	admin.open(href)
	admin.has("You are about to remove", "Ann Agent", "signed out everywhere")
	admin.shot("people-09-remove-confirm")
	admin.tick("Yes, remove Ann Agent from this workspace")
	admin.press("Remove person", "")
	admin.has("Ann Agent was removed")
	admin.shot("people-10-removed")
	agent.open("/conversations")
	agent.has("Sign in")
	if strings.Contains(agent.text(), "Ann Agent · agent") {
		t.Fatal("the removed person's page still shows the workspace")
	}
	if st := api("GET", "/api/v1/conversations", token); st != http.StatusUnauthorized {
		t.Fatalf("the removed person's token: %d", st)
	}

	// An MCP escalate_to_human → the admin's bell and a mail.
	in, err := d.IncomingMessage(context.Background(), ws[0].AccountID, supportID(t, d, ws[0].AccountID), desk.IncomingInput{
		Contact: desk.IncomingContact{Email: "hal@customer.test", Name: "Hal"}, Content: "You charged me twice and I want my money back now", SourceID: "h-1"})
	if err != nil {
		t.Fatal(err)
	}
	admin.open("/settings/mcp")
	admin.tick("MCP server")
	admin.press("Save", "")
	admin.fill("Name", "escalator")
	admin.fill("Preset", "full_agent")
	admin.press("Create token", "")
	bot := admin.value("Token")
	cs, err := mcpSession(t, base+"/api/mcp", bot)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "escalate_to_human",
		Arguments: map[string]any{"conversation_id": in.ConversationID, "reason": "money: a double charge"}})
	if err != nil || res.IsError {
		t.Fatalf("escalate_to_human: %v %+v", err, res)
	}
	cs.Close()
	admin.open("/conversations")
	if bell := eval[string](admin, "bell", `document.querySelector('a.bell .count').textContent`); bell != "1" {
		t.Fatalf("the admin's bell shows %q, want 1", bell)
	}
	admin.open("/notifications")
	admin.has("The AI agent escalated", "You charged me twice", "money: a double charge", "Mark all read")
	admin.shot("people-11-notifications")
	if _, ok := box.Wait(20*time.Second, func(m devmail.Mail) bool {
		return len(m.To) == 1 && m.To[0] == adminEmail && strings.HasPrefix(m.Subject, "Escalated to people")
	}); !ok {
		t.Fatal("no escalation mail reached the admin")
	}
	admin.press("Mark all read", "")
	admin.has("Nothing unread")

	// The same pages on a phone.
	admin.run("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	admin.open("/settings/team")
	admin.shot("people-phone-team")
	// The People table stacks its rows: neither it nor the page scrolls
	// sideways.
	if eval[bool](admin, "no sideways scroll", `(() => {
		const w = document.querySelector('#h-people + .table-wrap');
		return !w || w.scrollWidth > w.clientWidth || document.documentElement.scrollWidth > window.innerWidth;
	})()`) {
		t.Error("on a phone the People table scrolls sideways")
	}
	admin.open("/profile")
	admin.shot("people-phone-profile")
	admin.open("/notifications")
	admin.shot("people-phone-notifications")
	stranger.run("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	stranger.open("/password/forgot")
	stranger.shot("people-phone-forgot")
}

// supportID is the workspace's Support inbox.
func supportID(t *testing.T, d *desk.Desk, acct int64) int64 {
	t.Helper()
	ibs, err := d.InboxList(context.Background(), tenancy.For(acct), desk.Scope{}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, ib := range ibs {
		if ib.Name == "Support" {
			return ib.ID
		}
	}
	t.Fatal("no Support inbox")
	return 0
}

// adminUserID finds the person who signs in with email.
func adminUserID(t *testing.T, app *server.App, email string) int64 {
	t.Helper()
	id, err := identity.LoginUser(context.Background(), app.DB, email)
	if err != nil || id == 0 {
		t.Fatalf("no login for %s: %v", email, err)
	}
	return id
}
