package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/tenancy"
)

// OAuth access, refresh and code prefixes. An access token is presented at
// /api/mcp like a dw_mcp_ token and resolves to its grant's mcp_tokens row.
const (
	OAuthAccessPrefix  = "dw_oat_"
	OAuthRefreshPrefix = "dw_ort_"
	OAuthCodePrefix    = "dw_oac_"
)

// ErrTokenWrongResource is an OAuth access token issued for another
// resource (RFC 8707) than the one it is presented to.
var ErrTokenWrongResource = fmt.Errorf("%w: token issued for another resource", ErrUnauthenticated)

// AuthenticateOAuth resolves an OAuth access token to its grant (an MCP
// token of kind oauth) and the account state, in one round trip like
// AuthenticateMCP. resource is the MCP URL the token must be bound to.
func AuthenticateOAuth(ctx context.Context, db *tenancy.DB, raw, resource string, now time.Time) (MCPPrincipal, error) {
	return AuthenticateOAuthCalls(ctx, db, raw, resource, now, 0)
}

// AuthenticateOAuthCalls is AuthenticateOAuth that also spends calls tool
// calls from the grant's rate limit (see AuthenticateMCPCalls).
func AuthenticateOAuthCalls(ctx context.Context, db *tenancy.DB, raw, resource string, now time.Time, calls int) (MCPPrincipal, error) {
	hash, ok := ParseToken(raw, OAuthAccessPrefix)
	if !ok {
		return MCPPrincipal{}, ErrTokenUnknown
	}
	var p MCPPrincipal
	var expires, revoked, accessExpires *time.Time
	var service *int64
	var active bool
	var boundTo string
	b := &pgx.Batch{}
	b.Queue(principalSQL(", o.active, o.expires_at, o.resource")+`JOIN oauth_tokens o ON o.account_id = t.account_id AND o.grant_id = t.id
		WHERE o.kind = 'access' AND o.signature = $1`, hash).
		QueryRow(func(r pgx.Row) error {
			return scanPrincipal(r, &p, &expires, &revoked, &service, &active, &accessExpires, &boundTo)
		})
	b.Queue(`UPDATE mcp_tokens SET last_used_at = now()
		WHERE id = (SELECT grant_id FROM oauth_tokens WHERE kind = 'access' AND signature = $1)
		  AND revoked_at IS NULL AND `+lastUseDue, hash)
	var rate rateSpend
	rate.queue(b, `(SELECT grant_id FROM oauth_tokens WHERE kind = 'access' AND signature = $1 AND active)`, hash, calls)
	err := db.Resolve(ctx, `deskwoot_oauth_owner($1, 'access')`, []any{hash}, b)
	if err := principalCheck(err, &p, expires, revoked, service, now); err != nil {
		return p, err
	}
	rate.apply(&p)
	switch {
	case !active:
		return p, ErrTokenRevoked
	case accessExpires != nil && !now.Before(*accessExpires):
		return p, ErrTokenExpired
	case boundTo != resource:
		return p, ErrTokenWrongResource
	}
	return p, nil
}

// OAuthClient is a dynamically registered client (RFC 7591).
type OAuthClient struct {
	ID           string
	Name         string
	RedirectURIs []string
	AuthMethod   string // none, client_secret_post, client_secret_basic
	SecretHash   string // bcrypt, for confidential clients
}

// OAuthClientRegister stores a registered client. Clients are global: they
// register before any tenant is involved.
func OAuthClientRegister(ctx context.Context, db *tenancy.DB, c OAuthClient) error {
	_, err := db.Pool.Exec(ctx, `SELECT deskwoot_oauth_client_register($1, $2, $3, $4, nullif($5, ''))`,
		c.ID, c.Name, c.RedirectURIs, c.AuthMethod, c.SecretHash)
	return tenancy.MapError(err)
}

// OAuthClientGet reads a registered client.
func OAuthClientGet(ctx context.Context, db *tenancy.DB, id string) (OAuthClient, error) {
	c := OAuthClient{ID: id}
	err := db.Pool.QueryRow(ctx, `SELECT client_name, redirect_uris, auth_method, coalesce(secret_hash, '') FROM deskwoot_oauth_client($1)`, id).
		Scan(&c.Name, &c.RedirectURIs, &c.AuthMethod, &c.SecretHash)
	return c, tenancy.MapError(err)
}

// OAuthRecord is one stored OAuth artefact: an authorization code, its PKCE
// challenge, an access token or a refresh token, by the hash of the token.
type OAuthRecord struct {
	AccountID int64
	Kind      string // code, pkce, access, refresh
	Signature []byte
	RequestID string // one per authorization, kept across refreshes
	ClientID  string
	GrantID   int64 // the mcp_tokens row; 0 until the code is redeemed
	Active    bool
	ExpiresAt time.Time
	Resource  string
	Request   []byte // the protocol library's request, as JSON
	// GrantRevoked is read back: the grant was revoked (by an admin, or
	// because a rotated refresh token was reused).
	GrantRevoked bool
}

// The OAuth storage functions below run inside the OAuth store's
// transaction (tenancy.LookupTx), whose commit the protocol library drives
// (it decides what is atomic: a code's redemption, a refresh token's
// rotation). Each enters the tenant itself, from the record or from the
// token hash's owner, local to tx: an OAuth record names its account only
// once it is found.

