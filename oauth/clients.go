package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ory/fosite"

	"github.com/deskwoot/deskwoot/egress"
	"github.com/deskwoot/deskwoot/tenancy"
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

// clients finds clients: a registered one by its id, or one identified by
// a client ID metadata document (an https URL as client_id), fetched
// through the egress guard and cached.
type clients struct {
	db            *tenancy.DB
	scopes        []string
	allowLoopback bool
	http          *http.Client

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
	return &clients{db: db, scopes: scopes, allowLoopback: allowLoopback, http: &c, cache: map[string]cached{}}
}

// errUnknownClient wraps fosite's not-found so that fosite answers
// invalid_client.
var errUnknownClient = fmt.Errorf("%w: unknown client_id; register the client at /oauth/register or use a client ID metadata document URL", fosite.ErrNotFound)

func (cs *clients) get(ctx context.Context, id string) (*Client, error) {
	if strings.HasPrefix(id, "https://") || strings.HasPrefix(id, "http://") {
		return cs.metadata(ctx, id)
	}
	if id == "" {
		return nil, errUnknownClient
	}
	rc, err := cs.db.OAuthClientGet(ctx, id)
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

// metadata resolves a client ID metadata document, from the cache when it
// is fresh. Failures are cached briefly so that a bad URL cannot make the
// server fetch on every request.
func (cs *clients) metadata(ctx context.Context, id string) (*Client, error) {
	now := time.Now()
	cs.mu.Lock()
	if e, ok := cs.cache[id]; ok && now.Before(e.expires) {
		cs.mu.Unlock()
		return e.c, e.err
	}
	cs.mu.Unlock()
	c, err := cs.fetch(ctx, id)
	if err != nil && ctx.Err() != nil {
		return nil, err // the caller gave up; do not remember that
	}
	ttl := metadataTTL
	if err != nil {
		err = fmt.Errorf("%w: client ID metadata document %s: %w", fosite.ErrNotFound, id, err)
		ttl = metadataFailTTL
	}
	cs.mu.Lock()
	if len(cs.cache) >= metadataCacheMax {
		for k, e := range cs.cache {
			if now.After(e.expires) || len(cs.cache) >= metadataCacheMax {
				delete(cs.cache, k)
			}
		}
	}
	cs.cache[id] = cached{c: c, err: err, expires: now.Add(ttl)}
	cs.mu.Unlock()
	return c, err
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

func (cs *clients) fetch(ctx context.Context, id string) (*Client, error) {
	if err := cs.checkMetadataURL(id); err != nil {
		return nil, err
	}
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
		if errors.Is(err, egress.ErrInternalAddress) {
			return nil, errors.New("it is on an internal address, which is refused")
		}
		return nil, fmt.Errorf("could not be fetched: %v", err)
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
	if name == "" {
		u, _ := url.Parse(id)
		name = u.Host
	}
	return cs.build(id, truncate(name, 100), doc.RedirectURIs, "none", ""), nil
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
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || len(raw) > 2000 {
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

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

// knows reports whether scope is one a client may ask for.
func (cs *clients) knows(scope string) bool { return slices.Contains(cs.scopes, scope) }
