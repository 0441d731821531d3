package desk

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Draft is an agent's reply (or outbound start) waiting for a human.
type Draft struct {
	ID             int64      `json:"id"`
	Kind           string     `json:"kind"` // reply or start
	ConversationID *int64     `json:"conversation_id"`
	InboxID        int64      `json:"inbox_id"`
	ContactID      *int64     `json:"contact_id,omitempty"`
	Subject        string     `json:"subject,omitempty"`
	Content        string     `json:"content"`
	Rationale      string     `json:"rationale,omitempty"`
	Status         string     `json:"status"`
	TokenID        int64      `json:"token_id"`
	CreatedAt      time.Time  `json:"created_at"`
	DecidedAt      *time.Time `json:"decided_at,omitempty"`
	DecidedBy      *int64     `json:"decided_by,omitempty"`
	DecisionReason string     `json:"decision_reason,omitempty"`
	MessageID      *int64     `json:"message_id,omitempty"`
}

const draftColumns = `id, kind, conversation_id, inbox_id, contact_id, subject, content, rationale, status, token_id,
	created_at, decided_at, decided_by, decision_reason, message_id`

func scanDraft(r pgx.CollectableRow) (Draft, error) {
	var d Draft
	err := r.Scan(&d.ID, &d.Kind, &d.ConversationID, &d.InboxID, &d.ContactID, &d.Subject, &d.Content, &d.Rationale, &d.Status,
		&d.TokenID, &d.CreatedAt, &d.DecidedAt, &d.DecidedBy, &d.DecisionReason, &d.MessageID)
	return d, err
}

// DraftInput is a draft to store.
type DraftInput struct {
	Kind           string
	ConversationID int64 // reply
	InboxID        int64
	ContactID      int64 // start
	Subject        string
	Content        string
	Rationale      string
	TokenID        int64
	CreatedBy      int64
}

// DraftCreate stores a pending draft; nothing reaches the customer.
func (d *Desk) DraftCreate(ctx context.Context, tx pgx.Tx, acct int64, in DraftInput) (Draft, error) {
	return d.draftCreate(ctx, tx, tx, acct, in)
}

// draftCreate is DraftCreate with its draft.created event going to later
// (see messageAppend). A reply's draft takes its conversation's inbox in
// the same statement.
func (d *Desk) draftCreate(ctx context.Context, tx pgx.Tx, later execer, acct int64, in DraftInput) (Draft, error) {
	if strings.TrimSpace(in.Content) == "" || len(in.Content) > MaxContent {
		return Draft{}, invalid("content", "content must be 1 to %d characters", MaxContent)
	}
	if len(in.Rationale) > 2000 {
		return Draft{}, invalid("rationale", "rationale is at most 2000 characters")
	}
	var rows pgx.Rows
	if in.Kind == "reply" {
		rows, _ = tx.Query(ctx, `INSERT INTO drafts (account_id, kind, conversation_id, inbox_id, subject, content, rationale, token_id, created_by)
			SELECT $1, $2, c.id, c.inbox_id, $4, $5, $6, $7, $8 FROM conversations c WHERE c.id = $3
			RETURNING `+draftColumns,
			acct, in.Kind, in.ConversationID, in.Subject, in.Content, in.Rationale, in.TokenID, nullID(in.CreatedBy))
	} else {
		rows, _ = tx.Query(ctx, `INSERT INTO drafts (account_id, kind, conversation_id, inbox_id, contact_id, subject, content, rationale, token_id, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING `+draftColumns,
			acct, in.Kind, nullID(in.ConversationID), in.InboxID, nullID(in.ContactID), in.Subject, in.Content, in.Rationale, in.TokenID, nullID(in.CreatedBy))
	}
	dr, err := pgx.CollectExactlyOneRow(rows, scanDraft)
	if err != nil {
		if in.Kind == "reply" {
			return dr, withKind(err, "conversation", in.ConversationID)
		}
		return dr, mapErr(err)
	}
	if err := draftEvent(ctx, later, acct, EventDraftCreated, dr); err != nil {
		return dr, err
	}
	return dr, d.notifyDraft(ctx, tx, acct, dr)
}

// notifyDraft tells the draft's inbox members and the admins that it
// waits for approval.
func (d *Desk) notifyDraft(ctx context.Context, tx pgx.Tx, acct int64, dr Draft) error {
	n := notice{kind: NotifyDraftWaiting, inboxID: dr.InboxID, to: audienceInbox, subject: shorten(dr.Subject, maxCustomerText)}
	if dr.ConversationID != nil {
		n.convID = *dr.ConversationID
	}
	return d.notify(ctx, tx, acct, n)
}

func draftEvent(ctx context.Context, tx execer, acct int64, typ string, dr Draft) error {
	data := map[string]any{"draft_id": dr.ID, "kind": dr.Kind, "token_id": dr.TokenID}
	if dr.MessageID != nil {
		data["message_id"] = *dr.MessageID
	}
	var conv, contact int64
	if dr.ConversationID != nil {
		conv = *dr.ConversationID
	}
	if dr.ContactID != nil {
		contact = *dr.ContactID
	}
	return eventAppend(ctx, tx, acct, newEvent{typ: typ, inboxID: dr.InboxID, conversationID: conv, contactID: contact, data: data})
}

