// Package trial computes what an account is entitled to right now — its
// plan, subscription status, the 7-day Enterprise trial and the past-due
// grace period — for people to read (REST, operator commands), and what an
// operator's change to a trial is (Change, ParseExtend; billing applies
// it to the account's billing record).
//
// It reads no rows: it sits below identity (which starts every account's
// trial of Length) and billing (which keeps the record), so both can use
// its statuses and rules.
//
// The MCP account gate itself is decided in Rego (rego/gate.rego) from the
// same account fields; Compute mirrors that rule, with the same reasons, so
// that what a person is shown is what the gate decides. Tests hold the two
// together.
package trial

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/deskwoot/deskwoot/policy"
	policies "github.com/deskwoot/deskwoot/rego"
)

// Length is the Enterprise trial every new account starts with: exactly
// 168 hours from signup.
const Length = 168 * time.Hour

// DefaultGracePeriod is how long a past-due Enterprise subscription keeps
// MCP, counted from when it first turned past_due (DESKWOOT_GRACE_PERIOD).
const DefaultGracePeriod = 168 * time.Hour

// Statuses an entitlement reports.
const (
	StatusTrialing = "trialing"
	StatusActive   = "active"
	StatusPastDue  = "past_due"
	StatusCanceled = "canceled"
	StatusExpired  = "expired"
)

// Entitlement is what an account may use now, and why.
type Entitlement struct {
	Plan string `json:"plan"`
	// Status is trialing, active, past_due, canceled or expired (a trial
	// whose end has passed).
	Status string `json:"status"`
	// MCPAllowed says whether the plan state lets the account use MCP. The
	// gate also needs an admin to have switched MCP on (MCPEnabled).
	MCPAllowed bool `json:"mcp_allowed"`
	// Reason explains the state in a sentence; when MCP is not allowed it
	// says why and what to do, in the gate's words.
	Reason      string     `json:"reason"`
	TrialEndsAt *time.Time `json:"trial_ends_at"`
	GraceEndsAt *time.Time `json:"grace_ends_at"`
	MCPEnabled  bool       `json:"mcp_enabled"`
}

// Compute derives the entitlement from the account's plan state and the
// clock, following rego/gate.rego: an Enterprise trial that has not ended
// (whatever plan was picked), an active Enterprise subscription, or a
// past-due Enterprise subscription inside its grace period allow MCP;
// anything else does not.
func Compute(a policy.Account, now time.Time) Entitlement {
	e := Entitlement{Plan: a.Plan, Status: a.Status, TrialEndsAt: a.TrialEndsAt, GraceEndsAt: a.GraceEndsAt, MCPEnabled: a.MCPEnabled}
	switch {
	case !policies.Plans().Valid(a.Plan):
		e.Reason = "account plan is missing or unknown; access denied"
	case a.Status == StatusTrialing || a.Status == StatusExpired:
		switch {
		case a.TrialEndsAt == nil:
			e.Status = StatusExpired
			e.Reason = "the account's trial end is missing; access denied"
		case a.Status == StatusTrialing && now.Before(*a.TrialEndsAt):
			e.MCPAllowed = true
			e.Reason = fmt.Sprintf("the Enterprise trial runs until %s", date(*a.TrialEndsAt))
		default:
			e.Status = StatusExpired
			e.Reason = fmt.Sprintf("the Enterprise trial ended on %s; upgrade to Enterprise to use MCP", date(*a.TrialEndsAt))
		}
	case a.Status == StatusCanceled:
		e.Reason = "the subscription was canceled; upgrade to Enterprise to use MCP"
	case a.Status != StatusActive && a.Status != StatusPastDue:
		e.Reason = "account status is missing or unknown; access denied"
	case a.Plan != policies.Plans().WithMCP:
		e.Reason = fmt.Sprintf("the %s plan does not include MCP; upgrade to Enterprise to use MCP", a.Plan)
	case a.Status == StatusActive:
		e.MCPAllowed = true
		e.Reason = "active Enterprise subscription"
	case a.GraceEndsAt == nil:
		e.Reason = "payment is past due; update the payment method to use MCP"
	case now.Before(*a.GraceEndsAt):
		e.MCPAllowed = true
		e.Reason = fmt.Sprintf("payment is past due; MCP stays available until the grace period ends on %s; update the payment method", date(*a.GraceEndsAt))
	default:
		e.Reason = fmt.Sprintf("payment is past due and the grace period ended on %s; update the payment method to use MCP", date(*a.GraceEndsAt))
	}
	return e
}

// date is how the gate writes a date: YYYY-MM-DD in UTC.
func date(t time.Time) string { return t.UTC().Format("2006-01-02") }

// Change is an operator's change to a trial: a new end, or an extension
// from the later of now and the current end. Exactly one is set.
type Change struct {
	EndsAt *time.Time
	Extend time.Duration
}

// ParseExtend reads an extension such as "7d", "36h" or "1d12h".
func ParseExtend(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var total time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		days, err := strconv.Atoi(s[:i])
		if err != nil || days < 0 || days > 3650 {
			return 0, fmt.Errorf("extension %q: days must be a whole number from 0 to 3650, as in 7d", s)
		}
		total = time.Duration(days) * 24 * time.Hour
		s = s[i+1:]
	}
	if s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("extension %q: write it like 7d, 36h or 1d12h", s)
		}
		total += d
	}
	if total <= 0 {
		return 0, errors.New("the extension must be positive, as in 7d")
	}
	return total, nil
}
