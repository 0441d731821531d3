package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/tenancy"
)

// TestThreadShowsDraftsAndTheirDecisions: a waiting AI draft stands in its
// conversation's thread with its text in a field labelled Reply and
// Approve / Reject; deciding it there goes back to the thread, which then
// keeps a line of who decided what, when, and whether the text was edited.
func TestThreadShowsDraftsAndTheirDecisions(t *testing.T) {
	t.Parallel()
	c, srv := testConsole(t, nil)
	b, _ := signUp(t, srv)
	p, _ := accountOf(t, c, b)
	d, _ := pendingDraft(t, c, p.AccountID, "Where is my refund?", "Your refund is on its way.")
	conv := *d.ConversationID
	thread := fmt.Sprintf("/conversations/%d", conv)

	pg := wantStatus(t, b.get(thread), http.StatusOK)
	pg.has(t, "AI draft waiting for approval", "careful-bot", "the customer asked about refunds", "Approve", "Reject")
	if !strings.Contains(pg.Body, fmt.Sprintf(`<label for="reply-%d">Reply</label>`, d.ID)) || !strings.Contains(pg.Body, ">Your refund is on its way.</textarea>") {
		t.Fatalf("no Reply field with the draft's text in the thread:\n%s", pg.Body)
	}
	if i, j := strings.Index(pg.Body, `id="thread"`), strings.Index(pg.Body, "AI draft waiting"); i < 0 || j < i || strings.Index(pg.Body, `class="composer`) < j {
		t.Fatal("the waiting draft is not inside #thread, before the composer")
	}

	// An empty Reply comes back to the thread, the error beside the field.
	bad := wantStatus(t, b.post(fmt.Sprintf("/drafts/%d/approve", d.ID), url.Values{"content": {" "}, "conversation": {fmt.Sprint(conv)}}), http.StatusBadRequest)
	if !strings.Contains(bad.Body, fmt.Sprintf(`id="reply-%d-error"`, d.ID)) || !strings.Contains(bad.Body, "Where is my refund?") {
		t.Fatalf("a bad approval in the thread: no error beside Reply, or not the thread:\n%s", bad.text())
	}
	if draftStatus(t, c, p.AccountID, d.ID).Status != "pending" {
		t.Fatal("a bad approval decided the draft")
	}

	edited := "Your refund of 20 EUR was sent today."
	wantRedirect(t, b.post(fmt.Sprintf("/drafts/%d/approve", d.ID), url.Values{"content": {edited}, "conversation": {fmt.Sprint(conv)}}),
		fmt.Sprintf("%s#d%d", thread, d.ID))
	after := wantStatus(t, b.get(thread), http.StatusOK)
	after.has(t, "Approved: the reply is on its way", edited, `Draft by “careful-bot” approved by`, "edited before sending")
	after.lacks(t, "AI draft waiting for approval")

	// A second draft, approved as written, and a third, rejected.
	second := draftOn(t, c, p.AccountID, conv, d.TokenID, "Anything else I can do?")
	wantRedirect(t, b.post(fmt.Sprintf("/drafts/%d/approve", second.ID), url.Values{"content": {"Anything else I can do?"}, "conversation": {fmt.Sprint(conv)}}),
		fmt.Sprintf("%s#d%d", thread, second.ID))
	third := draftOn(t, c, p.AccountID, conv, d.TokenID, "We never refund.")
	wantRedirect(t, b.post(fmt.Sprintf("/drafts/%d/reject", third.ID), url.Values{"reason": {"wrong, and rude"}, "conversation": {fmt.Sprint(conv)}}),
		fmt.Sprintf("%s#d%d", thread, third.ID))
	final := wantStatus(t, b.get(thread), http.StatusOK)
	final.has(t, "rejected by", "Reason: wrong, and rude")
	text := final.text()
	if strings.Count(text, "edited before sending") != 1 || strings.Count(text, "approved by") != 2 {
		t.Fatalf("want two approvals, one of them edited:\n%s", text)
	}
	if strings.Index(text, "edited before sending") > strings.Index(text, edited) {
		t.Fatal("the approval's line does not stand before the message it sent")
	}
}

