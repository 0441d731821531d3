package oauth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/server"
	"github.com/deskwoot/deskwoot/tenancy"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// fakeConsole stands in for the console's sign-in: a cookie names a
// principal the test registered.
type fakeConsole struct {
	mu       sync.Mutex
	sessions map[string]identity.UserPrincipal
}

func (c *fakeConsole) SignedIn(r *http.Request) (identity.UserPrincipal, bool) {
	ck, err := r.Cookie("test_session")
	if err != nil {
		return identity.UserPrincipal{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.sessions[ck.Value]
	return p, ok
}

func (c *fakeConsole) Protect(h http.Handler) http.Handler {
	return http.NewCrossOriginProtection().Handler(h)
}

func (c *fakeConsole) signIn(p identity.UserPrincipal) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := rand.Text()
	c.sessions[id] = p
	return id
}

var (
	envOnce sync.Once
	base    string
	console = &fakeConsole{sessions: map[string]identity.UserPrincipal{}}
)

// endpoint starts one server for the package on a loopback port, with its
// public URL set to that port (so the resource and issuer are real URLs).
func endpoint(t testing.TB) string {
	t.Helper()
	envOnce.Do(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		base = "http://" + ln.Addr().String()
		app, err := server.Build(context.Background(), server.Config{AppDatabaseURL: dbtest.AppURL(), PublicURL: base,
			OAuthConsole: console, OAuthAllowLoopbackMetadata: true, ClientIPHeader: "X-Forwarded-For"})
		if err != nil {
			panic(err)
		}
		app.Background(context.Background())
		srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: app.Handler}}
		srv.Start()
	})
	return base
}

// world is a tenant with MCP on, two inboxes with a conversation each, and
// a signed-in admin. Its requests come from an address of its own (the
// test server reads X-Forwarded-For), so per-address limits apply to each
// world apart.
type world struct {
	dbtest.Tenant
	base           string
	addr           string
	session        string
	inbox1, inbox2 int64
	conv1, conv2   int64
}

var worlds atomic.Int64

// newAddr is an address no other world uses.
func newAddr() string {
	n := worlds.Add(1)
	return fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255)
}

func newWorld(t testing.TB) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{Tenant: dbtest.NewTenant(t), base: endpoint(t), addr: newAddr()}
	d := &desk.Desk{DB: dbtest.App(t)}
	if _, err := identity.MCPEnable(ctx, d.DB, tenancy.For(w.Account.ID), true); err != nil {
		t.Fatal(err)
	}
	for i, dst := range []struct{ inbox, conv *int64 }{{&w.inbox1, &w.conv1}, {&w.inbox2, &w.conv2}} {
		ib, err := d.InboxCreate(ctx, tenancy.For(w.Account.ID), desk.InboxInput{Name: fmt.Sprintf("Inbox %d", i+1), Channel: "api"})
		if err != nil {
			t.Fatal(err)
		}
		*dst.inbox = ib.ID
		res, err := d.IncomingMessage(ctx, w.Account.ID, ib.ID, desk.IncomingInput{
			Contact: desk.IncomingContact{Email: fmt.Sprintf("c%d@example.com", i), Name: "C"}, Content: "hello", SourceID: fmt.Sprint("s", i)})
		if err != nil {
			t.Fatal(err)
		}
		*dst.conv = res.ConversationID
	}
	w.session = console.signIn(identity.UserPrincipal{AccountID: w.Account.ID, UserID: w.User.ID, Role: "admin", Name: "Ada"})
	return w
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type response struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

func do(t testing.TB, req *http.Request) response {
	t.Helper()
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := response{Status: resp.StatusCode, Header: resp.Header, Body: body}
	json.Unmarshal(body, &r.JSON)
	return r
}

func (w *world) get(t testing.TB, path string, session string) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, w.base+path, nil)
	req.Header.Set("X-Forwarded-For", w.addr)
	if session != "" {
		req.AddCookie(&http.Cookie{Name: "test_session", Value: session})
	}
	return do(t, req)
}

func (w *world) postForm(t testing.TB, path string, form url.Values, session string) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", w.addr)
	if session != "" {
		req.AddCookie(&http.Cookie{Name: "test_session", Value: session})
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	return do(t, req)
}

