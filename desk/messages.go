package desk

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/input"
)

// MaxContent bounds a message body.
const MaxContent = 100000

// IncomingContact identifies the customer of an incoming message.
type IncomingContact struct {
	Email      string
	Identifier string
	Name       string
}

// IncomingInput is a customer message arriving on an inbox.
type IncomingInput struct {
	Contact  IncomingContact
	Content  string
	SourceID string
}

// IncomingResult names what the message landed in. Created is false when
// the source id had been seen before and nothing new was written.
type IncomingResult struct {
	ConversationID int64 `json:"conversation_id"`
	MessageID      int64 `json:"message_id"`
	ContactID      int64 `json:"contact_id"`
	Created        bool  `json:"-"`
}

func (in IncomingInput) validate() error {
	switch {
	case in.Contact.Email == "" && in.Contact.Identifier == "":
		return invalid("contact", "contact needs an email or an identifier")
	case in.Contact.Email != "" && input.Email("contact.email", in.Contact.Email) != nil:
		return input.Email("contact.email", in.Contact.Email)
	case len(in.Contact.Identifier) > 200 || len(in.Contact.Name) > 200:
		return invalid("contact", "contact identifier and name are at most 200 characters")
	case strings.TrimSpace(in.Content) == "" || len(in.Content) > MaxContent:
		return invalid("content", "content must be 1 to %d characters", MaxContent)
	case len(in.SourceID) > 200:
		return invalid("source_id", "source_id is at most 200 characters")
	}
	return nil
}

// incomingMessage finds or creates the contact, continues the contact's
// unresolved conversation in that inbox or starts one, and appends the
// message. A repeated source_id returns the first message and writes
// nothing.
func (d *Desk) incomingMessage(ctx context.Context, acct, inboxID int64, in IncomingInput) (IncomingResult, error) {
	var res IncomingResult
	err := d.DB.InTenant(ctx, acct, func(tx pgx.Tx) error {
		if err := requireChannel(ctx, tx, inboxID, "api", "website"); err != nil {
			return err
		}
		if in.SourceID != "" {
			var seen bool
			var err error
			if res, seen, err = messageBySource(ctx, tx, inboxID, in.SourceID); seen || err != nil {
				return err
			}
		}
		contactID, _, err := findOrCreateContact(ctx, tx, acct, inboxID, in.Contact)
		if err != nil {
			return err
		}
		res.ContactID = contactID
		return appendIncoming(ctx, tx, acct, inboxID, in.Content, in.SourceID, &res)
	})
	return res, err
}

// appendIncoming appends a customer message of the contact res.ContactID
// (locked by the caller) to its unresolved conversation in the inbox, or
// to a new one, with their events, and wakes a snoozed conversation. Every
// channel's incoming messages go through here.
func appendIncoming(ctx context.Context, tx pgx.Tx, acct, inboxID int64, content, sourceID string, res *IncomingResult) error {
	contactID := res.ContactID
	// The contact row is locked, so two messages of a new contact cannot
	// start two conversations.
	err := tx.QueryRow(ctx, `SELECT id FROM conversations WHERE contact_id = $1 AND inbox_id = $2 AND status <> 'resolved'
		ORDER BY last_activity_at DESC LIMIT 1`, contactID, inboxID).Scan(&res.ConversationID)
	if errors.Is(err, pgx.ErrNoRows) {
		err = tx.QueryRow(ctx, `INSERT INTO conversations (account_id, inbox_id, contact_id) VALUES ($1, $2, $3) RETURNING id`,
			acct, inboxID, contactID).Scan(&res.ConversationID)
		if err == nil {
			err = eventAppend(ctx, tx, acct, newEvent{typ: EventConversationCreated, inboxID: inboxID,
				conversationID: res.ConversationID, contactID: contactID, data: map[string]any{"status": "open"}})
		}
	}
	if err != nil {
		return err
	}
	var src any
	if sourceID != "" {
		src = sourceID
	}
	err = tx.QueryRow(ctx, `INSERT INTO messages (account_id, conversation_id, inbox_id, type, content, sender_kind, sender_id, sender_name, source_id)
		SELECT $1, $2, $3, 'incoming', $4, 'contact', id, name, $5 FROM contacts WHERE id = $6
		ON CONFLICT DO NOTHING RETURNING id`, acct, res.ConversationID, inboxID, content, src, contactID).Scan(&res.MessageID)
	if errors.Is(err, pgx.ErrNoRows) {
		return errRaced // a concurrent delivery of the same source id won
	}
	if err != nil {
		return err
	}
	res.Created = true
	if err := eventAppend(ctx, tx, acct, newEvent{typ: EventMessageCreated, inboxID: inboxID, conversationID: res.ConversationID,
		contactID: contactID, data: map[string]any{"message_id": res.MessageID, "type": "incoming", "private": false, "sender_kind": "contact"}}); err != nil {
		return err
	}
	// The customer waits from their first message after our last reply.
	_, err = tx.Exec(ctx, `UPDATE conversations SET last_activity_at = now(), updated_at = now(), waiting_since = coalesce(waiting_since, now()),
		status = CASE WHEN status = 'snoozed' THEN 'open' ELSE status END, snoozed_until = NULL WHERE id = $1`, res.ConversationID)
	return err
}

