package tenancy_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// BenchmarkGuardCost measures what the guard of a cached principal and the
// audit row add to a read batch (get_conversation's two reads), each
// variant in turn within every iteration, and reports each as a ratio of
// the bare batch measured in the same run.
func BenchmarkGuardCost(b *testing.B) {
	t := b
	ctx := context.Background()
	db := dbtest.App(t)
	ten, raw := dbtest.MCPTenant(t, 60000)
	acct := ten.Account.ID
	d := &desk.Desk{DB: db}
	ib, err := d.InboxCreate(ctx, tenancy.For(acct), desk.InboxInput{Name: "I", Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	in, err := d.IncomingMessage(ctx, acct, ib.ID, desk.IncomingInput{Contact: desk.IncomingContact{Email: "a@b.c"}, Content: "hi", SourceID: "x1"})
	if err != nil {
		t.Fatal(err)
	}
	conv := in.ConversationID
	for i := 0; i < 19; i++ {
		d.MessageCreate(ctx, acct, conv, fmt.Sprint("reply ", i), false, desk.Author{Kind: "user", UserID: ten.User.ID, Name: "A"})
	}
	p, err := identity.AuthenticateMCP(ctx, db, raw, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	reads := func(b *pgx.Batch) {
		b.Queue(`SELECT c.id, c.inbox_id, c.subject, c.status FROM conversations c WHERE c.id = $1`, conv)
		b.Queue(`SELECT id, content FROM messages WHERE conversation_id = $1 AND id > 0 ORDER BY id LIMIT 21`, conv)
	}
	variants := []struct {
		name  string
		guard bool
		audit bool
	}{{"bare", false, false}, {"audit", false, true}, {"guard", true, false}, {"guard+audit", true, true}}
	tot := make([]time.Duration, len(variants))
	n := 0
	for b.Loop() {
		n++
		for j, v := range variants {
			bt := &pgx.Batch{}
			reads(bt)
			if v.audit {
				bt.Queue(`INSERT INTO audit_log (account_id, actor_kind, action, decision) VALUES (current_setting('deskwoot.account_id')::bigint, 'agent', 'probe', 'allow')`)
			}
			req := tenancy.For(acct)
			if v.guard {
				req.Guard = p.Guard(1, time.Now(), nil)
			}
			t0 := time.Now()
			if err := db.Read(ctx, req, bt); err != nil {
				t.Fatal(err)
			}
			tot[j] += time.Since(t0)
		}
	}
	for j, v := range variants[1:] {
		b.ReportMetric(float64(tot[j+1])/float64(tot[0]), v.name+"-x")
	}
}
