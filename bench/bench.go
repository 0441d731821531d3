// Package bench is `deskwoot bench`: a load tool that measures the figures
// of the performance budget (DESIGN §16) and prints them side by side with
// their baselines, all measured in the same run on the same machine.
//
// It either starts everything itself — a private PostgreSQL, migrations, a
// generated dataset, and `deskwoot serve` as a child process (so the RSS it
// reports is the server's own) — or measures a running server given by URL
// and token.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/localpg"
	"github.com/deskwoot/deskwoot/migrations"
	"github.com/deskwoot/deskwoot/policy"
)

// Config says what to measure and against what.
type Config struct {
	// URL is a running server's base URL (http://host:port); empty starts
	// one. Token is an MCP token of that server with every scope and a high
	// rate limit.
	URL, Token string
	// DatabaseURL, with URL, is a superuser connection to the server's
	// database for the bare-SQL baselines (they are skipped without it).
	DatabaseURL string
	// ServerPID, with URL, is the server's process id, for its RSS.
	ServerPID int
	// Binary is the deskwoot executable to run as the server.
	Binary string
	// OPA is the opa executable whose server is the decision's baseline;
	// empty means `opa` on PATH, else OPA's release of this build installed
	// with `go install` (see opaExecutable).
	OPA   string
	Scale Scale
	// Clients is the mixed load's concurrency; Pollers the number of
	// long-polling clients for the memory figure.
	Clients, Pollers int
	// Duration is how long each figure is measured (after a warm-up).
	Duration time.Duration
	// Log receives progress; the table goes to Run's writer.
	Log io.Writer
	// Only, when "live", measures the console's live streams alone;
	// "widget", the chat widget's streams alone; "triage", the console's
	// conversation list and thread against their REST calls; "read",
	// get_conversation against its floors and where its time goes.
	Only string
}

// env is what the workload runs against.
type env struct {
	cfg     Config
	baseURL string // the bench's own server; empty with --url
	mcpURL  string
	cl      *client
	fx      Fixture
	bare    *pgxpool.Pool // superuser: the bare-SQL baselines
	app     *pgxpool.Pool // deskwoot_app: the same SQL under RLS
	appURL  string        // deskwoot_app, for the live bench's sessions
	pid     int
	// metricsToken opens the started server's /metrics (the breakdown).
	metricsToken string
	cursors      sync.Map
}

// Run measures every figure and writes the table to out.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.Clients <= 0 {
		cfg.Clients = 8
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 3 * time.Second
	}
	e := &env{cfg: cfg}
	var err error
	if cfg.URL == "" {
		stop, err := e.startAll(ctx)
		if err != nil {
			return err
		}
		defer stop()
	} else if err = e.attach(ctx); err != nil {
		return err
	}
	defer func() {
		if e.bare != nil {
			e.bare.Close()
		}
		if e.app != nil {
			e.app.Close()
		}
	}()
	rows, err := e.measure(ctx)
	if err != nil {
		return err
	}
	writeTable(out, cfg, rows)
	return nil
}

