package audit

import (
	"encoding/json"
	"strconv"
	"time"

	opaversion "github.com/open-policy-agent/opa/v1/version"
)

// LogEvent is one decision in OPA's decision-log shape (the fields of OPA's
// plugins/logs EventV1 that apply), so a SIEM that ingests OPA's decision
// logs reads Deskwoot's unchanged. The input is the redacted input the
// explanation stored; masked lists the redacted paths, as OPA's masking
// does.
type LogEvent struct {
	Labels      map[string]string   `json:"labels"`
	DecisionID  string              `json:"decision_id"`
	Revision    string              `json:"revision,omitempty"`
	Bundles     map[string]bundleV1 `json:"bundles,omitempty"`
	Path        string              `json:"path"`
	Input       json.RawMessage     `json:"input"`
	Result      json.RawMessage     `json:"result"`
	Masked      []string            `json:"masked,omitempty"`
	RequestedBy string              `json:"requested_by,omitempty"`
	Timestamp   time.Time           `json:"timestamp"`
	RequestID   uint64              `json:"req_id,omitempty"`
	Custom      map[string]any      `json:"custom"`
}

type bundleV1 struct {
	Revision string `json:"revision"`
}

// storedExplanation reads the fields of policy.Explanation an export needs.
type storedExplanation struct {
	Path       string          `json:"path"`
	Input      json.RawMessage `json:"input"`
	Masked     []string        `json:"masked"`
	Result     json.RawMessage `json:"result"`
	ArgsDigest string          `json:"args_digest"`
	Error      string          `json:"error"`
	Rule       struct {
		Rule          string `json:"rule"`
		TenantVersion int    `json:"tenant_rules_version"`
	} `json:"-"`
}

// LogEventOf renders an audit row that records a policy decision as an OPA
// decision-log event. ok is false for a row without an explanation.
func LogEventOf(acct int64, d Decision) (ev LogEvent, ok bool) {
	var x storedExplanation
	if len(d.Explanation) == 0 || json.Unmarshal(d.Explanation, &x) != nil {
		return LogEvent{}, false
	}
	json.Unmarshal(x.Result, &x.Rule)
	tenantVersion := strconv.Itoa(x.Rule.TenantVersion)
	ev = LogEvent{
		Labels: map[string]string{
			"id":                   "deskwoot",
			"version":              opaversion.Version,
			"app":                  "deskwoot",
			"account_id":           strconv.FormatInt(acct, 10),
			"policy_revision":      d.PolicyRev,
			"tenant_rules_version": tenantVersion,
		},
		DecisionID: "deskwoot-" + strconv.FormatInt(acct, 10) + "-" + strconv.FormatInt(d.ID, 10),
		Revision:   d.PolicyRev,
		Bundles:    map[string]bundleV1{"deskwoot": {Revision: d.PolicyRev}},
		Path:       x.Path,
		Input:      x.Input,
		Result:     x.Result,
		Masked:     x.Masked,
		Timestamp:  d.At.UTC(),
		RequestID:  uint64(d.ID),
		Custom: map[string]any{
			"audit_id":             d.ID,
			"account_id":           acct,
			"action":               d.Action,
			"outcome":              d.Decision,
			"reasons":              d.Reasons,
			"actor_kind":           d.ActorKind,
			"token_id":             d.TokenID,
			"request_id":           d.RequestID,
			"args_digest":          x.ArgsDigest,
			"rule":                 x.Rule.Rule,
			"tenant_rules_version": x.Rule.TenantVersion,
		},
	}
	if d.TokenID != nil {
		ev.RequestedBy = "mcp-token:" + strconv.FormatInt(*d.TokenID, 10)
	}
	if x.Error != "" {
		ev.Custom["error"] = x.Error
	}
	return ev, true
}
