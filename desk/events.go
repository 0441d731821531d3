package desk

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Event types.
const (
	EventConversationCreated = "conversation.created"
	EventConversationUpdated = "conversation.updated"
	EventConversationDeleted = "conversation.deleted"
	EventMessageCreated      = "message.created"
	EventDraftCreated        = "draft.created"
	EventDraftApproved       = "draft.approved"
	EventDraftRejected       = "draft.rejected"
	EventContactCreated      = "contact.created"
	EventContactUpdated      = "contact.updated"
	EventContactDeleted      = "contact.deleted"
)

// EventTypes lists every event type.
var EventTypes = []string{EventConversationCreated, EventConversationUpdated, EventConversationDeleted, EventMessageCreated,
	EventDraftCreated, EventDraftApproved, EventDraftRejected, EventContactCreated, EventContactUpdated, EventContactDeleted}

// DefaultEventRetention is how long events are kept (DESKWOOT_EVENT_RETENTION).
const DefaultEventRetention = 720 * time.Hour

// Event is one change in the account.
type Event struct {
	ID             int64          `json:"id"`
	Type           string         `json:"type"`
	At             time.Time      `json:"at"`
	ConversationID *int64         `json:"conversation_id,omitempty"`
	ContactID      *int64         `json:"contact_id,omitempty"`
	InboxID        *int64         `json:"inbox_id,omitempty"`
	Data           map[string]any `json:"data"`
	// Cursor continues the feed right after this event (a live stream's
	// SSE id, so a reconnect resumes exactly there).
	Cursor string `json:"-"`
	xid    uint64
}

// newEvent is an event to append.
type newEvent struct {
	typ            string
	inboxID        int64
	conversationID int64
	contactID      int64
	data           map[string]any
}

// execer runs a statement whose only answer is its command tag: a
// transaction runs it at once, a unit of work holds it for its final batch.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// eventAppend writes an event in the caller's transaction and notifies
// long-polls (NOTIFY is delivered at commit, so a poller never wakes for
// an event that rolls back).
func eventAppend(ctx context.Context, tx execer, acct int64, e newEvent) error {
	if e.data == nil {
		e.data = map[string]any{}
	}
	_, err := tx.Exec(ctx, `WITH e AS (
			INSERT INTO events (account_id, type, inbox_id, conversation_id, contact_id, data)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING account_id)
		SELECT pg_notify('deskwoot_events', account_id::text) FROM e`,
		acct, e.typ, nullID(e.inboxID), nullID(e.conversationID), nullID(e.contactID), e.data)
	return err
}

// messageEvent is the message.created event of m.
func messageEvent(ctx context.Context, tx execer, acct int64, m Message, inboxID, contactID int64) error {
	return eventAppend(ctx, tx, acct, newEvent{typ: EventMessageCreated, inboxID: inboxID, conversationID: m.ConversationID,
		contactID: contactID, data: map[string]any{"message_id": m.ID, "type": m.Type, "private": m.Private, "sender_kind": m.Sender.Kind}})
}

// conversationEvent appends conversation.created or .updated for a
// conversation, reading its inbox and contact.
func conversationEvent(ctx context.Context, tx execer, acct int64, typ string, c Conversation, changes map[string]any) error {
	return eventAppend(ctx, tx, acct, newEvent{typ: typ, inboxID: c.InboxID, conversationID: c.ID, contactID: c.Contact.ID,
		data: map[string]any{"changes": changes, "status": c.Status}})
}

// EventQuery is one poll of the feed.
type EventQuery struct {
	Cursor   string
	Backfill int // without a cursor: return the last N events instead of starting from now
	Limit    int
	Types    []string
	// Visibility: the token's inboxes (nil = all), whether it may see
	// contact events (contacts:read), and its id (contacts it created).
	Scope    Scope
	Contacts bool
	// Still, when set, says whether the poller may go on waiting: a wait
	// that is woken and finds no event asks it, and ends with its error
	// (a token paused or revoked meanwhile, whose pause woke the account's
	// pollers).
	Still func(context.Context) error
}

// EventPage is a poll's answer.
type EventPage struct {
	Events     []Event `json:"events"`
	NextCursor string  `json:"next_cursor"`
}

// ErrCursorExpired is a cursor older than the retention.
var ErrCursorExpired = errors.New("cursor expired")

// position is a place in the feed: (xid, id). Events are read in that order
// and only below the horizon (the oldest running transaction), so none can
// appear later behind a position already handed out.
type position struct {
	xid uint64
	id  int64
	at  time.Time
}

