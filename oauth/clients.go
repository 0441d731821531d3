package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ory/fosite"

	"github.com/deskwoot/deskwoot/egress"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
	"github.com/deskwoot/deskwoot/throttle"
)

// Client is an OAuth client as fosite sees it, with the name the consent
// page shows.
type Client struct {
	*fosite.DefaultOpenIDConnectClient
	Name string
}

// Bounds on a client ID metadata document fetch.
const (
	metadataMaxBytes = 64 << 10
	metadataTimeout  = 5 * time.Second
	metadataTTL      = 10 * time.Minute
	metadataFailTTL  = 30 * time.Second
	metadataCacheMax = 1000
)

// Fetches of metadata documents the cache does not hold: each signed-in
// person, and each address at the token and revocation endpoints, may
// cause metadataFetchBurst at once, then one every metadataFetchEvery.
// A document, once fetched, is served from the cache for metadataTTL.
const (
	metadataFetchBurst = 10
	metadataFetchEvery = time.Minute
)

// errMetadataUnusable is all anyone is told when a client ID metadata
// document could not be fetched or is not acceptable. Which step failed
// (the name did not resolve, the address is internal or refused the
// connection, the fetch timed out, the status, the JSON, a field) goes to
// the server's log only: the authorization server must be neither an
// oracle on what answers where nor a reflector of what another server says.
var errMetadataUnusable = fmt.Errorf("%w: the client's metadata document could not be used; it must be served over https from a public address, answer 200 with a JSON object of at most 64 KB, name its own URL as client_id and list 1 to 10 redirect_uris", fosite.ErrNotFound)

// errMetadataThrottled is resolve's answer past a fetch budget.
var errMetadataThrottled = errors.New("too many client metadata documents were fetched from here; try again in a minute")

// clients finds clients: a registered one by its id, or one identified by
// a client ID metadata document (an https URL as client_id), fetched
// through the egress guard and cached.
type clients struct {
	db            *tenancy.DB
	scopes        []string
	allowLoopback bool
	http          *http.Client
	fetches       *throttle.Throttle

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	c       *Client
	err     error
	expires time.Time
}

func newClients(db *tenancy.DB, scopes []string, allowLoopback bool, hc *http.Client) *clients {
	if hc == nil {
		if allowLoopback {
			hc = &http.Client{Timeout: metadataTimeout}
		} else {
			hc = egress.PublicOnlyClient(metadataTimeout, "client ID metadata documents must be on the public internet")
		}
	}
	// Never follow redirects: the document must be served at its own URL.
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &clients{db: db, scopes: scopes, allowLoopback: allowLoopback, http: &c, cache: map[string]cached{},
		fetches: throttle.New(metadataFetchEvery, metadataFetchBurst)}
}

// errUnknownClient wraps fosite's not-found so that fosite answers
// invalid_client.
var errUnknownClient = fmt.Errorf("%w: unknown client_id; register the client at /oauth/register or use a client ID metadata document URL", fosite.ErrNotFound)

// isMetadataURL reports whether a client_id names a client ID metadata
// document rather than a registered client.
func isMetadataURL(id string) bool {
	return strings.HasPrefix(id, "https://") || strings.HasPrefix(id, "http://")
}

// get finds a client for fosite. A metadata document client comes from
// the cache only: get never fetches (see resolve).
func (cs *clients) get(ctx context.Context, id string) (*Client, error) {
	if isMetadataURL(id) {
		if e, ok := cs.cached(id, time.Now()); ok {
			return e.c, e.err
		}
		return nil, errMetadataUnusable
	}
	if id == "" {
		return nil, errUnknownClient
	}
	rc, err := identity.OAuthClientGet(ctx, cs.db, id)
	if errors.Is(err, tenancy.ErrNotFound) {
		return nil, errUnknownClient
	}
	if err != nil {
		return nil, err
	}
	return cs.build(rc.ID, rc.Name, rc.RedirectURIs, rc.AuthMethod, rc.SecretHash), nil
}

