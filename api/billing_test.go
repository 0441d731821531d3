package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/deskwoot/deskwoot/billing"
	"github.com/deskwoot/deskwoot/billing/billingtest"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/server"
	"github.com/deskwoot/deskwoot/tenancy"
	"github.com/deskwoot/deskwoot/trial"
)

// billingServer builds a whole server with Stripe configured (the API base
// at stripeBase) and serves it over real HTTP.
func billingServer(t *testing.T, stripeBase string) string {
	t.Helper()
	app, err := server.Build(context.Background(), server.Config{
		AppDatabaseURL: dbtest.AppURL(), PublicURL: "http://127.0.0.1",
		StripeSecretKey: "sk_test_deskwoot", StripeWebhookSecret: billingtest.WebhookSecret, StripeAPIBase: stripeBase,
		StripePrices: billingtest.Prices,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler)
	t.Cleanup(srv.Close)
	return srv.URL
}

// do sends one request to base.
func do(t *testing.T, base, method, path string, header map[string]string, body []byte) resp {
	t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := resp{Status: res.StatusCode, Header: res.Header, Raw: raw}
	json.Unmarshal(raw, &r.Body)
	return r
}

func doJSON(t *testing.T, base, method, path, token string, body any) resp {
	t.Helper()
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	h := map[string]string{}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	return do(t, base, method, path, h, raw)
}

// postEvent signs an event and posts it to the webhook.
func postEvent(t *testing.T, base string, payload []byte) resp {
	t.Helper()
	return do(t, base, "POST", "/api/v1/stripe/webhook", map[string]string{"Stripe-Signature": billingtest.Sign(payload, billingtest.WebhookSecret, time.Time{})}, payload)
}

type bearerRT struct{ token string }

func (b bearerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// mcpWorks connects the official MCP Go SDK client, lists the tools and
// calls one.
func mcpWorks(t *testing.T, base, token string) {
	t.Helper()
	ctx := context.Background()
	client := sdk.NewClient(&sdk.Implementation{Name: "deskwoot-billing-test", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: base + "/api/mcp", HTTPClient: &http.Client{Transport: bearerRT{token}}}, nil)
	if err != nil {
		t.Fatalf("MCP connect: %v", err)
	}
	defer cs.Close()
	lt, err := cs.ListTools(ctx, nil)
	if err != nil || len(lt.Tools) == 0 {
		t.Fatalf("tools/list: %v %+v", err, lt)
	}
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "list_inboxes", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("list_inboxes: %v %+v", err, res)
	}
}

// mcpGated posts tools/list and expects the account gate's 403 with a
// JSON-RPC error -32003 whose message contains each of want.
func mcpGated(t *testing.T, base, token string, want ...string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": map[string]any{}})
	r := do(t, base, "POST", "/api/mcp", map[string]string{
		"Authorization": "Bearer " + token, "Accept": "application/json, text/event-stream", "Mcp-Protocol-Version": "2025-11-25",
	}, body)
	if r.Status != http.StatusForbidden {
		t.Fatalf("tools/list: HTTP %d, want 403; %s", r.Status, r.Raw)
	}
	e, _ := r.Body["error"].(obj)
	msg, _ := e["message"].(string)
	if code, _ := e["code"].(float64); code != -32003 {
		t.Fatalf("JSON-RPC error %v, want -32003; %s", e["code"], r.Raw)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Fatalf("gate message %q does not say %q", msg, w)
		}
	}
	// The official client is refused too.
	ctx := context.Background()
	client := sdk.NewClient(&sdk.Implementation{Name: "deskwoot-billing-test", Version: "1"}, nil)
	if cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: base + "/api/mcp", HTTPClient: &http.Client{Transport: bearerRT{token}}}, nil); err == nil {
		cs.Close()
		t.Fatal("the MCP client connected through a closed gate")
	}
}

func entitlementOf(t *testing.T, base, token string) obj {
	t.Helper()
	b := want(t, doJSON(t, base, "GET", "/api/v1/account", token, nil), 200)
	e, ok := b["entitlement"].(obj)
	if !ok {
		t.Fatalf("no entitlement in %v", b)
	}
	return e
}

