// Package signup is email-confirmed signup (DESKWOOT_SIGNUP=confirm;
// issues 18 and 21: "every answer about an email address is the same
// whether it exists or not").
//
// Emails are unique across workspaces, so an open signup that creates the
// workspace at once must refuse an email that already has a login, and so
// tells anyone whether it has one. A confirmed signup answers every
// request alike instead: Request bcrypts the password and writes the
// request with its mail job, the same work for every address, and looks
// nothing up. The job (Mail) looks the email up and mails a single-use
// link, worded for a newcomer or for someone who already signs in; only
// whoever reads that mailbox learns which. Opening the link (Confirm)
// creates the workspace on its 7-day trial: for a newcomer with the
// password they chose, for an existing login once they sign in with it.
package signup

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Mode is how signup creates workspaces (DESKWOOT_SIGNUP).
type Mode string

// The modes. Open is the default: the workspace and its API token at
// once, and 409 for an email that has a login (rate limited per client
// address). Confirm mails a link first and answers every address alike.
const (
	Open    Mode = "open"
	Confirm Mode = "confirm"
)

// ParseMode reads DESKWOOT_SIGNUP; empty is Open.
func ParseMode(s string) (Mode, error) {
	switch Mode(strings.TrimSpace(s)) {
	case "", Open:
		return Open, nil
	case Confirm:
		return Confirm, nil
	}
	return "", fmt.Errorf("DESKWOOT_SIGNUP must be open or confirm, not %q", s)
}

// LinkTTL is how long a signup link works.
const LinkTTL = 24 * time.Hour

// TokenPrefix starts a signup link's token.
const TokenPrefix = "dw_sgn_"

// LinkPath is the console page a signup link opens, before its token.
const LinkPath = "/signup/confirm/"

// Queue enqueues, in tx, the job that mails a signup request's link
// (package mailout runs it and calls Mail).
type Queue interface {
	EnqueueSignup(ctx context.Context, tx pgx.Tx, requestID int64) error
}

// Confirmer runs email-confirmed signups.
type Confirmer struct {
	Identities *identity.Identities
	// Queue is nil until the mailer is built (Build sets it); confirmed
	// signup needs a relay.
	Queue     Queue
	PublicURL string
}

// Request records a signup that waits for its email's confirmation and
// enqueues its mail. Its work and its answer do not depend on the email:
// it validates, bcrypts the password and writes one row and one job,
// looking nothing up. Bad input is ErrInvalid and writes nothing.
func (c *Confirmer) Request(ctx context.Context, in identity.SignupInput, now time.Time) error {
	in.Email, in.Name = strings.TrimSpace(in.Email), strings.TrimSpace(in.Name)
	if err := in.Validate(); err != nil {
		return err
	}
	if len([]rune(in.Name)) > 200 {
		return fault.Invalidf("name", "name must be at most 200 characters")
	}
	if c.Queue == nil {
		return fault.New(fault.Unavailable, "", "signup needs mail, which is not set up on this server; ask its operator")
	}
	hash, err := c.Identities.HashPassword(in.Password)
	if err != nil {
		return err
	}
	return c.Identities.DB.BeforeTenant(ctx, func(tx pgx.Tx) error {
		var id int64
		if err := tx.QueryRow(ctx, `SELECT deskwoot_signup_request_add($1, $2, $3, $4, $5, $6, $7)`,
			in.Email, in.AccountName, in.Name, string(hash), rand.Text(), now, now.Add(LinkTTL)).Scan(&id); err != nil {
			return tenancy.MapError(err)
		}
		return c.Queue.EnqueueSignup(ctx, tx, id)
	})
}

// Mail is a signup request's mail, ready to send.
type Mail struct {
	To, Subject, Body string
	// MessageToken is the random part of its Message-ID, the same on
	// every try.
	MessageToken string
}

// Mail writes the mail of request id with a fresh link (the mail job
// calls it; a new link replaces the one an earlier try may have sent).
// The wording depends on whether the email already has a login: that is
// told only to the mailbox. ok is false for a request that was used or
// expired meanwhile: nothing to send.
func (c *Confirmer) Mail(ctx context.Context, id int64, now time.Time) (m Mail, ok bool, err error) {
	raw, hash, _ := identity.NewToken(TokenPrefix)
	var workspace string
	var until time.Time
	err = c.Identities.DB.Pool.QueryRow(ctx, `SELECT email, account_name, message_token, expires_at FROM deskwoot_signup_request_link($1, $2, $3)`,
		id, hash, now).Scan(&m.To, &workspace, &m.MessageToken, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return Mail{}, false, nil
	}
	if err != nil {
		return Mail{}, false, tenancy.MapError(err)
	}
	login, err := identity.LoginUser(ctx, c.Identities.DB, m.To)
	if err != nil {
		return Mail{}, false, err
	}
	link := strings.TrimRight(c.PublicURL, "/") + LinkPath + raw
	m.Subject = "Confirm your new Deskwoot workspace"
	if login == 0 {
		m.Body = fmt.Sprintf(`Someone, hopefully you, asked to create the Deskwoot workspace %q
with this email (%s).

Create it here (the link works once, until %s):

%s

Your 7-day Enterprise trial starts then, and you sign in with the
password you chose.

If you did not ask, ignore this mail: nothing is created.
`, workspace, m.To, until.UTC().Format("2006-01-02 15:04 UTC"), link)
		return m, true, nil
	}
	m.Body = fmt.Sprintf(`Someone, hopefully you, asked to create the Deskwoot workspace %q
with this email (%s).

This email already has a Deskwoot sign-in, so the new workspace will be
yours with that login: open the link, sign in with your usual password
(not one you may have typed when asking), and confirm. The link works
once, until %s:

%s

Your 7-day Enterprise trial starts then. Your other workspaces stay as
they are.

If you did not ask, ignore this mail: nothing is created, and whoever
asked was not told that this email has a sign-in.
`, workspace, m.To, until.UTC().Format("2006-01-02 15:04 UTC"), link)
	return m, true, nil
}

