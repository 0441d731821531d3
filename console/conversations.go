package console

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/deskwoot/deskwoot/desk"
)

// The conversations pages: the queue with filters, a conversation's thread
// with its composer and workflow controls, and deleting with a confirm
// step. Handlers read the form, call one desk function, render.

// catalog is what the filters and controls choose from.
type catalog struct{ desk.Catalog }

// counted hands the catalog's drafts count to the layout, which then need
// not count again.
func (c *Console) counted(r *http.Request, k *catalog) {
	c.who(r).drafts = &k.Drafts
}

func (k catalog) inboxName(id int64) string {
	for _, ib := range k.Inboxes {
		if ib.ID == id {
			return ib.Name
		}
	}
	return "inbox " + strconv.FormatInt(id, 10)
}

func (k catalog) personName(id int64) string {
	for _, p := range k.People {
		if p.ID == id {
			return p.Name
		}
	}
	return "user " + strconv.FormatInt(id, 10)
}

// textField is a labelled text input filled from the form.
func textField(f *Form, name, label, typ string) field {
	return field{Name: name, Label: label, Type: typ, ID: "f-" + name, Value: f.Raw(name), Error: f.Err(name)}
}

// selectField is a labelled select whose options are value/label pairs;
// the form's value is selected.
func selectField(f *Form, name, label string, pairs ...string) field {
	fl := field{Name: name, Label: label, Type: "select", ID: "f-" + name, Error: f.Err(name)}
	for i := 0; i+1 < len(pairs); i += 2 {
		fl.Options = append(fl.Options, option{Value: pairs[i], Label: pairs[i+1], Selected: f.Raw(name) == pairs[i]})
	}
	return fl
}

var statusPairs = []string{"open", "Open", "pending", "Pending", "snoozed", "Snoozed", "resolved", "Resolved"}
var statusValues = []string{"open", "pending", "snoozed", "resolved"}
var priorityValues = []string{"none", "low", "medium", "high", "urgent"}
var priorityPairs = []string{"none", "None", "low", "Low", "medium", "Medium", "high", "High", "urgent", "Urgent"}

// filterFields are the list's filter selects.
func (k catalog) filterFields(f *Form) []field {
	inboxes := []string{"", "All inboxes"}
	for _, ib := range k.Inboxes {
		inboxes = append(inboxes, strconv.FormatInt(ib.ID, 10), ib.Name)
	}
	assignees := []string{"", "Anyone", "me", "Me", "unassigned", "Unassigned"}
	for _, p := range k.People {
		if p.Kind == "human" {
			assignees = append(assignees, strconv.FormatInt(p.ID, 10), p.Name)
		}
	}
	labels := []string{"", "Any label"}
	for _, l := range k.Labels {
		labels = append(labels, l.Name, l.Name)
	}
	return []field{
		selectField(f, "inbox", "Inbox", inboxes...),
		selectField(f, "status", "Status", append([]string{"", "Any status"}, statusPairs...)...),
		selectField(f, "assignee", "Assignee", assignees...),
		selectField(f, "label", "Label", labels...),
	}
}

// msgView is a message as the thread shows it, its words worked out here
// so the template only prints (a thread has up to 100).
type msgView struct {
	ID       string // the message's id (the draft's, for a decision), formatted once
	Kind     string // incoming, outgoing, note, activity: the CSS class
	Marker   string // the words that tell it apart, not colour alone
	Sender   string
	Agent    bool // written by an MCP token; Sender is the token's name
	At       string
	Content  string
	Delivery string // pending, sent, failed, delivered or emailed (website chat); empty when not delivered
	Error    string
	Approver string
	// Decision, when set, makes this a line about a decided AI draft
	// instead of a message (ID is then the draft's), with the reason of
	// a rejection.
	Decision, Reason string
	when             time.Time // where it stands in the thread
}

func (m msgView) appendKey(k []byte) []byte {
	for _, s := range [...]string{m.ID, m.Kind, m.Marker, m.Sender, m.At, m.Content, m.Delivery, m.Error, m.Approver, m.Decision, m.Reason} {
		k = keyString(k, s)
	}
	return keyBool(k, m.Agent)
}