// startAll starts PostgreSQL, migrates, seeds and starts the server.
func (e *env) startAll(ctx context.Context) (func(), error) {
	log := e.cfg.Log
	dir, err := os.MkdirTemp("", "deskwoot-bench-")
	if err != nil {
		return nil, err
	}
	var undo []func()
	stop := func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	undo = append(undo, func() { os.RemoveAll(dir) })
	// Durable defaults (fsync and synchronous_commit on), as DESIGN §16
	// takes every figure: floor B pays its WAL flush, as the server's writes do.
	pg, err := localpg.Start(ctx, localpg.Options{Dir: dir, Log: log})
	if err != nil {
		stop()
		return nil, err
	}
	undo = append(undo, func() { pg.Stop(); os.RemoveAll(pg.Dir) })
	if _, err := migrations.Run(ctx, pg.OwnerURL, migrations.Options{}); err != nil {
		stop()
		return nil, err
	}
	// The server signs audit checkpoints with the key migrate stored, read
	// as the owner and handed over as DESKWOOT_AUDIT_SIGNING_KEY.
	auditKey, err := storedAuditKey(ctx, pg.OwnerURL)
	if err != nil {
		stop()
		return nil, err
	}
	fx, closeFx, err := seed(ctx, log, pg.SuperuserURL(), pg.AppURL, e.cfg.Scale, e.cfg.Clients, auditKey)
	if err != nil {
		stop()
		return nil, err
	}
	undo = append(undo, closeFx)
	e.fx = fx
	if e.bare, err = openPool(ctx, pg.SuperuserURL(), e.cfg.Clients); err != nil {
		stop()
		return nil, err
	}
	if e.app, err = openPool(ctx, pg.AppURL, e.cfg.Clients); err != nil {
		stop()
		return nil, err
	}
	e.appURL = pg.AppURL
	bin := e.cfg.Binary
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			stop()
			return nil, err
		}
	}
	e.metricsToken = fmt.Sprintf("bench-%x", rand.Uint64())
	srv, err := startServer(ctx, bin, pg.AppURL, filepath.Join(dir, "server.log"),
		"DESKWOOT_AUDIT_SIGNING_KEY="+audit.EncodeSigningKey(auditKey),
		// /metrics behind a token of the run, for the breakdown row.
		"DESKWOOT_METRICS_TOKEN="+e.metricsToken, "DESKWOOT_METRICS_ADDR=",
		// The widget bench's visitors each count as their own address.
		"DESKWOOT_CLIENT_IP_HEADER="+widgetIPHeader)
	if err != nil {
		stop()
		return nil, err
	}
	undo = append(undo, srv.stop)
	e.pid = srv.pid()
	e.baseURL, e.mcpURL = srv.url, srv.url+"/api/mcp"
	e.cl = newClient(e.mcpURL, max(e.cfg.Clients, e.cfg.Pollers)+8)
	fmt.Fprintf(log, "server pid %d at %s\n", e.pid, srv.url)
	return stop, nil
}

// attach measures a running server: the bench account is the token's, its
// conversations are found through the MCP itself.
func (e *env) attach(ctx context.Context) error {
	if e.cfg.Token == "" {
		return errors.New("bench: --url needs --token, an MCP token with every scope and a high rate limit")
	}
	e.mcpURL = strings.TrimSuffix(e.cfg.URL, "/") + "/api/mcp"
	e.cl = newClient(e.mcpURL, max(e.cfg.Clients, e.cfg.Pollers)+8)
	e.pid = e.cfg.ServerPID
	e.fx = Fixture{PollToken: e.cfg.Token, Tokens: []string{e.cfg.Token}, SearchTerm: searchTerm}
	raw, err := e.cl.call(ctx, e.cfg.Token, "list_conversations", map[string]any{"limit": 100})
	if err != nil {
		return fmt.Errorf("bench: list_conversations with the token: %w", err)
	}
	for _, id := range conversationIDs(raw) {
		e.fx.Conversations = append(e.fx.Conversations, id)
	}
	if len(e.fx.Conversations) == 0 {
		return errors.New("bench: the token sees no conversations to read")
	}
	if e.cfg.DatabaseURL != "" {
		if e.bare, err = openPool(ctx, e.cfg.DatabaseURL, e.cfg.Clients); err != nil {
			return err
		}
		if err := e.bare.QueryRow(ctx, `SELECT account_id, inbox_id FROM conversations WHERE id = $1`, e.fx.Conversations[0]).
			Scan(&e.fx.AccountID, &e.fx.InboxID); err != nil {
			return fmt.Errorf("bench: find the token's account: %w", err)
		}
	}
	return nil
}

func openPool(ctx context.Context, url string, conns int) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	pc.MaxConns, pc.MinConns = int32(max(conns, 4)), int32(max(conns, 4))
	return pgxpool.NewWithConfig(ctx, pc)
}

// row is one line of the table.
type row struct {
	figure   string
	ours     stats
	baseName string
	base     stats
	ratio    string
	target   string
	oursCell string // overrides the latency cells (memory)
	baseCell string
	skipped  string
}

func (e *env) conv(i int) int64 { return e.fx.Conversations[i%len(e.fx.Conversations)] }

func (e *env) token(w int) string { return e.fx.Tokens[w%len(e.fx.Tokens)] }

func (e *env) getConversation(ctx context.Context, w, i int) error {
	_, err := e.cl.call(ctx, e.token(w), "get_conversation", map[string]any{"conversation_id": e.conv(w*7919 + i), "messages_limit": 20})
	return err
}

func (e *env) search(ctx context.Context, w, i int) error {
	_, err := e.cl.call(ctx, e.token(w), "search_conversations", map[string]any{"query": e.fx.SearchTerm, "limit": 25})
	return err
}