// View is what a signup link shows the person opening it.
type View struct {
	RequestID int64
	Email     string
	Workspace string
	// LoginUserID is the login that already has the email (0 for a
	// newcomer): the workspace becomes theirs once they sign in with it.
	LoginUserID int64
}

// ErrLinkUnknown is a signup link that is malformed, unknown, used or
// expired: the same answer for each.
var ErrLinkUnknown = fault.New(fault.NotFound, "token", "this signup link is not valid: it was used already or expired; sign up again to get a new one")

// Open resolves a signup link without spending it.
func (c *Confirmer) Open(ctx context.Context, raw string, now time.Time) (View, error) {
	v, _, err := c.open(ctx, raw, now)
	return v, err
}

func (c *Confirmer) open(ctx context.Context, raw string, now time.Time) (View, request, error) {
	hash, ok := identity.ParseToken(raw, TokenPrefix)
	if !ok {
		return View{}, request{}, ErrLinkUnknown
	}
	var r request
	var pw *string
	err := c.Identities.DB.Pool.QueryRow(ctx, `SELECT id, email, account_name, name, password_hash FROM deskwoot_signup_request_open($1, $2)`, hash, now).
		Scan(&r.id, &r.email, &r.workspace, &r.name, &pw)
	if errors.Is(err, pgx.ErrNoRows) {
		return View{}, request{}, ErrLinkUnknown
	}
	if err != nil {
		return View{}, request{}, tenancy.MapError(err)
	}
	if pw != nil {
		r.hash = []byte(*pw)
	}
	login, err := identity.LoginUser(ctx, c.Identities.DB, r.email)
	if err != nil {
		return View{}, request{}, err
	}
	return View{RequestID: r.id, Email: r.email, Workspace: r.workspace, LoginUserID: login}, r, nil
}

type request struct {
	id                     int64
	email, workspace, name string
	hash                   []byte
}

// ErrSignInFirst is a link for an email that already has a login, opened
// by someone not signed in with that login.
var ErrSignInFirst = fault.New(fault.Forbidden, "", "this email already has a Deskwoot sign-in: sign in with it, then open the link again")

// Confirm spends a signup link once and creates its workspace on the
// 7-day trial: for a newcomer, with the login they asked for; for an
// email that already has a login, with that login as admin, only when
// signedIn is that login (else ErrSignInFirst, and the link stays
// usable). A used or expired link is ErrLinkUnknown.
func (c *Confirmer) Confirm(ctx context.Context, raw string, signedIn int64, base identity.SignupInput, now time.Time) (identity.SignupResult, error) {
	v, r, err := c.open(ctx, raw, now)
	if err != nil {
		return identity.SignupResult{}, err
	}
	in := base
	in.AccountName, in.Email, in.Name = r.workspace, r.email, r.name
	// signInFirst answers a link whose email has a login and whose
	// confirmer is not signed in with it, unless a racing confirm spent the
	// link meanwhile (and so made the login): then the link is spent.
	signInFirst := func() error {
		if _, _, err := c.open(ctx, raw, now); err != nil {
			return err
		}
		return ErrSignInFirst
	}
	if v.LoginUserID != 0 {
		if signedIn != v.LoginUserID {
			return identity.SignupResult{}, signInFirst()
		}
		in.UserID = v.LoginUserID
	} else {
		if r.hash == nil {
			return identity.SignupResult{}, ErrLinkUnknown
		}
		in.PasswordHash = r.hash
	}
	in.Claim = func(ctx context.Context, tx pgx.Tx) error {
		var used bool
		if err := tx.QueryRow(ctx, `SELECT deskwoot_signup_request_use($1, $2)`, r.id, now).Scan(&used); err != nil {
			return err
		}
		if !used {
			return ErrLinkUnknown
		}
		return nil
	}
	res, err := c.Identities.Signup(ctx, in, now)
	if errors.Is(err, identity.ErrEmailTaken) {
		// A login took the email between opening and confirming: the
		// link stays, and opening it again asks that login to sign in.
		return res, signInFirst()
	}
	return res, err
}