// OAuthInsert stores a record. Access and refresh tokens belong to the
// grant their authorization was redeemed into.
func OAuthInsert(ctx context.Context, tx tenancy.LookupTx, rec OAuthRecord) error {
	if err := tx.Enter(ctx, rec.AccountID); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO oauth_tokens (account_id, kind, signature, request_id, client_id, grant_id, expires_at, resource, request)
		VALUES ($1, $2, $3, $4, $5,
			CASE WHEN $2 IN ('access', 'refresh') THEN (SELECT max(grant_id) FROM oauth_tokens WHERE request_id = $4) END,
			$6, $7, $8)`,
		rec.AccountID, rec.Kind, rec.Signature, rec.RequestID, rec.ClientID, rec.ExpiresAt, rec.Resource, rec.Request)
	return tenancy.MapError(err)
}

// OAuthGet reads a record by kind and hash, with its grant's state.
func OAuthGet(ctx context.Context, tx tenancy.LookupTx, kind string, signature []byte) (OAuthRecord, error) {
	rec := OAuthRecord{Kind: kind, Signature: signature}
	if err := tx.EnterFound(ctx, `deskwoot_oauth_owner($1, $2)`, signature, kind); err != nil {
		return rec, err
	}
	var grant *int64
	err := tx.QueryRow(ctx, `SELECT o.account_id, o.request_id, o.client_id, o.grant_id, o.active, o.expires_at, o.resource, o.request,
			coalesce(t.revoked_at IS NOT NULL, false)
		FROM oauth_tokens o LEFT JOIN mcp_tokens t ON t.account_id = o.account_id AND t.id = o.grant_id
		WHERE o.kind = $1 AND o.signature = $2`, kind, signature).
		Scan(&rec.AccountID, &rec.RequestID, &rec.ClientID, &grant, &rec.Active, &rec.ExpiresAt, &rec.Resource, &rec.Request, &rec.GrantRevoked)
	if grant != nil {
		rec.GrantID = *grant
	}
	return rec, tenancy.MapError(err)
}

// OAuthDeactivate marks a record used (a redeemed code, a rotated refresh
// token). It reports false when the record was already inactive or is
// unknown, so that of two racing redemptions exactly one wins.
func OAuthDeactivate(ctx context.Context, tx tenancy.LookupTx, accountID int64, kind string, signature []byte) (bool, error) {
	if err := tx.Enter(ctx, accountID); err != nil {
		return false, err
	}
	tag, err := tx.Exec(ctx, `UPDATE oauth_tokens SET active = false WHERE kind = $1 AND signature = $2 AND active`, kind, signature)
	return err == nil && tag.RowsAffected() == 1, tenancy.MapError(err)
}

// OAuthDelete removes a record.
func OAuthDelete(ctx context.Context, tx tenancy.LookupTx, accountID int64, kind string, signature []byte) error {
	if err := tx.Enter(ctx, accountID); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `DELETE FROM oauth_tokens WHERE kind = $1 AND signature = $2`, kind, signature)
	return tenancy.MapError(err)
}

// OAuthRevokeRequest deactivates every record of one kind of an
// authorization. With revokeGrant, the grant itself is revoked too: its
// row in mcp_tokens shows revoked, and every token of it stops working;
// the grant's id is returned when this call revoked it (0 otherwise).
func OAuthRevokeRequest(ctx context.Context, tx tenancy.LookupTx, accountID int64, requestID, kind string, revokeGrant bool) (int64, error) {
	if err := tx.Enter(ctx, accountID); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `UPDATE oauth_tokens SET active = false WHERE request_id = $1 AND kind = $2 AND active`, requestID, kind); err != nil {
		return 0, tenancy.MapError(err)
	}
	if !revokeGrant {
		return 0, nil
	}
	var grant int64
	err := tx.QueryRow(ctx, `UPDATE mcp_tokens SET revoked_at = now()
		WHERE revoked_at IS NULL AND id = (SELECT max(grant_id) FROM oauth_tokens WHERE request_id = $1)
		RETURNING id`, requestID).Scan(&grant)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return grant, tenancy.MapError(err)
}

// OAuthGrantCreate turns a redeemed authorization into its grant: an MCP
// token of kind oauth with the scopes, inboxes and approval rule the admin
// consented to. Every record of the authorization points at it afterwards.
func OAuthGrantCreate(ctx context.Context, tx tenancy.LookupTx, accountID int64, requestID string, in MCPTokenInput, clientID, clientName string, now time.Time) (MCPToken, error) {
	if err := tx.Enter(ctx, accountID); err != nil {
		return MCPToken{}, err
	}
	if err := in.validate(now); err != nil {
		return MCPToken{}, err
	}
	t, err := mcpTokenInsert(ctx, tx, accountID, in, "oauth", clientID, clientName)
	if err != nil {
		return t, tenancy.MapError(err)
	}
	_, err = tx.Exec(ctx, `UPDATE oauth_tokens SET grant_id = $2 WHERE request_id = $1`, requestID, t.ID)
	return t, tenancy.MapError(err)
}

// OAuthCleanup removes a grant's records that expired more than a day ago
// (rotated refresh tokens are kept until then, so that their reuse is
// still recognised).
func OAuthCleanup(ctx context.Context, tx tenancy.LookupTx, accountID int64, requestID string) error {
	if err := tx.Enter(ctx, accountID); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `DELETE FROM oauth_tokens WHERE request_id = $1 AND expires_at < now() - interval '1 day'`, requestID)
	return tenancy.MapError(err)
}
