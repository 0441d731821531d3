package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/util"
)

// Decision is the answer to one tools/call.
type Decision struct {
	Allow bool `json:"allow"`
	// Reasons say why a call was denied and what to do; empty when allowed.
	Reasons []string `json:"reasons"`
	// DraftOnly means the call is allowed but must produce a draft for human
	// approval instead of reaching the customer (require_approval tokens).
	DraftOnly bool `json:"draft_only"`
	// NotFound means the object lies outside the token's inboxes; answer
	// exactly as for a missing object (Reasons already read that way).
	NotFound bool `json:"not_found"`
	// ApprovalReasons are the account rules' reasons for making the call a
	// draft (DraftOnly); empty when none applies.
	ApprovalReasons []string `json:"approval_reasons,omitempty"`
	// Rule names the branch of the decision that produced it (RuleAllow,
	// RuleDeny, ...), for explanations.
	Rule string `json:"rule"`
	// TenantVersion is the version of the account's own rules the decision
	// was made with; 0 when the account has none.
	TenantVersion int `json:"tenant_rules_version,omitempty"`
}

// The branches a decision can come from (Decision.Rule).
const (
	RuleAllow        = "allow"                // every condition of authz.rego's allow body held
	RuleNotFound     = "not_found"            // the object lies outside the token's inboxes
	RuleDeny         = "deny"                 // the base policy denied, with reasons
	RuleAccountRule  = "account_rule"         // the base policy allowed; the account's rules denied
	RuleSwitch       = "switch"               // an admin's switch: the token paused, the agents paused, the tool off
	RuleMalformed    = "malformed"            // the input did not have the expected shape
	RuleEvalError    = "error"                // the policy could not be evaluated
	RuleTenantFailed = "account_rules_failed" // the account's rules failed or ran too long
)

// GateDecision is the account gate's answer: may this account use MCP now.
type GateDecision struct {
	Allow bool `json:"allow"`
	// Reason says why the gate is shut and what to do; empty when open.
	Reason string `json:"reason"`
	// Code is "ok" when open, else one of mcp_disabled, trial_ended,
	// plan_without_mcp, grace_ended, canceled, invalid_input.
	Code string `json:"code"`
}

// reasonMalformed is authz.rego's default decision's reason.
const reasonMalformed = "the request is malformed; access denied"

// errFailed is the reason given when evaluation itself fails.
const errFailed = "the policy could not be evaluated; access denied"

// Decide evaluates the tool decision for one call. On an error the decision
// is a denial, so a caller that ignores the error still fails closed.
func (e *Engine) Decide(ctx context.Context, in Input) (Decision, error) {
	deny := Decision{Reasons: []string{errFailed}, Rule: RuleEvalError}
	v, err := in.valueWith(&e.terms)
	if err != nil {
		return deny, err
	}
	res, err := e.eval(ctx, e.decisionQuery(ctx, in, e.decision, e.tool), v)
	if err != nil {
		return deny, fmt.Errorf("policy: decide %s: %w", in.Tool, err)
	}
	d, err := parseDecision(res)
	if err != nil {
		return deny, fmt.Errorf("policy: decide %s: %w", in.Tool, err)
	}
	return d, nil
}

// evalGate evaluates the account gate in Rego. On an error the gate is shut.
func (e *Engine) evalGate(ctx context.Context, acct Account, now time.Time) (GateDecision, error) {
	shut := GateDecision{Reason: errFailed, Code: "invalid_input"}
	res, err := e.eval(ctx, e.gate, gateValue(acct, now))
	if err != nil {
		return shut, fmt.Errorf("policy: gate: %w", err)
	}
	g, err := parseGate(res)
	if err != nil {
		return shut, fmt.Errorf("policy: gate: %w", err)
	}
	return g, nil
}

