package shadow

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/migrations"
	"github.com/deskwoot/deskwoot/tenancy"
)

func TestMain(m *testing.M) {
	dbtest.Main(m)
}

// candidate adds a candidate to the account and returns its id.
func candidate(t testing.TB, db *tenancy.DB, acct int64) int64 {
	t.Helper()
	ctx := context.Background()
	var id int64
	err := db.InTenant(ctx, acct, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO tenant_rules (account_id, rego, tests, tests_passed, tests_failed)
			VALUES ($1, 'package deskwoot.tenant', '', 0, 0) RETURNING id`, acct).Scan(&id)
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// flipped is n flips of list_labels, the audit rows from first on.
func flipped(first int64, n int) []FlippedCall {
	var out []FlippedCall
	for i := range n {
		out = append(out, FlippedCall{AuditID: first + int64(i), Tool: "list_labels", Before: "allow", After: "deny",
			Reasons: []string{fmt.Sprintf("reason %d", first+int64(i))}})
	}
	return out
}

// TestRecordListsEveryFlip: the flips of a trip are written as one row,
// and listed one by one as before: newest first, each with its own id,
// audit row (none for 0), tool, outcomes and reasons; pages run through
// a row's flips and across rows; the candidate's flipped count is every
// flip. A trip of more flips than a row holds takes more rows.
func TestRecordListsEveryFlip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ten := dbtest.NewTenant(t)
	db := dbtest.App(t)
	acct := ten.Account.ID
	cand := candidate(t, db, acct)

	first := flipped(100, 3)
	first[0].AuditID = 0 // a call whose audit row failed
	first[1].Reasons = []string{"two", "reasons"}
	first[2].Reasons = nil
	first[2].After = "draft"
	if err := Record(ctx, db, acct, Seen{CandidateID: cand, Decisions: 5, Flips: first}); err != nil {
		t.Fatal(err)
	}
	if err := Record(ctx, db, acct, Seen{CandidateID: cand, Decisions: 2, Skipped: 1}); err != nil {
		t.Fatal(err)
	}
	second := flipped(200, flipsPerRow+2)
	if err := Record(ctx, db, acct, Seen{CandidateID: cand, Decisions: int64(len(second)), Flips: second}); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := db.InTenant(ctx, acct, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM shadow_trips`).Scan(&rows)
	}); err != nil {
		t.Fatal(err)
	}
	if rows != 3 {
		t.Errorf("%d rows for trips of 3 and %d flips, want 3", rows, len(second))
	}

	// Every flip, by pages of 5, newest first.
	var all []Flip
	for before := int64(0); ; {
		_, page, err := List(ctx, db, acct, before, 5)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < 5 {
			break
		}
		before = page[len(page)-1].ID
	}
	want := append(slices.Clone(first), second...)
	slices.Reverse(want)
	if len(all) != len(want) {
		t.Fatalf("listed %d flips, want %d", len(all), len(want))
	}
	for i, f := range all {
		w := want[i]
		audit := fmt.Sprint(w.AuditID)
		if w.AuditID == 0 {
			audit = "<nil>"
		}
		got := "<nil>"
		if f.AuditID != nil {
			got = fmt.Sprint(*f.AuditID)
		}
		wantReasons := w.Reasons
		if wantReasons == nil {
			wantReasons = []string{}
		}
		if got != audit || f.Tool != w.Tool || f.Before != w.Before || f.After != w.After || !slices.Equal(f.Reasons, wantReasons) ||
			f.CandidateID != cand || f.Reasons == nil || time.Since(f.At) > time.Minute {
			t.Errorf("flip %d: %+v (audit %s), want %+v", i, f, got, w)
		}
		if i > 0 && f.ID >= all[i-1].ID {
			t.Errorf("flip %d has id %d after %d: ids are not newest first", i, f.ID, all[i-1].ID)
		}
	}
	run, _, err := List(ctx, db, acct, 0, 1)
	if err == nil && run == nil {
		// The candidate was never put in shadow (no shadow_until): its
		// counts are read through StartTx instead.
		err = db.InTenant(ctx, acct, func(tx pgx.Tx) error {
			r, err := StartTx(ctx, tx, cand, time.Now().Add(time.Hour))
			run = &r
			return err
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	if run.Flipped != int64(len(want)) || run.Decisions != int64(7+len(second)) || run.Skipped != 1 {
		t.Errorf("counts %+v; want %d flipped, %d decisions, 1 skipped", run, len(want), 7+len(second))
	}
}

// TestMigrationKeepsFlips: flips written one row each before migration
// 0083 are listed after it with their ids, and new flips come after them.
func TestMigrationKeepsFlips(t *testing.T) {
	ctx := context.Background()
	ownerURL, db, acct := dbtest.OldWorkspace(t, "shadow_trips", 82)
	cand := candidate(t, db, acct)
	var old []int64
	if err := db.InTenant(ctx, acct, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `INSERT INTO shadow_flips (account_id, candidate_id, audit_id, tool, before, after, reasons)
			VALUES ($1, $2, 7, 'list_labels', 'allow', 'deny', '{"no labels", "none"}'), ($1, $2, NULL, 'get_contact', 'deny', 'allow', '{}')
			RETURNING id`, acct, cand)
		var err error
		old, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := migrations.Run(ctx, ownerURL, migrations.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := Record(ctx, db, acct, Seen{CandidateID: cand, Decisions: 1, Flips: flipped(9, 1)}); err != nil {
		t.Fatal(err)
	}
	_, flips, err := List(ctx, db, acct, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(flips) != 3 || flips[1].ID != old[1] || flips[2].ID != old[0] || flips[0].ID <= old[1] {
		t.Fatalf("flips %+v; want the new one first, then ids %v", flips, old)
	}
	a, b := flips[2], flips[1]
	if a.AuditID == nil || *a.AuditID != 7 || a.Tool != "list_labels" || a.After != "deny" || !slices.Equal(a.Reasons, []string{"no labels", "none"}) ||
		b.AuditID != nil || b.Tool != "get_contact" || b.Before != "deny" || b.After != "allow" || len(b.Reasons) != 0 || b.Reasons == nil {
		t.Errorf("migrated flips %+v, %+v", a, b)
	}
}
