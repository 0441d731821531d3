package billing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/deskwoot/deskwoot/audit"
	policies "github.com/deskwoot/deskwoot/rego"
	"github.com/deskwoot/deskwoot/tenancy"
	"github.com/deskwoot/deskwoot/trial"
)

// Event types the webhook acts on; every other type is acknowledged and
// ignored.
const (
	EventCheckoutCompleted   = string(stripe.EventTypeCheckoutSessionCompleted)
	EventSubscriptionCreated = string(stripe.EventTypeCustomerSubscriptionCreated)
	EventSubscriptionUpdated = string(stripe.EventTypeCustomerSubscriptionUpdated)
	EventSubscriptionDeleted = string(stripe.EventTypeCustomerSubscriptionDeleted)
	EventInvoicePaymentFail  = string(stripe.EventTypeInvoicePaymentFailed)
)

// Outcome says what a verified webhook event did.
type Outcome struct {
	EventID   string `json:"event_id"`
	Type      string `json:"type"`
	AccountID int64  `json:"account_id,omitempty"`
	// Applied is true when the event changed the account's billing state.
	Applied bool `json:"applied"`
	// Replay is true when the event had been received before; nothing
	// changed.
	Replay bool `json:"replay,omitempty"`
	// Reason says why an event was ignored.
	Reason string `json:"reason,omitempty"`
}

