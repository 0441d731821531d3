package desk

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Notifications (DESIGN §18): a conversation assigned to someone, the AI
// agent escalating to people, a draft waiting for approval, a mention in a
// private note. Each is written in the transaction of what caused it: an
// in-app row (the bell) and, when the person wants mail and a relay is
// set, a mail (draft notifications are batched: at most one mail per
// person per DigestEvery). Agents hear only about inboxes they are members
// of; admins about every inbox. A notification quotes at most
// maxCustomerText characters of customer text, and never a token.

// DigestEvery is the least time between two draft mails to one person.
const DigestEvery = 10 * time.Minute

// maxCustomerText bounds the customer text a notification quotes (the
// conversation's subject or first words); maxReason bounds the agent's
// escalation reason, so that the two stay within 200 characters.
const (
	maxCustomerText = 100
	maxReason       = 100
)

// Notification is one in-app notification.
type Notification struct {
	ID             int64      `json:"id"`
	Kind           string     `json:"kind"`
	ConversationID *int64     `json:"conversation_id"`
	InboxID        *int64     `json:"inbox_id"`
	Title          string     `json:"title"`
	CreatedAt      time.Time  `json:"created_at"`
	ReadAt         *time.Time `json:"read_at"`
}

// audience is who may hear of something in an inbox.
type audience int

const (
	audienceUsers audience = iota // the listed people
	audienceInbox                 // the inbox's members and the admins
	audienceTeam                  // the team's members
)

// notice is something to tell people about.
type notice struct {
	kind     string
	inboxID  int64
	convID   int64  // 0: none (an outbound draft)
	subject  string // names what has no conversation (an outbound draft)
	to       audience
	users    []int64
	teamID   int64
	actor    int64 // never told about what they did
	actorWho string
	reason   string
}

// shorten cuts s to n characters, on a word when it can, marking the cut.
func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	cut := string(r[:n])
	if i := strings.LastIndexByte(cut, ' '); i > n/2 {
		cut = cut[:i]
	}
	return cut + "…"
}

// firstWords is what names a conversation in a notification: its subject,
// or its customer's first words, within maxCustomerText characters (SQL,
// with the conversation id as $1).
const firstWordsSQL = `(SELECT CASE WHEN length(w) > 100 THEN left(w, 99) || '…' ELSE w END FROM (
	SELECT regexp_replace(coalesce(nullif(btrim(c.subject), ''),
		(SELECT m.content FROM messages m WHERE m.conversation_id = c.id AND m.type = 'incoming' ORDER BY m.id LIMIT 1),
		'conversation #' || c.id), '\s+', ' ', 'g') AS w
	FROM conversations c WHERE c.id = $1) f)`

// title is the notice's in-app words before and after the
// conversation's name, which the database fills in.
func (n notice) title() (before, after string) {
	switch n.kind {
	case NotifyAssigned:
		return n.actorWho + " assigned you “", "”"
	case NotifyEscalated:
		after = "” to people"
		if n.reason != "" {
			after += ": " + n.reason
		}
		return "The AI agent escalated “", after
	case NotifyDraftWaiting:
		return "A draft waits for approval on “", "”"
	case NotifyMentioned:
		return n.actorWho + " mentioned you in a private note on “", "”"
	case NotifyTokenPaused:
		return "The AI agent's token “", "” was paused (" + n.reason + "); resume it on Settings → MCP server"
	}
	return "“", "”"
}

func (d *Desk) noticeMail(n notice, title, to string) MailNew {
	link := d.link("/conversations/", fmt.Sprint(n.convID))
	switch {
	case n.kind == NotifyTokenPaused:
		link = d.link("/settings/mcp", "")
	case n.convID == 0:
		link = d.link("/drafts", "")
	}
	why := map[string]string{
		NotifyAssigned:     "a conversation was assigned to you",
		NotifyEscalated:    "the AI agent escalated a conversation in one of your inboxes",
		NotifyDraftWaiting: "a draft waits for approval in one of your inboxes",
		NotifyMentioned:    "someone mentioned you",
		NotifyTokenPaused:  "you are an admin of this workspace",
	}[n.kind]
	subject := map[string]string{
		NotifyAssigned: "Assigned to you", NotifyEscalated: "Escalated to people", NotifyDraftWaiting: "Draft waiting", NotifyMentioned: "You were mentioned",
		NotifyTokenPaused: "AI agent token paused",
	}[n.kind]
	return MailNew{Kind: MailNotification, To: to, Subject: subject + ": " + title, Body: fmt.Sprintf(`%s.

Open it: %s

You get this mail because %s. Choose what reaches you, in the app
and by mail, on your profile: %s
`, title, link, why, d.link("/profile", ""))}
}

