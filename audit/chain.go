package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/tenancy"
)

// Chain versions: what a link's hash covers (audit_chain.version).
const (
	// chainV1 links (sealed before migration 0045) hash the row's fields
	// without its account and its explanation.
	chainV1 = 1
	// chainV2 links hash every field, the account and the explanation too.
	// The sealer writes only these; the first one of an account chains from
	// its last version 1 hash, so no old link is rewritten.
	chainV2 = 2
)

// microLayout is how chain links and checkpoints write times: UTC with
// microseconds, PostgreSQL's precision.
const microLayout = "2006-01-02T15:04:05.000000Z"

// canonical is the text a chain link of the given version hashes: the
// recorded fields in a fixed order as JSON, times in UTC with microseconds.
func (x Decision) canonical(version int, acct int64) []byte {
	keys := make([]string, 0, len(x.Target))
	for k := range x.Target {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	target := make([][2]any, 0, len(keys))
	for _, k := range keys {
		target = append(target, [2]any{k, x.Target[k]})
	}
	at := x.At.UTC().Format(microLayout)
	if version == chainV1 {
		fields := []any{x.ID, at, x.ActorKind, x.ActorID, x.TokenID,
			x.Action, x.Decision, x.Reasons, target, x.ArgsDigest, x.PolicyRev, x.RequestID}
		if x.ClientID != "" { // only then, so rows sealed before the column existed verify unchanged
			fields = append(fields, x.ClientID)
		}
		b, _ := json.Marshal(fields)
		return b
	}
	reasons := x.Reasons
	if reasons == nil {
		reasons = []string{}
	}
	b, _ := json.Marshal([]any{chainV2, acct, x.ID, at, x.ActorKind, x.ActorID, x.TokenID,
		x.Action, x.Decision, reasons, target, x.ArgsDigest, x.PolicyRev, x.RequestID, x.ClientID, canonicalJSON(x.Explanation)})
	return b
}

// canonicalJSON is a stored JSON document as a value that marshals the
// same whatever spacing, key order and escaping the text it was read from
// used: PostgreSQL's jsonb output and an export's line differ in all three,
// and both must hash alike. Numbers keep their literal text.
func canonicalJSON(raw []byte) any {
	if len(raw) == 0 {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return string(raw)
	}
	return v
}

// link is the hash of a chain link: sha256(previous hash || canonical row).
func link(prev, canonical []byte) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(canonical)
	return h.Sum(nil)
}

// chainRowColumns are what a link hashes, read from audit_log.
const chainRowColumns = rowColumns + `, explanation`

// Seal appends the account's committed, unsealed rows to its chain in
// (xid, id) order, as version 2 links. Only rows whose transaction ids lie
// below the oldest running transaction are taken, so no row can commit
// later and belong before one already sealed. Concurrent sealers
// serialise on an advisory lock per account. It returns how many rows it
// sealed.
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
		rows, _ := tx.Query(ctx, `SELECT `+chainRowColumns+` FROM audit_log
			WHERE account_id = $1 AND xid < $2::xid8 AND (xid, id) > ($3::xid8, $4)
			ORDER BY xid, id LIMIT 5000`, acct, horizon, lastXID, lastID)
		todo, err := pgx.CollectRows(rows, scanDecision)
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
			prev = link(prev, x.canonical(chainV2, acct))
			seq++
			seqs[i], ids[i], hashes[i] = seq, x.ID, prev
		}
		_, err = tx.Exec(ctx, `INSERT INTO audit_chain (account_id, seq, audit_id, hash, version)
			SELECT $1, s, a, h, $5 FROM unnest($2::bigint[], $3::bigint[], $4::bytea[]) AS u(s, a, h)`, acct, seqs, ids, hashes, chainV2)
		n = len(todo)
		return err
	})
	return n, err
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// VerifyResult is the outcome of a chain check.
type VerifyResult struct {
	// Checked counts the links recomputed by this check (after From).
	Checked int `json:"checked"`
	// ThroughID is the audit row the verified chain ends at (0: none yet).
	ThroughID int64  `json:"verified_through_audit_id"`
	Unsealed  int    `json:"unsealed"`
	OK        bool   `json:"ok"`
	BrokenAt  *int64 `json:"broken_at_audit_id"`
	Problem   string `json:"problem,omitempty"`
	// From is the signed checkpoint a VerifyRecent check started after: the
	// links up to it were verified when it was signed. Nil when the check
	// started at the chain's first link.
	From *Checkpoint `json:"from_checkpoint,omitempty"`
	// ShownChecked counts the rows on show that VerifyRecent checked
	// against their own links, wherever they lie in the chain.
	ShownChecked int `json:"shown_checked,omitempty"`

	head chainHead // the last link verified
}

// chainHead is a verified link.
type chainHead struct {
	seq     int64
	hash    []byte
	auditID int64
}

