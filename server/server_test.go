package server_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/devmail"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/server"
	"github.com/deskwoot/deskwoot/tenancy"
)

// TestMain: started as a sandbox child evaluating account rules, the test
// binary serves that and nothing else (policy.ServeSandboxIfChild).
func TestMain(m *testing.M) {
	policy.ServeSandboxIfChild()
	dbtest.Main(m)
}

func TestServeRefusesPrivilegedRoles(t *testing.T) {
	ctx := context.Background()
	if dbtest.SuperuserURL() == "" {
		t.Skip("DATABASE_URL points at an existing server; no superuser connection to test with")
	}
	_, err := server.Build(ctx, server.Config{AppDatabaseURL: dbtest.SuperuserURL()})
	if !errors.Is(err, server.ErrPrivilegedRole) {
		t.Fatalf("Build as superuser: %v, want ErrPrivilegedRole", err)
	}
	db, err := tenancy.Open(ctx, dbtest.AppURL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := server.CheckRole(ctx, db); err != nil {
		t.Fatalf("deskwoot_app refused: %v", err)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	app, err := server.Build(context.Background(), server.Config{AppDatabaseURL: dbtest.AppURL(), MetricsToken: "m"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(app.Handler)
	defer ts.Close()
	for _, path := range []string{"/healthz", "/healthz", "/metrics"} {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
		req.Header.Set("Authorization", "Bearer m")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: HTTP %d", path, resp.StatusCode)
		}
		if path == "/metrics" {
			for _, want := range []string{`deskwoot_http_requests_total{code="200",method="GET",route="/healthz"} 2`, "deskwoot_db_pool_total_conns", "go_goroutines"} {
				if !strings.Contains(string(body), want) {
					t.Errorf("/metrics lacks %q", want)
				}
			}
		}
	}
}

// The local mailbox page exists only where the configuration mounts it
// (deskwoot dev); a relay alone (serve) never shows mail.
func TestDevMailboxOnlyWhenMounted(t *testing.T) {
	box, err := devmail.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	for _, c := range []struct {
		name string
		cfg  server.Config
		want int
	}{
		{"serve with a relay", server.Config{MailRelayURL: box.RelayURL(), MailFrom: "desk@deskwoot.test"}, http.StatusNotFound},
		{"dev", server.Config{MailRelayURL: box.RelayURL(), MailFrom: "desk@deskwoot.test", DevMailbox: box.Handler("http://x")}, http.StatusOK},
	} {
		c.cfg.AppDatabaseURL = dbtest.AppURL()
		app, err := server.Build(context.Background(), c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(app.Handler)
		res, err := http.Get(ts.URL + "/dev/mail")
		ts.Close()
		app.DB.Close()
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.want {
			t.Errorf("%s: GET /dev/mail = %d, want %d", c.name, res.StatusCode, c.want)
		}
	}
}

func TestBadRelayIsRefusedWithoutShowingItsPassword(t *testing.T) {
	_, err := server.Build(context.Background(), server.Config{AppDatabaseURL: dbtest.AppURL(),
		MailRelayURL: "ftp://me:hunter22@mail.example.com", MailFrom: "desk@deskwoot.test"})
	if err == nil || strings.Contains(err.Error(), "hunter22") || !strings.Contains(err.Error(), "DESKWOOT_SMTP_RELAY_URL") {
		t.Fatalf("Build = %v", err)
	}
}
