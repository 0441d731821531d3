package console

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/deskwoot/deskwoot/desk"
)

// The triage list (DESIGN §18): views with their counts, sorts, rows that
// show the last message and how long the customer has waited, and bulk
// actions on the rows ticked. The page reads the rows, the counts and the
// catalog in one round trip.

// convRow is a row of the conversation list, its words worked out here so
// the template only prints: a list page prints 50, and each action of a
// template costs more than the Go that prepares it.
type convRow struct {
	ID         string // the conversation's id, formatted once: the row prints it six times
	Tick       string // the checkbox's label: "Tick conversation #12 with Carla"
	Contact    string
	Ref        string           // "#12" and the subject, if any
	Sender     string           // who wrote the last message: Customer, a person's name or AI agent
	Preview    string           // the last message on one line
	Highlights []desk.Highlight // a search's
	Status     string
	Escalated  bool
	Priority   string // empty for none
	Inbox      string
	Assignee   string // a name, or Unassigned
	Labels     []string
	Waiting    string // how long the customer has waited ("12 min"); empty when not
	Since      string // when they began to wait
	When       string // the last activity, when they do not wait
}

func (r convRow) appendKey(k []byte) []byte {
	for _, s := range [...]string{r.ID, r.Tick, r.Contact, r.Ref, r.Sender, r.Preview, r.Status, r.Priority, r.Inbox, r.Assignee, r.Waiting, r.Since, r.When} {
		k = keyString(k, s)
	}
	k = keyBool(k, r.Escalated)
	k = keyStrings(k, r.Labels)
	k = keyCount(k, len(r.Highlights))
	for _, h := range r.Highlights {
		k = keyString(keyString(k, h.Field), h.Text)
		k = keyBool(k, h.MessageID != nil)
		if h.MessageID != nil {
			k = keyInt(k, *h.MessageID)
		}
		k = keyCount(k, len(h.Matches))
		for _, m := range h.Matches {
			k = keyInt(keyInt(k, int64(m[0])), int64(m[1]))
		}
	}
	return k
}

// viewLink is one view in the views bar.
type viewLink struct {
	Label   string
	URL     string
	Count   int
	Counted bool // the count was read (not on a page that refused its filters)
	Current bool
}

func (v viewLink) appendKey(k []byte) []byte {
	k = keyString(keyString(k, v.Label), v.URL)
	return keyBool(keyBool(keyInt(k, int64(v.Count)), v.Counted), v.Current)
}

// viewLinks is the data of the template views-bar.
type viewLinks []viewLink

func (vs viewLinks) appendKey(k []byte) []byte { return keyList(k, vs) }

type convListData struct {
	Rows    template.HTML // convRows, each in the template conversation-row
	NextURL string
	Views   []viewLink
	View    string  // the view in use, kept by the filter form
	Filters []field // selects
	Query   field
	Any     bool // a filter is in use
	// FormError is the error above the filter form (Form.Summary).
	FormError string
	Back      string // this page, where a bulk action returns
	Bulk      []field
	Snooze    []field // the preset, and a time in the person's zone

	ViewsBar   template.HTML // Views in the template views-bar
	FilterForm template.HTML // the filter form in the template list-filters
	BulkBar    template.HTML // Bulk and Snooze in the template bulk-bar, when there are rows
}

// listFilters is the data of the template list-filters: the list's
// filter form.
type listFilters struct {
	FormError, View string
	Filters         []field
	Query           field
	Any             bool
}

func (l listFilters) appendKey(k []byte) []byte {
	return keyBool(l.Query.appendKey(keyList(keyString(keyString(k, l.FormError), l.View), l.Filters)), l.Any)
}

// bulkBar is the data of the template bulk-bar: the list's bulk actions.
type bulkBar struct {
	Bulk   []field
	Snooze []field
}

func (b bulkBar) appendKey(k []byte) []byte { return keyList(keyList(k, b.Bulk), b.Snooze) }

