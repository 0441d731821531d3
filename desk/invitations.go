package desk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Invitations (DESIGN §19): an admin invites an email with a role and
// inboxes; the invitee gets a single-use link (random, only its hash
// stored, InvitationTTL) by mail, or, without a relay, the admin is shown
// it once. Opening it asks a newcomer for a name and a password; someone
// who already signs in elsewhere joins with that login after signing in.

// InvitationTTL is how long an invitation link works.
const InvitationTTL = 7 * 24 * time.Hour

// Invitation is an invitation as admins see it.
type Invitation struct {
	ID        int64     `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	InboxIDs  []int64   `json:"inbox_ids"`
	InvitedBy *int64    `json:"invited_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// Status is pending, accepted, revoked or expired.
	Status string `json:"status"`
}

// InvitationInput is what an admin gives.
type InvitationInput struct {
	Email    string
	Role     string
	InboxIDs []int64
}

// InvitationSent is a new invitation. Link is the raw link, set only when
// it was not mailed (no relay): the door shows it once and never again.
type InvitationSent struct {
	Invitation
	Mailed bool   `json:"mailed"`
	Link   string `json:"link,omitempty"`
}

const invitationColumns = `id, email, role, inbox_ids, invited_by, created_at, expires_at,
	CASE WHEN accepted_at IS NOT NULL THEN 'accepted' WHEN revoked_at IS NOT NULL THEN 'revoked'
	     WHEN expires_at <= now() THEN 'expired' ELSE 'pending' END`

// link is a page of this Deskwoot carrying a token.
func (d *Desk) link(path, token string) string {
	return strings.TrimRight(d.PublicURL, "/") + path + token
}

