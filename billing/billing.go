// Package billing connects accounts to Stripe: Checkout sessions to
// upgrade, customer portal sessions to change or cancel, and the webhook
// that keeps each account's plan and subscription state (each event applied
// once, never an older event over newer state).
//
// It calls stripe-go's resource packages for the two APIs it uses
// (checkout/session, billingportal/session), each a Client value with its
// own key and backend (no package globals), so the API base URL can point at
// stripe-mock. It does not use stripe-go/v76/client, which compiles every
// one of Stripe's APIs into the binary. What the state
// means for MCP is decided elsewhere: rego/gate.rego for the gate, package
// trial for what people are shown.
//
// The billing record (record.go: the plan and Stripe columns of accounts,
// the Stripe events applied, the customer look-up) is this package's own:
// the webhook and the operators' trial changes (operator.go) are its only
// writers. Identity creates an account with its trial and reads the plan
// state with it; it never changes the record afterwards.
package billing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	portalsession "github.com/stripe/stripe-go/v76/billingportal/session"
	checkoutsession "github.com/stripe/stripe-go/v76/checkout/session"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/fault"
	policies "github.com/deskwoot/deskwoot/rego"
	"github.com/deskwoot/deskwoot/tenancy"
	"github.com/deskwoot/deskwoot/trial"
)

// Config is what billing needs (environment: STRIPE_SECRET_KEY,
// STRIPE_WEBHOOK_SECRET, STRIPE_API_BASE, DESKWOOT_STRIPE_PRICE_*,
// DESKWOOT_GRACE_PERIOD, DESKWOOT_PUBLIC_URL).
type Config struct {
	DB    *tenancy.DB
	Audit *audit.Log // optional: told to seal the audit rows webhooks write

	// SecretKey is the Stripe API key; Checkout and the portal need it.
	SecretKey string
	// WebhookSecret verifies Stripe-Signature (whsec_…); the webhook needs it.
	WebhookSecret string
	// APIBase is the Stripe API base URL; empty means api.stripe.com. Point
	// it at stripe-mock for tests and local runs.
	APIBase string
	// Prices maps a plan (starter, business, enterprise) to its Stripe
	// price id. Webhooks read the plan back from the price.
	Prices map[string]string
	// GracePeriod is how long a past-due subscription keeps its features,
	// from when it first turned past_due; trial.DefaultGracePeriod when 0.
	GracePeriod time.Duration
	// PublicURL is where Checkout and the portal send the admin back to.
	PublicURL string
	// Tolerance is how old a signed webhook may be; 5 minutes when 0.
	Tolerance time.Duration
	// MaxNetworkRetries for Stripe API calls; 2 when nil.
	MaxNetworkRetries *int64
}

// Service talks to Stripe for one deployment. It is safe for concurrent use.
type Service struct {
	cfg         Config
	checkout    *checkoutsession.Client // nil without a secret key
	portal      *portalsession.Client
	planOfPrice map[string]string
}

// Errors the doors map to statuses.
var (
	// ErrNotConfigured: a setting this operation needs is missing (503).
	ErrNotConfigured = errors.New("billing is not configured")
	// ErrInvalidEvent: a webhook whose signature, timestamp or body does
	// not verify (400). Nothing was changed.
	ErrInvalidEvent = errors.New("invalid Stripe event")
	// ErrStripe: Stripe refused or could not be reached (502).
	ErrStripe = errors.New("stripe request failed")
)

// New builds the service. It refuses a price configured for an unknown
// plan or one price used for two plans, since the webhook could not tell
// the plan back from it.
func New(cfg Config) (*Service, error) {
	if cfg.GracePeriod == 0 {
		cfg.GracePeriod = trial.DefaultGracePeriod
	}
	if cfg.GracePeriod < 0 {
		return nil, fmt.Errorf("billing: the grace period must not be negative")
	}
	if cfg.Tolerance == 0 {
		cfg.Tolerance = 5 * time.Minute
	}
	s := &Service{cfg: cfg, planOfPrice: map[string]string{}}
	for plan, price := range cfg.Prices {
		if price == "" {
			continue
		}
		if !validPlan(plan) {
			return nil, fmt.Errorf("billing: price %s is configured for unknown plan %q", price, plan)
		}
		if other, dup := s.planOfPrice[price]; dup {
			return nil, fmt.Errorf("billing: price %s is configured for both %s and %s", price, other, plan)
		}
		s.planOfPrice[price] = plan
	}
	if cfg.SecretKey != "" {
		bc := &stripe.BackendConfig{
			MaxNetworkRetries: cfg.MaxNetworkRetries,
			LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelError},
		}
		if cfg.APIBase != "" {
			bc.URL = stripe.String(cfg.APIBase)
		}
		api := stripe.GetBackendWithConfig(stripe.APIBackend, bc)
		s.checkout = &checkoutsession.Client{B: api, Key: cfg.SecretKey}
		s.portal = &portalsession.Client{B: api, Key: cfg.SecretKey}
	}
	return s, nil
}

