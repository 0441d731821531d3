package oauth

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/pkce"
	fstorage "github.com/ory/fosite/storage"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// store is fosite's storage over PostgreSQL (identity's OAuth functions).
// Records live under RLS in their account; a token's hash finds its
// account through a SECURITY DEFINER look-up, and a request id names its
// account (see requestID), so every call can enter the right tenant.
type store struct {
	db      *tenancy.DB
	clients *clients
	audit   *audit.Log
	now     func() time.Time
}

var (
	_ fosite.Storage                = (*store)(nil)
	_ oauth2.CoreStorage            = (*store)(nil)
	_ oauth2.TokenRevocationStorage = (*store)(nil)
	_ pkce.PKCERequestStorage       = (*store)(nil)
	_ fstorage.Transactional        = (*store)(nil)
)

// requestID is the id of one authorization, kept by fosite from the code
// to every refreshed token. It starts with the account id, so that calls
// that carry only the request id (revocations) can enter the tenant; the
// rows stay behind RLS, so a forged prefix finds nothing.
func requestID(accountID int64, random string) string {
	return strconv.FormatInt(accountID, 10) + "." + random
}

func accountOf(requestID string) (int64, error) {
	a, _, ok := strings.Cut(requestID, ".")
	id, err := strconv.ParseInt(a, 10, 64)
	if !ok || err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: malformed request id", fosite.ErrNotFound)
	}
	return id, nil
}

type txKey struct{}

// BeginTX implements storage.Transactional: fosite makes the code
// redemption and the refresh rotation atomic through it.
func (s *store) BeginTX(ctx context.Context) (context.Context, error) {
	tx, err := s.db.BeginLookup(ctx)
	if err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, txKey{}, tx), nil
}

// Commit implements storage.Transactional.
func (s *store) Commit(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(tenancy.LookupTx)
	if !ok {
		return errors.New("oauth storage: commit without a transaction")
	}
	return tx.Commit(ctx)
}

// Rollback implements storage.Transactional.
func (s *store) Rollback(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(tenancy.LookupTx)
	if !ok {
		return errors.New("oauth storage: rollback without a transaction")
	}
	return tx.Rollback(context.Background())
}