func (w *world) postJSON(t testing.TB, path string, body any) response {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, w.base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", w.addr)
	return do(t, req)
}

func (w *world) rest(t testing.TB, method, path string) response {
	t.Helper()
	req, _ := http.NewRequest(method, w.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+w.APIToken)
	return do(t, req)
}

// register registers a public client with one redirect URI.
func (w *world) register(t testing.TB, redirect string) string {
	t.Helper()
	r := w.postJSON(t, "/oauth/register", map[string]any{"client_name": "Test client", "redirect_uris": []string{redirect},
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	return r.JSON["client_id"].(string)
}

type pkce struct{ verifier, challenge string }

func newPKCE() pkce {
	v := rand.Text() + rand.Text()
	h := sha256.Sum256([]byte(v))
	return pkce{verifier: v, challenge: base64.RawURLEncoding.EncodeToString(h[:])}
}

// authParams is a well-formed authorization request.
func (w *world) authParams(client, redirect string, p pkce) url.Values {
	return url.Values{"response_type": {"code"}, "client_id": {client}, "redirect_uri": {redirect},
		"scope": {"conversations:read conversations:reply"}, "state": {"state-12345"},
		"code_challenge": {p.challenge}, "code_challenge_method": {"S256"}, "resource": {w.base + "/api/mcp"}}
}

// consent posts the consent form's answer for an authorization request.
func (w *world) consent(t testing.TB, params url.Values, answer url.Values) response {
	t.Helper()
	form := url.Values{}
	for k, v := range params {
		form[k] = v
	}
	for k, v := range answer {
		form[k] = v
	}
	return w.postForm(t, "/oauth/authorize", form, w.session)
}

// grantCode runs authorize and consent (only conversations:read, inbox 1)
// and returns the code from the redirect.
func (w *world) grantCode(t testing.TB, client, redirect string, p pkce) string {
	t.Helper()
	r := w.consent(t, w.authParams(client, redirect, p), url.Values{"consent": {"allow"}, "scope_grant": {"conversations:read"},
		"inboxes": {"chosen"}, "inbox": {fmt.Sprint(w.inbox1)}})
	loc, err := url.Parse(r.Header.Get("Location"))
	if r.Status != http.StatusSeeOther && r.Status != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), redirect) {
		t.Fatalf("consent: %d %q %s", r.Status, r.Header.Get("Location"), r.Body)
	}
	if loc.Query().Get("state") != "state-12345" || loc.Query().Get("code") == "" {
		t.Fatalf("consent redirect %s", loc)
	}
	return loc.Query().Get("code")
}

func (w *world) exchange(t testing.TB, client, redirect, code, verifier string) response {
	t.Helper()
	return w.postForm(t, "/oauth/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {client}, "code": {code},
		"redirect_uri": {redirect}, "code_verifier": {verifier}, "resource": {w.base + "/api/mcp"}}, "")
}

// tokens runs the flow and returns the access and refresh tokens.
func (w *world) tokens(t testing.TB, client, redirect string, p pkce) (string, string) {
	t.Helper()
	tok := w.exchange(t, client, redirect, w.grantCode(t, client, redirect, p), p.verifier)
	access, _ := tok.JSON["access_token"].(string)
	refresh, _ := tok.JSON["refresh_token"].(string)
	if tok.Status != 200 || access == "" || refresh == "" {
		t.Fatalf("exchange: %d %s", tok.Status, tok.Body)
	}
	return access, refresh
}

func (w *world) refresh(t testing.TB, client, refresh string) response {
	t.Helper()
	return w.postForm(t, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {client}, "refresh_token": {refresh}}, "")
}

// mcp posts one JSON-RPC request to /api/mcp.
func (w *world) mcp(t testing.TB, token, method string, params any) response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	req, _ := http.NewRequest(http.MethodPost, w.base+"/api/mcp", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req)
}

func wantOAuthError(t testing.TB, what string, r response, status int, code string) {
	t.Helper()
	if r.Status != status || r.JSON["error"] != code {
		t.Errorf("%s: got %d %s, want %d %s", what, r.Status, r.Body, status, code)
	}
}

