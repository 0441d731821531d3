package api_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/server"
)

// TestRESTQuotaHeaders: an answer that spends a limit (signup per address,
// sign-in per email and address, password reset) says what is left of it
// in X-RateLimit-Limit, -Remaining and -Reset; sign-in reports the tighter
// of its two budgets; the refusal past the limit says 0 remain.
func TestRESTQuotaHeaders(t *testing.T) {
	t.Parallel()
	app, err := server.Build(context.Background(), server.Config{AppDatabaseURL: dbtest.AppURL(), PublicURL: "http://127.0.0.1",
		SignupsPerHour: 2, ClientIPHeader: "X-Forwarded-For", Now: frozenClock()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler)
	defer srv.Close()
	post := func(path, ip string, body any) resp {
		raw, _ := json.Marshal(body)
		return do(t, srv.URL, "POST", path, map[string]string{"X-Forwarded-For": ip, "Content-Type": "application/json"}, raw)
	}
	quota := func(r resp, limit, remaining string) {
		t.Helper()
		if r.Header.Get("X-RateLimit-Limit") != limit || r.Header.Get("X-RateLimit-Remaining") != remaining || r.Header.Get("X-RateLimit-Reset") == "" {
			t.Fatalf("HTTP %d: X-RateLimit-Limit %q Remaining %q Reset %q, want %s, %s", r.Status,
				r.Header.Get("X-RateLimit-Limit"), r.Header.Get("X-RateLimit-Remaining"), r.Header.Get("X-RateLimit-Reset"), limit, remaining)
		}
	}
	email := uniqueEmail()
	first := post("/api/v1/signup", "198.51.100.21", obj{"account_name": "Acme", "email": email, "password": "correct horse battery"})
	want(t, first, 201)
	quota(first, "2", "1")
	if first.Header.Get("X-RateLimit-Reset") != "1800" {
		t.Errorf("signup's reset %q, want 1800 seconds (one signup back every 30 minutes)", first.Header.Get("X-RateLimit-Reset"))
	}
	quota(post("/api/v1/signup", "198.51.100.21", obj{"account_name": "Acme", "email": uniqueEmail(), "password": "correct horse battery"}), "2", "0")
	over := post("/api/v1/signup", "198.51.100.21", obj{"account_name": "Acme", "email": uniqueEmail(), "password": "correct horse battery"})
	wantErr(t, over, 429, "rate_limited")
	quota(over, "2", "0")

	quota(post("/api/v1/login", "198.51.100.22", obj{"email": email, "password": "wrong password"}), "10", "9")
	quota(post("/api/v1/password/forgot", "198.51.100.23", obj{"email": email}), "3", "2")
}
