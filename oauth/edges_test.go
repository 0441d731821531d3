package oauth_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/server"
)

// registerBurst is how many clients one address may register at once
// (oauth.registerBurst).
const registerBurst = 20

// TestRegistrationLimitIsPerAddress: one address that registers clients
// until it is refused does not close registration for any other address.
func TestRegistrationLimitIsPerAddress(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	body := map[string]any{"client_name": "Flood", "redirect_uris": []string{"https://a.example/cb"}, "token_endpoint_auth_method": "none"}
	var r response
	n := 0
	for ; n < 100; n++ {
		if r = w.postJSON(t, "/oauth/register", body); r.Status != http.StatusCreated {
			break
		}
	}
	if n != registerBurst || r.Status != http.StatusTooManyRequests || r.JSON["error"] != "temporarily_unavailable" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("after %d registrations from one address: %d %s (Retry-After %q), want 429 after %d", n, r.Status, r.Body, r.Header.Get("Retry-After"), registerBurst)
	}
	other := &world{base: w.base, addr: newAddr()}
	other.register(t, "https://b.example/cb")
}

// TestRegistrationTexts: every text of a registration is checked for
// control characters and length, and answers 400 naming the field.
func TestRegistrationTexts(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	reg := func(name string, redirect string) response {
		return w.postJSON(t, "/oauth/register", map[string]any{"client_name": name, "redirect_uris": []string{redirect}, "token_endpoint_auth_method": "none"})
	}
	ok := "https://a.example/cb"
	for _, c := range []struct {
		what, name, redirect, code, field string
	}{
		{"NUL in the name", "Evil\x00client", ok, "invalid_client_metadata", "client_name"},
		{"escape in the name", "Evil\x1b[2Jclient", ok, "invalid_client_metadata", "client_name"},
		{"bidi override in the name", "Good\u202eevil", ok, "invalid_client_metadata", "client_name"},
		{"name of 101 characters", strings.Repeat("é", 101), ok, "invalid_client_metadata", "at most 100 characters"},
		{"control in a redirect URI", "x", "https://a.example/c\u0085b", "invalid_redirect_uri", "redirect URI"},
		{"redirect URI of 2001 characters", "x", "https://a.example/" + strings.Repeat("a", 2001-len("https://a.example/")), "invalid_redirect_uri", "at most 2000 characters"},
	} {
		r := reg(c.name, c.redirect)
		if r.Status != http.StatusBadRequest || r.JSON["error"] != c.code || !strings.Contains(fmt.Sprint(r.JSON["error_description"]), c.field) {
			t.Errorf("%s: %d %s, want 400 %s naming %q", c.what, r.Status, r.Body, c.code, c.field)
		}
	}
	long := strings.Repeat("é", 100)
	if r := reg(long, ok); r.Status != http.StatusCreated || r.JSON["client_name"] != long {
		t.Errorf("name of 100 characters: %d %s", r.Status, r.Body)
	}
}

// metadataServer serves client ID metadata documents by path (404 for any
// other) and counts the requests it gets.
type metadataServer struct {
	*httptest.Server
	fetches atomic.Int32

	mu   sync.Mutex
	docs map[string]string
}

func newMetadataServer(t *testing.T) *metadataServer {
	m := &metadataServer{docs: map[string]string{}}
	m.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		m.fetches.Add(1)
		m.mu.Lock()
		body, ok := m.docs[r.URL.Path]
		m.mu.Unlock()
		if !ok {
			http.NotFound(rw, r)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		io.WriteString(rw, body)
	}))
	t.Cleanup(m.Close)
	return m
}

// serve serves body at path.
func (m *metadataServer) serve(path, body string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.docs[path] = body
}

// doc serves a good document at path and returns its URL, the client_id.
func (m *metadataServer) doc(path, name, redirect string) string {
	id := m.URL + path
	m.serve(path, fmt.Sprintf(`{"client_id": %q, "client_name": %q, "redirect_uris": [%q]}`, id, name, redirect))
	return id
}

