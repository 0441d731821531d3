package identity

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/tenancy"
)

// MCPToken is a scoped bearer token as admins see it (never the secret).
type MCPToken struct {
	ID                 int64      `json:"id"`
	Name               string     `json:"name"`
	Prefix             string     `json:"prefix"`
	Scopes             []string   `json:"scopes"`
	InboxIDs           []int64    `json:"inbox_ids"` // null = every inbox
	RequireApproval    bool       `json:"require_approval"`
	RateLimitPerMinute int        `json:"rate_limit_per_minute"`
	ExpiresAt          *time.Time `json:"expires_at"`
	CreatedAt          time.Time  `json:"created_at"`
	LastUsedAt         *time.Time `json:"last_used_at"`
	RevokedAt          *time.Time `json:"revoked_at"`
	// Kind is static (a dw_mcp_ bearer token) or oauth (an OAuth grant,
	// named "OAuth · client name", with its client).
	Kind       string `json:"kind"`
	ClientID   string `json:"client_id,omitempty"`
	ClientName string `json:"client_name,omitempty"`
	// PausedAt is set while the token is paused (by an admin, or by the
	// anomaly suspend, PauseReason says which); Resume lifts it.
	PausedAt    *time.Time `json:"paused_at"`
	PauseReason string     `json:"pause_reason,omitempty"`
	// RateUsed is how many calls of RateLimitPerMinute the token has spent
	// in the rolling minute now (its rate bucket, shared by every replica).
	RateUsed int `json:"rate_used"`
	// ChatApproval is an OAuth grant whose consent allowed approving its
	// drafts in the chat (the MCP Apps draft card).
	ChatApproval bool `json:"chat_approval"`
}

// mcpTokenColumns are an MCPToken's columns, for a statement on
// mcp_tokens. rate_used reads the token's GCRA bucket: its theoretical
// arrival time lies as far past now as the calls spent in the minute
// cost, each 60/limit seconds.
const mcpTokenColumns = `id, name, prefix, scopes, inbox_ids, require_approval, rate_limit_per_minute, expires_at, created_at, last_used_at, revoked_at,
	kind, coalesce(client_id, ''), coalesce(client_name, ''), paused_at, coalesce(pause_reason, ''),
	coalesce((SELECT least(ceil(extract(epoch FROM greatest(r.tat - clock_timestamp(), interval '0')) * mcp_tokens.rate_limit_per_minute / 60.0), mcp_tokens.rate_limit_per_minute)::int
		FROM mcp_token_rates r WHERE r.token_id = mcp_tokens.id), 0), chat_approval`

// MCPTokenInput is a validated mint request (scopes already expanded and
// checked against the policy's catalog by the caller).
type MCPTokenInput struct {
	Name               string
	Scopes             []string
	InboxIDs           []int64 // nil = every inbox
	RequireApproval    bool
	RateLimitPerMinute int
	ExpiresAt          *time.Time
	CreatedBy          int64
	// ChatApproval is set for an OAuth grant whose consent allowed
	// approving drafts in the chat.
	ChatApproval bool
}

// DefaultRateLimit is the calls per minute a token gets unless told otherwise.
const DefaultRateLimit = 600

// MCPTokenCreate mints a token in the request's account and returns it
// with the raw secret, which is never stored or shown again. Inboxes must
// all belong to the account. The request's audit row names the token and
// commits with it.
func MCPTokenCreate(ctx context.Context, db *tenancy.DB, req *tenancy.Request, in MCPTokenInput, now time.Time) (MCPToken, string, error) {
	if err := in.validate(now); err != nil {
		return MCPToken{}, "", err
	}
	// Approving drafts in the chat is a consent of an OAuth grant only: a
	// static token's drafts are approved in the console.
	in.ChatApproval = false
	raw, hash, display := NewToken(MCPTokenPrefix)
	var t MCPToken
	err := db.Unit(ctx, req, nil, func(tx pgx.Tx) (*pgx.Batch, error) {
		var err error
		if t, err = mcpTokenInsert(ctx, tx, req.AccountID, in, display, "", ""); err != nil {
			return nil, err
		}
		if req.Audit != nil {
			req.Audit.TokenID = t.ID
		}
		last := &pgx.Batch{}
		last.Queue(`SELECT deskwoot_token_register($1, 'mcp', $2)`, hash, t.ID)
		return last, nil
	})
	return t, raw, err
}