func (cs *clients) build(id, name string, redirects []string, method, secretHash string) *Client {
	return &Client{Name: name, DefaultOpenIDConnectClient: &fosite.DefaultOpenIDConnectClient{
		DefaultClient: &fosite.DefaultClient{
			ID:            id,
			Secret:        []byte(secretHash),
			RedirectURIs:  redirects,
			GrantTypes:    []string{"authorization_code", "refresh_token"},
			ResponseTypes: []string{"code"},
			Scopes:        cs.scopes,
			Public:        method == "none",
		},
		TokenEndpointAuthMethod: method,
	}}
}

// resolve makes the client ID metadata document at id known before fosite
// looks the client up: from the cache when it is fresh, else fetched. It
// is the only way a document is fetched, so a request that does not come
// through it (an anonymous authorization request) never makes the server
// fetch anything. A fetch spends one from the budget of every key given (a
// person, an address); past a budget resolve answers errMetadataThrottled
// without fetching. Failures are cached briefly, so that a bad URL cannot
// make the server fetch on every request, and read errMetadataUnusable.
func (cs *clients) resolve(ctx context.Context, id string, keys ...string) error {
	now := time.Now()
	if e, ok := cs.cached(id, now); ok {
		return e.err
	}
	// The URL's own rules are checked without fetching, so telling which
	// one it breaks reveals nothing about the network.
	if err := cs.checkMetadataURL(id); err != nil {
		return fmt.Errorf("%w: %w", fosite.ErrNotFound, err)
	}
	for _, k := range keys {
		if cs.fetches.Take(k, now) > 0 {
			return errMetadataThrottled
		}
	}
	c, err := cs.fetch(ctx, id)
	if err != nil {
		slog.InfoContext(ctx, "oauth: client ID metadata document refused", "client_id", id, "err", err)
		if ctx.Err() != nil {
			return errMetadataUnusable // the caller gave up; do not remember that
		}
		err = errMetadataUnusable
	}
	cs.remember(id, cached{c: c, err: err, expires: now.Add(metadataTTL)}, now)
	return err
}

// holds says whether the cache has a fresh entry for id (a document, or
// a failure to use one).
func (cs *clients) holds(id string) bool {
	_, ok := cs.cached(id, time.Now())
	return ok
}

// cached is the cache's fresh entry for id, if any.
func (cs *clients) cached(id string, now time.Time) (cached, bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	e, ok := cs.cache[id]
	return e, ok && now.Before(e.expires)
}

// remember caches an outcome (a failure for metadataFailTTL only),
// forgetting expired entries, or any, when the cache is full.
func (cs *clients) remember(id string, e cached, now time.Time) {
	if e.err != nil {
		e.expires = now.Add(metadataFailTTL)
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.cache) >= metadataCacheMax {
		for k, old := range cs.cache {
			if now.After(old.expires) || len(cs.cache) >= metadataCacheMax {
				delete(cs.cache, k)
			}
		}
	}
	cs.cache[id] = e
}

// metadataDocument is the part of a client ID metadata document we read.
type metadataDocument struct {
	ClientID                string   `json:"client_id"`
	ClientName              string   `json:"client_name"`
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
}

// fetch reads and checks the document at id. Its errors say what went
// wrong for the server's log; resolve tells no one else.
func (cs *clients) fetch(ctx context.Context, id string) (*Client, error) {
	ctx, cancel := context.WithTimeout(ctx, metadataTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, id, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "Deskwoot-OAuth/1")
	resp, err := cs.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("could not be fetched: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("answered %s, not 200", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, metadataMaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("could not be read: %v", err)
	}
	if len(body) > metadataMaxBytes {
		return nil, fmt.Errorf("is larger than %d bytes", metadataMaxBytes)
	}
	var doc metadataDocument
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("is not a JSON object: %v", err)
	}
	switch {
	case doc.ClientID != id:
		return nil, fmt.Errorf("names client_id %q, not its own URL", doc.ClientID)
	case doc.TokenEndpointAuthMethod != "" && doc.TokenEndpointAuthMethod != "none":
		return nil, fmt.Errorf("asks for token_endpoint_auth_method %q; only none is supported for metadata documents", doc.TokenEndpointAuthMethod)
	case len(doc.RedirectURIs) == 0 || len(doc.RedirectURIs) > 10:
		return nil, errors.New("must list 1 to 10 redirect_uris")
	}
	for _, u := range doc.RedirectURIs {
		if err := checkRedirectURI(u); err != nil {
			return nil, err
		}
	}
	if err := checkGrants(doc.GrantTypes, doc.ResponseTypes); err != nil {
		return nil, err
	}
	name := strings.TrimSpace(doc.ClientName)
	if err := checkText("client_name", name, maxClientName); err != nil {
		return nil, err
	}
	if name == "" {
		u, _ := url.Parse(id)
		name = u.Host
	}
	return cs.build(id, name, doc.RedirectURIs, "none", ""), nil
}

