// Package trial computes what an account is entitled to right now — its
// plan, subscription status, the 7-day Enterprise trial and the past-due
// grace period — for people to read (REST, operator commands), and lets
// operators extend or end a trial.
//
// The MCP account gate itself is decided in Rego (rego/gate.rego) from the
// same account fields; Compute mirrors that rule, with the same reasons, so
// that what a person is shown is what the gate decides. Tests hold the two
// together.
package trial

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/policy"
	policies "github.com/deskwoot/deskwoot/rego"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Length is the Enterprise trial every new account starts with: exactly
// 168 hours from signup.
const Length = identity.TrialLength

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

// ErrNotTrial is returned when the trial of an account that pays (active or
// past_due) is changed: its trial no longer decides anything.
var ErrNotTrial = errors.New("the account has a subscription")

// Set changes an account's trial end for an operator and audits it (actor
// kind operator) in the same transaction. A trial that is on, over or
// canceled becomes a trial again with the new end (an end in the past ends
// it now); an account with an active or past-due subscription is refused
// with ErrNotTrial. db may be the owner connection: the tenant is set for
// the transaction as for every other. lg, when given, is told to seal the
// new audit row.
func Set(ctx context.Context, db *tenancy.DB, lg *audit.Log, accountID int64, c Change, operator string, now time.Time) (identity.Billing, error) {
	if (c.EndsAt == nil) == (c.Extend == 0) {
		return identity.Billing{}, fault.Invalidf("", "give either a new end or an extension")
	}
	var b identity.Billing
	err := db.InTenant(ctx, accountID, func(tx pgx.Tx) error {
		var err error
		if b, err = identity.BillingLock(ctx, tx, accountID); err != nil {
			return err
		}
		if b.Status == StatusActive || b.Status == StatusPastDue {
			return fmt.Errorf("%w: account %d is %s on the %s plan; change the subscription in Stripe instead", ErrNotTrial, accountID, b.Status, b.Plan)
		}
		before := "none"
		if b.TrialEndsAt != nil {
			before = b.TrialEndsAt.UTC().Format(time.RFC3339)
		}
		end := c.EndsAt
		if end == nil {
			from := now
			if b.TrialEndsAt != nil && b.TrialEndsAt.After(now) {
				from = *b.TrialEndsAt
			}
			t := from.Add(c.Extend)
			end = &t
		}
		t := end.UTC().Truncate(time.Microsecond) // PostgreSQL's precision
		b.TrialEndsAt, b.Status = &t, StatusTrialing
		if err := identity.BillingSave(ctx, tx, b, now); err != nil {
			return err
		}
		if operator == "" {
			operator = "operator"
		}
		return audit.Insert(ctx, tx, accountID, audit.Entry{
			ActorKind: "operator", Action: "account.trial", Decision: "allow",
			Reasons: []string{fmt.Sprintf("trial end %s -> %s by %s", before, t.Format(time.RFC3339), operator)},
		})
	})
	if err == nil && lg != nil {
		lg.Touch(accountID)
	}
	return b, err
}

// AccountView is an account's plan state, Stripe link and entitlement, as
// operators see it.
type AccountView struct {
	identity.Billing
	Entitlement Entitlement `json:"entitlement"`
}

// View reads one account for an operator.
func View(ctx context.Context, db *tenancy.DB, accountID int64, now time.Time) (AccountView, error) {
	b, err := identity.BillingGet(ctx, db, accountID)
	if err != nil {
		return AccountView{}, err
	}
	return AccountView{Billing: b, Entitlement: Compute(b.State(), now)}, nil
}

// List reads every account for an operator, oldest first. It needs the
// owner connection (the account directory has no grant to the app role).
func List(ctx context.Context, db *tenancy.DB, now time.Time) ([]AccountView, error) {
	ids, err := identity.AccountDirectory(ctx, db)
	if err != nil {
		return nil, err
	}
	out := make([]AccountView, 0, len(ids))
	for _, id := range ids {
		v, err := View(ctx, db, id, now)
		if errors.Is(err, tenancy.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