// mixed is the mixed workload: half reads of a conversation, then lists,
// searches, replies and short polls.
func (e *env) mixed(ctx context.Context, w, i int) error {
	r := rand.IntN(100)
	tok := e.token(w)
	var err error
	switch {
	case r < 50:
		return e.getConversation(ctx, w, i)
	case r < 65:
		_, err = e.cl.call(ctx, tok, "list_conversations", map[string]any{"limit": 25})
	case r < 80:
		return e.search(ctx, w, i)
	case r < 90:
		_, err = e.cl.call(ctx, tok, "reply_to_conversation", map[string]any{"conversation_id": e.conv(rand.IntN(1 << 30)),
			"content": "Thanks for waiting; here is an update.", "idempotency_key": fmt.Sprintf("bench-%d-%d-%d", w, i, time.Now().UnixNano())})
	default:
		args := map[string]any{"limit": 50}
		if c, ok := e.cursors.Load(w); ok {
			args["cursor"] = c
		}
		var raw []byte
		if raw, err = e.cl.call(ctx, tok, "poll_events", args); err == nil {
			if c := nextCursor(raw); c != "" {
				e.cursors.Store(w, c)
			}
		}
	}
	return err
}

func (e *env) measure(ctx context.Context) ([]row, error) {
	log, d := e.cfg.Log, e.cfg.Duration
	warm := min(d/4, time.Second)
	var rows []row
	step := func(what string) { fmt.Fprintf(log, "measuring %s…\n", what) }
	if e.cfg.Only == "live" {
		step(fmt.Sprintf("live console streams (%d open) and live update latency", liveStreams))
		return e.liveRows(ctx), nil
	}
	if e.cfg.Only == "widget" {
		step(fmt.Sprintf("chat widget streams (%d open) and reply latency", widgetStreams))
		return e.widgetRows(ctx), nil
	}
	if e.cfg.Only == "triage" {
		step("the console's conversation list and thread, and their REST calls")
		return e.consolePages(ctx, warm, d), nil
	}

	// get_conversation, one client, against floors A, B and C (see
	// floors.go), measured in turns so that a drifting load weighs alike.
	step("get_conversation, 1 client, and its floors A, B and C")
	const readFigure = "get_conversation (20 msgs) over MCP/HTTP, 1 client"
	var fc *floorC
	if e.bare != nil {
		var err error
		if fc, err = startFloorC(e.bare, e.fx.AccountID); err != nil {
			return nil, err
		}
		defer fc.close()
	}
	opA := func(ctx context.Context, w, i int) error {
		return bareGet(ctx, e.bare, e.fx.AccountID, e.conv(w*7919+i))
	}
	opB := func(ctx context.Context, w, i int) error {
		_, err := floorB(ctx, e.bare, e.fx.AccountID, e.conv(w*7919+i))
		return err
	}
	opC := func(ctx context.Context, w, i int) error { return fc.get(ctx, e.cl.http, e.conv(w*7919+i)) }
	floorRows := []row{
		{figure: readFigure + " vs floor A: the same rows bare through pgx (one batch)", baseName: "floor A: bare SQL", target: "≤ 3×"},
		{figure: readFigure + " vs floor B: A plus one durable audit-like row in the same batch", baseName: "floor B: A + audit row", target: "–"},
		{figure: readFigure + " vs floor C: a plain Go net/http JSON endpoint doing B", baseName: "floor C: net/http + B", target: "≤ 1.3×"},
	}
	if e.bare == nil {
		ours := run(ctx, 1, warm, d, e.getConversation)
		for _, r := range floorRows {
			r.ours, r.skipped = ours, "the floors need --database-url"
			rows = append(rows, r)
		}
	} else {
		st := runTurns(ctx, 1, warm, d, e.getConversation, opA, opB, opC)
		for j, r := range floorRows {
			r.ours, r.base, r.ratio = st[0], st[j+1], times(st[0].p50, st[j+1].p50)
			rows = append(rows, r)
		}
	}

	if e.metricsToken != "" {
		rows = append(rows, e.breakdown(ctx, d))
	}
	if e.cfg.Only == "read" {
		return rows, nil
	}

	// The decision, embedded, against OPA's floor and OPA's server.
	step("the tool decision")
	eng, err := policy.New(ctx)
	if err != nil {
		return nil, err
	}
	dec := decisionStats(ctx, eng, d)
	floor, err := floorStats(ctx, d)
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{figure: "tool decision vs OPA's fixed cost (a one-rule policy, same engine)", ours: dec,
		baseName: "one-rule policy", base: floor, ratio: times(dec.p50, floor.p50), target: "≤ 3×"})
	opaSrv, err := opaServerStats(ctx, e.cfg.OPA, e.cfg.Log, d)
	r := row{figure: "tool decision embedded vs the same decision via `opa run --server` over loopback HTTP", ours: dec,
		baseName: "OPA server", base: opaSrv, target: "≥ 10× faster"}
	if err != nil {
		r.skipped = "OPA server: " + err.Error()
	} else {
		r.ratio = fmt.Sprintf("%.1f× faster", float64(opaSrv.p50)/float64(dec.p50))
	}
	rows = append(rows, r)

	// RLS: the same batch through the app role under RLS vs bare.
	if e.app != nil && e.bare != nil {
		step("RLS")
		r = row{figure: "the get_conversation batch under RLS (app role, tenant set in the batch) vs without (superuser)",
			baseName: "bare SQL", target: "≤ 1.10×"}
		st := runTurns(ctx, 1, warm, d,
			func(ctx context.Context, w, i int) error { return rlsGet(ctx, e.app, e.fx.AccountID, e.conv(w*7919+i)) }, opA)
		r.ours, r.base = st[0], st[1]
		r.ratio = times(r.ours.p50, r.base.p50)
		rows = append(rows, r)
	}

	// Throughput at 8 connections, and the mixed load, against floor C.
	step("get_conversation, 8 clients")
	r = row{figure: "8 clients, calls/s of get_conversation vs floor C's calls/s at 8 clients", baseName: "floor C: net/http + B",
		target: "≥ 75 %, p99 ≤ 25 ms"}
	if fc != nil {
		st := runTurns(ctx, 8, warm, d, e.getConversation, opC)
		r.ours, r.base, r.ratio = st[0], st[1], percent(st[0].perSec, st[1].perSec)
	} else {
		r.ours, r.skipped = run(ctx, 8, warm, d, e.getConversation), "the floors need --database-url"
	}
	rows = append(rows, r)

	step(fmt.Sprintf("mixed load, %d clients", e.cfg.Clients))
	r = row{figure: fmt.Sprintf("mixed load, %d clients (50 %% get_conversation, 15 %% list, 15 %% search, 10 %% reply, 10 %% poll; 8 long-polls waiting) vs floor C at %d clients", e.cfg.Clients, e.cfg.Clients),
		baseName: "floor C: net/http + B", target: "≥ 50 %, p99 ≤ 25 ms"}
	pollCtx, stopPolls := context.WithCancel(ctx)
	var polls sync.WaitGroup
	longPolls(pollCtx, e, 8, 5, &polls, nil)
	if fc != nil {
		st := runTurns(ctx, e.cfg.Clients, warm, d, e.mixed, opC)
		r.ours, r.base, r.ratio = st[0], st[1], percent(st[0].perSec, st[1].perSec)
	} else {
		r.ours, r.skipped = run(ctx, e.cfg.Clients, warm, d, e.mixed), "the floors need --database-url"
	}
	stopPolls()
	polls.Wait()
	rows = append(rows, r)

	// Search over the dataset.
	step("search_conversations")
	var n int64
	if e.bare != nil {
		e.bare.QueryRow(ctx, `SELECT count(*) FROM messages`).Scan(&n)
	}
	r = row{figure: fmt.Sprintf("search_conversations over %s messages in %d tenants, p95 vs the same SQL through pgx (its batch, as the app role under RLS)", count(n), e.cfg.Scale.Tenants),
		baseName: "same SQL", target: "≤ 1.5× (p95)"}
	r.ours = run(ctx, 1, warm, d, e.search)
	if e.bare != nil {
		r.base = run(ctx, 1, warm, d, func(ctx context.Context, w, i int) error {
			return sameSearch(ctx, e.bare, e.fx.AccountID, e.fx.SearchTerm)
		})
		r.ratio = times(r.ours.p95, r.base.p95)
	} else {
		r.skipped = "bare SQL needs --database-url"
	}
	rows = append(rows, r)

	rows = append(rows, e.searchAtSize(ctx, warm, d)...)
	rows = append(rows, e.auditAtSize(ctx, warm, d)...)
	step("the console's conversation list and thread, and their REST calls")
	rows = append(rows, e.consolePages(ctx, warm, d)...)

	// Memory with many long-polling clients.
	step(fmt.Sprintf("RSS with %d long-polling clients", e.cfg.Pollers))
	rows = append(rows, e.memory(ctx))

	// The console's live streams: memory with a thousand open, and how
	// soon a commit reaches one.
	step(fmt.Sprintf("live console streams (%d open) and live update latency", liveStreams))
	rows = append(rows, e.liveRows(ctx)...)

	// The chat widget's streams: memory with a thousand open, and how soon
	// a reply reaches one.
	step(fmt.Sprintf("chat widget streams (%d open) and reply latency", widgetStreams))
	rows = append(rows, e.widgetRows(ctx)...)
	return rows, nil
}

