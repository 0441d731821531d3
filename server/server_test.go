package server_test

import (
	"context"
	"errors"
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
