// Package tenantpolicy manages an account's own restrict-only policy rules
// (DESIGN §17): a candidate is checked in the sandbox, its tests run, and
// it is replayed against the account's recorded decisions before anyone
// activates it; activation, roll-back and removal are versioned and audited
// with the person as actor, in the same transaction as the change.
//
// The rows of those rules (tenant_rules: candidates and versions, rules.go)
// are this package's own: it is their one writer, and the MCP door reads
// the version in force through it. It enters the tenant through tenancy
// like every other package.
package tenantpolicy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/shadow"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Service is what the REST API and the CLI call.
type Service struct {
	DB     *tenancy.DB
	Policy *policy.Engine
	Audit  *audit.Log
	// Replays runs replays past their inline budget; without it a
	// submission's replay stops at the inline budget.
	Replays *Replays
	// Inline is the replay a submission waits for (zero: InlineReplay
	// decisions, InlineReplayTime).
	Inline ReplayBudget
	// Shadows is this replica's shadow recorder, told when a shadow
	// starts or ends here so that it holds from the next call; may be nil.
	Shadows *shadow.Recorder
	Now     func() time.Time
}

// DefaultReplayDays is how far back a candidate is replayed by default.
const DefaultReplayDays = 30

// MaxReplayDays bounds replay_days.
const MaxReplayDays = 366

// Tests is a candidate's test outcome.
type Tests struct {
	Passed  int                 `json:"passed"`
	Failed  int                 `json:"failed"`
	Results []policy.TestResult `json:"results"`
}

