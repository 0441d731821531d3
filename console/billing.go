package console

import (
	"errors"
	"net/http"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/billing"
	policies "github.com/deskwoot/deskwoot/rego"
	"github.com/deskwoot/deskwoot/tenancy"
	"github.com/deskwoot/deskwoot/trial"
)

// billingPage is the plan, its state and the ways to change it.
type billingPage struct {
	Entitlement trial.Entitlement
	Configured  bool   // Stripe is set up on this server
	Returned    string // success or canceled, back from Checkout
	Plans       []string
}

func (c *Console) billingShow(w http.ResponseWriter, r *http.Request) {
	c.renderBilling(w, r, http.StatusOK, emptyForm())
}

func (c *Console) renderBilling(w http.ResponseWriter, r *http.Request, status int, f *Form) {
	d := billingPage{
		Entitlement: trial.Compute(c.account(r).State(), c.cfg.Now()),
		Configured:  c.cfg.Billing != nil,
		Returned:    r.URL.Query().Get("billing"),
		Plans:       policies.Plans().All,
	}
	if f.Value("plan") == "" {
		f.Values.Set("plan", policies.Plans().WithMCP)
	}
	c.render(w, r, status, "billing", Page{Title: "Plan and billing", Nav: "billing", Form: f, Data: d})
}

// billingCheckout starts Stripe Checkout for the chosen plan and sends the
// browser there (the same billing call as REST's POST
// /api/v1/billing/checkout).
func (c *Console) billingCheckout(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	if !f.OK() || !c.billingReady(w, r, f) {
		return
	}
	url, err := c.cfg.Billing.Checkout(r.Context(), c.me(r).AccountID, f.Value("plan"))
	if err != nil {
		c.billingFailed(w, r, f, err)
		return
	}
	// Checkout changed nothing here (Stripe holds the session): the row
	// records that it was opened, and the browser goes there only once the
	// row is in.
	if err := c.cfg.DB.Record(r.Context(), c.recorded(r, audit.Entry{Action: "billing.checkout", Reasons: []string{"plan=" + f.Value("plan")}})); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, url, http.StatusSeeOther)
}

// billingPortal opens the Stripe customer portal.
func (c *Console) billingPortal(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	if !f.OK() || !c.billingReady(w, r, f) {
		return
	}
	url, err := c.cfg.Billing.Portal(r.Context(), c.me(r).AccountID)
	if err != nil {
		c.billingFailed(w, r, f, err)
		return
	}
	http.Redirect(w, r, url, http.StatusSeeOther)
}

// billingReady renders the page with a plain message when Stripe is not
// configured on this server.
func (c *Console) billingReady(w http.ResponseWriter, r *http.Request, f *Form) bool {
	if c.cfg.Billing == nil {
		f.Message = "Billing is not configured on this server, so plans cannot be changed here."
		c.renderBilling(w, r, http.StatusServiceUnavailable, f)
		return false
	}
	return true
}

// billingFailed words billing's errors for the page.
func (c *Console) billingFailed(w http.ResponseWriter, r *http.Request, f *Form, err error) {
	status := http.StatusBadRequest
	switch {
	case errors.Is(err, billing.ErrNotConfigured):
		status = http.StatusServiceUnavailable
		f.Message = "Billing is not fully configured on this server: " + trimKind(err.Error()) + "."
	case errors.Is(err, billing.ErrStripe):
		status = http.StatusBadGateway
		f.Message = "Stripe did not answer as expected; nothing changed. Try again in a moment."
	case errors.Is(err, tenancy.ErrConflict):
		status = http.StatusConflict
		f.Message = "There is no Stripe customer for this workspace yet: upgrade first, then manage billing."
	case f.FailErr(err, map[string]string{"plan": "plan"}):
	default:
		c.fail(w, r, err)
		return
	}
	c.renderBilling(w, r, status, f)
}