// Webhook verifies a Stripe webhook delivery and applies it to its account.
//
// The signature (Stripe-Signature, with the webhook secret and a 5 minute
// timestamp tolerance) is checked first: a bad or stale signature or a body
// that is not an event is ErrInvalidEvent and changes nothing.
//
// The API version of the event is deliberately not checked
// (IgnoreAPIVersionMismatch). stripe-go v76 pins 2023-10-16, but the version
// of an event is the Stripe account's default or the endpoint's pinned
// version, which the operator controls in the dashboard, not this binary;
// refusing other versions would turn every delivery into a 400 (and Stripe
// would eventually disable the endpoint) the day the account is upgraded.
// We read only a handful of long-stable fields from the raw JSON ourselves,
// and accept both shapes where Stripe moved one (current_period_end on the
// subscription or its items; the invoice's subscription at the top level or
// under parent.subscription_details).
//
// Each event is recorded in its account in the same transaction as its
// effect, so a replay is acknowledged and ignored, and a failed apply is
// retried by Stripe. An event older (by Stripe's created time) than the
// newest one applied to the subscription state is recorded but changes
// nothing. Events that map to no account, and unknown types, are
// acknowledged and ignored.
func (s *Service) Webhook(ctx context.Context, payload []byte, signature string, now time.Time) (Outcome, error) {
	if s.cfg.WebhookSecret == "" {
		return Outcome{}, fmt.Errorf("%w: STRIPE_WEBHOOK_SECRET is not set", ErrNotConfigured)
	}
	ev, err := webhook.ConstructEventWithOptions(payload, signature, s.cfg.WebhookSecret, webhook.ConstructEventOptions{
		Tolerance:                s.cfg.Tolerance,
		IgnoreAPIVersionMismatch: true,
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	if ev.ID == "" || ev.Data == nil || len(ev.Data.Raw) == 0 || ev.Created <= 0 {
		return Outcome{}, fmt.Errorf("%w: the event has no id, created time or data.object", ErrInvalidEvent)
	}
	out := Outcome{EventID: ev.ID, Type: string(ev.Type)}
	var ch change
	switch out.Type {
	case EventCheckoutCompleted:
		ch, err = s.checkoutChange(ctx, ev.Data.Raw)
	case EventSubscriptionCreated, EventSubscriptionUpdated, EventSubscriptionDeleted:
		ch, err = s.subscriptionChange(ctx, ev.Data.Raw, out.Type == EventSubscriptionDeleted)
	case EventInvoicePaymentFail:
		ch, err = s.invoiceChange(ctx, ev.Data.Raw)
	default:
		out.Reason = "event type not handled"
		return out, nil
	}
	if errors.Is(err, errUnparsable) {
		return Outcome{}, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	if errors.Is(err, tenancy.ErrNotFound) || (err == nil && ch.account == 0) {
		out.Reason = "the event maps to no account"
		slog.InfoContext(ctx, "stripe event ignored", "event", ev.ID, "type", ev.Type, "reason", out.Reason)
		return out, nil
	}
	if err != nil {
		return Outcome{}, err
	}
	out.AccountID = ch.account
	err = s.apply(ctx, &out, ch, time.Unix(ev.Created, 0).UTC(), now)
	if errors.Is(err, tenancy.ErrNotFound) {
		out.Reason = fmt.Sprintf("account %d not found", ch.account)
		return out, nil
	}
	return out, err
}

// change is what one event asks of its account.
type change struct {
	account        int64
	kind           string // link, subscription, payment_failed
	customer       string
	subscription   string
	status         string // our status; "" = leave it
	plan           string // "" = leave it (or unknown price, see price)
	price          string // the subscription's first price, for messages
	periodEnd      *time.Time
	stripeStatus   string
	ignoreBecause  string // the event is recorded but changes nothing
	subscriptionOf string // the invoice's subscription, if any
}

var errUnparsable = errors.New("unparsable data.object")

// expandable is a Stripe reference: an id string or an expanded object.
type expandable string

func (e *expandable) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] == 'n' {
		*e = ""
		return nil
	}
	if b[0] == '"' {
		var s string
		err := json.Unmarshal(b, &s)
		*e = expandable(s)
		return err
	}
	var o struct {
		ID string `json:"id"`
	}
	err := json.Unmarshal(b, &o)
	*e = expandable(o.ID)
	return err
}

type checkoutObject struct {
	ClientReferenceID string            `json:"client_reference_id"`
	Customer          expandable        `json:"customer"`
	Subscription      expandable        `json:"subscription"`
	Metadata          map[string]string `json:"metadata"`
}

type subscriptionObject struct {
	ID               string            `json:"id"`
	Customer         expandable        `json:"customer"`
	Status           string            `json:"status"`
	Metadata         map[string]string `json:"metadata"`
	CurrentPeriodEnd int64             `json:"current_period_end"`
	Items            struct {
		Data []struct {
			Price struct {
				ID string `json:"id"`
			} `json:"price"`
			CurrentPeriodEnd int64 `json:"current_period_end"`
		} `json:"data"`
	} `json:"items"`
}

type invoiceObject struct {
	Customer            expandable `json:"customer"`
	Subscription        expandable `json:"subscription"`
	SubscriptionDetails *struct {
		Metadata map[string]string `json:"metadata"`
	} `json:"subscription_details"`
	Parent *struct {
		SubscriptionDetails *struct {
			Subscription expandable        `json:"subscription"`
			Metadata     map[string]string `json:"metadata"`
		} `json:"subscription_details"`
	} `json:"parent"`
}

func decodeObject(raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: %v", errUnparsable, err)
	}
	return nil
}

// accountFrom reads an account id from metadata or a client reference.
func accountFrom(s string) int64 {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0
	}
	return id
}

// customerAccount maps a linked Stripe customer to its account (0 when it
// is not linked).
func (s *Service) customerAccount(ctx context.Context, customer string) (int64, error) {
	if customer == "" {
		return 0, nil
	}
	id, err := CustomerAccount(ctx, s.cfg.DB, customer)
	if errors.Is(err, tenancy.ErrNotFound) {
		return 0, nil
	}
	return id, err
}

func (s *Service) checkoutChange(ctx context.Context, raw json.RawMessage) (change, error) {
	var o checkoutObject
	if err := decodeObject(raw, &o); err != nil {
		return change{}, err
	}
	ch := change{kind: "link", customer: string(o.Customer), subscription: string(o.Subscription)}
	ch.account = accountFrom(o.ClientReferenceID)
	if ch.account == 0 {
		ch.account = accountFrom(o.Metadata["account_id"])
	}
	if ch.account == 0 {
		var err error
		ch.account, err = s.customerAccount(ctx, ch.customer)
		return ch, err
	}
	return ch, nil
}

