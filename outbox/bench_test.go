package outbox_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/outbox"
	"github.com/deskwoot/deskwoot/tenancy"
)

// BenchmarkDeliveries measures webhook deliveries per second with two
// workers to a local receiver that answers 200 at once: b.N replies are
// committed (each with its job) first, then the workers start and the clock
// runs until every reply is recorded sent.
//
//	go run ./cmd/pgrun -- go test -run '^$' -bench Deliveries -benchtime 2000x ./outbox/
func BenchmarkDeliveries(b *testing.B) {
	ctx := context.Background()
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer recv.Close()
	ten := dbtest.NewTenant(b)
	d := &desk.Desk{DB: dbtest.App(b)}
	ob, err := outbox.New(outbox.Config{DB: d.DB, Desk: d, Workers: 2, AllowPrivateTargets: true, Queue: fmt.Sprintf("bench_%d_%d", os.Getpid(), queueSeq.Add(1))})
	if err != nil {
		b.Fatal(err)
	}
	d.Outbox = ob
	ib, err := d.InboxCreate(ctx, tenancy.For(ten.Account.ID), desk.InboxInput{Name: "API", Channel: "api",
		Settings: map[string]any{"webhook_url": recv.URL, "webhook_secret": secret}})
	if err != nil {
		b.Fatal(err)
	}
	in, err := d.IncomingMessage(ctx, ten.Account.ID, ib.ID, desk.IncomingInput{
		Contact: desk.IncomingContact{Email: "bench@customer.test"}, Content: "hi"})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if _, err := d.MessageCreate(ctx, ten.Account.ID, in.ConversationID, fmt.Sprintf("reply %d", i), false,
			desk.Author{Kind: "user", UserID: ten.User.ID, Name: "Bench"}); err != nil {
			b.Fatal(err)
		}
	}
	sent := func() (n int) {
		d.DB.InTenant(ctx, ten.Account.ID, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT count(*) FROM messages WHERE conversation_id = $1 AND delivery_status = 'sent'`, in.ConversationID).Scan(&n)
		})
		return n
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); <-ob.Stopped() }()
	b.ResetTimer()
	start := time.Now()
	if err := ob.Start(runCtx); err != nil {
		b.Fatal(err)
	}
	for sent() < b.N {
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("only %d of %d delivered", sent(), b.N)
		}
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
}
