package desk

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/tenancy"
)

// The triage list (DESIGN §18): the rows people work the queue from, with
// the last message and how long the customer has waited, the views with
// their counts, and the sorts. REST and the console ask for it
// (ConversationFilter.Triage); the MCP list does not, so no customer text
// reaches an agent here outside its marked boundary (DESIGN §15).

// Triage is what a triage row shows beside the summary.
type Triage struct {
	Assignee *Ref `json:"assignee"`
	// Escalated: the AI agent handed the conversation to people and no
	// person has assigned or answered it since.
	Escalated   bool         `json:"escalated"`
	LastMessage *LastMessage `json:"last_message"`
	// WaitingSince is when the customer's unanswered messages began; nil
	// when the last message between them and the desk is the desk's.
	WaitingSince *time.Time `json:"waiting_since"`
}

// LastMessage is the newest message between the customer and the desk
// (private notes and activity lines are not), its content cut to
// PreviewChars characters.
type LastMessage struct {
	Content    string    `json:"content"`
	SenderKind string    `json:"sender_kind"` // contact, user, agent or system
	SenderName string    `json:"sender_name"`
	CreatedAt  time.Time `json:"created_at"`
}

// PreviewChars bounds a last message's content in a list: a list shows a
// line of it, and 100 rows of whole messages would be megabytes.
const PreviewChars = 200

// Views of the list, and the sorts.
var (
	Views = []string{"mine", "unassigned", "open", "escalated"}
	Sorts = []string{"last_activity", "waiting", "priority"}
)

// viewWhere narrows w to a view. Mine, Unassigned and All open are open
// conversations; Escalated is any not resolved that an agent escalated and
// no person has taken since.
func viewWhere(w *where, view string, me int64) error {
	switch view {
	case "":
	case "open":
		w.add("c.status = 'open'")
	case "mine":
		w.add("c.status = 'open'")
		w.add("c.assignee_id = ?", me)
	case "unassigned":
		w.add("c.status = 'open'")
		w.add("c.assignee_id IS NULL")
	case "escalated":
		w.add("c.escalated")
		w.add("c.status <> 'resolved'")
	default:
		return invalid("view", "view must be one of %s", strings.Join(Views, ", "))
	}
	return nil
}

// sortOrders are the ORDER BY of each sort. Each ends with the activity
// and the id, so a page's order is total.
var sortOrders = map[string]string{
	"last_activity": "c.last_activity_at DESC, c.id DESC",
	"waiting":       "c.waiting_since ASC NULLS LAST, c.last_activity_at DESC, c.id DESC",
	"priority":      "array_position('{none,low,medium,high,urgent}'::text[], c.priority) DESC, c.last_activity_at DESC, c.id DESC",
}

// checkSort names the sort in use ("" is last_activity).
func checkSort(sort string) (string, error) {
	if sort == "" {
		return "last_activity", nil
	}
	if _, ok := sortOrders[sort]; !ok {
		return "", invalid("sort", "sort must be one of %s", strings.Join(Sorts, ", "))
	}
	return sort, nil
}

// A sorted cursor is an offset into a list sorted by waiting or priority
// (their keys are nullable or computed, so a keyset would need one
// encoding per sort; triage lists are read a few pages deep), tagged with
// its sort so it is not taken for another's.
func sortedCursor(sort string, offset int) *string {
	s := base64.RawURLEncoding.EncodeToString([]byte("t1:" + sort + ":" + strconv.Itoa(offset)))
	return &s
}

// maxSortedOffset bounds how deep an offset cursor goes.
const maxSortedOffset = 10000

func parseSortedCursor(s, sort string) (int, error) {
	if s == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	parts := strings.Split(string(raw), ":")
	if err != nil || len(parts) != 3 || parts[0] != "t1" || parts[1] != sort {
		return 0, invalid("cursor", "cursor is not one this server issued for sort %s; start again without a cursor", sort)
	}
	n, err := strconv.Atoi(parts[2])
	if err != nil || n < 1 || n > maxSortedOffset {
		return 0, invalid("cursor", "cursor is not one this server issued for sort %s; start again without a cursor", sort)
	}
	return n, nil
}

// triagePage reads a page of triage rows in one statement: the page of
// conversations first (so that the per-row look-ups below run for the
// page's rows only, whatever the sort), then each row's contact, assignee
// and last message (by the messages' (conversation, id) index, newest
// first). extra queues more reads in the same round trip.
func (d *Desk) triagePage(ctx context.Context, req *tenancy.Request, w where, sort, cursorStr string, limit int, extra func(*pgx.Batch)) ([]ConversationSummary, *string, error) {
	offset := 0
	if sort == "last_activity" {
		cur, err := parseCursor(cursorStr)
		if err != nil {
			return nil, nil, err
		}
		if cur != nil {
			w.add("(c.last_activity_at, c.id) < (?, ?)", cur.at, cur.id)
		}
	} else {
		var err error
		if offset, err = parseSortedCursor(cursorStr, sort); err != nil {
			return nil, nil, err
		}
	}
	order := sortOrders[sort]
	var out []ConversationSummary
	b := &pgx.Batch{}
	b.Queue(`WITH page AS (
			SELECT c.account_id, c.id, c.inbox_id, c.contact_id, c.subject, c.status, c.priority, c.labels,
				c.assignee_id, c.escalated, c.waiting_since, c.last_activity_at
			FROM conversations c
			`+w.sql()+`
			ORDER BY `+order+`
			OFFSET `+strconv.Itoa(offset)+` LIMIT `+strconv.Itoa(limit+1)+`
		)
		SELECT c.id, c.inbox_id, c.subject, c.status, c.priority, c.labels, ct.id, ct.name, c.last_activity_at,
			c.assignee_id, u.name, c.escalated, c.waiting_since,
			lm.content, lm.sender_kind, lm.sender_name, lm.created_at
		FROM page c
		JOIN contacts ct ON ct.account_id = c.account_id AND ct.id = c.contact_id
		LEFT JOIN users u ON u.id = c.assignee_id
		LEFT JOIN LATERAL (`+lastMessageOf("c")+`) lm ON true
		ORDER BY `+order, w.args...).Query(func(rows pgx.Rows) error {
		var err error
		out, err = pgx.CollectRows(rows, scanTriage)
		return err
	})
	extra(b)
	if err := d.DB.Read(ctx, req, b); err != nil {
		return nil, nil, err
	}
	if sort == "last_activity" {
		return pageOf(out, limit, func(s ConversationSummary) (time.Time, int64) { return s.LastActivityAt, s.ID })
	}
	if out == nil {
		out = []ConversationSummary{}
	}
	if len(out) <= limit || offset+limit >= maxSortedOffset {
		return out[:min(len(out), limit)], nil, nil
	}
	return out[:limit], sortedCursor(sort, offset+limit), nil
}

