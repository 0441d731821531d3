package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"time"

	"github.com/ory/fosite"

	"github.com/deskwoot/deskwoot/identity"
)

// tokenStrategy is fosite's token format hook: codes and tokens are opaque
// random strings in Deskwoot's own format (a prefix, 256 random bits, a
// checksum), and a token's signature is the hex SHA-256 of it, which is all
// the storage keeps, as for dw_mcp_ tokens.
type tokenStrategy struct{}

func signature(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

func generate(prefix string) (string, string, error) {
	raw, _, _ := identity.NewToken(prefix)
	return raw, signature(raw), nil
}

// validate checks shape and expiry; presence and revocation are the
// storage's answer.
func validate(r fosite.Requester, kind fosite.TokenType, prefix, token string) error {
	if _, ok := identity.ParseToken(token, prefix); !ok {
		return fosite.ErrInvalidTokenFormat
	}
	if exp := r.GetSession().GetExpiresAt(kind); !exp.IsZero() && !time.Now().Before(exp) {
		return fosite.ErrTokenExpired.WithHintf("The %s expired at %s.", kind, exp.UTC().Format(time.RFC3339))
	}
	return nil
}

func (tokenStrategy) AccessTokenSignature(_ context.Context, token string) string {
	return signature(token)
}
func (tokenStrategy) GenerateAccessToken(context.Context, fosite.Requester) (string, string, error) {
	return generate(identity.OAuthAccessPrefix)
}
func (tokenStrategy) ValidateAccessToken(_ context.Context, r fosite.Requester, token string) error {
	return validate(r, fosite.AccessToken, identity.OAuthAccessPrefix, token)
}

func (tokenStrategy) RefreshTokenSignature(_ context.Context, token string) string {
	return signature(token)
}
func (tokenStrategy) GenerateRefreshToken(context.Context, fosite.Requester) (string, string, error) {
	return generate(identity.OAuthRefreshPrefix)
}
func (tokenStrategy) ValidateRefreshToken(_ context.Context, r fosite.Requester, token string) error {
	return validate(r, fosite.RefreshToken, identity.OAuthRefreshPrefix, token)
}

func (tokenStrategy) AuthorizeCodeSignature(_ context.Context, token string) string {
	return signature(token)
}
func (tokenStrategy) GenerateAuthorizeCode(context.Context, fosite.Requester) (string, string, error) {
	return generate(identity.OAuthCodePrefix)
}
func (tokenStrategy) ValidateAuthorizeCode(_ context.Context, r fosite.Requester, token string) error {
	return validate(r, fosite.AuthorizeCode, identity.OAuthCodePrefix, token)
}

// secretHasher hashes the client secrets of confidential registered
// clients. They are 256 random bits, so SHA-256 suffices (a slow password
// hash protects guessable secrets, which these are not).
type secretHasher struct{}

func (secretHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	h := sha256.Sum256(data)
	return []byte(hex.EncodeToString(h[:])), nil
}

func (secretHasher) Compare(ctx context.Context, hash, data []byte) error {
	got, _ := secretHasher{}.Hash(ctx, data)
	if subtle.ConstantTimeCompare(got, hash) != 1 {
		return errors.New("client secret does not match")
	}
	return nil
}
