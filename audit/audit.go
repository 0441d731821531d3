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
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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
// calls Touch for each account that committed one) and signs its
// checkpoints.
type Log struct {
	DB *tenancy.DB
	// Key signs checkpoints (DESKWOOT_AUDIT_SIGNING_KEY, or the key migrate
	// stored); nil leaves checkpoints off, and pages verify whole chains.
	Key ed25519.PrivateKey

	mu    sync.Mutex
	dirty map[int64]struct{}
	// brokenUntil holds back checkpoint attempts on a chain found broken,
	// so the sealer reports it once a sweep rather than on every tick.
	brokenUntil map[int64]time.Time
}

// PublicKey is the key checkpoints are verified with; nil without Key.
func (l *Log) PublicKey() ed25519.PublicKey {
	if l == nil || l.Key == nil {
		return nil
	}
	return l.Key.Public().(ed25519.PublicKey)
}

// SealAccount seals the account's committed rows (Seal) and signs a
// checkpoint when one is due; the sealer's step for one account.
func (l *Log) SealAccount(ctx context.Context, acct int64) (int, error) {
	n, err := Seal(ctx, l.DB, acct)
	if err != nil {
		return n, fmt.Errorf("seal audit chain of account %d: %w", acct, err)
	}
	if err := l.checkpoint(ctx, acct); err != nil {
		return n, fmt.Errorf("checkpoint audit chain of account %d: %w", acct, err)
	}
	return n, nil
}

// checkpoint signs a new checkpoint of the account when one is due
// (CheckpointEvery links past the last), unless its chain was found broken
// within the last SweepInterval.
func (l *Log) checkpoint(ctx context.Context, acct int64) error {
	if l.Key == nil {
		return nil
	}
	l.mu.Lock()
	held := time.Now().Before(l.brokenUntil[acct])
	l.mu.Unlock()
	if held {
		return nil
	}
	due, err := checkpointDue(ctx, l.DB, acct, l.PublicKey())
	if err != nil || !due {
		return err
	}
	_, _, err = WriteCheckpoint(ctx, l.DB, acct, l.Key)
	if errors.Is(err, ErrChainBroken) {
		l.mu.Lock()
		if l.brokenUntil == nil {
			l.brokenUntil = map[int64]time.Time{}
		}
		l.brokenUntil[acct] = time.Now().Add(SweepInterval)
		l.mu.Unlock()
	}
	return err
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
// that lists account ids), signs the checkpoints that are due, and returns
// how many rows it sealed. A chain that does not verify is reported and
// the sweep goes on to the next account.
func (l *Log) Sweep(ctx context.Context) (int, error) {
	rows, _ := l.DB.Pool.Query(ctx, `SELECT deskwoot_account_ids()`)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, err
	}
	total := 0
	var unsigned []error
	for _, acct := range ids {
		n, err := Seal(ctx, l.DB, acct)
		if err != nil {
			return total, fmt.Errorf("seal audit chain of account %d: %w", acct, err)
		}
		total += n
		if err := l.checkpoint(ctx, acct); err != nil {
			unsigned = append(unsigned, fmt.Errorf("checkpoint audit chain of account %d: %w", acct, err))
		}
	}
	return total, errors.Join(unsigned...)
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
			if _, err := l.SealAccount(ctx, a); err != nil && ctx.Err() == nil {
				if onErr != nil {
					onErr(err)
				}
				if !errors.Is(err, ErrChainBroken) {
					l.Touch(a)
				}
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

// filterSQL selects a Filter's rows of audit_log l: $1 is the account,
// $2 to $8 the filter (Filter.args).
const filterSQL = `l.account_id = $1
		  AND ($2::bigint = 0 OR l.actor_id = $2) AND ($3::bigint = 0 OR l.token_id = $3) AND ($4::text = '' OR l.action = $4)
		  AND ($5::text = '' OR l.decision = $5) AND ($6::timestamptz IS NULL OR l.at >= $6) AND ($7::timestamptz IS NULL OR l.at < $7)
		  AND ($8::bigint = 0 OR l.id < $8)`

func (f Filter) args(acct int64) []any {
	return []any{acct, f.ActorID, f.TokenID, f.Action, f.Decision, f.Since, f.Until, f.BeforeID, f.Limit}
}

// filtered reports whether the filter leaves rows out (paging aside).
func (f Filter) filtered() bool {
	return f.ActorID != 0 || f.TokenID != 0 || f.Action != "" || f.Decision != "" || f.Since != nil || f.Until != nil
}

// List pages audit rows, newest first.
func List(ctx context.Context, db *tenancy.DB, acct int64, f Filter) ([]Row, error) {
	var out []Row
	b := &pgx.Batch{}
	b.Queue(`SELECT `+prefixed(rowColumns, "l.")+` FROM audit_log l
		WHERE `+filterSQL+`
		ORDER BY l.id DESC LIMIT $9::int`, f.args(acct)...).
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
