// Package audit records every MCP action and denial, and keeps the per
// account hash chain over those records.
//
// Rows are insert-only for the app role. The chain lives in its own
// insert-only table and is sealed shortly after commit by a sealer, in
// commit-safe order, so that a busy account's concurrent calls never queue
// behind one chain head (DESIGN §10).
//
// Every statement here names its account as well as running in the
// tenant's transaction: operator commands run them as the owner, which may
// be a superuser that RLS does not bind (DESIGN §12). RLS is the fence
// behind that, not the only thing between one account's chain and another's.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/auditrow"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Entry is one audited action: the row a request carries into the unit of
// work that commits it (see auditrow and tenancy.Request).
type Entry = auditrow.Entry

// DigestArgs is the sha256 of the arguments' canonical JSON (Go sorts map
// keys), so the trail proves what was asked without storing content.
func DigestArgs(args any) string {
	b, _ := json.Marshal(args)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Log seals the chain of the rows requests write (tenancy.DB.OnAudit
// calls Touch for each account that committed one).
type Log struct {
	DB *tenancy.DB

	mu    sync.Mutex
	dirty map[int64]struct{}
}

// Insert writes an entry inside the caller's transaction, for writers that
// hold their own (billing's webhook, the trial's operator command, OAuth):
// the entry commits or rolls back with the action it records. Doors never
// call it: a request's row rides in its unit of work (tenancy.Request).
// Call Touch after commit.
func Insert(ctx context.Context, tx pgx.Tx, acct int64, e Entry) error {
	_, err := tx.Exec(ctx, auditrow.InsertSQL, e.Args(acct)...)
	return err
}

// Touch marks an account as having rows to seal.
func (l *Log) Touch(acct int64) {
	l.mu.Lock()
	if l.dirty == nil {
		l.dirty = map[int64]struct{}{}
	}
	l.dirty[acct] = struct{}{}
	l.mu.Unlock()
}

// SweepInterval is how often the sealer also seals every account, so rows
// whose writer crashed before sealing them are chained too.
const SweepInterval = 10 * time.Minute

// Sweep seals every account (through a narrow SECURITY DEFINER function
// that lists account ids) and returns how many rows it sealed.
func (l *Log) Sweep(ctx context.Context) (int, error) {
	rows, _ := l.DB.Pool.Query(ctx, `SELECT deskwoot_account_ids()`)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, err
	}
	total := 0
	for _, acct := range ids {
		n, err := Seal(ctx, l.DB, acct)
		if err != nil {
			return total, fmt.Errorf("seal audit chain of account %d: %w", acct, err)
		}
		total += n
	}
	return total, nil
}

// RunSealer seals touched accounts every interval, and every account at
// start and every SweepInterval, until ctx ends.
func (l *Log) RunSealer(ctx context.Context, interval time.Duration, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	sweep := time.NewTicker(SweepInterval)
	defer sweep.Stop()
	if _, err := l.Sweep(ctx); err != nil && onErr != nil && ctx.Err() == nil {
		onErr(err)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-sweep.C:
			if _, err := l.Sweep(ctx); err != nil && onErr != nil && ctx.Err() == nil {
				onErr(err)
			}
			continue
		case <-t.C:
		}
		l.mu.Lock()
		accts := make([]int64, 0, len(l.dirty))
		for a := range l.dirty {
			accts = append(accts, a)
		}
		l.dirty = nil
		l.mu.Unlock()
		for _, a := range accts {
			if _, err := Seal(ctx, l.DB, a); err != nil && onErr != nil {
				onErr(fmt.Errorf("seal audit chain of account %d: %w", a, err))
				l.Touch(a)
			}
		}
	}
}

// Row is an audit entry as read back.
type Row struct {
	ID         int64            `json:"id"`
	At         time.Time        `json:"at"`
	ActorKind  string           `json:"actor_kind"`
	ActorID    *int64           `json:"actor_id"`
	TokenID    *int64           `json:"token_id"`
	Action     string           `json:"action"`
	Decision   string           `json:"decision"`
	Reasons    []string         `json:"reasons"`
	Target     map[string]int64 `json:"target"`
	ArgsDigest string           `json:"args_digest"`
	PolicyRev  string           `json:"policy_rev"`
	RequestID  string           `json:"request_id"`
	ClientID   string           `json:"client_id,omitempty"`
}