// TestAnonymousAuthorizeFetchesNothing: an authorization request naming a
// metadata document, from someone not signed in, is sent to the sign-in
// page without the server fetching anything; once signed in, it is.
func TestAnonymousAuthorizeFetchesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	meta := newMetadataServer(t)
	redirect := "http://127.0.0.1:9/callback"
	id := meta.doc("/client.json", "Metadata client", redirect)
	params := w.authParams(id, redirect, newPKCE())

	r := w.get(t, "/oauth/authorize?"+params.Encode(), "")
	if loc := r.Header.Get("Location"); r.Status != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin?next=") {
		t.Errorf("anonymous authorize: %d %q %s, want a redirect to sign in", r.Status, loc, r.Body)
	}
	wantErrorPage(t, "anonymous consent", w.postForm(t, "/oauth/authorize", params, ""), http.StatusUnauthorized, "session ended")
	if n := meta.fetches.Load(); n != 0 {
		t.Fatalf("anonymous requests made the server fetch the document %d times", n)
	}
	r = w.get(t, "/oauth/authorize?"+params.Encode(), w.session)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "Metadata client") || meta.fetches.Load() != 1 {
		t.Errorf("signed in: %d, %d fetches %s", r.Status, meta.fetches.Load(), r.Body)
	}
}

// TestMetadataFailuresReadAlike: whatever went wrong with a metadata
// document (no such host, connection refused, a timeout, a 404, not JSON,
// another client_id, no redirect URIs, a NUL in the name), the person
// reads the same page, so the endpoint tells nothing about the network or
// what another server answered.
func TestMetadataFailuresReadAlike(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	meta := newMetadataServer(t)
	redirect := "http://127.0.0.1:9/callback"
	meta.serve("/not-json.json", "nope")
	meta.serve("/other.json", fmt.Sprintf(`{"client_id": "https://someone.else/client.json", "redirect_uris": [%q]}`, redirect))
	meta.serve("/no-redirects.json", fmt.Sprintf(`{"client_id": %q}`, meta.URL+"/no-redirects.json"))
	meta.serve("/nul.json", fmt.Sprintf(`{"client_id": %q, "client_name": "Evil\u0000", "redirect_uris": [%q]}`, meta.URL+"/nul.json", redirect))
	// A listener that accepts and never answers: the fetch times out.
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + closed.Addr().String() + "/client.json"
	closed.Close()

	var first string
	for _, id := range []string{
		"https://no-such-host.invalid/client.json",
		closedURL,
		"http://" + hang.Addr().String() + "/client.json",
		meta.URL + "/gone.json",
		meta.URL + "/not-json.json",
		meta.URL + "/other.json",
		meta.URL + "/no-redirects.json",
		meta.URL + "/nul.json",
	} {
		r := w.get(t, "/oauth/authorize?"+w.authParams(id, redirect, newPKCE()).Encode(), w.session)
		wantErrorPage(t, id, r, http.StatusUnauthorized, unusable)
		page := string(r.Body)
		if first == "" {
			first = page
		} else if page != first {
			t.Errorf("%s reads differently from the first failure:\n%s\n---\n%s", id, page, first)
		}
	}
}

