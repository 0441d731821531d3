package desk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// IncomingEmail is a customer's mail, parsed by the SMTP listener.
type IncomingEmail struct {
	From     string // the sender's address
	FromName string
	Subject  string
	// MessageID, InReplyTo and References are msg-ids without angle
	// brackets. A mail without a Message-ID gets one derived from its
	// content, so that a relay's retry is still recognised.
	MessageID  string
	InReplyTo  []string
	References []string
	Text       string // the body as plain text
}

func (in *IncomingEmail) normalize() error {
	a, err := mail.ParseAddress(in.From)
	if err != nil {
		return invalid("from", "sender %q is not an email address", in.From)
	}
	in.From = a.Address
	if in.FromName == "" {
		in.FromName = a.Name
	}
	// Mail is the outside world's text: it is cleaned into storable text
	// (valid UTF-8, no NUL) rather than refused.
	in.Subject = clip(strings.TrimSpace(storable(in.Subject)), 300)
	in.FromName = clip(strings.TrimSpace(storable(in.FromName)), 200)
	in.Text = strings.TrimSpace(storable(in.Text))
	if in.Text == "" {
		in.Text = "(no text content)"
	}
	in.Text = clip(in.Text, MaxContent)
	in.MessageID = strings.Trim(strings.TrimSpace(storable(in.MessageID)), "<>")
	// Threading looks at the last references only; each is bounded text.
	refs := append(append([]string{}, in.InReplyTo...), in.References...)
	in.InReplyTo, in.References = nil, nil
	for i := max(0, len(refs)-50); i < len(refs); i++ {
		if r := storable(refs[i]); r != "" && len(r) <= 900 {
			in.References = append(in.References, r)
		}
	}
	if in.MessageID == "" || len(in.MessageID) > 900 {
		sum := sha256.Sum256([]byte(in.From + "\x00" + in.Subject + "\x00" + in.Text))
		in.MessageID = "deskwoot-derived-" + hex.EncodeToString(sum[:16]) + "@invalid"
	}
	return nil
}

// storable makes text PostgreSQL accepts: invalid bytes become U+FFFD and
// NUL characters go.
func storable(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// clip cuts s to at most n bytes without splitting a character.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// IncomingEmail records a customer's mail on an email inbox. It continues
// the conversation that one of In-Reply-To / References points at
// (reopening it when resolved or snoozed) when the mail comes from that
// conversation's contact (see emailThreadSQL); otherwise, a stranger's
// reply included, it starts a conversation with the mail's subject and its
// sender as the contact. A Message-ID seen before in the inbox returns the
// first message and writes nothing.
func (d *Desk) IncomingEmail(ctx context.Context, acct, inboxID int64, in IncomingEmail) (IncomingResult, error) {
	if err := in.normalize(); err != nil {
		return IncomingResult{}, err
	}
	return retryRaced(ctx, func() (IncomingResult, error) { return d.incomingEmail(ctx, acct, inboxID, in) })
}

// emailThreadSQL finds the conversation a reply continues: the latest one
// that the mail's references ($2) name in the inbox ($1) and whose contact
// sent it. The sender is the conversation's contact when that contact
// holds the From address ($4) now ($3, the holder's id), or, when no
// contact holds it now, when the conversation's contact has written from
// it in that conversation (its email changed since). References are no
// secret (anyone copied on a thread sees them), so a reference from anyone
// else names a conversation that is not theirs: no row, and the mail
// starts its own.
const emailThreadSQL = `SELECT c.id, c.status, c.contact_id FROM messages m
	JOIN conversations c ON c.account_id = m.account_id AND c.id = m.conversation_id
	WHERE m.inbox_id = $1 AND m.source_id = ANY($2)
	  AND (c.contact_id = $3 OR ($3::bigint IS NULL AND EXISTS (
		SELECT 1 FROM messages p WHERE p.account_id = c.account_id AND p.conversation_id = c.id
		  AND p.type = 'incoming' AND p.sender_kind = 'contact' AND p.sender_id = c.contact_id
		  AND lower(p.sender_address) = lower($4))))
	ORDER BY m.id DESC LIMIT 1 FOR UPDATE OF c`

func (d *Desk) incomingEmail(ctx context.Context, acct, inboxID int64, in IncomingEmail) (IncomingResult, error) {
	var res IncomingResult
	err := d.DB.InTenant(ctx, acct, func(tx pgx.Tx) error {
		if err := requireChannel(ctx, tx, inboxID, "email"); err != nil {
			return err
		}
		var seen bool
		var err error
		if res, seen, err = messageBySource(ctx, tx, inboxID, in.MessageID); seen || err != nil {
			return err // the same mail again, or a failure
		}
		// The contact that holds the sender's address now, if any; locked,
		// so that two mails of one sender thread one after the other.
		var senderID *int64
		err = tx.QueryRow(ctx, `SELECT id FROM contacts WHERE lower(email) = lower($1) FOR UPDATE`, in.From).Scan(&senderID)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var contactID int64
		var status string
		err = tx.QueryRow(ctx, emailThreadSQL, inboxID, in.References, senderID, in.From).Scan(&res.ConversationID, &status, &contactID)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			if contactID, _, err = findOrCreateContact(ctx, tx, acct, inboxID, IncomingContact{Email: in.From, Name: in.FromName}); err != nil {
				return err
			}
			err = tx.QueryRow(ctx, `INSERT INTO conversations (account_id, inbox_id, contact_id, subject) VALUES ($1, $2, $3, $4) RETURNING id`,
				acct, inboxID, contactID, in.Subject).Scan(&res.ConversationID)
			if err == nil {
				err = eventAppend(ctx, tx, acct, newEvent{typ: EventConversationCreated, inboxID: inboxID,
					conversationID: res.ConversationID, contactID: contactID, data: map[string]any{"status": "open"}})
			}
		case err == nil && (status == "resolved" || status == "snoozed"):
			_, err = tx.Exec(ctx, `UPDATE conversations SET status = 'open', snoozed_until = NULL WHERE id = $1`, res.ConversationID)
			if err == nil {
				var c Conversation
				if c, err = ConversationRead(ctx, tx, res.ConversationID); err == nil {
					err = conversationEvent(ctx, tx, acct, EventConversationUpdated, c, map[string]any{"status": "open", "reopened_by": "email"})
				}
			}
		}
		if err != nil {
			return err
		}
		res.ContactID = contactID
		err = tx.QueryRow(ctx, `INSERT INTO messages (account_id, conversation_id, inbox_id, type, content, sender_kind, sender_id, sender_name, source_id, sender_address)
			SELECT $1, $2, $3, 'incoming', $4, 'contact', id, name, $5, $7 FROM contacts WHERE id = $6
			ON CONFLICT DO NOTHING RETURNING id`, acct, res.ConversationID, inboxID, in.Text, in.MessageID, contactID, in.From).Scan(&res.MessageID)
		if errors.Is(err, pgx.ErrNoRows) {
			return errRaced // a concurrent delivery of the same mail won
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
		_, err = tx.Exec(ctx, `UPDATE conversations SET last_activity_at = now(), updated_at = now(), waiting_since = coalesce(waiting_since, now())
			WHERE id = $1`, res.ConversationID)
		return err
	})
	return res, err
}
