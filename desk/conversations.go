package desk

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/tenancy"
)

// Ref is a small reference to a named object.
type Ref struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// ConversationSummary is a row of a conversation list.
type ConversationSummary struct {
	ID             int64     `json:"id"`
	InboxID        int64     `json:"inbox_id"`
	Subject        string    `json:"subject"`
	Status         string    `json:"status"`
	Priority       string    `json:"priority"`
	Labels         []string  `json:"labels"`
	Contact        Ref       `json:"contact"`
	LastActivityAt time.Time `json:"last_activity_at"`
	// Highlights, in search results, show where the conversation matched.
	Highlights []Highlight `json:"highlights,omitempty"`
	// Triage, when the list was asked for it (ConversationFilter.Triage),
	// is the assignee, the last message and the wait (triage.go); its
	// fields are the row's own in JSON, and absent without it.
	*Triage
}

// Conversation is the full view of one conversation.
type Conversation struct {
	ID       int64      `json:"id"`
	InboxID  int64      `json:"inbox_id"`
	Subject  string     `json:"subject"`
	Status   string     `json:"status"`
	Priority string     `json:"priority"`
	Labels   []string   `json:"labels"`
	Contact  ContactRef `json:"contact"`
	Assignee *Ref       `json:"assignee"`
	Team     *Ref       `json:"team"`
	// Escalated says the AI agent handed the conversation to people and no
	// person has assigned or answered it since.
	Escalated        bool           `json:"escalated"`
	CustomAttributes map[string]any `json:"custom_attributes"`
	SnoozedUntil     *time.Time     `json:"snoozed_until"`
	LastActivityAt   time.Time      `json:"last_activity_at"`
	CreatedAt        time.Time      `json:"created_at"`
}

// ContactRef is the contact as a conversation shows it.
type ContactRef struct {
	ID    int64   `json:"id"`
	Name  string  `json:"name"`
	Email *string `json:"email"`
}

// Sender is who wrote a message.
type Sender struct {
	Kind string `json:"kind"` // contact, user, agent, system
	ID   *int64 `json:"id"`
	Name string `json:"name"`
}