// lastMessageOf reads the last message of the conversation row alias
// (its account_id and id), by the messages' (account, conversation, id)
// index, newest first.
func lastMessageOf(alias string) string {
	return `SELECT left(m.content, ` + strconv.Itoa(PreviewChars) + `) AS content, m.sender_kind, m.sender_name, m.created_at
			FROM messages m
			WHERE m.account_id = ` + alias + `.account_id AND m.conversation_id = ` + alias + `.id
				AND m.type IN ('incoming', 'outgoing') AND NOT m.private
			ORDER BY m.id DESC LIMIT 1`
}

func scanTriage(r pgx.CollectableRow) (ConversationSummary, error) {
	var s ConversationSummary
	var t triageScan
	err := r.Scan(append([]any{&s.ID, &s.InboxID, &s.Subject, &s.Status, &s.Priority, &s.Labels, &s.Contact.ID, &s.Contact.Name, &s.LastActivityAt},
		t.targets()...)...)
	s.Triage = t.triage()
	return s, err
}

// triageScan holds a row's triage columns as read: the assignee's id and
// name, escalated, waiting_since, and the last message's content, sender
// kind and name and time (NULL without one).
type triageScan struct {
	assigneeID                                    *int64
	assigneeName, content, senderKind, senderName *string
	escalated                                     bool
	waitingSince, sentAt                          *time.Time
}

func (t *triageScan) targets() []any {
	return []any{&t.assigneeID, &t.assigneeName, &t.escalated, &t.waitingSince, &t.content, &t.senderKind, &t.senderName, &t.sentAt}
}

func (t *triageScan) triage() *Triage {
	tr := &Triage{Escalated: t.escalated, WaitingSince: t.waitingSince}
	if t.assigneeID != nil {
		tr.Assignee = &Ref{ID: *t.assigneeID, Name: deref(t.assigneeName)}
	}
	if t.content != nil && t.sentAt != nil {
		tr.LastMessage = &LastMessage{Content: *t.content, SenderKind: deref(t.senderKind), SenderName: deref(t.senderName), CreatedAt: *t.sentAt}
	}
	return tr
}

// ViewCounts are the triage views' counts in a person's scope: Mine,
// Unassigned, All open and Escalated, and the open conversations of each
// inbox.
type ViewCounts struct {
	Mine, Unassigned, Open, Escalated int
	ByInbox                           map[int64]int
	// Unread is the person's unread notifications (the bell beside the
	// views), read in the same round trip so the page needs no other.
	Unread int
}

// queue adds the counts' reads to b: the open conversations by inbox and
// assignee, and the escalated ones not resolved by inbox, each from a
// partial index of its own (0085) whose predicate is its views' (so no
// row's status is compared, and the cost grows with the open
// conversations, never with the resolved ones), as rows of [inbox, mine,
// unassigned, open, escalated] whose sums are the counts; then the
// person's unread notifications.
func (v *ViewCounts) queue(b *pgx.Batch, sc Scope, me int64) {
	args, inScope := []any{me}, ""
	if sc.InboxIDs != nil { // only the filters in use, as ConversationList
		args, inScope = append(args, sc.InboxIDs), " AND inbox_id = ANY($2)"
	}
	b.Queue(`SELECT inbox_id, count(*) FILTER (WHERE assignee_id = $1), count(*) FILTER (WHERE assignee_id IS NULL), count(*), 0
		FROM conversations WHERE status = 'open'`+inScope+` GROUP BY inbox_id
		UNION ALL
		SELECT inbox_id, 0, 0, 0, count(*)
		FROM conversations WHERE escalated AND status <> 'resolved'`+inScope+` GROUP BY inbox_id`, args...).Query(func(rows pgx.Rows) error {
		var inbox int64
		var mine, unassigned, open, escalated int
		*v = ViewCounts{ByInbox: map[int64]int{}}
		_, err := pgx.ForEachRow(rows, []any{&inbox, &mine, &unassigned, &open, &escalated}, func() error {
			v.Mine += mine
			v.Unassigned += unassigned
			v.Open += open
			v.Escalated += escalated
			v.ByInbox[inbox] += open
			return nil
		})
		return err
	})
	queueUnread(b, me, &v.Unread)
}