func (r *VerifyResult) broken(id int64, format string, args ...any) {
	r.BrokenAt, r.Problem = &id, fmt.Sprintf(format, args...)
}

// Verify recomputes the account's whole chain from the audit rows and
// names the first row whose content, order or link does not match; it
// trusts no checkpoint. db may be any connection that can enter the tenant
// (operators use the owner's, which may bypass RLS: the statements name
// the account). It reads the chain and counts the unsealed rows in one
// snapshot: a sealer committing in between would otherwise hide the rows
// it sealed from both.
func Verify(ctx context.Context, db *tenancy.DB, acct int64) (VerifyResult, error) {
	var res VerifyResult
	err := db.InTenantSnapshot(ctx, acct, func(tx pgx.Tx) error {
		if err := walkChain(ctx, tx, acct, &res); err != nil || res.Problem != "" {
			return err
		}
		// Every row without a link, wherever it lies: a row slipped in
		// behind the sealed ones shows here too.
		return tx.QueryRow(ctx, `SELECT count(*) FROM audit_log l
			WHERE l.account_id = $1 AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.account_id = l.account_id AND c.audit_id = l.id)`, acct).Scan(&res.Unsealed)
	})
	res.OK = err == nil && res.BrokenAt == nil && res.Problem == ""
	return res, err
}

// VerifyRecent is the chain state a page shows, at a cost that follows the
// rows since the last checkpoint and the rows on show, never the whole log
// (DESIGN §16, §22). It starts from the account's last checkpoint signed
// by pub (a checkpoint signed by any other key is not trusted), checks
// that the stored chain still holds the signed hash at that link, and
// recomputes the links after it; then it checks each of the shown audit
// rows against its own link, so a row altered after sealing is caught when
// it is on show even behind a checkpoint. With no key (pub nil) it is
// Verify. One snapshot, like Verify.
func VerifyRecent(ctx context.Context, db *tenancy.DB, acct int64, pub ed25519.PublicKey, shown []int64) (VerifyResult, error) {
	if len(pub) == 0 {
		return Verify(ctx, db, acct)
	}
	return verifyRecent(ctx, db, acct, pub, shown, true)
}

// verifyRecent is VerifyRecent; countUnsealed false leaves Unsealed 0 (a
// checkpoint needs no count, and a sealer behind a large backlog would
// count it on every pass).
func verifyRecent(ctx context.Context, db *tenancy.DB, acct int64, pub ed25519.PublicKey, shown []int64, countUnsealed bool) (VerifyResult, error) {
	var res VerifyResult
	err := db.InTenantSnapshot(ctx, acct, func(tx pgx.Tx) error {
		if err := startAtCheckpoint(ctx, tx, acct, pub, &res); err != nil || res.Problem != "" {
			return err
		}
		if err := walkChain(ctx, tx, acct, &res); err != nil || res.Problem != "" {
			return err
		}
		if err := checkShown(ctx, tx, acct, shown, &res); err != nil || res.Problem != "" || !countUnsealed {
			return err
		}
		return countUnsealedAfter(ctx, tx, acct, res.head, &res.Unsealed)
	})
	res.OK = err == nil && res.BrokenAt == nil && res.Problem == ""
	return res, err
}