// notifySQL writes a notice's in-app rows in one statement: it finds the
// audience (active people; agents only of the inbox; never the actor),
// reads each one's choices for the kind, names the conversation, and
// returns those who want mail, with the title.
const notifySQL = `WITH people AS (
		SELECT au.user_id, coalesce(u.email, '') AS email,
			coalesce((au.notify -> $6 ->> 'in_app')::boolean, true) AS in_app,
			coalesce((au.notify -> $6 ->> 'email')::boolean, true) AND $9 AND u.email IS NOT NULL AS mail
		FROM account_users au JOIN users u ON u.id = au.user_id
		WHERE au.status = 'active' AND u.kind = 'human' AND au.user_id <> $2
		  AND (au.role = 'admin' OR EXISTS (SELECT 1 FROM inbox_members im WHERE im.user_id = au.user_id AND im.inbox_id = $3))
		  AND CASE $4::int
		      WHEN 0 THEN au.user_id = ANY($5)
		      WHEN 2 THEN EXISTS (SELECT 1 FROM team_members tm WHERE tm.team_id = $7 AND tm.user_id = au.user_id)
		      ELSE true END
	), t AS (
		SELECT left($8 || coalesce(` + firstWordsSQL + `, $11) || $12, 590) AS title
	), ins AS (
		INSERT INTO notifications (account_id, user_id, kind, conversation_id, inbox_id, title, in_app, email_wanted)
		SELECT $10, p.user_id, $6, nullif($1, 0), nullif($3::bigint, 0), t.title, p.in_app, p.mail AND $6 = 'draft_waiting'
		FROM people p, t WHERE p.in_app OR p.mail
		RETURNING user_id
	)
	SELECT p.user_id, p.email, t.title FROM people p, t WHERE p.mail ORDER BY p.user_id`

// notify tells the notice's audience, in tx: an in-app row for each
// person who wants one, and a mail (or, for drafts, a place in the next
// digest) for each who wants mail.
func (d *Desk) notify(ctx context.Context, tx pgx.Tx, acct int64, n notice) error {
	fallback := n.subject
	if fallback == "" {
		fallback = "a new outbound conversation"
	}
	before, after := n.title()
	rows, _ := tx.Query(ctx, notifySQL, n.convID, n.actor, n.inboxID, int(n.to), n.users, n.kind, n.teamID,
		before, d.Mail != nil, acct, fallback, after)
	type mailTo struct {
		ID           int64
		Email, Title string
	}
	people, err := pgx.CollectRows(rows, pgx.RowToStructByPos[mailTo])
	if err != nil {
		return err
	}
	for _, p := range people {
		if n.kind == NotifyDraftWaiting {
			if err := d.digestSchedule(ctx, tx, acct, p.ID); err != nil {
				return err
			}
			continue
		}
		if _, err := d.mailWrite(ctx, tx, tx, acct, d.noticeMail(n, p.Title, p.Email)); err != nil {
			return err
		}
	}
	return nil
}

// digestSchedule makes sure a draft digest for the person is on its way:
// now when none went out in the last DigestEvery, else when that time is
// up. A digest already waiting takes this notification along.
func (d *Desk) digestSchedule(ctx context.Context, tx pgx.Tx, acct, userID int64) error {
	var due time.Time
	err := tx.QueryRow(ctx, `INSERT INTO notification_digests (account_id, user_id, due_at) VALUES ($1, $2, now())
		ON CONFLICT (account_id, user_id) DO UPDATE
			SET due_at = greatest(now(), coalesce(notification_digests.last_sent_at + $3::interval, now()))
			WHERE notification_digests.due_at IS NULL
		RETURNING due_at`, acct, userID, DigestEvery).Scan(&due)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // one is waiting already
	}
	if err != nil {
		return err
	}
	return d.Mail.EnqueueDigest(ctx, tx, acct, userID, due)
}

