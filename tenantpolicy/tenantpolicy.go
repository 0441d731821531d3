// Package tenantpolicy manages an account's own restrict-only policy rules
// (DESIGN §17): a candidate is checked in the sandbox, its tests run, and
// it is replayed against the account's recorded decisions before anyone
// activates it; activation, roll-back and removal are versioned and audited
// with the person as actor, in the same transaction as the change.
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
	"github.com/deskwoot/deskwoot/tenancy"
)

// Service is what the REST API and the CLI call.
type Service struct {
	DB     *tenancy.DB
	Policy *policy.Engine
	Audit  *audit.Log
	Now    func() time.Time
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

// Candidate is the answer to a submission.
type Candidate struct {
	ID     int64  `json:"id"`
	Tests  Tests  `json:"tests"`
	Replay Replay `json:"replay"`
}

// Submit checks a candidate, runs its tests, replays it against the
// account's decisions of the last days and stores it. A module that does
// not pass the checks is a *policy.RuleError naming the line.
func (s *Service) Submit(ctx context.Context, acct, by int64, regoSrc, tests string, days int) (Candidate, error) {
	if days == 0 {
		days = DefaultReplayDays
	}
	if days < 1 || days > MaxReplayDays {
		return Candidate{}, fmt.Errorf("%w: replay_days must be 1 to %d", tenancy.ErrInvalid, MaxReplayDays)
	}
	tr, err := s.Policy.ParseTenantRules(regoSrc, tests)
	if err != nil {
		return Candidate{}, err
	}
	rep, err := s.Policy.RunTenantTests(ctx, tr)
	if err != nil {
		return Candidate{}, err
	}
	replay, err := ReplayCandidate(ctx, s.DB, s.Policy, acct, tr, s.now().AddDate(0, 0, -days))
	if err != nil {
		return Candidate{}, err
	}
	var row tenancy.TenantRules
	err = s.DB.InTenant(ctx, acct, func(tx pgx.Tx) error {
		var err error
		row, err = tenancy.TenantRulesCandidateCreateTx(ctx, tx, acct, tr.Rego, tr.Tests, rep.Passed, rep.Failed, rep.Results, by)
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, acct, by, "policy.candidate.create", map[string]int64{"candidate_id": row.ID},
			fmt.Sprintf("tests: %d passed, %d failed; replay: %d decisions, %d would flip", rep.Passed, rep.Failed, replay.Decisions, len(replay.Flips)))
	})
	if err != nil {
		return Candidate{}, err
	}
	s.Audit.Touch(acct)
	results := rep.Results
	if results == nil {
		results = []policy.TestResult{}
	}
	return Candidate{ID: row.ID, Tests: Tests{Passed: rep.Passed, Failed: rep.Failed, Results: results}, Replay: replay}, nil
}

// Activate puts a candidate in force as the account's next version. A
// candidate whose tests failed is refused (tenancy.ErrConflict).
func (s *Service) Activate(ctx context.Context, acct, by, id int64) (tenancy.TenantRules, error) {
	var out tenancy.TenantRules
	err := s.DB.InTenant(ctx, acct, func(tx pgx.Tx) error {
		c, err := tenancy.TenantRulesGetTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if c.TestsFailed > 0 {
			return fmt.Errorf("%w: candidate %d failed %d of its tests; fix them and submit a new candidate", tenancy.ErrConflict, id, c.TestsFailed)
		}
		if out, err = tenancy.TenantRulesActivateCandidateTx(ctx, tx, acct, id, by); err != nil {
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
		from, err := tenancy.TenantRulesActiveVersionTx(ctx, tx)
		if err != nil {
			return err
		}
		if err := tenancy.TenantRulesActivateVersionTx(ctx, tx, acct, version); err != nil {
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
		from, err := tenancy.TenantRulesActiveVersionTx(ctx, tx)
		if err != nil {
			return err
		}
		if err := tenancy.TenantRulesActivateVersionTx(ctx, tx, acct, 0); err != nil {
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

// Replay is what a candidate would have changed.
type Replay struct {
	Since     time.Time `json:"since"`
	Decisions int       `json:"decisions"`
	Flips     []Flip    `json:"flips"`
	// Truncated is true when the account had more decisions in the window
	// than one replay takes (MaxReplay); the newest were left out.
	Truncated bool `json:"truncated,omitempty"`
}

// Flip is one recorded decision whose outcome (allow, draft, deny) the
// candidate would change.
type Flip struct {
	AuditID int64    `json:"audit_id"`
	Tool    string   `json:"tool"`
	Before  string   `json:"before"`
	After   string   `json:"after"`
	Reasons []string `json:"reasons,omitempty"` // the new decision's reasons
}

// MaxReplay bounds the decisions one replay re-decides.
const MaxReplay = 200000

// ReplayCandidate re-decides the account's recorded tool decisions since
// the given time from their stored (redacted) inputs, with the base policy
// and the candidate's rules, and lists every decision whose outcome would
// change. Rules that read the text of arguments cannot be replayed
// faithfully: the input keeps only their type and size.
func ReplayCandidate(ctx context.Context, db *tenancy.DB, e *policy.Engine, acct int64, tr policy.TenantRules, since time.Time) (Replay, error) {
	tp, err := e.PrepareTenant(ctx, 0, tr)
	if err != nil {
		return Replay{}, err
	}
	out := Replay{Since: since.UTC(), Flips: []Flip{}}
	f := audit.DecisionFilter{Since: since, Path: policy.PathDecision, Limit: 1000}
	for {
		rows, err := audit.DecisionList(ctx, db, acct, f)
		if err != nil {
			return out, err
		}
		for _, r := range rows {
			if out.Decisions == MaxReplay {
				out.Truncated = true
				return out, nil
			}
			var x policy.Explanation
			var in policy.Input
			if json.Unmarshal(r.Explanation, &x) != nil || json.Unmarshal(x.Input, &in) != nil {
				continue
			}
			out.Decisions++
			d, _ := tp.Decide(ctx, in)
			if before, after := x.Result.Outcome(), d.Outcome(); before != after {
				fl := Flip{AuditID: r.ID, Tool: r.Action, Before: before, After: after}
				if !d.Allow {
					fl.Reasons = d.Reasons
				}
				out.Flips = append(out.Flips, fl)
			}
		}
		if len(rows) < f.Limit {
			return out, nil
		}
		f.AfterID = rows[len(rows)-1].ID
	}
}