type threadData struct {
	C        desk.Conversation
	Inbox    string
	Messages []msgView
	NextURL  string
	Controls []field // status, priority, assignee, team
	Snooze   field
	Labels   []field // a checkbox each
	// LabelsError is the error about the labels, shown in their fieldset;
	// FormError the one above the controls (Form.Summary).
	LabelsError, FormError string
	Composer               field
	CanDelete              bool
	// Pending are the AI drafts waiting on this conversation; AskDraft
	// asks the person to confirm a reply sent while one waits.
	Pending  []waitingDraft
	AskDraft bool
	// Zone names the person's time zone; SnoozePresets and SnoozeAt
	// offer snoozing in it.
	Zone          string
	SnoozePresets []snoozePreset
	SnoozeAt      field
	// Mine: assigned to the person looking (no "Assign to me").
	Mine bool
	// Admin: the person looking is an admin (a link to create labels).
	Admin bool

	// What the page prints, rendered through the fragments (render):
	// Lines are the Messages, each in the template thread-line, Head,
	// ComposerForm and Side the templates thread-head, composer and
	// thread-side.
	Lines, Head, ComposerForm, Side template.HTML
}

// threadHead is the data of the template thread-head: who, where, the
// conversation's state and the quick actions.
type threadHead struct {
	ID, ContactID          int64
	Contact, Inbox, Status string
	HasEmail               bool
	Email                  string
	SnoozedUntil           string // in the person's zone; empty when not snoozed
	Priority               string
	Assigned, HasTeam      bool
	Assignee, Team         string
	Labels                 []string
	Escalated, Mine        bool
}

func (h threadHead) appendKey(k []byte) []byte {
	k = keyInt(keyInt(k, h.ID), h.ContactID)
	for _, s := range [...]string{h.Contact, h.Inbox, h.Status, h.Email, h.SnoozedUntil, h.Priority, h.Assignee, h.Team} {
		k = keyString(k, s)
	}
	for _, b := range [...]bool{h.HasEmail, h.Assigned, h.HasTeam, h.Escalated, h.Mine} {
		k = keyBool(k, b)
	}
	return keyStrings(k, h.Labels)
}

// threadComposer is the data of the template composer.
type threadComposer struct {
	ID                 int64 // the conversation's
	Resolved, AskDraft bool
	Field              field
}

func (c threadComposer) appendKey(k []byte) []byte {
	return c.Field.appendKey(keyBool(keyBool(keyInt(k, c.ID), c.Resolved), c.AskDraft))
}

// threadSide is the data of the template thread-side: the controls, the
// labels, the snooze forms and the link to delete.
type threadSide struct {
	ID                     int64 // the conversation's
	FormError, LabelsError string
	Controls, Labels       []field
	Snooze                 field
	SnoozePanel            snoozePanel
	Admin, CanDelete       bool
}

func (s threadSide) appendKey(k []byte) []byte {
	k = keyString(keyString(keyInt(k, s.ID), s.FormError), s.LabelsError)
	k = s.Snooze.appendKey(keyList(keyList(k, s.Controls), s.Labels))
	return keyBool(keyBool(s.SnoozePanel.appendKey(k), s.Admin), s.CanDelete)
}

// snoozePanel is the data of the template snooze-panel: the thread's
// snooze forms.
type snoozePanel struct {
	ID      int64 // the conversation's
	Zone    string
	Presets []snoozePreset
	At      field
}

func (p snoozePanel) appendKey(k []byte) []byte {
	return p.At.appendKey(keyList(keyString(keyInt(k, p.ID), p.Zone), p.Presets))
}