// IncomingMessage records a customer message on an api inbox, or one a
// site's server posts for its identified user on a website inbox (see
// incomingMessage); a write that lost a race to a concurrent one (the same
// source id, the same new contact) runs again, a bounded number of times,
// and then sees the winner's rows.
func (d *Desk) IncomingMessage(ctx context.Context, acct, inboxID int64, in IncomingInput) (IncomingResult, error) {
	if err := in.validate(); err != nil {
		return IncomingResult{}, err
	}
	return retryRaced(ctx, func() (IncomingResult, error) { return d.incomingMessage(ctx, acct, inboxID, in) })
}

// requireChannel checks that the inbox exists and is of a channel the
// message may arrive by.
func requireChannel(ctx context.Context, tx pgx.Tx, inboxID int64, channels ...string) error {
	var got string
	if err := tx.QueryRow(ctx, `SELECT channel FROM inboxes WHERE id = $1`, inboxID).Scan(&got); err != nil {
		return withKind(err, "inbox", inboxID)
	}
	if !slices.Contains(channels, got) {
		return invalid("", "inbox %d is an %s inbox; messages arrive on it by its own channel, not as %s messages", inboxID, got, channels[0])
	}
	return nil
}

// messageBySource finds the message an inbox already received under a
// source id (a repeated delivery); seen is false when there is none.
func messageBySource(ctx context.Context, tx pgx.Tx, inboxID int64, sourceID string) (res IncomingResult, seen bool, err error) {
	err = tx.QueryRow(ctx, `SELECT m.conversation_id, m.id, c.contact_id FROM messages m
		JOIN conversations c ON c.account_id = m.account_id AND c.id = m.conversation_id
		WHERE m.inbox_id = $1 AND m.source_id = $2`, inboxID, sourceID).Scan(&res.ConversationID, &res.MessageID, &res.ContactID)
	if errors.Is(err, pgx.ErrNoRows) {
		return res, false, nil
	}
	return res, err == nil, err
}

