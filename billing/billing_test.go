package billing_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/billing"
	"github.com/deskwoot/deskwoot/billing/billingtest"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/tenancy"
	"github.com/deskwoot/deskwoot/trial"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const grace = 72 * time.Hour

func service(t *testing.T, mod ...func(*billing.Config)) *billing.Service {
	t.Helper()
	cfg := billing.Config{DB: dbtest.App(t), SecretKey: "sk_test_deskwoot", WebhookSecret: billingtest.WebhookSecret,
		APIBase: "http://127.0.0.1:1", Prices: billingtest.Prices, GracePeriod: grace, PublicURL: "https://desk.example.com",
		MaxNetworkRetries: new(int64)}
	for _, m := range mod {
		m(&cfg)
	}
	s, err := billing.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// deliver signs and delivers one event now.
func deliver(t *testing.T, s *billing.Service, payload []byte) billing.Outcome {
	t.Helper()
	out, err := s.Webhook(context.Background(), payload, billingtest.Sign(payload, billingtest.WebhookSecret, time.Time{}), time.Now())
	if err != nil {
		t.Fatalf("webhook: %v", err)
	}
	return out
}

func state(t *testing.T, acct int64) billing.Record {
	t.Helper()
	b, err := billing.RecordGet(context.Background(), dbtest.App(t), acct)
	if err != nil {
		t.Fatal(err)
	}
	b.UpdatedAt = nil // the wall clock of the last write
	return b
}

func eventRows(t *testing.T, acct int64) []billing.StripeEvent {
	t.Helper()
	evs, err := billing.StripeEventList(context.Background(), dbtest.App(t), acct)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func evID() string { return "evt_" + strings.ReplaceAll(dbtest.Unique("e"), "-", "") }

func subID() string { return "sub_" + strings.ReplaceAll(dbtest.Unique("s"), "-", "") }

// TestWebhookRejectsWhatDoesNotVerify: wrong secret, stale timestamp,
// tampered body, no signature and an unparsable body answer
// ErrInvalidEvent and change nothing.
func TestWebhookRejectsWhatDoesNotVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := service(t)
	a := dbtest.NewTenant(t)
	acct := a.Account.ID
	before := state(t, acct)
	good := billingtest.Event(evID(), billing.EventSubscriptionUpdated, time.Now(),
		billingtest.Subscription(subID(), "cus_x", "active", billingtest.Prices["enterprise"], acct, time.Now().Add(720*time.Hour)))
	tampered := []byte(strings.Replace(string(good), `"active"`, `"canceled"`, 1))
	garbage := []byte(`{"id": "evt_1", "type": `)
	cases := []struct {
		name, header string
		payload      []byte
	}{
		{"wrong secret", billingtest.Sign(good, "whsec_wrong", time.Time{}), good},
		{"stale timestamp", billingtest.Sign(good, billingtest.WebhookSecret, time.Now().Add(-10*time.Minute)), good},
		{"tampered body", billingtest.Sign(good, billingtest.WebhookSecret, time.Time{}), tampered},
		{"no signature", "", good},
		{"unparsable body", billingtest.Sign(garbage, billingtest.WebhookSecret, time.Time{}), garbage},
		{"unparsable object", "", nil},
	}
	// A verified event whose data.object is not an object.
	bad := []byte(fmt.Sprintf(`{"id":"%s","object":"event","type":"customer.subscription.updated","created":%d,"api_version":"2023-10-16","data":{"object":"nope"}}`, evID(), time.Now().Unix()))
	cases[len(cases)-1].payload, cases[len(cases)-1].header = bad, billingtest.Sign(bad, billingtest.WebhookSecret, time.Time{})
	for _, c := range cases {
		_, err := s.Webhook(ctx, c.payload, c.header, time.Now())
		if !errors.Is(err, billing.ErrInvalidEvent) {
			t.Errorf("%s: got %v, want ErrInvalidEvent", c.name, err)
		}
	}
	if after := state(t, acct); !reflect.DeepEqual(before, after) {
		t.Fatalf("state changed:\nbefore %+v\nafter  %+v", before, after)
	}
	if evs := eventRows(t, acct); len(evs) != 0 {
		t.Fatalf("events recorded: %+v", evs)
	}
	// Without a webhook secret the webhook is not configured.
	_, err := service(t, func(c *billing.Config) { c.WebhookSecret = "" }).Webhook(ctx, good, billingtest.Sign(good, billingtest.WebhookSecret, time.Time{}), time.Now())
	if !errors.Is(err, billing.ErrNotConfigured) {
		t.Fatalf("no webhook secret: got %v", err)
	}
}

// TestWebhookReplayAppliedOnce: the same event twice is applied once.
func TestWebhookReplayAppliedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := service(t)
	acct := dbtest.NewTenant(t).Account.ID
	ev := billingtest.Event(evID(), billing.EventSubscriptionUpdated, time.Now(),
		billingtest.Subscription(subID(), "cus_"+evID(), "active", billingtest.Prices["enterprise"], acct, time.Now().Add(720*time.Hour)))
	first := deliver(t, s, ev)
	if !first.Applied || first.Replay || first.AccountID != acct {
		t.Fatalf("first delivery: %+v", first)
	}
	after := state(t, acct)
	second := deliver(t, s, ev)
	if second.Applied || !second.Replay {
		t.Fatalf("replay: %+v", second)
	}
	if again := state(t, acct); !reflect.DeepEqual(after, again) {
		t.Fatalf("a replay changed the state:\n%+v\n%+v", after, again)
	}
	if evs := eventRows(t, acct); len(evs) != 1 || evs[0].Outcome != "applied" {
		t.Fatalf("events: %+v", evs)
	}
	var audited int
	dbtest.App(t).InTenant(ctx, acct, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'stripe.customer.subscription.updated'`).Scan(&audited)
	})
	if audited != 1 {
		t.Fatalf("%d audit rows for the event, want 1", audited)
	}
}

// TestWebhookOutOfOrder: updated delivered before created ends with the
// newer state; the older event is recorded and ignored.
func TestWebhookOutOfOrder(t *testing.T) {
	t.Parallel()
	s := service(t)
	acct := dbtest.NewTenant(t).Account.ID
	sub, cus := subID(), "cus_"+evID()
	t1 := time.Now().Add(-time.Minute).Truncate(time.Second)
	t2 := t1.Add(20 * time.Second)
	end := t1.Add(30 * 24 * time.Hour).Truncate(time.Second)
	created := billingtest.Event(evID(), billing.EventSubscriptionCreated, t1, billingtest.Subscription(sub, cus, "active", billingtest.Prices["business"], acct, end))
	updated := billingtest.Event(evID(), billing.EventSubscriptionUpdated, t2, billingtest.Subscription(sub, cus, "active", billingtest.Prices["enterprise"], acct, end))

	if out := deliver(t, s, updated); !out.Applied {
		t.Fatalf("updated: %+v", out)
	}
	out := deliver(t, s, created)
	if out.Applied || !strings.Contains(out.Reason, "older") {
		t.Fatalf("created after updated: %+v", out)
	}
	b := state(t, acct)
	if b.Plan != "enterprise" || b.Status != "active" || b.EventAt == nil || !b.EventAt.Equal(t2) {
		t.Fatalf("final state %+v; want the updated event's", b)
	}
	if b.CurrentPeriodEnd == nil || !b.CurrentPeriodEnd.Equal(end) || b.StripeSubscriptionID == nil || *b.StripeSubscriptionID != sub {
		t.Fatalf("period end %v, subscription %v", b.CurrentPeriodEnd, b.StripeSubscriptionID)
	}
	if e := trial.Compute(b.State(), time.Now()); !e.MCPAllowed {
		t.Fatalf("entitlement %+v", e)
	}
	if evs := eventRows(t, acct); len(evs) != 2 {
		t.Fatalf("events %+v", evs)
	}
}

// TestWebhookLifecycle: checkout links the customer, later events without
// metadata map through it, payment failure starts the grace period once,
// recovery clears it, business has no MCP, deletion cancels.
func TestWebhookLifecycle(t *testing.T) {
	t.Parallel()
	s := service(t)
	acct := dbtest.NewTenant(t).Account.ID
	sub, cus := subID(), "cus_"+evID()
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	end := t0.Add(30 * 24 * time.Hour)
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	out := deliver(t, s, billingtest.Event(evID(), billing.EventCheckoutCompleted, at(0), map[string]any{
		"id": "cs_test_1", "object": "checkout.session", "mode": "subscription", "client_reference_id": fmt.Sprint(acct),
		"customer": cus, "subscription": sub,
	}))
	if !out.Applied {
		t.Fatalf("checkout: %+v", out)
	}
	if b := state(t, acct); b.StripeCustomerID == nil || *b.StripeCustomerID != cus || b.Status != "trialing" {
		t.Fatalf("after checkout: %+v", b)
	}
	// No metadata: mapped by the linked customer.
	if out := deliver(t, s, billingtest.Event(evID(), billing.EventSubscriptionCreated, at(time.Second),
		billingtest.Subscription(sub, cus, "active", billingtest.Prices["enterprise"], 0, end))); !out.Applied || out.AccountID != acct {
		t.Fatalf("created: %+v", out)
	}
	// Payment fails: past_due, grace from the event's time.
	fail := func(d time.Duration) billing.Outcome {
		return deliver(t, s, billingtest.Event(evID(), billing.EventInvoicePaymentFail, at(d), map[string]any{
			"id": "in_" + evID(), "object": "invoice", "customer": cus, "subscription": sub,
		}))
	}
	if out := fail(time.Minute); !out.Applied {
		t.Fatalf("payment_failed: %+v", out)
	}
	b := state(t, acct)
	wantGrace := at(time.Minute).Add(grace)
	if b.Status != "past_due" || b.GraceEndsAt == nil || !b.GraceEndsAt.Equal(wantGrace) {
		t.Fatalf("after payment failure: status %s grace %v; want past_due until %v", b.Status, b.GraceEndsAt, wantGrace)
	}
	if e := trial.Compute(b.State(), at(time.Minute+grace-time.Second)); !e.MCPAllowed {
		t.Fatalf("inside grace: %+v", e)
	}
	if e := trial.Compute(b.State(), at(time.Minute+grace+time.Second)); e.MCPAllowed {
		t.Fatalf("after grace: %+v", e)
	}
	// A second failure, and the subscription turning past_due, keep the first grace.
	fail(2 * time.Minute)
	deliver(t, s, billingtest.Event(evID(), billing.EventSubscriptionUpdated, at(3*time.Minute),
		billingtest.Subscription(sub, cus, "past_due", billingtest.Prices["enterprise"], 0, end)))
	if b := state(t, acct); b.Status != "past_due" || !b.GraceEndsAt.Equal(wantGrace) {
		t.Fatalf("grace moved: %+v", b)
	}
	// Paid: active, grace cleared.
	deliver(t, s, billingtest.Event(evID(), billing.EventSubscriptionUpdated, at(4*time.Minute),
		billingtest.Subscription(sub, cus, "active", billingtest.Prices["enterprise"], 0, end)))
	if b := state(t, acct); b.Status != "active" || b.GraceEndsAt != nil || b.PastDueSince != nil {
		t.Fatalf("after recovery: %+v", b)
	}
	// Downgrade to business: no MCP.
	deliver(t, s, billingtest.Event(evID(), billing.EventSubscriptionUpdated, at(5*time.Minute),
		billingtest.Subscription(sub, cus, "active", billingtest.Prices["business"], 0, end)))
	if e := trial.Compute(state(t, acct).State(), time.Now()); e.MCPAllowed || e.Plan != "business" {
		t.Fatalf("business: %+v", e)
	}
	// An unknown price changes nothing.
	if out := deliver(t, s, billingtest.Event(evID(), billing.EventSubscriptionUpdated, at(6*time.Minute),
		billingtest.Subscription(sub, cus, "active", "price_unknown", 0, end))); out.Applied || !strings.Contains(out.Reason, "price_unknown") {
		t.Fatalf("unknown price: %+v", out)
	}
	// Deleting another (old) subscription does not cancel this one.
	if out := deliver(t, s, billingtest.Event(evID(), billing.EventSubscriptionDeleted, at(7*time.Minute),
		billingtest.Subscription("sub_old", cus, "canceled", billingtest.Prices["enterprise"], acct, end))); out.Applied {
		t.Fatalf("deleting another subscription: %+v", out)
	}
	// Deleted: canceled.
	deliver(t, s, billingtest.Event(evID(), billing.EventSubscriptionDeleted, at(8*time.Minute),
		billingtest.Subscription(sub, cus, "canceled", billingtest.Prices["business"], 0, end)))
	b = state(t, acct)
	if e := trial.Compute(b.State(), time.Now()); b.Status != "canceled" || e.MCPAllowed || e.Status != "canceled" {
		t.Fatalf("after deletion: %+v %+v", b, e)
	}
	// A payment failure on a canceled account changes nothing.
	if out := fail(9 * time.Minute); out.Applied {
		t.Fatalf("payment failure after cancel: %+v", out)
	}
}

// TestWebhookIgnores: unknown types, events of unknown accounts and
// customers, and other API versions' shapes.
func TestWebhookIgnores(t *testing.T) {
	t.Parallel()
	s := service(t)
	if out := deliver(t, s, billingtest.Event(evID(), "charge.succeeded", time.Now(), map[string]any{"id": "ch_1", "object": "charge"})); out.Applied || out.Reason != "event type not handled" {
		t.Fatalf("unknown type: %+v", out)
	}
	if out := deliver(t, s, billingtest.Event(evID(), billing.EventSubscriptionUpdated, time.Now(),
		billingtest.Subscription(subID(), "cus_nobody", "active", billingtest.Prices["enterprise"], 0, time.Now()))); out.Applied || out.AccountID != 0 {
		t.Fatalf("unknown customer: %+v", out)
	}
	if out := deliver(t, s, billingtest.Event(evID(), billing.EventSubscriptionUpdated, time.Now(),
		billingtest.Subscription(subID(), "cus_nobody", "active", billingtest.Prices["enterprise"], 1<<60, time.Now()))); out.Applied {
		t.Fatalf("unknown account: %+v", out)
	}
	// The 2023-10-16 shape: current_period_end on the subscription.
	acct := dbtest.NewTenant(t).Account.ID
	end := time.Now().Add(40 * 24 * time.Hour).Truncate(time.Second).UTC()
	obj := billingtest.Subscription(subID(), "cus_"+evID(), "trialing", billingtest.Prices["enterprise"], acct, time.Unix(0, 0))
	obj["current_period_end"] = end.Unix()
	if out := deliver(t, s, billingtest.Event(evID(), billing.EventSubscriptionCreated, time.Now(), obj)); !out.Applied {
		t.Fatalf("old shape: %+v", out)
	}
	if b := state(t, acct); b.Status != "active" || b.CurrentPeriodEnd == nil || !b.CurrentPeriodEnd.Equal(end) {
		t.Fatalf("old shape state: %+v", b)
	}
}

// TestCheckoutAndPortal runs against stripe-mock: the Checkout request
// carries the account, the plan's price and a fresh idempotency key per
// attempt; the portal needs a linked customer.
func TestCheckoutAndPortal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mock := billingtest.StripeMock(t)
	s := service(t, func(c *billing.Config) { c.APIBase = mock.URL })
	acct := dbtest.NewTenant(t).Account.ID

	for range 2 {
		u, err := s.Checkout(ctx, acct, "enterprise")
		if err != nil {
			t.Fatal(err)
		}
		if u == "" {
			t.Fatal("no Checkout URL")
		}
	}
	reqs := mock.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests to Stripe, want 2", len(reqs))
	}
	for _, r := range reqs {
		f := r.Form
		if r.Method != "POST" || r.Path != "/v1/checkout/sessions" {
			t.Fatalf("request %s %s", r.Method, r.Path)
		}
		for k, want := range map[string]string{
			"mode": "subscription", "client_reference_id": fmt.Sprint(acct),
			"line_items[0][price]": billingtest.Prices["enterprise"], "line_items[0][quantity]": "1",
			"subscription_data[metadata][account_id]": fmt.Sprint(acct), "metadata[account_id]": fmt.Sprint(acct),
			"success_url": "https://desk.example.com/billing?billing=success",
		} {
			if got := f.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		if r.Header.Get("Authorization") != "Bearer sk_test_deskwoot" || r.Header.Get("Idempotency-Key") == "" {
			t.Errorf("headers: auth %q, idempotency key %q", r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key"))
		}
	}
	if reqs[0].Header.Get("Idempotency-Key") == reqs[1].Header.Get("Idempotency-Key") {
		t.Fatal("two attempts share an idempotency key")
	}

	// Misconfiguration and bad input say what to do.
	if _, err := s.Checkout(ctx, acct, "platinum"); !errors.Is(err, tenancy.ErrInvalid) {
		t.Fatalf("unknown plan: %v", err)
	}
	noPrice := service(t, func(c *billing.Config) {
		c.APIBase = mock.URL
		c.Prices = map[string]string{"enterprise": "price_e"}
	})
	if _, err := noPrice.Checkout(ctx, acct, "business"); !errors.Is(err, billing.ErrNotConfigured) || !strings.Contains(err.Error(), "DESKWOOT_STRIPE_PRICE_BUSINESS") {
		t.Fatalf("plan without a price: %v", err)
	}
	noKey := service(t, func(c *billing.Config) { c.SecretKey = "" })
	if _, err := noKey.Checkout(ctx, acct, "enterprise"); !errors.Is(err, billing.ErrNotConfigured) || !strings.Contains(err.Error(), "STRIPE_SECRET_KEY") {
		t.Fatalf("no secret key: %v", err)
	}
	if _, err := billing.New(billing.Config{Prices: map[string]string{"enterprise": "p", "business": "p"}}); err == nil {
		t.Fatal("one price for two plans accepted")
	}
	unreachable := service(t) // points at a closed port
	if _, err := unreachable.Checkout(ctx, acct, "enterprise"); !errors.Is(err, billing.ErrStripe) {
		t.Fatalf("Stripe unreachable: %v", err)
	}

	// The portal needs the customer Checkout linked.
	if _, err := s.Portal(ctx, acct); !errors.Is(err, tenancy.ErrConflict) {
		t.Fatalf("portal without a customer: %v", err)
	}
	cus := "cus_" + evID()
	deliver(t, s, billingtest.Event(evID(), billing.EventCheckoutCompleted, time.Now(), map[string]any{
		"id": "cs_1", "object": "checkout.session", "client_reference_id": fmt.Sprint(acct), "customer": cus, "subscription": subID(),
	}))
	u, err := s.Portal(ctx, acct)
	if err != nil || u == "" {
		t.Fatalf("portal: %q, %v", u, err)
	}
	last := mock.Requests()[len(mock.Requests())-1]
	if last.Path != "/v1/billing_portal/sessions" || last.Form.Get("customer") != cus || last.Form.Get("return_url") != "https://desk.example.com/billing" {
		t.Fatalf("portal request %s %v", last.Path, last.Form)
	}
	// Checkout reuses the linked customer.
	if _, err := s.Checkout(ctx, acct, "business"); err != nil {
		t.Fatal(err)
	}
	last = mock.Requests()[len(mock.Requests())-1]
	if last.Form.Get("customer") != cus || last.Form.Get("line_items[0][price]") != billingtest.Prices["business"] {
		t.Fatalf("second checkout %v", last.Form)
	}
}