// render renders d's lines, head, composer and side panel through f, the
// page being t in zone loc. Each is kept by what it shows: from one
// reading of a thread to the next most are as they were, and rendered
// anew they would cost most of the page.
func (d *threadData) render(f *fragments, t *template.Template, loc *time.Location) error {
	var err error
	if d.Lines, err = renderAll(f, t, loc, "thread-line", d.Messages); err != nil {
		return err
	}
	c := d.C
	h := threadHead{ID: c.ID, ContactID: c.Contact.ID, Contact: c.Contact.Name, Inbox: d.Inbox, Status: c.Status, Priority: c.Priority,
		Labels: c.Labels, Escalated: c.Escalated, Mine: d.Mine}
	if c.Contact.Email != nil {
		h.HasEmail, h.Email = true, *c.Contact.Email
	}
	if c.SnoozedUntil != nil {
		h.SnoozedUntil = c.SnoozedUntil.In(loc).Format(minuteLayout)
	}
	if c.Assignee != nil {
		h.Assigned, h.Assignee = true, c.Assignee.Name
	}
	if c.Team != nil {
		h.HasTeam, h.Team = true, c.Team.Name
	}
	if d.Head, err = renderKept(f, t, loc, "thread-head", h); err != nil {
		return err
	}
	if d.ComposerForm, err = renderKept(f, t, loc, "composer", threadComposer{ID: c.ID, Resolved: c.Status == "resolved", AskDraft: d.AskDraft, Field: d.Composer}); err != nil {
		return err
	}
	d.Side, err = renderKept(f, t, loc, "thread-side", threadSide{ID: c.ID, FormError: d.FormError, LabelsError: d.LabelsError,
		Controls: d.Controls, Labels: d.Labels, Snooze: d.Snooze, SnoozePanel: snoozePanel{ID: c.ID, Zone: d.Zone, Presets: d.SnoozePresets, At: d.SnoozeAt},
		Admin: d.Admin, CanDelete: d.CanDelete})
	return err
}

// markMessage words a message's kind and sender for the thread.
func markMessage(m desk.Message, k catalog, loc *time.Location) msgView {
	v := msgView{ID: strconv.FormatInt(m.ID, 10), Sender: m.Sender.Name, Agent: m.Sender.Kind == "agent", Content: m.Content,
		At: m.CreatedAt.In(loc).Format(secondLayout), when: m.CreatedAt}
	switch {
	case m.Private || m.Type == "note":
		v.Kind, v.Marker = "note", "Private note"
	case m.Type == "incoming":
		v.Kind, v.Marker = "incoming", "Customer"
	case m.Type == "activity":
		v.Kind, v.Marker = "activity", "Activity"
	default:
		v.Kind, v.Marker = "outgoing", "Reply"
	}
	if v.Agent {
		v.Marker += " · AI agent"
	}
	if m.DeliveryStatus != nil {
		v.Delivery = *m.DeliveryStatus
	}
	if m.DeliveryError != nil {
		v.Error = *m.DeliveryError
	}
	if m.ApprovedBy != nil {
		v.Approver = k.personName(*m.ApprovedBy)
	}
	return v
}

// conversationPage is a conversation's thread with its controls.
func (c *Console) conversationPage(w http.ResponseWriter, r *http.Request) {
	c.showConversation(w, r, http.StatusOK, nil)
}

// showConversation renders the thread; f is a posted form coming back with
// its errors (the composer or the controls), nil on a plain view.
func (c *Console) showConversation(w http.ResponseWriter, r *http.Request, status int, f *Form) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	c.showThread(w, r, id, status, f, threadAsk{})
}

