package tenancy_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/auditrow"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/tenancy"
)

// BenchmarkMemberHold measures what holding the person's membership
// (tenancy.ByMember) adds to a person's small write with its audit row,
// both variants in turn within every iteration, and reports the held one
// as a ratio of the plain one measured in the same run.
func BenchmarkMemberHold(b *testing.B) {
	ctx := context.Background()
	db := dbtest.App(b)
	ten := dbtest.NewTenant(b)
	acct, user := ten.Account.ID, ten.User.ID
	entry := auditrow.Entry{ActorKind: "user", ActorID: user, Action: "label.create", Decision: "allow"}
	write := func(req *tenancy.Request) time.Duration {
		bt := &pgx.Batch{}
		bt.Queue(`UPDATE account_users SET notify = notify WHERE user_id = $1 AND false`, user)
		t0 := time.Now()
		if err := db.Unit(ctx, req, bt, nil); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	var plain, held time.Duration
	for b.Loop() {
		plain += write(tenancy.Recorded(acct, entry))
		held += write(tenancy.ByMember(acct, user, entry))
	}
	b.ReportMetric(float64(held)/float64(plain), "held-x")
}
