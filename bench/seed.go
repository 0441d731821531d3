package bench

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Scale is the size of the generated dataset.
type Scale struct {
	Name          string
	Tenants       int // accounts, the bench account included
	Conversations int // per tenant
	Messages      int // per conversation
	// SearchSizes, when set, are the message counts of workspaces seeded
	// beside the others for the search-at-size figures: the first small,
	// the last large (DESIGN §16: search p95 must not grow with size).
	SearchSizes []int
	// AuditSizes, when set, are the audit row counts of workspaces seeded
	// for the audit page figure: the first small, the last large (DESIGN
	// §16: the page's cost must not grow with the log).
	AuditSizes []int
}

// Scales are the datasets `deskwoot bench --scale` knows.
var Scales = map[string]Scale{
	// small: what `make bench` runs; get_conversation reads a 20-message thread.
	"small": {Name: "small", Tenants: 20, Conversations: 50, Messages: 20, AuditSizes: []int{1_000, 10_000}},
	// large: 1M messages in 1,000 tenants, and beside them one workspace of
	// 10k messages and one of 1M, and workspaces of 1k and 1M audit rows.
	"large": {Name: "large", Tenants: 1000, Conversations: 50, Messages: 20, SearchSizes: []int{10_000, 1_000_000}, AuditSizes: []int{1_000, 1_000_000}},
}

// Fixture is what the workload needs to know about the seeded data.
type Fixture struct {
	AccountID     int64
	InboxID       int64
	Conversations []int64 // the bench account's conversations
	Tokens        []string
	PollToken     string
	SearchTerm    string
	// Sized are the search-at-size workspaces (Scale.SearchSizes).
	Sized []SizedWorkspace
	// Audited are the audit-at-size workspaces (Scale.AuditSizes).
	Audited []AuditedWorkspace
}

// SizedWorkspace is a workspace of a given number of messages, with a
// token of its own.
type SizedWorkspace struct {
	AccountID int64
	Token     string
	Messages  int
}

// words make up generated message content: common help-desk words and a
// few rarer ones, so a search finds a handful of conversations per tenant.
var words = []string{"refund", "invoice", "password", "shipping", "order", "delivery", "login", "account", "payment", "crash",
	"update", "cancel", "subscription", "address", "tracking", "discount", "coupon", "broken", "missing", "late",
	"thanks", "please", "help", "urgent", "question", "problem", "error", "screen", "mobile", "email",
	"warranty", "exchange", "size", "color", "return", "label", "package", "courier", "damaged", "replacement"}

// searchTerm appears in about one message in 40.
const searchTerm = "warranty"