// InvitationCreate invites a person by email, as by (an admin): the
// invitation, its link's hash, its mail (when a relay is set) and the
// invitation.create audit row commit together. A pending invitation to
// the same email is withdrawn (the new one replaces it). Someone who is
// already a member (active or deactivated) is ErrConflict.
func (d *Desk) InvitationCreate(ctx context.Context, acct int64, in InvitationInput, by Author, now time.Time) (InvitationSent, error) {
	in.Email = strings.TrimSpace(in.Email)
	switch {
	case !identity.ValidEmail(in.Email):
		return InvitationSent{}, fault.Invalidf("email", "email must be an address like name@example.com")
	case in.Role != "admin" && in.Role != "agent":
		return InvitationSent{}, fault.Invalidf("role", "role must be admin or agent")
	case len(in.InboxIDs) > 1000:
		return InvitationSent{}, fault.Invalidf("inbox_ids", "inbox_ids lists at most 1000 inboxes")
	}
	ids := slices.Compact(slices.Sorted(slices.Values(in.InboxIDs)))
	if ids == nil {
		ids = []int64{}
	}
	var out InvitationSent
	err := d.personWrite(ctx, acct, by, "invitation.create", func(ctx context.Context, u *unit) error {
		tx := u.tx
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM inboxes WHERE id = ANY($1)`, ids).Scan(&n); err != nil {
			return err
		}
		if n != len(ids) {
			return fault.New(fault.NotFound, "inbox_ids", "an inbox in inbox_ids was not found")
		}
		var status string
		err := tx.QueryRow(ctx, `SELECT au.status FROM account_users au JOIN users u ON u.id = au.user_id
			WHERE lower(u.email) = lower($1)`, in.Email).Scan(&status)
		switch {
		case err == nil && status != identity.StatusRemoved:
			return fault.Conflictf("email", "%s is already a member of this workspace", in.Email)
		case err != nil && !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE invitations SET revoked_at = $2
			WHERE lower(email) = lower($1) AND accepted_at IS NULL AND revoked_at IS NULL`, in.Email, now); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, `INSERT INTO invitations (account_id, email, role, inbox_ids, invited_by, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+invitationColumns,
			acct, in.Email, in.Role, ids, nullID(by.UserID), now, now.Add(InvitationTTL))
		inv, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Invitation])
		if err != nil {
			return err
		}
		raw, err := identity.LinkRegister(ctx, tx, identity.LinkInvite, inv.ID)
		if err != nil {
			return err
		}
		out = InvitationSent{Invitation: inv}
		var workspace string
		if err := tx.QueryRow(ctx, `SELECT name FROM accounts WHERE id = $1`, acct).Scan(&workspace); err != nil {
			return err
		}
		mailID, err := d.mailWrite(ctx, tx, u, acct, invitationMail(inv, workspace, by.Name, d.link("/invite/", raw)))
		if err != nil {
			return err
		}
		if out.Mailed = mailID != 0; !out.Mailed {
			out.Link = d.link("/invite/", raw)
		}
		u.audit.Target = map[string]int64{"invitation_id": inv.ID}
		u.audit.Reasons = []string{"role=" + in.Role, "inboxes=" + strconv.Itoa(len(ids)), "mailed=" + strconv.FormatBool(out.Mailed)}
		return nil
	})
	return out, err
}

// invitationMail says who invites whom to what, and the link.
func invitationMail(inv Invitation, workspace, inviter, link string) MailNew {
	role := "an agent"
	if inv.Role == "admin" {
		role = "an admin"
	}
	if inviter == "" {
		inviter = "An admin"
	}
	return MailNew{Kind: MailInvitation, To: inv.Email,
		Subject: fmt.Sprintf("%s invited you to %s on Deskwoot", inviter, workspace),
		Body: fmt.Sprintf(`%s invited you to join the workspace %q on Deskwoot as %s.

Accept the invitation here (the link works once, until %s):

%s

If you did not expect this invitation, ignore this mail; nothing happens
unless the link is opened.
`, inviter, workspace, role, inv.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"), link)}
}

// InvitationList lists the pending invitations, newest first.
func (d *Desk) InvitationList(ctx context.Context, acct int64) ([]Invitation, error) {
	return all[Invitation](ctx, d.DB, tenancy.For(acct), `SELECT `+invitationColumns+` FROM invitations
		WHERE accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now() ORDER BY id DESC LIMIT 500`)
}

// InvitationRevoke withdraws a pending invitation (its link stops
// working) and audits invitation.revoke. One that is not pending is not
// found.
func (d *Desk) InvitationRevoke(ctx context.Context, acct, id int64, by Author, now time.Time) error {
	return d.personWrite(ctx, acct, by, "invitation.revoke", func(ctx context.Context, u *unit) error {
		tag, err := u.tx.Exec(ctx, `UPDATE invitations SET revoked_at = $2
			WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2`, id, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("pending invitation", id)
		}
		u.audit.Target = map[string]int64{"invitation_id": id}
		return nil
	})
}

// InvitationView is what an invitation link shows the person opening it.
type InvitationView struct {
	AccountID    int64
	InvitationID int64
	Workspace    string
	Email        string
	Role         string
	// LoginUserID is the person who already signs in with the email
	// (another workspace), 0 when no one does: they join with that login
	// after signing in, not with a new password.
	LoginUserID int64
}

// InvitationOpen resolves a link. A malformed, unknown, used, withdrawn or
// expired link is identity.ErrLinkUnknown.
func (d *Desk) InvitationOpen(ctx context.Context, raw string, now time.Time) (InvitationView, error) {
	var v InvitationView
	acct, id, err := d.linkRead(ctx, raw, identity.LinkInvite, now, `SELECT i.email, i.role, a.name FROM invitations i JOIN accounts a ON a.id = i.account_id
		WHERE i.id = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > $2`,
		func(r pgx.Row) error { return r.Scan(&v.Email, &v.Role, &v.Workspace) })
	if err != nil {
		return InvitationView{}, err
	}
	v.AccountID, v.InvitationID = acct, id
	v.LoginUserID, err = identity.LoginUser(ctx, d.DB, v.Email)
	return v, err
}

// Joined is who accepted an invitation, where.
type Joined struct {
	AccountID int64
	UserID    int64
}

// InvitationAccept lets a newcomer join with a name and a password (hash,
// from identity.Identities.HashPassword): the person, their membership and
// inboxes, and the invitation's acceptance commit with the
// invitation.accept audit row, whose actor is the new person. An email
// that signs in already must join with its login (InvitationJoin): that
// is ErrConflict.
func (d *Desk) InvitationAccept(ctx context.Context, raw, name string, hash []byte, now time.Time) (Joined, error) {
	name = strings.TrimSpace(name)
	if name == "" || len([]rune(name)) > 200 {
		return Joined{}, fault.Invalidf("name", "name must be 1 to 200 characters")
	}
	return d.invitationUse(ctx, raw, now, func(ctx context.Context, tx pgx.Tx, acct int64, inv Invitation) (int64, error) {
		u, err := identity.UserInsert(ctx, tx, acct, inv.Email, name, hash, inv.Role)
		return u.ID, err
	})
}

// InvitationJoin lets a person who already signs in (userID, signed in
// to another workspace) accept an invitation to their email with that
// login. An invitation to someone else is ErrInvalid.
func (d *Desk) InvitationJoin(ctx context.Context, raw string, userID int64, now time.Time) (Joined, error) {
	return d.invitationUse(ctx, raw, now, func(ctx context.Context, tx pgx.Tx, acct int64, inv Invitation) (int64, error) {
		owner, err := identity.LoginUser(ctx, d.DB, inv.Email)
		if err != nil {
			return 0, err
		}
		if owner != userID {
			return 0, fault.Invalidf("email", "this invitation is for %s; sign in as that person to accept it", inv.Email)
		}
		return userID, identity.MembershipJoin(ctx, tx, acct, userID, inv.Role)
	})
}

// invitationUse spends an invitation once: it locks the invitation, checks
// it is pending, lets join add the person, makes them members of the
// invitation's inboxes (those that still exist) and marks it accepted.
func (d *Desk) invitationUse(ctx context.Context, raw string, now time.Time, join func(ctx context.Context, tx pgx.Tx, acct int64, inv Invitation) (int64, error)) (Joined, error) {
	acct, id, err := identity.LinkOwner(ctx, d.DB, raw, identity.LinkInvite)
	if err != nil {
		return Joined{}, err
	}
	out := Joined{AccountID: acct}
	err = d.personWrite(ctx, acct, Author{Kind: "user"}, "invitation.accept", func(ctx context.Context, u *unit) error {
		tx := u.tx
		rows, _ := tx.Query(ctx, `SELECT `+invitationColumns+` FROM invitations
			WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2 FOR UPDATE`, id, now)
		inv, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Invitation])
		if errors.Is(err, pgx.ErrNoRows) {
			return identity.ErrLinkUnknown
		}
		if err != nil {
			return err
		}
		if out.UserID, err = join(ctx, tx, acct, inv); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO inbox_members (account_id, inbox_id, user_id)
			SELECT $1, id, $2 FROM inboxes WHERE id = ANY($3) ON CONFLICT DO NOTHING`, acct, out.UserID, inv.InboxIDs); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE invitations SET accepted_at = $2, accepted_by = $3 WHERE id = $1`, id, now, out.UserID); err != nil {
			return err
		}
		u.audit.ActorID = out.UserID
		u.audit.Target = map[string]int64{"invitation_id": id, "user_id": out.UserID}
		u.audit.Reasons = []string{"role=" + inv.Role}
		return nil
	})
	return out, err
}