// run runs fn in fosite's transaction when there is one, else in its own.
func (s *store) run(ctx context.Context, fn func(tx tenancy.LookupTx) error) error {
	if tx, ok := ctx.Value(txKey{}).(tenancy.LookupTx); ok {
		return fn(tx)
	}
	tx, err := s.db.BeginLookup(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// stored is a fosite request as kept in a record.
type stored struct {
	ID                string     `json:"id"`
	RequestedAt       time.Time  `json:"requested_at"`
	Client            snapshot   `json:"client"`
	RequestedScope    []string   `json:"requested_scope"`
	GrantedScope      []string   `json:"granted_scope"`
	RequestedAudience []string   `json:"requested_audience"`
	GrantedAudience   []string   `json:"granted_audience"`
	Form              url.Values `json:"form"`
	Session           *Session   `json:"session"`
}

// snapshot is the client as it was when the record was written, so that
// reading a record never refetches a metadata document.
type snapshot struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	RedirectURIs []string `json:"redirect_uris"`
	AuthMethod   string   `json:"auth_method"`
}

func (s *store) record(kind, sig string, r fosite.Requester, expiresFor fosite.TokenType) (identity.OAuthRecord, error) {
	sess, ok := r.GetSession().(*Session)
	if !ok || sess == nil || sess.AccountID <= 0 {
		return identity.OAuthRecord{}, errors.New("oauth storage: request without a Deskwoot session")
	}
	hash, err := hex.DecodeString(sig)
	if err != nil {
		return identity.OAuthRecord{}, err
	}
	snap := snapshot{ID: r.GetClient().GetID()}
	if c, ok := r.GetClient().(*Client); ok {
		snap.Name, snap.RedirectURIs, snap.AuthMethod = c.Name, c.GetRedirectURIs(), c.GetTokenEndpointAuthMethod()
	}
	body, err := json.Marshal(stored{
		ID: r.GetID(), RequestedAt: r.GetRequestedAt(), Client: snap,
		RequestedScope: r.GetRequestedScopes(), GrantedScope: r.GetGrantedScopes(),
		RequestedAudience: r.GetRequestedAudience(), GrantedAudience: r.GetGrantedAudience(),
		Form: r.GetRequestForm(), Session: sess,
	})
	if err != nil {
		return identity.OAuthRecord{}, err
	}
	exp := sess.GetExpiresAt(expiresFor)
	if exp.IsZero() {
		exp = s.now().Add(AuthorizeCodeLifespan)
	}
	return identity.OAuthRecord{AccountID: sess.AccountID, Kind: kind, Signature: hash, RequestID: r.GetID(),
		ClientID: snap.ID, ExpiresAt: exp, Resource: sess.Resource, Request: body}, nil
}

func (s *store) insert(ctx context.Context, kind, sig string, r fosite.Requester, expiresFor fosite.TokenType) error {
	rec, err := s.record(kind, sig, r, expiresFor)
	if err != nil {
		return err
	}
	return s.run(ctx, func(tx tenancy.LookupTx) error { return identity.OAuthInsert(ctx, tx, rec) })
}

// get reads a record and rebuilds its fosite request. The stored session
// is copied into into (when given): fosite's contract is that the session
// it passes is hydrated, and it checks expiry on it.
func (s *store) get(ctx context.Context, kind, sig string, into ...fosite.Session) (identity.OAuthRecord, fosite.Requester, error) {
	hash, err := hex.DecodeString(sig)
	if err != nil {
		return identity.OAuthRecord{}, nil, fosite.ErrNotFound
	}
	var rec identity.OAuthRecord
	err = s.run(ctx, func(tx tenancy.LookupTx) error {
		var err error
		rec, err = identity.OAuthGet(ctx, tx, kind, hash)
		return err
	})
	if errors.Is(err, tenancy.ErrNotFound) {
		return rec, nil, fosite.ErrNotFound
	}
	if err != nil {
		return rec, nil, err
	}
	var st stored
	if err := json.Unmarshal(rec.Request, &st); err != nil {
		return rec, nil, err
	}
	if st.Session == nil {
		st.Session = &Session{AccountID: rec.AccountID}
	}
	if len(into) > 0 {
		if target, ok := into[0].(*Session); ok && target != nil {
			*target = *st.Session
			st.Session = target
		}
	}
	req := &fosite.Request{
		ID: st.ID, RequestedAt: st.RequestedAt,
		Client:         s.clients.build(st.Client.ID, st.Client.Name, st.Client.RedirectURIs, st.Client.AuthMethod, ""),
		RequestedScope: st.RequestedScope, GrantedScope: st.GrantedScope,
		RequestedAudience: st.RequestedAudience, GrantedAudience: st.GrantedAudience,
		Form: st.Form, Session: st.Session,
	}
	return rec, req, nil
}

// GetClient implements fosite.ClientManager.
func (s *store) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := s.clients.get(ctx, id)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ClientAssertionJWTValid implements fosite.ClientManager; JWT client
// assertions are not offered.
func (s *store) ClientAssertionJWTValid(context.Context, string) error { return nil }

// SetClientAssertionJWT implements fosite.ClientManager.
func (s *store) SetClientAssertionJWT(context.Context, string, time.Time) error { return nil }

// CreateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
func (s *store) CreateAuthorizeCodeSession(ctx context.Context, sig string, r fosite.Requester) error {
	return s.insert(ctx, "code", sig, r, fosite.AuthorizeCode)
}

// GetAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage. A code
// already redeemed returns its request with ErrInvalidatedAuthorizeCode,
// on which fosite revokes what the first redemption issued.
func (s *store) GetAuthorizeCodeSession(ctx context.Context, sig string, into fosite.Session) (fosite.Requester, error) {
	rec, req, err := s.get(ctx, "code", sig, into)
	if err != nil {
		return nil, err
	}
	if !rec.Active {
		return req, fosite.ErrInvalidatedAuthorizeCode
	}
	return req, nil
}

// InvalidateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
// Redeeming the code is when the grant comes to be: an MCP token of kind
// oauth with what the admin consented to, in the same transaction as the
// first access and refresh tokens, and audited with the person and client.
func (s *store) InvalidateAuthorizeCodeSession(ctx context.Context, sig string) error {
	rec, req, err := s.get(ctx, "code", sig)
	if err != nil {
		return err
	}
	sess := req.GetSession().(*Session)
	return s.run(ctx, func(tx tenancy.LookupTx) error {
		won, err := identity.OAuthDeactivate(ctx, tx, rec.AccountID, "code", rec.Signature)
		if err != nil {
			return err
		}
		if !won {
			return fosite.ErrInvalidatedAuthorizeCode
		}
		in := identity.MCPTokenInput{Name: truncate("OAuth · "+sess.ClientName, 100), Scopes: consentedScopes(req.GetGrantedScopes()),
			InboxIDs: sess.InboxIDs, RequireApproval: sess.RequireApproval, CreatedBy: sess.UserID,
			ChatApproval: sess.ChatApproval}
		grant, err := identity.OAuthGrantCreate(ctx, tx, rec.AccountID, rec.RequestID, in, rec.ClientID, sess.ClientName, s.now())
		if err != nil {
			return err
		}
		s.touch(rec.AccountID)
		return audit.Insert(ctx, tx, rec.AccountID, audit.Entry{ActorKind: "user", ActorID: sess.UserID, TokenID: grant.ID,
			Action: "oauth.grant", Decision: "allow", Reasons: []string{"consented on the OAuth consent page"}, ClientID: rec.ClientID})
	})
}

// consentedScopes drops offline_access, which some clients ask for to get
// a refresh token (they get one anyway) and which is no MCP scope.
func consentedScopes(granted []string) []string {
	out := make([]string, 0, len(granted))
	for _, g := range granted {
		if g != "offline_access" {
			out = append(out, g)
		}
	}
	return out
}

// CreateAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *store) CreateAccessTokenSession(ctx context.Context, sig string, r fosite.Requester) error {
	return s.insert(ctx, "access", sig, r, fosite.AccessToken)
}

// GetAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *store) GetAccessTokenSession(ctx context.Context, sig string, into fosite.Session) (fosite.Requester, error) {
	rec, req, err := s.get(ctx, "access", sig, into)
	if err != nil {
		return nil, err
	}
	if !rec.Active || rec.GrantRevoked {
		return req, fosite.ErrInactiveToken
	}
	return req, nil
}

// DeleteAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *store) DeleteAccessTokenSession(ctx context.Context, sig string) error {
	return s.deleteRecord(ctx, "access", sig)
}

func (s *store) deleteRecord(ctx context.Context, kind, sig string) error {
	rec, _, err := s.get(ctx, kind, sig)
	if err != nil {
		return err
	}
	return s.run(ctx, func(tx tenancy.LookupTx) error {
		return identity.OAuthDelete(ctx, tx, rec.AccountID, kind, rec.Signature)
	})
}

// CreateRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (s *store) CreateRefreshTokenSession(ctx context.Context, sig, _ string, r fosite.Requester) error {
	return s.insert(ctx, "refresh", sig, r, fosite.RefreshToken)
}

// GetRefreshTokenSession implements oauth2.RefreshTokenStorage. A rotated
// (inactive) token returns ErrInactiveToken, on which fosite revokes the
// whole grant: its reuse means it leaked. A token of a grant an admin
// revoked is simply not found.
func (s *store) GetRefreshTokenSession(ctx context.Context, sig string, into fosite.Session) (fosite.Requester, error) {
	rec, req, err := s.get(ctx, "refresh", sig, into)
	if err != nil {
		return nil, err
	}
	if rec.GrantRevoked {
		return nil, fosite.ErrNotFound
	}
	if !rec.Active {
		return req, fosite.ErrInactiveToken
	}
	return req, nil
}

// DeleteRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (s *store) DeleteRefreshTokenSession(ctx context.Context, sig string) error {
	return s.deleteRecord(ctx, "refresh", sig)
}

// RotateRefreshToken implements oauth2.RefreshTokenStorage: the presented
// refresh token becomes inactive (kept, so that its reuse is recognised)
// and the access tokens issued before it stop working. Of two racing
// refreshes with the same token, one wins.
func (s *store) RotateRefreshToken(ctx context.Context, reqID, sig string) error {
	acct, err := accountOf(reqID)
	if err != nil {
		return err
	}
	hash, err := hex.DecodeString(sig)
	if err != nil {
		return fosite.ErrNotFound
	}
	return s.run(ctx, func(tx tenancy.LookupTx) error {
		won, err := identity.OAuthDeactivate(ctx, tx, acct, "refresh", hash)
		if err != nil {
			return err
		}
		if !won {
			return fosite.ErrNotFound
		}
		if _, err := identity.OAuthRevokeRequest(ctx, tx, acct, reqID, "access", false); err != nil {
			return err
		}
		return identity.OAuthCleanup(ctx, tx, acct, reqID)
	})
}

// RevokeRefreshToken implements oauth2.TokenRevocationStorage. fosite calls
// it on RFC 7009 revocation, on a reused refresh token and on a reused
// authorization code: each ends the grant, which the MCP token list then
// shows as revoked.
func (s *store) RevokeRefreshToken(ctx context.Context, reqID string) error {
	acct, err := accountOf(reqID)
	if err != nil {
		return err
	}
	return s.run(ctx, func(tx tenancy.LookupTx) error {
		grant, err := identity.OAuthRevokeRequest(ctx, tx, acct, reqID, "refresh", true)
		if err != nil || grant == 0 {
			return err
		}
		s.touch(acct)
		return audit.Insert(ctx, tx, acct, audit.Entry{ActorKind: "system", TokenID: grant, Action: "oauth.revoke", Decision: "allow",
			Reasons: []string{"the client revoked the grant, or reused a rotated refresh token or a redeemed code"}})
	})
}

// RevokeAccessToken implements oauth2.TokenRevocationStorage.
func (s *store) RevokeAccessToken(ctx context.Context, reqID string) error {
	acct, err := accountOf(reqID)
	if err != nil {
		return err
	}
	return s.run(ctx, func(tx tenancy.LookupTx) error {
		_, err := identity.OAuthRevokeRequest(ctx, tx, acct, reqID, "access", false)
		return err
	})
}

// CreatePKCERequestSession implements pkce.PKCERequestStorage.
func (s *store) CreatePKCERequestSession(ctx context.Context, sig string, r fosite.Requester) error {
	return s.insert(ctx, "pkce", sig, r, fosite.AuthorizeCode)
}

// GetPKCERequestSession implements pkce.PKCERequestStorage.
func (s *store) GetPKCERequestSession(ctx context.Context, sig string, into fosite.Session) (fosite.Requester, error) {
	_, req, err := s.get(ctx, "pkce", sig, into)
	return req, err
}

// DeletePKCERequestSession implements pkce.PKCERequestStorage. It keeps
// the challenge: fosite deletes it before comparing the verifier, which
// would let a wrong verifier destroy a code the right one could still
// redeem. The code itself is single-use, and expires within minutes.
func (s *store) DeletePKCERequestSession(context.Context, string) error { return nil }

// touch tells the audit sealer that the account has rows to chain (it
// seals only committed rows, and its sweep catches any it misses).
func (s *store) touch(acct int64) {
	if s.audit != nil {
		s.audit.Touch(acct)
	}
}
