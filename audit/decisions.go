package audit

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/tenancy"
)

// Decision is an audit row that records a policy decision, with the
// explanation stored at decision time (policy.Explanation as JSON).
type Decision struct {
	Row
	Explanation json.RawMessage `json:"explanation"`
}

func scanDecision(r pgx.CollectableRow) (Decision, error) {
	var x Decision
	var expl []byte
	err := r.Scan(&x.ID, &x.At, &x.ActorKind, &x.ActorID, &x.TokenID, &x.Action, &x.Decision, &x.Reasons, &x.Target, &x.ArgsDigest, &x.PolicyRev, &x.RequestID, &x.ClientID, &expl)
	x.Explanation = expl
	return x, err
}

// Get reads one audit row with its explanation (nil when the row records
// no policy decision).
func Get(ctx context.Context, db *tenancy.DB, acct, id int64) (Decision, error) {
	var out Decision
	b := &pgx.Batch{}
	b.Queue(`SELECT `+rowColumns+`, explanation FROM audit_log WHERE account_id = $1 AND id = $2`, acct, id).Query(func(rows pgx.Rows) error {
		var err error
		out, err = pgx.CollectExactlyOneRow(rows, scanDecision)
		return err
	})
	return out, db.Batch(ctx, acct, b)
}

// DecisionFilter selects the decisions to export or replay.
type DecisionFilter struct {
	Since   time.Time
	AfterID int64  // cursor: rows with a larger id
	Path    string // only explanations of this decision path; "" for all
	Limit   int
}

// DecisionCount counts the rows DecisionList would list from the start
// (f.AfterID and f.Limit aside), stopping at max.
func DecisionCount(ctx context.Context, db *tenancy.DB, acct int64, f DecisionFilter, max int) (int, error) {
	var n int
	b := &pgx.Batch{}
	b.Queue(`SELECT count(*) FROM (SELECT 1 FROM audit_log
		WHERE account_id = $1 AND explanation IS NOT NULL AND at >= $2 AND ($3 = '' OR explanation->>'path' = $3)
		LIMIT $4) AS counted`, acct, f.Since, f.Path, max).QueryRow(func(r pgx.Row) error { return r.Scan(&n) })
	return n, db.Batch(ctx, acct, b)
}

// DecisionList lists the rows that record a policy decision, oldest first,
// from f.Since and after f.AfterID.
func DecisionList(ctx context.Context, db *tenancy.DB, acct int64, f DecisionFilter) ([]Decision, error) {
	var out []Decision
	b := &pgx.Batch{}
	b.Queue(`SELECT `+rowColumns+`, explanation FROM audit_log
		WHERE account_id = $1 AND explanation IS NOT NULL AND at >= $2 AND id > $3 AND ($4 = '' OR explanation->>'path' = $4)
		ORDER BY id LIMIT $5`, acct, f.Since, f.AfterID, f.Path, f.Limit).Query(func(rows pgx.Rows) error {
		var err error
		out, err = pgx.CollectRows(rows, scanDecision)
		return err
	})
	if err := db.Batch(ctx, acct, b); err != nil {
		return nil, err
	}
	if out == nil {
		out = []Decision{}
	}
	return out, nil
}
