package oauth_test

import (
	"context"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// BenchmarkAuthenticate compares resolving an OAuth access token at
// /api/mcp with resolving a static dw_mcp_ token: both are one round trip,
// so the ratio should stay near 1.
func BenchmarkAuthenticate(b *testing.B) {
	w := newWorld(b)
	redirect := "https://client.example/cb"
	client := w.register(b, redirect)
	access, _ := w.tokens(b, client, redirect, newPKCE())
	db := dbtest.App(b)
	_, static, err := identity.MCPTokenCreate(context.Background(), db, tenancy.For(w.Account.ID), identity.MCPTokenInput{Name: "bench", Scopes: []string{"conversations:read"}}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	resource := w.base + "/api/mcp"
	b.Run("static", func(b *testing.B) {
		for b.Loop() {
			if _, err := identity.AuthenticateMCP(context.Background(), db, static, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("oauth", func(b *testing.B) {
		for b.Loop() {
			if _, err := identity.AuthenticateOAuth(context.Background(), db, access, resource, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