// DraftFilter selects drafts.
type DraftFilter struct {
	Status  string
	TokenID int64 // 0 = every token's
	Scope   Scope
	Cursor  string
	Limit   int
}

// DraftList pages drafts, newest first.
func (d *Desk) DraftList(ctx context.Context, req *tenancy.Request, f DraftFilter) ([]Draft, *string, error) {
	if f.Status != "" && !slices.Contains([]string{"pending", "approved", "rejected"}, f.Status) {
		return nil, nil, invalid("status", "status must be pending, approved or rejected")
	}
	limit, cur, err := pageArgs(f.Limit, f.Cursor)
	if err != nil {
		return nil, nil, err
	}
	var w where
	if f.Status != "" {
		w.add("status = ?", f.Status)
	}
	if f.TokenID != 0 {
		w.add("token_id = ?", f.TokenID)
	}
	if f.Scope.InboxIDs != nil {
		w.add("inbox_id = ANY(?)", f.Scope.InboxIDs)
	}
	if cur != nil {
		w.add("id < ?", cur.id)
	}
	out, err := collect(ctx, d.DB, req, scanDraft, `SELECT `+draftColumns+` FROM drafts `+w.sql()+` ORDER BY id DESC LIMIT `+fmt.Sprint(limit+1), w.args...)
	if err != nil {
		return nil, nil, err
	}
	return pageOf(out, limit, func(x Draft) (time.Time, int64) { return x.CreatedAt, x.ID })
}

// DraftDecision is a human's verdict on a draft.
type DraftDecision struct {
	Approve bool
	Content *string // an edit, on approval
	Reason  string  // on rejection
	UserID  int64   // the human deciding
	// InChat, when set, is a decision made on the draft card of an MCP
	// host (the person being the grant's consenting person): the scope is
	// the person's as it is now, and the card's nonce must be good.
	InChat *ChatProof
}