// memory is the server's RSS idle and with cfg.Pollers clients waiting in
// poll_events at once.
func (e *env) memory(ctx context.Context) row {
	r := row{figure: fmt.Sprintf("RSS with %d concurrent MCP clients long-polling", e.cfg.Pollers), baseName: "idle server", target: "≤ 150 MB"}
	if e.pid == 0 {
		r.skipped = "RSS needs the server's pid (--server-pid)"
		return r
	}
	idle, err := rss(e.pid)
	if err != nil {
		r.skipped = err.Error()
		return r
	}
	pollCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var started atomic.Int64
	longPolls(pollCtx, e, e.cfg.Pollers, 20, &wg, &started)
	// Let every request reach the server and settle into its wait.
	deadline := time.Now().Add(15 * time.Second)
	for started.Load() < int64(e.cfg.Pollers) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(4 * time.Second)
	var peak int64
	for i := 0; i < 12; i++ {
		if v, err := rss(e.pid); err == nil && v > peak {
			peak = v
		}
		time.Sleep(250 * time.Millisecond)
	}
	stop()
	wg.Wait()
	r.oursCell, r.baseCell = mb(peak), mb(idle)
	if peak > 0 {
		r.ratio = fmt.Sprintf("%s (%d clients in flight)", mb(peak), started.Load())
	}
	return r
}

