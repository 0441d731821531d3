package shadow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/tenancy"
)

// The shadow's rows are this package's own: a candidate's shadow columns
// of tenant_rules and its flips (shadow_trips). tenantpolicy starts and
// stops a shadow in its own units of work with StartTx and StopTx; the
// recorder reads and adds to them here.
//
// A candidate in shadow (issue 24) is decided beside the rules in force on
// every live call of its account until ShadowUntil, changing nothing; the
// calls it would have decided differently are its flips (migration 0056),
// written one row per trip of a replica's shadow (migration 0083).

// Run is a candidate's shadow: when it runs, and what it has seen.
type Run struct {
	CandidateID int64     `json:"candidate_id"`
	From        time.Time `json:"from"`
	Until       time.Time `json:"until"`
	// Decisions counts the live calls it decided, Skipped those it had no
	// time for, Flipped those it would have decided differently.
	Decisions int64 `json:"decisions"`
	Skipped   int64 `json:"skipped"`
	Flipped   int64 `json:"flipped"`
}

// Rules is the candidate in shadow as the server decides with it.
type Rules struct {
	CandidateID int64
	Rego        string
	Until       time.Time
}

// Flip is one live call the candidate in shadow would have decided
// differently.
type Flip struct {
	ID          int64     `json:"id"`
	CandidateID int64     `json:"candidate_id"`
	AuditID     *int64    `json:"audit_id"`
	Tool        string    `json:"tool"`
	Before      string    `json:"before"`
	After       string    `json:"after"`
	Reasons     []string  `json:"reasons"`
	At          time.Time `json:"at"`
}

// StartTx puts a candidate in shadow until the given time, ending
// the shadow of any other candidate of the account, inside the caller's
// transaction (which also writes the audit row). A candidate already in
// shadow keeps its start and counts; one whose shadow ended starts again.
func StartTx(ctx context.Context, tx pgx.Tx, id int64, until time.Time) (Run, error) {
	if _, err := tx.Exec(ctx, `UPDATE tenant_rules SET shadow_until = now()
		WHERE shadow_until > now() AND id <> $1`, id); err != nil {
		return Run{}, tenancy.MapError(err)
	}
	rows, _ := tx.Query(ctx, `UPDATE tenant_rules SET
			shadow_from = CASE WHEN shadow_until > now() THEN shadow_from ELSE now() END,
			shadow_until = $2
		WHERE id = $1
		RETURNING `+shadowColumns, id, until)
	s, err := pgx.CollectExactlyOneRow(rows, scanShadow)
	if errors.Is(err, pgx.ErrNoRows) {
		return Run{}, fmt.Errorf("%w: candidate %d not found", tenancy.ErrNotFound, id)
	}
	return s, tenancy.MapError(err)
}

// StopTx ends the account's shadow now, inside the caller's
// transaction; it says which candidate was in shadow (0: none).
func StopTx(ctx context.Context, tx pgx.Tx) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `UPDATE tenant_rules SET shadow_until = now()
		WHERE shadow_until > now() RETURNING id`).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return id, tenancy.MapError(err)
}

// shadowColumns are a Run's columns of tenant_rules; flipped is counted
// from the flips themselves.
const shadowColumns = `id, shadow_from, shadow_until, shadow_decisions, shadow_skipped,
	(SELECT coalesce(sum(cardinality(t.tools)), 0) FROM shadow_trips t WHERE t.account_id = tenant_rules.account_id AND t.candidate_id = tenant_rules.id)`

func scanShadow(row pgx.CollectableRow) (Run, error) {
	var s Run
	err := row.Scan(&s.CandidateID, &s.From, &s.Until, &s.Decisions, &s.Skipped, &s.Flipped)
	return s, err
}

// RulesInForce reads the account's candidate in shadow now, if any.
func RulesInForce(ctx context.Context, db *tenancy.DB, acct int64) (Rules, bool, error) {
	var out []Rules
	b := &pgx.Batch{}
	b.Queue(`SELECT id, rego, shadow_until FROM tenant_rules
		WHERE shadow_until > now() ORDER BY shadow_until DESC LIMIT 1`).Query(func(rows pgx.Rows) (err error) {
		out, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Rules])
		return err
	})
	if err := db.Batch(ctx, acct, b); err != nil || len(out) == 0 {
		return Rules{}, false, err
	}
	return out[0], true, nil
}