// Message is one entry of a conversation.
type Message struct {
	ID             int64  `json:"id"`
	ConversationID int64  `json:"conversation_id"`
	Type           string `json:"type"`
	Content        string `json:"content"`
	Private        bool   `json:"private"`
	Sender         Sender `json:"sender"`
	// DeliveryStatus is pending, sent or failed for outgoing messages.
	DeliveryStatus *string   `json:"delivery_status,omitempty"`
	DeliveryError  *string   `json:"delivery_error,omitempty"`
	ApprovedBy     *int64    `json:"approved_by,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
}

// ConversationFilter selects conversations for a list.
type ConversationFilter struct {
	Status       string
	InboxID      int64
	Label        string
	Assignee     string // "", "me", "unassigned" or a user id
	UserID       int64  // who "me" is
	Query        string // a search, as ConversationSearch: results rank by relevance, then activity
	UpdatedSince *time.Time
	Cursor       string
	Limit        int
	// View is one of Views ("" = every conversation); Sort one of Sorts
	// ("" = last_activity), with Triage only.
	View string
	Sort string
	// Triage asks for the triage rows (assignee, last message, wait),
	// also of a search (Query), beside its highlights.
	Triage bool
	// Counts, when set, is filled with the views' counts in the list's
	// own round trip.
	Counts *ViewCounts
	// Catalog, when set, is filled in the list's own round trip (a
	// screen that shows the list with its filters needs both).
	Catalog *Catalog
}

var statuses = []string{"open", "pending", "resolved", "snoozed"}

const summaryColumns = `c.id, c.inbox_id, c.subject, c.status, c.priority, c.labels, ct.id, ct.name, c.last_activity_at`

func scanSummary(r pgx.CollectableRow) (ConversationSummary, error) {
	var s ConversationSummary
	err := r.Scan(&s.ID, &s.InboxID, &s.Subject, &s.Status, &s.Priority, &s.Labels, &s.Contact.ID, &s.Contact.Name, &s.LastActivityAt)
	return s, err
}

// ConversationList pages conversations, most recent activity first; with a
// query it is a search (see ConversationSearch), most relevant first.
func (d *Desk) ConversationList(ctx context.Context, req *tenancy.Request, sc Scope, f ConversationFilter) ([]ConversationSummary, *string, error) {
	limit, err := clampLimit(f.Limit)
	if err != nil {
		return nil, nil, err
	}
	sort, err := checkSort(f.Sort)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case sort != "last_activity" && f.Query != "":
		return nil, nil, invalid("sort", "search results rank by relevance; leave sort out when searching (q)")
	case sort != "last_activity" && !f.Triage:
		return nil, nil, invalid("sort", "this list sorts by last activity only")
	}
	var cur *cursor
	if f.Query == "" && !f.Triage {
		if cur, err = parseCursor(f.Cursor); err != nil {
			return nil, nil, err
		}
	}
	if f.Status != "" && !slices.Contains(statuses, f.Status) {
		return nil, nil, invalid("status", "status must be one of open, pending, resolved, snoozed")
	}
	var assignee any
	unassigned := false
	switch f.Assignee {
	case "":
	case "me":
		assignee = f.UserID
	case "unassigned":
		unassigned = true
	default:
		id, err := parseID(f.Assignee)
		if err != nil {
			return nil, nil, invalid("assignee", `assignee must be "me", "unassigned" or a user id`)
		}
		assignee = id
	}
	// Only the filters in use go into the SQL: a statement with every
	// optional filter spelled as "($n IS NULL OR …)" cost more to plan than
	// to run.
	var w where
	var sq searchQuery
	if f.Query != "" {
		if sq, err = parseSearch(f.Query); err != nil {
			return nil, nil, err
		}
		w = searchWhere(sq, narrowInboxes(sc.InboxIDs, f.InboxID))
	}
	if sc.InboxIDs != nil {
		w.add("c.inbox_id = ANY(?)", sc.InboxIDs)
	}
	if f.Status != "" {
		w.add("c.status = ?", f.Status)
	}
	if f.InboxID != 0 {
		w.add("c.inbox_id = ?", f.InboxID)
	}
	if f.Label != "" {
		w.add("c.labels @> ARRAY[?::text]", f.Label)
	}
	if assignee != nil {
		w.add("c.assignee_id = ?", assignee)
	}
	if unassigned {
		w.add("c.assignee_id IS NULL")
	}
	if f.UpdatedSince != nil {
		w.add("c.updated_at >= ?", *f.UpdatedSince)
	}
	if err := viewWhere(&w, f.View, f.UserID); err != nil {
		return nil, nil, err
	}
	// What the screen shows beside the list, read in the same round trip.
	extra := func(b *pgx.Batch) {
		if f.Catalog != nil {
			f.Catalog.queue(b, sc)
		}
		if f.Counts != nil {
			f.Counts.queue(b, sc, f.UserID)
		}
	}
	switch {
	case f.Query != "":
		return d.conversationSearch(ctx, req, w, f.Cursor, limit, f.Triage, extra)
	case f.Triage:
		return d.triagePage(ctx, req, w, sort, f.Cursor, limit, extra)
	}
	return d.summaryPage(ctx, req, w, cur, limit, extra)
}

// summaryPage runs a conversation list query, most recent activity first,
// from the cursor on, one page of at most limit.
// extra queues more reads in the same round trip.
func (d *Desk) summaryPage(ctx context.Context, req *tenancy.Request, w where, cur *cursor, limit int, extra func(*pgx.Batch)) ([]ConversationSummary, *string, error) {
	if cur != nil {
		w.add("(c.last_activity_at, c.id) < (?, ?)", cur.at, cur.id)
	}
	var out []ConversationSummary
	b := &pgx.Batch{}
	b.Queue(`SELECT `+summaryColumns+`
		FROM conversations c JOIN contacts ct ON ct.account_id = c.account_id AND ct.id = c.contact_id
		`+w.sql()+`
		ORDER BY c.last_activity_at DESC, c.id DESC
		LIMIT `+strconv.Itoa(limit+1), w.args...).Query(func(rows pgx.Rows) error {
		var err error
		out, err = pgx.CollectRows(rows, scanSummary)
		return err
	})
	extra(b)
	if err := d.DB.Read(ctx, req, b); err != nil {
		return nil, nil, err
	}
	return pageOf(out, limit, func(s ConversationSummary) (time.Time, int64) { return s.LastActivityAt, s.ID })
}

// SearchFilter is a search (see search.go) over message content, subjects
// and contacts' name, email, phone and identifier.
type SearchFilter struct {
	Query   string
	InboxID int64
	Status  string
	Cursor  string
	Limit   int
}

// ConversationSearch finds the conversations in scope whose messages,
// subject or contact match the query, by relevance then recent activity,
// with highlights.
func (d *Desk) ConversationSearch(ctx context.Context, req *tenancy.Request, sc Scope, f SearchFilter) ([]ConversationSummary, *string, error) {
	if f.Query == "" {
		return nil, nil, invalid("query", "query must be 1 to %d characters", maxQueryChars)
	}
	return d.ConversationList(ctx, req, sc, ConversationFilter{Query: f.Query, InboxID: f.InboxID, Status: f.Status, Cursor: f.Cursor, Limit: f.Limit})
}

// conversationSearch reads a page of a conversation search: w holds the
// search's parameters (searchWhere) and the list's filters. With triage
// the rows carry the triage fields too, read for the page's rows only.
// extra queues more reads in the same round trip.
func (d *Desk) conversationSearch(ctx context.Context, req *tenancy.Request, w where, cursorStr string, limit int, triage bool, extra func(*pgx.Batch)) ([]ConversationSummary, *string, error) {
	offset, err := parseSearchCursor(cursorStr)
	if err != nil {
		return nil, nil, err
	}
	// Without triage the statement is search_conversations' own, which
	// the bench's search baseline repeats word for word.
	byHit, pageTriage, triageColumns, from, scan := conversationByHit(""), "", "", "page p, q", scanSearchSummary
	if triage {
		byHit = conversationByHit(", c.escalated, c.waiting_since")
		pageTriage = ", c.account_id, c.assignee_id, c.escalated, c.waiting_since"
		triageColumns = `, p.assignee_id, u.name, p.escalated, p.waiting_since, lm.content, lm.sender_kind, lm.sender_name, lm.created_at`
		from = `page p CROSS JOIN q
		LEFT JOIN users u ON u.id = p.assignee_id
		LEFT JOIN LATERAL (` + lastMessageOf("p") + `) lm ON true`
		scan = scanSearchTriage
	}
	var out []ConversationSummary
	b := &pgx.Batch{}
	b.Queue(`WITH `+searchQuerySQL+`,
		hits AS (
			SELECT h.conversation_id, max(h.score) AS score,
				(array_agg(h.message_id ORDER BY h.score DESC, h.message_id DESC) FILTER (WHERE h.message_id IS NOT NULL))[1] AS message_id
			FROM q, deskwoot_search_conversations(q.q, q.qc, $3, `+strconv.Itoa(searchHits)+`) h
			GROUP BY h.conversation_id
		), page AS (
			SELECT c.id, c.inbox_id, c.subject, c.status, c.priority, c.labels, ct.id AS contact_id, ct.name, ct.email,
				c.last_activity_at, h.score, h.message_id`+pageTriage+`
			FROM hits h
			CROSS JOIN LATERAL (`+byHit+`) c
			JOIN contacts ct ON ct.account_id = c.account_id AND ct.id = c.contact_id
			`+w.sql()+`
			ORDER BY h.score DESC, c.last_activity_at DESC, c.id DESC
			OFFSET `+strconv.Itoa(offset)+` LIMIT `+strconv.Itoa(limit+1)+`
		)
		SELECT p.id, p.inbox_id, p.subject, p.status, p.priority, p.labels, p.contact_id, p.name, p.last_activity_at, p.message_id,
			(SELECT `+headlineLong("q.config", "m.content", "q.q")+` FROM messages m WHERE m.id = p.message_id),
			`+headline("q.config", "p.subject", "q.q", headlineAll)+`,
			`+headline("'simple'", "p.name", "q.qc", headlineAll)+`,
			`+headline("'simple'", "coalesce(p.email, '')", "q.qc", headlineAll)+triageColumns+`
		FROM `+from+`
		ORDER BY p.score DESC, p.last_activity_at DESC, p.id DESC`, w.args...).Query(func(rows pgx.Rows) error {
		var err error
		out, err = pgx.CollectRows(rows, scan)
		return err
	})
	extra(b)
	if err := d.DB.Read(ctx, req, b); err != nil {
		return nil, nil, err
	}
	page, next := searchPage(out, offset, limit)
	return page, next, nil
}

// conversationByHit reads a hit's conversation by its key, with more
// columns after the usual ones. OFFSET 0 keeps it a look-up per hit:
// joined plainly, a generic plan estimated a workspace at the average size
// and hashed all of a large one's conversations (10 ms at 50,000).
func conversationByHit(more string) string {
	return `SELECT c.account_id, c.id, c.inbox_id, c.contact_id, c.subject, c.status, c.priority, c.labels,
				c.assignee_id, c.updated_at, c.last_activity_at` + more + `
			FROM conversations c WHERE c.id = h.conversation_id OFFSET 0`
}

// scanSearchSummary reads a conversation search row: the summary, then the
// matching message and the marked fields.
func scanSearchSummary(r pgx.CollectableRow) (ConversationSummary, error) { return scanSearch(r) }

// scanSearchTriage reads a conversation search row with the triage
// fields after the marked ones.
func scanSearchTriage(r pgx.CollectableRow) (ConversationSummary, error) {
	var t triageScan
	s, err := scanSearch(r, t.targets()...)
	s.Triage = t.triage()
	return s, err
}

// scanSearch reads a search row, then into more the columns after it.
func scanSearch(r pgx.CollectableRow, more ...any) (ConversationSummary, error) {
	var s ConversationSummary
	var messageID *int64
	var content, subject, name, email *string
	err := r.Scan(append([]any{&s.ID, &s.InboxID, &s.Subject, &s.Status, &s.Priority, &s.Labels, &s.Contact.ID, &s.Contact.Name, &s.LastActivityAt,
		&messageID, &content, &subject, &name, &email}, more...)...)
	if h, ok := markedHighlight("content", content); ok {
		h.MessageID = messageID
		s.Highlights = append(s.Highlights, h)
	}
	for _, f := range []struct {
		field  string
		marked *string
	}{{"subject", subject}, {"contact.name", name}, {"contact.email", email}} {
		if h, ok := markedHighlight(f.field, f.marked); ok {
			s.Highlights = append(s.Highlights, h)
		}
	}
	return s, err
}

const conversationSelect = `SELECT c.id, c.inbox_id, c.subject, c.status, c.priority, c.labels,
		ct.id, ct.name, ct.email, c.assignee_id, u.name, c.team_id, tm.name, c.escalated,
		c.custom_attributes, c.snoozed_until, c.last_activity_at, c.created_at
	FROM conversations c
	JOIN contacts ct ON ct.account_id = c.account_id AND ct.id = c.contact_id
	LEFT JOIN users u ON u.id = c.assignee_id
	LEFT JOIN teams tm ON tm.account_id = c.account_id AND tm.id = c.team_id
	WHERE c.id = $1`

func scanConversation(r pgx.Row, c *Conversation) error {
	var assigneeID, teamID *int64
	var assigneeName, teamName *string
	err := r.Scan(&c.ID, &c.InboxID, &c.Subject, &c.Status, &c.Priority, &c.Labels,
		&c.Contact.ID, &c.Contact.Name, &c.Contact.Email, &assigneeID, &assigneeName, &teamID, &teamName, &c.Escalated,
		&c.CustomAttributes, &c.SnoozedUntil, &c.LastActivityAt, &c.CreatedAt)
	if assigneeID != nil {
		c.Assignee = &Ref{ID: *assigneeID, Name: deref(assigneeName)}
	}
	if teamID != nil {
		c.Team = &Ref{ID: *teamID, Name: deref(teamName)}
	}
	return err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

const messageColumns = `id, conversation_id, type, content, private, sender_kind, sender_id, sender_name, delivery_status, delivery_error, approved_by, created_at`

func scanMessage(r pgx.CollectableRow) (Message, error) {
	var m Message
	err := r.Scan(&m.ID, &m.ConversationID, &m.Type, &m.Content, &m.Private, &m.Sender.Kind, &m.Sender.ID, &m.Sender.Name,
		&m.DeliveryStatus, &m.DeliveryError, &m.ApprovedBy, &m.CreatedAt)
	return m, err
}

// ConversationView is a conversation with a page of its messages.
type ConversationView struct {
	Conversation Conversation `json:"conversation"`
	Messages     []Message    `json:"messages"`
	NextCursor   *string      `json:"next_cursor"`
}

// ConversationGet reads a conversation and a page of its messages (oldest
// first) in one round trip. It does not apply an inbox scope: the caller
// (the policy, or the human view) decides on the loaded conversation.
func (d *Desk) ConversationGet(ctx context.Context, req *tenancy.Request, id int64, msgCursor string, msgLimit int) (ConversationView, error) {
	return d.conversationGet(ctx, req, id, msgCursor, msgLimit, nil)
}

// conversationGet is ConversationGet that, with extra, queues more reads
// in the same round trip.
func (d *Desk) conversationGet(ctx context.Context, req *tenancy.Request, id int64, msgCursor string, msgLimit int, extra func(*pgx.Batch)) (ConversationView, error) {
	var v ConversationView
	limit := msgLimit
	if limit == 0 {
		limit = 50
	}
	if limit < 1 || limit > MaxLimit {
		return v, invalid("messages_limit", "messages_limit must be 1 to %d", MaxLimit)
	}
	cur, err := parseCursor(msgCursor)
	if err != nil {
		return v, err
	}
	var after int64
	if cur != nil {
		after = cur.id
	}
	b := &pgx.Batch{}
	b.Queue(conversationSelect, id).QueryRow(func(r pgx.Row) error { return scanConversation(r, &v.Conversation) })
	b.Queue(`SELECT `+messageColumns+` FROM messages WHERE conversation_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
		id, after, limit+1).Query(func(rows pgx.Rows) error {
		v.Messages, err = pgx.CollectRows(rows, scanMessage)
		return err
	})
	if extra != nil {
		extra(b)
	}
	if err := d.DB.Read(ctx, req, b); err != nil {
		return v, withKind(err, "conversation", id)
	}
	v.Messages, v.NextCursor, _ = pageOf(v.Messages, limit, func(m Message) (time.Time, int64) { return m.CreatedAt, m.ID })
	return v, nil
}

// ConversationTarget is what the policy needs to know about a conversation.
type ConversationTarget struct {
	ID        int64
	InboxID   int64
	ContactID int64
}

const conversationTargetSQL = `SELECT id, inbox_id, contact_id FROM conversations WHERE id = $1`
