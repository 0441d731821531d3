package tenancy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"
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
var ErrBadCredentials = fmt.Errorf("%w: email or password is wrong", ErrUnauthenticated)

// Login checks a person's email and password and mints a new user API token
// in one of their accounts: accountID when given (it must be one of theirs),
// else their only one.
func (ids *Identities) Login(ctx context.Context, email, password string, accountID int64) (LoginResult, error) {
	type membership struct {
		UserID  int64
		Hash    string
		Account int64
		Role    string
	}
	rows, _ := ids.DB.Pool.Query(ctx, `SELECT user_id, password_hash, account_id, role FROM deskwoot_login($1)`, strings.TrimSpace(email))
	ms, err := pgx.CollectRows(rows, pgx.RowToStructByPos[membership])
	if err != nil {
		return LoginResult{}, MapError(err)
	}
	hash := dummyHash()
	if len(ms) > 0 {
		hash = []byte(ms[0].Hash)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || len(ms) == 0 {
		return LoginResult{}, ErrBadCredentials
	}
	pick := -1
	switch {
	case accountID != 0:
		pick = slices.IndexFunc(ms, func(m membership) bool { return m.Account == accountID })
		if pick < 0 {
			return LoginResult{}, fmt.Errorf("%w: you are not a member of account %d", ErrInvalid, accountID)
		}
	case len(ms) == 1:
		pick = 0
	default:
		accts := make([]string, len(ms))
		for i, m := range ms {
			accts[i] = fmt.Sprint(m.Account)
		}
		return LoginResult{}, fmt.Errorf("%w: you belong to several accounts; give account_id (one of %s)", ErrInvalid, strings.Join(accts, ", "))
	}
	m := ms[pick]
	var res LoginResult
	err = ids.DB.InTenant(ctx, m.Account, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1`, m.Account)
		var err error
		if res.Account, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Account]); err != nil {
			return err
		}
		res.User = User{ID: m.UserID, Kind: "human", Role: m.Role}
		if err := tx.QueryRow(ctx, `SELECT coalesce(email, ''), name FROM users WHERE id = $1`, m.UserID).Scan(&res.User.Email, &res.User.Name); err != nil {
			return err
		}
		res.APIToken, err = createUserToken(ctx, tx, m.Account, m.UserID)
		return err
	})
	return res, err
}
