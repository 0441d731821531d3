package desk

import (
	"context"
	"crypto/rand"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Mail to people (invitations, password resets, notifications) is written
// as a people_mail row in the transaction that causes it, with a job that
// sends it (package mailout) through the operator's relay. The row's body
// may carry a single-use link, so it is wiped once the mail is sent or
// given up on.

// MailQueue enqueues the sending of a people_mail row inside the
// transaction that writes it (package mailout). Inside a unit of work,
// statements it sends with tx.Exec are held for the unit's final batch
// (see outboxTx).
type MailQueue interface {
	EnqueueMail(ctx context.Context, tx pgx.Tx, accountID, mailID int64) error
	// EnqueueResetRequest enqueues a password reset request for email on
	// its own (see PasswordForgot); its job calls PasswordResetStart.
	EnqueueResetRequest(ctx context.Context, email string) error
	// EnqueueDigest enqueues, in tx, the draft digest of a person to run
	// at at (see DigestSend).
	EnqueueDigest(ctx context.Context, tx pgx.Tx, accountID, userID int64, at time.Time) error
}

// Kinds of mail to people.
const (
	MailInvitation    = "invitation"
	MailPasswordReset = "password_reset"
	MailNotification  = "notification"
	MailEmailChange   = "email_change"
)

// Mail states.
const (
	MailPending = "pending"
	MailSent    = "sent"
	MailFailed  = "failed"
)

// MailNew is a mail to write: to whom, about what, in plain text.
type MailNew struct {
	Kind    string
	To      string
	Subject string
	Body    string
}

// Mail is a people_mail row as the sending worker reads it. Body is empty
// once the mail is sent or failed.
type Mail struct {
	ID           int64
	Kind         string
	To           string
	Subject      string
	Body         string
	MessageToken string
	Status       string
}

// MailOn reports whether mail to people can be sent (a relay is set).
func (d *Desk) MailOn() bool { return d.Mail != nil }

// mailWrite stores m and enqueues its sending in tx (later holds the
// enqueue's notification back for a unit's final batch). Without a relay
// (d.Mail nil) nothing is written and it returns 0: the caller shows the
// link instead, or the person sees it in the app only.
func (d *Desk) mailWrite(ctx context.Context, tx pgx.Tx, later execer, acct int64, m MailNew) (int64, error) {
	if d.Mail == nil {
		return 0, nil
	}
	if utf8.RuneCountInString(m.Subject) > 300 {
		m.Subject = string([]rune(m.Subject)[:299]) + "…"
	}
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO people_mail (account_id, kind, to_address, subject, body, message_token)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, acct, m.Kind, m.To, m.Subject, m.Body, rand.Text()).Scan(&id)
	if err != nil {
		return 0, err
	}
	return id, d.Mail.EnqueueMail(ctx, outboxTx(tx, later), acct, id)
}

// MailLoad reads a mail to send.
func (d *Desk) MailLoad(ctx context.Context, acct, id int64) (Mail, error) {
	var m Mail
	b := &pgx.Batch{}
	b.Queue(`SELECT id, kind, to_address, subject, coalesce(body, ''), message_token, status FROM people_mail WHERE id = $1`, id).
		QueryRow(func(r pgx.Row) error {
			return r.Scan(&m.ID, &m.Kind, &m.To, &m.Subject, &m.Body, &m.MessageToken, &m.Status)
		})
	err := d.DB.Batch(ctx, acct, b)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, notFound("mail", id)
	}
	return m, err
}

// MailRecord records a sending attempt: sent or failed wipes the body
// (it may carry a single-use link); pending keeps it for the next try and
// notes the error.
func (d *Desk) MailRecord(ctx context.Context, acct, id int64, status, lastError string) error {
	b := &pgx.Batch{}
	b.Queue(`UPDATE people_mail SET status = $2, last_error = $3,
			body = CASE WHEN $2 = 'pending' THEN body END,
			sent_at = CASE WHEN $2 = 'sent' THEN now() END
		WHERE id = $1 AND status = 'pending'`, id, status, lastError)
	return d.DB.Batch(ctx, acct, b)
}