// wantRedirectError checks an error sent back to the client's redirect URI.
func wantRedirectError(t testing.TB, what string, r response, redirect, code string) {
	t.Helper()
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.Status/100 != 3 || loc == nil || !strings.HasPrefix(loc.String(), redirect) || loc.Query().Get("error") != code {
		t.Errorf("%s: got %d Location %q %s, want a redirect with error=%s", what, r.Status, r.Header.Get("Location"), r.Body, code)
	}
}

// wantErrorPage checks an error shown on the server's own page, never
// redirected.
func wantErrorPage(t testing.TB, what string, r response, status int, text string) {
	t.Helper()
	if r.Status != status || r.Header.Get("Location") != "" || !strings.Contains(string(r.Body), text) {
		t.Errorf("%s: got %d Location %q %s, want page %d with %q", what, r.Status, r.Header.Get("Location"), r.Body, status, text)
	}
}

func tokenList(t testing.TB, w *world) []map[string]any {
	t.Helper()
	r := w.rest(t, http.MethodGet, "/api/v1/mcp/tokens")
	if r.Status != 200 {
		t.Fatalf("token list: %d %s", r.Status, r.Body)
	}
	var out []map[string]any
	for _, x := range r.JSON["tokens"].([]any) {
		out = append(out, x.(map[string]any))
	}
	return out
}

func TestDiscovery(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mcpURL, meta := w.base+"/api/mcp", w.base+"/.well-known/oauth-protected-resource/api/mcp"

	r := w.mcp(t, "", "tools/list", map[string]any{})
	if r.Status != 401 || r.Header.Get("WWW-Authenticate") != `Bearer realm="deskwoot", resource_metadata="`+meta+`"` {
		t.Errorf("no token: %d %q", r.Status, r.Header.Get("WWW-Authenticate"))
	}
	r = w.mcp(t, "dw_mcp_nope", "tools/list", map[string]any{})
	if h := r.Header.Get("WWW-Authenticate"); r.Status != 401 || !strings.Contains(h, `error="invalid_token"`) || !strings.Contains(h, `resource_metadata="`+meta+`"`) {
		t.Errorf("bad token: %d %q", r.Status, h)
	}

	for _, path := range []string{"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/api/mcp"} {
		r := w.get(t, path, "")
		if r.Status != 200 || r.JSON["resource"] != mcpURL || fmt.Sprint(r.JSON["authorization_servers"]) != "["+w.base+"]" ||
			len(r.JSON["scopes_supported"].([]any)) != 10 || fmt.Sprint(r.JSON["bearer_methods_supported"]) != "[header]" {
			t.Errorf("%s: %d %s", path, r.Status, r.Body)
		}
	}
	r = w.get(t, "/.well-known/oauth-authorization-server", "")
	for k, v := range map[string]string{"issuer": w.base, "authorization_endpoint": w.base + "/oauth/authorize",
		"token_endpoint": w.base + "/oauth/token", "registration_endpoint": w.base + "/oauth/register",
		"revocation_endpoint": w.base + "/oauth/revoke", "code_challenge_methods_supported": "[S256]",
		"grant_types_supported": "[authorization_code refresh_token]", "client_id_metadata_document_supported": "true"} {
		if got := fmt.Sprint(r.JSON[k]); got != v {
			t.Errorf("authorization server metadata %s = %s, want %s", k, got, v)
		}
	}
	if !slices.Contains(r.JSON["token_endpoint_auth_methods_supported"].([]any), any("none")) {
		t.Errorf("token_endpoint_auth_methods_supported lacks none: %s", r.Body)
	}
}

