package console

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/deskwoot/deskwoot/billing"
	"github.com/deskwoot/deskwoot/dbtest"
)

// fakeStripe answers Checkout and portal session creation the way Stripe
// does (the fields stripe-go reads) and keeps the forms it was sent.
type fakeStripe struct {
	*httptest.Server
	mu    sync.Mutex
	forms []url.Values
}

func newFakeStripe(t *testing.T) *fakeStripe {
	f := &fakeStripe{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		f.mu.Lock()
		f.forms = append(f.forms, r.PostForm)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/checkout/sessions":
			json.NewEncoder(w).Encode(map[string]any{"id": "cs_test_1", "object": "checkout.session", "url": "https://checkout.stripe.test/c/pay/cs_test_1"})
		case "/v1/billing_portal/sessions":
			json.NewEncoder(w).Encode(map[string]any{"id": "bps_1", "object": "billing_portal.session", "url": "https://billing.stripe.test/p/session/bps_1"})
		default:
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"type": "invalid_request_error", "message": "no such path"}})
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func TestBillingWithoutStripeSaysSo(t *testing.T) {
	t.Parallel()
	c, srv := testConsole(t, nil)
	b, _ := signUp(t, srv)
	p, _ := accountOf(t, c, b)
	pg := wantStatus(t, b.get("/billing"), http.StatusOK)
	pg.has(t, "Plan and billing", "enterprise", "trialing", "Billing is not configured on this server")
	pg.lacks(t, ">Upgrade</button>", ">Manage billing</button>")
	wantStatus(t, b.post("/billing/checkout", url.Values{"plan": {"enterprise"}}), http.StatusServiceUnavailable).has(t, "Billing is not configured")
	wantStatus(t, b.post("/billing/portal", nil), http.StatusServiceUnavailable)

	ag := newAgent(t, srv, b, p.AccountID)
	wantStatus(t, ag.get("/billing"), http.StatusForbidden)
	wantStatus(t, ag.post("/billing/checkout", url.Values{"plan": {"enterprise"}}), http.StatusForbidden)
	wantRedirect(t, newBrowser(t, srv).get("/billing"), "/signin?next=%2Fbilling")
}

func TestBillingUpgradeGoesToCheckout(t *testing.T) {
	t.Parallel()
	stripe := newFakeStripe(t)
	zero := int64(0)
	svc, err := billing.New(billing.Config{DB: dbtest.App(t), SecretKey: "sk_test_console", APIBase: stripe.URL,
		Prices: map[string]string{"enterprise": "price_ent"}, PublicURL: "https://desk.example.com", MaxNetworkRetries: &zero})
	if err != nil {
		t.Fatal(err)
	}
	c, srv := testConsole(t, func(c *Console) { c.cfg.Billing = svc })
	b, _ := signUp(t, srv)
	p, _ := accountOf(t, c, b)
	wantStatus(t, b.get("/billing"), http.StatusOK).has(t, "Upgrade", "Manage billing")

	wantRedirect(t, b.post("/billing/checkout", url.Values{"plan": {"enterprise"}}), "https://checkout.stripe.test/c/pay/cs_test_1")
	stripe.mu.Lock()
	form := stripe.forms[len(stripe.forms)-1]
	stripe.mu.Unlock()
	if form.Get("success_url") != "https://desk.example.com/billing?billing=success" || form.Get("client_reference_id") == "" || form.Get("line_items[0][price]") != "price_ent" {
		t.Fatalf("checkout request %v", form)
	}
	// A plan without a price, and an unknown plan, come back on the page.
	pg := wantStatus(t, b.post("/billing/checkout", url.Values{"plan": {"business"}}), http.StatusServiceUnavailable)
	pg.has(t, "DESKWOOT_STRIPE_PRICE_BUSINESS")
	pg = wantStatus(t, b.post("/billing/checkout", url.Values{"plan": {"platinum"}}), http.StatusBadRequest)
	if e := pg.fieldError("plan"); !strings.Contains(e, "starter, business, enterprise") {
		t.Fatalf("unknown plan: %q", e)
	}
	// No Stripe customer yet: Manage billing says what to do first.
	wantStatus(t, b.post("/billing/portal", nil), http.StatusConflict).has(t, "upgrade first")
	wantStatus(t, b.get("/billing?billing=success"), http.StatusOK).has(t, "Stripe confirms the payment")
	_ = p
}
