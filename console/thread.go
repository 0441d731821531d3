package console

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/deskwoot/deskwoot/desk"
)

// The thread's share of issue 20: AI drafts stand in their conversation's
// thread (pending ones to decide there, decided ones as a line saying who
// decided what and when), a person's reply while a draft waits is
// confirmed first, and snoozing offers times in the person's own zone.

// threadAsk is what a thread page asks of the person besides its usual
// controls: a draft form that came back with errors, or the confirmation
// of a reply sent while a draft waits.
type threadAsk struct {
	draftID int64 // the draft whose form is draftForm
	draft   *Form
	reply   bool // a reply waits for "send anyway"
}

// waitingDraft is an AI draft waiting on the conversation: its text in a
// field labelled Reply, Approve and Reject, as on the Drafts page (the
// same handlers).
type waitingDraft struct {
	ID        int64
	Token     string
	At        string
	Rationale string
	Reply     field
	Reason    field
	Message   string // an error about the whole form
}

// threadDrafts puts the conversation's drafts into its thread: decided
// ones as lines among the messages, at the time they were decided; the
// pending ones after the messages when the page shows the latest ones.
func (c *Console) threadDrafts(r *http.Request, d *threadData, drafts []desk.ThreadDraft, latest bool, ask threadAsk) {
	loc := c.zone(r)
	var last time.Time // lines after the last message shown belong to a later page
	if n := len(d.Messages); n > 0 {
		last = d.Messages[n-1].when
	}
	for _, dr := range drafts {
		if dr.Status == "pending" {
			if latest {
				d.Pending = append(d.Pending, c.draftInThread(dr, loc, ask))
			}
			continue
		}
		if dr.DecidedAt == nil || (!latest && dr.DecidedAt.After(last)) {
			continue
		}
		line := msgView{ID: strconv.FormatInt(dr.ID, 10), Kind: "decision", when: *dr.DecidedAt, At: dr.DecidedAt.In(loc).Format(secondLayout)}
		who := dr.DeciderName
		if who == "" {
			who = "a person"
		}
		if dr.Status == "approved" {
			line.Decision = fmt.Sprintf("Draft by “%s” approved by %s", dr.TokenName, who)
			if dr.Edited {
				line.Decision += ", edited before sending"
			}
		} else {
			line.Decision = fmt.Sprintf("Draft by “%s” rejected by %s", dr.TokenName, who)
			line.Reason = dr.DecisionReason
			if line.Reason == "" {
				line.Reason = "no reason given"
			}
		}
		d.Messages = append(d.Messages, line)
	}
	// Lines stand where they happened; an approval's line comes just
	// before the message it sent (both carry the same time).
	slices.SortStableFunc(d.Messages, func(a, b msgView) int {
		if c := a.when.Compare(b.when); c != 0 {
			return c
		}
		switch {
		case a.Decision != "" && b.Decision == "":
			return -1
		case a.Decision == "" && b.Decision != "":
			return 1
		}
		return 0
	})
	d.AskDraft = ask.reply && len(d.Pending) > 0
}

func (c *Console) draftInThread(dr desk.ThreadDraft, loc *time.Location, ask threadAsk) waitingDraft {
	p := waitingDraft{ID: dr.ID, Token: dr.TokenName, At: dr.CreatedAt.In(loc).Format(secondLayout), Rationale: dr.Rationale,
		Reply:  field{Name: "content", Label: "Reply", ID: fmt.Sprintf("reply-%d", dr.ID), Value: dr.Content},
		Reason: field{Name: "reason", Label: "Reason, if you reject", Type: "text", ID: fmt.Sprintf("reason-%d", dr.ID)}}
	if ask.draftID == dr.ID && ask.draft != nil {
		f := ask.draft
		p.Reply.Value, p.Reply.Error = f.Raw("content"), f.Err("content")
		p.Reason.Value, p.Reason.Error = f.Raw("reason"), f.Err("reason")
		p.Message = f.Message
	}
	return p
}

// draftWaits reports whether an AI draft waits on the conversation.
func (c *Console) draftWaits(r *http.Request, id int64) (bool, error) {
	drafts, err := c.cfg.Desk.ConversationDrafts(r.Context(), c.me(r).AccountID, id)
	return slices.ContainsFunc(drafts, func(d desk.ThreadDraft) bool { return d.Status == "pending" }), err
}

// snoozeLayout is a datetime-local field's value: a wall time in the
// person's zone.
const snoozeLayout = "2006-01-02T15:04"

// snoozePreset is a one-click snooze: its name, its value and the time it
// stands for in the person's zone.
type snoozePreset struct {
	Value, Label, Until string
}

