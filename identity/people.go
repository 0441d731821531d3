package identity

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/tenancy"
)

// What people's identities need beyond sign-up and sign-in (DESIGN §19):
// the links that invite them and reset their passwords, their workspaces,
// their passwords and epochs. The writes that an admin or the person makes
// run in desk's unit of work with their audit rows; the statements here
// take its transaction.

// Link token prefixes: an invitation link, a password-reset link and an
// email-change link. Like API tokens they carry 256 random bits and a
// checksum, and only their SHA-256 is stored.
const (
	InviteTokenPrefix = "dw_inv_"
	ResetTokenPrefix  = "dw_rst_"
	EmailTokenPrefix  = "dw_eml_"
)

// Link kinds in the token look-up.
const (
	LinkInvite = "invite"
	LinkReset  = "reset"
	LinkEmail  = "email"
)

// linkPrefix is the token prefix of a link kind.
func linkPrefix(kind string) string {
	switch kind {
	case LinkReset:
		return ResetTokenPrefix
	case LinkEmail:
		return EmailTokenPrefix
	}
	return InviteTokenPrefix
}

// ErrLinkUnknown is a link token that is malformed, unknown, used, revoked
// or expired: the same answer for each.
var ErrLinkUnknown = fault.New(fault.NotFound, "token", "this link is not valid: it was used already, expired or was withdrawn; ask for a new one")

// ValidEmail says whether s looks like an address (name@example.com).
func ValidEmail(s string) bool { return validEmail(s) }

// ValidPassword checks a new password's length.
func ValidPassword(pw string) error {
	if len(pw) < 8 || len(pw) > 72 {
		return fault.Invalidf("password", "password must be 8 to 72 characters")
	}
	return nil
}

// HashPassword checks a new password and returns its bcrypt hash.
func (ids *Identities) HashPassword(pw string) ([]byte, error) {
	if err := ValidPassword(pw); err != nil {
		return nil, err
	}
	return bcrypt.GenerateFromPassword([]byte(pw), ids.cost())
}

// PasswordMatches compares a password with a stored hash.
func PasswordMatches(hash, pw string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// LinkRegister records the hash of a new link token for a row of the
// current tenant (an invitation or a password reset) and returns the raw
// token, which only the link carries.
func LinkRegister(ctx context.Context, tx pgx.Tx, kind string, id int64) (string, error) {
	prefix := linkPrefix(kind)
	raw, hash, _ := NewToken(prefix)
	_, err := tx.Exec(ctx, `SELECT deskwoot_token_register($1, $2, $3)`, hash, kind, id)
	return raw, err
}

// LinkOwner resolves a link token to its account and row id through the
// narrow SECURITY DEFINER look-up. Anything that is not a live link of
// that kind is ErrLinkUnknown; whether the row is still usable is for the
// caller to check under the tenant.
func LinkOwner(ctx context.Context, db *tenancy.DB, raw, kind string) (accountID, id int64, err error) {
	prefix := linkPrefix(kind)
	hash, ok := ParseToken(raw, prefix)
	if !ok {
		return 0, 0, ErrLinkUnknown
	}
	err = db.Pool.QueryRow(ctx, `SELECT account_id, token_id FROM deskwoot_token_owner($1, $2)`, hash, kind).Scan(&accountID, &id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, ErrLinkUnknown
	}
	return accountID, id, tenancy.MapError(err)
}

// LoginUser returns the person who signs in with email, if anyone does (0
// when no one).
func LoginUser(ctx context.Context, db *tenancy.DB, email string) (int64, error) {
	var id *int64
	if err := db.Pool.QueryRow(ctx, `SELECT deskwoot_login_user($1)`, strings.TrimSpace(email)).Scan(&id); err != nil {
		return 0, tenancy.MapError(err)
	}
	if id == nil {
		return 0, nil
	}
	return *id, nil
}

// Workspace is one of a person's workspaces.
type Workspace struct {
	AccountID int64  `json:"account_id"`
	Name      string `json:"name"`
	Role      string `json:"role"`
}

// Workspaces lists the workspaces a person is an active member of, by
// name, oldest first.
func Workspaces(ctx context.Context, db *tenancy.DB, userID int64) ([]Workspace, error) {
	rows, _ := db.Pool.Query(ctx, `SELECT account_id, '', role FROM deskwoot_memberships($1)`, userID)
	ws, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Workspace])
	if err != nil {
		return nil, tenancy.MapError(err)
	}
	for i := range ws {
		a, err := AccountGet(ctx, db, ws[i].AccountID)
		if err != nil {
			return nil, err
		}
		ws[i].Name = a.Name
	}
	return ws, nil
}

// UserInsert adds a person (or the service account) and their membership
// of the current tenant in tx. A taken email is ErrEmailTaken.
func UserInsert(ctx context.Context, tx pgx.Tx, acct int64, email, name string, hash []byte, role string) (User, error) {
	u, err := createUser(ctx, tx, acct, "human", email, name, hash, role)
	return u, emailTaken(tenancy.MapError(err))
}

