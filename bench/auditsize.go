package bench

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// AuditedWorkspace is a workspace of a given number of audit rows, sealed
// and checkpointed as the server's sealer leaves them, with an admin who
// signs in to the console.
type AuditedWorkspace struct {
	AccountID       int64
	Email, Password string
	Rows            int
}

// seedAudited creates a workspace through signup and gives it n audit
// rows, each with a policy explanation of a realistic size, in bulk
// (generate_series, as the superuser), then seals them and signs their
// checkpoints through the sealer's own step (audit.Log.SealAccount) as the
// app role.
func seedAudited(ctx context.Context, log io.Writer, app *tenancy.DB, su *pgxpool.Pool, n int, key ed25519.PrivateKey, now time.Time) (AuditedWorkspace, error) {
	ws := AuditedWorkspace{Rows: n, Email: fmt.Sprintf("audit-%d-%d@example.com", n, now.UnixNano()), Password: "bench password 1"}
	res, err := (&identity.Identities{DB: app, PasswordCost: 4}).Signup(ctx, identity.SignupInput{AccountName: fmt.Sprintf("Audit %d", n), Email: ws.Email, Password: ws.Password}, now)
	if err != nil {
		return ws, fmt.Errorf("seed audit workspace: %w", err)
	}
	ws.AccountID = res.Account.ID
	start := time.Now()
	const chunk = 100_000
	for from := 1; from <= n; from += chunk {
		to := min(from+chunk-1, n)
		if _, err := su.Exec(ctx, auditRowsSQL, ws.AccountID, from, to, n); err != nil {
			return ws, fmt.Errorf("seed audit rows: %w", err)
		}
	}
	if _, err := su.Exec(ctx, `ANALYZE audit_log`); err != nil {
		return ws, err
	}
	lg := &audit.Log{DB: app, Key: key}
	sealed := 0
	for {
		k, err := lg.SealAccount(ctx, ws.AccountID)
		if err != nil {
			return ws, err
		}
		if k == 0 {
			break
		}
		if sealed/chunk != (sealed+k)/chunk {
			fmt.Fprintf(log, "  sealed %d/%d audit rows\n", sealed+k, n)
		}
		sealed += k
	}
	if _, err := su.Exec(ctx, `ANALYZE audit_log, audit_chain, audit_checkpoints`); err != nil {
		return ws, err
	}
	fmt.Fprintf(log, "seeded a workspace of %d audit rows (sealed, checkpointed) in %s\n", n, time.Since(start).Round(time.Second))
	return ws, nil
}

// auditRowsSQL inserts rows $2..$3 of $4 into account $1: MCP calls of a
// few tools, one in 50 denied, a second apart, each with the explanation
// policy.Explain stores (redacted input, result, rule).
const auditRowsSQL = `INSERT INTO audit_log (account_id, at, actor_kind, token_id, action, decision, reasons, target, args_digest, policy_rev, request_id, explanation)
	SELECT $1, now() - ($4 - g) * interval '1 second', 'agent', 1, t.tool, d.decision, d.reasons,
		jsonb_build_object('inbox_id', 1 + g % 5, 'conversation_id', g), md5(g::text), 'bench', 'req-' || g,
		jsonb_build_object('path', 'deskwoot/authz/decision', 'args_digest', md5(g::text),
			'input', jsonb_build_object('tool', t.tool, 'now', now(),
				'principal', jsonb_build_object('account_id', $1::bigint, 'token_id', 1, 'scopes', '["conversations:read", "conversations:reply"]'::jsonb, 'inbox_ids', NULL),
				'account', jsonb_build_object('plan', 'enterprise', 'status', 'active', 'mcp_enabled', true),
				'target', jsonb_build_object('kind', 'conversation', 'conversation_id', g, 'inbox_id', 1 + g % 5),
				'args', jsonb_build_object('conversation_id', jsonb_build_object('redacted', 'number'), 'content', jsonb_build_object('redacted', 'string', 'bytes', 40 + g % 200))),
			'masked', '["/input/args/content"]'::jsonb,
			'result', jsonb_build_object('allow', d.decision = 'allow', 'reasons', to_jsonb(d.reasons), 'rule', CASE WHEN d.decision = 'allow' THEN 'tool_allowed' ELSE 'scope_missing' END, 'tenant_rules_version', 0))
	FROM generate_series($2::int, $3::int) g,
		LATERAL (SELECT (ARRAY['list_conversations', 'get_conversation', 'reply_to_conversation', 'search_conversations'])[1 + g % 4] AS tool) t,
		LATERAL (SELECT CASE WHEN g % 50 = 0 THEN 'deny' ELSE 'allow' END AS decision,
			CASE WHEN g % 50 = 0 THEN ARRAY['token lacks scope conversations:reply'] ELSE ARRAY[]::text[] END AS reasons) d`

