package desk_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/tenancy"
)

// benchWorld is a tenant with 60 conversations, one of them 20 messages long.
func benchWorld(b *testing.B) (d *desk.Desk, acct, conv int64) {
	b.Helper()
	ctx := context.Background()
	ten := dbtest.NewTenant(b)
	d = &desk.Desk{DB: dbtest.App(b)}
	acct = ten.Account.ID
	ib, err := d.InboxCreate(ctx, tenancy.For(acct), desk.InboxInput{Name: "Bench", Channel: "api"})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 60; i++ {
		res, err := d.IncomingMessage(ctx, acct, ib.ID, desk.IncomingInput{
			Contact: desk.IncomingContact{Email: fmt.Sprintf("c%d@example.com", i)}, Content: "Hello, I need help with my order"})
		if err != nil {
			b.Fatal(err)
		}
		conv = res.ConversationID
	}
	for i := 0; i < 19; i++ {
		if _, err := d.MessageCreate(ctx, acct, conv, fmt.Sprintf("Reply number %d with some text", i), i%5 == 0, desk.Author{Kind: "user", UserID: ten.User.ID, Name: "Admin"}); err != nil {
			b.Fatal(err)
		}
	}
	return d, acct, conv
}

// bypass is a superuser pool: the same SQL without RLS and without a
// transaction, the baseline the fence is measured against.
func bypass(b *testing.B) *pgxpool.Pool {
	if dbtest.SuperuserURL() == "" {
		b.Skip("needs the test cluster's superuser for the no-RLS baseline")
	}
	p, err := pgxpool.New(context.Background(), dbtest.SuperuserURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	return p
}

const (
	benchConvSQL = `SELECT c.id, c.inbox_id, c.subject, c.status, c.priority, c.labels,
		ct.id, ct.name, ct.email, c.assignee_id, u.name, c.team_id, tm.name,
		c.custom_attributes, c.snoozed_until, c.last_activity_at, c.created_at
	FROM conversations c
	JOIN contacts ct ON ct.account_id = c.account_id AND ct.id = c.contact_id
	LEFT JOIN users u ON u.id = c.assignee_id
	LEFT JOIN teams tm ON tm.account_id = c.account_id AND tm.id = c.team_id
	WHERE c.account_id = $2 AND c.id = $1`
	benchMsgSQL = `SELECT id, conversation_id, type, content, private, sender_kind, sender_id, sender_name, delivery_status, delivery_error, approved_by, created_at
		FROM messages WHERE account_id = $3 AND conversation_id = $1 AND id > $2 ORDER BY id LIMIT 21`
	benchListSQL = `SELECT c.id, c.inbox_id, c.subject, c.status, c.priority, c.labels, ct.id, ct.name, c.last_activity_at
		FROM conversations c JOIN contacts ct ON ct.account_id = c.account_id AND ct.id = c.contact_id
		WHERE c.account_id = $1 ORDER BY c.last_activity_at DESC, c.id DESC LIMIT 51`
)

func drain(rows pgx.Rows) error {
	for rows.Next() {
		if _, err := rows.Values(); err != nil {
			return err
		}
	}
	return rows.Err()
}

// BenchmarkGetConversation20: get a conversation with 20 messages through
// the fence (one batch: tenant setting + two queries) versus the same SQL
// as a superuser without RLS or a transaction.
func BenchmarkGetConversation20(b *testing.B) {
	d, acct, conv := benchWorld(b)
	ctx := context.Background()
	raw := bypass(b)
	b.Run("fenced", func(b *testing.B) {
		for b.Loop() {
			v, err := d.ConversationGet(ctx, tenancy.For(acct), conv, "", 20)
			if err != nil || len(v.Messages) != 20 {
				b.Fatal(err, len(v.Messages))
			}
		}
	})
	b.Run("bare-two-queries", func(b *testing.B) {
		for b.Loop() {
			if err := drain(must(raw.Query(ctx, benchConvSQL, conv, acct))); err != nil {
				b.Fatal(err)
			}
			if err := drain(must(raw.Query(ctx, benchMsgSQL, conv, 0, acct))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare-batch", func(b *testing.B) {
		for b.Loop() {
			bt := &pgx.Batch{}
			bt.Queue(benchConvSQL, conv, acct).Query(drain)
			bt.Queue(benchMsgSQL, conv, 0, acct).Query(drain)
			if err := raw.SendBatch(ctx, bt).Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkList50: list 50 conversations, fenced versus bare.
func BenchmarkList50(b *testing.B) {
	d, acct, _ := benchWorld(b)
	ctx := context.Background()
	raw := bypass(b)
	b.Run("fenced", func(b *testing.B) {
		for b.Loop() {
			list, _, err := d.ConversationList(ctx, tenancy.For(acct), desk.Scope{}, desk.ConversationFilter{Limit: 50})
			if err != nil || len(list) != 50 {
				b.Fatal(err, len(list))
			}
		}
	})
	b.Run("bare", func(b *testing.B) {
		for b.Loop() {
			if err := drain(must(raw.Query(ctx, benchListSQL, acct))); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func must(rows pgx.Rows, err error) pgx.Rows {
	if err != nil {
		panic(err)
	}
	return rows
}

// BenchmarkEventLatency measures the time from a commit to a long-polling
// reader holding the event (reported as p50-ms and p99-ms).
func BenchmarkEventLatency(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, acct, conv := benchWorld(b)
	d.Hub = desk.NewEventHub(d.DB.Pool)
	ready := make(chan struct{})
	go d.Hub.Run(ctx, ready)
	<-ready
	start, err := d.EventPoll(ctx, tenancy.For(acct), desk.EventQuery{}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	received := make(chan time.Time, 1024)
	go func() {
		cursor := start.NextCursor
		for ctx.Err() == nil {
			page, err := d.EventPollWait(ctx, tenancy.For(acct), desk.EventQuery{Cursor: cursor, Types: []string{desk.EventMessageCreated}}, 10*time.Second, time.Now)
			if err != nil {
				return
			}
			for range page.Events {
				received <- time.Now()
			}
			cursor = page.NextCursor
		}
	}()
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		committedAt := time.Now() // MessageCreate returns after the commit; the event may already be on its way
		if _, err := d.MessageCreate(ctx, acct, conv, fmt.Sprintf("latency %d", i), true, desk.Author{Kind: "user", Name: "bench"}); err != nil {
			b.Fatal(err)
		}
		got := <-received
		lat = append(lat, got.Sub(committedAt))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