const rowColumns = `id, at, actor_kind, actor_id, token_id, action, decision, reasons, target, args_digest, policy_rev, request_id, client_id`

func scanRow(r pgx.CollectableRow) (Row, error) {
	var x Row
	err := r.Scan(&x.ID, &x.At, &x.ActorKind, &x.ActorID, &x.TokenID, &x.Action, &x.Decision, &x.Reasons, &x.Target, &x.ArgsDigest, &x.PolicyRev, &x.RequestID, &x.ClientID)
	return x, err
}

// canonical is the text a chain link hashes: every recorded field, in a
// fixed order, times in UTC with microseconds.
func (x Row) canonical() []byte {
	keys := make([]string, 0, len(x.Target))
	for k := range x.Target {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	target := make([][2]any, 0, len(keys))
	for _, k := range keys {
		target = append(target, [2]any{k, x.Target[k]})
	}
	fields := []any{x.ID, x.At.UTC().Format("2006-01-02T15:04:05.000000Z"), x.ActorKind, x.ActorID, x.TokenID,
		x.Action, x.Decision, x.Reasons, target, x.ArgsDigest, x.PolicyRev, x.RequestID}
	if x.ClientID != "" { // only then, so rows sealed before the column existed verify unchanged
		fields = append(fields, x.ClientID)
	}
	b, _ := json.Marshal(fields)
	return b
}

func link(prev []byte, x Row) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(x.canonical())
	return h.Sum(nil)
}

// Seal appends the account's committed, unsealed rows to its chain in
// (xid, id) order. Only rows whose transaction ids lie below the oldest
// running transaction are taken, so no row can commit later and belong
// before one already sealed. Concurrent sealers serialise on an advisory
// lock per account. It returns how many rows it sealed.
func Seal(ctx context.Context, db *tenancy.DB, acct int64) (int, error) {
	n := 0
	err := db.InTenant(ctx, acct, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('deskwoot.audit.seal', $1))`, acct); err != nil {
			return err
		}
		var horizon string
		if err := tx.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text`).Scan(&horizon); err != nil {
			return err
		}
		var seq int64
		var prev []byte
		var lastXID string
		var lastID int64
		err := tx.QueryRow(ctx, `SELECT c.seq, c.hash, l.xid::text, l.id FROM audit_chain c
			JOIN audit_log l ON l.account_id = c.account_id AND l.id = c.audit_id
			WHERE c.account_id = $1
			ORDER BY c.seq DESC LIMIT 1`, acct).Scan(&seq, &prev, &lastXID, &lastID)
		if err != nil && !isNoRows(err) {
			return err
		}
		if isNoRows(err) {
			lastXID, lastID = "0", 0
		}
		rows, _ := tx.Query(ctx, `SELECT `+rowColumns+` FROM audit_log
			WHERE account_id = $1 AND xid < $2::xid8 AND (xid, id) > ($3::xid8, $4)
			ORDER BY xid, id LIMIT 5000`, acct, horizon, lastXID, lastID)
		todo, err := pgx.CollectRows(rows, scanRow)
		if err != nil {
			return err
		}
		if len(todo) == 0 {
			return nil
		}
		seqs := make([]int64, len(todo))
		ids := make([]int64, len(todo))
		hashes := make([][]byte, len(todo))
		for i, x := range todo {
			prev = link(prev, x)
			seq++
			seqs[i], ids[i], hashes[i] = seq, x.ID, prev
		}
		_, err = tx.Exec(ctx, `INSERT INTO audit_chain (account_id, seq, audit_id, hash)
			SELECT $1, s, a, h FROM unnest($2::bigint[], $3::bigint[], $4::bytea[]) AS u(s, a, h)`, acct, seqs, ids, hashes)
		n = len(todo)
		return err
	})
	return n, err
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// VerifyResult is the outcome of a chain check.
type VerifyResult struct {
	Checked int `json:"checked"`
	// ThroughID is the audit row the verified chain ends at (0: none yet).
	ThroughID int64  `json:"verified_through_audit_id"`
	Unsealed  int    `json:"unsealed"`
	OK        bool   `json:"ok"`
	BrokenAt  *int64 `json:"broken_at_audit_id"`
	Problem   string `json:"problem,omitempty"`
}