// auditAtSize measures the console's audit page (GET /audit: 50 rows and
// the chain's state) in the largest audited workspace against the
// smallest: with checkpoints its cost must not grow with the log (DESIGN
// §16). Beside it, in the same run, the full re-verification every page
// load did before checkpoints (audit.Verify), at the same two sizes.
func (e *env) auditAtSize(ctx context.Context, warm, d time.Duration) []row {
	page := row{figure: "audit page (console GET /audit, 50 rows, chain state from the last signed checkpoint) with 1M audit rows vs with 1k",
		baseName: "1k rows", target: "≤ 2× (p50)"}
	before := row{figure: "before checkpoints: the whole-chain re-verification each page load did (audit.Verify, in process) with 1M audit rows vs with 1k",
		baseName: "1k rows", target: "(baseline)"}
	switch {
	case len(e.fx.Audited) < 2:
		page.skipped, before.skipped = "needs a scale with audit sizes", "needs a scale with audit sizes"
		return []row{page, before}
	case e.baseURL == "":
		page.skipped, before.skipped = "needs the bench's own server", "needs the bench's own server"
		return []row{page, before}
	}
	lo, hi := e.fx.Audited[0], e.fx.Audited[len(e.fx.Audited)-1]
	page.figure = fmt.Sprintf("audit page (console GET /audit, 50 rows, chain state from the last signed checkpoint) with %s audit rows vs with %s", count(int64(hi.Rows)), count(int64(lo.Rows)))
	before.figure = fmt.Sprintf("before checkpoints: the whole-chain re-verification each page load did (audit.Verify, in process) with %s audit rows vs with %s", count(int64(hi.Rows)), count(int64(lo.Rows)))
	page.baseName, before.baseName = count(int64(lo.Rows))+" rows", count(int64(lo.Rows))+" rows"
	fmt.Fprintf(e.cfg.Log, "measuring the audit page at %s and %s rows…\n", count(int64(lo.Rows)), count(int64(hi.Rows)))
	get := func(ws AuditedWorkspace) func(ctx context.Context, w, i int) error {
		hc, err := consoleSession(ctx, e.baseURL, ws)
		return func(ctx context.Context, w, i int) error {
			if err != nil {
				return err
			}
			return auditPage(ctx, hc, e.baseURL)
		}
	}
	page.base = run(ctx, 1, warm, d, get(lo))
	page.ours = run(ctx, 1, warm, d, get(hi))
	page.ratio = times(page.ours.p50, page.base.p50)
	if e.app == nil {
		before.skipped = "needs the app role's pool"
		return []row{page, before}
	}
	fmt.Fprintf(e.cfg.Log, "measuring whole-chain verification at %s and %s rows…\n", count(int64(lo.Rows)), count(int64(hi.Rows)))
	db := &tenancy.DB{Pool: e.app}
	verify := func(ws AuditedWorkspace) func(ctx context.Context, w, i int) error {
		return func(ctx context.Context, w, i int) error {
			res, err := audit.Verify(ctx, db, ws.AccountID)
			if err == nil && !res.OK {
				err = fmt.Errorf("the chain of workspace %d does not verify: %s", ws.AccountID, res.Problem)
			}
			return err
		}
	}
	before.base = run(ctx, 1, warm, d, verify(lo))
	before.ours = run(ctx, 1, warm, d, verify(hi))
	before.ratio = times(before.ours.p50, before.base.p50)
	return []row{page, before}
}

// storedAuditKey reads the audit signing key migrate stored, as the owner.
func storedAuditKey(ctx context.Context, ownerURL string) (ed25519.PrivateKey, error) {
	conn, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	return audit.StoredKey(ctx, conn)
}

// consoleSession signs the workspace's admin in to the console.
func consoleSession(ctx context.Context, base string, ws AuditedWorkspace) (*http.Client, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 5 * time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := url.Values{"email": {ws.Email}, "password": {ws.Password}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/signin", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("console sign-in as %s: HTTP %d", ws.Email, resp.StatusCode)
	}
	return hc, nil
}

// auditPage loads GET /audit and fails unless the chain verified.
func auditPage(ctx context.Context, hc *http.Client, base string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/audit", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Verified through row") {
		return fmt.Errorf("GET /audit: HTTP %d without a verified chain", resp.StatusCode)
	}
	return nil
}
