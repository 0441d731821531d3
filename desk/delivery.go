package desk

import (
	"context"
	"encoding/json"
	"net/mail"
	"strings"

	"github.com/jackc/pgx/v5"
)

// DeliveryQueue enqueues the delivery of an outgoing message inside the
// transaction that stores it (the outbox; see package outbox). Inside a
// unit of work, statements it sends with tx.Exec are held for the unit's
// final batch (see outboxTx): Exec only what needs no answer.
type DeliveryQueue interface {
	EnqueueDelivery(ctx context.Context, tx pgx.Tx, accountID, messageID int64) error
}

// Delivery states of an outgoing message.
const (
	DeliveryPending = "pending"
	DeliverySent    = "sent"
	DeliveryFailed  = "failed"
)

// WebhookSettings are an api inbox's delivery settings.
type WebhookSettings struct {
	URL    string `json:"webhook_url"`
	Secret string `json:"webhook_secret"`
}

// EmailSettings are an email inbox's SMTP relay and addresses.
type EmailSettings struct {
	SMTPHost     string `json:"smtp_host"`
	SMTPPort     int    `json:"smtp_port"`
	SMTPUsername string `json:"smtp_username"`
	SMTPPassword string `json:"smtp_password"`
	SMTPStartTLS bool   `json:"smtp_starttls"`
	FromAddress  string `json:"from_address"`
}

// channelSettingsValidate checks the channel settings an admin sets on an
// inbox: types first, then the addresses and the port.
func channelSettingsValidate(channel string, settings map[string]any) error {
	raw, err := json.Marshal(settings)
	if err != nil {
		return invalid("settings", "settings are not a JSON object")
	}
	switch channel {
	case "api":
		var s WebhookSettings
		if err := json.Unmarshal(raw, &s); err != nil {
			return invalid("settings.webhook_secret", "settings.webhook_secret must be a string")
		}
		if len(s.Secret) > 500 {
			return invalid("settings.webhook_secret", "settings.webhook_secret is at most 500 characters")
		}
	case "email":
		var s EmailSettings
		if err := json.Unmarshal(raw, &s); err != nil {
			return invalid("settings", "email settings: smtp_port must be a number, smtp_starttls a boolean, the others strings")
		}
		if addr := s.FromAddress; addr != "" {
			if a, err := mail.ParseAddress(addr); err != nil || a.Address != strings.TrimSpace(addr) {
				return invalid("settings.from_address", "settings.from_address must be a bare email address like support@example.com")
			}
		}
		if s.SMTPPort < 0 || s.SMTPPort > 65535 {
			return invalid("settings.smtp_port", "settings.smtp_port must be 1 to 65535")
		}
		if strings.ContainsAny(s.SMTPHost, " /:") {
			return invalid("settings.smtp_host", "settings.smtp_host must be a host name without port or scheme (set smtp_port)")
		}
	}
	return nil
}

// Delivery is everything a channel needs to deliver one outgoing message.
type Delivery struct {
	AccountID    int64
	Message      Message
	Conversation Conversation
	Contact      Contact
	InboxName    string
	Channel      string
	Webhook      WebhookSettings // api inboxes
	Email        EmailSettings   // email inboxes
	// Thread lists the Message-IDs (source ids) of the conversation's
	// earlier messages that have one, oldest first: email threading.
	Thread []string
}

// DeliveryLoad reads an outgoing message with its conversation, contact and
// inbox settings, for the outbox worker. The worker runs in the tenant like
// every other caller.
func (d *Desk) DeliveryLoad(ctx context.Context, acct, messageID int64) (Delivery, error) {
	dl := Delivery{AccountID: acct}
	err := d.DB.InTenant(ctx, acct, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = $1`, messageID)
		m, err := pgx.CollectExactlyOneRow(rows, scanMessage)
		if err != nil {
			return withKind(err, "message", messageID)
		}
		dl.Message = m
		if dl.Conversation, err = ConversationRead(ctx, tx, m.ConversationID); err != nil {
			return err
		}
		if dl.Contact, err = ContactRead(ctx, tx, dl.Conversation.Contact.ID); err != nil {
			return err
		}
		var settings []byte
		if err := tx.QueryRow(ctx, `SELECT name, channel, settings FROM inboxes WHERE id = $1`, dl.Conversation.InboxID).
			Scan(&dl.InboxName, &dl.Channel, &settings); err != nil {
			return withKind(err, "inbox", dl.Conversation.InboxID)
		}
		switch dl.Channel {
		case "api":
			err = json.Unmarshal(settings, &dl.Webhook)
		case "email":
			err = json.Unmarshal(settings, &dl.Email)
		}
		if err != nil {
			return invalid("", "inbox %d has malformed %s settings: %v", dl.Conversation.InboxID, dl.Channel, err)
		}
		rows, _ = tx.Query(ctx, `SELECT source_id FROM messages
			WHERE conversation_id = $1 AND id < $2 AND source_id IS NOT NULL ORDER BY id`, m.ConversationID, m.ID)
		dl.Thread, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return dl, err
}

// DeliveryRecord records the outcome of a delivery attempt on an outgoing
// message: its status (pending while retries remain, sent or failed), the
// last error (empty clears it) and, for email, the Message-ID it was sent
// with, so that replies thread into its conversation. A late attempt never
// turns a sent message back, nor one the widget showed or that was mailed.
func (d *Desk) DeliveryRecord(ctx context.Context, acct, messageID int64, status, lastError, sourceID string) error {
	if len(lastError) > 1000 {
		lastError = lastError[:1000]
	}
	return d.DB.InTenant(ctx, acct, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE messages SET delivery_status = $2, delivery_error = nullif($3, ''),
				source_id = coalesce(source_id, nullif($4, ''))
			WHERE id = $1 AND type = 'outgoing' AND (delivery_status IS DISTINCT FROM 'sent' OR $2 = 'sent')
				AND delivery_status NOT IN ('delivered', 'emailed')`,
			messageID, status, strings.ToValidUTF8(lastError, "?"), sourceID)
		if err == nil && tag.RowsAffected() == 0 {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM messages WHERE id = $1)`, messageID).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				return notFound("message", messageID)
			}
		}
		return err
	})
}