// checkMetadataURL applies the client ID metadata document rules: https,
// a path, no fragment, no credentials, no dot segments. Plain http is
// allowed only for loopback hosts, and only when configured (tests).
func (cs *clients) checkMetadataURL(id string) error {
	u, err := url.Parse(id)
	if err != nil || u.Host == "" {
		return errors.New("client_id is not an absolute URL")
	}
	switch {
	case u.Scheme == "http" && !(cs.allowLoopback && isLoopbackHost(u.Hostname())):
		return errors.New("client_id URLs must use https")
	case u.Scheme != "https" && u.Scheme != "http":
		return errors.New("client_id URLs must use https")
	case u.Fragment != "" || u.User != nil:
		return errors.New("client_id URLs must not carry a fragment or credentials")
	case u.Path == "" || u.Path == "/":
		return errors.New("client_id URLs must have a path")
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return errors.New("client_id URLs must not contain . or .. segments")
		}
	}
	return nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// checkRedirectURI accepts https URLs, http only on loopback (native apps,
// RFC 8252), and private-use schemes of native apps; never a fragment, and
// never script-like schemes.
func checkRedirectURI(raw string) error {
	if err := checkText("each redirect URI", raw, maxRedirectURI); err != nil {
		return err
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return fmt.Errorf("redirect URI %q is not an absolute URL", raw)
	}
	switch scheme := strings.ToLower(u.Scheme); {
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("redirect URI %q must not have a fragment", raw)
	case scheme == "https":
		if u.Host == "" {
			return fmt.Errorf("redirect URI %q has no host", raw)
		}
	case scheme == "http":
		if !isLoopbackHost(u.Hostname()) {
			return fmt.Errorf("redirect URI %q must use https (http only for loopback)", raw)
		}
	case slices.Contains([]string{"javascript", "data", "file", "vbscript", "about", "blob"}, scheme):
		return fmt.Errorf("redirect URI %q uses a forbidden scheme", raw)
	}
	return nil
}

// checkGrants accepts what this server does: the authorization code grant
// with refresh tokens.
func checkGrants(grants, responses []string) error {
	for _, g := range grants {
		if g != "authorization_code" && g != "refresh_token" {
			return fmt.Errorf("grant type %q is not supported; use authorization_code and refresh_token", g)
		}
	}
	for _, r := range responses {
		if r != "code" {
			return fmt.Errorf("response type %q is not supported; use code", r)
		}
	}
	return nil
}

// Lengths of a client's texts, in characters: the name the consent page
// and the MCP token list show, and each redirect URI.
const (
	maxClientName  = 100
	maxRedirectURI = 2000
)

// checkText refuses a client's text that is longer than max characters,
// or that holds a control character (PostgreSQL cannot store NUL, and none
// belongs in a name or URL) or a bidirectional control (which could make
// the consent page show a name other than the one given).
func checkText(field, s string, max int) error {
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Errorf("%s must be at most %d characters, not %d", field, max, n)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return fmt.Errorf("%s must not contain control characters (it has U+%04X)", field, r)
		}
	}
	return nil
}

// knows reports whether scope is one a client may ask for.
func (cs *clients) knows(scope string) bool { return slices.Contains(cs.scopes, scope) }

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}