// DraftDecide approves (sending the message, attributed to the agent and
// the approving human) or rejects a pending draft, once: a draft already
// decided is ErrConflict. The scope hides drafts of inboxes an agent
// cannot see. The decision and its audit row (draft.approved or
// draft.rejected, with the person as actor) are one unit of work.
func (d *Desk) DraftDecide(ctx context.Context, acct, id int64, sc Scope, dec DraftDecision) (Draft, *Message, error) {
	var out Draft
	var msg *Message
	action := "draft.rejected"
	if dec.Approve {
		action = "draft.approved"
	}
	err := d.personWrite(ctx, acct, Author{UserID: dec.UserID}, action, func(ctx context.Context, u *unit) error {
		tx := u.tx
		u.audit.Target = map[string]int64{"draft_id": id}
		rows, _ := tx.Query(ctx, `SELECT `+draftColumns+` FROM drafts WHERE id = $1 FOR UPDATE`, id)
		dr, err := pgx.CollectExactlyOneRow(rows, scanDraft)
		if err == nil && dec.InChat != nil {
			sc, err = personScopeTx(ctx, tx, dec.UserID)
		}
		if err != nil || !sc.Allows(dr.InboxID) {
			return notFound("draft", id)
		}
		u.audit.TokenID = dr.TokenID
		if dr.Status != "pending" {
			return fault.Conflictf("", "draft %d was already %s", id, dr.Status)
		}
		if dec.InChat != nil {
			if err := dec.InChat.spend(ctx, tx, dr); err != nil {
				return err
			}
		}
		if !dec.Approve {
			if len(dec.Reason) > 2000 {
				return invalid("reason", "reason is at most 2000 characters")
			}
			_, err := tx.Exec(ctx, `UPDATE drafts SET status = 'rejected', decided_at = now(), decided_by = $2, decision_reason = $3 WHERE id = $1`,
				id, dec.UserID, dec.Reason)
			if err != nil {
				return err
			}
			if out, err = draftRead(ctx, tx, id); err != nil {
				return err
			}
			return draftEvent(ctx, u, acct, EventDraftRejected, out)
		}
		content := dr.Content
		if dec.Content != nil {
			content = *dec.Content
		}
		var agentName string
		var agentID int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(t.name, 'agent'), coalesce(a.service_user_id, 0)
			FROM accounts a LEFT JOIN mcp_tokens t ON t.id = $1 LIMIT 1`, dr.TokenID).Scan(&agentName, &agentID); err != nil {
			return err
		}
		by := Author{Kind: "agent", UserID: agentID, Name: agentName, TokenID: dr.TokenID, ApprovedBy: dec.UserID}
		var m Message
		if dr.Kind == "reply" {
			m, err = d.messageAppend(ctx, tx, u, acct, MessageParams{ConversationID: *dr.ConversationID, Content: content, By: by})
		} else {
			var c Conversation
			c, m, err = d.conversationStart(ctx, tx, acct, Outreach{InboxID: dr.InboxID, ContactID: *dr.ContactID, Subject: dr.Subject, Content: content, By: by})
			dr.ConversationID = &c.ID
		}
		if err != nil {
			return err
		}
		msg = &m
		// The draft keeps what the agent wrote; the message carries any edit.
		if _, err := tx.Exec(ctx, `UPDATE drafts SET status = 'approved', decided_at = now(), decided_by = $2, message_id = $3,
				conversation_id = $4 WHERE id = $1`, id, dec.UserID, m.ID, *dr.ConversationID); err != nil {
			return err
		}
		if out, err = draftRead(ctx, tx, id); err != nil {
			return err
		}
		return draftEvent(ctx, u, acct, EventDraftApproved, out)
	})
	return out, msg, err
}

func draftRead(ctx context.Context, tx pgx.Tx, id int64) (Draft, error) {
	rows, _ := tx.Query(ctx, `SELECT `+draftColumns+` FROM drafts WHERE id = $1`, id)
	d, err := pgx.CollectExactlyOneRow(rows, scanDraft)
	return d, withKind(err, "draft", id)
}

// DraftCount counts the pending drafts in the scope's inboxes (the
// console's navigation shows how many wait).
func (d *Desk) DraftCount(ctx context.Context, acct int64, sc Scope) (int, error) {
	var w where
	w.add("status = ?", "pending")
	if sc.InboxIDs != nil {
		w.add("inbox_id = ANY(?)", sc.InboxIDs)
	}
	var n int
	b := &pgx.Batch{}
	b.Queue(`SELECT count(*) FROM drafts `+w.sql(), w.args...).QueryRow(func(r pgx.Row) error { return r.Scan(&n) })
	return n, d.DB.Batch(ctx, acct, b)
}

// DraftInContext is a pending draft with what a reviewer needs beside it:
// the conversation's subject, contact and inbox, the token that drafted
// it, and the conversation's last few messages (oldest first).
type DraftInContext struct {
	Draft
	ConversationSubject string
	ContactName         string
	InboxName           string
	TokenName           string
	Recent              []Message
}

// DraftQueue pages the pending drafts in the scope's inboxes, newest
// first, each with its context (recent messages per conversation), in two
// round trips.
func (d *Desk) DraftQueue(ctx context.Context, acct int64, sc Scope, cursor string, limit, recent int) ([]DraftInContext, *string, error) {
	drafts, next, err := d.DraftList(ctx, tenancy.For(acct), DraftFilter{Status: "pending", Scope: sc, Cursor: cursor, Limit: limit})
	if err != nil || len(drafts) == 0 {
		return []DraftInContext{}, next, err
	}
	if recent < 1 || recent > 20 {
		return nil, nil, invalid("recent", "recent must be 1 to 20")
	}
	out := make([]DraftInContext, len(drafts))
	ids := make([]int64, len(drafts))
	var convs []int64
	at := map[int64]int{}
	for i, dr := range drafts {
		out[i].Draft, ids[i], at[dr.ID] = dr, dr.ID, i
		if dr.ConversationID != nil {
			convs = append(convs, *dr.ConversationID)
		}
	}
	recentBy := map[int64][]Message{}
	b := &pgx.Batch{}
	b.Queue(`SELECT d.id, coalesce(c.subject, d.subject, ''), coalesce(ct.name, ''), i.name, coalesce(t.name, '')
		FROM drafts d
		LEFT JOIN conversations c ON c.id = d.conversation_id
		LEFT JOIN contacts ct ON ct.id = coalesce(c.contact_id, d.contact_id)
		JOIN inboxes i ON i.id = d.inbox_id
		LEFT JOIN mcp_tokens t ON t.id = d.token_id
		WHERE d.id = ANY($1)`, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id int64
			var subject, contact, inbox, token string
			if err := rows.Scan(&id, &subject, &contact, &inbox, &token); err != nil {
				return err
			}
			x := &out[at[id]]
			x.ConversationSubject, x.ContactName, x.InboxName, x.TokenName = subject, contact, inbox, token
		}
		return rows.Err()
	})
	b.Queue(`SELECT m.* FROM unnest($1::bigint[]) AS c(id)
		CROSS JOIN LATERAL (SELECT `+messageColumns+` FROM messages WHERE conversation_id = c.id ORDER BY id DESC LIMIT $2) m
		ORDER BY m.id`, slices.Compact(slices.Sorted(slices.Values(convs))), recent).Query(func(rows pgx.Rows) error {
		ms, err := pgx.CollectRows(rows, scanMessage)
		for _, m := range ms {
			recentBy[m.ConversationID] = append(recentBy[m.ConversationID], m)
		}
		return err
	})
	if err := d.DB.Batch(ctx, acct, b); err != nil {
		return nil, nil, err
	}
	for i := range out {
		if c := out[i].ConversationID; c != nil {
			out[i].Recent = recentBy[*c]
		}
	}
	return out, next, nil
}