// VisibleTools returns, sorted, the tools this principal may see in
// tools/list: the account gate is open and the token holds each tool's
// scope. No object is checked here; Decide does that per call.
func (e *Engine) VisibleTools(ctx context.Context, p Principal, acct Account, now time.Time) ([]string, error) {
	res, err := e.eval(ctx, e.visible, principalValue(p, acct, now))
	if err != nil {
		return nil, fmt.Errorf("policy: visible tools: %w", err)
	}
	names, ok := res.([]any)
	if !ok {
		return nil, fmt.Errorf("policy: visible tools: got %T, want a set", res)
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		s, ok := n.(string)
		if !ok {
			return nil, fmt.Errorf("policy: visible tools: got %T in the set", n)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}

// EvalJSON evaluates the tool decision, the account gate and the visible
// tools for a raw JSON input document, exactly as given (malformed input
// included), for `deskwoot policy eval --input file.json`. The result has
// the keys "decision", "gate" and "visible_tools".
func (e *Engine) EvalJSON(ctx context.Context, raw []byte) (any, error) {
	var doc any
	if err := util.UnmarshalJSON(raw, &doc); err != nil {
		return nil, fmt.Errorf("policy: input is not JSON: %w", err)
	}
	v, err := ast.InterfaceToValue(doc)
	if err != nil {
		return nil, fmt.Errorf("policy: input: %w", err)
	}
	out := map[string]any{}
	for key, pq := range map[string]rego.PreparedEvalQuery{
		"decision":      e.decision,
		"gate":          e.gate,
		"visible_tools": e.visible,
	} {
		res, err := e.eval(ctx, pq, v)
		if err != nil {
			return nil, fmt.Errorf("policy: eval %s: %w", key, err)
		}
		out[key] = res
	}
	return out, nil
}

// decisionQuery picks the query for a decision: authz.rego's decision is
// tool_decision when gate.allow holds, and the server has just asked the
// gate about this very account state and clock (Engine.Gate, cached), so
// when that answer is open the gate is not worked out again in Rego. Any
// other answer, or an error, takes the whole decision.
func (e *Engine) decisionQuery(ctx context.Context, in Input, decision, tool rego.PreparedEvalQuery) rego.PreparedEvalQuery {
	if g, err := e.Gate(ctx, in.Account, in.Now); err == nil && g.Allow {
		return tool
	}
	return decision
}

var errUndefined = errors.New("the query is undefined")

// ErrEvalCrashed is an evaluation that panicked inside OPA. The panic is
// logged for the operator; callers and clients see only this sentence.
var ErrEvalCrashed = errors.New("the policy evaluation crashed")

// eval runs one prepared query on a ready input value and returns its value.
// A panic inside OPA (a builtin's bug) is recovered here, on every path
// that evaluates, and becomes ErrEvalCrashed.
func (e *Engine) eval(ctx context.Context, pq rego.PreparedEvalQuery, input ast.Value, opts ...rego.EvalOption) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			slog.ErrorContext(ctx, "policy evaluation panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			v, err = nil, ErrEvalCrashed
		}
	}()
	// OPA watches ctx with a goroutine per evaluation unless it is given a
	// cancel to watch; context.AfterFunc trips that cancel without one.
	c := topdown.NewCancel()
	stop := context.AfterFunc(ctx, c.Cancel)
	defer stop()
	rs, err := pq.Eval(ctx, append([]rego.EvalOption{rego.EvalParsedInput(input), rego.EvalMetrics(e.noop), rego.EvalExternalCancel(c)}, opts...)...)
	if err != nil {
		return nil, err
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, errUndefined
	}
	return rs[0].Expressions[0].Value, nil
}

func parseDecision(v any) (Decision, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return Decision{}, fmt.Errorf("decision is %T, want an object", v)
	}
	var d Decision
	var okA, okD, okN bool
	d.Allow, okA = m["allow"].(bool)
	d.DraftOnly, okD = m["draft_only"].(bool)
	d.NotFound, okN = m["not_found"].(bool)
	rs, okR := m["reasons"].([]any)
	if !okA || !okD || !okN || !okR {
		return Decision{}, fmt.Errorf("decision has the wrong shape: %v", m)
	}
	d.Reasons = make([]string, 0, len(rs))
	for _, r := range rs {
		s, ok := r.(string)
		if !ok {
			return Decision{}, fmt.Errorf("decision reason is %T, want a string", r)
		}
		d.Reasons = append(d.Reasons, s)
	}
	if ar, ok := m["approval_reasons"].([]any); ok && len(ar) > 0 {
		d.ApprovalReasons = make([]string, 0, len(ar))
		for _, r := range ar {
			if s, ok := r.(string); ok {
				d.ApprovalReasons = append(d.ApprovalReasons, s)
			}
		}
	}
	d.Reasons, d.ApprovalReasons = capReasons(d.Reasons), capReasons(d.ApprovalReasons)
	switch {
	case d.Allow:
		d.Rule = RuleAllow
	case d.NotFound:
		d.Rule = RuleNotFound
	case m["rule"] == RuleAccountRule:
		d.Rule = RuleAccountRule
	case m["rule"] == RuleSwitch:
		d.Rule = RuleSwitch
	case len(d.Reasons) == 1 && d.Reasons[0] == reasonMalformed:
		d.Rule = RuleMalformed
	default:
		d.Rule = RuleDeny
	}
	if !d.Allow {
		d.DraftOnly = false
		if len(d.Reasons) == 0 {
			return Decision{}, fmt.Errorf("decision denies without a reason")
		}
	}
	return d, nil
}

// MaxReasons and MaxReasonChars bound the reasons of one decision, before
// they reach a tool's answer, a log line or the audit: an account's rules
// may produce any number of reasons of any length (a rule denying with
// 20,000 reasons made each denied call answer 2 MB), and the base policy's
// own reasons are a few short sentences.
const (
	MaxReasons     = 10
	MaxReasonChars = 300
)

// capReasons keeps the first MaxReasons-1 reasons (they come sorted), says
// how many more there were in the last one, and cuts each to
// MaxReasonChars characters.
func capReasons(rs []string) []string {
	if len(rs) > MaxReasons {
		more := len(rs) - (MaxReasons - 1)
		rs = append(rs[:MaxReasons-1:MaxReasons-1], fmt.Sprintf("… and %d more reasons", more))
	}
	for i, r := range rs {
		rs[i] = cutChars(r, MaxReasonChars)
	}
	return rs
}

// cutChars cuts s to at most n characters, the last an ellipsis when cut.
func cutChars(s string, n int) string {
	if len(s) <= n || utf8.RuneCountInString(s) <= n {
		return s
	}
	count := 0
	for i := range s {
		if count == n-1 {
			return s[:i] + "…"
		}
		count++
	}
	return s
}

func parseGate(v any) (GateDecision, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return GateDecision{}, fmt.Errorf("gate decision is %T, want an object", v)
	}
	var g GateDecision
	var okA, okR, okC bool
	g.Allow, okA = m["allow"].(bool)
	g.Reason, okR = m["reason"].(string)
	g.Code, okC = m["code"].(string)
	if !okA || !okR || !okC {
		return GateDecision{}, fmt.Errorf("gate decision has the wrong shape: %v", m)
	}
	return g, nil
}
