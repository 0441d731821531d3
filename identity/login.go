package identity

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/deskwoot/deskwoot/auditrow"
	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/tenancy"
)

// dummyHash is compared against when the email is unknown, so that a wrong
// email costs the same time as a wrong password. Made on first use.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("deskwoot-no-such-user"), bcrypt.DefaultCost)
	return h
})

// LoginResult is a new API token for a person who signed in.
type LoginResult struct {
	Account  Account
	User     User
	APIToken string
}

// ErrBadCredentials is a wrong email or password (never which of the two).
var ErrBadCredentials = fault.New(fault.Unauthenticated, "", "email or password is wrong")

// Login checks a person's email and password and mints a new user API token
// in one of their accounts: accountID when given (it must be one of theirs),
// else their only one. rec, when given, is the row that records the sign-in:
// it commits with the token, in that account, with the person as actor.
func (ids *Identities) Login(ctx context.Context, email, password string, accountID int64, rec *auditrow.Entry) (LoginResult, error) {
	var res LoginResult
	err := ids.checkPassword(ctx, email, password, accountID, rec, func(tx pgx.Tx, a Account, u User) error {
		res.Account, res.User = a, u
		var err error
		res.APIToken, err = createUserToken(ctx, tx, a.ID, u.ID)
		return err
	})
	return res, err
}

// CheckPassword checks a person's email and password and returns the
// account (accountID when given, else their only one) and the person as a
// member of it. Nothing is written.
func (ids *Identities) CheckPassword(ctx context.Context, email, password string, accountID int64) (Account, User, error) {
	var acct Account
	var user User
	err := ids.checkPassword(ctx, email, password, accountID, nil, func(_ pgx.Tx, a Account, u User) error {
		acct, user = a, u
		return nil
	})
	return acct, user, err
}

// SignIn checks a person's email and password for the console and
// returns their first workspace (the oldest) and how many they have; with
// several, the console offers a chooser once signed in. Nothing is
// written.
func (ids *Identities) SignIn(ctx context.Context, email, password string) (Account, User, int, error) {
	var acct Account
	var user User
	n := 0
	err := ids.checkPassword(ctx, email, password, anyAccount, nil, func(_ pgx.Tx, a Account, u User) error {
		acct, user = a, u
		return nil
	}, &n)
	return acct, user, n, err
}

// anyAccount asks checkPassword for the person's first account.
const anyAccount = -1

// checkPassword resolves the membership and runs then inside the chosen
// account's tenant transaction, which commits rec (when given) with the
// person as its actor; count, when given, receives how many accounts the
// person belongs to.
func (ids *Identities) checkPassword(ctx context.Context, email, password string, accountID int64, rec *auditrow.Entry, then func(tx pgx.Tx, a Account, u User) error, count ...*int) error {
	type membership struct {
		UserID  int64
		Hash    string
		Account int64
		Role    string
	}
	rows, _ := ids.DB.Pool.Query(ctx, `SELECT user_id, password_hash, account_id, role FROM deskwoot_login($1)`, strings.TrimSpace(email))
	ms, err := pgx.CollectRows(rows, pgx.RowToStructByPos[membership])
	if err != nil {
		return tenancy.MapError(err)
	}
	hash := dummyHash()
	if len(ms) > 0 {
		hash = []byte(ms[0].Hash)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || len(ms) == 0 {
		return ErrBadCredentials
	}
	for _, c := range count {
		*c = len(ms)
	}
	pick := -1
	switch {
	case accountID == anyAccount:
		pick = 0
	case accountID != 0:
		pick = slices.IndexFunc(ms, func(m membership) bool { return m.Account == accountID })
		if pick < 0 {
			return fault.Invalidf("account_id", "you are not a member of account %d", accountID)
		}
	case len(ms) == 1:
		pick = 0
	default:
		accts := make([]string, len(ms))
		for i, m := range ms {
			accts[i] = fmt.Sprint(m.Account)
		}
		return fault.Invalidf("account_id", "you belong to several accounts; give account_id (one of %s)", strings.Join(accts, ", "))
	}
	m := ms[pick]
	req := tenancy.For(m.Account)
	if rec != nil {
		req = tenancy.Recorded(m.Account, *rec)
	}
	return ids.DB.Unit(ctx, req, nil, func(tx pgx.Tx) (*pgx.Batch, error) {
		rows, _ := tx.Query(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1`, m.Account)
		a, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Account])
		if err != nil {
			return nil, err
		}
		u := User{ID: m.UserID, Kind: "human", Role: m.Role, Status: StatusActive}
		if err := tx.QueryRow(ctx, `SELECT coalesce(email, ''), name FROM users WHERE id = $1`, m.UserID).Scan(&u.Email, &u.Name); err != nil {
			return nil, err
		}
		if req.Audit != nil {
			req.Audit.ActorKind, req.Audit.ActorID = "user", u.ID
		}
		return nil, then(tx, a, u)
	})
}