// Verify recomputes the account's chain from the audit rows and names the
// first row whose content, order or link does not match. db may be any
// connection that can enter the tenant (operators use the owner's, which
// may bypass RLS: the statements name the account). It
// reads the chain and counts the unsealed rows in one snapshot: a sealer
// committing in between would otherwise hide the rows it sealed from both.
func Verify(ctx context.Context, db *tenancy.DB, acct int64) (VerifyResult, error) {
	var res VerifyResult
	err := db.InTenantSnapshot(ctx, acct, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT c.seq, c.hash, `+prefixed(rowColumns, "l.")+`
			FROM audit_chain c LEFT JOIN audit_log l ON l.account_id = c.account_id AND l.id = c.audit_id
			WHERE c.account_id = $1
			ORDER BY c.seq`, acct)
		defer rows.Close()
		var prev []byte
		var want int64 = 1
		for rows.Next() {
			var seq int64
			var stored []byte
			var x Row
			var id *int64
			var at *time.Time
			var kind, action, decision, digest, rev, reqID, client *string
			if err := rows.Scan(&seq, &stored, &id, &at, &kind, &x.ActorID, &x.TokenID, &action, &decision, &x.Reasons, &x.Target, &digest, &rev, &reqID, &client); err != nil {
				return err
			}
			if id == nil {
				res.Problem = fmt.Sprintf("chain link %d points at a missing audit row", seq)
				return nil
			}
			x.ID, x.At, x.ActorKind, x.Action, x.Decision, x.ArgsDigest, x.PolicyRev, x.RequestID, x.ClientID = *id, *at, *kind, *action, *decision, *digest, *rev, *reqID, *client
			if seq != want {
				res.BrokenAt, res.Problem = &x.ID, fmt.Sprintf("chain sequence jumps from %d to %d", want-1, seq)
				return nil
			}
			prev = link(prev, x)
			if string(prev) != string(stored) {
				res.BrokenAt, res.Problem = &x.ID, fmt.Sprintf("audit row %d does not match its chain link %d: it was altered after sealing", x.ID, seq)
				return nil
			}
			res.Checked++
			res.ThroughID = x.ID
			want++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		return tx.QueryRow(ctx, `SELECT count(*) FROM audit_log l
			WHERE l.account_id = $1 AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.account_id = l.account_id AND c.audit_id = l.id)`, acct).Scan(&res.Unsealed)
	})
	res.OK = err == nil && res.BrokenAt == nil && res.Problem == ""
	return res, err
}

func prefixed(cols, p string) string {
	return p + strings.ReplaceAll(cols, ", ", ", "+p)
}

// Filter selects audit rows.
type Filter struct {
	ActorID  int64
	TokenID  int64
	Action   string
	Decision string
	Since    *time.Time
	Until    *time.Time
	BeforeID int64 // cursor: rows with a smaller id
	Limit    int
}

// List pages audit rows, newest first.
func List(ctx context.Context, db *tenancy.DB, acct int64, f Filter) ([]Row, error) {
	var out []Row
	b := &pgx.Batch{}
	b.Queue(`SELECT `+rowColumns+` FROM audit_log
		WHERE account_id = $1
		  AND ($2::bigint = 0 OR actor_id = $2) AND ($3::bigint = 0 OR token_id = $3) AND ($4::text = '' OR action = $4)
		  AND ($5::text = '' OR decision = $5) AND ($6::timestamptz IS NULL OR at >= $6) AND ($7::timestamptz IS NULL OR at < $7)
		  AND ($8::bigint = 0 OR id < $8)
		ORDER BY id DESC LIMIT $9::int`, acct, f.ActorID, f.TokenID, f.Action, f.Decision, f.Since, f.Until, f.BeforeID, f.Limit).
		Query(func(rows pgx.Rows) error {
			var err error
			out, err = pgx.CollectRows(rows, scanRow)
			return err
		})
	err := db.Batch(ctx, acct, b)
	if out == nil {
		out = []Row{}
	}
	return out, err
}
