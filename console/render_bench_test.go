package console

import (
	"bytes"
	"fmt"
	"html/template"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
)

// The templates' share of the list and the thread (BenchmarkPagesVsREST
// measures the whole pages against REST): each renders the page a handler
// would for 50 triage rows or 100 messages, without the database, so that
// a change to a template or to the rows it prints can be measured alone.
// "fresh" renders every row (a page whose rows all changed since it was
// last read), "kept" finds them kept (a page the live script re-reads).

// benchCatalog is a workspace's catalog: two inboxes, three labels, three
// people.
func benchCatalog() catalog {
	var k catalog
	k.Inboxes = []desk.Inbox{{ID: 1, Name: "Support"}, {ID: 2, Name: "Sales"}}
	for _, l := range []string{"billing", "shipping", "vip"} {
		k.Labels = append(k.Labels, desk.Label{Name: l})
	}
	for i, n := range []string{"Ann Admin", "Bob Agent", "Cy Agent"} {
		k.People = append(k.People, desk.Agent{ID: int64(i + 1), Name: n, Kind: "human"})
	}
	return k
}

// benchView is the chrome around a page for a signed-in admin.
func benchView(p Page) view {
	return view{Page: p, Current: map[string]bool{p.Nav: true}, Me: identity.UserPrincipal{AccountID: 1, UserID: 1, Role: "admin", Name: "Ann Admin"},
		Account: identity.Account{ID: 1, Name: "Acme"}, Admin: true, Drafts: 3, Unread: 2, LiveCursor: "cursor"}
}

// benchLayout renders v's chrome through f, then the page, as render does.
func benchLayout(f *fragments, t *template.Template, w *bytes.Buffer, v view) error {
	if err := v.renderChrome(f, t, time.UTC); err != nil {
		return err
	}
	return t.ExecuteTemplate(w, "layout", v)
}

// benchPage is a page with its rows: render renders the rows with the
// fragments f into the page's data, then the page.
type benchPage struct {
	name   string // the page's template
	render func(f *fragments, t *template.Template, w *bytes.Buffer) error
}

func benchRender(b *testing.B, p benchPage, kept bool) {
	pages, err := parseTemplates(time.UTC)
	if err != nil {
		b.Fatal(err)
	}
	t := pages.byName[p.name]
	var buf bytes.Buffer
	f := &fragments{}
	b.ReportAllocs()
	for b.Loop() {
		if !kept {
			f = &fragments{}
		}
		buf.Reset()
		if err := p.render(f, t, &buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len())/1024, "KB")
}

func benchBoth(b *testing.B, p benchPage) {
	b.Run("fresh", func(b *testing.B) { benchRender(b, p, false) })
	b.Run("kept", func(b *testing.B) { benchRender(b, p, true) })
}

// BenchmarkRenderList renders the list's default view: 50 rows, each with
// its last message, wait, assignee and a label.
func BenchmarkRenderList(b *testing.B) { benchBoth(b, benchList(50)) }

// benchList is the list's default view with n rows.
func benchList(n int) benchPage {
	k := benchCatalog()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	f := emptyForm()
	filters := append(k.filterFields(f), selectField(f, "sort", "Sort", "", "Last activity", "waiting", "Longest waiting", "priority", "Priority"))
	d := convListData{View: "open", Query: textField(f, "q", "Search", "search"), Filters: filters,
		Back: "/conversations", Bulk: k.bulkFields(), Snooze: bulkSnooze(time.UTC),
		Views: k.viewLinks(desk.ViewCounts{Open: 60, Unassigned: 40, ByInbox: map[int64]int{1: 50, 2: 10}}, true, "open", "", "")}
	p := benchPage{name: "conversations"}
	var rows []convRow
	for i := 0; i < n; i++ {
		at := now.Add(-time.Duration(i) * time.Minute)
		s := desk.ConversationSummary{ID: int64(1000 + i), Status: "open", Priority: "none", InboxID: 1, LastActivityAt: at,
			Labels: []string{"billing"}, Triage: &desk.Triage{}}
		s.Contact.Name = fmt.Sprintf("Customer %d", i)
		s.LastMessage = &desk.LastMessage{Content: "Hello, my order has not arrived yet; can you check where it is?", SenderKind: "contact"}
		s.WaitingSince = &at
		rows = append(rows, triageRow(s, k, now, time.UTC))
	}
	p.render = func(fr *fragments, t *template.Template, w *bytes.Buffer) error {
		var err error
		if d.Rows, err = renderAll(fr, t, time.UTC, "conversation-row", rows); err != nil {
			return err
		}
		if err = d.renderBars(fr, t, time.UTC); err != nil {
			return err
		}
		return benchLayout(fr, t, w, benchView(Page{Title: "Conversations", Nav: "conversations", Form: f, Data: d}))
	}
	return p
}

// BenchmarkRenderThread renders a thread of 100 messages with its
// controls.
func BenchmarkRenderThread(b *testing.B) { benchBoth(b, benchThread(100)) }

// benchThread is a thread of n messages.
func benchThread(n int) benchPage {
	k := benchCatalog()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	conv := desk.Conversation{ID: 1000, InboxID: 1, Status: "open", Priority: "none"}
	email := "customer1@example.com"
	conv.Contact.Name, conv.Contact.Email = "Customer 1", &email
	d := threadData{C: conv, Inbox: "Support", CanDelete: true}
	f := emptyForm()
	controls := []field{selectField(f, "status", "Status", statusPairs...), selectField(f, "priority", "Priority", priorityPairs...)}
	d.Composer = field{Name: "content", Label: "Message", ID: "f-content", Required: true}
	var labels []field
	for _, l := range k.Labels {
		labels = append(labels, field{Name: "labels", Value: l.Name, Label: l.Name, Type: "checkbox", ID: "f-labels-" + l.Name})
	}
	p := benchPage{name: "conversation"}
	var lines []msgView
	for i := 0; i < n; i++ {
		m := desk.Message{ID: int64(5000 + i), Type: "outgoing", CreatedAt: now.Add(time.Duration(i) * time.Minute),
			Content: fmt.Sprintf("Message %d of a long thread: we are looking into it and will write back shortly with the tracking details.", i)}
		m.Sender.Kind, m.Sender.Name = "user", "Bench"
		lines = append(lines, markMessage(m, k, time.UTC))
	}
	d.Messages, d.Controls, d.Labels = lines, controls, labels
	p.render = func(fr *fragments, t *template.Template, w *bytes.Buffer) error {
		d := d
		if err := d.render(fr, t, time.UTC); err != nil {
			return err
		}
		return benchLayout(fr, t, w, benchView(Page{Title: "Conversation #1000", Nav: "conversations", Form: f, Data: d}))
	}
	return p
}
