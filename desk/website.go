package desk

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/tenancy"
)

// A website inbox is the chat widget on the workspace's own site (package
// widget serves it). Its settings say which sites may embed it, whether
// visitors must be identified by the site, the greeting, and after how many
// minutes without a reply the widget asks for an email. Its public id (in
// the embed snippet) routes a visitor's requests to it before the tenant is
// known (migrations/0067_website.sql). Its identity secret lets the site
// vouch for its signed-in users: user_hash = hex HMAC-SHA256(secret,
// user_id). Verifying an HMAC needs the secret itself, so it is stored
// encrypted (AES-256-GCM) under a key derived from the server's widget key,
// bound to its account and public id, and shown in clear only once, when
// it is made.

// WebsiteSettings are a website inbox's settings.
type WebsiteSettings struct {
	// AllowedOrigins are the sites (scheme://host[:port]) whose pages may
	// use the widget; "*" allows any. None allows none.
	AllowedOrigins []string `json:"allowed_origins"`
	// RequireIdentity refuses visitors the site has not identified.
	RequireIdentity bool   `json:"require_identity"`
	Greeting        string `json:"greeting"`
	// EmailPromptAfterMinutes: when no reply came this long after the
	// visitor wrote, the widget asks for an email (nil: the default).
	EmailPromptAfterMinutes *int `json:"email_prompt_after_minutes"`
}

// Website settings bounds and defaults.
const (
	DefaultEmailPromptMinutes = 3
	MaxEmailPromptMinutes     = 24 * 60
	MaxGreeting               = 500
	MaxAllowedOrigins         = 50
)

// PromptMinutes is the email prompt's delay with the default applied.
func (s WebsiteSettings) PromptMinutes() int {
	if s.EmailPromptAfterMinutes == nil {
		return DefaultEmailPromptMinutes
	}
	return *s.EmailPromptAfterMinutes
}

// AllowsOrigin reports whether a page of origin may use the widget.
func (s WebsiteSettings) AllowsOrigin(origin string) bool {
	if origin == "" || origin == "null" {
		return false
	}
	for _, o := range s.AllowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

func websiteSettingsValidate(settings map[string]any) error {
	raw, _ := json.Marshal(settings)
	var s WebsiteSettings
	if err := json.Unmarshal(raw, &s); err != nil {
		return invalid("settings", "website settings: allowed_origins must be a list of strings, require_identity a boolean, greeting a string, email_prompt_after_minutes a whole number")
	}
	if len(s.AllowedOrigins) > MaxAllowedOrigins {
		return invalid("settings.allowed_origins", "settings.allowed_origins holds at most %d origins", MaxAllowedOrigins)
	}
	for _, o := range s.AllowedOrigins {
		if err := originValidate(o); err != nil {
			return err
		}
	}
	if utf8.RuneCountInString(s.Greeting) > MaxGreeting {
		return invalid("settings.greeting", "settings.greeting is at most %d characters", MaxGreeting)
	}
	if m := s.PromptMinutes(); m < 0 || m > MaxEmailPromptMinutes {
		return invalid("settings.email_prompt_after_minutes", "settings.email_prompt_after_minutes must be 0 to %d", MaxEmailPromptMinutes)
	}
	return nil
}

// originValidate accepts "*" or an origin as browsers send it:
// http(s)://host[:port], nothing after.
func originValidate(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" ||
		u.Fragment != "" || u.User != nil || o != u.Scheme+"://"+u.Host {
		return invalid("settings.allowed_origins", "settings.allowed_origins: %q is not an origin; write it as https://www.example.com (scheme, host and port only), or \"*\" for any site", o)
	}
	return nil
}

// newPublicID draws a website inbox's public id: "wi_" and 26 base32
// characters (130 random bits).
func newPublicID() string { return "wi_" + rand.Text() }

// newIdentitySecret draws an identity secret: 32 random bytes in hex.
func newIdentitySecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// widgetKey is the server's widget key (server_secrets), read once.
func (d *Desk) widgetKey(ctx context.Context) ([]byte, error) {
	d.mu.Lock()
	key := d.widgetSecret
	d.mu.Unlock()
	if key != nil {
		return key, nil
	}
	if err := d.DB.Pool.QueryRow(ctx, `SELECT deskwoot_server_secret('widget')`).Scan(&key); err != nil {
		return nil, fmt.Errorf("read the widget key: %w", err)
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("the widget key is missing; run deskwoot migrate")
	}
	d.mu.Lock()
	d.widgetSecret = key
	d.mu.Unlock()
	return key, nil
}

// subKey derives a key for one purpose from the widget key, so that the
// key that signs visitor tokens never encrypts and the other way round.
func subKey(key []byte, purpose string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(purpose))
	return mac.Sum(nil)
}