// Candidate is a submission: the answer to it, and what GET shows of it
// later (the replay as it stands).
type Candidate struct {
	ID     int64  `json:"id"`
	Tests  Tests  `json:"tests"`
	Replay Replay `json:"replay"`
	// Version is the version the candidate became, once activated.
	Version   *int      `json:"version,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Submit checks a candidate, runs its tests, replays it against the
// account's decisions of the last days and stores it. The replay answers
// within its inline budget (InlineReplay decisions, InlineReplayTime);
// past it the answer says the replay is running and the rest goes on in
// the background. A module that does not pass the checks is a
// *policy.RuleError naming the line.
func (s *Service) Submit(ctx context.Context, acct, by int64, regoSrc, tests string, days int) (Candidate, error) {
	if days == 0 {
		days = DefaultReplayDays
	}
	if days < 1 || days > MaxReplayDays {
		return Candidate{}, fmt.Errorf("%w: replay_days must be 1 to %d", tenancy.ErrInvalid, MaxReplayDays)
	}
	tr := policy.TenantRules{Rego: regoSrc, Tests: tests}
	rep, err := s.Policy.RunTenantTests(ctx, acct, tr)
	if err != nil {
		return Candidate{}, err
	}
	if s.Replays != nil {
		s.Replays.cancel(acct) // the account's older candidate is replaced
	}
	r, err := startReplay(ctx, s.DB, s.Policy, acct, tr, s.now().AddDate(0, 0, -days))
	if err != nil {
		return Candidate{}, err
	}
	inline := s.Inline.withDefaults()
	finished, err := r.run(ctx, time.Now().Add(inline.Time), inline.Decisions)
	if err != nil {
		return Candidate{}, err
	}
	switch {
	case finished:
		r.out.Status = ReplayDone
	case s.Replays == nil:
		r.out.Status = ReplayStopped
	}
	var row TenantRules
	err = s.DB.InTenant(ctx, acct, func(tx pgx.Tx) error {
		var err error
		row, err = TenantRulesCandidateCreateTx(ctx, tx, acct, tr.Rego, tr.Tests, rep.Passed, rep.Failed, rep.Results, r.out, by)
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, acct, by, "policy.candidate.create", map[string]int64{"candidate_id": row.ID},
			fmt.Sprintf("tests: %d passed, %d failed; %s", rep.Passed, rep.Failed, replaySummary(r.out)))
	})
	if err != nil {
		return Candidate{}, err
	}
	s.Audit.Touch(acct)
	answer := r.snapshot()
	if r.out.Status == ReplayRunning {
		s.Replays.goOn(acct, row.ID, r)
	}
	return Candidate{ID: row.ID, Tests: Tests{Passed: rep.Passed, Failed: rep.Failed, Results: rep.Results}, Replay: answer, CreatedAt: row.CreatedAt}, nil
}

// Candidate reads one of the account's candidates, its replay as it stands.
func (s *Service) Candidate(ctx context.Context, acct, id int64) (Candidate, error) {
	row, err := TenantRulesGet(ctx, s.DB, acct, id)
	if errors.Is(err, tenancy.ErrNotFound) {
		return Candidate{}, fmt.Errorf("%w: candidate %d not found", tenancy.ErrNotFound, id)
	}
	if err != nil {
		return Candidate{}, err
	}
	return s.candidateOf(row), nil
}

// maxListedCandidates bounds GET /api/v1/policy/candidates.
const maxListedCandidates = 50

// Candidates lists the account's newest candidates (at most 50).
func (s *Service) Candidates(ctx context.Context, acct int64) ([]Candidate, error) {
	rows, err := TenantRulesCandidates(ctx, s.DB, acct, maxListedCandidates)
	if err != nil {
		return nil, err
	}
	out := make([]Candidate, len(rows))
	for i, row := range rows {
		out[i] = s.candidateOf(row)
	}
	return out, nil
}

func (s *Service) candidateOf(row TenantRules) Candidate {
	c := Candidate{ID: row.ID, Version: row.Version, CreatedAt: row.CreatedAt,
		Tests:  Tests{Passed: row.TestsPassed, Failed: row.TestsFailed, Results: []policy.TestResult{}},
		Replay: storedReplay(row.Replay, row.ReplayAt, time.Now())}
	json.Unmarshal(row.TestResults, &c.Tests.Results)
	if c.Tests.Results == nil {
		c.Tests.Results = []policy.TestResult{}
	}
	return c
}

// Activate puts a candidate in force as the account's next version. A
// candidate whose tests failed is refused (tenancy.ErrConflict).
func (s *Service) Activate(ctx context.Context, acct, by, id int64) (TenantRules, error) {
	var out TenantRules
	err := s.DB.InTenant(ctx, acct, func(tx pgx.Tx) error {
		c, err := TenantRulesGetTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if c.TestsFailed > 0 {
			return fmt.Errorf("%w: candidate %d failed %d of its tests; fix them and submit a new candidate", tenancy.ErrConflict, id, c.TestsFailed)
		}
		if out, err = TenantRulesActivateCandidateTx(ctx, tx, acct, id, by); err != nil {
			return err
		}
		return s.audit(ctx, tx, acct, by, "policy.activate", map[string]int64{"candidate_id": id, "version": int64(*out.Version)},
			"version "+strconv.Itoa(*out.Version)+" in force")
	})
	if err == nil {
		s.Audit.Touch(acct)
	}
	return out, err
}

// ActivateVersion puts an earlier version back in force (a roll-back).
func (s *Service) ActivateVersion(ctx context.Context, acct, by int64, version int) error {
	if version <= 0 {
		return fmt.Errorf("%w: version %d not found", tenancy.ErrNotFound, version)
	}
	err := s.DB.InTenant(ctx, acct, func(tx pgx.Tx) error {
		from, err := TenantRulesActiveVersionTx(ctx, tx)
		if err != nil {
			return err
		}
		if err := TenantRulesActivateVersionTx(ctx, tx, acct, version); err != nil {
			if errors.Is(err, tenancy.ErrNotFound) {
				return fmt.Errorf("%w: version %d not found", tenancy.ErrNotFound, version)
			}
			return err
		}
		return s.audit(ctx, tx, acct, by, "policy.rollback", map[string]int64{"version": int64(version), "from_version": int64(from)},
			fmt.Sprintf("version %d in force (was %s)", version, versionName(from)))
	})
	if err == nil {
		s.Audit.Touch(acct)
	}
	return err
}

// Remove takes the account's rules out of force; only the base policy
// decides afterwards. The versions stay, for a later roll-back.
func (s *Service) Remove(ctx context.Context, acct, by int64) error {
	err := s.DB.InTenant(ctx, acct, func(tx pgx.Tx) error {
		from, err := TenantRulesActiveVersionTx(ctx, tx)
		if err != nil {
			return err
		}
		if err := TenantRulesActivateVersionTx(ctx, tx, acct, 0); err != nil {
			return err
		}
		return s.audit(ctx, tx, acct, by, "policy.tenant.remove", map[string]int64{"from_version": int64(from)},
			fmt.Sprintf("no account rules in force (was %s)", versionName(from)))
	})
	if err == nil {
		s.Audit.Touch(acct)
	}
	return err
}

func versionName(v int) string {
	if v == 0 {
		return "none"
	}
	return "version " + strconv.Itoa(v)
}

func (s *Service) audit(ctx context.Context, tx pgx.Tx, acct, by int64, action string, target map[string]int64, reason string) error {
	return audit.Insert(ctx, tx, acct, audit.Entry{ActorKind: "user", ActorID: by, Action: action, Decision: "allow",
		Reasons: []string{reason}, Target: target, PolicyRev: s.Policy.Revision()})
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