func validPlan(p string) bool { return policies.Plans().Valid(p) }

// Checkout starts a Checkout Session in subscription mode for the plan and
// returns its URL. The session carries the account as client_reference_id
// and as subscription metadata (account_id), so the webhook can map the
// subscription back; an account already linked to a Stripe customer reuses
// it. Each call is a new attempt with its own idempotency key, which
// stripe-go's retries of that call reuse.
func (s *Service) Checkout(ctx context.Context, accountID int64, plan string) (string, error) {
	if !validPlan(plan) {
		return "", fault.Invalidf("plan", "plan must be one of %s", strings.Join(policies.Plans().All, ", "))
	}
	if s.checkout == nil {
		return "", fmt.Errorf("%w: STRIPE_SECRET_KEY is not set", ErrNotConfigured)
	}
	price := s.cfg.Prices[plan]
	if price == "" {
		return "", fmt.Errorf("%w: the %s plan has no Stripe price; set DESKWOOT_STRIPE_PRICE_%s", ErrNotConfigured, plan, strings.ToUpper(plan))
	}
	b, err := RecordGet(ctx, s.cfg.DB, accountID)
	if err != nil {
		return "", err
	}
	acct := strconv.FormatInt(accountID, 10)
	p := &stripe.CheckoutSessionParams{
		Mode:              stripe.String(string(stripe.CheckoutSessionModeSubscription)),
		ClientReferenceID: stripe.String(acct),
		LineItems:         []*stripe.CheckoutSessionLineItemParams{{Price: stripe.String(price), Quantity: stripe.Int64(1)}},
		SubscriptionData: &stripe.CheckoutSessionSubscriptionDataParams{
			Metadata: map[string]string{"account_id": acct, "plan": plan},
		},
		SuccessURL: stripe.String(s.returnURL("billing=success")),
		CancelURL:  stripe.String(s.returnURL("billing=canceled")),
	}
	if b.StripeCustomerID != nil {
		p.Customer = b.StripeCustomerID
	}
	p.AddMetadata("account_id", acct)
	p.Context = ctx
	p.SetIdempotencyKey("deskwoot-checkout-" + acct + "-" + randomKey())
	sess, err := s.checkout.New(p)
	if err != nil {
		return "", stripeError("create the Checkout session", err)
	}
	return sess.URL, nil
}

// Portal opens a customer portal session for the account's Stripe customer
// and returns its URL. An account that never went through Checkout has no
// customer yet (ErrConflict).
func (s *Service) Portal(ctx context.Context, accountID int64) (string, error) {
	if s.portal == nil {
		return "", fmt.Errorf("%w: STRIPE_SECRET_KEY is not set", ErrNotConfigured)
	}
	b, err := RecordGet(ctx, s.cfg.DB, accountID)
	if err != nil {
		return "", err
	}
	if b.StripeCustomerID == nil {
		return "", fault.Conflictf("", "the account has no Stripe customer yet; upgrade through POST /api/v1/billing/checkout first")
	}
	p := &stripe.BillingPortalSessionParams{
		Customer:  b.StripeCustomerID,
		ReturnURL: stripe.String(s.returnURL("")),
	}
	p.Context = ctx
	sess, err := s.portal.New(p)
	if err != nil {
		return "", stripeError("create the portal session", err)
	}
	return sess.URL, nil
}

// returnURL is the console's billing page, where Checkout and the portal
// send the admin back to.
func (s *Service) returnURL(query string) string {
	u := strings.TrimRight(s.cfg.PublicURL, "/") + "/billing"
	if query != "" {
		u += "?" + query
	}
	return u
}

func stripeError(what string, err error) error {
	var se *stripe.Error
	if errors.As(err, &se) {
		slog.Error("stripe", "op", what, "status", se.HTTPStatusCode, "type", se.Type, "code", se.Code, "request_id", se.RequestID, "msg", se.Msg)
		return fmt.Errorf("%w: could not %s: %s", ErrStripe, what, se.Msg)
	}
	slog.Error("stripe", "op", what, "err", err)
	return fmt.Errorf("%w: could not %s; Stripe is unreachable, try again", ErrStripe, what)
}

func randomKey() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