// secretAAD binds an encrypted identity secret to its inbox: a ciphertext
// copied to another inbox or account does not decrypt.
func secretAAD(acct int64, publicID string) []byte {
	return []byte("deskwoot-identity-secret:" + strconv.FormatInt(acct, 10) + ":" + publicID)
}

func (d *Desk) identityAEAD(ctx context.Context) (cipher.AEAD, error) {
	key, err := d.widgetKey(ctx)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(subKey(key, "identity-secret-encryption-v1"))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealIdentitySecret encrypts a secret: nonce || ciphertext.
func (d *Desk) sealIdentitySecret(ctx context.Context, acct int64, publicID, secret string) ([]byte, error) {
	aead, err := d.identityAEAD(ctx)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, []byte(secret), secretAAD(acct, publicID)), nil
}

// openIdentitySecret decrypts what sealIdentitySecret made.
func (d *Desk) openIdentitySecret(ctx context.Context, acct int64, publicID string, sealed []byte) ([]byte, error) {
	aead, err := d.identityAEAD(ctx)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, fmt.Errorf("identity secret of inbox %s is malformed", publicID)
	}
	return aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], secretAAD(acct, publicID))
}

// EmbedSnippet is the script tag a site pastes to show the widget.
func (d *Desk) EmbedSnippet(publicID string) string {
	return fmt.Sprintf(`<script src="%s/widget.js" data-deskwoot-inbox="%s" async></script>`, strings.TrimRight(d.PublicURL, "/"), publicID)
}

// websiteCreate writes a new website inbox with a fresh public id and
// identity secret; the secret is returned in clear this once.
func (d *Desk) websiteCreate(ctx context.Context, tx pgx.Tx, acct int64, in InboxInput) (Inbox, error) {
	var ib Inbox
	publicID, secret := newPublicID(), newIdentitySecret()
	sealed, err := d.sealIdentitySecret(ctx, acct, publicID, secret)
	if err != nil {
		return ib, err
	}
	var raw []byte
	err = tx.QueryRow(ctx, `INSERT INTO inboxes (account_id, name, channel, settings, public_id, identity_secret)
		VALUES ($1, $2, 'website', $3, $4, $5) RETURNING id, name, channel, settings, created_at`,
		acct, in.Name, in.Settings, publicID, sealed).Scan(&ib.ID, &ib.Name, &ib.Channel, &raw, &ib.CreatedAt)
	if err != nil {
		return ib, err
	}
	ib.Settings = redact(raw)
	d.withWebsite(&ib, &publicID)
	ib.IdentitySecret = secret
	return ib, nil
}

// withWebsite fills a website inbox's public id and embed snippet.
func (d *Desk) withWebsite(ib *Inbox, publicID *string) {
	if ib.Channel != "website" || publicID == nil {
		return
	}
	ib.PublicID = *publicID
	ib.EmbedSnippet = d.EmbedSnippet(*publicID)
}

// InboxIdentitySecretRotate gives a website inbox a new identity secret
// and returns the inbox with it in clear, this once. The old secret stops
// verifying at once: the site must switch to the new one. Admins only (the
// caller checks the role); the request's audit row commits with it.
func (d *Desk) InboxIdentitySecretRotate(ctx context.Context, req *tenancy.Request, id int64) (Inbox, error) {
	var ib Inbox
	req.Audit.Touched("inbox_id", id)
	err := d.inUnit(ctx, req, func(tx pgx.Tx) error {
		var raw []byte
		var publicID *string
		err := tx.QueryRow(ctx, `SELECT id, name, channel, settings, created_at, public_id FROM inboxes WHERE id = $1 FOR UPDATE`, id).
			Scan(&ib.ID, &ib.Name, &ib.Channel, &raw, &ib.CreatedAt, &publicID)
		if err != nil {
			return withKind(err, "inbox", id)
		}
		if ib.Channel != "website" || publicID == nil {
			return invalid("", "inbox %d is an %s inbox; only website inboxes have an identity secret", id, ib.Channel)
		}
		ib.Settings = redact(raw)
		d.withWebsite(&ib, publicID)
		secret := newIdentitySecret()
		sealed, err := d.sealIdentitySecret(ctx, req.AccountID, *publicID, secret)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE inboxes SET identity_secret = $2 WHERE id = $1`, id, sealed); err != nil {
			return err
		}
		ib.IdentitySecret = secret
		return nil
	})
	return ib, err
}
