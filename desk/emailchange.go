package desk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/identity"
)

// A person who changes their email proves the new address first (DESIGN
// §19's "every answer about an email address is the same whether it
// exists or not"): with a relay, the change waits (email_changes) and a
// single-use link goes to the new address; opening it applies the change.
// Whether another login has the address is told only then, to whoever
// reads that mailbox. Without a relay no mailbox can be proved, and the
// change applies at once, as an admin's invitation link is shown at once.

// EmailChangeTTL is how long an email-change link works.
const EmailChangeTTL = 24 * time.Hour

// emailChangeStart writes the pending change of userID's email to email
// in u (superseding their earlier ones), registers its link and mails it
// to the new address.
func (d *Desk) emailChangeStart(ctx context.Context, u *unit, acct, userID int64, email string, now time.Time) error {
	tx := u.tx
	if _, err := tx.Exec(ctx, `UPDATE email_changes SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL`, userID, now); err != nil {
		return err
	}
	var id int64
	if err := tx.QueryRow(ctx, `INSERT INTO email_changes (account_id, user_id, new_email, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		acct, userID, email, now, now.Add(EmailChangeTTL)).Scan(&id); err != nil {
		return err
	}
	raw, err := identity.LinkRegister(ctx, tx, identity.LinkEmail, id)
	if err != nil {
		return err
	}
	_, err = d.mailWrite(ctx, tx, u, acct, emailChangeMail(email, d.link("/profile/email/", raw), now.Add(EmailChangeTTL)))
	return err
}

func emailChangeMail(to, link string, until time.Time) MailNew {
	return MailNew{Kind: MailEmailChange, To: to, Subject: "Confirm your new Deskwoot email",
		Body: fmt.Sprintf(`Someone, hopefully you, asked to sign in to Deskwoot with %s from now on.

Confirm it here (the link works once, until %s):

%s

If you did not ask, ignore this mail: nothing changes.
`, to, until.UTC().Format("2006-01-02 15:04 UTC"), link)}
}

// EmailChangeOpen checks an email-change link: the new address it
// confirms, or identity.ErrLinkUnknown for a malformed, unknown, used or
// expired one.
func (d *Desk) EmailChangeOpen(ctx context.Context, raw string, now time.Time) (string, error) {
	var email string
	_, _, err := d.linkRead(ctx, raw, identity.LinkEmail, now, `SELECT new_email FROM email_changes
		WHERE id = $1 AND used_at IS NULL AND expires_at > $2`, func(r pgx.Row) error { return r.Scan(&email) })
	return email, err
}

// EmailChangeConfirm applies the change an email-change link names, once,
// audited as profile.email.confirm with the person as actor. An address
// another login took meanwhile is identity.ErrEmailTaken (the link stays
// unused, so nothing changes).
func (d *Desk) EmailChangeConfirm(ctx context.Context, raw string, now time.Time) (string, error) {
	acct, id, err := identity.LinkOwner(ctx, d.DB, raw, identity.LinkEmail)
	if err != nil {
		return "", err
	}
	var email string
	err = d.personWrite(ctx, acct, Author{Kind: "user"}, "profile.email.confirm", func(ctx context.Context, u *unit) error {
		tx := u.tx
		var userID int64
		err := tx.QueryRow(ctx, `SELECT user_id, new_email FROM email_changes
			WHERE id = $1 AND used_at IS NULL AND expires_at > $2 FOR UPDATE`, id, now).Scan(&userID, &email)
		if errors.Is(err, pgx.ErrNoRows) {
			return identity.ErrLinkUnknown
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET email = $2 WHERE id = $1`, userID, strings.TrimSpace(email)); err != nil {
			return identity.EmailTakenError(err)
		}
		if _, err := tx.Exec(ctx, `UPDATE email_changes SET used_at = $2 WHERE id = $1`, id, now); err != nil {
			return err
		}
		u.audit.ActorID = userID
		u.audit.Target = map[string]int64{"user_id": userID, "email_change_id": id}
		return nil
	})
	return email, err
}
