package identity

import (
	"time"

	"github.com/deskwoot/deskwoot/tenancy"
)

// Guard is the check that lets a request use p, kept in memory, without
// authenticating afresh (see tenancy.Guard): in the request's first
// transaction it fails that transaction unless the token is still
// unrevoked and unexpired and its row and its account's row are unchanged
// since p was read (p.Stamp), and it spends the request's calls from the
// token's rate limit, as AuthenticateMCPCalls does. accessSignature is the
// hash of an OAuth access token presented (nil for a static token): it
// must still be active and unexpired.
func (p MCPPrincipal) Guard(calls int, now time.Time, accessSignature []byte) *tenancy.Guard {
	return &tenancy.Guard{Statement: guardSQL, Args: []any{p.TokenID, p.Stamp, now, accessSignature, calls}}
}

// GuardQuota is what g's spending left of a rate limit of limit calls a
// minute: nil until it has spent the request's calls.
func GuardQuota(g *tenancy.Guard, limit int) *Quota {
	remaining, reset, ok := g.Left()
	if !ok {
		return nil
	}
	return &Quota{Limit: limit, Remaining: remaining, Reset: reset}
}

// guardSQL is the guard in one statement (each statement of a batch costs
// the server as much as a small read). g is the token's row, current when
// its stamp ($2) still matches and it is unrevoked and unexpired at $3
// (and, for OAuth, the access token $4 is still active and unexpired);
// touched notes its use at most once a minute; t, prior and spent spend $5
// calls from its rate limit. The statement fails with DW401 when the
// principal is not current and with DW429 (the seconds to wait) when the
// calls do not fit, so that nothing in its transaction commits.
const guardSQL = `WITH g AS (
		SELECT t.account_id, t.id, t.rate_limit_per_minute,
			deskwoot_mcp_stamp(t, a) = $2 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR $3 < t.expires_at)
			AND ($4::bytea IS NULL OR EXISTS (SELECT 1 FROM oauth_tokens o
				WHERE o.kind = 'access' AND o.signature = $4::bytea AND o.grant_id = t.id AND o.active AND $3 < o.expires_at)) AS current
		FROM mcp_tokens t JOIN accounts a ON a.id = t.account_id
		WHERE t.id = $1
	), touched AS (
		UPDATE mcp_tokens SET last_used_at = now()
		WHERE id = (SELECT id FROM g WHERE current) AND ` + lastUseDue + `
		RETURNING 1
	), t AS (
		SELECT account_id, id, clock_timestamp() AS now, rate_limit_per_minute AS lim,
			make_interval(secs => $5::int * 60.0 / greatest(rate_limit_per_minute, 1)) AS cost
		FROM g WHERE current AND $5::int > 0
	), ` + rateSpendCTEs + `
	SELECT CASE
		WHEN NOT coalesce((SELECT current FROM g), false) THEN deskwoot_guard_refuse(false, 0)
		WHEN $5::int = 0 OR EXISTS (SELECT 1 FROM spent) THEN true
		ELSE deskwoot_guard_refuse(true, ` + rateRetrySQL + `)
	END, (SELECT remaining FROM quota), (SELECT reset FROM quota)`