// renderBars renders d's views bar, filter form and bulk actions through f, the page
// being t in zone loc: from one reading of the list to the next they are
// mostly as they were, and rendered anew they cost as much as many rows.
// It runs after d.Rows is rendered (no rows, no bulk actions).
func (d *convListData) renderBars(f *fragments, t *template.Template, loc *time.Location) error {
	var err error
	if d.ViewsBar, err = f.render(t, loc, "views-bar", viewLinks(d.Views)); err != nil {
		return err
	}
	if d.FilterForm, err = f.render(t, loc, "list-filters", listFilters{FormError: d.FormError, View: d.View, Filters: d.Filters, Query: d.Query, Any: d.Any}); err != nil {
		return err
	}
	if d.Rows != "" {
		d.BulkBar, err = f.render(t, loc, "bulk-bar", bulkBar{Bulk: d.Bulk, Snooze: d.Snooze})
	}
	return err
}

// listViews are the console's views: REST's (desk.Views) and "all", every
// conversation whatever its status.
var listViews = append(slices.Clone(desk.Views), "all")

// conversationList is the queue: a view (Open unless a status or a search
// says otherwise), filters (inbox, status, assignee, label, text), a sort,
// and cursor paging.
func (c *Console) conversationList(w http.ResponseWriter, r *http.Request) {
	sc, err := c.scope(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	var k catalog
	var counts desk.ViewCounts
	q := r.URL.Query()
	f := &Form{Values: q, Errors: map[string]string{}}
	view := q.Get("view")
	if view == "" && q.Get("status") == "" && q.Get("q") == "" {
		view = "open" // resolved conversations are not mixed in unless asked for
	}
	filter := desk.ConversationFilter{Status: q.Get("status"), Label: q.Get("label"), Assignee: q.Get("assignee"),
		Query: q.Get("q"), UserID: c.me(r).UserID, Cursor: q.Get("cursor"), Limit: 50, View: view, Sort: q.Get("sort"),
		Triage: true, Catalog: &k.Catalog, Counts: &counts}
	if view == "all" {
		filter.View = ""
	}
	if v := q.Get("inbox"); v != "" {
		if filter.InboxID, err = strconv.ParseInt(v, 10, 64); err != nil || filter.InboxID <= 0 {
			f.Fail("inbox", "Choose an inbox from the list.")
		}
	}
	var rows []desk.ConversationSummary
	var next *string
	counted := false
	if f.OK() {
		rows, next, err = c.cfg.Desk.ConversationList(r.Context(), c.request(r), sc, filter)
		if err != nil && !f.FailErr(err, map[string]string{"status": "status", "assignee": "assignee", "query": "q", "cursor": "q", "sort": "sort"}) {
			c.fail(w, r, err)
			return
		}
		counted = err == nil
		if counted {
			c.who(r).unread = &counts.Unread // the bell: the layout need not count again
		}
	}
	if !f.OK() { // the list refused the filters before reading the catalog
		if k.Catalog, err = c.cfg.Desk.CatalogGet(r.Context(), c.me(r).AccountID, sc); err != nil {
			c.fail(w, r, err)
			return
		}
	}
	c.counted(r, &k)
	filters := append(k.filterFields(f), selectField(f, "sort", "Sort", "", "Last activity", "waiting", "Longest waiting", "priority", "Priority"))
	d := convListData{View: view, Query: textField(f, "q", "Search", "search"), Filters: filters, FormError: f.Summary(),
		Any:  q.Get("inbox")+q.Get("status")+q.Get("assignee")+q.Get("label")+q.Get("q") != "",
		Back: "/conversations", Bulk: k.bulkFields(), Snooze: bulkSnooze(c.zone(r))}
	if r.URL.RawQuery != "" {
		d.Back += "?" + r.URL.RawQuery
	}
	d.Views = k.viewLinks(counts, counted, view, q.Get("inbox"), q.Get("sort"))
	now, loc := c.cfg.Now(), c.zone(r)
	page := c.pagesIn(loc).byName["conversations"]
	shown := make([]convRow, 0, len(rows))
	for _, s := range rows {
		shown = append(shown, triageRow(s, k, now, loc))
	}
	if d.Rows, err = renderAll(&c.rows, page, loc, "conversation-row", shown); err != nil {
		c.fail(w, r, err)
		return
	}
	if err = d.renderBars(&c.rows, page, loc); err != nil {
		c.fail(w, r, err)
		return
	}
	if next != nil {
		nq := url.Values{}
		for _, key := range []string{"view", "inbox", "status", "assignee", "label", "q", "sort"} {
			if v := q.Get(key); v != "" {
				nq.Set(key, v)
			}
		}
		nq.Set("cursor", *next)
		d.NextURL = "/conversations?" + nq.Encode()
	}
	status := http.StatusOK
	if !f.OK() {
		status = http.StatusBadRequest
	}
	c.render(w, r, status, "conversations", Page{Title: "Conversations", Nav: "conversations", Form: f, Data: d})
}

// viewLinks are the views with their counts; each keeps the sort.
func (k catalog) viewLinks(n desk.ViewCounts, counted bool, view, inbox, sort string) []viewLink {
	link := func(label, v, ib string, count int) viewLink {
		q := url.Values{"view": {v}}
		if ib != "" {
			q.Set("inbox", ib)
		}
		if sort != "" {
			q.Set("sort", sort)
		}
		return viewLink{Label: label, URL: "/conversations?" + q.Encode(), Count: count, Counted: counted,
			Current: v == view && ib == inbox}
	}
	links := []viewLink{
		link("Mine", "mine", "", n.Mine),
		link("Unassigned", "unassigned", "", n.Unassigned),
		link("All open", "open", "", n.Open),
		link("Escalated", "escalated", "", n.Escalated),
	}
	for _, ib := range k.Inboxes {
		links = append(links, link(ib.Name, "open", strconv.FormatInt(ib.ID, 10), n.ByInbox[ib.ID]))
	}
	all := link("All conversations", "all", "", 0)
	all.Counted = false
	return append(links, all)
}

// oneLine is s on one line: each run of white space made one space, none
// at the ends (strings.Join(strings.Fields(s), " ")). Most last messages
// already are, and are then returned as they are instead of being split
// into words and joined again for every row of every list.
func oneLine(s string) string {
	space := true // a space at the start is not on one line
	for _, r := range s {
		if unicode.IsSpace(r) {
			if r != ' ' || space {
				return strings.Join(strings.Fields(s), " ")
			}
			space = true
		} else {
			space = false
		}
	}
	if space { // empty, or a space at the end
		return strings.Join(strings.Fields(s), " ")
	}
	return s
}

// triageRow words a row: who wrote the last message, the message on one
// line, and the wait, in the person's zone loc.
func triageRow(s desk.ConversationSummary, k catalog, now time.Time, loc *time.Location) convRow {
	id := strconv.FormatInt(s.ID, 10)
	row := convRow{ID: id, Tick: "Tick conversation #" + id + " with " + s.Contact.Name, Contact: s.Contact.Name, Ref: "#" + id,
		Status: s.Status, Inbox: k.inboxName(s.InboxID), Labels: s.Labels, Highlights: s.Highlights}
	if s.Subject != "" {
		row.Ref += " " + s.Subject
	}
	if s.Priority != "none" {
		row.Priority = s.Priority
	}
	if s.Triage == nil { // not read: the row shows the summary alone
		row.When = s.LastActivityAt.In(loc).Format(minuteLayout)
		return row
	}
	row.Escalated, row.Assignee = s.Escalated, "Unassigned"
	if s.Assignee != nil {
		row.Assignee = s.Assignee.Name
	}
	if m := s.LastMessage; m != nil {
		row.Sender = senderWords(m.SenderKind, m.SenderName)
		row.Preview = oneLine(m.Content)
	}
	if s.WaitingSince != nil {
		row.Waiting = waited(now.Sub(*s.WaitingSince))
		row.Since = s.WaitingSince.In(loc).Format(minuteLayout)
	} else {
		row.When = s.LastActivityAt.In(loc).Format(minuteLayout)
	}
	return row
}

// senderWords names who wrote a message as a list says it.
func senderWords(kind, name string) string {
	switch kind {
	case "contact":
		return "Customer"
	case "agent":
		return "AI agent"
	case "system":
		return "System"
	}
	return name
}

// waited says a wait in the largest whole unit: minutes, hours, days.
func waited(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// bulkFields are the choices of the bulk actions: whom to assign, which
// label to add.
func (k catalog) bulkFields() []field {
	f := emptyForm()
	people := []string{"", "Choose a person", "none", "Nobody (unassign)"}
	for _, p := range k.People {
		if p.Kind == "human" {
			people = append(people, strconv.FormatInt(p.ID, 10), p.Name)
		}
	}
	labels := []string{}
	for _, l := range k.Labels {
		labels = append(labels, l.Name, l.Name)
	}
	assignee, label := selectField(f, "assignee", "Assign to", people...), selectField(f, "label", "Label", labels...)
	assignee.ID, label.ID = "bulk-assignee", "bulk-label"
	return []field{assignee, label}
}

// bulkSnooze are the snooze choices of the bulk actions, as the thread's:
// the presets or a time, in the person's zone loc.
func bulkSnooze(loc *time.Location) []field {
	preset := selectField(emptyForm(), "preset", "Snooze", append(slices.Clone(presetLabels), "custom", "Until the time below")...)
	preset.ID = "bulk-preset"
	return []field{preset, {Name: "until", Label: "Snooze until a time (" + zoneName(loc) + ")", Type: "datetime-local", ID: "bulk-until"}}
}

// maxBulk bounds a bulk action: a page shows at most 50 rows.
const maxBulk = 100

// bulkVerbs word each bulk action's outcome.
var bulkVerbs = map[string]string{"assign": "Assigned", "label": "Labelled", "resolve": "Resolved", "snooze": "Snoozed"}

// conversationBulk applies one action (assign, label, resolve, snooze) to
// the conversations ticked on the list. Each conversation changes as the
// thread's controls would change it: its own unit of work with its event
// and its audit row (conversation.update, the person as actor), so that a
// bulk action leaves the same trail as the single ones. It returns to the
// list it came from, saying what was done and what was not.
func (c *Console) conversationBulk(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	back := f.Value("back")
	if !strings.HasPrefix(back, "/conversations") {
		back = "/conversations"
	}
	action := f.Value("action")
	ids, problem := bulkIDs(f.All("ids"))
	var patch desk.HumanConversationPatch
	now := c.cfg.Now()
	switch action {
	case "assign":
		// "none" unassigns; the empty first choice is no choice, so that
		// a click on Assign never unassigns by accident.
		switch v := f.Value("assignee"); v {
		case "":
			problem = "Choose whom to assign from the list."
		case "none":
			patch.Assignee = desk.OptionalID{Set: true}
		default:
			patch.Assignee = choiceID(f, "assignee", nil)
			patch.Assignee.Set = true
		}
	case "label":
		if l := f.Value("label"); l != "" {
			patch.AddLabels = []string{l}
		} else {
			problem = "Choose a label to add."
		}
	case "resolve":
		s := "resolved"
		patch.Status = &s
	case "snooze":
		t := snoozeUntil(f, now, c.zone(r))
		s := "snoozed"
		patch.Status, patch.SnoozedUntil = &s, &t
	default:
		problem = "Choose Assign, Label, Resolve or Snooze."
	}
	if !f.OK() && problem == "" {
		problem = f.Err("assignee") + f.Err("until")
	}
	if problem != "" {
		c.flash(w, "Nothing changed: "+problem)
		c.redirect(w, r, back)
		return
	}
	sc, err := c.scope(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p := c.me(r)
	var done int
	var failed []string
	for _, id := range ids {
		if _, err := c.cfg.Desk.ConversationChange(r.Context(), p.AccountID, sc, id, patch, author(p), now); err != nil {
			why, ok := personFault(err)
			if !ok {
				c.fail(w, r, err)
				return
			}
			failed = append(failed, fmt.Sprintf("#%d (%s)", id, why))
			continue
		}
		done++
	}
	msg := fmt.Sprintf("%s %d conversation%s.", bulkVerbs[action], done, plural(done))
	if len(failed) > 0 {
		msg += " Not changed: " + strings.Join(failed, ", ") + "."
	}
	c.flash(w, msg)
	c.redirect(w, r, back)
}

// bulkIDs reads the ticked conversations' ids, each once.
func bulkIDs(vals []string) ([]int64, string) {
	if len(vals) == 0 {
		return nil, "Tick at least one conversation first."
	}
	if len(vals) > maxBulk {
		return nil, fmt.Sprintf("Tick at most %d conversations at once.", maxBulk)
	}
	var ids []int64
	for _, v := range vals {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return nil, "The selection could not be read; reload the page and try again."
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, ""
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