func (d *Desk) cursorKey(ctx context.Context) ([]byte, error) {
	d.mu.Lock()
	key := d.eventKey
	d.mu.Unlock()
	if key != nil {
		return key, nil
	}
	if err := d.DB.Pool.QueryRow(ctx, `SELECT deskwoot_server_secret('event_cursor')`).Scan(&key); err != nil {
		return nil, fmt.Errorf("read the event cursor key: %w", err)
	}
	d.mu.Lock()
	d.eventKey = key
	d.mu.Unlock()
	return key, nil
}

func signCursor(key []byte, acct int64, p position) string {
	body := fmt.Sprintf("e1:%d:%d:%d:%d", acct, p.xid, p.id, p.at.Unix())
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString([]byte(body)) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
}

func openCursor(key []byte, acct int64, s string) (position, error) {
	bad := invalid("cursor", "cursor was not issued by this server for this feed; start again without a cursor")
	body64, mac64, ok := strings.Cut(s, ".")
	body, err1 := base64.RawURLEncoding.DecodeString(body64)
	sum, err2 := base64.RawURLEncoding.DecodeString(mac64)
	if !ok || err1 != nil || err2 != nil {
		return position{}, bad
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil)[:16], sum) {
		return position{}, bad
	}
	parts := strings.Split(string(body), ":")
	if len(parts) != 5 || parts[0] != "e1" {
		return position{}, bad
	}
	owner, _ := strconv.ParseInt(parts[1], 10, 64)
	if owner != acct {
		return position{}, bad
	}
	xid, _ := strconv.ParseUint(parts[2], 10, 64)
	id, _ := strconv.ParseInt(parts[3], 10, 64)
	at, _ := strconv.ParseInt(parts[4], 10, 64)
	return position{xid: xid, id: id, at: time.Unix(at, 0)}, nil
}

// EventPoll returns the events after the cursor (oldest first, at most
// Limit), and the cursor to continue from. Without a cursor it starts from
// now, or returns the last Backfill events.
func (d *Desk) EventPoll(ctx context.Context, req *tenancy.Request, q EventQuery, now time.Time) (EventPage, error) {
	acct := req.AccountID
	if q.Limit == 0 {
		q.Limit = 100
	}
	if q.Limit < 1 || q.Limit > 500 {
		return EventPage{}, invalid("limit", "limit must be 1 to 500")
	}
	if q.Backfill < 0 || q.Backfill > 500 {
		return EventPage{}, invalid("backfill", "backfill must be 0 to 500")
	}
	for _, t := range q.Types {
		if !slices.Contains(EventTypes, t) {
			return EventPage{}, invalid("types", "unknown event type %q; types are %s", t, strings.Join(EventTypes, ", "))
		}
	}
	key, err := d.cursorKey(ctx)
	if err != nil {
		return EventPage{}, err
	}
	retention := d.retention()
	var after *position
	if q.Cursor != "" {
		p, err := openCursor(key, acct, q.Cursor)
		if err != nil {
			return EventPage{}, err
		}
		if now.Sub(p.at) > retention {
			return EventPage{}, &fault.Error{Kind: fault.Invalid, Field: "cursor", Err: ErrCursorExpired,
				Sentence: fmt.Sprintf("the cursor is older than the event retention (%s); start again without a cursor, or with backfill", retention)}
		}
		after = &p
	}
	d.maybePrune(ctx, acct, now)

	// One statement takes the horizon and the events below it, so the
	// cursor handed out and the events returned agree.
	var w where
	w.add("e.xid < h.h")
	if after != nil {
		w.add("(e.xid, e.id) > (?::text::xid8, ?)", strconv.FormatUint(after.xid, 10), after.id)
	}
	if len(q.Types) > 0 {
		w.add("e.type = ANY(?)", q.Types)
	}
	w.addVisibility(q)
	order, limit := "e.xid, e.id", q.Limit
	if after == nil {
		if q.Backfill == 0 {
			limit = 0 // from now: nothing old, just the position
		} else {
			order, limit = "e.xid DESC, e.id DESC", q.Backfill
		}
	}
	var events []Event
	var horizon uint64
	b := &pgx.Batch{}
	b.Queue(`WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS h)
		SELECT h.h::text::numeric::bigint, e.id, e.type, e.at, e.conversation_id, e.contact_id, e.inbox_id, e.data, e.xid::text::numeric::bigint
		FROM h LEFT JOIN LATERAL (
			SELECT e.* FROM events e `+w.sql()+` ORDER BY `+order+` LIMIT `+strconv.Itoa(limit)+`
		) e ON true`, w.args...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var h int64
			var id, x *int64
			var typ *string
			var at *time.Time
			var e Event
			if err := rows.Scan(&h, &id, &typ, &at, &e.ConversationID, &e.ContactID, &e.InboxID, &e.Data, &x); err != nil {
				return err
			}
			horizon = uint64(h)
			if id != nil { // LEFT JOIN: no event rows gives one row of NULLs
				e.ID, e.xid, e.Type, e.At = *id, uint64(*x), *typ, *at
				events = append(events, e)
			}
		}
		return rows.Err()
	})
	if err := d.DB.Read(ctx, req, b); err != nil {
		return EventPage{}, err
	}
	if order != "e.xid, e.id" {
		slices.Reverse(events)
	}
	// A full page continues after its last event; otherwise every matching
	// event below the horizon was returned, so the cursor jumps to it.
	next := position{xid: horizon, id: 0, at: now}
	if after != nil && len(events) == limit && limit > 0 {
		last := events[len(events)-1]
		next = position{xid: last.xid, id: last.ID, at: now}
	}
	for i := range events {
		events[i].Cursor = signCursor(key, acct, position{xid: events[i].xid, id: events[i].ID, at: now})
	}
	if events == nil {
		events = []Event{}
	}
	return EventPage{Events: events, NextCursor: signCursor(key, acct, next)}, nil
}