func (p snoozePreset) appendKey(k []byte) []byte {
	return keyString(keyString(keyString(k, p.Value), p.Label), p.Until)
}

// snoozePresets are the times "Later today", "Tomorrow morning" and "Next
// week" stand for at now in loc: three hours on (to the next full hour),
// 09:00 tomorrow, 09:00 next Monday.
func snoozePresets(now time.Time, loc *time.Location) map[string]time.Time {
	t := now.In(loc)
	morning := func(days int) time.Time { return time.Date(t.Year(), t.Month(), t.Day()+days, 9, 0, 0, 0, loc) }
	untilMonday := (8 - int(t.Weekday())) % 7
	if untilMonday == 0 {
		untilMonday = 7
	}
	return map[string]time.Time{
		"later_today":      laterToday(t),
		"tomorrow_morning": morning(1),
		"next_week":        morning(untilMonday),
	}
}

// laterToday is three hours after t, rounded up to a full hour of the
// wall clock.
func laterToday(t time.Time) time.Time {
	u := t.Add(3 * time.Hour)
	h := time.Date(u.Year(), u.Month(), u.Day(), u.Hour(), 0, 0, 0, u.Location())
	if h.Before(u) {
		h = h.Add(time.Hour)
	}
	return h
}

var presetLabels = []string{"later_today", "Later today", "tomorrow_morning", "Tomorrow morning", "next_week", "Next week"}

// snoozeChoices offers the presets and a custom time, in the person's zone.
func (c *Console) snoozeChoices(r *http.Request, d *threadData, f *Form) {
	loc := c.zone(r)
	d.Zone = zoneName(loc)
	at := snoozePresets(c.cfg.Now(), loc)
	for i := 0; i+1 < len(presetLabels); i += 2 {
		t := at[presetLabels[i]]
		d.SnoozePresets = append(d.SnoozePresets, snoozePreset{Value: presetLabels[i], Label: presetLabels[i+1], Until: t.Format("Mon 15:04 MST")})
	}
	d.SnoozeAt = field{Name: "until", Label: "Snooze until a time (" + d.Zone + ")", Type: "datetime-local", ID: "f-until",
		Value: f.Raw("until"), Error: f.Err("until")}
}

// zoneName names a zone for people: its IANA name, and UTC for UTC.
func zoneName(loc *time.Location) string { return loc.String() }

// snoozeUntil reads the time a snooze form asks for: a preset ("preset"),
// or with preset "custom" a time ("until") in the person's zone loc. Bad
// input marks the form's until field.
func snoozeUntil(f *Form, now time.Time, loc *time.Location) time.Time {
	if preset := f.Value("preset"); preset != "custom" {
		t, ok := snoozePresets(now, loc)[preset]
		if !ok {
			f.Fail("until", "Choose Later today, Tomorrow morning, Next week or a time.")
		}
		return t
	}
	t, err := time.ParseInLocation(snoozeLayout, f.Value("until"), loc)
	switch {
	case f.Value("until") == "":
		f.Fail("until", "Give the date and time to snooze until.")
	case err != nil:
		f.Fail("until", "Give a date and time like 2026-12-24T09:00.")
	case !t.After(now):
		f.Fail("until", "Choose a time in the future.")
	}
	return t
}

// conversationSnooze snoozes the conversation until a preset or a custom
// time, both in the person's zone (POST /conversations/{id}/snooze).
func (c *Console) conversationSnooze(w http.ResponseWriter, r *http.Request) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	f := newForm(w, r)
	loc, now := c.zone(r), c.cfg.Now()
	until := snoozeUntil(f, now, loc)
	if !f.OK() {
		c.showThread(w, r, id, http.StatusBadRequest, f, threadAsk{})
		return
	}
	sc, err := c.scope(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p := c.me(r)
	snoozed := "snoozed"
	patch := desk.HumanConversationPatch{ConversationPatch: desk.ConversationPatch{Status: &snoozed, SnoozedUntil: &until}}
	if _, err := c.cfg.Desk.ConversationChange(r.Context(), p.AccountID, sc, id, patch, author(p), now); err != nil {
		if f.FailErr(err, map[string]string{"snoozed_until": "until", "status": "until"}) {
			c.showThread(w, r, id, http.StatusBadRequest, f, threadAsk{})
			return
		}
		c.failDomain(w, r, err)
		return
	}
	c.flash(w, "Snoozed until "+until.In(loc).Format(minuteLayout)+".")
	c.redirect(w, r, fmt.Sprintf("/conversations/%d", id))
}
