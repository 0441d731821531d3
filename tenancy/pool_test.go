package tenancy_test

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/tenancy"
)

// TestPoolSize: the pool takes the size it is given, else the URL's
// pool_max_conns, else four per processor (at least four) — not pgx's one
// per processor, which starved 8 concurrent clients on a 2-core server.
func TestPoolSize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	want := max(4, 4*runtime.GOMAXPROCS(0))
	if got := tenancy.DefaultMaxConns(); got != want {
		t.Fatalf("DefaultMaxConns() = %d, want %d", got, want)
	}
	small := dbtest.AppURL() + "?pool_max_conns=3"
	if strings.Contains(dbtest.AppURL(), "?") {
		small = dbtest.AppURL() + "&pool_max_conns=3"
	}
	for _, c := range []struct {
		name     string
		url      string
		maxConns int
		want     int32
	}{
		{"default", dbtest.AppURL(), 0, int32(want)},
		{"given", dbtest.AppURL(), 7, 7},
		{"url", small, 0, 3},
		{"given over url", small, 5, 5},
	} {
		db, err := tenancy.OpenPool(ctx, c.url, c.maxConns)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := db.Pool.Config().MaxConns; got != c.want {
			t.Errorf("%s: MaxConns = %d, want %d", c.name, got, c.want)
		}
		db.Close()
	}
}
