package tenantpolicy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/tenancy"
)

// TenantRules is an account's own policy module (DESIGN §17) with its
// tests: a candidate as submitted, and once activated a numbered version.
type TenantRules struct {
	ID          int64           `json:"id"`
	Version     *int            `json:"version"` // nil while a candidate
	Rego        string          `json:"rego"`
	Tests       string          `json:"tests"`
	TestsPassed int             `json:"tests_passed"`
	TestsFailed int             `json:"tests_failed"`
	TestResults json.RawMessage `json:"test_results"`
	CreatedBy   *int64          `json:"created_by"`
	CreatedAt   time.Time       `json:"created_at"`
	ActivatedAt *time.Time      `json:"activated_at"`
	ActivatedBy *int64          `json:"activated_by"`
	Active      bool            `json:"active"`
	// Replay is the candidate's replay (Replay) as JSON, and
	// ReplayAt its last progress; null for rows from before replays were
	// kept.
	Replay   json.RawMessage `json:"-"`
	ReplayAt *time.Time      `json:"-"`
}

const tenantRulesColumns = `r.id, r.version, r.rego, r.tests, r.tests_passed, r.tests_failed, r.test_results,
	r.created_by, r.created_at, r.activated_at, r.activated_by, coalesce(r.version = a.tenant_rules_version, false),
	r.replay, r.replay_at`

const tenantRulesFrom = ` FROM tenant_rules r JOIN accounts a ON a.id = r.account_id `

func scanTenantRules(row pgx.CollectableRow) (TenantRules, error) {
	var r TenantRules
	err := row.Scan(&r.ID, &r.Version, &r.Rego, &r.Tests, &r.TestsPassed, &r.TestsFailed, &r.TestResults,
		&r.CreatedBy, &r.CreatedAt, &r.ActivatedAt, &r.ActivatedBy, &r.Active, &r.Replay, &r.ReplayAt)
	return r, err
}

// TenantRulesCandidateCreateTx stores a candidate with its test results
// and its replay (as JSON) so far.
func TenantRulesCandidateCreateTx(ctx context.Context, tx pgx.Tx, acct int64, regoSrc, tests string, passed, failed int, results, replay any, by int64) (TenantRules, error) {
	res, err := json.Marshal(results)
	if err != nil {
		return TenantRules{}, err
	}
	rep, err := json.Marshal(replay)
	if err != nil {
		return TenantRules{}, err
	}
	var id int64
	if err := tx.QueryRow(ctx, `INSERT INTO tenant_rules (account_id, rego, tests, tests_passed, tests_failed, test_results, created_by, replay, replay_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now()) RETURNING id`, acct, regoSrc, tests, passed, failed, res, nullable(by), rep).Scan(&id); err != nil {
		return TenantRules{}, tenancy.MapError(err)
	}
	return tenantRulesGet(ctx, tx, `r.id = $1`, id)
}

// TenantRulesReplaySave records a candidate's replay (as JSON) and marks
// its progress now.
func TenantRulesReplaySave(ctx context.Context, db *tenancy.DB, acct, id int64, replay any) error {
	rep, err := json.Marshal(replay)
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	b.Queue(`UPDATE tenant_rules SET replay = $2, replay_at = now() WHERE id = $1`, id, rep)
	return db.Batch(ctx, acct, b)
}

// TenantRulesCandidates lists the account's newest candidates and versions
// (every submission), newest first, at most limit.
func TenantRulesCandidates(ctx context.Context, db *tenancy.DB, acct int64, limit int) ([]TenantRules, error) {
	var out []TenantRules
	b := &pgx.Batch{}
	b.Queue(`SELECT `+tenantRulesColumns+tenantRulesFrom+`ORDER BY r.id DESC LIMIT $1`, limit).Query(func(rows pgx.Rows) error {
		var err error
		out, err = pgx.CollectRows(rows, scanTenantRules)
		return err
	})
	if err := db.Batch(ctx, acct, b); err != nil {
		return nil, err
	}
	if out == nil {
		out = []TenantRules{}
	}
	return out, nil
}

// TenantRulesGetTx reads a candidate or version by id inside tx.
func TenantRulesGetTx(ctx context.Context, tx pgx.Tx, id int64) (TenantRules, error) {
	r, err := tenantRulesGet(ctx, tx, `r.id = $1`, id)
	if errors.Is(err, tenancy.ErrNotFound) {
		return r, fmt.Errorf("%w: candidate %d not found", tenancy.ErrNotFound, id)
	}
	return r, err
}

// TenantRulesGet reads a candidate or version by id.
func TenantRulesGet(ctx context.Context, db *tenancy.DB, acct, id int64) (TenantRules, error) {
	var out TenantRules
	err := db.InTenant(ctx, acct, func(tx pgx.Tx) (err error) {
		out, err = tenantRulesGet(ctx, tx, `r.id = $1`, id)
		return err
	})
	return out, err
}

