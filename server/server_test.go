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
	"github.com/deskwoot/deskwoot/server"
	"github.com/deskwoot/deskwoot/tenancy"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

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
