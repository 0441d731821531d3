package tenantpolicy

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/tenancy"
)

// View is what a security team sees of the policy in force: the base
// policy's revision (the one every audit row carries), its files, its
// tests with coverage, the tool catalog, and the account's own rules.
type View struct {
	Revision    string              `json:"revision"`
	Files       []policy.SourceFile `json:"files"`
	Tests       policy.TestReport   `json:"tests"`
	Catalog     Catalog             `json:"catalog"`
	TenantRules *ActiveRules        `json:"tenant_rules"`
}

// Catalog is the MCP tool catalog (rego/catalog.rego).
type Catalog struct {
	Tools  []policy.Tool `json:"tools"`
	Scopes []string      `json:"scopes"`
}

// ActiveRules is the account's rules version in force.
type ActiveRules struct {
	Version     int        `json:"version"`
	Rego        string     `json:"rego"`
	Tests       string     `json:"tests"`
	ActivatedAt *time.Time `json:"activated_at"`
	ActivatedBy *int64     `json:"activated_by"`
}

// Show assembles the View. acct 0 shows the base policy alone (the CLI).
func Show(ctx context.Context, db *tenancy.DB, e *policy.Engine, acct int64) (View, error) {
	files, err := policy.Sources()
	if err != nil {
		return View{}, err
	}
	tests, err := e.Tests(ctx)
	if err != nil {
		return View{}, err
	}
	v := View{Revision: e.Revision(), Files: files, Tests: tests, Catalog: Catalog{Scopes: e.Scopes()}}
	for _, t := range e.Catalog() {
		v.Catalog.Tools = append(v.Catalog.Tools, t)
	}
	sort.Slice(v.Catalog.Tools, func(i, j int) bool { return v.Catalog.Tools[i].Name < v.Catalog.Tools[j].Name })
	if acct > 0 {
		r, err := TenantRulesActive(ctx, db, acct)
		if err != nil {
			return View{}, err
		}
		if r != nil {
			v.TenantRules = &ActiveRules{Version: *r.Version, Rego: r.Rego, Tests: r.Tests, ActivatedAt: r.ActivatedAt, ActivatedBy: r.ActivatedBy}
		}
	}
	return v, nil
}

// Explanation answers "why was this allowed (or denied)" for one audit row.
type Explanation struct {
	AuditID   int64     `json:"audit_id"`
	At        time.Time `json:"at"`
	Action    string    `json:"action"`
	ActorKind string    `json:"actor_kind"`
	TokenID   *int64    `json:"token_id"`
	// Decision is the audit row's outcome: allow, deny or error (an
	// allowed call that then failed).
	Decision           string           `json:"decision"`
	Reasons            []string         `json:"reasons"`
	DraftOnly          bool             `json:"draft_only"`
	Rules              []string         `json:"rules"`
	Path               string           `json:"path,omitempty"`
	Input              json.RawMessage  `json:"input"`
	Masked             []string         `json:"masked"`
	ArgsDigest         string           `json:"args_digest"`
	PolicyRevision     string           `json:"policy_revision"`
	TenantRulesVersion *int             `json:"tenant_rules_version"`
	Result             *policy.Decision `json:"result"`
	Error              string           `json:"error,omitempty"`
	Note               string           `json:"note,omitempty"`
}

// Explain reads one audit row's explanation.
func Explain(ctx context.Context, db *tenancy.DB, acct, id int64) (Explanation, error) {
	row, err := audit.Get(ctx, db, acct, id)
	if err != nil {
		return Explanation{}, err
	}
	out := Explanation{AuditID: row.ID, At: row.At, Action: row.Action, ActorKind: row.ActorKind, TokenID: row.TokenID,
		Decision: row.Decision, Reasons: row.Reasons, ArgsDigest: row.ArgsDigest, PolicyRevision: row.PolicyRev,
		Input: json.RawMessage("null"), Masked: []string{}, Rules: []string{}}
	if len(row.Explanation) == 0 {
		out.Note = "this row records no policy decision (a person's action, a rate limit, an object that was not found, or a row written before decisions were explained)"
		return out, nil
	}
	var x policy.Explanation
	if err := json.Unmarshal(row.Explanation, &x); err != nil {
		return out, errors.Join(errors.New("stored explanation is unreadable"), err)
	}
	out.Path, out.Input, out.Rules, out.Error, out.Result = x.Path, x.Input, x.Rules(), x.Error, &x.Result
	out.DraftOnly = x.Result.DraftOnly
	if x.Masked != nil {
		out.Masked = x.Masked
	}
	if out.ArgsDigest == "" {
		out.ArgsDigest = x.ArgsDigest
	}
	if v := x.Result.TenantVersion; v > 0 {
		out.TenantRulesVersion = &v
	}
	return out, nil
}