// Seen is what a replica's shadow saw of one account's live calls
// since it last wrote: the candidate's counts to add, and its new flips.
type Seen struct {
	CandidateID int64
	Decisions   int64
	Skipped     int64
	Flips       []FlippedCall
}

// FlippedCall is a live call the candidate decided differently.
type FlippedCall struct {
	// AuditID is the call's audit row (0: none was written).
	AuditID int64
	Tool    string

	Before, After string
	Reasons       []string
}

// flipsPerRow is the most flips one row of shadow_trips holds: its ids
// are a block of the sequence shadow_trips_id_seq, which steps by as many
// (migration 0083). A trip has at most tripCalls.
const flipsPerRow = 64

// Record adds what a shadow saw to its candidate, in one round trip of
// two statements however many flips it saw: its counts, and its flips in
// one row (of at most flipsPerRow; more take more rows). Each flip names
// its call's audit row by the id the call's own transaction returned.
func Record(ctx context.Context, db *tenancy.DB, acct int64, seen Seen) error {
	b := &pgx.Batch{}
	b.Queue(`UPDATE tenant_rules SET shadow_decisions = shadow_decisions + $2, shadow_skipped = shadow_skipped + $3
		WHERE id = $1`, seen.CandidateID, seen.Decisions, seen.Skipped)
	for flips := seen.Flips; len(flips) > 0; {
		row := flips[:min(len(flips), flipsPerRow)]
		flips = flips[len(row):]
		n := len(row)
		audits, tools, befores, afters, reasons := make([]int64, n), make([]string, n), make([]string, n), make([]string, n), make([][]string, n)
		for i, f := range row {
			audits[i], tools[i], befores[i], afters[i], reasons[i] = f.AuditID, f.Tool, f.Before, f.After, f.Reasons
			if reasons[i] == nil {
				reasons[i] = []string{}
			}
		}
		// Lists of reasons differ in length, which an array of arrays
		// cannot hold: they go as one JSON array of arrays.
		raw, err := json.Marshal(reasons)
		if err != nil {
			return err
		}
		b.Queue(`INSERT INTO shadow_trips (account_id, id, candidate_id, audit_ids, tools, befores, afters, reasons)
			VALUES ($1, nextval('shadow_trips_id_seq'), $2, $3, $4, $5, $6, $7::text::jsonb)`,
			acct, seen.CandidateID, audits, tools, befores, afters, string(raw))
	}
	return db.Batch(ctx, acct, b)
}

// List reads the account's latest shadow (nil when it never had
// one) and its flips of every candidate, newest first: limit of them,
// before the flip id before (0: from the newest).
func List(ctx context.Context, db *tenancy.DB, acct int64, before int64, limit int) (*Run, []Flip, error) {
	var latest []Run
	var flips []Flip
	b := &pgx.Batch{}
	b.Queue(`SELECT ` + shadowColumns + ` FROM tenant_rules
		WHERE shadow_until IS NOT NULL ORDER BY shadow_until DESC LIMIT 1`).Query(func(rows pgx.Rows) (err error) {
		latest, err = pgx.CollectRows(rows, scanShadow)
		return err
	})
	// Flip n (from 1) of a row has the id id + n - 1; rows are read
	// newest first and each row's flips newest first, until limit.
	b.Queue(`SELECT t.id + f.n - 1, t.candidate_id, nullif(f.audit_id, 0), f.tool, f.before, f.after,
			ARRAY(SELECT jsonb_array_elements_text(t.reasons -> (f.n - 1)::int)), t.at
		FROM shadow_trips t,
			unnest(t.audit_ids, t.tools, t.befores, t.afters) WITH ORDINALITY AS f (audit_id, tool, before, after, n)
		WHERE $1 = 0 OR t.id < $1 AND t.id + f.n - 1 < $1
		ORDER BY t.id DESC, f.n DESC LIMIT $2`, before, limit).Query(func(rows pgx.Rows) (err error) {
		flips, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Flip])
		return err
	})
	if err := db.Batch(ctx, acct, b); err != nil {
		return nil, nil, err
	}
	if flips == nil {
		flips = []Flip{}
	}
	if len(latest) == 0 {
		return nil, flips, nil
	}
	return &latest[0], flips, nil
}
