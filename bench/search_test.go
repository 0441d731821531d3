package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/tenancy"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// batchSQL records the statements of the batches a pool sends.
type batchSQL struct {
	mu   sync.Mutex
	sql  []string
	args []string
}

func (b *batchSQL) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (b *batchSQL) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	b.mu.Lock()
	b.sql = append(b.sql, d.SQL)
	b.args = append(b.args, fmt.Sprint(d.Args))
	b.mu.Unlock()
}

func (b *batchSQL) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (b *batchSQL) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (b *batchSQL) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestSearchBaselineIsTheToolsStatement: the search figure's baseline sends
// the very statement search_conversations sends, and runs it under the
// tenant's row-level security, finding the same conversations.
func TestSearchBaselineIsTheToolsStatement(t *testing.T) {
	ctx := context.Background()
	pc, err := pgxpool.ParseConfig(dbtest.AppURL())
	if err != nil {
		t.Fatal(err)
	}
	trace := &batchSQL{}
	pc.ConnConfig.Tracer = trace
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	d := &desk.Desk{DB: &tenancy.DB{Pool: pool}}
	acct := dbtest.NewTenant(t).Account.ID
	other := dbtest.NewTenant(t).Account.ID
	ib, err := d.InboxCreate(ctx, tenancy.For(acct), desk.InboxInput{Name: "Search", Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	for i, text := range []string{"My warranty ran out", "Where is my order?", "Warranty claim for a broken screen"} {
		if _, err := d.IncomingMessage(ctx, acct, ib.ID, desk.IncomingInput{
			Contact: desk.IncomingContact{Email: strings.Repeat("x", i+1) + "@example.com"}, Content: text}); err != nil {
			t.Fatal(err)
		}
	}
	trace.mu.Lock()
	trace.sql, trace.args = nil, nil
	trace.mu.Unlock()
	found, _, err := d.ConversationSearch(ctx, tenancy.For(acct), desk.Scope{}, desk.SearchFilter{Query: searchTerm, Limit: 25})
	if err != nil || len(found) != 2 {
		t.Fatalf("the tool's search found %d conversations, %v; want 2", len(found), err)
	}
	oneLine := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	sent := false
	for i, s := range trace.sql {
		sent = sent || oneLine(s) == oneLine(searchSQL) && trace.args[i] == fmt.Sprint(searchArgs(searchTerm))
	}
	if !sent {
		t.Fatalf("the bench's search statement is not the one the tool sends:\nbench: %s %v\ntool:  %q %q", oneLine(searchSQL), searchArgs(searchTerm), trace.sql, trace.args)
	}

	if dbtest.SuperuserURL() == "" {
		t.Skip("the baseline's role switch needs a superuser connection")
	}
	super, err := pgxpool.New(ctx, dbtest.SuperuserURL())
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close()
	count := func(acct int64) int {
		n := 0
		b := &pgx.Batch{}
		b.Queue(`SELECT set_config('role', 'deskwoot_app', true)`)
		b.Queue(`SELECT set_config('deskwoot.account_id', $1::bigint::text, true)`, acct)
		b.Queue(searchSQL, searchArgs(searchTerm)...).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				n++
			}
			return rows.Err()
		})
		if err := super.SendBatch(ctx, b).Close(); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(acct); n != len(found) {
		t.Errorf("the baseline found %d conversations, the tool %d", n, len(found))
	}
	if n := count(other); n != 0 {
		t.Errorf("the baseline as another tenant found %d conversations; row-level security is not in force", n)
	}
	if err := sameSearch(ctx, super, acct, searchTerm); err != nil {
		t.Fatal(err)
	}
}