// showThread renders conversation id's thread; ask carries what the page
// asks of the person (a draft's form with its errors, a confirmation).
func (c *Console) showThread(w http.ResponseWriter, r *http.Request, id int64, status int, f *Form, ask threadAsk) {
	sc, err := c.scope(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	me := c.me(r)
	v, side, err := c.cfg.Desk.Thread(r.Context(), me.AccountID, sc, me.UserID, id, r.URL.Query().Get("after"), desk.MaxLimit)
	if err != nil {
		c.failDomain(w, r, err)
		return
	}
	k := catalog{side.Catalog}
	c.counted(r, &k)
	c.who(r).unread = &side.Unread // the bell: the layout need not count again
	conv := v.Conversation
	if f == nil {
		f = emptyForm()
	}
	if _, posted := f.Values["status"]; !posted {
		f.Values.Set("status", conv.Status)
		f.Values.Set("priority", conv.Priority)
		if conv.Assignee != nil {
			f.Values.Set("assignee", strconv.FormatInt(conv.Assignee.ID, 10))
		}
		if conv.Team != nil {
			f.Values.Set("team", strconv.FormatInt(conv.Team.ID, 10))
		}
		if conv.SnoozedUntil != nil {
			f.Values.Set("snoozed_until", conv.SnoozedUntil.In(c.zone(r)).Format(snoozeLayout))
		}
		f.Values["labels"] = conv.Labels
	}
	people := []string{"", "Unassigned"}
	for _, p := range k.People {
		if p.Kind == "human" {
			people = append(people, strconv.FormatInt(p.ID, 10), p.Name)
		}
	}
	teams := []string{"", "No team"}
	for _, t := range k.Teams {
		teams = append(teams, strconv.FormatInt(t.ID, 10), t.Name)
	}
	controls := []field{
		selectField(f, "status", "Status", statusPairs...),
		selectField(f, "priority", "Priority", priorityPairs...),
		selectField(f, "assignee", "Assignee", people...),
		selectField(f, "team", "Team", teams...),
	}
	d := threadData{C: conv, Inbox: k.inboxName(conv.InboxID), CanDelete: me.Role == "admin", Admin: me.Role == "admin",
		Mine:     conv.Assignee != nil && conv.Assignee.ID == me.UserID,
		Controls: controls,
		Snooze:   field{Name: "snoozed_until", Label: "Snooze until (" + zoneName(c.zone(r)) + ")", Type: "datetime-local", ID: "f-snoozed_until", Value: f.Raw("snoozed_until"), Error: f.Err("snoozed_until"), Hint: "Only for status Snoozed."},
		Composer: field{Name: "content", Label: "Message", ID: "f-content", Value: f.Raw("content"), Error: f.Err("content"), Required: true},
	}
	for _, l := range k.Labels {
		d.Labels = append(d.Labels, field{Name: "labels", Value: l.Name, Label: l.Name, Type: "checkbox",
			ID: "f-labels-" + idSafe(l.Name), Checked: f.Checked("labels", l.Name)})
	}
	d.LabelsError = f.Err("labels")
	if f.Message != "" || f.Err("content") == "" { // the composer's error stands beside it
		d.FormError = f.Summary()
	}
	d.Messages = make([]msgView, 0, len(v.Messages)+len(side.Drafts)) // decided drafts are lines too
	for _, m := range v.Messages {
		d.Messages = append(d.Messages, markMessage(m, k, c.zone(r)))
	}
	c.threadDrafts(r, &d, side.Drafts, v.NextCursor == nil, ask)
	c.snoozeChoices(r, &d, f)
	loc := c.zone(r)
	if err := d.render(&c.rows, c.pagesIn(loc).byName["conversation"], loc); err != nil {
		c.fail(w, r, err)
		return
	}
	if v.NextCursor != nil {
		d.NextURL = fmt.Sprintf("/conversations/%d?after=%s", id, url.QueryEscape(*v.NextCursor))
	}
	title := conv.Subject
	if title == "" {
		title = fmt.Sprintf("Conversation #%d", conv.ID)
	}
	c.render(w, r, status, "conversation", Page{Title: title, Nav: "conversations", Form: f, Data: d})
}

// messagePost sends a reply (kind=reply), sends it and resolves the
// conversation (kind=reply_resolve: one click), or adds a private note
// (kind=note).
func (c *Console) messagePost(w http.ResponseWriter, r *http.Request) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	f := newForm(w, r)
	kind := f.Value("kind")
	private := kind == "note"
	if !slices.Contains([]string{"reply", "reply_resolve", "note"}, kind) {
		f.Fail("content", "Choose Send reply, Send and resolve or Add private note.")
	}
	if f.Value("content") == "" {
		f.Fail("content", "Write a message first.")
	}
	if !f.OK() {
		c.showConversation(w, r, http.StatusBadRequest, f)
		return
	}
	// A reply while an AI draft waits is sent only once the person has
	// seen the draft and confirmed (console.js asks in a dialog; without
	// JavaScript the page comes back asking).
	if !private && f.Value("despite_draft") == "" {
		waits, err := c.draftWaits(r, id)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		if waits {
			c.showThread(w, r, id, http.StatusConflict, f, threadAsk{reply: true})
			return
		}
	}
	sc, err := c.scope(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p := c.me(r)
	m, err := c.cfg.Desk.PersonMessage(r.Context(), p.AccountID, sc, id, f.Raw("content"), private, author(p))
	if err != nil {
		if errors.Is(err, desk.ErrNotFound) {
			c.renderError(w, r, http.StatusNotFound, "This conversation does not exist, or it is not in your inboxes.")
			return
		}
		if f.FailErr(err, map[string]string{"content": "content"}) {
			c.showConversation(w, r, http.StatusBadRequest, f)
			return
		}
		c.fail(w, r, err)
		return
	}
	msg := "Reply sent."
	if private {
		msg = "Private note added."
	}
	if kind == "reply_resolve" {
		// The reply stands on its own: if resolving fails, the person is
		// told so and the reply is not taken back.
		if _, err := c.resolve(r, id); err != nil {
			why, ok := personFault(err)
			if !ok {
				c.fail(w, r, err)
				return
			}
			msg = "Reply sent, but the conversation was not resolved: " + sentence(why)
		} else {
			msg = "Reply sent and conversation resolved."
		}
	}
	c.flash(w, msg)
	c.redirect(w, r, fmt.Sprintf("/conversations/%d#m%d", id, m.ID))
}

// conversationUpdate applies the controls: status (snoozed with a time),
// priority, assignee, team and labels. Only what differs from the
// conversation as it is goes into the change.
func (c *Console) conversationUpdate(w http.ResponseWriter, r *http.Request) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	f := newForm(w, r)
	sc, err := c.scope(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p := c.me(r)
	v, err := c.cfg.Desk.ConversationFor(r.Context(), p.AccountID, sc, id, "", 1)
	if err != nil {
		c.failDomain(w, r, err)
		return
	}
	patch, ok := controlsPatch(f, v.Conversation, c.cfg.Now(), c.zone(r))
	if !ok {
		c.showConversation(w, r, http.StatusBadRequest, f)
		return
	}
	if patch.ConversationPatch.Empty() && !patch.Assignee.Set && !patch.Team.Set {
		c.flash(w, "Nothing changed.")
		c.redirect(w, r, fmt.Sprintf("/conversations/%d", id))
		return
	}
	_, err = c.cfg.Desk.ConversationChange(r.Context(), p.AccountID, sc, id, patch, author(p), c.cfg.Now())
	if err != nil {
		if f.FailErr(err, map[string]string{"status": "status", "priority": "priority", "snoozed_until": "snoozed_until",
			"add_labels": "labels", "remove_labels": "labels", "assignee_id": "assignee", "team_id": "team"}) {
			c.showConversation(w, r, http.StatusBadRequest, f)
			return
		}
		c.fail(w, r, err)
		return
	}
	c.flash(w, "Conversation updated.")
	c.redirect(w, r, fmt.Sprintf("/conversations/%d", id))
}

// controlsPatch reads the controls form into the change it asks for,
// relative to the conversation as it is. It marks the form and reports
// false on bad input.
func controlsPatch(f *Form, cur desk.Conversation, now time.Time, loc *time.Location) (desk.HumanConversationPatch, bool) {
	var p desk.HumanConversationPatch
	switch s := f.Value("status"); {
	case !slices.Contains(statusValues, s):
		f.Fail("status", "Choose a status from the list.")
	case s == "snoozed":
		t, err := time.ParseInLocation(snoozeLayout, f.Value("snoozed_until"), loc)
		switch {
		case f.Value("snoozed_until") == "":
			f.Fail("snoozed_until", "Give the time to snooze until.")
		case err != nil:
			f.Fail("snoozed_until", "Give a date and time like 2026-12-24T09:00.")
		case !t.After(now):
			f.Fail("snoozed_until", "Choose a time in the future.")
		case cur.Status == "snoozed" && cur.SnoozedUntil != nil && t.Equal(cur.SnoozedUntil.Truncate(time.Minute)):
			// the same snooze again: no change
		default:
			p.Status, p.SnoozedUntil = &s, &t
		}
	case s != cur.Status:
		p.Status = &s
	}
	if pr := f.Value("priority"); pr != cur.Priority {
		if !slices.Contains(priorityValues, pr) {
			f.Fail("priority", "Choose a priority from the list.")
		} else {
			p.Priority = &pr
		}
	}
	p.Assignee = choiceID(f, "assignee", cur.Assignee)
	p.Team = choiceID(f, "team", cur.Team)
	for _, l := range f.All("labels") {
		if !slices.Contains(cur.Labels, l) {
			p.AddLabels = append(p.AddLabels, l)
		}
	}
	for _, l := range cur.Labels {
		if !f.Checked("labels", l) {
			p.RemoveLabels = append(p.RemoveLabels, l)
		}
	}
	return p, f.OK()
}

// choiceID reads an id select ("" = none) as a change from cur.
func choiceID(f *Form, name string, cur *desk.Ref) desk.OptionalID {
	var now int64
	if cur != nil {
		now = cur.ID
	}
	v := f.Value(name)
	id, err := strconv.ParseInt(v, 10, 64)
	if v != "" && (err != nil || id <= 0) {
		f.Fail(name, "Choose from the list.")
		return desk.OptionalID{}
	}
	if id == now {
		return desk.OptionalID{}
	}
	return desk.OptionalID{Set: true, ID: id}
}

type confirmData struct {
	What    string // "conversation" or "contact"
	Name    string
	Details string
	Action  string
	Back    string
	Confirm field
	// Typed, when set, replaces the box: a text field the person must
	// fill with the name of what goes (deleting an inbox).
	Typed *field
	// Verb and Button name the action ("delete the conversation" and
	// "Delete conversation" when empty).
	Verb, Button string
}

// conversationDeletePage asks before deleting (works without JavaScript:
// the delete needs the ticked box).
func (c *Console) conversationDeletePage(w http.ResponseWriter, r *http.Request) {
	c.showConversationDelete(w, r, http.StatusOK, emptyForm())
}

func (c *Console) showConversationDelete(w http.ResponseWriter, r *http.Request, status int, f *Form) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	v, err := c.cfg.Desk.ConversationFor(r.Context(), c.me(r).AccountID, desk.Scope{}, id, "", desk.MaxLimit)
	if err != nil {
		c.failDomain(w, r, err)
		return
	}
	n := fmt.Sprint(len(v.Messages))
	if v.NextCursor != nil {
		n = "over " + n
	}
	d := confirmData{What: "conversation", Name: fmt.Sprintf("#%d with %s", id, v.Conversation.Contact.Name),
		Details: "Messages deleted with it: " + n + ", with its notes and pending drafts. This cannot be undone.",
		Action:  fmt.Sprintf("/conversations/%d/delete", id), Back: fmt.Sprintf("/conversations/%d", id),
		Confirm: confirmBox(f, "Yes, delete this conversation and its messages")}
	c.render(w, r, status, "confirm-delete", Page{Title: "Delete conversation", Nav: "conversations", Form: f, Data: d})
}

// conversationDelete deletes after the confirm box was ticked.
func (c *Console) conversationDelete(w http.ResponseWriter, r *http.Request) {
	id, ok := c.confirmedDelete(w, r, c.showConversationDelete)
	if !ok {
		return
	}
	p := c.me(r)
	if err := c.cfg.Desk.ConversationDelete(r.Context(), p.AccountID, desk.Scope{}, id, author(p)); err != nil {
		c.failDomain(w, r, err)
		return
	}
	c.flash(w, fmt.Sprintf("Conversation #%d deleted.", id))
	c.redirect(w, r, "/conversations")
}