// startAtCheckpoint sets res to start after the account's last checkpoint
// signed by pub, when there is one whose signature and link still hold.
func startAtCheckpoint(ctx context.Context, tx pgx.Tx, acct int64, pub ed25519.PublicKey, res *VerifyResult) error {
	rows, _ := tx.Query(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints
		WHERE account_id = $1 AND public_key = $2 ORDER BY seq DESC LIMIT 1`, acct, []byte(pub))
	cps, err := pgx.CollectRows(rows, scanCheckpoint)
	if err != nil || len(cps) == 0 {
		return err
	}
	cp := cps[0]
	if !cp.SignedBy(pub) {
		res.broken(cp.AuditID, "the checkpoint at chain link %d does not carry a valid signature by this server's key: the checkpoints were altered", cp.Seq)
		return nil
	}
	var auditID int64
	var hash []byte
	err = tx.QueryRow(ctx, `SELECT audit_id, hash FROM audit_chain WHERE account_id = $1 AND seq = $2`, acct, cp.Seq).Scan(&auditID, &hash)
	if err != nil && !isNoRows(err) {
		return err
	}
	if err != nil || auditID != cp.AuditID || !bytes.Equal(hash, cp.Hash) {
		res.broken(cp.AuditID, "chain link %d no longer holds the hash signed in its checkpoint of %s: the chain was rewritten", cp.Seq, cp.SignedAt.UTC().Format(time.RFC3339))
		return nil
	}
	res.From, res.ThroughID = &cp, cp.AuditID
	res.head = chainHead{seq: cp.Seq, hash: cp.Hash, auditID: cp.AuditID}
	return nil
}

// walkChain recomputes the account's links after res.head in order,
// stopping at the first that does not match its row.
func walkChain(ctx context.Context, tx pgx.Tx, acct int64, res *VerifyResult) error {
	rows, _ := tx.Query(ctx, `SELECT c.seq, c.version, c.hash, `+prefixed(chainRowColumns, "l.")+`
		FROM audit_chain c LEFT JOIN audit_log l ON l.account_id = c.account_id AND l.id = c.audit_id
		WHERE c.account_id = $1 AND c.seq > $2
		ORDER BY c.seq`, acct, res.head.seq)
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var version int16
		var stored []byte
		var x Decision
		var id *int64
		var at *time.Time
		var kind, action, decision, digest, rev, reqID, client *string
		if err := rows.Scan(&seq, &version, &stored, &id, &at, &kind, &x.ActorID, &x.TokenID, &action, &decision, &x.Reasons, &x.Target,
			&digest, &rev, &reqID, &client, &x.Explanation); err != nil {
			return err
		}
		if id == nil {
			res.Problem = fmt.Sprintf("chain link %d points at a missing audit row", seq)
			return nil
		}
		x.ID, x.At, x.ActorKind, x.Action, x.Decision, x.ArgsDigest, x.PolicyRev, x.RequestID, x.ClientID = *id, *at, *kind, *action, *decision, *digest, *rev, *reqID, *client
		if seq != res.head.seq+1 {
			res.broken(x.ID, "chain sequence jumps from %d to %d", res.head.seq, seq)
			return nil
		}
		h := link(res.head.hash, x.canonical(int(version), acct))
		if !bytes.Equal(h, stored) {
			res.broken(x.ID, "audit row %d does not match its chain link %d: it was altered after sealing", x.ID, seq)
			return nil
		}
		res.Checked++
		res.ThroughID = x.ID
		res.head = chainHead{seq: seq, hash: h, auditID: x.ID}
	}
	return rows.Err()
}

// prevHashSQL is the hash of the link before link c, looked up by its key
// for each row: a join on seq - 1 lets the planner hash the account's whole
// chain to find a page's fifty.
const prevHashSQL = `(SELECT p.hash FROM audit_chain p WHERE p.account_id = c.account_id AND p.seq = c.seq - 1)`

// checkShown checks each shown row that is sealed against its own link:
// its hash from the stored hash of the link before it.
func checkShown(ctx context.Context, tx pgx.Tx, acct int64, shown []int64, res *VerifyResult) error {
	if len(shown) == 0 {
		return nil
	}
	rows, _ := tx.Query(ctx, `SELECT c.seq, c.version, c.hash, `+prevHashSQL+`, `+prefixed(chainRowColumns, "l.")+`
		FROM audit_log l
		JOIN audit_chain c ON c.account_id = l.account_id AND c.audit_id = l.id
		WHERE l.account_id = $1 AND l.id = ANY($2)
		ORDER BY c.seq`, acct, shown)
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var version int16
		var stored, prev []byte
		var x Decision
		if err := rows.Scan(&seq, &version, &stored, &prev, &x.ID, &x.At, &x.ActorKind, &x.ActorID, &x.TokenID, &x.Action, &x.Decision,
			&x.Reasons, &x.Target, &x.ArgsDigest, &x.PolicyRev, &x.RequestID, &x.ClientID, &x.Explanation); err != nil {
			return err
		}
		if prev == nil && seq > 1 {
			res.broken(x.ID, "chain link %d, before audit row %d, is missing", seq-1, x.ID)
			return nil
		}
		if !bytes.Equal(link(prev, x.canonical(int(version), acct)), stored) {
			res.broken(x.ID, "audit row %d does not match its chain link %d: it was altered after sealing", x.ID, seq)
			return nil
		}
		res.ShownChecked++
	}
	return rows.Err()
}

// countUnsealedAfter counts the rows the sealer has yet to take: those
// after the head's row in (xid, id) order, the order it seals in (its
// horizon keeps a row from committing behind one already sealed). An index
// range, not the whole log; Verify's count also finds rows slipped in
// behind the sealed ones.
func countUnsealedAfter(ctx context.Context, tx pgx.Tx, acct int64, head chainHead, n *int) error {
	if head.auditID == 0 {
		return tx.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE account_id = $1`, acct).Scan(n)
	}
	// The head's xid as a value, not a subquery, so that the planner
	// estimates the range from its statistics (a subquery's unknown bound
	// reads as a third of the log, and a parallel plan).
	var xid string
	if err := tx.QueryRow(ctx, `SELECT xid::text FROM audit_log WHERE account_id = $1 AND id = $2`, acct, head.auditID).Scan(&xid); err != nil {
		return err
	}
	return tx.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE account_id = $1 AND (xid, id) > ($2::xid8, $3)`, acct, xid, head.auditID).Scan(n)
}

func prefixed(cols, p string) string {
	return p + strings.ReplaceAll(cols, ", ", ", "+p)
}