func (s *Service) subscriptionChange(ctx context.Context, raw json.RawMessage, deleted bool) (change, error) {
	var o subscriptionObject
	if err := decodeObject(raw, &o); err != nil {
		return change{}, err
	}
	if o.ID == "" {
		return change{}, fmt.Errorf("%w: the subscription has no id", errUnparsable)
	}
	ch := change{kind: "subscription", customer: string(o.Customer), subscription: o.ID, stripeStatus: o.Status}
	ch.account = accountFrom(o.Metadata["account_id"])
	if ch.account == 0 {
		var err error
		if ch.account, err = s.customerAccount(ctx, ch.customer); err != nil {
			return ch, err
		}
	}
	// The period end sits on the subscription up to API version
	// 2025-03-31.basil and on each item from then on.
	end := o.CurrentPeriodEnd
	rank := 0
	for _, it := range o.Items.Data {
		end = max(end, it.CurrentPeriodEnd)
		if ch.price == "" {
			ch.price = it.Price.ID
		}
		if p, ok := s.planOfPrice[it.Price.ID]; ok && planRank(p) > rank {
			ch.plan, rank, ch.price = p, planRank(p), it.Price.ID
		}
	}
	if end > 0 {
		t := time.Unix(end, 0).UTC()
		ch.periodEnd = &t
	}
	if deleted {
		ch.status = trial.StatusCanceled
	} else {
		ch.status = statusOf(o.Status)
	}
	switch {
	case ch.status == "":
		ch.ignoreBecause = fmt.Sprintf("subscription status %q does not change the plan", o.Status)
	case ch.plan == "" && ch.status != trial.StatusCanceled:
		ch.ignoreBecause = fmt.Sprintf("price %q is not a configured plan price (DESKWOOT_STRIPE_PRICE_*)", ch.price)
		slog.ErrorContext(ctx, "stripe subscription with an unknown price", "subscription", o.ID, "price", ch.price)
	}
	return ch, nil
}

func (s *Service) invoiceChange(ctx context.Context, raw json.RawMessage) (change, error) {
	var o invoiceObject
	if err := decodeObject(raw, &o); err != nil {
		return change{}, err
	}
	ch := change{kind: "payment_failed", customer: string(o.Customer), subscriptionOf: string(o.Subscription), status: trial.StatusPastDue}
	var meta map[string]string
	if o.SubscriptionDetails != nil {
		meta = o.SubscriptionDetails.Metadata
	}
	if o.Parent != nil && o.Parent.SubscriptionDetails != nil {
		if ch.subscriptionOf == "" {
			ch.subscriptionOf = string(o.Parent.SubscriptionDetails.Subscription)
		}
		if meta == nil {
			meta = o.Parent.SubscriptionDetails.Metadata
		}
	}
	var err error
	if ch.account, err = s.customerAccount(ctx, ch.customer); err != nil || ch.account != 0 {
		return ch, err
	}
	ch.account = accountFrom(meta["account_id"])
	return ch, nil
}

// statusOf maps a Stripe subscription status to the account's. Stripe's
// own trialing (a paid plan with a Stripe trial period) counts as active;
// unpaid stays past_due, so the grace period that began when payment first
// failed decides; incomplete changes nothing (the first payment has not
// gone through, and an ongoing Deskwoot trial must not end for it).
func statusOf(s string) string {
	switch s {
	case "active", "trialing":
		return trial.StatusActive
	case "past_due", "unpaid":
		return trial.StatusPastDue
	case "canceled", "incomplete_expired", "paused":
		return trial.StatusCanceled
	}
	return ""
}

func planRank(p string) int { return policies.Plans().Rank(p) }

