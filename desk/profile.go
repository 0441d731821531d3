package desk

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // time zones validate the same on every machine
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// A person's profile (DESIGN §19): name, email, time zone, password,
// notification choices and personal API tokens. Every change runs as a
// unit of work with its audit row, the person as actor.

// Notification kinds a person chooses in-app and email delivery for.
const (
	NotifyAssigned     = "assigned"
	NotifyEscalated    = "escalated"
	NotifyDraftWaiting = "draft_waiting"
	NotifyMentioned    = "mentioned"
	NotifyTokenPaused  = "token_paused"
)

// NotificationKinds lists the kinds in the order pages show them.
var NotificationKinds = []string{NotifyAssigned, NotifyEscalated, NotifyDraftWaiting, NotifyMentioned, NotifyTokenPaused}

// NotificationLabels names each kind as people read it.
var NotificationLabels = map[string]string{
	NotifyAssigned:     "A conversation is assigned to me",
	NotifyEscalated:    "The AI agent escalates a conversation to a person",
	NotifyDraftWaiting: "A draft waits for approval",
	NotifyMentioned:    "I am mentioned with @name in a private note",
	NotifyTokenPaused:  "An AI agent's token is suspended for being refused again and again (admins)",
}

// NotifyChoice is where one kind of notification reaches a person.
type NotifyChoice struct {
	InApp bool `json:"in_app"`
	Email bool `json:"email"`
}

// Profile is a person as they see and edit themselves.
type Profile struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	// EmailPending is a new email waiting for its confirmation link
	// (see emailchange.go).
	EmailPending  string                  `json:"email_pending,omitempty"`
	TimeZone      string                  `json:"time_zone"`
	Role          string                  `json:"role"`
	Notifications map[string]NotifyChoice `json:"notifications"`
}

// notifications fills every kind from the stored choices; a kind never
// chosen is on in-app and by email.
func notifications(raw []byte) map[string]NotifyChoice {
	stored := map[string]NotifyChoice{}
	json.Unmarshal(raw, &stored)
	out := make(map[string]NotifyChoice, len(NotificationKinds))
	for _, k := range NotificationKinds {
		c, ok := stored[k]
		if !ok {
			c = NotifyChoice{InApp: true, Email: true}
		}
		out[k] = c
	}
	return out
}

const profileSQL = `SELECT u.id, u.name, coalesce(u.email, ''), coalesce((SELECT e.new_email FROM email_changes e
		WHERE e.user_id = u.id AND e.used_at IS NULL AND e.expires_at > now() ORDER BY e.id DESC LIMIT 1), ''),
	coalesce(u.time_zone, 'UTC'), au.role, au.notify
	FROM users u JOIN account_users au ON au.user_id = u.id WHERE u.id = $1`

func scanProfile(r pgx.Row, p *Profile) error {
	var notify []byte
	if err := r.Scan(&p.ID, &p.Name, &p.Email, &p.EmailPending, &p.TimeZone, &p.Role, &notify); err != nil {
		return err
	}
	p.Notifications = notifications(notify)
	return nil
}

// ProfileGet reads a member's profile in the account.
func (d *Desk) ProfileGet(ctx context.Context, acct, userID int64) (Profile, error) {
	var p Profile
	b := &pgx.Batch{}
	b.Queue(profileSQL, userID).QueryRow(func(r pgx.Row) error { return scanProfile(r, &p) })
	err := d.DB.Batch(ctx, acct, b)
	return p, withKind(err, "user", userID)
}

// ProfilePatch is what a person changes about themselves; nil leaves a
// field alone. Changing the email or the password needs the current
// password. NewPassword is the new password's hash
// (identity.Identities.HashPassword).
type ProfilePatch struct {
	Name            *string
	Email           *string
	TimeZone        *string
	CurrentPassword string
	NewPassword     []byte
	Notifications   map[string]NotifyChoice
}

// ValidTimeZone checks an IANA time zone name such as Europe/Paris.
func ValidTimeZone(tz string) error {
	if tz == "" || tz == "Local" || len(tz) > 64 {
		return fault.Invalidf("time_zone", "time_zone must be an IANA time zone name such as Europe/Paris or UTC")
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return fault.Invalidf("time_zone", "time_zone %q is not a known IANA time zone; give a name such as Europe/Paris or UTC", tz)
	}
	return nil
}

// TimeZoneFromBrowser sets a person's time zone to the one their browser
// reported at sign-in, unless they have one already (chosen on their
// profile, or taken from a browser before). A name that is not a known
// IANA zone is ignored: it is a hint, not something the person typed.
func (d *Desk) TimeZoneFromBrowser(ctx context.Context, acct, userID int64, tz string) error {
	if ValidTimeZone(tz) != nil {
		return nil
	}
	b := &pgx.Batch{}
	b.Queue(`UPDATE users SET time_zone = $2 WHERE id = $1 AND time_zone IS NULL`, userID, tz)
	return d.DB.Batch(ctx, acct, b)
}