// TestBillingEndToEnd: signup → MCP works on the trial → the operator ends
// the trial → 403 naming the date → a signed active Enterprise
// subscription → MCP works → the subscription is deleted → 403.
func TestBillingEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := billingServer(t, "http://127.0.0.1:1")

	email := uniqueEmail()
	b := want(t, doJSON(t, base, "POST", "/api/v1/signup", "", obj{"account_name": "Billing " + email, "email": email, "password": "correct horse battery"}), 201)
	admin := str(t, b["api_token"])
	acct := id(t, b["account"].(obj)["id"])
	e, ok := b["entitlement"].(obj)
	if !ok || e["plan"] != "enterprise" || e["status"] != "trialing" || e["mcp_allowed"] != true || e["trial_ends_at"] == nil {
		t.Fatalf("signup entitlement: %v", b["entitlement"])
	}
	want(t, doJSON(t, base, "PUT", "/api/v1/settings/mcp", admin, obj{"enabled": true}), 200)
	want(t, doJSON(t, base, "POST", "/api/v1/inboxes", admin, obj{"name": "Support", "channel": "api", "settings": obj{}}), 201)
	tok := str(t, want(t, doJSON(t, base, "POST", "/api/v1/mcp/tokens", admin, obj{"name": "bot", "preset": "read_only"}), 201)["token"])

	// The trial: MCP works.
	mcpWorks(t, base, tok)

	// The operator ends the trial (the function `deskwoot accounts trial
	// --ends-at` calls, over the owner connection).
	owner, err := tenancy.Open(ctx, dbtest.OwnerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	ended := time.Now().Add(-26 * time.Hour).UTC()
	if _, err := billing.TrialSet(ctx, owner, nil, acct, trial.Change{EndsAt: &ended}, "e2e", time.Now()); err != nil {
		t.Fatal(err)
	}
	mcpGated(t, base, tok, "trial ended on "+ended.Format("2006-01-02"), "upgrade to Enterprise")
	if e := entitlementOf(t, base, admin); e["mcp_allowed"] != false || e["status"] != "expired" {
		t.Fatalf("entitlement after the trial: %v", e)
	}

	// Stripe: an active Enterprise subscription.
	sub, cus := "sub_e2e_"+fmt.Sprint(acct), "cus_e2e_"+fmt.Sprint(acct)
	periodEnd := time.Now().Add(30 * 24 * time.Hour)
	updated := billingtest.Event("evt_e2e_upd_"+fmt.Sprint(acct), billing.EventSubscriptionUpdated, time.Now(),
		billingtest.Subscription(sub, cus, "active", billingtest.Prices["enterprise"], acct, periodEnd))
	r := want(t, postEvent(t, base, updated), 200)
	if ev := r["event"].(obj); ev["applied"] != true {
		t.Fatalf("subscription.updated not applied: %v", r)
	}
	mcpWorks(t, base, tok)
	if e := entitlementOf(t, base, admin); e["mcp_allowed"] != true || e["status"] != "active" || e["plan"] != "enterprise" {
		t.Fatalf("entitlement when active: %v", e)
	}
	// A replay is acknowledged and ignored.
	if r := want(t, postEvent(t, base, updated), 200); r["event"].(obj)["replay"] != true {
		t.Fatalf("replay: %v", r)
	}

	// Deleted: the gate closes again; tokens are kept.
	deleted := billingtest.Event("evt_e2e_del_"+fmt.Sprint(acct), billing.EventSubscriptionDeleted, time.Now().Add(time.Second),
		billingtest.Subscription(sub, cus, "canceled", billingtest.Prices["enterprise"], acct, periodEnd))
	want(t, postEvent(t, base, deleted), 200)
	mcpGated(t, base, tok, "canceled", "upgrade to Enterprise")
	if e := entitlementOf(t, base, admin); e["mcp_allowed"] != false || e["status"] != "canceled" {
		t.Fatalf("entitlement when canceled: %v", e)
	}
}

