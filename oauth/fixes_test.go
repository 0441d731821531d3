package oauth_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// TestAuthorizeWithoutStateWithPKCE: OAuth 2.1 lets a client that sends a
// PKCE S256 challenge leave state out (fosite's default refused it, "The
// state is missing or does not have enough characters"): the code comes
// back with no state, and it redeems. Without PKCE, no state is no help.
func TestAuthorizeWithoutStateWithPKCE(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	redirect := "https://client.example/cb"
	client := w.register(t, redirect)
	p := newPKCE()
	params := w.authParams(client, redirect, p)
	params.Del("state")
	if r := w.get(t, "/oauth/authorize?"+params.Encode(), w.session); r.Status != 200 || !strings.Contains(string(r.Body), "Allow") {
		t.Fatalf("consent page without state: %d %q %s", r.Status, r.Header.Get("Location"), r.Body)
	}
	r := w.consent(t, params, url.Values{"consent": {"allow"}, "scope_grant": {"conversations:read"}})
	loc, err := url.Parse(r.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), redirect) || loc.Query().Get("code") == "" || loc.Query().Has("state") {
		t.Fatalf("consent without state: %d %q %s", r.Status, r.Header.Get("Location"), r.Body)
	}
	if tok := w.exchange(t, client, redirect, loc.Query().Get("code"), p.verifier); tok.Status != 200 || tok.JSON["access_token"] == nil {
		t.Fatalf("exchange: %d %s", tok.Status, tok.Body)
	}
	noPKCE := w.authParams(client, redirect, p)
	noPKCE.Del("state")
	noPKCE.Del("code_challenge")
	noPKCE.Del("code_challenge_method")
	r = w.get(t, "/oauth/authorize?"+noPKCE.Encode(), w.session)
	if loc := r.Header.Get("Location"); !strings.Contains(loc, "error=invalid_") || strings.Contains(loc, "code=") {
		t.Fatalf("no state and no PKCE: %d %q, want a refusal", r.Status, loc)
	}
}

// TestConsentAmbiguousInboxesGrantsTheTicked: a consent answer that says
// "All inboxes" and ticks an inbox grants the ticked inbox only (the
// narrower reading), and the page asks one plain question (tick inboxes,
// none for all) instead of two that can disagree.
func TestConsentAmbiguousInboxesGrantsTheTicked(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	redirect := "https://client.example/cb"
	client := w.register(t, redirect)
	p := newPKCE()
	page := w.get(t, "/oauth/authorize?"+w.authParams(client, redirect, p).Encode(), w.session)
	if !strings.Contains(string(page.Body), "Tick none to let it work in every inbox") || strings.Contains(string(page.Body), `name="inboxes"`) {
		t.Fatalf("the consent page's inbox choice is not plain:\n%s", page.Body)
	}
	r := w.consent(t, w.authParams(client, redirect, p), url.Values{"consent": {"allow"}, "scope_grant": {"conversations:read"},
		"inboxes": {"all"}, "inbox": {fmt.Sprint(w.inbox1)}})
	loc, _ := url.Parse(r.Header.Get("Location"))
	if loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("consent: %d %q %s", r.Status, r.Header.Get("Location"), r.Body)
	}
	if tok := w.exchange(t, client, redirect, loc.Query().Get("code"), p.verifier); tok.Status != 200 {
		t.Fatalf("exchange: %d %s", tok.Status, tok.Body)
	}
	grants := tokenList(t, w)
	if len(grants) != 1 || fmt.Sprint(grants[0]["inbox_ids"]) != fmt.Sprintf("[%d]", w.inbox1) {
		t.Fatalf("granted %v, want inbox %d only", grants, w.inbox1)
	}
}

// TestTokenEndpointRateLimit: the token endpoint has its own per-address
// limit (30 at once, then one every 2 seconds), with X-RateLimit headers
// on each answer; past it, 429 with Retry-After; another address is not
// held back.
func TestTokenEndpointRateLimit(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	guess := url.Values{"grant_type": {"refresh_token"}, "client_id": {"dwc_nobody"}, "refresh_token": {"guess"}}
	for i := range 30 {
		r := w.postForm(t, "/oauth/token", guess, "")
		if r.Status == http.StatusTooManyRequests {
			t.Fatalf("request %d was throttled", i+1)
		}
		if r.Header.Get("X-RateLimit-Limit") != "30" || r.Header.Get("X-RateLimit-Remaining") != strconv.Itoa(29-i) {
			t.Fatalf("request %d: X-RateLimit-Limit %q Remaining %q", i+1, r.Header.Get("X-RateLimit-Limit"), r.Header.Get("X-RateLimit-Remaining"))
		}
	}
	over := w.postForm(t, "/oauth/token", guess, "")
	if secs, err := strconv.Atoi(over.Header.Get("Retry-After")); over.Status != http.StatusTooManyRequests || err != nil || secs < 1 ||
		over.JSON["error"] != "temporarily_unavailable" || over.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("31st token request: %d %v %s", over.Status, over.Header, over.Body)
	}
	other := newWorld(t)
	if r := other.postForm(t, "/oauth/token", guess, ""); r.Status == http.StatusTooManyRequests {
		t.Fatal("another address was throttled")
	}
}
