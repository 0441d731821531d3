package console_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/deskwoot/deskwoot/dbtest"
)

// TestDraftsAndNotificationsFollowLive drives Chromium on the Drafts page
// and on /notifications: a draft the agent makes, and a notification
// another admin causes, appear in the open list without a reload, and
// what the person types in a draft's fields meanwhile stays. Screenshots
// at desktop and phone width.
func TestDraftsAndNotificationsFollowLive(t *testing.T) {
	br := startChrome(t, 5*time.Minute)
	base, _ := startServer(t)

	// A workspace with an inbox, a second admin, and an agent token whose
	// replies wait for approval.
	email := dbtest.Unique("lists") + "@example.com"
	var signup struct {
		Token string `json:"api_token"`
		User  struct {
			ID int64 `json:"id"`
		} `json:"user"`
	}
	if c := rest(t, base, "POST", "/api/v1/signup", "", map[string]any{"account_name": "Lists Co", "email": email, "password": "correct horse battery"}, &signup); c != 201 {
		t.Fatalf("signup: %d", c)
	}
	admin := signup.Token
	var ib struct {
		ID int64 `json:"id"`
	}
	if c := rest(t, base, "POST", "/api/v1/inboxes", admin, map[string]any{"name": "Support", "channel": "api"}, &ib); c != 201 {
		t.Fatalf("inbox: %d", c)
	}
	var other struct {
		Token string `json:"api_token"`
	}
	if c := rest(t, base, "POST", "/api/v1/users", admin, map[string]any{"email": dbtest.Unique("co") + "@example.com", "name": "Casey Colleague",
		"password": "casey password 1", "role": "admin"}, &other); c != 201 {
		t.Fatalf("second admin: %d", c)
	}
	if c := rest(t, base, "PUT", "/api/v1/settings/mcp", admin, map[string]any{"enabled": true}, nil); c != 200 {
		t.Fatalf("mcp on: %d", c)
	}
	var minted struct {
		Token string `json:"token"`
	}
	if c := rest(t, base, "POST", "/api/v1/mcp/tokens", admin, map[string]any{"name": "careful-bot", "preset": "full_agent", "require_approval": true}, &minted); c != 201 {
		t.Fatalf("mint: %d", c)
	}
	customer := func(name, text string) int64 {
		out := restPost(t, base, admin, fmt.Sprintf("/api/v1/inboxes/%d/messages", ib.ID), map[string]any{
			"contact": map[string]any{"email": dbtest.Unique("c") + "@customer.test", "name": name}, "content": text, "source_id": dbtest.Unique("src")})
		return int64(out["conversation_id"].(float64))
	}
	draft := func(conv int64, text string) {
		res := mcpPost(t, base+"/api/mcp", minted.Token, "tools/call", map[string]any{"name": "reply_to_conversation",
			"arguments": map[string]any{"conversation_id": conv, "content": text, "idempotency_key": dbtest.Unique("k")}})
		if res["isError"] == true {
			t.Fatalf("reply_to_conversation: %v", res)
		}
	}
	jane, bob := customer("Jane Customer", "Where is my refund?"), customer("Bob Buyer", "Has my parcel shipped?")

	// The Drafts page is open and empty; the agent drafts a reply.
	p := br.tab(base)
	p.signIn(email, "correct horse battery")
	p.open("/drafts")
	p.has("No drafts wait for approval.")
	eval[bool](p, "mark the page", `window.__sameLoad = true`)
	draft(jane, "Your refund is on its way.")
	p.waitFor("the draft in the open list", `document.getElementById("main").innerText.includes("Reply to Jane Customer")`)

	// A reason is being typed on it when a second draft arrives: both are
	// listed, and the reason stays where it was typed.
	p.run("type a reason", chromedp.SendKeys(chromedp.CSS(`#main input[name="reason"]`), "Check the order first"))
	draft(bob, "It shipped yesterday.")
	p.waitFor("the second draft in the open list", `document.getElementById("main").innerText.includes("Reply to Bob Buyer")`)
	p.waitFor("the Drafts count", `document.getElementById("nav-drafts-count").textContent.trim() === "2"`)
	if !eval[bool](p, "no reload", `window.__sameLoad === true`) {
		t.Fatal("the Drafts page reloaded instead of updating")
	}
	typed := eval[bool](p, "the typed reason", `[...document.querySelectorAll('#main input[name="reason"]')].some(i => i.value === "Check the order first")`)
	if !typed {
		t.Fatal("the reason being typed was lost when the list updated")
	}
	p.shot("lists-01-drafts-desktop")
	p.run("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	p.shot("lists-02-drafts-phone")
	p.run("desktop", chromedp.EmulateViewport(1280, 900))

	// /notifications is open (the drafts are on it); Casey assigns Jane's
	// conversation to this admin.
	p.open("/notifications")
	p.has("A draft waits for approval")
	eval[bool](p, "mark the page", `window.__sameLoad = true`)
	if c := rest(t, base, "PATCH", fmt.Sprintf("/api/v1/conversations/%d", jane), other.Token, map[string]any{"assignee_id": signup.User.ID}, nil); c != 200 {
		t.Fatalf("assign: %d", c)
	}
	p.waitFor("the assignment in the open list", `document.getElementById("main").innerText.includes("Casey Colleague assigned you")`)
	if !eval[bool](p, "no reload", `window.__sameLoad === true`) {
		t.Fatal("the notifications page reloaded instead of updating")
	}
	p.shot("lists-03-notifications-desktop")
	p.run("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	p.shot("lists-04-notifications-phone")
}
