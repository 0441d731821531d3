package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/server"
	"github.com/deskwoot/deskwoot/tenancy"
)

// byLabel finds the form control whose <label> says text: the visible
// words are the contract browser tests rely on.
func byLabel(text string) string {
	return fmt.Sprintf(`(//*[self::input or self::textarea or self::select][@id=//label[contains(normalize-space(.), %q)]/@for])[1]`, text)
}

// button finds a button by its visible name.
func button(text string) string {
	return fmt.Sprintf(`(//button[normalize-space()=%q])[1]`, text)
}

// TestQueuePagesInChromium walks the pages that work the queue in a real
// headless Chromium, without JavaScript shortcuts: sign up, read the list
// and a thread where customer, reply, private note and the agent's message
// are told apart, reply and note from the composer, change status and
// labels, edit a contact and add a note, delete with the confirm box,
// create an inbox with a write-only secret, invite a person, add a label
// and publish an article. Each page is saved to artifacts/screenshots/.
func TestQueuePagesInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the Chromium end-to-end test")
	}
	br := startChrome(t, 8*time.Minute)
	ctx := context.Background()
	app, err := server.Build(ctx, server.Config{AppDatabaseURL: dbtest.AppURL(), PublicURL: "http://127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler)
	t.Cleanup(srv.Close) // after the browser, which started first, has closed its live streams
	tab := br.tab(srv.URL)
	bctx := tab.ctx

	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			body, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("%s: %v\npage: %s", step, err, body)
		}
	}
	shot := func(name string) {
		t.Helper()
		tab.shot("queue-" + name)
	}
	wantText := func(words ...string) {
		t.Helper()
		got, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("main")))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range words {
			if !strings.Contains(strings.ToLower(got), strings.ToLower(w)) { // CSS may upper-case markers
				t.Fatalf("page lacks %q:\n%s", w, got)
			}
		}
	}
	fill := func(label, value string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(chromedp.Clear(byLabel(label)), chromedp.SendKeys(byLabel(label), value))
	}
	// write types into an empty textarea (Clear needs text to remove).
	write := func(label, value string) chromedp.Action[chromedp.Void] {
		return chromedp.SendKeys(byLabel(label), value)
	}
	choose := func(label, value string) chromedp.Action[chromedp.Void] {
		return chromedp.SetValue(byLabel(label), value)
	}

	// A workspace (signed up through REST), its admin signed in through
	// the form.
	email := dbtest.Unique("e2e") + "@example.com"
	body, _ := json.Marshal(map[string]string{"account_name": "Acme Support", "email": email, "password": "correct horse battery", "name": "Alex Admin"})
	res, err := http.Post(srv.URL+"/api/v1/signup", "application/json", bytes.NewReader(body))
	if err != nil || res.StatusCode != 201 {
		t.Fatalf("signup: %v %v", err, res)
	}
	var su struct {
		Account struct {
			ID int64 `json:"id"`
		} `json:"account"`
	}
	json.NewDecoder(res.Body).Decode(&su)
	res.Body.Close()
	acct := su.Account.ID
	run("sign in", chromedp.Navigate(srv.URL+"/signin"),
		fill("Email", email), fill("Password", "correct horse battery"),
		chromedp.Click(button("Sign in")), chromedp.WaitVisible(`//button[normalize-space()="Sign out"]`))

	// The queue, seeded the way customers and the agent fill it.
	d := &desk.Desk{DB: app.DB}
	ib, err := d.InboxCreate(ctx, tenancy.For(acct), desk.InboxInput{Name: "Support", Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"shipping", "refund", "vip"} {
		if _, err := d.LabelCreate(ctx, tenancy.For(acct), l, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	var conv, contact int64
	for i, who := range []string{"Carla Customer", "Dan Doe", "Erin Example", "Femi Folk"} {
		r, err := d.IncomingMessage(ctx, acct, ib.ID, desk.IncomingInput{Contact: desk.IncomingContact{
			Email: fmt.Sprintf("c%d-%s", i, email), Name: who}, Content: "Hello, my parcel has not arrived. Order #10" + fmt.Sprint(i) + ".",
			SourceID: fmt.Sprint("src", i)})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			conv, contact = r.ConversationID, r.ContactID
		}
	}
	agentMsg, err := d.MessageCreate(ctx, acct, conv, "I found the tracking number: 1Z999. It should arrive on Friday.", false,
		desk.Author{Kind: "agent", Name: "triage-bot", TokenID: 1})
	if err != nil {
		t.Fatal(err)
	}
	d.DeliveryRecord(ctx, acct, agentMsg.ID, "failed", "webhook answered 502", "")

	run("list", chromedp.Navigate(srv.URL+"/conversations"), chromedp.WaitVisible(chromedp.CSS(`#conversation-list`)))
	wantText("Carla Customer", "Dan Doe", "Support")
	shot("01-conversations")
	run("filter", choose("Search", "parcel"), chromedp.Click(button("Filter")),
		chromedp.WaitVisible(`//a[normalize-space()="Clear filters"]`))
	wantText("Carla Customer")

	thread := fmt.Sprintf("%s/conversations/%d", srv.URL, conv)
	run("thread", chromedp.Navigate(thread), chromedp.WaitVisible(chromedp.CSS(`ol.messages`)))
	run("reply", write("Message", "Sorry about that! A replacement is on its way."), chromedp.Click(button("Send reply")),
		chromedp.WaitVisible(`//p[contains(., "Reply sent.")]`))
	run("note", write("Message", "Courier confirmed the loss; refund if it is late again."), chromedp.Click(button("Add private note")),
		chromedp.WaitVisible(`//p[contains(., "Private note added.")]`))
	run("controls", choose("Status", "pending"), choose("Priority", "high"),
		chromedp.Click(chromedp.CSS(`#f-labels-shipping`)), chromedp.Click(button("Save")),
		chromedp.WaitVisible(`//p[contains(., "Conversation updated.")]`))
	wantText("Customer", "Reply · AI agent", "triage-bot", "Delivery: failed", "webhook answered 502", "Private note", "pending", "shipping")
	// The person's reply waits for delivery, unless another test process's
	// outbox worker (the River queue is shared by every process on the test
	// database) already tried it on this inbox without a webhook_url.
	if page, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("main"))); err != nil {
		t.Fatal(err)
	} else if page = strings.ToLower(page); !strings.Contains(page, "delivery: pending") && !strings.Contains(page, "has no webhook_url") {
		t.Fatalf("the reply shows no delivery state:\n%s", page)
	}
	shot("02-thread")
	// The same thread on a phone.
	run("phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(thread), chromedp.WaitVisible(chromedp.CSS(`ol.messages`)))
	shot("03-thread-phone")
	run("desktop", chromedp.EmulateViewport(1280, 900))
	// Bad input comes back with the error beside the field.
	run("bad snooze", chromedp.Navigate(thread), chromedp.WaitVisible(chromedp.CSS(`ol.messages`)),
		choose("Status", "snoozed"), chromedp.Click(button("Save")),
		chromedp.WaitVisible(chromedp.CSS(`#f-snoozed_until-error`)))
	shot("04-thread-bad-snooze")

	// Contacts.
	run("contacts", chromedp.Navigate(srv.URL+"/contacts"), chromedp.WaitVisible(chromedp.CSS(`table`)))
	shot("05-contacts")
	run("contact", chromedp.Navigate(fmt.Sprintf("%s/contacts/%d", srv.URL, contact)), chromedp.WaitVisible(byLabel("Custom attributes")),
		fill("Phone", "+1 555 0100"), write("Custom attributes", "plan = gold\nseats = 12"), chromedp.Click(button("Save contact")),
		chromedp.WaitVisible(`//p[contains(., "Contact saved.")]`),
		write("Note", "Prefers email over phone."), chromedp.Click(button("Add note")),
		chromedp.WaitVisible(`//p[contains(., "Note added.")]`))
	wantText("+1 555 0100", "gold", "Prefers email over phone.")
	shot("06-contact")

	// Delete a conversation: the confirm page needs the ticked box.
	other := fmt.Sprintf("%s/conversations/%d/delete", srv.URL, conv+1)
	run("confirm page", chromedp.Navigate(other), chromedp.WaitVisible(button("Delete conversation")))
	shot("07-delete-confirm")
	run("delete", chromedp.Click(byLabel("Yes, delete this conversation")), chromedp.Click(button("Delete conversation")),
		chromedp.WaitVisible(`//p[contains(., "deleted.")]`))

	// Settings → Inboxes: an api inbox with a write-only secret.
	run("inboxes", chromedp.Navigate(srv.URL+"/settings/inboxes"), chromedp.WaitVisible(byLabel("Webhook URL")),
		fill("Name", "Orders API"), fill("Webhook URL", "https://example.com/hooks/deskwoot"), fill("Webhook secret", "very-secret-value"),
		chromedp.Click(button("Create inbox")), chromedp.WaitVisible(`//p[contains(., "created.")]`))
	wantText("Webhook secret (set)")
	html, err := chromedp.Run(bctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, "very-secret-value") {
		t.Fatal("the inbox page shows the webhook secret")
	}
	shot("08-inbox")
	run("inbox list", chromedp.Navigate(srv.URL+"/settings/inboxes"), chromedp.WaitVisible(chromedp.CSS(`table`)))
	shot("09-inboxes")

	// Team: invite a person with a role (without a relay the link is shown once); a team.
	run("team", chromedp.Navigate(srv.URL+"/settings/team"), chromedp.WaitVisible(button("Send invitation")),
		fill("Email", "ann-"+email), chromedp.Click(button("Send invitation")), chromedp.WaitVisible(`//label[contains(., "Invitation link")]`),
		fill("Team name", "Tier 2"), chromedp.Click(button("Create team")), chromedp.WaitVisible(`//p[contains(., "Team Tier 2 created.")]`))
	shot("10-team")

	// Labels, with a bad name first.
	run("labels", chromedp.Navigate(srv.URL+"/settings/labels"), chromedp.WaitVisible(button("Create label")),
		fill("Name", "Not A Slug"), chromedp.Click(button("Create label")), chromedp.WaitVisible(chromedp.CSS(`#f-name-error`)))
	shot("11-labels-error")
	run("label", fill("Name", "warranty"), chromedp.Click(button("Create label")), chromedp.WaitVisible(`//p[contains(., "Label warranty created.")]`))

	// Help center: a draft, then published.
	run("help", chromedp.Navigate(srv.URL+"/help-center"), chromedp.WaitVisible(button("Save article")),
		fill("Title", "Where is my parcel?"), write("Body", "Most parcels arrive within 5 working days."),
		chromedp.Click(button("Save article")), chromedp.WaitVisible(button("Publish")),
		chromedp.Click(button("Publish")), chromedp.WaitVisible(button("Unpublish")))
	shot("12-help-center")
}
