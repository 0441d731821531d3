package oauth

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/ory/fosite"

	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/throttle"
)

// maxForm bounds the token, revocation and registration bodies.
const maxForm = 16 << 10

// errInvalidTarget is RFC 8707's error for a resource this server does not
// issue tokens for.
var errInvalidTarget = &fosite.RFC6749Error{ErrorField: "invalid_target", CodeField: http.StatusBadRequest,
	DescriptionField: "The requested resource is not this server's MCP endpoint."}

// token is the token endpoint: authorization_code (with the PKCE verifier)
// and refresh_token grants; fosite checks the grant, we check the resource.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if cors(w, r) {
		return
	}
	ctx := r.Context()
	quota := s.tokens.Spend(s.clientIP(r), s.cfg.Now())
	rateHeaders(w, quota)
	if quota.Wait > 0 {
		secs := int(math.Ceil(quota.Wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "temporarily_unavailable",
			"error_description": fmt.Sprintf("too many token requests from this address; try again in %d seconds", secs)})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	// fosite answers a grant type no handler takes as invalid_request;
	// RFC 6749 says unsupported_grant_type.
	if g := r.PostFormValue("grant_type"); g != "" && g != "authorization_code" && g != "refresh_token" {
		s.provider.WriteAccessError(ctx, w, fosite.NewAccessRequest(&Session{}), fosite.ErrUnsupportedGrantType)
		return
	}
	if !s.resolveClient(w, r) {
		return
	}
	sess := &Session{}
	ar, err := s.provider.NewAccessRequest(ctx, r, sess)
	if err == nil {
		err = s.checkResource(r.PostForm["resource"], ar)
	}
	if err != nil {
		s.logServerError(r, err)
		s.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		s.logServerError(r, err)
		s.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	s.provider.WriteAccessResponse(ctx, w, ar, resp)
}

// checkResource applies RFC 8707 at the token endpoint: a resource, when
// given, must be the MCP URL the authorization was bound to.
func (s *Server) checkResource(given []string, ar fosite.AccessRequester) error {
	bound := s.resource
	if sess, ok := ar.GetSession().(*Session); ok && sess.Resource != "" {
		bound = sess.Resource
	}
	for _, g := range given {
		if g != s.resource || g != bound {
			return errInvalidTarget
		}
	}
	return nil
}

// revoke is RFC 7009 revocation. Revoking either token of a grant ends the
// grant (its refresh and access tokens, and its row in the MCP token list).
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	if cors(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if !s.resolveClient(w, r) {
		return
	}
	err := s.provider.NewRevocationRequest(r.Context(), r)
	s.logServerError(r, err)
	s.provider.WriteRevocationResponse(r.Context(), w, err)
}

// resolveClient makes a metadata document client of a token or revocation
// request known before fosite authenticates it. Its document is fetched
// on a cache miss only when the request carries a code or token this
// server issued to that very client (grantHolds): the cache holds a
// document for metadataTTL, so a refresh a day after the consent may miss
// it, but a request without such a grant never makes the server fetch
// anything (anyone could otherwise point client_id at any URL and learn
// from the answer whether the server reached it). A failure is left for
// fosite to answer as invalid_client, alike for every cause; only a spent
// fetch budget is answered here, with 429. It reports whether to go on.
func (s *Server) resolveClient(w http.ResponseWriter, r *http.Request) bool {
	id := r.PostFormValue("client_id")
	if !isMetadataURL(id) || s.clients.holds(id) || !s.grantHolds(r, id) {
		return true
	}
	if err := s.clients.resolve(r.Context(), id, "address "+s.clientIP(r)); errors.Is(err, errMetadataThrottled) {
		w.Header().Set("Retry-After", strconv.Itoa(int(metadataFetchEvery.Seconds())))
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "temporarily_unavailable", "error_description": err.Error()})
		return false
	}
	return true
}

// grantHolds says whether the code (authorization_code grant), refresh
// token (refresh_token grant) or token (revocation) the request carries is
// one this server issued to client id, active or not.
func (s *Server) grantHolds(r *http.Request, id string) bool {
	var presented []struct{ kind, token string }
	add := func(kind, field string) {
		if v := r.PostFormValue(field); v != "" {
			presented = append(presented, struct{ kind, token string }{kind, v})
		}
	}
	switch r.PostFormValue("grant_type") {
	case "authorization_code":
		add("code", "code")
	case "refresh_token":
		add("refresh", "refresh_token")
	case "": // revocation: either kind of token
		add("refresh", "token")
		add("access", "token")
	}
	for _, p := range presented {
		if rec, _, err := s.store.get(r.Context(), p.kind, signature(p.token)); err == nil && rec.ClientID == id {
			return true
		}
	}
	return false
}