// EventCursorAt is a cursor at a horizon read earlier (the oldest
// transaction running then, pg_snapshot_xmin): polling from it returns
// every event that committed after that read began. A console page reads
// the horizon with its session, before anything else, so its live stream
// misses nothing that changes the page afterwards.
func (d *Desk) EventCursorAt(ctx context.Context, acct int64, horizon uint64, now time.Time) (string, error) {
	key, err := d.cursorKey(ctx)
	if err != nil {
		return "", err
	}
	return signCursor(key, acct, position{xid: horizon, at: now}), nil
}

// EventCursorNow is a cursor at the feed's present position: polling from
// it returns every event that commits after this call began. A page takes
// one before it reads what it shows, so its live stream misses nothing
// that changes the page afterwards.
func (d *Desk) EventCursorNow(ctx context.Context, acct int64, now time.Time) (string, error) {
	key, err := d.cursorKey(ctx)
	if err != nil {
		return "", err
	}
	var h int64
	b := &pgx.Batch{}
	b.Queue(`SELECT pg_snapshot_xmin(pg_current_snapshot())::text::numeric::bigint`).QueryRow(func(r pgx.Row) error { return r.Scan(&h) })
	if err := d.DB.Batch(ctx, acct, b); err != nil {
		return "", err
	}
	return signCursor(key, acct, position{xid: uint64(h), at: now}), nil
}

// addVisibility limits events to what the token may see: conversation,
// message and draft events of its inboxes; contact events only with
// contacts:read, and for a restricted token only contacts linked to its
// inboxes or created by it.
func (w *where) addVisibility(q EventQuery) {
	contactTypes := "type LIKE 'contact.%'"
	if q.Scope.InboxIDs == nil {
		if !q.Contacts {
			w.add("NOT (" + contactTypes + ")")
		}
		return
	}
	if !q.Contacts {
		w.add("NOT ("+contactTypes+") AND inbox_id = ANY(?)", q.Scope.InboxIDs)
		return
	}
	w.add(`((NOT (`+contactTypes+`) AND inbox_id = ANY(?)) OR (`+contactTypes+` AND (
		EXISTS (SELECT 1 FROM contact_inboxes ci WHERE ci.contact_id = e.contact_id AND ci.inbox_id = ANY(?))
		OR EXISTS (SELECT 1 FROM contacts c WHERE c.id = e.contact_id AND c.created_by_token_id = ?))))`,
		q.Scope.InboxIDs, q.Scope.InboxIDs, q.Scope.TokenID)
}

func (d *Desk) retention() time.Duration {
	if d.EventRetention > 0 {
		return d.EventRetention
	}
	return DefaultEventRetention
}

// maybePrune deletes the account's events past retention, at most once an
// hour per account and replica.
func (d *Desk) maybePrune(ctx context.Context, acct int64, now time.Time) {
	d.mu.Lock()
	if d.pruned == nil {
		d.pruned = map[int64]time.Time{}
	}
	last, seen := d.pruned[acct]
	if seen && now.Sub(last) < time.Hour {
		d.mu.Unlock()
		return
	}
	d.pruned[acct] = now
	d.mu.Unlock()
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM events WHERE at < $1`, now.Add(-d.retention()))
	d.DB.Batch(ctx, acct, b)
}