// apply records the event in its account and applies the change, in one
// transaction with the account row locked.
func (s *Service) apply(ctx context.Context, out *Outcome, ch change, created, now time.Time) error {
	err := s.cfg.DB.InTenant(ctx, ch.account, func(tx pgx.Tx) error {
		b, err := RecordLock(ctx, tx, ch.account)
		if err != nil {
			return err
		}
		claimed, err := StripeEventClaim(ctx, tx, ch.account, StripeEvent{ID: out.EventID, Type: out.Type, Created: created, Outcome: "pending"})
		if err != nil {
			return err
		}
		if !claimed {
			out.Replay, out.Reason = true, "event already received"
			return nil
		}
		before := b
		out.Reason = s.decide(&b, ch, created)
		out.Applied = out.Reason == ""
		outcome := "applied"
		if !out.Applied {
			outcome = "ignored: " + out.Reason
		}
		if err := StripeEventOutcome(ctx, tx, ch.account, out.EventID, outcome); err != nil {
			return err
		}
		if !out.Applied {
			return nil
		}
		if err := RecordSave(ctx, tx, b, now); err != nil {
			return err
		}
		return audit.Insert(ctx, tx, ch.account, audit.Entry{
			ActorKind: "system", Action: "stripe." + out.Type, Decision: "allow",
			Reasons: []string{fmt.Sprintf("event %s: plan %s -> %s, status %s -> %s", out.EventID, before.Plan, b.Plan, before.Status, b.Status)},
		})
	})
	if err == nil && out.Applied && s.cfg.Audit != nil {
		s.cfg.Audit.Touch(ch.account)
	}
	if err == nil && !out.Applied && !out.Replay {
		slog.InfoContext(ctx, "stripe event ignored", "event", out.EventID, "type", out.Type, "account", ch.account, "reason", out.Reason)
	}
	return err
}

// decide applies ch to b and returns "" or why the event changes nothing.
func (s *Service) decide(b *Record, ch change, created time.Time) string {
	if ch.ignoreBecause != "" {
		return ch.ignoreBecause
	}
	if ch.kind == "link" {
		// Linking is not state: it does not take part in ordering.
		changed := false
		if ch.customer != "" && b.StripeCustomerID == nil {
			b.StripeCustomerID, changed = &ch.customer, true
		}
		if ch.subscription != "" && (b.StripeSubscriptionID == nil || *b.StripeSubscriptionID != ch.subscription) {
			b.StripeSubscriptionID, changed = &ch.subscription, true
		}
		if !changed {
			return "the account is already linked"
		}
		return ""
	}
	if b.EventAt != nil && created.Before(*b.EventAt) {
		return fmt.Sprintf("older than the state already applied (event of %s, state of %s)",
			created.Format(time.RFC3339), b.EventAt.UTC().Format(time.RFC3339))
	}
	switch ch.kind {
	case "subscription":
		if b.StripeSubscriptionID != nil && *b.StripeSubscriptionID != ch.subscription && ch.status == trial.StatusCanceled {
			return fmt.Sprintf("subscription %s is not the account's current subscription %s", ch.subscription, *b.StripeSubscriptionID)
		}
		b.StripeSubscriptionID = &ch.subscription
		if ch.plan != "" {
			b.Plan = ch.plan
		}
		if ch.periodEnd != nil {
			b.CurrentPeriodEnd = ch.periodEnd
		}
	case "payment_failed":
		if b.Status != trial.StatusActive && b.Status != trial.StatusPastDue {
			return fmt.Sprintf("the account is %s, not on a paid subscription", b.Status)
		}
		if ch.subscriptionOf != "" && b.StripeSubscriptionID != nil && *b.StripeSubscriptionID != ch.subscriptionOf {
			return fmt.Sprintf("the invoice is for subscription %s, not the account's current %s", ch.subscriptionOf, *b.StripeSubscriptionID)
		}
	}
	if b.StripeCustomerID == nil && ch.customer != "" {
		b.StripeCustomerID = &ch.customer
	}
	b.Status = ch.status
	switch ch.status {
	case trial.StatusPastDue:
		// Grace starts when the subscription first turns past_due, once.
		if b.PastDueSince == nil {
			since := created
			grace := since.Add(s.cfg.GracePeriod)
			b.PastDueSince, b.GraceEndsAt = &since, &grace
		}
	default:
		b.PastDueSince, b.GraceEndsAt = nil, nil
	}
	b.EventAt = &created
	return ""
}