func (p ProfilePatch) validate() error {
	switch {
	case p.Name == nil && p.Email == nil && p.TimeZone == nil && p.NewPassword == nil && p.Notifications == nil:
		return fault.Invalidf("", "nothing to change; give name, email, time_zone, new_password or notifications")
	case p.Name != nil && (strings.TrimSpace(*p.Name) == "" || utf8.RuneCountInString(*p.Name) > 200):
		return fault.Invalidf("name", "name must be 1 to 200 characters")
	case p.Email != nil && !identity.ValidEmail(strings.TrimSpace(*p.Email)):
		return fault.Invalidf("email", "email must be an address like name@example.com")
	case (p.Email != nil || p.NewPassword != nil) && p.CurrentPassword == "":
		return fault.Invalidf("current_password", "current_password must be given to change the email or the password")
	}
	if p.TimeZone != nil {
		if err := ValidTimeZone(*p.TimeZone); err != nil {
			return err
		}
	}
	for k := range p.Notifications {
		if !slices.Contains(NotificationKinds, k) {
			return fault.Invalidf("notifications", "notifications has no kind %q; the kinds are %s", k, strings.Join(NotificationKinds, ", "))
		}
	}
	return nil
}

// ProfileChange applies a person's change to themselves, audited as
// profile.update with what changed. A new password ends the person's
// other sessions in every workspace (keepSession, the session that asked,
// lives on; 0 when the change came with a token), and not their tokens. A
// wrong current password is ErrInvalid and changes nothing; an email
// another person signs in with is ErrConflict.
func (d *Desk) ProfileChange(ctx context.Context, acct int64, by Author, keepSession int64, p ProfilePatch) (Profile, error) {
	if err := p.validate(); err != nil {
		return Profile{}, err
	}
	var out Profile
	err := d.personWrite(ctx, acct, by, "profile.update", func(ctx context.Context, u *unit) error {
		tx, id := u.tx, by.UserID
		var reasons []string
		if p.CurrentPassword != "" {
			hash, err := identity.UserPasswordHash(ctx, tx, id)
			if err != nil {
				return err
			}
			if hash == "" || !identity.PasswordMatches(hash, p.CurrentPassword) {
				return fault.Invalidf("current_password", "current_password must be your current password; it does not match")
			}
		}
		// With a relay, a new email waits for its link (emailchange.go),
		// so that this answer is the same whether or not the address is
		// taken.
		email, pending := trimmed(p.Email), false
		if email != nil && d.Mail != nil {
			var cur string
			if err := tx.QueryRow(ctx, `SELECT coalesce(email, '') FROM users WHERE id = $1`, id).Scan(&cur); err != nil {
				return err
			}
			if !strings.EqualFold(cur, *email) {
				if err := d.emailChangeStart(ctx, u, acct, id, *email, d.now()); err != nil {
					return err
				}
				pending = true
			}
			email = nil
		}
		if p.Name != nil || email != nil || p.TimeZone != nil {
			if _, err := tx.Exec(ctx, `UPDATE users SET name = coalesce($2, name), email = coalesce($3, email), time_zone = coalesce($4, time_zone)
				WHERE id = $1`, id, trimmed(p.Name), email, p.TimeZone); err != nil {
				return identity.EmailTakenError(err)
			}
		}
		for name, set := range map[string]bool{"name": p.Name != nil, "email": email != nil, "email_pending": pending, "time_zone": p.TimeZone != nil} {
			if set {
				reasons = append(reasons, "changed="+name)
			}
		}
		if p.NewPassword != nil {
			if err := identity.PasswordSet(ctx, tx, id, p.NewPassword, false, keepSession); err != nil {
				return err
			}
			reasons = append(reasons, "changed=password")
		}
		if p.Notifications != nil {
			b, _ := json.Marshal(p.Notifications)
			if _, err := tx.Exec(ctx, `UPDATE account_users SET notify = notify || $2::jsonb WHERE user_id = $1`, id, b); err != nil {
				return err
			}
			reasons = append(reasons, "changed=notifications")
		}
		slices.Sort(reasons)
		u.audit.Target, u.audit.Reasons = map[string]int64{"user_id": id}, reasons
		return scanProfile(tx.QueryRow(ctx, profileSQL, id), &out)
	})
	return out, err
}

func trimmed(s *string) *string {
	if s == nil {
		return nil
	}
	t := strings.TrimSpace(*s)
	return &t
}

// PersonalTokenList lists a person's live personal API tokens.
func (d *Desk) PersonalTokenList(ctx context.Context, acct, userID int64) ([]identity.PersonalToken, error) {
	return all[identity.PersonalToken](ctx, d.DB, tenancy.For(acct), identity.PersonalTokenListSQL, userID)
}

// PersonalTokenCreate mints a personal API token for REST, named name,
// and audits profile.token.create. The raw token is returned once.
func (d *Desk) PersonalTokenCreate(ctx context.Context, acct int64, by Author, name string) (identity.PersonalToken, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 {
		return identity.PersonalToken{}, "", fault.Invalidf("name", "name must be 1 to 100 characters")
	}
	var t identity.PersonalToken
	var raw string
	err := d.personWrite(ctx, acct, by, "profile.token.create", func(ctx context.Context, u *unit) error {
		var err error
		if t, raw, err = identity.PersonalTokenInsert(ctx, u.tx, acct, by.UserID, name); err != nil {
			return err
		}
		u.audit.Target = map[string]int64{"user_id": by.UserID, "user_token_id": t.ID}
		return nil
	})
	return t, raw, err
}

// PersonalTokenRevoke revokes one of the person's own tokens (another's,
// or one revoked already, is not found) and audits profile.token.revoke.
func (d *Desk) PersonalTokenRevoke(ctx context.Context, acct int64, by Author, id int64, now time.Time) error {
	return d.personWrite(ctx, acct, by, "profile.token.revoke", func(ctx context.Context, u *unit) error {
		tag, err := u.tx.Exec(ctx, `UPDATE user_api_tokens SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`, id, by.UserID, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("token", id)
		}
		u.audit.Target = map[string]int64{"user_id": by.UserID, "user_token_id": id}
		return nil
	})
}
