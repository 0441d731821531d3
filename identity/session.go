package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/auditrow"
	"github.com/deskwoot/deskwoot/tenancy"
)

// SessionPrefix marks a console session id (the cookie's value).
const SessionPrefix = "dw_ses_"

// SessionTTL is how long a console session lives without use; each use
// (at most once a minute) pushes the end out again.
const SessionTTL = 7 * 24 * time.Hour

// ErrSessionUnknown is a missing, unknown, ended or expired session.
var ErrSessionUnknown = fmt.Errorf("%w: session unknown, ended or expired; sign in again", ErrUnauthenticated)

// SessionCreate starts a console session for a member of the request's
// account, with the request's audit row (a sign-in), and returns the raw
// session id, which only the browser's cookie keeps; the database stores
// its SHA-256.
func SessionCreate(ctx context.Context, db *tenancy.DB, req *tenancy.Request, userID int64, now time.Time) (raw string, err error) {
	raw, hash, _ := NewToken(SessionPrefix)
	err = db.Unit(ctx, req, nil, func(tx pgx.Tx) (*pgx.Batch, error) {
		var id int64
		if err := tx.QueryRow(ctx, `INSERT INTO console_sessions (account_id, user_id, created_at, last_seen_at, expires_at, user_epoch)
			VALUES ($1, $2, $3, $3, $4, (SELECT session_epoch FROM users WHERE id = $2)) RETURNING id`, req.AccountID, userID, now, now.Add(SessionTTL)).Scan(&id); err != nil {
			return nil, err
		}
		last := &pgx.Batch{}
		last.Queue(`SELECT deskwoot_session_register($1, $2)`, hash, id)
		return last, nil
	})
	return raw, err
}

// SessionAuthenticate resolves a console session and the account it
// belongs to in one round trip (the tenant is set from the hash through
// the narrow SECURITY DEFINER look-up, as for tokens), and slides its
// expiry at most once a minute (then in a second round trip: an UPDATE
// queued with every read cost each page a statement for one write a
// minute). A member deactivated or removed, a
// session of an earlier epoch (the password changed since), an ended or
// an expired session is ErrSessionUnknown: the check is in the database,
// so it holds on every replica from the next request on.
func SessionAuthenticate(ctx context.Context, db *tenancy.DB, raw string, now time.Time) (UserPrincipal, Account, error) {
	return sessionRead(ctx, db, raw, now, true)
}

// SessionCheck is SessionAuthenticate without sliding the expiry: a live
// stream re-checks its session with it, and an open tab is not a person
// using the session, so the session still expires on time.
func SessionCheck(ctx context.Context, db *tenancy.DB, raw string, now time.Time) (UserPrincipal, error) {
	p, _, err := sessionRead(ctx, db, raw, now, false)
	return p, err
}

func sessionRead(ctx context.Context, db *tenancy.DB, raw string, now time.Time, slide bool) (UserPrincipal, Account, error) {
	var p UserPrincipal
	var a Account
	hash, ok := ParseToken(raw, SessionPrefix)
	if !ok {
		return p, a, ErrSessionUnknown
	}
	var lastSeen time.Time
	b := &pgx.Batch{}
	b.Queue(`SELECT s.account_id, s.user_id, s.id, au.role, u.name, coalesce(u.time_zone, ''),
			pg_snapshot_xmin(pg_current_snapshot())::text::numeric::bigint, s.last_seen_at
		FROM console_sessions s
		JOIN account_users au ON au.account_id = s.account_id AND au.user_id = s.user_id
		JOIN users u ON u.id = s.user_id
		WHERE s.id = (SELECT session_id FROM deskwoot_session_owner($1)) AND s.ended_at IS NULL AND s.expires_at > $2
			AND au.status = 'active' AND s.user_epoch = u.session_epoch`, hash, now).
		QueryRow(func(r pgx.Row) error {
			return r.Scan(&p.AccountID, &p.UserID, &p.SessionID, &p.Role, &p.Name, &p.TimeZone, &p.Horizon, &lastSeen)
		})
	b.Queue(`SELECT ` + accountColumns + ` FROM accounts WHERE id = deskwoot_tenant()`).QueryRow(func(r pgx.Row) error {
		return r.Scan(&a.ID, &a.Name, &a.Plan, &a.SubscriptionStatus, &a.TrialEndsAt, &a.GraceEndsAt, &a.MCPEnabled, &a.ServiceUserID, &a.CreatedAt)
	})
	err := db.Resolve(ctx, `SELECT account_id FROM deskwoot_session_owner($1)`, []any{hash}, b)
	if errors.Is(err, pgx.ErrNoRows) {
		return UserPrincipal{}, Account{}, ErrSessionUnknown
	}
	if err == nil && slide && lastSeen.Before(now.Add(-time.Minute)) {
		slid := &pgx.Batch{}
		slid.Queue(`UPDATE console_sessions SET last_seen_at = $2, expires_at = $3
			WHERE id = $1 AND ended_at IS NULL AND expires_at > $2::timestamptz AND last_seen_at < $2::timestamptz - interval '1 minute'`,
			p.SessionID, now, now.Add(SessionTTL))
		err = db.Batch(ctx, p.AccountID, slid)
	}
	return p, a, tenancy.MapError(err)
}

// SessionEndedChannel is the PostgreSQL notification channel that carries
// the id of a console session that ended (a sign-out), so that every
// replica ends the session's open streams at once, not at their next
// re-check.
const SessionEndedChannel = "deskwoot_session_ended"

// SessionEnd ends a session server-side (sign-out): the row is marked
// ended, its hash no longer resolves, and SessionEndedChannel tells every
// replica. rec, when given, is the row that
// records the sign-out; it commits with it, in the session's account.
// Ending an unknown session is not an error (and records nothing), so
// signing out twice is harmless.
func SessionEnd(ctx context.Context, db *tenancy.DB, raw string, now time.Time, rec *auditrow.Entry) error {
	hash, ok := ParseToken(raw, SessionPrefix)
	if !ok {
		return nil
	}
	var acct *int64
	if err := db.Pool.QueryRow(ctx, `SELECT account_id FROM deskwoot_session_owner($1)`, hash).Scan(&acct); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return tenancy.MapError(err)
	}
	req := tenancy.For(*acct)
	if rec != nil {
		req = tenancy.Recorded(*acct, *rec)
	}
	return db.Unit(ctx, req, nil, func(tx pgx.Tx) (*pgx.Batch, error) {
		// The notification goes out when the sign-out commits: every
		// replica's event hub ends the session's live streams at once.
		if _, err := tx.Exec(ctx, `WITH ended AS (
				UPDATE console_sessions SET ended_at = coalesce(ended_at, $2)
				WHERE id = (SELECT session_id FROM deskwoot_session_owner($1))
				RETURNING id)
			SELECT pg_notify($3, id::text) FROM ended`, hash, now, SessionEndedChannel); err != nil {
			return nil, err
		}
		_, err := tx.Exec(ctx, `SELECT deskwoot_session_forget($1)`, hash)
		return nil, err
	})
}
