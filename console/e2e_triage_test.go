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

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/tenancy"
)

// TestTriageEndToEnd drives the daily loop of DESIGN §18 in headless
// Chromium: the triage list with its views, previews and waits (also at
// phone width, without sideways scrolling); "?" opens the keyboard
// shortcuts, which do nothing while typing in a field, and j moves in the
// list; bulk Resolve of two ticked rows; "Assign to me" and "Send and
// resolve" in one click each; a canned response inserted in the composer
// with / (by keyboard and by mouse). Screenshots at 1280 and 390 wide go to
// DESKWOOT_ARTIFACTS/screenshots (else ../artifacts/screenshots).
func TestTriageEndToEnd(t *testing.T) {
	br := startChrome(t, 5*time.Minute)
	base, app := startServer(t)
	p := br.tab(base)

	// A workspace through REST, with a canned response; its admin signs in.
	email := dbtest.Unique("triage") + "@example.com"
	body, _ := json.Marshal(map[string]string{"account_name": "Acme Support", "email": email, "password": "correct horse battery", "name": "Alex Admin"})
	res, err := http.Post(base+"/api/v1/signup", "application/json", bytes.NewReader(body))
	if err != nil || res.StatusCode != 201 {
		t.Fatalf("signup: %v %v", err, res)
	}
	var su struct {
		APIToken string `json:"api_token"`
		Account  struct {
			ID int64 `json:"id"`
		} `json:"account"`
		User struct {
			ID int64 `json:"id"`
		} `json:"user"`
	}
	json.NewDecoder(res.Body).Decode(&su)
	res.Body.Close()
	acct := su.Account.ID
	for code, content := range map[string]string{"refund": "Your refund is on its way; it shows in 3 to 5 days.", "thanks": "Thank you for writing to us!"} {
		body, _ := json.Marshal(map[string]string{"short_code": code, "content": content})
		req, _ := http.NewRequest("POST", base+"/api/v1/canned_responses", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+su.APIToken)
		req.Header.Set("Content-Type", "application/json")
		if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 201 {
			t.Fatalf("canned response: %v %v", err, res)
		}
	}

	d := &desk.Desk{DB: app.DB}
	ctxb := context.Background()
	ib, err := d.InboxCreate(ctxb, tenancy.For(acct), desk.InboxInput{Name: "Support", Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	convs := map[string]int64{}
	for i, who := range []string{"Carla Customer", "Dan Doe", "Erin Example", "Femi Folk"} {
		r, err := d.IncomingMessage(ctxb, acct, ib.ID, desk.IncomingInput{Contact: desk.IncomingContact{
			Email: fmt.Sprintf("c%d-%s", i, email), Name: who},
			Content:  fmt.Sprintf("Hello, my parcel for order #10%d has not arrived and the tracking page has said 'in transit' for nine days now.", i),
			SourceID: fmt.Sprint("src", i)})
		if err != nil {
			t.Fatal(err)
		}
		convs[who] = r.ConversationID
	}
	if _, err := d.MessageCreate(ctxb, acct, convs["Dan Doe"], "I found the tracking number: 1Z999. It should arrive on Friday.", false,
		desk.Author{Kind: "agent", Name: "triage-bot"}); err != nil {
		t.Fatal(err)
	}
	status := func(conv int64) desk.Conversation {
		v, err := d.ConversationFor(ctxb, acct, desk.Scope{}, conv, "", 1)
		if err != nil {
			t.Fatal(err)
		}
		return v.Conversation
	}

	p.open("/signin")
	p.fill("Email", email)
	p.fill("Password", "correct horse battery")
	p.press("Sign in", "")

	// The list: open by default, each row with its preview and wait.
	p.open("/conversations")
	views := func() string {
		return eval[string](p, "views", `document.getElementById('views').textContent.replace(/\s+/g, ' ')`)
	}
	p.has("Customer: Hello, my parcel", "AI agent: I found the tracking number", "Waiting", "Femi Folk")
	if v := views(); !strings.Contains(v, "All open 4") || !strings.Contains(v, "Unassigned 4") || !strings.Contains(v, "Support 4") {
		t.Errorf("views: %q", v)
	}
	p.shot("triage-01-list")

	// "?" shows the shortcuts; not while typing in the search field.
	p.run("type ? in search", chromedp.Click(chromedp.CSS("#f-q")), chromedp.KeyEvent("?"))
	if eval[bool](p, "dialog", `document.getElementById('shortcuts').open`) {
		t.Fatal("typing ? in the search field opened the shortcuts")
	}
	p.run("leave the field", chromedp.KeyEvent(kb.Escape), chromedp.KeyEvent("?"),
		chromedp.WaitVisible(`//dialog[@id="shortcuts"]//h2[normalize-space()="Keyboard shortcuts"]`))
	p.has("Keyboard shortcuts", "Assign to me", "Search conversations")
	p.shot("triage-02-shortcuts")
	p.run("close", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(`//dialog[@id="shortcuts"]`))
	// j moves to the first row, then the next.
	p.run("j j", chromedp.KeyEvent("j"), chromedp.KeyEvent("j"))
	if got, want := eval[string](p, "current row", `document.activeElement.closest('li.row').id`),
		eval[string](p, "second row", `document.querySelectorAll('#conversation-list li.row')[1].id`); got != want {
		t.Errorf("after j j the focus is on %q, want the second row %q", got, want)
	}

	// Phone width: contact, preview, status and wait show without
	// sideways scrolling.
	p.run("phone", chromedp.EmulateViewport(390, 844))
	p.open("/conversations")
	if wide := eval[bool](p, "width", `document.documentElement.scrollWidth > window.innerWidth`); wide {
		t.Errorf("the list scrolls sideways at 390 px: %v wide", eval[float64](p, "scroll width", `document.documentElement.scrollWidth`))
	}
	visible := eval[bool](p, "row parts", `(function(){
		const row = [...document.querySelectorAll('#conversation-list li.row')].find(r => r.querySelector('.waiting'));
		return ['.row-head strong', '.preview', '.status', '.waiting'].every(s => {
			const r = row.querySelector(s).getBoundingClientRect();
			return r.width > 0 && r.left >= 0 && r.right <= window.innerWidth;
		});
	})()`)
	if !visible {
		t.Error("at 390 px a row does not show its contact, preview, status and wait within the screen")
	}
	p.shot("triage-03-list-phone")
	p.run("desktop", chromedp.EmulateViewport(1280, 900))

	// Bulk: tick two rows and resolve them.
	p.open("/conversations")
	p.run("tick", chromedp.Click(chromedp.CSS(fmt.Sprintf("#pick-%d", convs["Carla Customer"]))), chromedp.Click(chromedp.CSS(fmt.Sprintf("#pick-%d", convs["Dan Doe"]))))
	p.press("Resolve", "")
	p.has("Resolved 2 conversations.")
	if v := views(); !strings.Contains(v, "All open 2") {
		t.Errorf("views after resolving two: %q", v)
	}
	if status(convs["Carla Customer"]).Status != "resolved" || status(convs["Dan Doe"]).Status != "resolved" {
		t.Fatal("bulk Resolve left a conversation open")
	}

	// The thread: Assign to me, one click.
	thread := fmt.Sprintf("/conversations/%d", convs["Erin Example"])
	p.open(thread)
	p.press("Assign to me", "")
	p.has("Assigned to you.")
	if c := status(convs["Erin Example"]); c.Assignee == nil || c.Assignee.ID != su.User.ID {
		t.Fatalf("Assign to me left assignee %v", c.Assignee)
	}
	// r focuses the composer; a canned response by keyboard: /ref, Enter.
	p.run("r", chromedp.KeyEvent("r"))
	if id := eval[string](p, "focus", `document.activeElement.id`); id != "f-content" {
		t.Fatalf("r focused %q, want the composer", id)
	}
	p.run("canned by keyboard", chromedp.KeyEvent("Hi Erin. /ref"), chromedp.WaitVisible(`//ul[@id="canned-menu"]/li[contains(., "/refund")]`))
	p.shot("triage-04-canned-menu")
	p.run("insert", chromedp.KeyEvent(kb.Enter))
	if v := eval[string](p, "composer", `document.getElementById('f-content').value`); v != "Hi Erin. Your refund is on its way; it shows in 3 to 5 days." {
		t.Fatalf("after / and Enter the composer holds %q", v)
	}
	// And by mouse: / then a click on the match.
	p.run("canned by mouse", chromedp.KeyEvent(" /th"), chromedp.WaitVisible(`//ul[@id="canned-menu"]/li[contains(., "/thanks")]`),
		chromedp.Click(`//ul[@id="canned-menu"]/li[contains(., "/thanks")]`))
	want := "Hi Erin. Your refund is on its way; it shows in 3 to 5 days. Thank you for writing to us!"
	if v := eval[string](p, "composer", `document.getElementById('f-content').value`); v != want {
		t.Fatalf("after a click on /thanks the composer holds %q", v)
	}
	p.shot("triage-05-thread")

	// Send and resolve, one click.
	p.press("Send and resolve", "")
	p.has("Reply sent and conversation resolved.", "Thank you for writing to us!")
	if c := status(convs["Erin Example"]); c.Status != "resolved" {
		t.Fatalf("Send and resolve left status %s", c.Status)
	}
	p.run("phone thread", chromedp.EmulateViewport(390, 844))
	p.open(fmt.Sprintf("/conversations/%d", convs["Femi Folk"]))
	p.shot("triage-06-thread-phone")
	p.run("desktop", chromedp.EmulateViewport(1280, 900))
	// a assigns the open thread to me; e resolves it.
	p.run("a", chromedp.KeyEvent("a"), chromedp.WaitVisible(`//p[contains(., "Assigned to you.")]`))
	p.run("e", chromedp.KeyEvent("e"), chromedp.WaitVisible(`//p[contains(., "Conversation resolved.")]`))
	if c := status(convs["Femi Folk"]); c.Status != "resolved" || c.Assignee == nil {
		t.Fatalf("after a and e: %s, assignee %v", c.Status, c.Assignee)
	}

	// @ offers the teammates' names; a private note naming one notifies them
	// (an admin: an agent hears only of the inboxes they are members of).
	body, _ = json.Marshal(map[string]string{"email": "bea-" + email, "name": "Bea Brown", "password": "correct horse battery", "role": "admin"})
	req, _ := http.NewRequest("POST", base+"/api/v1/users", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+su.APIToken)
	req.Header.Set("Content-Type", "application/json")
	res, err = http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 201 {
		t.Fatalf("add Bea: %v %v", err, res)
	}
	var bea struct {
		APIToken string `json:"api_token"`
	}
	json.NewDecoder(res.Body).Decode(&bea)
	res.Body.Close()
	p.open(fmt.Sprintf("/conversations/%d", convs["Carla Customer"]))
	p.run("r", chromedp.KeyEvent("r"))
	p.run("mention by keyboard", chromedp.KeyEvent("Can you take this one, @be"),
		chromedp.WaitVisible(`//ul[@id="mention-menu"]/li[contains(., "@BeaBrown")]`))
	p.shot("triage-07-mention-menu")
	p.run("insert", chromedp.KeyEvent(kb.Enter))
	if v := eval[string](p, "composer", `document.getElementById('f-content').value`); v != "Can you take this one, @BeaBrown " {
		t.Fatalf("after @be and Enter the composer holds %q", v)
	}
	p.press("Add private note", "")
	p.has("Private note added.")
	req, _ = http.NewRequest("GET", base+"/api/v1/notifications", nil)
	req.Header.Set("Authorization", "Bearer "+bea.APIToken)
	res, err = http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("Bea's notifications: %v %v", err, res)
	}
	var got struct {
		Notifications []struct {
			Kind           string `json:"kind"`
			ConversationID *int64 `json:"conversation_id"`
		} `json:"notifications"`
	}
	json.NewDecoder(res.Body).Decode(&got)
	res.Body.Close()
	if len(got.Notifications) == 0 || got.Notifications[0].Kind != desk.NotifyMentioned ||
		got.Notifications[0].ConversationID == nil || *got.Notifications[0].ConversationID != convs["Carla Customer"] {
		t.Fatalf("Bea's notifications after the mention: %+v", got.Notifications)
	}
}