// validate checks a mint request and fills its defaults.
func (in *MCPTokenInput) validate(now time.Time) error {
	switch {
	case in.Name == "" || len(in.Name) > 100:
		return fault.Invalidf("name", "name must be 1 to 100 characters")
	case len(in.Scopes) == 0:
		return fault.Invalidf("scopes", "give at least one scope or a preset")
	case in.InboxIDs != nil && len(in.InboxIDs) == 0:
		return fault.Invalidf("inbox_ids", "inbox_ids must not be empty; omit it or send null for every inbox")
	case in.ExpiresAt != nil && !in.ExpiresAt.After(now):
		return fault.Invalidf("expires_at", "expires_at must be in the future")
	case in.RateLimitPerMinute < 0 || in.RateLimitPerMinute > 60000:
		return fault.Invalidf("rate_limit_per_minute", "rate_limit_per_minute must be 1 to 60000")
	}
	if in.RateLimitPerMinute == 0 {
		in.RateLimitPerMinute = DefaultRateLimit
	}
	if in.InboxIDs != nil {
		in.InboxIDs = slices.Compact(slices.Sorted(slices.Values(in.InboxIDs)))
	}
	return nil
}

// mcpTokenInsert writes a token row in tx's tenant after checking that its
// inboxes exist there. clientID is set for an OAuth grant.
func mcpTokenInsert(ctx context.Context, tx pgx.Tx, accountID int64, in MCPTokenInput, display, clientID, clientName string) (MCPToken, error) {
	if in.InboxIDs != nil {
		var missing []int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(array_agg(x), '{}') FROM unnest($1::bigint[]) x
			WHERE NOT EXISTS (SELECT 1 FROM inboxes i WHERE i.id = x)`, in.InboxIDs).Scan(&missing); err != nil {
			return MCPToken{}, err
		}
		if len(missing) > 0 {
			return MCPToken{}, fault.Invalidf("inbox_ids", "inbox %d not found", missing[0])
		}
	}
	kind := "static"
	if clientID != "" {
		kind = "oauth"
	}
	rows, _ := tx.Query(ctx, `INSERT INTO mcp_tokens (account_id, name, prefix, scopes, inbox_ids, require_approval, rate_limit_per_minute, expires_at, created_by, kind, client_id, client_name, chat_approval)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, nullif($11, ''), nullif($12, ''), $13) RETURNING `+mcpTokenColumns,
		accountID, in.Name, display, in.Scopes, in.InboxIDs, in.RequireApproval, in.RateLimitPerMinute, in.ExpiresAt, in.CreatedBy, kind, clientID, clientName, in.ChatApproval)
	return pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[MCPToken])
}

// MCPTokenList lists the account's tokens, newest first.
func MCPTokenList(ctx context.Context, db *tenancy.DB, accountID int64) ([]MCPToken, error) {
	var ts []MCPToken
	b := &pgx.Batch{}
	b.Queue(`SELECT ` + mcpTokenColumns + ` FROM mcp_tokens ORDER BY id DESC`).Query(func(rows pgx.Rows) error {
		var err error
		ts, err = pgx.CollectRows(rows, pgx.RowToStructByPos[MCPToken])
		return err
	})
	return ts, db.Batch(ctx, accountID, b)
}

// MCPTokenRevoke revokes a token of the request's account, with the
// request's audit row; authentication reads the row on every request, so
// the next request with it fails on every replica. It wakes the account's
// long-polls, as a pause does, so that one waiting on the token ends at
// once rather than when its wait is over.
func MCPTokenRevoke(ctx context.Context, db *tenancy.DB, req *tenancy.Request, tokenID int64) error {
	return db.Unit(ctx, req, nil, func(tx pgx.Tx) (*pgx.Batch, error) {
		tag, err := tx.Exec(ctx, `UPDATE mcp_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1`, tokenID)
		if err != nil {
			return nil, err
		}
		if tag.RowsAffected() == 0 {
			return nil, fault.NotFoundf("token %d not found", tokenID)
		}
		wake := &pgx.Batch{}
		wake.Queue(`SELECT pg_notify('deskwoot_events', $1::bigint::text)`, req.AccountID)
		return wake, nil
	})
}

// MCPTokenCheck says whether a token authenticated earlier in a request is
// still good now: ErrTokenRevoked, ErrTokenExpired or ErrTokenPaused when
// it is not. A
// long-poll calls it when its wait ends, so a revocation made while it
// waited reaches it before any event does.
func MCPTokenCheck(ctx context.Context, db *tenancy.DB, accountID, tokenID int64, now time.Time) error {
	var expires, revoked, paused *time.Time
	b := &pgx.Batch{}
	b.Queue(`SELECT expires_at, revoked_at, paused_at FROM mcp_tokens WHERE id = $1`, tokenID).
		QueryRow(func(r pgx.Row) error { return r.Scan(&expires, &revoked, &paused) })
	err := db.Batch(ctx, accountID, b)
	switch {
	case errors.Is(err, tenancy.ErrNotFound):
		return ErrTokenUnknown
	case err != nil:
		return err
	}
	return mcpTokenState(expires, revoked, paused, now)
}

// MCPPrincipal is who an MCP token speaks for, with its account's state.
type MCPPrincipal struct {
	AccountID          int64
	TokenID            int64
	TokenName          string
	Scopes             []string
	InboxIDs           []int64 // nil = every inbox
	RequireApproval    bool
	RateLimitPerMinute int
	ServiceUserID      int64
	Account            policy.Account
	// ClientID is the OAuth client when the token is an OAuth grant.
	ClientID string
	// Paused says the token is paused (PauseReason says why): every call
	// is refused until an admin resumes it.
	Paused      bool
	PauseReason string
	// ChatApproval says the token is an OAuth grant whose consenting
	// person (CreatedBy) allowed approving its drafts in the chat.
	ChatApproval bool
	CreatedBy    int64
	// RateRetryAfter is set when the request's tool calls would exceed the
	// token's rate limit: how long until they would fit.
	RateRetryAfter time.Duration
	// Quota is the token's rate limit after the request's calls were
	// spent (nil when the request spent none).
	Quota *Quota
	// Stamp digests the token's and the account's rows as read (see
	// Guard): a principal kept in memory is good while it still matches.
	Stamp string
}

// Errors AuthenticateMCP returns (each wraps ErrUnauthenticated).
var (
	ErrTokenUnknown = fault.New(fault.Unauthenticated, "", "unknown token")
	ErrTokenRevoked = fault.New(fault.Unauthenticated, "", "token revoked")
	ErrTokenExpired = fault.New(fault.Unauthenticated, "", "token expired")
)

// AuthenticateMCP resolves an MCP token and its account state in one round
// trip (see AuthenticateUser) and notes its use at most once a minute.
func AuthenticateMCP(ctx context.Context, db *tenancy.DB, raw string, now time.Time) (MCPPrincipal, error) {
	return AuthenticateMCPCalls(ctx, db, raw, now, 0)
}

// rateSQL spends $2 calls of the token's per-minute limit (GCRA on
// mcp_token_rates, shared by every replica) unless that would exceed it. It
// answers whether they were allowed and, if not, in how many seconds they
// would be. tokenID is an SQL expression of $1 (the presented token's hash)
// naming the token. The row lock serialises one token's concurrent calls
// for the span of one statement.
func rateSQL(tokenID string) string {
	return `WITH t AS (
		SELECT account_id, id, clock_timestamp() AS now, rate_limit_per_minute AS lim,
			make_interval(secs => $2 * 60.0 / greatest(rate_limit_per_minute, 1)) AS cost
		FROM mcp_tokens WHERE id = ` + tokenID + ` AND revoked_at IS NULL
	), ` + rateSpendCTEs + `
	SELECT EXISTS (SELECT 1 FROM spent), ` + rateRetrySQL + `, (SELECT remaining FROM quota), (SELECT reset FROM quota)`
}

// rateSpendCTEs spend the cost of the token row in CTE t (account_id, id,
// now, lim, cost): prior is the token's bucket before, spent its new state,
// empty when the cost does not fit within the minute. quota is what is
// left afterwards, for the X-RateLimit headers: the calls that still fit
// in the minute (each costs 60/lim seconds of the bucket's theoretical
// arrival time, tat) and the seconds until the whole limit is free again.
const rateSpendCTEs = `prior AS (
		SELECT r.tat FROM mcp_token_rates r JOIN t ON r.account_id = t.account_id AND r.token_id = t.id
	), spent AS (
		INSERT INTO mcp_token_rates AS r (account_id, token_id, tat)
		SELECT account_id, id, now + cost FROM t WHERE cost <= interval '1 minute'
		ON CONFLICT (account_id, token_id) DO UPDATE
			SET tat = greatest(r.tat, (SELECT now FROM t)) + (SELECT cost FROM t)
			WHERE greatest(r.tat, (SELECT now FROM t)) + (SELECT cost FROM t) <= (SELECT now FROM t) + interval '1 minute'
		RETURNING tat
	), quota AS (
		SELECT greatest(0, least(t.lim, floor(extract(epoch FROM t.now + interval '1 minute' - b.tat) * t.lim / 60.0)))::int AS remaining,
			greatest(0, ceil(extract(epoch FROM b.tat - t.now)))::int AS reset
		FROM t CROSS JOIN LATERAL (SELECT greatest(t.now, coalesce((SELECT tat FROM spent), (SELECT tat FROM prior), t.now)) AS tat) b
	)`

// rateRetrySQL is the seconds until the calls would fit.
const rateRetrySQL = `coalesce((SELECT extract(epoch FROM greatest(p.tat, t.now) + t.cost - interval '1 minute' - t.now) FROM t LEFT JOIN prior p ON true), 60)::float8`

// lastUseDue is the condition under which a token's last_used_at is
// written: at most once a minute, so that authentication rarely writes.
const lastUseDue = `(last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`

// rateSpend is the rate-limit statement of an authentication batch.
type rateSpend struct {
	allowed          bool
	retry            float64
	remaining, reset *int
}

// queue adds the spending of calls (when there are any) to b.
func (r *rateSpend) queue(b *pgx.Batch, tokenID string, hash []byte, calls int) {
	r.allowed = true
	if calls > 0 {
		b.Queue(rateSQL(tokenID), hash, calls).QueryRow(func(row pgx.Row) error { return row.Scan(&r.allowed, &r.retry, &r.remaining, &r.reset) })
	}
}

func (r rateSpend) apply(p *MCPPrincipal) {
	if !r.allowed {
		p.RateRetryAfter = max(time.Duration(r.retry*float64(time.Second)), time.Millisecond)
	}
	if r.remaining != nil && r.reset != nil {
		p.Quota = &Quota{Limit: p.RateLimitPerMinute, Remaining: *r.remaining, Reset: time.Duration(*r.reset) * time.Second}
	}
}

// Quota is what a request that spent a token's rate limit leaves of it:
// the limit per minute, the calls that still fit now, and the time until
// the whole limit is free again. The doors send it as X-RateLimit-Limit,
// -Remaining and -Reset.
type Quota struct {
	Limit     int
	Remaining int
	Reset     time.Duration
}

// AuthenticateMCPCalls is AuthenticateMCP for a request that makes calls
// tool calls: in the same round trip it spends them from the token's rate
// limit, which every replica shares. Over the limit, the principal's
// RateRetryAfter says how long to wait and nothing is spent.
func AuthenticateMCPCalls(ctx context.Context, db *tenancy.DB, raw string, now time.Time, calls int) (MCPPrincipal, error) {
	hash, ok := ParseToken(raw, MCPTokenPrefix)
	if !ok {
		return MCPPrincipal{}, ErrTokenUnknown
	}
	var p MCPPrincipal
	var expires, revoked *time.Time
	var service *int64
	b := &pgx.Batch{}
	b.Queue(principalSQL("")+`WHERE t.id = (SELECT token_id FROM deskwoot_token_owner($1, 'mcp'))`, hash).
		QueryRow(func(r pgx.Row) error { return scanPrincipal(r, &p, &expires, &revoked, &service) })
	b.Queue(`UPDATE mcp_tokens SET last_used_at = now()
		WHERE id = (SELECT token_id FROM deskwoot_token_owner($1, 'mcp'))
		  AND revoked_at IS NULL AND `+lastUseDue, hash)
	var rate rateSpend
	rate.queue(b, `(SELECT token_id FROM deskwoot_token_owner($1, 'mcp'))`, hash, calls)
	err := db.Resolve(ctx, `SELECT account_id FROM deskwoot_token_owner($1, 'mcp')`, []any{hash}, b)
	if err := principalCheck(err, &p, expires, revoked, service, now); err != nil {
		return p, err
	}
	rate.apply(&p)
	return p, nil
}

// principalSQL reads a token row with its account, and the extra columns
// given; the caller adds joins and the WHERE.
func principalSQL(extra string) string {
	return `SELECT t.account_id, t.id, t.name, t.scopes, t.inbox_ids, t.require_approval, t.rate_limit_per_minute,
		t.expires_at, t.revoked_at, a.service_user_id,
		a.plan, a.subscription_status, a.trial_ends_at, a.grace_ends_at, a.mcp_enabled, coalesce(t.client_id, ''),
		coalesce(a.tenant_rules_version, 0), deskwoot_mcp_stamp(t, a),
		t.paused_at IS NOT NULL, coalesce(t.pause_reason, ''), a.mcp_agents_paused, a.mcp_disabled_tools,
		a.mcp_suspend_after_denials, a.mcp_suspend_after_inbox_probes, t.chat_approval, coalesce(t.created_by, 0)` + extra + `
	FROM mcp_tokens t JOIN accounts a ON a.id = t.account_id `
}

func scanPrincipal(r pgx.Row, p *MCPPrincipal, expires, revoked **time.Time, service **int64, extra ...any) error {
	return r.Scan(append([]any{&p.AccountID, &p.TokenID, &p.TokenName, &p.Scopes, &p.InboxIDs, &p.RequireApproval, &p.RateLimitPerMinute,
		expires, revoked, service,
		&p.Account.Plan, &p.Account.Status, &p.Account.TrialEndsAt, &p.Account.GraceEndsAt, &p.Account.MCPEnabled, &p.ClientID,
		&p.Account.TenantRulesVersion, &p.Stamp,
		&p.Paused, &p.PauseReason, &p.Account.AgentsPaused, &p.Account.DisabledTools,
		&p.Account.SuspendAfterDenials, &p.Account.SuspendAfterInboxProbes, &p.ChatApproval, &p.CreatedBy}, extra...)...)
}

// principalCheck turns the batch's outcome and the token row's state into
// the authentication result.
func principalCheck(err error, p *MCPPrincipal, expires, revoked *time.Time, service *int64, now time.Time) error {
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return ErrTokenUnknown
	case err != nil:
		return tenancy.MapError(err)
	case revoked != nil:
		return ErrTokenRevoked
	case expires != nil && !now.Before(*expires):
		return ErrTokenExpired
	}
	if service != nil {
		p.ServiceUserID = *service
	}
	return nil
}

// ServiceAccountName is the agent's display name; messages show the token's
// name beside it.
const ServiceAccountName = "Deskwoot Agent"

// MCPEnable switches the MCP server of the request's account on or off,
// with the request's audit row. The first time it is switched on, the
// account's agent service account is provisioned. It returns the account as
// it is afterwards.
func MCPEnable(ctx context.Context, db *tenancy.DB, req *tenancy.Request, enabled bool) (Account, error) {
	var a Account
	accountID := req.AccountID
	err := db.Unit(ctx, req, nil, func(tx pgx.Tx) (*pgx.Batch, error) {
		return nil, mcpEnable(ctx, tx, accountID, enabled, &a)
	})
	return a, err
}

// mcpEnable is MCPEnable in tx, returning the account in a.
func mcpEnable(ctx context.Context, tx pgx.Tx, accountID int64, enabled bool, a *Account) error {
	var service *int64
	if err := tx.QueryRow(ctx, `SELECT service_user_id FROM accounts WHERE id = $1 FOR UPDATE`, accountID).Scan(&service); err != nil {
		return err
	}
	if enabled && service == nil {
		u, err := createUser(ctx, tx, accountID, "service", "", ServiceAccountName, nil, "agent")
		if err != nil {
			return err
		}
		service = &u.ID
	}
	rows, _ := tx.Query(ctx, `UPDATE accounts SET mcp_enabled = $2, service_user_id = $3 WHERE id = $1 RETURNING `+accountColumns,
		accountID, enabled, service)
	var err error
	*a, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Account])
	return err
}
