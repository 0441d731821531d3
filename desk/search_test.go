package desk_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/tenancy"
)

// searchDesk is a tenant with an inbox, for search tests.
type searchDesk struct {
	d     *desk.Desk
	acct  int64
	inbox int64
}

func newSearchDesk(t *testing.T) searchDesk {
	t.Helper()
	d := &desk.Desk{DB: dbtest.App(t)}
	acct := dbtest.NewTenant(t).Account.ID
	ib, err := d.InboxCreate(context.Background(), tenancy.For(acct), desk.InboxInput{Name: "Support " + dbtest.Unique("ib"), Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	return searchDesk{d: d, acct: acct, inbox: ib.ID}
}

// say posts a customer message and returns its conversation.
func (s searchDesk) say(t *testing.T, inbox int64, name, email, content string) desk.IncomingResult {
	t.Helper()
	res, err := s.d.IncomingMessage(context.Background(), s.acct, inbox, desk.IncomingInput{
		Contact: desk.IncomingContact{Name: name, Email: email}, Content: content})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (s searchDesk) subject(t *testing.T, conv int64, subject string) {
	t.Helper()
	err := s.d.DB.InTenant(context.Background(), s.acct, func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `UPDATE conversations SET subject = $2 WHERE id = $1`, conv, subject)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (s searchDesk) search(t *testing.T, sc desk.Scope, q string) []desk.ConversationSummary {
	t.Helper()
	got, _, err := s.d.ConversationSearch(context.Background(), tenancy.For(s.acct), sc, desk.SearchFilter{Query: q, Limit: 100})
	if err != nil {
		t.Fatalf("search %q: %v", q, err)
	}
	return got
}

func ids(cs []desk.ConversationSummary) []int64 {
	out := []int64{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func TestSearchFindsWordFormsPrefixesAndTypos(t *testing.T) {
	t.Parallel()
	s := newSearchDesk(t)
	refunded := s.say(t, s.inbox, "Ann Example", dbtest.Unique("ann")+"@example.com", "I was promised my money would be refunded last week.")
	arrived := s.say(t, s.inbox, "Bob Example", dbtest.Unique("bob")+"@example.com", "The parcel arrived broken.")
	subject := s.say(t, s.inbox, "Rosalind Franklin", dbtest.Unique("rosalind")+"@example.com", "Hello, can someone call me back?")
	s.subject(t, subject.ConversationID, "Refund for order")
	cases := []struct {
		query string
		want  []int64
	}{
		{"refund", []int64{subject.ConversationID, refunded.ConversationID}}, // word forms: refunded
		{"arrive", []int64{arrived.ConversationID}},                          // arrived
		{"ARRIVING", []int64{arrived.ConversationID}},
		{"parc", []int64{arrived.ConversationID}},                           // the last word is a prefix
		{"money refu", []int64{refunded.ConversationID}},                    // … of the last word only
		{"refnd", []int64{subject.ConversationID, refunded.ConversationID}}, // a typo of the subject's word
		{"rosalnd", []int64{subject.ConversationID}},                        // a typo of a contact's name
		{`"arrived broken"`, []int64{arrived.ConversationID}},               // a phrase
		{`"broken arrived"`, []int64{}},                                     // … in its order
		{"refund -money", []int64{subject.ConversationID}},                  // leaving out
		{"parcel or money", []int64{refunded.ConversationID, arrived.ConversationID}},
	}
	for _, c := range cases {
		got := ids(s.search(t, desk.Scope{}, c.query))
		slices.Sort(got)
		want := slices.Clone(c.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("search %q found %v, want %v", c.query, got, want)
		}
	}
	// A word that is no look-alike of anything finds nothing.
	if got := s.search(t, desk.Scope{}, "zebra"); len(got) != 0 {
		t.Errorf("search zebra found %v", ids(got))
	}
}

func TestSearchRanksByRelevanceThenRecency(t *testing.T) {
	t.Parallel()
	s := newSearchDesk(t)
	older := s.say(t, s.inbox, "Carl", dbtest.Unique("carl")+"@example.com", "My invoice is wrong.")
	newer := s.say(t, s.inbox, "Dora", dbtest.Unique("dora")+"@example.com", "Question about my invoice.")
	titled := s.say(t, s.inbox, "Erin", dbtest.Unique("erin")+"@example.com", "Hello there.")
	s.subject(t, titled.ConversationID, "Invoice")
	got := ids(s.search(t, desk.Scope{}, "invoice"))
	// The subject match ranks first although it is neither newest nor in a
	// message; then the message matches, the newest first.
	if want := []int64{titled.ConversationID, newer.ConversationID, older.ConversationID}; !slices.Equal(got, want) {
		t.Fatalf("search invoice ranked %v, want %v", got, want)
	}
}

func TestSearchHighlightsMatchesAsPlainText(t *testing.T) {
	t.Parallel()
	s := newSearchDesk(t)
	// Customer text that tries to forge markers or markup cannot mark.
	res := s.say(t, s.inbox, "Frida <b>Kahlo</b>", dbtest.Unique("frida")+"@example.com",
		"Fake \x01match\x02 here; <script>x</script> my parcels were refunded twice.")
	got := s.search(t, desk.Scope{}, "refund parcel")
	if len(got) != 1 || got[0].ID != res.ConversationID {
		t.Fatalf("found %v", ids(got))
	}
	var content *desk.Highlight
	for i, h := range got[0].Highlights {
		if h.Field == "content" {
			content = &got[0].Highlights[i]
		}
	}
	if content == nil || content.MessageID == nil || *content.MessageID != res.MessageID {
		t.Fatalf("no content highlight naming message %d: %+v", res.MessageID, got[0].Highlights)
	}
	var marked []string
	for _, p := range content.Parts() {
		if p.Match {
			marked = append(marked, p.Text)
		}
	}
	if !slices.Equal(marked, []string{"parcels", "refunded"}) {
		t.Errorf("marked %q in %q (matches %v), want parcels and refunded", marked, content.Text, content.Matches)
	}
	// (ts_headline leaves tags out of a stretch of text; what is left is
	// text, and the marks are only the offsets.)
	if strings.ContainsAny(content.Text, "\x01\x02<>") || !strings.Contains(content.Text, "match") {
		t.Errorf("highlight text %q: want the text without markers or tags", content.Text)
	}
	// Contacts highlight their name.
	cs, _, err := s.d.ContactSearch(context.Background(), tenancy.For(s.acct), desk.Scope{}, "kahlo", "", 10)
	if err != nil || len(cs) != 1 || len(cs[0].Highlights) == 0 || cs[0].Highlights[0].Field != "name" {
		t.Fatalf("contact search kahlo: %+v %v", cs, err)
	}
	h := cs[0].Highlights[0]
	if parts := h.Parts(); len(parts) < 2 || !slices.ContainsFunc(parts, func(p desk.HighlightPart) bool { return p.Match && p.Text == "Kahlo" }) {
		t.Errorf("name highlight %+v parts %+v", h, parts)
	}
}

// TestSearchInputNeverFailsTheServer: whatever a person types gets results
// or a clear invalid-input error, never a database error.
func TestSearchInputNeverFailsTheServer(t *testing.T) {
	t.Parallel()
	s := newSearchDesk(t)
	s.say(t, s.inbox, "Gus", dbtest.Unique("gus")+"@example.com", "Refund my order, it's broken & late (again)!")
	ok := []string{
		"refund & late", "refund | late", "!refund", "refund:*", "refund:A", "(refund", "refund)", "<-> refund", "refund <2> late",
		`"refund`, `refund"`, `""refund""`, `'refund'`, `it's`, `refund\`, `\'refund`, "refund -", "- refund", "-- refund", "or refund or",
		"OR OR refund", "the of and refund", "über straße", "日本語", "refund:*:*", "a", "zz", strings.Repeat("refund ", 30),
		"jane@example.com", "+1 (555) 010-0100", "café", "\u200b refund", "refund\t\nlate", "'; DROP TABLE messages; --",
	}
	bad := []string{
		"", "   ", "\x00", "refund\x00", string([]byte{0xff, 0xfe}), strings.Repeat("x", 1024), strings.Repeat("a ", 33),
		"-refund", `-"refund late"`, "!!! ???", `\`, `\'`, "%_%", "the", // stop words only still have a word: see below
	}
	for _, q := range ok {
		for _, run := range searches(s) {
			if err := run(q); err != nil {
				t.Errorf("query %q: %v", q, err)
			}
		}
	}
	for _, q := range bad {
		for _, run := range searches(s) {
			err := run(q)
			if q == "the" { // only stop words: a valid query that finds nothing in messages
				if err != nil {
					t.Errorf("query %q: %v", q, err)
				}
				continue
			}
			if !errors.Is(err, desk.ErrInvalid) {
				t.Errorf("query %q: got %v, want an invalid-input error", q, err)
			}
		}
	}
}

// searches are the engine's doors, each as a function of the query.
func searches(s searchDesk) []func(string) error {
	ctx := context.Background()
	return []func(string) error{
		func(q string) error {
			_, _, err := s.d.ConversationSearch(ctx, tenancy.For(s.acct), desk.Scope{}, desk.SearchFilter{Query: q})
			return err
		},
		func(q string) error {
			_, _, err := s.d.ConversationList(ctx, tenancy.For(s.acct), desk.Scope{InboxIDs: []int64{s.inbox}}, desk.ConversationFilter{Query: q, Status: "open"})
			if q == "" {
				return desk.ErrInvalid // an empty query lists; it is not a search
			}
			return err
		},
		func(q string) error {
			_, _, err := s.d.ContactSearch(ctx, tenancy.For(s.acct), desk.Scope{}, q, "", 0)
			return err
		},
		func(q string) error {
			_, err := s.d.ArticleSearch(ctx, tenancy.For(s.acct), q, 0)
			return err
		},
	}
}

// TestSearchStaysInItsTenantAndInboxes: the same words in another
// workspace, or in an inbox outside the caller's scope, are never found,
// counted or highlighted.
func TestSearchStaysInItsTenantAndInboxes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := newSearchDesk(t), newSearchDesk(t)
	other, err := a.d.InboxCreate(ctx, tenancy.For(a.acct), desk.InboxInput{Name: "Other " + dbtest.Unique("ib"), Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	secret := "xylophone"
	mine := a.say(t, a.inbox, "Hana Mine", dbtest.Unique("hana")+"@example.com", "My "+secret+" is out of tune.")
	theirs := b.say(t, b.inbox, "Hana Theirs", dbtest.Unique("hana")+"@example.com", "Their "+secret+" is out of tune.")
	hidden := a.say(t, other.ID, "Hana Hidden", dbtest.Unique("hana")+"@example.com", "A hidden "+secret+" is out of tune.")
	b.subject(t, theirs.ConversationID, "Xylophone repair")

	all := ids(a.search(t, desk.Scope{}, secret))
	slices.Sort(all)
	if want := []int64{mine.ConversationID, hidden.ConversationID}; !slices.Equal(all, want) {
		t.Errorf("A's search found %v, want %v", all, want)
	}
	scoped := desk.Scope{InboxIDs: []int64{a.inbox}}
	if got := ids(a.search(t, scoped, secret)); !slices.Equal(got, []int64{mine.ConversationID}) {
		t.Errorf("A's search restricted to inbox %d found %v", a.inbox, got)
	}
	got, _, err := a.d.ConversationSearch(ctx, tenancy.For(a.acct), scoped, desk.SearchFilter{Query: secret, InboxID: other.ID})
	if err != nil || len(got) != 0 {
		t.Errorf("restricted search asking for the inbox outside its scope: %v %v", ids(got), err)
	}
	// A typo is widened with the tenant's own words only: B's subject word
	// would make it find A's messages.
	if got := ids(a.search(t, desk.Scope{}, "xylophne")); len(got) != 0 {
		t.Errorf("A's search for B's subject found %v", got)
	}
	for _, c := range a.search(t, desk.Scope{}, "hana") {
		for _, h := range c.Highlights {
			if strings.Contains(h.Text, "Theirs") {
				t.Errorf("A's highlights show B's text: %+v", h)
			}
		}
	}
	cs, _, err := a.d.ContactSearch(ctx, tenancy.For(a.acct), scoped, "hana", "", 100)
	if err != nil || len(cs) != 1 || cs[0].ID != mine.ContactID {
		t.Errorf("restricted contact search: %+v %v, want only contact %d", cs, err, mine.ContactID)
	}
	cs, _, err = a.d.ContactSearch(ctx, tenancy.For(a.acct), desk.Scope{}, "hana", "", 100)
	if err != nil || len(cs) != 2 {
		t.Errorf("A's contact search: %d contacts, %v; want its own 2", len(cs), err)
	}
	for _, c := range cs {
		if c.ID == theirs.ContactID {
			t.Errorf("A's contact search found B's contact %d", c.ID)
		}
	}
}

func TestSearchPagesThroughRankedResults(t *testing.T) {
	t.Parallel()
	s := newSearchDesk(t)
	var want []int64
	for i := 0; i < 7; i++ {
		want = append(want, s.say(t, s.inbox, fmt.Sprintf("Ivan %d", i), dbtest.Unique("ivan")+"@example.com", "Where is my umbrella?").ConversationID)
	}
	var got []int64
	cursor := ""
	for pages := 0; pages < 10; pages++ {
		page, next, err := s.d.ConversationSearch(context.Background(), tenancy.For(s.acct), desk.Scope{}, desk.SearchFilter{Query: "umbrella", Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(page)...)
		if next == nil {
			break
		}
		cursor = *next
	}
	slices.Reverse(want) // equal relevance: the most recent first
	if !slices.Equal(got, want) {
		t.Fatalf("pages gave %v, want %v", got, want)
	}
	// A list cursor is not a search cursor.
	_, _, err := s.d.ConversationSearch(context.Background(), tenancy.For(s.acct), desk.Scope{}, desk.SearchFilter{Query: "umbrella", Cursor: "nonsense"})
	if !errors.Is(err, desk.ErrInvalid) {
		t.Errorf("bad cursor: %v", err)
	}
}

func TestHelpCenterSearchStemsAndHighlights(t *testing.T) {
	t.Parallel()
	s := newSearchDesk(t)
	ctx := context.Background()
	if _, err := s.d.ArticleCreate(ctx, tenancy.For(s.acct), "Refunds", "We refund orders within 30 days of delivery.", "published"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.d.ArticleCreate(ctx, tenancy.For(s.acct), "Draft on refunds", "Not yet.", "draft"); err != nil {
		t.Fatal(err)
	}
	got, err := s.d.ArticleSearch(ctx, tenancy.For(s.acct), "refunded deliveries", 10)
	if err != nil || len(got) != 1 || got[0].Title != "Refunds" {
		t.Fatalf("article search: %+v %v", got, err)
	}
	if strings.ContainsAny(got[0].Snippet, "<>\x01\x02") || !strings.Contains(got[0].Snippet, "refund orders") {
		t.Errorf("snippet %q: want plain text around the match", got[0].Snippet)
	}
	fields := []string{}
	for _, h := range got[0].Highlights {
		fields = append(fields, h.Field)
	}
	if !slices.Equal(fields, []string{"title", "body"}) {
		t.Errorf("highlighted fields %v", fields)
	}
}