// TestGrantIsAnMCPToken runs the whole flow with a registered client and
// checks that the grant behaves as an MCP token: scopes and inbox, listing,
// audit with the client id, refresh rotation and reuse detection.
func TestGrantIsAnMCPToken(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	redirect := "http://127.0.0.1:9/callback"
	client := w.register(t, redirect)
	p := newPKCE()
	params := w.authParams(client, redirect, p)

	// Not signed in: to the console's sign-in, coming back here after.
	r := w.get(t, "/oauth/authorize?"+params.Encode(), "")
	if loc := r.Header.Get("Location"); r.Status != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin?next=") ||
		!strings.Contains(loc, url.QueryEscape("/oauth/authorize?")) {
		t.Fatalf("unsigned authorize: %d %q", r.Status, loc)
	}
	// Signed in: the consent page names the client, its redirect host, the
	// requested scopes ticked, the inboxes and the buttons.
	r = w.get(t, "/oauth/authorize?"+params.Encode(), w.session)
	page := string(r.Body)
	for _, want := range []string{"Test client", "127.0.0.1:9", `value="conversations:read" checked`, `value="conversations:reply" checked`,
		"Inbox 1", "Inbox 2", "Require approval", ">Allow<", ">Deny<"} {
		if !strings.Contains(page, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	if strings.Contains(page, "contacts:write") {
		t.Error("consent page offers a scope the client did not ask for")
	}

	code := w.grantCode(t, client, redirect, p)
	// A wrong verifier changes nothing: the right one still redeems.
	wantOAuthError(t, "wrong verifier", w.exchange(t, client, redirect, code, newPKCE().verifier), 400, "invalid_grant")
	wantOAuthError(t, "mismatched redirect", w.exchange(t, client, "http://127.0.0.1:9/other", code, p.verifier), 400, "invalid_grant")
	tok := w.exchange(t, client, redirect, code, p.verifier)
	if tok.Status != 200 {
		t.Fatalf("exchange: %d %s", tok.Status, tok.Body)
	}
	access, refresh := tok.JSON["access_token"].(string), tok.JSON["refresh_token"].(string)
	if !strings.HasPrefix(access, "dw_oat_") || !strings.HasPrefix(refresh, "dw_ort_") || tok.JSON["expires_in"].(float64) > 3600 ||
		tok.JSON["expires_in"].(float64) < 3500 || tok.JSON["scope"] != "conversations:read" {
		t.Fatalf("token response %s", tok.Body)
	}

	// Scopes and inboxes as consented.
	r = w.mcp(t, access, "tools/list", map[string]any{})
	var names []string
	for _, x := range r.JSON["result"].(map[string]any)["tools"].([]any) {
		names = append(names, x.(map[string]any)["name"].(string))
	}
	if slices.Contains(names, "reply_to_conversation") || !slices.Contains(names, "get_conversation") {
		t.Errorf("tools/list with the grant: %v", names)
	}
	callText := func(token string, conv int64) (string, bool) {
		r := w.mcp(t, token, "tools/call", map[string]any{"name": "get_conversation", "arguments": map[string]any{"conversation_id": conv}})
		res, _ := r.JSON["result"].(map[string]any)
		if res == nil {
			return fmt.Sprintf("HTTP %d %s", r.Status, r.Body), true
		}
		isErr, _ := res["isError"].(bool)
		return fmt.Sprint(res["content"]), isErr
	}
	if text, isErr := callText(access, w.conv1); isErr {
		t.Errorf("get_conversation in the granted inbox: %s", text)
	}
	if text, isErr := callText(access, w.conv2); !isErr || !strings.Contains(text, "not found") {
		t.Errorf("get_conversation outside the granted inbox: %s", text)
	}

	// Listed as an MCP token named after the client; audited with its id.
	var grant map[string]any
	for _, x := range tokenList(t, w) {
		if x["kind"] == "oauth" {
			grant = x
		}
	}
	if grant == nil || grant["name"] != "OAuth · Test client" || grant["client_id"] != client || fmt.Sprint(grant["inbox_ids"]) != fmt.Sprintf("[%d]", w.inbox1) {
		t.Fatalf("token list: %v", tokenList(t, w))
	}
	grantID := int64(grant["id"].(float64))
	r = w.rest(t, http.MethodGet, fmt.Sprintf("/api/v1/audit?token=%d", grantID))
	var tools, clients []string
	for _, x := range r.JSON["audit"].([]any) {
		e := x.(map[string]any)
		tools = append(tools, e["action"].(string))
		clients = append(clients, fmt.Sprint(e["client_id"]))
	}
	if !slices.Contains(tools, "get_conversation") || !slices.Contains(tools, "oauth.grant") || slices.ContainsFunc(clients, func(c string) bool { return c != client }) {
		t.Errorf("audit of the grant: %s", r.Body)
	}

	// Refresh rotates: a new pair, the old access token stops working.
	next := w.refresh(t, client, refresh)
	if next.Status != 200 || next.JSON["refresh_token"] == refresh {
		t.Fatalf("refresh: %d %s", next.Status, next.Body)
	}
	access2, refresh2 := next.JSON["access_token"].(string), next.JSON["refresh_token"].(string)
	if r := w.mcp(t, access2, "tools/list", map[string]any{}); r.Status != 200 {
		t.Errorf("refreshed access token: %d %s", r.Status, r.Body)
	}
	if r := w.mcp(t, access, "tools/list", map[string]any{}); r.Status != 401 {
		t.Errorf("access token before the refresh: %d", r.Status)
	}
	// Reusing the rotated refresh token revokes the whole grant.
	wantOAuthError(t, "reused refresh token", w.refresh(t, client, refresh), 400, "invalid_grant")
	wantOAuthError(t, "refresh after reuse", w.refresh(t, client, refresh2), 400, "invalid_grant")
	if r := w.mcp(t, access2, "tools/list", map[string]any{}); r.Status != 401 {
		t.Errorf("access token after reuse: %d", r.Status)
	}
	for _, x := range tokenList(t, w) {
		if x["id"] == grant["id"] && x["revoked_at"] == nil {
			t.Errorf("grant not shown revoked after refresh token reuse: %v", x)
		}
	}
}

// TestRevokeInMCPTokenList revokes a grant where static tokens are revoked.
func TestRevokeInMCPTokenList(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	redirect := "https://client.example/cb"
	client := w.register(t, redirect)
	p := newPKCE()
	access, refresh := w.tokens(t, client, redirect, p)
	// Twice: the second call is served from the replica's principal
	// cache, which the revocation must not get past.
	for i := 0; i < 2; i++ {
		if r := w.mcp(t, access, "tools/list", map[string]any{}); r.Status != 200 {
			t.Fatalf("before revocation: %d %s", r.Status, r.Body)
		}
	}
	id := tokenList(t, w)[0]["id"]
	if r := w.rest(t, http.MethodDelete, fmt.Sprintf("/api/v1/mcp/tokens/%v", id)); r.Status/100 != 2 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	if r := w.mcp(t, access, "tools/list", map[string]any{}); r.Status != 401 || !strings.Contains(r.Header.Get("WWW-Authenticate"), "revoked") {
		t.Errorf("after revocation: %d %q", r.Status, r.Header.Get("WWW-Authenticate"))
	}
	wantOAuthError(t, "refresh after revocation", w.refresh(t, client, refresh), 400, "invalid_grant")
}

// TestReusedCode: a code is single-use, and its reuse ends the grant the
// first redemption made (OAuth 2.1 §4.1.3).
func TestReusedCode(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	redirect := "https://client.example/cb"
	client := w.register(t, redirect)
	p := newPKCE()
	code := w.grantCode(t, client, redirect, p)
	tok := w.exchange(t, client, redirect, code, p.verifier)
	access, _ := tok.JSON["access_token"].(string)
	refresh, _ := tok.JSON["refresh_token"].(string)
	if tok.Status != 200 {
		t.Fatalf("exchange: %d %s", tok.Status, tok.Body)
	}
	// Twice: the second call is served from the replica's principal
	// cache, which the revocation must not get past.
	for i := 0; i < 2; i++ {
		if r := w.mcp(t, access, "tools/list", map[string]any{}); r.Status != 200 {
			t.Fatalf("before revocation: %d %s", r.Status, r.Body)
		}
	}
	wantOAuthError(t, "reused code", w.exchange(t, client, redirect, code, p.verifier), 400, "invalid_grant")
	if r := w.mcp(t, access, "tools/list", map[string]any{}); r.Status != 401 {
		t.Errorf("access token after the code's reuse: %d", r.Status)
	}
	wantOAuthError(t, "refresh after the code's reuse", w.refresh(t, client, refresh), 400, "invalid_grant")
}

// TestRevocationEndpoint is RFC 7009: revoking the refresh token ends the
// grant; an unknown token is answered 200 too.
func TestRevocationEndpoint(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	redirect := "https://client.example/cb"
	client := w.register(t, redirect)
	p := newPKCE()
	access, refresh := w.tokens(t, client, redirect, p)
	// Twice: the second call is served from the replica's principal
	// cache, which the revocation must not get past.
	for i := 0; i < 2; i++ {
		if r := w.mcp(t, access, "tools/list", map[string]any{}); r.Status != 200 {
			t.Fatalf("before revocation: %d %s", r.Status, r.Body)
		}
	}
	if r := w.postForm(t, "/oauth/revoke", url.Values{"token": {refresh}, "client_id": {client}}, ""); r.Status != 200 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	if r := w.mcp(t, access, "tools/list", map[string]any{}); r.Status != 401 {
		t.Errorf("access token after revoking the grant: %d", r.Status)
	}
	wantOAuthError(t, "refresh after revocation", w.refresh(t, client, refresh), 400, "invalid_grant")
	if r := w.postForm(t, "/oauth/revoke", url.Values{"token": {"dw_ort_unknown"}, "client_id": {client}}, ""); r.Status != 200 {
		t.Errorf("revoke unknown: %d %s", r.Status, r.Body)
	}
	if l := tokenList(t, w); l[0]["revoked_at"] == nil {
		t.Errorf("grant not revoked in the list: %v", l[0])
	}
}

// TestBadRequestsChangeNothing sends every kind of bad request and checks
// the OAuth error, that nothing redirects where it must not, and that no
// grant came of it.
func TestBadRequestsChangeNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	redirect := "http://127.0.0.1:9/callback"
	client := w.register(t, redirect)
	p := newPKCE()
	params := w.authParams(client, redirect, p)
	with := func(k, v string) url.Values {
		q := url.Values{}
		for kk, vv := range params {
			q[kk] = vv
		}
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return q
	}
	authorize := func(q url.Values) response { return w.get(t, "/oauth/authorize?"+q.Encode(), w.session) }

	// Never redirect to an unknown client or an unregistered URI.
	wantErrorPage(t, "unknown client", authorize(with("client_id", "dwc_unknown")), 401, "not known")
	wantErrorPage(t, "unregistered redirect", authorize(with("redirect_uri", "https://evil.example/cb")), 400, "invalid_request")
	wantErrorPage(t, "other loopback port", authorize(with("redirect_uri", "http://127.0.0.1:10/callback")), 400, "redirect URI")
	// Errors the client can be told about go to its redirect URI.
	wantRedirectError(t, "no PKCE", authorize(with("code_challenge", "")), redirect, "invalid_request")
	wantRedirectError(t, "plain PKCE", authorize(with("code_challenge_method", "plain")), redirect, "invalid_request")
	wantRedirectError(t, "other resource", authorize(with("resource", "https://other.example/api/mcp")), redirect, "invalid_target")
	wantRedirectError(t, "unknown scope", authorize(with("scope", "conversations:delete")), redirect, "invalid_scope")
	wantRedirectError(t, "implicit", authorize(with("response_type", "token")), redirect, "unsupported_response_type")
	// Only admins grant.
	agent := console.signIn(identity.UserPrincipal{AccountID: w.Account.ID, UserID: w.User.ID, Role: "agent", Name: "Bo"})
	wantErrorPage(t, "agent", w.get(t, "/oauth/authorize?"+params.Encode(), agent), 403, "Only admins")
	// Deny goes back with access_denied and the state.
	r := w.consent(t, params, url.Values{"consent": {"deny"}})
	wantRedirectError(t, "deny", r, redirect, "access_denied")
	if !strings.Contains(r.Header.Get("Location"), "state=state-12345") {
		t.Errorf("deny without state: %s", r.Header.Get("Location"))
	}
	// A consent without scopes or inboxes is shown again.
	wantErrorPage(t, "no scope kept", w.consent(t, params, url.Values{"consent": {"allow"}}), 400, "at least one scope")
	wantErrorPage(t, "no inbox chosen", w.consent(t, params, url.Values{"consent": {"allow"}, "scope_grant": {"conversations:read"}, "inboxes": {"chosen"}}), 400, "at least one inbox")
	// A cross-site form post is refused.
	form := url.Values{"consent": {"allow"}, "scope_grant": {"conversations:read"}}
	for k, v := range params {
		form[k] = v
	}
	req, _ := http.NewRequest(http.MethodPost, w.base+"/oauth/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.AddCookie(&http.Cookie{Name: "test_session", Value: w.session})
	if r := do(t, req); r.Status != http.StatusForbidden {
		t.Errorf("cross-site consent: %d %q", r.Status, r.Header.Get("Location"))
	}

	// Token endpoint.
	code := w.grantCode(t, client, redirect, p)
	tokenForm := func(k, v string) url.Values {
		f := url.Values{"grant_type": {"authorization_code"}, "client_id": {client}, "code": {code}, "redirect_uri": {redirect},
			"code_verifier": {p.verifier}, "resource": {w.base + "/api/mcp"}}
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f
	}
	post := func(f url.Values) response { return w.postForm(t, "/oauth/token", f, "") }
	wantOAuthError(t, "missing verifier", post(tokenForm("code_verifier", "")), 400, "invalid_grant")
	wantOAuthError(t, "wrong verifier", post(tokenForm("code_verifier", newPKCE().verifier)), 400, "invalid_grant")
	wantOAuthError(t, "other redirect", post(tokenForm("redirect_uri", "http://127.0.0.1:9/other")), 400, "invalid_grant")
	wantOAuthError(t, "unknown client", post(tokenForm("client_id", "dwc_unknown")), 401, "invalid_client")
	wantOAuthError(t, "other client", post(tokenForm("client_id", w.register(t, redirect))), 400, "invalid_grant")
	wantOAuthError(t, "unknown code", post(tokenForm("code", "dw_oac_nope")), 400, "invalid_grant")
	wantOAuthError(t, "other resource", post(tokenForm("resource", "https://other.example/api/mcp")), 400, "invalid_target")
	wantOAuthError(t, "password grant", post(tokenForm("grant_type", "password")), 400, "unsupported_grant_type")
	wantOAuthError(t, "client credentials", post(tokenForm("grant_type", "client_credentials")), 400, "unsupported_grant_type")
	wantOAuthError(t, "no grant type", post(tokenForm("grant_type", "")), 400, "invalid_request")
	wantOAuthError(t, "unknown refresh token", w.refresh(t, client, "dw_ort_nope"), 400, "invalid_grant")
	for _, x := range tokenList(t, w) {
		t.Errorf("a bad request created a grant: %v", x)
	}

	// An expired code is refused (its expiry is moved into the past).
	owner := dbtest.Owner(t)
	tx, err := owner.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	tx.Exec(context.Background(), `SELECT set_config('deskwoot.account_id', $1::bigint::text, true)`, w.Account.ID)
	if _, err := tx.Exec(context.Background(), `UPDATE oauth_tokens SET request = jsonb_set(request, '{session,expires_at,authorize_code}', '"2020-01-01T00:00:00Z"')
		WHERE kind = 'code' AND signature = sha256(convert_to($1, 'UTF8'))`, code); err != nil {
		t.Fatal(err)
	}
	tx.Commit(context.Background())
	wantOAuthError(t, "expired code", post(tokenForm("", "")), 400, "invalid_grant")
	if l := tokenList(t, w); len(l) != 0 {
		t.Errorf("an expired code created a grant: %v", l)
	}
}

// TestRegistrationErrors is RFC 7591's error answers.
func TestRegistrationErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for name, body := range map[string]any{
		"no redirect":    map[string]any{"client_name": "x"},
		"http redirect":  map[string]any{"redirect_uris": []string{"http://evil.example/cb"}},
		"fragment":       map[string]any{"redirect_uris": []string{"https://a.example/cb#x"}},
		"javascript":     map[string]any{"redirect_uris": []string{"javascript:alert(1)"}},
		"implicit grant": map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "grant_types": []string{"implicit"}},
		"jwt auth":       map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "token_endpoint_auth_method": "private_key_jwt"},
		"not json":       "nope",
	} {
		r := w.postJSON(t, "/oauth/register", body)
		if r.Status != 400 || (r.JSON["error"] != "invalid_redirect_uri" && r.JSON["error"] != "invalid_client_metadata") {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	// A confidential client gets a secret and must use it.
	r := w.postJSON(t, "/oauth/register", map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "token_endpoint_auth_method": "client_secret_post"})
	if r.Status != 201 || !strings.HasPrefix(fmt.Sprint(r.JSON["client_secret"]), "dws_") {
		t.Fatalf("confidential registration: %d %s", r.Status, r.Body)
	}
	wantOAuthError(t, "wrong secret", w.postForm(t, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {r.JSON["client_id"].(string)},
		"client_secret": {"dws_wrong"}, "refresh_token": {"dw_ort_x"}}, ""), 401, "invalid_client")
}