// draftOn makes a pending reply draft on a conversation.
func draftOn(t *testing.T, c *Console, acct, conv, token int64, text string) desk.Draft {
	t.Helper()
	var d desk.Draft
	err := c.cfg.DB.InTenant(context.Background(), acct, func(tx pgx.Tx) error {
		var err error
		d, err = c.cfg.Desk.DraftCreate(context.Background(), tx, acct, desk.DraftInput{Kind: "reply", ConversationID: conv, Content: text, TokenID: token})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestReplyWhileADraftWaitsAsksFirst: without JavaScript, a person's reply
// while an AI draft waits comes back asking (nothing sent, the text kept);
// sent again it goes. A private note is not asked about.
func TestReplyWhileADraftWaitsAsksFirst(t *testing.T) {
	t.Parallel()
	c, srv := testConsole(t, nil)
	b, _ := signUp(t, srv)
	p, _ := accountOf(t, c, b)
	d, _ := pendingDraft(t, c, p.AccountID, "Hello?", "Hi, how can I help?")
	conv := *d.ConversationID
	messages := func() int {
		v, err := c.cfg.Desk.ConversationGet(context.Background(), tenancy.For(p.AccountID), conv, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(v.Messages)
	}
	before := messages()
	path := fmt.Sprintf("/conversations/%d/messages", conv)
	asked := wantStatus(t, b.post(path, url.Values{"kind": {"reply"}, "content": {"My own answer"}}), http.StatusConflict)
	asked.has(t, "An AI draft is waiting for approval on this conversation", "Send reply anyway")
	if !strings.Contains(asked.Body, ">My own answer</textarea>") || messages() != before {
		t.Fatalf("asked: the text is not kept, or something was sent:\n%s", asked.text())
	}
	wantStatus(t, b.post(path, url.Values{"kind": {"note"}, "content": {"a note is fine"}}), http.StatusSeeOther)
	wantStatus(t, b.post(path, url.Values{"kind": {"reply"}, "content": {"My own answer"}, "despite_draft": {"yes"}}), http.StatusSeeOther)
	if got := messages(); got != before+2 {
		t.Fatalf("%d messages after a note and a confirmed reply, want %d", got, before+2)
	}
}

// TestTimeZones: sign-in takes the browser's zone while the person has
// none (never over one they chose); pages show times in it, zone named;
// an invalid zone on the profile is an error beside the field and writes
// nothing; snooze presets and custom times are in the person's zone.
func TestTimeZones(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 15, 20, 0, 0, time.UTC) // a Monday; 10:20 in New York
	c, srv := testConsole(t, func(c *Console) { c.cfg.Now = func() time.Time { return now } })
	admin, _ := signUp(t, srv)
	p, _ := accountOf(t, c, admin)
	email := dbtest.Unique("zoned") + "@example.com"
	u, _, err := dbtest.Identities(t).UserCreate(context.Background(), tenancy.For(p.AccountID), email, "Nora", "agent password 1", "admin")
	if err != nil {
		t.Fatal(err)
	}
	signIn := func(zone string) *browser {
		b := newBrowser(t, srv)
		wantRedirect(t, b.post("/signin", url.Values{"email": {email}, "password": {"agent password 1"}, "time_zone": {zone}}), "/")
		return b
	}
	zoneOf := func() string {
		prof, err := c.cfg.Desk.ProfileGet(context.Background(), p.AccountID, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return prof.TimeZone
	}
	if zoneOf() != "UTC" {
		t.Fatalf("a new person's zone reads %q, want UTC", zoneOf())
	}
	signIn("Not/AZone") // ignored: a hint, not a choice
	if zoneOf() != "UTC" {
		t.Fatalf("an invalid browser zone was kept: %q", zoneOf())
	}
	b := signIn("America/New_York")
	if zoneOf() != "America/New_York" {
		t.Fatalf("the browser's zone was not taken: %q", zoneOf())
	}

	res := customerWrites(t, c, p.AccountID, newInbox(t, c, p.AccountID, "Support").ID, "What time is it?")
	thread := fmt.Sprintf("/conversations/%d", res.ConversationID)
	pg := wantStatus(t, b.get(thread), http.StatusOK)
	v, _ := c.cfg.Desk.ConversationGet(context.Background(), tenancy.For(p.AccountID), res.ConversationID, "", 1)
	ny, _ := time.LoadLocation("America/New_York")
	pg.has(t, v.Messages[0].CreatedAt.In(ny).Format("2006-01-02 15:04:05")+" EST", "Times in America/New_York",
		"Later today Mon 14:00 EST", "Tomorrow morning Tue 09:00 EST", "Next week Mon 09:00 EST")
	wantStatus(t, admin.get(thread), http.StatusOK).has(t, v.Messages[0].CreatedAt.UTC().Format("2006-01-02 15:04:05")+" UTC")

	// Snoozing: a preset, then a custom wall time, both in New York.
	snoozedUntil := func() time.Time {
		v, err := c.cfg.Desk.ConversationGet(context.Background(), tenancy.For(p.AccountID), res.ConversationID, "", 1)
		if err != nil || v.Conversation.SnoozedUntil == nil {
			t.Fatalf("not snoozed: %v", err)
		}
		return *v.Conversation.SnoozedUntil
	}
	wantRedirect(t, b.post(thread+"/snooze", url.Values{"preset": {"tomorrow_morning"}}), thread)
	if got, want := snoozedUntil(), time.Date(2026, 12, 8, 9, 0, 0, 0, ny); !got.Equal(want) {
		t.Fatalf("Tomorrow morning: snoozed until %v, want %v", got, want)
	}
	wantRedirect(t, b.post(thread+"/snooze", url.Values{"preset": {"custom"}, "until": {"2026-12-24T08:30"}}), thread)
	if got, want := snoozedUntil(), time.Date(2026, 12, 24, 8, 30, 0, 0, ny); !got.Equal(want) {
		t.Fatalf("a custom time: snoozed until %v, want %v", got, want)
	}
	for _, bad := range []url.Values{{"preset": {"someday"}}, {"preset": {"custom"}, "until": {"2026-12-01T08:00"}}, {"preset": {"custom"}, "until": {"soon"}}} {
		pg := wantStatus(t, b.post(thread+"/snooze", bad), http.StatusBadRequest)
		if pg.fieldError("until") == "" {
			t.Fatalf("snooze %v: no error beside the field:\n%s", bad, pg.text())
		}
	}
	if got := snoozedUntil(); !got.Equal(time.Date(2026, 12, 24, 8, 30, 0, 0, ny)) {
		t.Fatalf("a refused snooze changed it to %v", got)
	}

	// The profile: an invalid zone is refused beside the field, nothing
	// written; a chosen one holds over the browser's.
	prof := wantStatus(t, b.post("/profile", url.Values{"name": {"Nora"}, "email": {email}, "time_zone": {"Mars/Olympus"}}), http.StatusBadRequest)
	if !strings.Contains(prof.fieldError("time_zone"), "not a known IANA time zone") || zoneOf() != "America/New_York" {
		t.Fatalf("an invalid zone: error %q, zone now %q", prof.fieldError("time_zone"), zoneOf())
	}
	wantRedirect(t, b.post("/profile", url.Values{"name": {"Nora"}, "email": {email}, "time_zone": {"Asia/Kolkata"}}), "/profile")
	signIn("Europe/Paris")
	if zoneOf() != "Asia/Kolkata" {
		t.Fatalf("sign-in overrode the chosen zone: %q", zoneOf())
	}
	wantStatus(t, b.get(thread), http.StatusOK).has(t, v.Messages[0].CreatedAt.In(mustZone(t, "Asia/Kolkata")).Format("2006-01-02 15:04:05")+" IST")
}

func mustZone(t *testing.T, name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