// MembershipJoin makes an existing person an active member of the current
// tenant with role: a new membership, or a removed one brought back.
// A person who is already an active or deactivated member is tenancy.ErrConflict.
func MembershipJoin(ctx context.Context, tx pgx.Tx, acct, userID int64, role string) error {
	tag, err := tx.Exec(ctx, `INSERT INTO account_users (account_id, user_id, role) VALUES ($1, $2, $3)
		ON CONFLICT (account_id, user_id) DO UPDATE SET role = excluded.role, status = 'active'
		WHERE account_users.status = 'removed'`, acct, userID, role)
	if err != nil {
		return tenancy.MapError(err)
	}
	if tag.RowsAffected() == 0 {
		return fault.Conflictf("email", "you are already a member of this workspace")
	}
	return nil
}

// PasswordSet gives a person a new password hash and moves their epochs
// on: every session ends (endTokens: and every personal token). keep, when
// not zero, is a session of the current tenant that lives on in the new
// epoch (the one that changed the password).
func PasswordSet(ctx context.Context, tx pgx.Tx, userID int64, hash []byte, endTokens bool, keep int64) error {
	tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, session_epoch = session_epoch + 1,
			token_epoch = token_epoch + CASE WHEN $3 THEN 1 ELSE 0 END
		WHERE id = $1`, userID, string(hash), endTokens)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fault.NotFoundf("user %d not found", userID)
	}
	if keep != 0 {
		_, err = tx.Exec(ctx, `UPDATE console_sessions SET user_epoch = (SELECT session_epoch FROM users WHERE id = $1)
			WHERE id = $2 AND user_id = $1`, userID, keep)
	}
	return err
}

// SessionsEnd ends a member's sessions and revokes their personal tokens
// in the current tenant (deactivation, removal). The look-ups refuse them
// already by the membership's status; this makes it last.
func SessionsEnd(ctx context.Context, tx pgx.Tx, userID int64, now time.Time) error {
	if _, err := tx.Exec(ctx, `UPDATE console_sessions SET ended_at = $2 WHERE user_id = $1 AND ended_at IS NULL`, userID, now); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE user_api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`, userID, now)
	return err
}

// UserPasswordHash reads a member's password hash in the current tenant.
func UserPasswordHash(ctx context.Context, tx pgx.Tx, userID int64) (string, error) {
	var h *string
	if err := tx.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, userID).Scan(&h); err != nil {
		return "", tenancy.MapError(err)
	}
	if h == nil {
		return "", nil
	}
	return *h, nil
}

// PersonalToken is a person's REST token (dw_usr_…) as its owner sees it:
// never its secret, which is shown once at creation.
type PersonalToken struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// PersonalTokenInsert mints a personal API token named name for a member
// of the current tenant and returns it with its raw secret (shown once;
// only its SHA-256 is kept).
func PersonalTokenInsert(ctx context.Context, tx pgx.Tx, acct, userID int64, name string) (PersonalToken, string, error) {
	raw, hash, display := NewToken(UserTokenPrefix)
	rows, _ := tx.Query(ctx, `INSERT INTO user_api_tokens (account_id, user_id, name, prefix, user_epoch)
		VALUES ($1, $2, $3, $4, (SELECT token_epoch FROM users WHERE id = $2))
		RETURNING id, name, prefix, created_at, last_used_at`, acct, userID, name, display)
	t, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[PersonalToken])
	if err != nil {
		return t, "", err
	}
	_, err = tx.Exec(ctx, `SELECT deskwoot_token_register($1, 'user', $2)`, hash, t.ID)
	return t, raw, err
}

// PersonalTokenListSQL lists a person's live tokens ($1): unrevoked and of
// their current epoch.
const PersonalTokenListSQL = `SELECT t.id, t.name, t.prefix, t.created_at, t.last_used_at
	FROM user_api_tokens t JOIN users u ON u.id = t.user_id
	WHERE t.user_id = $1 AND t.revoked_at IS NULL AND t.user_epoch = u.token_epoch ORDER BY t.id DESC`

// EmailTakenError maps a failed write of a person's email: a taken one is
// ErrEmailTaken.
func EmailTakenError(err error) error { return emailTaken(tenancy.MapError(err)) }

// LoginAccounts returns who signs in with email and the workspaces they
// are an active member of, oldest first (0 and none when no one does).
func LoginAccounts(ctx context.Context, db *tenancy.DB, email string) (userID int64, accounts []int64, err error) {
	rows, _ := db.Pool.Query(ctx, `SELECT user_id, account_id FROM deskwoot_login($1)`, strings.TrimSpace(email))
	type m struct{ UserID, AccountID int64 }
	ms, err := pgx.CollectRows(rows, pgx.RowToStructByPos[m])
	if err != nil || len(ms) == 0 {
		return 0, nil, tenancy.MapError(err)
	}
	for _, x := range ms {
		accounts = append(accounts, x.AccountID)
	}
	return ms[0].UserID, accounts, nil
}