// TestClientMetadataDocument identifies a client by the URL of its
// metadata document.
func TestClientMetadataDocument(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	redirect := "http://127.0.0.1:9/callback"
	docs := map[string]string{}
	meta := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, ok := docs[r.URL.Path]
		if !ok {
			http.NotFound(rw, r)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		io.WriteString(rw, body)
	}))
	defer meta.Close()
	good, other := meta.URL+"/client.json", meta.URL+"/other.json"
	docs["/client.json"] = fmt.Sprintf(`{"client_id": %q, "client_name": "Metadata client", "redirect_uris": [%q], "token_endpoint_auth_method": "none"}`, good, redirect)
	docs["/other.json"] = fmt.Sprintf(`{"client_id": "https://someone.else/client.json", "client_name": "Liar", "redirect_uris": [%q]}`, redirect)
	docs["/big.json"] = `{"client_id": "` + strings.Repeat("x", 70<<10) + `"}`

	p := newPKCE()
	r := w.get(t, "/oauth/authorize?"+w.authParams(good, redirect, p).Encode(), w.session)
	if r.Status != 200 || !strings.Contains(string(r.Body), "Metadata client") {
		t.Fatalf("consent for a metadata client: %d %s", r.Status, r.Body)
	}
	tok := w.exchange(t, good, redirect, w.grantCode(t, good, redirect, p), p.verifier)
	if tok.Status != 200 {
		t.Fatalf("exchange: %d %s", tok.Status, tok.Body)
	}
	if l := tokenList(t, w); len(l) != 1 || l[0]["name"] != "OAuth · Metadata client" || l[0]["client_id"] != good {
		t.Errorf("token list: %v", l)
	}
	wantErrorPage(t, "other client_id", w.get(t, "/oauth/authorize?"+w.authParams(other, redirect, p).Encode(), w.session), 401, unusable)
	wantErrorPage(t, "too large", w.get(t, "/oauth/authorize?"+w.authParams(meta.URL+"/big.json", redirect, p).Encode(), w.session), 401, unusable)
	wantErrorPage(t, "missing", w.get(t, "/oauth/authorize?"+w.authParams(meta.URL+"/gone.json", redirect, p).Encode(), w.session), 401, unusable)
	// A rule of the URL itself is named: nothing was fetched to find it.
	wantErrorPage(t, "http elsewhere", w.get(t, "/oauth/authorize?"+w.authParams("http://client.example/c.json", redirect, p).Encode(), w.session), 401, "https")
}