// DigestSend sends a person's waiting draft digest: one mail naming every
// draft notification that arrived since the last, unread and not mailed
// yet. It does nothing when no digest waits (a repeat of its job).
func (d *Desk) DigestSend(ctx context.Context, acct, userID int64, now time.Time) error {
	return d.inUnit(ctx, tenancy.For(acct), func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE notification_digests SET due_at = NULL, last_sent_at = $2
			WHERE user_id = $1 AND due_at IS NOT NULL`, userID, now)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		rows, _ := tx.Query(ctx, `UPDATE notifications SET emailed_at = $2
			WHERE id IN (SELECT id FROM notifications WHERE user_id = $1 AND kind = 'draft_waiting' AND email_wanted
				AND emailed_at IS NULL AND read_at IS NULL ORDER BY id LIMIT 50)
			RETURNING id, title, conversation_id`, userID, now)
		type item struct {
			ID     int64
			Title  string
			ConvID *int64
		}
		items, err := pgx.CollectRows(rows, pgx.RowToStructByPos[item])
		if err != nil || len(items) == 0 {
			return err
		}
		var to string
		if err := tx.QueryRow(ctx, `SELECT coalesce(email, '') FROM users WHERE id = $1`, userID).Scan(&to); err != nil || to == "" {
			return err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%d drafts of the AI agent wait for your approval:\n\n", len(items))
		for _, it := range items {
			link := d.link("/drafts", "")
			if it.ConvID != nil {
				link = d.link("/conversations/", fmt.Sprint(*it.ConvID))
			}
			fmt.Fprintf(&b, "- %s\n  %s\n", it.Title, link)
		}
		fmt.Fprintf(&b, "\nReview them: %s\n\nYou get at most one such mail every 10 minutes. Choose what reaches you on your profile: %s\n",
			d.link("/drafts", ""), d.link("/profile", ""))
		subject := fmt.Sprintf("%d drafts wait for approval", len(items))
		if len(items) == 1 {
			subject = "A draft waits for approval"
		}
		_, err = d.mailWrite(ctx, tx, tx, acct, MailNew{Kind: MailNotification, To: to, Subject: subject, Body: b.String()})
		return err
	})
}

// NotificationList lists a person's in-app notifications, newest first
// (unread only when asked), with how many are unread.
func (d *Desk) NotificationList(ctx context.Context, acct, userID int64, unreadOnly bool, limit int) ([]Notification, int, error) {
	if limit <= 0 || limit > MaxLimit {
		limit = DefaultLimit
	}
	var out []Notification
	var unread int
	b := &pgx.Batch{}
	b.Queue(`SELECT id, kind, conversation_id, inbox_id, title, created_at, read_at FROM notifications
		WHERE user_id = $1 AND in_app AND (NOT $2 OR read_at IS NULL) ORDER BY id DESC LIMIT $3`, userID, unreadOnly, limit).
		Query(func(rows pgx.Rows) error {
			var err error
			out, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Notification])
			return err
		})
	b.Queue(`SELECT count(*) FROM notifications WHERE user_id = $1 AND in_app AND read_at IS NULL`, userID).
		QueryRow(func(r pgx.Row) error { return r.Scan(&unread) })
	err := d.DB.Read(ctx, tenancy.For(acct), b)
	return nonNil(out), unread, err
}

// NotificationUnread counts a person's unread in-app notifications (the
// bell).
func (d *Desk) NotificationUnread(ctx context.Context, acct, userID int64) (int, error) {
	var n int
	b := &pgx.Batch{}
	queueUnread(b, userID, &n)
	return n, d.DB.Read(ctx, tenancy.For(acct), b)
}

// queueUnread adds the count of person userID's unread in-app
// notifications, into n, to b (a page's round trip); it reads
// notifications_unread_idx alone (0085).
func queueUnread(b *pgx.Batch, userID int64, n *int) {
	b.Queue(`SELECT count(*) FROM notifications WHERE user_id = $1 AND in_app AND read_at IS NULL`, userID).
		QueryRow(func(r pgx.Row) error { return r.Scan(n) })
}

// NotificationRead marks a person's notifications read: ids, or all of
// them when ids is empty and all is set. It returns how many changed.
func (d *Desk) NotificationRead(ctx context.Context, acct, userID int64, ids []int64, all bool, now time.Time) (int, error) {
	if len(ids) == 0 && !all {
		return 0, fault.Invalidf("ids", "give ids, or all: true")
	}
	if len(ids) > 1000 {
		return 0, fault.Invalidf("ids", "ids lists at most 1000 notifications")
	}
	var n int
	b := &pgx.Batch{}
	b.Queue(`UPDATE notifications SET read_at = $3 WHERE user_id = $1 AND read_at IS NULL AND ($2::bigint[] IS NULL OR id = ANY($2))`,
		userID, nilIfEmpty(ids), now).Exec(func(tag pgconn.CommandTag) error { n = int(tag.RowsAffected()); return nil })
	err := d.DB.Unit(ctx, tenancy.For(acct), b, nothingMore)
	return n, err
}

func nilIfEmpty(ids []int64) []int64 {
	if len(ids) == 0 {
		return nil
	}
	return ids
}

// handleChars is what a mention's handle is made of: letters, digits,
// dots, dashes or underscores.
const handleChars = `[\p{L}\p{N}._-]{1,64}`

// mentionRE finds @name mentions: @ followed by a handle.
var mentionRE = regexp.MustCompile(`(?:^|[^\w@])@(` + handleChars + `)`)

var handleRE = regexp.MustCompile(`^` + handleChars + `$`)

// MentionHandle is what to type after @ to mention the person named name:
// the name without its spaces, which mentioned matches. It is false for a
// name a handle cannot spell.
func MentionHandle(name string) (string, bool) {
	h := strings.ReplaceAll(name, " ", "")
	return h, handleRE.MatchString(h)
}

// mentioned finds the people of the account a note names with @name: by
// their name without spaces, or their email's local part (case ignored).
func mentioned(ctx context.Context, tx pgx.Tx, content string) ([]int64, error) {
	var handles []string
	for _, m := range mentionRE.FindAllStringSubmatch(content, 20) {
		handles = append(handles, strings.ToLower(strings.TrimRight(m[1], ".-_")))
	}
	if len(handles) == 0 {
		return nil, nil
	}
	rows, _ := tx.Query(ctx, `SELECT au.user_id FROM account_users au JOIN users u ON u.id = au.user_id
		WHERE au.status = 'active' AND u.kind = 'human'
		  AND (lower(replace(u.name, ' ', '')) = ANY($1) OR lower(split_part(coalesce(u.email, ''), '@', 1)) = ANY($1))`, handles)
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