// seed creates the bench account through the product's own functions
// (signup, MCP switched on, an api inbox whose webhook is a local receiver,
// high-limit tokens) and fills it and scale.Tenants-1 other tenants with
// generated contacts, conversations and messages through bulk SQL as the
// superuser (fast; row-level security is not what is being measured there).
func seed(ctx context.Context, log io.Writer, superURL, appURL string, sc Scale, clients int, auditKey ed25519.PrivateKey) (Fixture, func(), error) {
	var fx Fixture
	app, err := tenancy.Open(ctx, appURL)
	if err != nil {
		return fx, nil, err
	}
	defer app.Close()
	ids := &identity.Identities{DB: app, PasswordCost: 4}
	now := time.Now()
	res, err := ids.Signup(ctx, identity.SignupInput{AccountName: "Bench", Email: fmt.Sprintf("bench-%d@example.com", now.UnixNano()), Password: "bench password 1"}, now)
	if err != nil {
		return fx, nil, fmt.Errorf("seed: signup: %w", err)
	}
	fx.AccountID, fx.SearchTerm = res.Account.ID, searchTerm
	if _, err := identity.MCPEnable(ctx, app, tenancy.For(fx.AccountID), true); err != nil {
		return fx, nil, err
	}
	// Replies are delivered for real, to a receiver that accepts them.
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	d := &desk.Desk{DB: app}
	ib, err := d.InboxCreate(ctx, tenancy.For(fx.AccountID), desk.InboxInput{Name: "Support", Channel: "api", Settings: map[string]any{"webhook_url": receiver.URL}})
	if err != nil {
		receiver.Close()
		return fx, nil, err
	}
	fx.InboxID = ib.ID
	for i := 0; i <= clients; i++ {
		_, raw, err := identity.MCPTokenCreate(ctx, app, tenancy.For(fx.AccountID), identity.MCPTokenInput{Name: fmt.Sprintf("bench %d", i), Scopes: allScopes,
			RateLimitPerMinute: 60000}, now)
		if err != nil {
			receiver.Close()
			return fx, nil, err
		}
		if i == 0 {
			fx.PollToken = raw
		} else {
			fx.Tokens = append(fx.Tokens, raw)
		}
	}

	su, err := pgxpool.New(ctx, superURL)
	if err != nil {
		receiver.Close()
		return fx, nil, err
	}
	defer su.Close()
	start := time.Now()
	if err := generate(ctx, log, su, fx.AccountID, fx.InboxID, sc); err != nil {
		receiver.Close()
		return fx, nil, err
	}
	rows, _ := su.Query(ctx, `SELECT id FROM conversations WHERE account_id = $1 ORDER BY id`, fx.AccountID)
	if fx.Conversations, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
		receiver.Close()
		return fx, nil, err
	}
	fmt.Fprintf(log, "seeded %d tenants × %d conversations × %d messages in %s\n", sc.Tenants, sc.Conversations, sc.Messages, time.Since(start).Round(time.Second))
	for _, n := range sc.SearchSizes {
		ws, err := seedSized(ctx, log, app, su, n, now)
		if err != nil {
			receiver.Close()
			return fx, nil, err
		}
		fx.Sized = append(fx.Sized, ws)
	}
	for _, n := range sc.AuditSizes {
		ws, err := seedAudited(ctx, log, app, su, n, auditKey, now)
		if err != nil {
			receiver.Close()
			return fx, nil, err
		}
		fx.Audited = append(fx.Audited, ws)
	}
	// Measure a settled database: after a bulk load autovacuum would set
	// in during the measurements (on two cores, a figure's worth).
	if _, err := su.Exec(ctx, `VACUUM (ANALYZE) contacts, conversations, messages, search_words, audit_log, audit_chain, audit_checkpoints`); err != nil {
		receiver.Close()
		return fx, nil, err
	}
	return fx, receiver.Close, nil
}

// seedSized creates a workspace through signup with an MCP token, and
// fills it with n messages (threads of 20) by the same bulk SQL as the
// other tenants, in one statement per table.
func seedSized(ctx context.Context, log io.Writer, app *tenancy.DB, su *pgxpool.Pool, n int, now time.Time) (SizedWorkspace, error) {
	ws := SizedWorkspace{Messages: n}
	start := time.Now()
	ids := &identity.Identities{DB: app, PasswordCost: 4}
	res, err := ids.Signup(ctx, identity.SignupInput{AccountName: fmt.Sprintf("Bench %d messages", n),
		Email: fmt.Sprintf("bench-%d-%d@example.com", n, now.UnixNano()), Password: "bench password 1"}, now)
	if err != nil {
		return ws, fmt.Errorf("seed: signup: %w", err)
	}
	ws.AccountID = res.Account.ID
	if _, err := identity.MCPEnable(ctx, app, tenancy.For(ws.AccountID), true); err != nil {
		return ws, err
	}
	ib, err := (&desk.Desk{DB: app}).InboxCreate(ctx, tenancy.For(ws.AccountID), desk.InboxInput{Name: "Support", Channel: "api"})
	if err != nil {
		return ws, err
	}
	if _, ws.Token, err = identity.MCPTokenCreate(ctx, app, tenancy.For(ws.AccountID), identity.MCPTokenInput{Name: "bench search", Scopes: allScopes,
		RateLimitPerMinute: 60000}, now); err != nil {
		return ws, err
	}
	const thread = 20
	if err := generateTenants(ctx, su, []int64{ws.AccountID}, []int64{ib.ID}, Scale{Conversations: max(n/thread, 1), Messages: thread}); err != nil {
		return ws, err
	}
	fmt.Fprintf(log, "seeded a workspace of %s messages in %s\n", count(int64(n)), time.Since(start).Round(time.Second))
	return ws, nil
}

