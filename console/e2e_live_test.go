package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// TestLiveEndToEnd drives Chromium in New York: a message sent through
// REST appears in the open list and the open thread without a reload
// (the text being typed in the composer stays), an agent's draft appears
// in the thread with the bell and the Drafts count, and is approved there;
// times read in New York's zone.
func TestLiveEndToEnd(t *testing.T) {
	br := startChrome(t, 5*time.Minute)
	base, app := startServer(t)
	p := br.tab(base)
	ctx := p.ctx

	// A browser in New York signs up: sign-up takes its zone.
	p.open("/signup")
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "America/New_York"}); err != nil {
		t.Fatal(err)
	}
	p.open("/signup")
	email := dbtest.Unique("live") + "@example.com"
	p.fill("Workspace name", "Live Support")
	p.fill("Email", email)
	p.fill("Password", "correct horse battery")
	p.press("Create account", "")
	jar, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	var session string
	for _, c := range jar.Cookies {
		if c.Name == "deskwoot_session" {
			session = c.Value
		}
	}
	who, _, err := identity.SessionAuthenticate(context.Background(), app.DB, session, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if who.TimeZone != "America/New_York" {
		t.Fatalf("sign-up kept the zone %q, want the browser's America/New_York", who.TimeZone)
	}
	d := &desk.Desk{DB: app.DB}
	inbox, err := d.InboxCreate(context.Background(), tenancy.For(who.AccountID), desk.InboxInput{Name: "Support", Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	token := restLogin(t, base, email, "correct horse battery")
	customer := func(name, text string) int64 {
		out := restPost(t, base, token, fmt.Sprintf("/api/v1/inboxes/%d/messages", inbox.ID), map[string]any{
			"contact": map[string]any{"email": strings.ToLower(strings.Fields(name)[0]) + "@customer.test", "name": name},
			"content": text, "source_id": dbtest.Unique("src")})
		return int64(out["conversation_id"].(float64))
	}
	first := customer("Jane Customer", "Where is my refund for order 1042?")

	// The list is open; a new conversation comes in through REST.
	p.open("/conversations")
	p.has("Jane Customer")
	eval[bool](p, "mark the page", `window.__sameLoad = true`)
	customer("Bob Buyer", "Has my parcel shipped yet?")
	p.waitFor("Bob Buyer in the open list", `document.getElementById("conversation-list").innerText.includes("Bob Buyer")`)
	p.waitFor("Bob's message as the row's preview", `[...document.querySelectorAll("#conversation-list li")].some(li => li.innerText.includes("Bob Buyer") && li.innerText.includes("Customer: Has my parcel shipped yet?"))`)
	if !eval[bool](p, "no reload", `window.__sameLoad === true`) {
		t.Fatal("the list reloaded instead of updating")
	}
	p.shot("live-01-list-updated")

	// A reply to Jane through REST moves her row's preview on, live.
	restPost(t, base, token, fmt.Sprintf("/api/v1/conversations/%d/messages", first), map[string]any{"content": "Looking into it now."})
	p.waitFor("Jane's row shows the reply", `[...document.querySelectorAll("#conversation-list li")].some(li => li.innerText.includes("Jane Customer") && li.innerText.includes("Looking into it now."))`)

	// The thread is open with a reply being typed; the customer writes again.
	p.open(fmt.Sprintf("/conversations/%d", first))
	p.has("Where is my refund for order 1042?", "EST", "Times in America/New_York")
	eval[bool](p, "mark the page", `window.__sameLoad = true`)
	p.fill("Message", "Let me check that for you")
	customer("Jane Customer", "It has been three weeks now.")
	p.waitFor("the new message in the open thread", `document.getElementById("thread").innerText.includes("It has been three weeks now.")`)
	if got := p.value("Message"); got != "Let me check that for you" || !eval[bool](p, "no reload", `window.__sameLoad === true`) {
		t.Fatalf("the composer holds %q after the update (want the text being typed, and no reload)", got)
	}

	// The agent drafts a reply: it stands in the thread, the bell and the
	// Drafts count follow.
	tok, _, err := identity.MCPTokenCreate(context.Background(), app.DB, tenancy.For(who.AccountID),
		identity.MCPTokenInput{Name: "careful-bot", Scopes: []string{"conversations:reply"}, RequireApproval: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	err = app.DB.InTenant(context.Background(), who.AccountID, func(tx pgx.Tx) error {
		_, err := d.DraftCreate(context.Background(), tx, who.AccountID, desk.DraftInput{Kind: "reply", ConversationID: first,
			Content: "Your refund is on its way.", Rationale: "refund question", TokenID: tok.ID})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	p.waitFor("the draft in the open thread", `document.getElementById("thread").innerText.includes("AI draft waiting for approval")`)
	p.waitFor("the Drafts count", `document.getElementById("nav-drafts-count").textContent.trim() === "1"`)
	p.waitFor("the bell", `document.getElementById("nav-notifications-count").textContent.trim() === "1"`)
	if got := p.value("Reply"); got != "Your refund is on its way." {
		t.Fatalf("the draft's Reply field holds %q", got)
	}
	p.shot("live-02-thread-draft")
	p.run("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	p.shot("live-03-thread-draft-phone")
	p.run("desktop", chromedp.EmulateViewport(1280, 900))

	p.fill("Reply", "Hi Jane, your refund for order 1042 was sent today.")
	p.press("Approve", "")
	p.has("Approved: the reply is on its way", "approved by", "edited before sending", "your refund for order 1042 was sent today")
	p.waitFor("the Drafts count back to 0", `document.getElementById("nav-drafts-count").textContent.trim() === "0"`)
	p.shot("live-04-thread-approved")

	// Phone width: the list without sideways scrolling.
	p.open("/conversations")
	p.run("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	p.shot("live-05-list-phone")
}

// waitFor polls a JavaScript condition (without reloading) for up to 10 s.
func (p *page) waitFor(what, js string) {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !eval[bool](p, what, js) {
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: not within 10 s\n%s", what, p.text())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func restLogin(t *testing.T, base, email, password string) string {
	t.Helper()
	out := restPost(t, base, "", "/api/v1/login", map[string]any{"email": email, "password": password})
	tok, _ := out["api_token"].(string)
	if tok == "" {
		t.Fatalf("login gave no token: %v", out)
	}
	return tok
}

func restPost(t *testing.T, base, token, path string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode/100 != 2 {
		t.Fatalf("POST %s: %d %v", path, res.StatusCode, out)
	}
	return out
}