// longPolls starts n clients that long-poll poll_events (wait seconds) in a
// loop until ctx ends.
func longPolls(ctx context.Context, e *env, n, wait int, wg *sync.WaitGroup, started *atomic.Int64) {
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cursor := ""
			for first := true; ctx.Err() == nil; first = false {
				args := map[string]any{"wait_seconds": wait, "limit": 50}
				if cursor != "" {
					args["cursor"] = cursor
				}
				if first && started != nil {
					started.Add(1)
				}
				raw, err := e.cl.call(ctx, e.fx.PollToken, "poll_events", args)
				if err != nil {
					if ctx.Err() == nil {
						time.Sleep(100 * time.Millisecond)
					}
					continue
				}
				if c := nextCursor(raw); c != "" {
					cursor = c
				}
			}
		}()
	}
}

// The bare-SQL baselines: the SQL desk sends, as one batch, through a
// superuser connection (no RLS) with the tenant as an explicit predicate.

const bareConversationSQL = `SELECT c.id, c.inbox_id, c.subject, c.status, c.priority, c.labels,
		ct.id, ct.name, ct.email, c.assignee_id, u.name, c.team_id, tm.name,
		c.custom_attributes, c.snoozed_until, c.last_activity_at, c.created_at
	FROM conversations c
	JOIN contacts ct ON ct.account_id = c.account_id AND ct.id = c.contact_id
	LEFT JOIN users u ON u.id = c.assignee_id
	LEFT JOIN teams tm ON tm.account_id = c.account_id AND tm.id = c.team_id
	WHERE c.account_id = $2 AND c.id = $1`

const bareMessagesSQL = `SELECT id, conversation_id, type, content, private, sender_kind, sender_id, sender_name, delivery_status, delivery_error, approved_by, created_at
	FROM messages WHERE account_id = $2 AND conversation_id = $1 AND id > 0 ORDER BY id LIMIT 21`

func drain(rows pgx.Rows) error {
	for rows.Next() {
		if _, err := rows.Values(); err != nil {
			return err
		}
	}
	return rows.Err()
}