var allScopes = []string{"conversations:read", "conversations:reply", "conversations:note", "conversations:draft",
	"conversations:manage", "conversations:create", "contacts:read", "contacts:write", "events:read", "helpcenter:read"}

// generate inserts the other tenants and everyone's contacts, conversations
// and messages, 50 tenants per statement so progress shows on large scales.
func generate(ctx context.Context, log io.Writer, su *pgxpool.Pool, benchAcct, benchInbox int64, sc Scale) error {
	accts, inboxes := []int64{benchAcct}, []int64{benchInbox}
	if sc.Tenants > 1 {
		rows, _ := su.Query(ctx, `INSERT INTO accounts (name, trial_ends_at)
			SELECT 'Tenant ' || g, now() + interval '7 days' FROM generate_series(1, $1) g RETURNING id`, sc.Tenants-1)
		more, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return fmt.Errorf("seed: accounts: %w", err)
		}
		rows, _ = su.Query(ctx, `INSERT INTO inboxes (account_id, name, channel)
			SELECT a, 'Support', 'api' FROM unnest($1::bigint[]) WITH ORDINALITY AS u(a, n) ORDER BY n RETURNING id`, more)
		moreInboxes, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return fmt.Errorf("seed: inboxes: %w", err)
		}
		accts, inboxes = append(accts, more...), append(inboxes, moreInboxes...)
	}
	for i := 0; i < len(accts); i += 50 {
		j := min(i+50, len(accts))
		if err := generateTenants(ctx, su, accts[i:j], inboxes[i:j], sc); err != nil {
			return err
		}
		if len(accts) > 50 {
			fmt.Fprintf(log, "  %d/%d tenants\n", j, len(accts))
		}
	}
	_, err := su.Exec(ctx, `ANALYZE accounts, inboxes, contacts, conversations, messages`)
	return err
}

func generateTenants(ctx context.Context, su *pgxpool.Pool, accts, inboxes []int64, sc Scale) error {
	tx, err := su.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	steps := []struct {
		what string
		sql  string
		args []any
	}{
		{"contacts", `INSERT INTO contacts (account_id, name, email)
			SELECT a, 'Customer ' || g, 'c' || g || '.' || a || '@example.com'
			FROM unnest($1::bigint[]) a, generate_series(1, $2) g`, []any{accts, sc.Conversations}},
		{"conversations", `INSERT INTO conversations (account_id, inbox_id, contact_id, subject, status, last_activity_at, created_at)
			SELECT ct.account_id, u.inbox, ct.id, 'Question ' || ct.id, (ARRAY['open','pending','resolved','open'])[1 + ct.id % 4],
				now() - (ct.id % 1000) * interval '1 hour', now() - interval '60 days'
			FROM contacts ct JOIN unnest($1::bigint[], $2::bigint[]) u(acct, inbox) ON u.acct = ct.account_id`, []any{accts, inboxes}},
		{"messages", `INSERT INTO messages (account_id, conversation_id, inbox_id, type, content, sender_kind, sender_name, created_at)
			SELECT c.account_id, c.id, c.inbox_id, CASE WHEN g % 2 = 1 THEN 'incoming' ELSE 'outgoing' END,
				'Hello, about my ' || ($3::text[])[1 + (c.id * 7 + g * 13) % 40] || ' and the ' || ($3::text[])[1 + (c.id * 11 + g * 3) % 40]
					|| ': ' || ($3::text[])[1 + (c.id + g * 29) % 40] || ' ' || ($3::text[])[1 + (c.id * 3 + g) % 40] || ' ticket ' || c.id || '-' || g,
				CASE WHEN g % 2 = 1 THEN 'contact' ELSE 'user' END, CASE WHEN g % 2 = 1 THEN 'Customer' ELSE 'Agent' END,
				c.created_at + g * interval '1 minute'
			FROM conversations c JOIN unnest($1::bigint[]) a ON a = c.account_id, generate_series(1, $2) g`, []any{accts, sc.Messages, words}},
	}
	for _, s := range steps {
		if _, err := tx.Exec(ctx, s.sql, s.args...); err != nil {
			return fmt.Errorf("seed: %s: %w", s.what, err)
		}
	}
	return tx.Commit(ctx)
}
