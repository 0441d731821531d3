package identity

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/crypto/bcrypt"

	"github.com/deskwoot/deskwoot/auditrow"
	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/tenancy"
	"github.com/deskwoot/deskwoot/trial"
)

// Account is a tenant and its plan state.
type Account struct {
	ID                 int64      `json:"id"`
	Name               string     `json:"name"`
	Plan               string     `json:"plan"`
	SubscriptionStatus string     `json:"subscription_status"`
	TrialEndsAt        *time.Time `json:"trial_ends_at"`
	GraceEndsAt        *time.Time `json:"grace_ends_at"`
	MCPEnabled         bool       `json:"mcp_enabled"`
	ServiceUserID      *int64     `json:"service_user_id"`
	CreatedAt          time.Time  `json:"created_at"`
}

// User is a member of an account: a person or the agent service account.
type User struct {
	ID    int64  `json:"id"`
	Kind  string `json:"kind"`
	Email string `json:"email,omitempty"`
	Name  string `json:"name"`
	Role  string `json:"role"`
	// Status is the membership's: active, deactivated or removed.
	Status string `json:"status"`
}

// Membership states.
const (
	StatusActive      = "active"
	StatusDeactivated = "deactivated"
	StatusRemoved     = "removed"
)

// SignupInput is what a new workspace admin gives.
type SignupInput struct {
	AccountName string
	Email       string
	Name        string
	Password    string
	// NoAPIToken skips the API token (the console signs people in with a
	// session instead, and a token nobody is shown is only a liability).
	NoAPIToken bool
	// Audit, when set, is the row that records the signup: it commits with
	// the new account, in it, with the new admin as its actor.
	Audit *auditrow.Entry

	// An email-confirmed signup (package signup) gives what its request
	// kept instead of a password: PasswordHash, the bcrypt hash made when
	// it was asked for, or UserID, the login that already has the email
	// (it becomes the new workspace's admin; Email, Name and the password
	// are then not used). Claim runs first in the transaction: it spends
	// the request, so that the workspace and the spending commit together.
	PasswordHash []byte
	UserID       int64
	Claim        func(ctx context.Context, tx pgx.Tx) error
}

// SignupResult carries the raw API token, shown once.
type SignupResult struct {
	Account  Account
	User     User
	APIToken string
}

// Identities creates and authenticates the people of accounts.
type Identities struct {
	DB *tenancy.DB
	// PasswordCost is the bcrypt cost (bcrypt.DefaultCost when 0).
	PasswordCost int
}

const accountColumns = `id, name, plan, subscription_status, trial_ends_at, grace_ends_at, mcp_enabled, service_user_id, created_at`

// Validate checks the signup fields before anything is written.
func (in SignupInput) Validate() error {
	switch {
	case strings.TrimSpace(in.AccountName) == "" || len(in.AccountName) > 200:
		return fault.Invalidf("account_name", "account_name must be 1 to 200 characters")
	case !validEmail(in.Email):
		return fault.Invalidf("email", "email must be an address like name@example.com")
	case in.PasswordHash == nil && in.UserID == 0 && (len(in.Password) < 8 || len(in.Password) > 72):
		return fault.Invalidf("password", "password must be 8 to 72 characters")
	}
	return nil
}

func validEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return len(s) <= 254 && at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n<>,;") &&
		strings.Contains(s[at:], ".")
}

// Signup creates an account on a 7-day Enterprise trial, its first admin and
// that admin's API token, all in one transaction. A taken email is
// ErrEmailTaken. The account id is drawn first so that the tenant can be set
// before any tenant row is written.
func (ids *Identities) Signup(ctx context.Context, in SignupInput, now time.Time) (SignupResult, error) {
	if err := in.Validate(); err != nil {
		return SignupResult{}, err
	}
	hash := in.PasswordHash
	if hash == nil && in.UserID == 0 {
		var err error
		if hash, err = bcrypt.GenerateFromPassword([]byte(in.Password), ids.cost()); err != nil {
			return SignupResult{}, err
		}
	}
	name := in.Name
	if name == "" {
		name = in.Email[:strings.IndexByte(in.Email, '@')]
	}
	// The account id is drawn before the tenant's transaction begins, so
	// that the transaction enters the new tenant like any other.
	var acct int64
	if err := ids.DB.Pool.QueryRow(ctx, `SELECT nextval('accounts_id_seq')`).Scan(&acct); err != nil {
		return SignupResult{}, tenancy.MapError(err)
	}
	req := tenancy.For(acct)
	if in.Audit != nil {
		req = tenancy.Recorded(acct, *in.Audit)
	}
	var res SignupResult
	err := ids.DB.Unit(ctx, req, nil, func(tx pgx.Tx) (*pgx.Batch, error) {
		if in.Claim != nil {
			if err := in.Claim(ctx, tx); err != nil {
				return nil, err
			}
		}
		trialEnds := now.Add(trial.Length)
		row, err := tx.Query(ctx, `INSERT INTO accounts (id, name, plan, subscription_status, trial_ends_at)
			VALUES ($1, $2, 'enterprise', 'trialing', $3) RETURNING `+accountColumns, acct, in.AccountName, trialEnds)
		if err != nil {
			return nil, err
		}
		if res.Account, err = pgx.CollectExactlyOneRow(row, pgx.RowToStructByPos[Account]); err != nil {
			return nil, err
		}
		if in.UserID != 0 {
			res.User, err = adminJoin(ctx, tx, acct, in.UserID)
		} else {
			res.User, err = createUser(ctx, tx, acct, "human", in.Email, name, hash, "admin")
		}
		if err != nil {
			return nil, err
		}
		if !in.NoAPIToken {
			if res.APIToken, err = createUserToken(ctx, tx, acct, res.User.ID); err != nil {
				return nil, err
			}
		}
		if req.Audit != nil {
			req.Audit.ActorKind, req.Audit.ActorID = "user", res.User.ID
		}
		return nil, nil
	})
	return res, emailTaken(tenancy.MapError(err))
}

