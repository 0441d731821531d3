package tenantpolicy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Export writes the account's policy decisions since the given time to w
// as JSON lines in OPA's decision-log shape, oldest first, and returns how
// many it wrote (`deskwoot audit export`).
func Export(ctx context.Context, db *tenancy.DB, acct int64, since time.Time, w io.Writer) (int, error) {
	enc := json.NewEncoder(w)
	f := audit.DecisionFilter{Since: since, Limit: 1000}
	n := 0
	for {
		rows, err := audit.DecisionList(ctx, db, acct, f)
		if err != nil {
			return n, err
		}
		for _, d := range rows {
			if ev, ok := audit.LogEventOf(acct, d); ok {
				if err := enc.Encode(ev); err != nil {
					return n, err
				}
				n++
			}
		}
		if len(rows) < f.Limit {
			return n, nil
		}
		f.AfterID = rows[len(rows)-1].ID
	}
}

// ExplainAny finds the audit row among every account (for an operator who
// knows only its id) and explains it. acct narrows the search when set.
func ExplainAny(ctx context.Context, db *tenancy.DB, acct, id int64) (Explanation, int64, error) {
	accts := []int64{acct}
	if acct == 0 {
		rows, _ := db.Pool.Query(ctx, `SELECT deskwoot_account_ids()`)
		var err error
		if accts, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
			return Explanation{}, 0, err
		}
	}
	for _, a := range accts {
		x, err := Explain(ctx, db, a, id)
		if err == nil {
			return x, a, nil
		}
		if !errors.Is(err, tenancy.ErrNotFound) {
			return Explanation{}, 0, err
		}
	}
	return Explanation{}, 0, fmt.Errorf("audit row %d not found", id)
}

// ReadCandidateDir reads a candidate from a folder: one module (package
// deskwoot.tenant) and one tests file (*_test.rego).
func ReadCandidateDir(dir string) (policy.TenantRules, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.rego"))
	if err != nil {
		return policy.TenantRules{}, err
	}
	sort.Strings(names)
	var mods, tests []string
	for _, n := range names {
		if strings.HasSuffix(n, "_test.rego") {
			tests = append(tests, n)
		} else {
			mods = append(mods, n)
		}
	}
	if len(mods) != 1 || len(tests) != 1 {
		return policy.TenantRules{}, fmt.Errorf("%s must hold one module (x.rego, package deskwoot.tenant) and one tests file (x_test.rego); found %d and %d", dir, len(mods), len(tests))
	}
	m, err := os.ReadFile(mods[0])
	if err != nil {
		return policy.TenantRules{}, err
	}
	t, err := os.ReadFile(tests[0])
	if err != nil {
		return policy.TenantRules{}, err
	}
	return policy.TenantRules{Rego: string(m), Tests: string(t)}, nil
}

// Review is a candidate checked without storing it: its tests and its
// replay (`deskwoot policy replay`).
type Review struct {
	Tests  Tests  `json:"tests"`
	Replay Replay `json:"replay"`
}

// ReviewCandidate checks a candidate, runs its tests and replays it against
// the account's decisions since the given time. Nothing is stored.
func ReviewCandidate(ctx context.Context, db *tenancy.DB, e *policy.Engine, acct int64, tr policy.TenantRules, since time.Time) (Review, error) {
	rep, err := e.RunTenantTests(ctx, acct, tr)
	if err != nil {
		return Review{}, err
	}
	replay, err := ReplayCandidate(ctx, db, e, acct, tr, since)
	if err != nil {
		return Review{}, err
	}
	results := rep.Results
	if results == nil {
		results = []policy.TestResult{}
	}
	return Review{Tests: Tests{Passed: rep.Passed, Failed: rep.Failed, Results: results}, Replay: replay}, nil
}