// TestMetadataFetchesThrottled: a signed-in person may make the server
// fetch 10 documents it does not hold, then one a minute; others are not
// affected. The token endpoint fetches nothing for a request that
// carries no grant of the client (issue 18).
func TestMetadataFetchesThrottled(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	meta := newMetadataServer(t)
	redirect := "http://127.0.0.1:9/callback"
	authorize := func(w *world, id string) response {
		return w.get(t, "/oauth/authorize?"+w.authParams(id, redirect, newPKCE()).Encode(), w.session)
	}
	for i := range 10 {
		wantErrorPage(t, fmt.Sprint("fetch ", i+1), authorize(w, fmt.Sprintf("%s/gone-%d.json", meta.URL, i)), http.StatusUnauthorized, unusable)
	}
	wantErrorPage(t, "11th fetch", authorize(w, meta.URL+"/gone-10.json"), http.StatusTooManyRequests, "try again")
	// What is cached is still answered: the first document, failed.
	wantErrorPage(t, "cached", authorize(w, meta.URL+"/gone-0.json"), http.StatusUnauthorized, unusable)
	if n := meta.fetches.Load(); n != 10 {
		t.Errorf("the server fetched %d documents for one person, want 10", n)
	}
	// Another person, from another address, is not held back.
	w2 := newWorld(t)
	if r := authorize(w2, meta.doc("/client.json", "Metadata client", redirect)); r.Status != http.StatusOK {
		t.Errorf("another person: %d %s", r.Status, r.Body)
	}

	// The token endpoint (no one signed in) fetches nothing for a request
	// without a code or token issued to that client: every such request
	// reads alike, whatever the URL.
	anon := &world{base: w.base, addr: newAddr()}
	before := meta.fetches.Load()
	for i := range 12 {
		id := meta.doc(fmt.Sprintf("/token-%d.json", i), "Token client", redirect)
		wantOAuthError(t, fmt.Sprint("refresh ", i+1), anon.postForm(t, "/oauth/token",
			map[string][]string{"grant_type": {"refresh_token"}, "client_id": {id}, "refresh_token": {"dw_ort_x"}}, ""), http.StatusUnauthorized, "invalid_client")
		wantOAuthError(t, fmt.Sprint("code ", i+1), anon.postForm(t, "/oauth/token",
			map[string][]string{"grant_type": {"authorization_code"}, "client_id": {id}, "code": {"dw_oac_x"}, "redirect_uri": {redirect}, "code_verifier": {"v"}}, ""), http.StatusUnauthorized, "invalid_client")
	}
	if n := meta.fetches.Load() - before; n != 0 {
		t.Errorf("anonymous token requests made the server fetch %d documents, want none", n)
	}
}

// replica starts a second server on the same database and public URL, with
// a metadata cache of its own, as another replica behind the same address.
func replica(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app, err := server.Build(context.Background(), server.Config{AppDatabaseURL: dbtest.AppURL(), PublicURL: endpoint(t),
		OAuthConsole: console, OAuthAllowLoopbackMetadata: true, ClientIPHeader: "X-Forwarded-For"})
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: app.Handler}}
	srv.Start()
	t.Cleanup(srv.Close)
	return "http://" + ln.Addr().String()
}

// TestRefreshFetchesTheDocumentOfItsOwnClient: a refresh that reaches a
// replica whose cache does not hold the client's metadata document (or
// comes after the cache forgot it) has the document fetched, because it
// carries a refresh token issued to that client; a made-up token for the
// same client fetches nothing there.
func TestRefreshFetchesTheDocumentOfItsOwnClient(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	meta := newMetadataServer(t)
	redirect := "http://127.0.0.1:9/callback"
	id := meta.doc("/client.json", "Metadata client", redirect)
	_, refresh := w.tokens(t, id, redirect, newPKCE())
	fetched := meta.fetches.Load()

	other := &world{base: replica(t), addr: newAddr()}
	wantOAuthError(t, "made-up refresh token", other.refresh(t, id, "dw_ort_x"), http.StatusUnauthorized, "invalid_client")
	if n := meta.fetches.Load() - fetched; n != 0 {
		t.Fatalf("a made-up refresh token made the other replica fetch %d documents", n)
	}
	if r := other.refresh(t, id, refresh); r.Status != http.StatusOK || r.JSON["access_token"] == nil {
		t.Fatalf("refresh on the other replica: %d %s", r.Status, r.Body)
	}
	if n := meta.fetches.Load() - fetched; n != 1 {
		t.Errorf("the other replica fetched %d documents for the refresh, want 1", n)
	}
}
