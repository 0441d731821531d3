// Package oauth makes Deskwoot the OAuth 2.1 authorization server of its
// own MCP endpoint (DESIGN §14), for MCP clients that cannot send a bearer
// header (Claude.ai, ChatGPT and other connectors).
//
// ory/fosite runs the protocol (authorization code with PKCE S256, refresh
// token rotation with reuse detection, RFC 7009 revocation). This package
// is the glue: the metadata documents (RFC 9728, RFC 8414), the clients
// (client ID metadata documents and RFC 7591 registration), the consent
// page behind the console's sign-in, and the storage, in which every
// redeemed authorization becomes an MCP token of kind oauth, so that scopes,
// inboxes, the Rego decision, the audit and revocation work unchanged.
package oauth

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
	"github.com/deskwoot/deskwoot/throttle"
)

// Lifespans (DESIGN §14).
const (
	AccessTokenLifespan   = time.Hour
	RefreshTokenLifespan  = 30 * 24 * time.Hour
	AuthorizeCodeLifespan = 10 * time.Minute
)

// Console is what the authorization endpoint needs from the console: who
// is signed in, and its security wrapper (CSP, framing, cross-origin form
// posts refused) for the consent page.
type Console interface {
	SignedIn(r *http.Request) (identity.UserPrincipal, bool)
	Protect(h http.Handler) http.Handler
}

// Config is what the authorization server needs.
type Config struct {
	DB    *tenancy.DB
	Desk  *desk.Desk
	Audit *audit.Log
	// PublicURL is the base URL (DESKWOOT_PUBLIC_URL): the issuer, and
	// PublicURL + "/api/mcp" is the protected resource.
	PublicURL string
	// Scopes are the ten MCP scopes (from the policy's catalog).
	Scopes []string
	// Console provides the sign-in; SignInPath is its sign-in page, which
	// takes ?next= (default /signin).
	Console    Console
	SignInPath string
	// AllowLoopbackMetadata lets client ID metadata documents be fetched
	// from http loopback URLs (DESKWOOT_OAUTH_ALLOW_LOOPBACK_METADATA, for
	// tests and local clients); off in production.
	AllowLoopbackMetadata bool
	// MetadataClient fetches client ID metadata documents; by default an
	// egress client that refuses internal addresses.
	MetadataClient *http.Client
	// ClientIPHeader names the header a reverse proxy puts the client's
	// address in (DESKWOOT_CLIENT_IP_HEADER), as for every per-address
	// limit (throttle.ClientIP); empty uses the connection's peer.
	ClientIPHeader string
	Now            func() time.Time
}

// Dynamic client registration is open to anyone: one address (an IPv6
// /64) may register registerBurst clients at once, then one every
// registerEvery, whatever other addresses do.
const (
	registerBurst = 20
	registerEvery = 3 * time.Minute
)

// The token endpoint has a limit of its own: one address (an IPv6 /64)
// may ask for tokenBurst tokens at once (codes exchanged, refreshes), then
// one every tokenEvery. A client refreshes once an hour; guessing codes or
// refresh tokens is slowed to a crawl.
const (
	tokenBurst = 30
	tokenEvery = 2 * time.Second
)

// Server is the authorization server.
type Server struct {
	cfg      Config
	base     string
	resource string
	provider fosite.OAuth2Provider
	store    *store
	clients  *clients
	register *throttle.Throttle // registrations per address
	tokens   *throttle.Throttle // token requests per address
	pages    map[string]*template.Template
	layout   Layout // nil: the pages render on their own
}

// New builds the authorization server.
func New(cfg Config) (*Server, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SignInPath == "" {
		cfg.SignInPath = "/signin"
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://127.0.0.1:8080" // serve's default address
	}
	base := strings.TrimRight(cfg.PublicURL, "/")
	if u, err := url.Parse(base); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, errPublicURL
	}
	s := &Server{cfg: cfg, base: base, resource: base + "/api/mcp", register: throttle.New(registerEvery, registerBurst),
		tokens: throttle.New(tokenEvery, tokenBurst)}
	var err error
	if s.pages, s.layout, err = parsePages(cfg.Console); err != nil {
		return nil, err
	}
	s.clients = newClients(cfg.DB, append(append([]string{}, cfg.Scopes...), "offline_access"), cfg.AllowLoopbackMetadata, cfg.MetadataClient)
	s.store = &store{db: cfg.DB, clients: s.clients, audit: cfg.Audit, now: cfg.Now}
	fc := &fosite.Config{
		AccessTokenLifespan:            AccessTokenLifespan,
		RefreshTokenLifespan:           RefreshTokenLifespan,
		AuthorizeCodeLifespan:          AuthorizeCodeLifespan,
		EnforcePKCE:                    true,
		EnablePKCEPlainChallengeMethod: false,
		ScopeStrategy:                  fosite.ExactScopeStrategy,
		// Every grant gets a refresh token; fosite would otherwise demand
		// the offline_access scope for one.
		RefreshTokenScopes:       []string{},
		AudienceMatchingStrategy: fosite.DefaultAudienceMatchingStrategy,
		TokenURL:                 base + "/oauth/token",
		AccessTokenIssuer:        base,
		ClientSecretsHasher:      secretHasher{},
	}
	s.provider = compose.Compose(fc, s.store, tokenStrategy{},
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2PKCEFactory,
	)
	return s, nil
}

// clientIP is the key of r's address for the per-address limits.
func (s *Server) clientIP(r *http.Request) string { return throttle.ClientIP(r, s.cfg.ClientIPHeader) }

// Resource is the protected resource: the public MCP URL.
func (s *Server) Resource() string { return s.resource }

// ResourceMetadataURL is where the resource's RFC 9728 metadata is served.
func (s *Server) ResourceMetadataURL() string {
	return s.base + "/.well-known/oauth-protected-resource/api/mcp"
}

// Routes registers the metadata documents and the OAuth endpoints.
func (s *Server) Routes(r *mux.Router) {
	r.HandleFunc("/.well-known/oauth-protected-resource", s.protectedResource).Methods(http.MethodGet, http.MethodOptions)
	r.HandleFunc("/.well-known/oauth-protected-resource/api/mcp", s.protectedResource).Methods(http.MethodGet, http.MethodOptions)
	r.HandleFunc("/.well-known/oauth-authorization-server", s.authorizationServer).Methods(http.MethodGet, http.MethodOptions)
	r.HandleFunc("/oauth/register", s.registerClient).Methods(http.MethodPost, http.MethodOptions)
	r.HandleFunc("/oauth/token", s.token).Methods(http.MethodPost, http.MethodOptions)
	r.HandleFunc("/oauth/revoke", s.revoke).Methods(http.MethodPost, http.MethodOptions)
	var authorize http.Handler = http.HandlerFunc(s.authorize)
	if s.cfg.Console != nil {
		authorize = s.cfg.Console.Protect(authorize)
	}
	r.Handle("/oauth/authorize", authorize).Methods(http.MethodGet, http.MethodPost)
}

// cors lets browser-based MCP clients read the metadata and call the token
// endpoints (no cookies are involved there). It reports whether the request
// was a preflight, which it has answered.
func cors(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, MCP-Protocol-Version")
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}

type errString string

func (e errString) Error() string { return string(e) }

const errPublicURL = errString("oauth: the public URL (DESKWOOT_PUBLIC_URL) must be an absolute http(s) URL such as https://desk.example.com")
