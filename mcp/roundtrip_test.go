package mcp_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/mcp"
	"github.com/deskwoot/deskwoot/outbox"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/tenancy"
)

// tripCounter counts what a pool sends PostgreSQL: each query, exec or
// batch is one round trip (BEGIN and COMMIT are execs); transactions are
// the BEGINs among them. Statements prepared for the statement cache are
// counted apart: a warm connection prepares none.
type tripCounter struct {
	mu       sync.Mutex
	trips    int
	txs      int
	prepares int
	log      []string
}

func (c *tripCounter) add(kind, sql string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trips++
	if strings.HasPrefix(sql, "BEGIN") {
		c.txs++
	}
	c.log = append(c.log, kind+": "+strings.Join(strings.Fields(sql), " "))
}

func (c *tripCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.add("query", d.SQL)
	return ctx
}
func (c *tripCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *tripCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	var sqls []string
	for _, q := range d.Batch.QueuedQueries {
		sqls = append(sqls, strings.Fields(q.SQL)[0]+"…")
	}
	c.add("batch", strings.Join(sqls, "; ")) // a batch that begins a transaction starts with BEGIN
	return ctx
}
func (c *tripCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *tripCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}
func (c *tripCounter) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	c.mu.Lock()
	c.prepares++
	c.mu.Unlock()
	return ctx
}
func (c *tripCounter) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

func (c *tripCounter) reset() {
	c.mu.Lock()
	c.trips, c.txs, c.prepares, c.log = 0, 0, 0, nil
	c.mu.Unlock()
}

// countedServer is an MCP server (with its outbox enqueuing, never
// delivering) on a pool whose round trips are counted.
func countedServer(t *testing.T) (string, *tripCounter) {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbtest.AppURL())
	if err != nil {
		t.Fatal(err)
	}
	counter := &tripCounter{}
	cfg.ConnConfig.Tracer = counter
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	db := &tenancy.DB{Pool: pool}
	engine, err := policy.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := &desk.Desk{DB: db}
	ob, err := outbox.New(outbox.Config{DB: db, Desk: d})
	if err != nil {
		t.Fatal(err)
	}
	d.Outbox = ob
	srv := httptest.NewServer(mcp.New(mcp.Config{DB: db, Desk: d, Policy: engine, Audit: &audit.Log{DB: db}}))
	t.Cleanup(srv.Close)
	return srv.URL, counter
}

// TestReplyRoundTrips pins how many round trips to PostgreSQL a
// reply_to_conversation costs on warm connections, from the bearer check
// to the commit of the message, its event, its delivery job, the
// idempotency record and the audit row; and a replay's. A change that adds
// a round trip fails here; one that removes some lowers the pins.
func TestReplyRoundTrips(t *testing.T) {
	t.Parallel()
	url, counter := countedServer(t)
	w := newWorld(t)
	token := w.token(t, allScopes, nil)
	reply := func(key string) {
		t.Helper()
		if text, isErr, _ := callTool(t, url, token, "reply_to_conversation", map[string]any{
			"conversation_id": w.conv1, "content": "We are on it.", "idempotency_key": key}); isErr {
			t.Fatal(text)
		}
	}
	for i := range 8 { // warm every pooled connection's statement cache
		reply(fmt.Sprint("warm-", i))
	}
	// Before the unit of work a reply took 11 round trips: the bearer
	// check, the target, then BEGIN, the claim, the message, the delivery
	// job, River's NOTIFY, the event, the stored result, the audit row and
	// COMMIT each on its own; a replay 7. Now: the target (with the cached
	// principal's re-check), BEGIN with the claim and its look-up, the
	// message, the delivery job, and everything else with COMMIT.
	const (
		maxTrips       = 5
		maxTxs         = 1
		maxReplayTrips = 3
	)
	counter.reset()
	reply("measured")
	t.Logf("a reply: %d round trips, %d transactions, %d prepares:\n%s", counter.trips, counter.txs, counter.prepares, strings.Join(counter.log, "\n"))
	if counter.trips > maxTrips || counter.txs > maxTxs {
		t.Errorf("a reply took %d round trips in %d transactions, want at most %d in %d", counter.trips, counter.txs, maxTrips, maxTxs)
	}
	counter.reset()
	reply("measured")
	t.Logf("a replay: %d round trips, %d transactions:\n%s", counter.trips, counter.txs, strings.Join(counter.log, "\n"))
	if counter.trips > maxReplayTrips {
		t.Errorf("a replay took %d round trips, want at most %d", counter.trips, maxReplayTrips)
	}
}
