package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	policies "github.com/deskwoot/deskwoot/rego"
)

// Paths of the decisions, as OPA's decision logs name them.
const (
	PathDecision = "deskwoot/authz/decision"
	PathGate     = "deskwoot/gate/decision"
)

// Explanation is what an audit row keeps of a policy decision so that "why
// was this allowed" has an answer months later: the input with the tool's
// arguments redacted to their keys, types and sizes (numbers and booleans
// such as ids stay, text never does), the result, the branch that produced
// it and the version of the account's rules. It is bounded in size.
type Explanation struct {
	Path   string          `json:"path"`
	Input  json.RawMessage `json:"input"`
	Masked []string        `json:"masked,omitempty"` // JSON pointers of redacted values, as OPA's decision logs list them
	Result Decision        `json:"result"`
	// ArgsDigest is the SHA-256 of the arguments' canonical JSON, which
	// proves what was asked without keeping it.
	ArgsDigest string `json:"args_digest,omitempty"`
	// Error says why the decision failed (the call was denied).
	Error string `json:"error,omitempty"`
}

// Bounds of a stored explanation.
const (
	maxArgKeys     = 64
	maxKeyLen      = 64
	maxIDList      = 200
	maxReasonLen   = 500
	maxExplanation = 16 << 10
)

// Redacted is the input as an explanation stores it: every field as is,
// except args, whose strings, objects and long or mixed arrays become
// {"redacted": type, "bytes": size}. masked lists the redacted paths.
func (in Input) Redacted() (doc json.RawMessage, masked []string) {
	r := in
	r.Args, masked = redactArgs(in.Args)
	if len(r.Principal.InboxIDs) > maxIDList {
		r.Principal.InboxIDs = r.Principal.InboxIDs[:maxIDList]
		masked = append(masked, "/input/principal/inbox_ids")
	}
	if len(r.Target.ContactInboxIDs) > maxIDList {
		r.Target.ContactInboxIDs = r.Target.ContactInboxIDs[:maxIDList]
		masked = append(masked, "/input/target/contact_inbox_ids")
	}
	b, err := json.Marshal(r)
	if err != nil {
		b, _ = json.Marshal(map[string]any{"tool": in.Tool, "error": "the input could not be recorded"})
	}
	return b, masked
}

// Redacted is a value the explanation does not keep: only its type and
// size.
type Redacted struct {
	Redacted string   `json:"redacted"` // string, object, array
	Bytes    int      `json:"bytes"`    // size of its JSON
	Items    int      `json:"items,omitempty"`
	Keys     []string `json:"keys,omitempty"` // an object's keys, sorted
}

func redactArgs(args map[string]any) (map[string]any, []string) {
	out := make(map[string]any, len(args))
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var masked []string
	for i, k := range keys {
		if i == maxArgKeys {
			out["…"] = Redacted{Redacted: "keys", Items: len(keys) - maxArgKeys}
			masked = append(masked, "/input/args")
			break
		}
		name := k
		if len(name) > maxKeyLen {
			name = name[:maxKeyLen] + "…"
		}
		v, kept := redactValue(args[k])
		out[name] = v
		if !kept {
			masked = append(masked, "/input/args/"+jsonPointerEscape(name))
		}
	}
	return out, masked
}

// redactValue keeps numbers, booleans, null and short arrays of numbers (ids);
// anything else becomes its type and size.
func redactValue(v any) (any, bool) {
	switch x := v.(type) {
	case nil, bool, float64, int, int64, json.Number:
		return x, true
	case string:
		return Redacted{Redacted: "string", Bytes: len(x)}, false
	case []any:
		numbers := len(x) <= maxIDList
		for _, e := range x {
			switch e.(type) {
			case float64, int, int64, json.Number:
			default:
				numbers = false
			}
		}
		if numbers {
			return x, true
		}
		return Redacted{Redacted: "array", Bytes: jsonSize(x), Items: len(x)}, false
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			if len(keys) == maxArgKeys {
				break
			}
			if len(k) > maxKeyLen {
				k = k[:maxKeyLen] + "…"
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return Redacted{Redacted: "object", Bytes: jsonSize(x), Items: len(x), Keys: keys}, false
	default:
		return Redacted{Redacted: fmt.Sprintf("%T", v), Bytes: jsonSize(x)}, false
	}
}

func jsonSize(v any) int {
	b, _ := json.Marshal(v)
	return len(b)
}

func jsonPointerEscape(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '~':
			out = append(out, '~', '0')
		case '/':
			out = append(out, '~', '1')
		default:
			out = append(out, s[i])
		}
	}
	return string(out)
}

// Explain builds the explanation of a tool decision (err is the decision's
// error, if any) and returns it as JSON, at most maxExplanation bytes.
func Explain(in Input, d Decision, argsDigest string, err error) []byte {
	x := Explanation{Path: PathDecision, Result: boundReasons(d), ArgsDigest: argsDigest}
	x.Input, x.Masked = in.Redacted()
	if err != nil {
		x.Error = cutChars(err.Error(), maxReasonLen)
	}
	b := x.marshal()
	if len(b) > maxExplanation {
		x.Input, _ = json.Marshal(map[string]any{"principal": in.Principal, "tool": in.Tool, "target": in.Target, "now": in.Now,
			"args": Redacted{Redacted: "object", Bytes: jsonSize(in.Args), Items: len(in.Args)}})
		x.Masked = []string{"/input/args"}
		if len(in.Principal.InboxIDs) > maxIDList {
			x.Input, _ = json.Marshal(map[string]any{"tool": in.Tool, "target": in.Target, "now": in.Now})
			x.Masked = []string{"/input/args", "/input/principal", "/input/account"}
		}
		b, _ = json.Marshal(x)
	}
	return b
}

