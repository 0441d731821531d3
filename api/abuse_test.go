package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/server"
)

// wantRetryAfter asserts a 429 rate_limited answer with Retry-After in
// whole seconds between 1 and most.
// frozenClock is a server clock that stands still: a test that counts
// attempts against a budget must not see it refill on a slow machine
// (sign-in refills one attempt a minute; a loaded 2-core machine can take
// that long over ten bcrypt checks under -race).
func frozenClock() func() time.Time {
	at := time.Now()
	return func() time.Time { return at }
}

func wantRetryAfter(t *testing.T, r resp, most int) {
	t.Helper()
	wantErr(t, r, 429, "rate_limited")
	if n, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || n < 1 || n > most {
		t.Fatalf("Retry-After %q, want 1 to %d seconds", r.Header.Get("Retry-After"), most)
	}
}

// TestSignupAndSignInAbuseLimits: signup and sign-in take only JSON (a
// cross-site form cannot post JSON), signups are limited per address,
// sign-in per email and address together (a stranger cannot lock the owner
// out) and per address (spraying many emails is slowed); every 429 says
// when to retry.
func TestSignupAndSignInAbuseLimits(t *testing.T) {
	t.Parallel()
	app, err := server.Build(context.Background(), server.Config{AppDatabaseURL: dbtest.AppURL(), PublicURL: "http://127.0.0.1",
		SignupsPerHour: 2, ClientIPHeader: "X-Forwarded-For", Now: frozenClock()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler)
	defer srv.Close()
	post := func(path, ip, contentType string, body any) resp {
		raw, _ := json.Marshal(body)
		return do(t, srv.URL, "POST", path, map[string]string{"X-Forwarded-For": "203.0.113.250, " + ip, "Content-Type": contentType}, raw)
	}
	account := func() obj {
		e := uniqueEmail()
		return obj{"account_name": "Acme " + e, "email": e, "password": "correct horse battery"}
	}

	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
		wantErr(t, post("/api/v1/signup", "198.51.100.1", ct, account()), 415, "unsupported_media_type")
		wantErr(t, post("/api/v1/login", "198.51.100.1", ct, obj{"email": "a@example.com", "password": "x"}), 415, "unsupported_media_type")
	}
	owner := account()
	want(t, post("/api/v1/signup", "198.51.100.1", "application/json; charset=utf-8", owner), 201)
	want(t, post("/api/v1/signup", "198.51.100.1", "application/json", account()), 201)
	wantRetryAfter(t, post("/api/v1/signup", "198.51.100.1", "application/json", account()), 3600)
	want(t, post("/api/v1/signup", "198.51.100.2", "application/json", account()), 201)

	// A stranger failing on purpose is throttled; the owner elsewhere is not.
	for i := 0; i < 10; i++ {
		wantErr(t, post("/api/v1/login", "198.51.100.3", "application/json", obj{"email": owner["email"], "password": fmt.Sprint("guess-", i)}), 401, "unauthorized")
	}
	wantRetryAfter(t, post("/api/v1/login", "198.51.100.3", "application/json", obj{"email": owner["email"], "password": owner["password"]}), 60)
	want(t, post("/api/v1/login", "198.51.100.4", "application/json", obj{"email": owner["email"], "password": owner["password"]}), 200)

	// One address spraying a password over many emails is slowed: a burst
	// of 30, then one every 6 seconds (the clock stands still, so exactly 30).
	for i := 0; ; i++ {
		r := post("/api/v1/login", "198.51.100.5", "application/json", obj{"email": uniqueEmail(), "password": "Winter2026!"})
		if r.Status == 429 {
			if i != 30 {
				t.Fatalf("throttled after %d attempts, want a burst of 30", i)
			}
			wantRetryAfter(t, r, 60)
			break
		}
		wantErr(t, r, 401, "unauthorized")
		if i == 60 {
			t.Fatal("61 sign-in attempts over many emails from one address, none throttled")
		}
	}
}

// TestNewLoginsCannotProbeEmails: a workspace that asks for new logins
// with emails of other workspaces hears "taken" 10 times; after that every
// new login it asks for waits, a free email included, so POST
// /api/v1/users stops telling which emails have a Deskwoot login. Another
// workspace is not held back (issue 18, item 11).
func TestNewLoginsCannotProbeEmails(t *testing.T) {
	t.Parallel()
	prober, other, bystander := signup(t), signup(t), signup(t)
	agent := func(email string) obj {
		return obj{"email": email, "name": "Agent", "password": "agent password 1", "role": "agent"}
	}
	for i := range 10 {
		if r := call(t, "POST", "/api/v1/users", prober.Token, agent(other.Email)); r.Status != 409 {
			t.Fatalf("taken email, attempt %d: HTTP %d, want 409", i+1, r.Status)
		}
	}
	wantRetryAfter(t, call(t, "POST", "/api/v1/users", prober.Token, agent(uniqueEmail())), 6*60)
	wantRetryAfter(t, call(t, "POST", "/api/v1/users", prober.Token, agent(other.Email)), 6*60)
	want(t, call(t, "POST", "/api/v1/users", bystander.Token, agent(uniqueEmail())), 201)
}