// TestBillingWebhookHTTP: what does not verify answers 400 and changes
// nothing; unknown types answer 200.
func TestBillingWebhookHTTP(t *testing.T) {
	t.Parallel()
	base := billingServer(t, "http://127.0.0.1:1")
	a := signup(t)
	before := entitlementOf(t, base, a.Token)
	ev := billingtest.Event("evt_http_"+fmt.Sprint(a.AccountID), billing.EventSubscriptionUpdated, time.Now(),
		billingtest.Subscription("sub_http", "cus_http", "active", billingtest.Prices["business"], a.AccountID, time.Now()))
	for name, header := range map[string]string{
		"wrong secret":    billingtest.Sign(ev, "whsec_other", time.Time{}),
		"stale timestamp": billingtest.Sign(ev, billingtest.WebhookSecret, time.Now().Add(-time.Hour)),
		"none":            "",
	} {
		r := do(t, base, "POST", "/api/v1/stripe/webhook", map[string]string{"Stripe-Signature": header}, ev)
		if r.Status != 400 {
			t.Errorf("%s: HTTP %d, want 400: %s", name, r.Status, r.Raw)
		}
	}
	wantErr(t, do(t, base, "POST", "/api/v1/stripe/webhook", map[string]string{"Stripe-Signature": billingtest.Sign(ev, billingtest.WebhookSecret, time.Time{})},
		bytes.Replace(ev, []byte("active"), []byte("paused"), 1)), 400, "bad_request")
	if after := entitlementOf(t, base, a.Token); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("entitlement changed: %v -> %v", before, after)
	}
	r := want(t, postEvent(t, base, billingtest.Event("evt_other_"+fmt.Sprint(a.AccountID), "customer.created", time.Now(), obj{"id": "cus_1", "object": "customer"})), 200)
	if r["event"].(obj)["applied"] != false {
		t.Fatalf("unknown type: %v", r)
	}
}

// TestBillingNotConfigured: without Stripe settings the server runs and the
// billing endpoints answer 503.
func TestBillingNotConfigured(t *testing.T) {
	t.Parallel()
	a := signup(t)
	for _, path := range []string{"/api/v1/billing/checkout", "/api/v1/billing/portal", "/api/v1/stripe/webhook"} {
		msg := wantErr(t, call(t, "POST", path, a.Token, obj{"plan": "enterprise"}), 503, "unavailable")
		if msg != "billing is not configured" {
			t.Errorf("%s: %q", path, msg)
		}
	}
	// The account still carries its entitlement.
	b := want(t, call(t, "GET", "/api/v1/account", a.Token, nil), 200)
	if e, _ := b["entitlement"].(obj); e["status"] != "trialing" || e["mcp_allowed"] != true {
		t.Fatalf("entitlement %v", b["entitlement"])
	}
}

// TestBillingCheckoutHTTP runs Checkout and the portal through the REST API
// against stripe-mock.
func TestBillingCheckoutHTTP(t *testing.T) {
	t.Parallel()
	mock := billingtest.StripeMock(t)
	base := billingServer(t, mock.URL)
	a := signup(t)
	r := want(t, doJSON(t, base, "POST", "/api/v1/billing/checkout", a.Token, obj{"plan": "enterprise"}), 200)
	if u, _ := r["url"].(string); !strings.HasPrefix(u, "http") {
		t.Fatalf("checkout url %v", r)
	}
	reqs := mock.Requests()
	if len(reqs) != 1 || reqs[0].Form.Get("client_reference_id") != fmt.Sprint(a.AccountID) || reqs[0].Form.Get("line_items[0][price]") != billingtest.Prices["enterprise"] {
		t.Fatalf("Stripe saw %+v", reqs)
	}
	wantErr(t, doJSON(t, base, "POST", "/api/v1/billing/checkout", a.Token, obj{"plan": "gold"}), 400, "bad_request")
	wantErr(t, doJSON(t, base, "POST", "/api/v1/billing/portal", a.Token, nil), 409, "conflict")
	_, agent := createAgent(t, a.Token)
	wantErr(t, doJSON(t, base, "POST", "/api/v1/billing/checkout", agent, obj{"plan": "enterprise"}), 403, "forbidden")
	wantErr(t, doJSON(t, base, "POST", "/api/v1/billing/checkout", "", obj{"plan": "enterprise"}), 401, "unauthorized")

	// After checkout.session.completed links the customer, the portal opens.
	want(t, postEvent(t, base, billingtest.Event("evt_cs_"+fmt.Sprint(a.AccountID), billing.EventCheckoutCompleted, time.Now(),
		obj{"id": "cs_1", "object": "checkout.session", "client_reference_id": fmt.Sprint(a.AccountID), "customer": "cus_http_" + fmt.Sprint(a.AccountID), "subscription": "sub_1"})), 200)
	r = want(t, doJSON(t, base, "POST", "/api/v1/billing/portal", a.Token, nil), 200)
	if u, _ := r["url"].(string); !strings.HasPrefix(u, "http") {
		t.Fatalf("portal url %v", r)
	}
}