// unusable is what every failed metadata document fetch answers.
const unusable = "client&#39;s metadata document could not be used"

// TestTokenBoundToResource refuses an access token bound to another
// resource at /api/mcp (as after a change of the public URL).
func TestTokenBoundToResource(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	redirect := "https://client.example/cb"
	client := w.register(t, redirect)
	p := newPKCE()
	access, _ := w.tokens(t, client, redirect, p)
	ctx := context.Background()
	tx, err := dbtest.Owner(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tx.Exec(ctx, `SELECT set_config('deskwoot.account_id', $1::bigint::text, true)`, w.Account.ID)
	if tag, err := tx.Exec(ctx, `UPDATE oauth_tokens SET resource = 'https://old.example/api/mcp' WHERE kind = 'access'`); err != nil || tag.RowsAffected() != 1 {
		t.Fatal(err, tag)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if r := w.mcp(t, access, "tools/list", map[string]any{}); r.Status != 401 || !strings.Contains(r.Header.Get("WWW-Authenticate"), "another resource") {
		t.Errorf("token for another resource: %d %q", r.Status, r.Header.Get("WWW-Authenticate"))
	}
}

// TestAccountGateApplies: an OAuth grant meets the same account gate as a
// static token (here: MCP switched off answers 403 with -32003).
func TestAccountGateApplies(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	redirect := "https://client.example/cb"
	client := w.register(t, redirect)
	access, _ := w.tokens(t, client, redirect, newPKCE())
	if _, err := identity.MCPEnable(context.Background(), dbtest.App(t), tenancy.For(w.Account.ID), false); err != nil {
		t.Fatal(err)
	}
	r := w.mcp(t, access, "tools/list", map[string]any{})
	if e, _ := r.JSON["error"].(map[string]any); r.Status != http.StatusForbidden || e == nil || e["code"] != float64(-32003) {
		t.Errorf("gate closed: %d %s", r.Status, r.Body)
	}
}