func bareGet(ctx context.Context, pool *pgxpool.Pool, acct, conv int64) error {
	b := &pgx.Batch{}
	b.Queue(bareConversationSQL, conv, acct).Query(drain)
	b.Queue(bareMessagesSQL, conv, acct).Query(drain)
	return pool.SendBatch(ctx, b).Close()
}

// rlsGet is bareGet as the app role: the tenant set first in the batch, as
// tenancy.DB.Batch does, and the policy doing the fencing.
func rlsGet(ctx context.Context, pool *pgxpool.Pool, acct, conv int64) error {
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('deskwoot.account_id', $1::bigint::text, true)`, acct)
	b.Queue(bareConversationSQL, conv, acct).Query(drain)
	b.Queue(bareMessagesSQL, conv, acct).Query(drain)
	return pool.SendBatch(ctx, b).Close()
}

// searchSQL is the statement search_conversations sends for a token that
// sees every inbox (desk.ConversationList through conversationSearch): the
// tenant comes from the transaction's setting, which the search functions
// read, and from row-level security for the rows.
const searchSQL = `WITH q AS MATERIALIZED (SELECT config, q, qc FROM deskwoot_search_query($1, $2)),
		hits AS (
			SELECT h.conversation_id, max(h.score) AS score,
				(array_agg(h.message_id ORDER BY h.score DESC, h.message_id DESC) FILTER (WHERE h.message_id IS NOT NULL))[1] AS message_id
			FROM q, deskwoot_search_conversations(q.q, q.qc, $3, 200) h
			GROUP BY h.conversation_id
		), page AS (
			SELECT c.id, c.inbox_id, c.subject, c.status, c.priority, c.labels, ct.id AS contact_id, ct.name, ct.email,
				c.last_activity_at, h.score, h.message_id
			FROM hits h
			CROSS JOIN LATERAL (SELECT c.account_id, c.id, c.inbox_id, c.contact_id, c.subject, c.status, c.priority, c.labels,
				c.assignee_id, c.updated_at, c.last_activity_at
			FROM conversations c WHERE c.id = h.conversation_id OFFSET 0) c
			JOIN contacts ct ON ct.account_id = c.account_id AND ct.id = c.contact_id
			ORDER BY h.score DESC, c.last_activity_at DESC, c.id DESC
			OFFSET 0 LIMIT 26
		)
		SELECT p.id, p.inbox_id, p.subject, p.status, p.priority, p.labels, p.contact_id, p.name, p.last_activity_at, p.message_id,
			(SELECT ts_headline(q.config, translate(left(m.content, 20000), E'\x01\x02', '  '), q.q, E'StartSel=\x01, StopSel=\x02, MaxWords=30, MinWords=12, ShortWord=0, MaxFragments=2, FragmentDelimiter=" … "') FROM messages m WHERE m.id = p.message_id),
			ts_headline(q.config, translate(p.subject, E'\x01\x02', '  '), q.q, E'StartSel=\x01, StopSel=\x02, HighlightAll=true'),
			ts_headline('simple', translate(p.name, E'\x01\x02', '  '), q.qc, E'StartSel=\x01, StopSel=\x02, HighlightAll=true'),
			ts_headline('simple', translate(coalesce(p.email, ''), E'\x01\x02', '  '), q.qc, E'StartSel=\x01, StopSel=\x02, HighlightAll=true')
		FROM page p, q
		ORDER BY p.score DESC, p.last_activity_at DESC, p.id DESC`

// searchArgs are the statement's arguments for a one-word query: the word
// quoted as a prefix, the word for typo widening, every inbox.
func searchArgs(word string) []any {
	return []any{"'" + word + "':*", []string{word}, []int64(nil)}
}

// sameSearch is the search baseline: the tool's own statement and batch
// sent through pgx, as the app role with the tenant set first (what
// tenancy.DB.Batch sends), so that it runs the tool's plan. pool is the
// superuser's: the batch switches to deskwoot_app for its own transaction.
func sameSearch(ctx context.Context, pool *pgxpool.Pool, acct int64, word string) error {
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('role', 'deskwoot_app', true)`)
	b.Queue(`SELECT set_config('deskwoot.account_id', $1::bigint::text, true)`, acct)
	b.Queue(searchSQL, searchArgs(word)...).Query(drain)
	return pool.SendBatch(ctx, b).Close()
}
