package desk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/identity"
)

// Password recovery (DESIGN §19): "Forgot password?" mails a single-use
// link (PasswordResetTTL); setting a new password through it ends every
// session and personal token of the person, in every workspace.
//
// The answer to a request never depends on the email: the door only
// enqueues a job (PasswordForgot), the same work for every address, and
// the job (PasswordResetStart) looks the person up and mails them, or does
// nothing.

// PasswordResetTTL is how long a reset link works.
const PasswordResetTTL = 30 * time.Minute

// PasswordForgot asks for a reset link to be mailed to email, if someone
// signs in with it: it enqueues the request and looks nothing up, so its
// cost and answer are the same for every address. Without a relay it does
// nothing.
func (d *Desk) PasswordForgot(ctx context.Context, email string) error {
	email = strings.TrimSpace(email)
	if !identity.ValidEmail(email) {
		return fault.Invalidf("email", "email must be an address like name@example.com")
	}
	if d.Mail == nil {
		return nil
	}
	return d.Mail.EnqueueResetRequest(ctx, email)
}

// PasswordResetStart runs a reset request: when someone signs in with
// email, it writes a reset link (in their oldest workspace, where the
// request is audited with them as actor), supersedes their earlier links
// and mails it. For anyone else it does nothing.
func (d *Desk) PasswordResetStart(ctx context.Context, email string, now time.Time) error {
	userID, accounts, err := identity.LoginAccounts(ctx, d.DB, email)
	if err != nil || userID == 0 {
		return err
	}
	acct := accounts[0]
	return d.personWrite(ctx, acct, Author{Kind: "user", UserID: userID}, "user.password.reset_request", func(ctx context.Context, u *unit) error {
		tx := u.tx
		// One request of a person at a time, so that the newest link
		// always supersedes the others. (NO KEY UPDATE: the unit holds
		// the membership with KEY SHARE already, as two requests side by
		// side both do; FOR UPDATE would have each wait for the other.)
		if _, err := tx.Exec(ctx, `SELECT 1 FROM account_users WHERE user_id = $1 FOR NO KEY UPDATE`, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL`, userID, now); err != nil {
			return err
		}
		var id int64
		if err := tx.QueryRow(ctx, `INSERT INTO password_resets (account_id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4) RETURNING id`,
			acct, userID, now, now.Add(PasswordResetTTL)).Scan(&id); err != nil {
			return err
		}
		raw, err := identity.LinkRegister(ctx, tx, identity.LinkReset, id)
		if err != nil {
			return err
		}
		var to string
		if err := tx.QueryRow(ctx, `SELECT email FROM users WHERE id = $1`, userID).Scan(&to); err != nil {
			return err
		}
		if _, err := d.mailWrite(ctx, tx, u, acct, resetMail(to, d.link("/password/reset/", raw), now.Add(PasswordResetTTL))); err != nil {
			return err
		}
		u.audit.Target = map[string]int64{"user_id": userID, "password_reset_id": id}
		return nil
	})
}

func resetMail(to, link string, until time.Time) MailNew {
	return MailNew{Kind: MailPasswordReset, To: to, Subject: "Reset your Deskwoot password",
		Body: fmt.Sprintf(`Someone, hopefully you, asked to reset the password of the Deskwoot
sign-in %s.

Set a new password here (the link works once, for 30 minutes, until %s):

%s

Setting it signs you out everywhere and revokes your personal API tokens.
If you did not ask, ignore this mail: your password stays as it is.
`, to, until.UTC().Format("2006-01-02 15:04 UTC"), link)}
}

// PasswordResetOpen checks a reset link: the email it resets, or
// identity.ErrLinkUnknown for a malformed, unknown, used or expired one.
func (d *Desk) PasswordResetOpen(ctx context.Context, raw string, now time.Time) (string, error) {
	var email string
	_, _, err := d.linkRead(ctx, raw, identity.LinkReset, now, `SELECT u.email FROM password_resets r JOIN users u ON u.id = r.user_id
		WHERE r.id = $1 AND r.used_at IS NULL AND r.expires_at > $2`, func(r pgx.Row) error { return r.Scan(&email) })
	return email, err
}

// PasswordReset spends a reset link: the person's password becomes hash
// (identity.Identities.HashPassword) and every session and personal token
// of theirs ends, in every workspace, with the user.password.reset audit
// row in the same transaction. It returns the email to sign in with.
func (d *Desk) PasswordReset(ctx context.Context, raw string, hash []byte, now time.Time) (string, error) {
	acct, id, err := identity.LinkOwner(ctx, d.DB, raw, identity.LinkReset)
	if err != nil {
		return "", err
	}
	var email string
	err = d.personWrite(ctx, acct, Author{Kind: "user"}, "user.password.reset", func(ctx context.Context, u *unit) error {
		tx := u.tx
		var userID int64
		err := tx.QueryRow(ctx, `SELECT r.user_id, u.email FROM password_resets r JOIN users u ON u.id = r.user_id
			WHERE r.id = $1 AND r.used_at IS NULL AND r.expires_at > $2 FOR UPDATE OF r`, id, now).Scan(&userID, &email)
		if errors.Is(err, pgx.ErrNoRows) {
			return identity.ErrLinkUnknown
		}
		if err != nil {
			return err
		}
		if err := identity.PasswordSet(ctx, tx, userID, hash, true, 0); err != nil {
			return err
		}
		// Every session ended: their open streams too, on every replica.
		if err := accessEnded(ctx, tx, 0, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL`, userID, now); err != nil {
			return err
		}
		u.audit.ActorID = userID
		u.audit.Target = map[string]int64{"user_id": userID, "password_reset_id": id}
		return nil
	})
	return email, err
}