// ErrEmailTaken is a signup or invitation with an email that already
// belongs to someone (emails are unique across accounts).
var ErrEmailTaken = fault.Conflictf("email", "an account with this email already exists; sign in instead")

func emailTaken(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.ConstraintName == "users_email_key" {
		return ErrEmailTaken
	}
	return err
}

// UserCreate adds a human member (an admin or agent with a password) to the
// request's account, with the request's audit row naming the new user. A
// taken email is tenancy.ErrConflict.
func (ids *Identities) UserCreate(ctx context.Context, req *tenancy.Request, email, name, password, role string) (User, string, error) {
	if !validEmail(email) {
		return User{}, "", fault.Invalidf("email", "email must be an address like name@example.com")
	}
	if len(password) < 8 || len(password) > 72 {
		return User{}, "", fault.Invalidf("password", "password must be 8 to 72 characters")
	}
	if role != "admin" && role != "agent" {
		return User{}, "", fault.Invalidf("role", "role must be admin or agent")
	}
	if strings.TrimSpace(name) == "" {
		name = email[:strings.IndexByte(email, '@')]
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), ids.cost())
	if err != nil {
		return User{}, "", err
	}
	var u User
	var token string
	err = ids.DB.Unit(ctx, req, nil, func(tx pgx.Tx) (*pgx.Batch, error) {
		var err error
		if u, err = createUser(ctx, tx, req.AccountID, "human", email, name, hash, role); err != nil {
			return nil, err
		}
		req.Audit.Touched("user_id", u.ID)
		token, err = createUserToken(ctx, tx, req.AccountID, u.ID)
		return nil, err
	})
	return u, token, emailTaken(err)
}

// adminJoin makes an existing login the admin of the new account acct
// (the current tenant) and reads them back as its member.
func adminJoin(ctx context.Context, tx pgx.Tx, acct, userID int64) (User, error) {
	if err := MembershipJoin(ctx, tx, acct, userID, "admin"); err != nil {
		return User{}, err
	}
	u := User{ID: userID, Role: "admin", Status: StatusActive}
	err := tx.QueryRow(ctx, `SELECT kind, coalesce(email, ''), name FROM users WHERE id = $1`, userID).Scan(&u.Kind, &u.Email, &u.Name)
	return u, tenancy.MapError(err)
}

func (ids *Identities) cost() int {
	if ids.PasswordCost == 0 {
		return bcrypt.DefaultCost
	}
	return ids.PasswordCost
}

// createUser inserts an identity and its membership. The id is drawn first:
// the users row is readable only once the membership exists, so INSERT …
// RETURNING could not read it back.
func createUser(ctx context.Context, tx pgx.Tx, acct int64, kind, email, name string, hash []byte, role string) (User, error) {
	u := User{Kind: kind, Email: email, Name: name, Role: role, Status: StatusActive}
	if err := tx.QueryRow(ctx, `SELECT nextval('users_id_seq')`).Scan(&u.ID); err != nil {
		return u, err
	}
	var emailArg any
	if email != "" {
		emailArg = email
	}
	if _, err := tx.Exec(ctx, `INSERT INTO users (id, kind, email, name, password_hash) VALUES ($1, $2, $3, $4, $5)`,
		u.ID, kind, emailArg, name, nilIfEmpty(hash)); err != nil {
		return u, tenancy.MapError(err, tenancy.Fields{"email": email})
	}
	_, err := tx.Exec(ctx, `INSERT INTO account_users (account_id, user_id, role) VALUES ($1, $2, $3)`, acct, u.ID, role)
	return u, err
}

func nilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

func createUserToken(ctx context.Context, tx pgx.Tx, acct, userID int64) (string, error) {
	raw, hash, display := NewToken(UserTokenPrefix)
	var id int64
	if err := tx.QueryRow(ctx, `INSERT INTO user_api_tokens (account_id, user_id, prefix, user_epoch)
		VALUES ($1, $2, $3, (SELECT token_epoch FROM users WHERE id = $2)) RETURNING id`,
		acct, userID, display).Scan(&id); err != nil {
		return "", err
	}
	_, err := tx.Exec(ctx, `SELECT deskwoot_token_register($1, 'user', $2)`, hash, id)
	return raw, err
}

// AccountGet reads the account.
func AccountGet(ctx context.Context, db *tenancy.DB, accountID int64) (Account, error) {
	var a Account
	b := &pgx.Batch{}
	b.Queue(`SELECT `+accountColumns+` FROM accounts WHERE id = $1`, accountID).QueryRow(func(r pgx.Row) error {
		return r.Scan(&a.ID, &a.Name, &a.Plan, &a.SubscriptionStatus, &a.TrialEndsAt, &a.GraceEndsAt, &a.MCPEnabled, &a.ServiceUserID, &a.CreatedAt)
	})
	return a, db.Batch(ctx, accountID, b)
}

// UserPrincipal is who a user API token speaks for.
type UserPrincipal struct {
	AccountID int64
	UserID    int64
	TokenID   int64
	Role      string
	Name      string
	// SessionID is the console session behind the request (0 for a token).
	SessionID int64
	// TimeZone is the person's IANA time zone as a console session reads
	// it; empty when they never chose one (the console shows UTC).
	TimeZone string
	// Horizon is the oldest transaction still running when a console
	// session was read (pg_snapshot_xmin), read in the same round trip: the
	// events feed's position before the request read anything else, where
	// its page's live stream starts (desk.EventCursorAt).
	Horizon uint64
}

// ErrUnauthenticated is a missing, malformed, unknown or revoked credential.
var ErrUnauthenticated = fault.ErrUnauthenticated

// AuthenticateUser resolves a user API token in one round trip: the fence
// sets the tenant from the token's hash (through the narrow SECURITY
// DEFINER look-up, tenancy.DB.Resolve), and the token is read under RLS. A
// token of a deactivated or removed member, or of an earlier epoch (a
// password reset since), is refused like a revoked one, on every replica.
func AuthenticateUser(ctx context.Context, db *tenancy.DB, raw string) (UserPrincipal, error) {
	hash, ok := ParseToken(raw, UserTokenPrefix)
	if !ok {
		return UserPrincipal{}, fault.New(fault.Unauthenticated, "", "malformed token")
	}
	var p UserPrincipal
	b := &pgx.Batch{}
	b.Queue(`SELECT t.account_id, t.user_id, t.id, au.role, u.name
		FROM user_api_tokens t
		JOIN account_users au ON au.account_id = t.account_id AND au.user_id = t.user_id
		JOIN users u ON u.id = t.user_id
		WHERE t.id = (SELECT token_id FROM deskwoot_token_owner($1, 'user')) AND t.revoked_at IS NULL
			AND au.status = 'active' AND t.user_epoch = u.token_epoch`, hash).
		QueryRow(func(r pgx.Row) error { return r.Scan(&p.AccountID, &p.UserID, &p.TokenID, &p.Role, &p.Name) })
	err := db.Resolve(ctx, `SELECT account_id FROM deskwoot_token_owner($1, 'user')`, []any{hash}, b)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, fault.New(fault.Unauthenticated, "", "unknown or revoked token")
	}
	return p, tenancy.MapError(err)
}

// UserList lists the account's members, people and the agent, with their
// status; removed people too (the audit log still names them).
func UserList(ctx context.Context, db *tenancy.DB, accountID int64) ([]User, error) {
	var users []User
	err := db.InTenant(ctx, accountID, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT u.id, u.kind, coalesce(u.email, ''), u.name, au.role, au.status
			FROM account_users au JOIN users u ON u.id = au.user_id ORDER BY u.id`)
		var err error
		users, err = pgx.CollectRows(rows, pgx.RowToStructByPos[User])
		return err
	})
	return users, err
}

// State is the account's plan state as the MCP gate and the entitlement
// read it.
func (a Account) State() policy.Account {
	return policy.Account{Plan: a.Plan, Status: a.SubscriptionStatus, TrialEndsAt: a.TrialEndsAt, GraceEndsAt: a.GraceEndsAt, MCPEnabled: a.MCPEnabled}
}