// findOrCreateContact finds the customer of an incoming message by
// identifier, else by email, else creates them, and links them to the inbox.
// A new identifier with the email of a contact that has none is attached to
// that contact (the integrator now names a customer the desk already knows
// by email, as a help desk merges them); with the email of a contact that
// has another identifier it is a conflict: two customers cannot share an
// email.
func findOrCreateContact(ctx context.Context, tx pgx.Tx, acct, inboxID int64, c IncomingContact) (id int64, created bool, err error) {
	err = pgx.ErrNoRows
	if c.Identifier != "" {
		err = tx.QueryRow(ctx, `SELECT id FROM contacts WHERE identifier = $1 FOR UPDATE`, c.Identifier).Scan(&id)
	}
	if errors.Is(err, pgx.ErrNoRows) && c.Email != "" {
		var ident *string
		err = tx.QueryRow(ctx, `SELECT id, identifier FROM contacts WHERE lower(email) = lower($1) FOR UPDATE`, c.Email).Scan(&id, &ident)
		if err == nil && c.Identifier != "" {
			if ident != nil {
				return 0, false, fault.Conflictf("contact.email", "contact.email %s belongs to a contact with a different identifier; send that identifier, or leave out the email", c.Email)
			}
			if err = attachIdentifier(ctx, tx, acct, inboxID, id, c.Identifier); err != nil {
				return 0, false, err
			}
		}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		var email, ident any
		if c.Email != "" {
			email = c.Email
		}
		if c.Identifier != "" {
			ident = c.Identifier
		}
		name := c.Name
		if name == "" {
			name = strings.SplitN(c.Email+c.Identifier, "@", 2)[0]
		}
		err = tx.QueryRow(ctx, `INSERT INTO contacts (account_id, name, email, identifier) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING RETURNING id`, acct, name, email, ident).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, false, errRaced // a concurrent message made the contact: the next attempt finds it
		}
		created = err == nil
	}
	if err != nil {
		return 0, false, err
	}
	_, err = tx.Exec(ctx, `INSERT INTO contact_inboxes (account_id, contact_id, inbox_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		acct, id, inboxID)
	if err == nil && created {
		err = eventAppend(ctx, tx, acct, newEvent{typ: EventContactCreated, inboxID: inboxID, contactID: id})
	}
	return id, created, err
}

// attachIdentifier gives a known contact the identifier an integrator now
// sends for it.
func attachIdentifier(ctx context.Context, tx pgx.Tx, acct, inboxID, id int64, identifier string) error {
	_, err := tx.Exec(ctx, `UPDATE contacts SET identifier = $2, updated_at = now() WHERE id = $1`, id, identifier)
	if errors.Is(mapErr(err), ErrConflict) {
		return errRaced // a concurrent message gave the identifier to a new contact: the next attempt finds it
	}
	if err != nil {
		return err
	}
	return eventAppend(ctx, tx, acct, newEvent{typ: EventContactUpdated, inboxID: inboxID, contactID: id,
		data: map[string]any{"changed": []string{"identifier"}}})
}

// Author is who writes an outgoing message or note.
type Author struct {
	Kind    string // user or agent
	UserID  int64
	Name    string
	TokenID int64 // set for the agent
	// ApprovedBy is the human who approved the agent's draft, if any.
	ApprovedBy int64
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// MessageParams is a message to append to a conversation: a reply
// (outgoing, delivered by the outbox) or a private note.
type MessageParams struct {
	ConversationID int64
	Content        string
	Private        bool
	By             Author
}

// MessageCreate appends a human or agent reply (outgoing) or a private note
// to a conversation, and moves its activity time.
func (d *Desk) MessageCreate(ctx context.Context, acct, conversationID int64, content string, private bool, by Author) (Message, error) {
	var m Message
	err := d.DB.InTenant(ctx, acct, func(tx pgx.Tx) error {
		var err error
		m, err = d.MessageInsert(ctx, tx, acct, conversationID, content, private, by)
		return err
	})
	return m, err
}

// MessageInsert is MessageCreate inside the caller's transaction.
func (d *Desk) MessageInsert(ctx context.Context, tx pgx.Tx, acct, conversationID int64, content string, private bool, by Author) (Message, error) {
	return d.messageAppend(ctx, tx, tx, acct, MessageParams{ConversationID: conversationID, Content: content, Private: private, By: by})
}

// messageAppend writes a message in tx, with its delivery job (outgoing
// messages) and its message.created event; later takes the statements
// whose answers nobody reads (a unit of work holds them for its final
// batch; a plain transaction runs them at once).
func (d *Desk) messageAppend(ctx context.Context, tx pgx.Tx, later execer, acct int64, p MessageParams) (Message, error) {
	if strings.TrimSpace(p.Content) == "" || len(p.Content) > MaxContent {
		return Message{}, invalid("content", "content must be 1 to %d characters", MaxContent)
	}
	typ, delivery := "outgoing", any(DeliveryPending) // the outbox carries outgoing messages
	if p.Private {
		typ, delivery = "note", nil
	}
	by := p.By
	var m Message
	var inboxID, contactID int64
	// A reply the customer sees ends their wait (0063_triage.sql); a note does not.
	err := tx.QueryRow(ctx, `WITH c AS (
			UPDATE conversations SET last_activity_at = now(), updated_at = now(),
				waiting_since = CASE WHEN $5 THEN waiting_since END
			WHERE id = $2 RETURNING inbox_id, contact_id)
		INSERT INTO messages (account_id, conversation_id, inbox_id, type, content, private, sender_kind, sender_id, sender_name, token_id, delivery_status, approved_by)
		SELECT $1, $2, c.inbox_id, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM c
		RETURNING `+messageColumns+`, inbox_id, (SELECT contact_id FROM c)`,
		acct, p.ConversationID, typ, p.Content, p.Private, by.Kind, by.UserID, by.Name, nullID(by.TokenID), delivery, nullID(by.ApprovedBy)).
		Scan(&m.ID, &m.ConversationID, &m.Type, &m.Content, &m.Private, &m.Sender.Kind, &m.Sender.ID, &m.Sender.Name,
			&m.DeliveryStatus, &m.DeliveryError, &m.ApprovedBy, &m.CreatedAt, &inboxID, &contactID)
	if err != nil {
		return Message{}, withKind(err, "conversation", p.ConversationID)
	}
	if !p.Private && d.Outbox != nil {
		// The delivery job commits with the message, or neither does.
		if err := d.Outbox.EnqueueDelivery(ctx, outboxTx(tx, later), acct, m.ID); err != nil {
			return Message{}, err
		}
	}
	return m, messageEvent(ctx, later, acct, m, inboxID, contactID)
}