// TenantRulesVersionSource reads the module of an activated version: what
// a replica compiles the first time it decides with that version.
func TenantRulesVersionSource(ctx context.Context, db *tenancy.DB, acct int64, version int) (string, error) {
	var src string
	b := &pgx.Batch{}
	b.Queue(`SELECT rego FROM tenant_rules WHERE version = $1`, version).QueryRow(func(r pgx.Row) error { return r.Scan(&src) })
	return src, db.Batch(ctx, acct, b)
}

func tenantRulesGet(ctx context.Context, tx pgx.Tx, where string, args ...any) (TenantRules, error) {
	rows, _ := tx.Query(ctx, `SELECT `+tenantRulesColumns+tenantRulesFrom+`WHERE `+where, args...)
	r, err := pgx.CollectExactlyOneRow(rows, scanTenantRules)
	if err != nil {
		return r, tenancy.MapError(err)
	}
	return r, nil
}

// TenantRulesVersions lists the account's activated versions, newest first.
func TenantRulesVersions(ctx context.Context, db *tenancy.DB, acct int64) (versions []TenantRules, active int, err error) {
	b := &pgx.Batch{}
	b.Queue(`SELECT ` + tenantRulesColumns + tenantRulesFrom + `WHERE r.version IS NOT NULL ORDER BY r.version DESC`).Query(func(rows pgx.Rows) error {
		versions, err = pgx.CollectRows(rows, scanTenantRules)
		return err
	})
	var v *int
	b.Queue(`SELECT tenant_rules_version FROM accounts`).QueryRow(func(r pgx.Row) error { return r.Scan(&v) })
	if err := db.Batch(ctx, acct, b); err != nil {
		return nil, 0, err
	}
	if v != nil {
		active = *v
	}
	if versions == nil {
		versions = []TenantRules{}
	}
	return versions, active, nil
}

// TenantRulesActive reads the version in force (nil when none).
func TenantRulesActive(ctx context.Context, db *tenancy.DB, acct int64) (*TenantRules, error) {
	var out *TenantRules
	err := db.InTenant(ctx, acct, func(tx pgx.Tx) error {
		r, err := tenantRulesGet(ctx, tx, `r.version = a.tenant_rules_version`)
		if err == nil {
			out = &r
			return nil
		}
		if errors.Is(err, tenancy.ErrNotFound) {
			return nil
		}
		return err
	})
	return out, err
}

// TenantRulesActivateCandidateTx numbers a candidate as the account's next
// version (or keeps the version it already has) and puts it in force,
// inside the caller's transaction (which also writes the audit row).
func TenantRulesActivateCandidateTx(ctx context.Context, tx pgx.Tx, acct, id, by int64) (TenantRules, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('deskwoot.tenant_rules', $1))`, acct); err != nil {
		return TenantRules{}, err
	}
	tag, err := tx.Exec(ctx, `UPDATE tenant_rules SET
			version = coalesce(version, (SELECT coalesce(max(version), 0) + 1 FROM tenant_rules)),
			activated_at = now(), activated_by = $2
		WHERE id = $1`, id, nullable(by))
	if err != nil {
		return TenantRules{}, tenancy.MapError(err)
	}
	if tag.RowsAffected() == 0 {
		return TenantRules{}, fmt.Errorf("%w: candidate %d not found", tenancy.ErrNotFound, id)
	}
	if _, err := tx.Exec(ctx, `UPDATE accounts SET tenant_rules_version = (SELECT version FROM tenant_rules WHERE id = $1) WHERE id = $2`, id, acct); err != nil {
		return TenantRules{}, tenancy.MapError(err)
	}
	return tenantRulesGet(ctx, tx, `r.id = $1`, id)
}

// TenantRulesActivateVersionTx puts an earlier version back in force (a
// roll-back), or with version 0 removes the account's rules.
func TenantRulesActivateVersionTx(ctx context.Context, tx pgx.Tx, acct int64, version int) error {
	var v any
	if version > 0 {
		v = version
	}
	tag, err := tx.Exec(ctx, `UPDATE accounts SET tenant_rules_version = $1 WHERE id = $2`, v, acct)
	if err != nil {
		return tenancy.MapError(err) // an unknown version violates the foreign key: not found
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: account %d", tenancy.ErrNotFound, acct)
	}
	return nil
}

// TenantRulesActiveVersionTx reads the version in force inside tx (0: none).
func TenantRulesActiveVersionTx(ctx context.Context, tx pgx.Tx) (int, error) {
	var v *int
	if err := tx.QueryRow(ctx, `SELECT tenant_rules_version FROM accounts`).Scan(&v); err != nil {
		return 0, tenancy.MapError(err)
	}
	if v == nil {
		return 0, nil
	}
	return *v, nil
}

func nullable(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}