func (s *Server) logServerError(r *http.Request, err error) {
	var rfc *fosite.RFC6749Error
	if err != nil && errors.As(err, &rfc) && rfc.CodeField >= 500 {
		slog.ErrorContext(r.Context(), "oauth", "path", r.URL.Path, "err", err, "debug", rfc.DebugField, "cause", rfc.Cause())
	}
}

// registration is an RFC 7591 client registration request.
type registration struct {
	RedirectURIs            []string `json:"redirect_uris"`
	ClientName              string   `json:"client_name"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	Scope                   string   `json:"scope"`
}

// registerClient is dynamic client registration (RFC 7591), for clients
// that do not publish a client ID metadata document.
func (s *Server) registerClient(w http.ResponseWriter, r *http.Request) {
	if cors(w, r) {
		return
	}
	quota := s.register.Spend(s.clientIP(r), s.cfg.Now())
	rateHeaders(w, quota)
	if wait := quota.Wait; wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "temporarily_unavailable",
			"error_description": fmt.Sprintf("too many registrations from this address; try again in %d seconds", secs)})
		return
	}
	var in registration
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxForm))
	if err == nil {
		err = json.Unmarshal(body, &in)
	}
	if err != nil {
		registrationError(w, "invalid_client_metadata", "the body must be a JSON object of client metadata (at most 16 KB)")
		return
	}
	if len(in.RedirectURIs) == 0 || len(in.RedirectURIs) > 10 {
		registrationError(w, "invalid_redirect_uri", "give 1 to 10 redirect_uris")
		return
	}
	for _, u := range in.RedirectURIs {
		if err := checkRedirectURI(u); err != nil {
			registrationError(w, "invalid_redirect_uri", err.Error())
			return
		}
	}
	name := strings.TrimSpace(in.ClientName)
	if err := checkText("client_name", name, maxClientName); err != nil {
		registrationError(w, "invalid_client_metadata", err.Error())
		return
	}
	if name == "" {
		name = "MCP client"
	}
	if err := checkGrants(in.GrantTypes, in.ResponseTypes); err != nil {
		registrationError(w, "invalid_client_metadata", err.Error())
		return
	}
	method := in.TokenEndpointAuthMethod
	switch method {
	case "":
		method = "client_secret_basic" // RFC 7591's default
	case "none", "client_secret_post", "client_secret_basic":
	default:
		registrationError(w, "invalid_client_metadata", fmt.Sprintf("token_endpoint_auth_method %q is not supported; use none, client_secret_post or client_secret_basic", method))
		return
	}
	for _, sc := range strings.Fields(in.Scope) {
		if !s.clients.knows(sc) {
			registrationError(w, "invalid_client_metadata", fmt.Sprintf("scope %q is not one of this server's scopes", sc))
			return
		}
	}
	c := identity.OAuthClient{ID: "dwc_" + rand.Text(), Name: name, RedirectURIs: in.RedirectURIs, AuthMethod: method}
	var secret string
	if method != "none" {
		secret = "dws_" + rand.Text() + rand.Text()
		h, _ := secretHasher{}.Hash(r.Context(), []byte(secret))
		c.SecretHash = string(h)
	}
	if err := identity.OAuthClientRegister(r.Context(), s.cfg.DB, c); err != nil {
		slog.ErrorContext(r.Context(), "oauth client registration", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable", "error_description": "registration is unavailable; try again"})
		return
	}
	out := map[string]any{
		"client_id": c.ID, "client_id_issued_at": s.cfg.Now().Unix(), "client_name": c.Name,
		"redirect_uris": c.RedirectURIs, "token_endpoint_auth_method": method,
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
	}
	if in.Scope != "" {
		out["scope"] = in.Scope
	}
	if secret != "" {
		out["client_secret"], out["client_secret_expires_at"] = secret, 0
	}
	writeJSON(w, http.StatusCreated, out)
}

func registrationError(w http.ResponseWriter, code, desc string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": desc})
}

// rateHeaders says what a request left of the per-address limit it spent
// (token requests, registrations): X-RateLimit-Limit, -Remaining and
// -Reset, the seconds until the limit is whole again.
func rateHeaders(w http.ResponseWriter, q throttle.Quota) {
	w.Header().Set("X-RateLimit-Limit", strconv.Itoa(q.Limit))
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(q.Remaining))
	w.Header().Set("X-RateLimit-Reset", strconv.Itoa(int(math.Ceil(q.Reset.Seconds()))))
}