// marshal is json.Marshal(x), byte for byte, without re-reading x.Input:
// encoding/json validates and compacts a RawMessage, a third of the cost of
// an explanation, which runs for every call. x.Input comes from
// json.Marshal and is compact already.
func (x Explanation) marshal() []byte {
	b := make([]byte, 0, len(x.Input)+256)
	b = append(b, `{"path":`...)
	b = appendJSON(b, x.Path)
	b = append(b, `,"input":`...)
	if len(x.Input) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, x.Input...)
	}
	if len(x.Masked) > 0 {
		b = append(b, `,"masked":`...)
		b = appendJSON(b, x.Masked)
	}
	b = append(b, `,"result":`...)
	b = appendJSON(b, x.Result)
	if x.ArgsDigest != "" {
		b = append(b, `,"args_digest":`...)
		b = appendJSON(b, x.ArgsDigest)
	}
	if x.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSON(b, x.Error)
	}
	return append(b, '}')
}

func appendJSON(b []byte, v any) []byte {
	j, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, j...)
}

// ExplainGate builds the explanation of an account gate decision.
func ExplainGate(acct Account, now time.Time, g GateDecision) []byte {
	in, _ := json.Marshal(map[string]any{"account": acct, "now": now.UTC()})
	d := Decision{Allow: g.Allow, Reasons: []string{}, Rule: g.Code}
	if g.Reason != "" {
		d.Reasons = []string{g.Reason}
	}
	b, _ := json.Marshal(Explanation{Path: PathGate, Input: in, Result: d})
	return b
}

func boundReasons(d Decision) Decision {
	d.Reasons = capReasons(slices.Clone(d.Reasons))
	d.ApprovalReasons = capReasons(slices.Clone(d.ApprovalReasons))
	return d
}

// Outcome names a decision for comparisons: allow, draft or deny.
func (d Decision) Outcome() string {
	switch {
	case d.Allow && d.DraftOnly:
		return "draft"
	case d.Allow:
		return "allow"
	}
	return "deny"
}

// SourceFile is one file of the base policy.
type SourceFile struct {
	Name   string `json:"name"`
	Test   bool   `json:"test"`
	Source string `json:"source"`
}

// Sources returns the base policy's files, tests included, sorted by name.
func Sources() ([]SourceFile, error) {
	srcs, err := readSources(policies.FS, true)
	if err != nil {
		return nil, err
	}
	out := make([]SourceFile, len(srcs), len(srcs)+1)
	for i, s := range srcs {
		out[i] = SourceFile{Name: s.name, Test: strings.HasSuffix(s.name, "_test.rego"), Source: s.text}
	}
	// The policies read the plan list from data.json: it is part of what
	// a reviewer reads.
	data, err := policies.FS.ReadFile("data.json")
	if err != nil {
		return nil, err
	}
	return append(out, SourceFile{Name: "data.json", Source: string(data)}), nil
}

// Rules names the rules that produced an explained decision, from the
// branch of the decision and its reasons, in the words of the policy files
// (authz.rego, gate.rego, the account's module).
func (x Explanation) Rules() []string {
	d := x.Result
	var out []string
	if x.Path == PathGate {
		if d.Allow {
			return []string{"deskwoot.gate.decision: the account gate is open"}
		}
		return []string{"deskwoot.gate.decision: the account gate is shut (" + d.Rule + ")"}
	}
	switch d.Rule {
	case RuleAllow:
		out = append(out,
			"deskwoot.gate.allow: the account gate is open",
			"deskwoot.authz.tool_decision (allow body): the tool is in the catalog (deskwoot.catalog.tools) and of no forbidden kind, the token holds its scope, and the object lies within the token's inboxes (deskwoot.authz._within)")
		if d.DraftOnly && len(d.ApprovalReasons) == 0 {
			out = append(out, "deskwoot.authz.tool_decision (draft_only): the token requires approval and the tool reaches a customer (drafts_on_approval)")
		}
		for _, r := range d.ApprovalReasons {
			out = append(out, "deskwoot.tenant.require_approval: "+r)
		}
	case RuleNotFound:
		out = append(out, "deskwoot.authz.tool_decision (not found): the object lies outside the token's inboxes (deskwoot.authz._hidden)")
	case RuleDeny:
		out = append(out, "deskwoot.authz.decision (denied): deskwoot.authz._reasons gave the reasons below")
	case RuleAccountRule:
		out = append(out, "deskwoot.authz.tool_decision (denied by the account's rules): the base policy allowed the call; the account's rules took it away")
		for _, r := range d.Reasons {
			out = append(out, "deskwoot.tenant: "+r)
		}
	case RuleMalformed:
		out = append(out, "deskwoot.authz.decision (default): the input did not have the expected shape")
	case RuleTenantFailed:
		out = append(out, "the account's rules could not be evaluated: the call was denied (fail closed)")
	default:
		out = append(out, "the policy could not be evaluated: the call was denied (fail closed)")
	}
	return out
}
