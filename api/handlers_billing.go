package api

import (
	"errors"
	"io"
	"net/http"

	"github.com/deskwoot/deskwoot/billing"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/trial"
)

// MaxWebhookBody bounds a Stripe webhook delivery.
const MaxWebhookBody = 1 << 20

// entitlement is the account's plan state as people see it.
func (s *Server) entitlement(a identity.Account) trial.Entitlement {
	return trial.Compute(a.State(), s.cfg.Now())
}

// billingError maps billing's errors to the REST error shape; the rest go
// to writeError as they are.
func billingError(err error) error {
	switch {
	case errors.Is(err, billing.ErrNotConfigured):
		return errorf(http.StatusServiceUnavailable, "unavailable", "%s", err.Error())
	case errors.Is(err, billing.ErrInvalidEvent):
		return errorf(http.StatusBadRequest, "bad_request", "%s", err.Error())
	case errors.Is(err, billing.ErrStripe):
		return errorf(http.StatusBadGateway, "unavailable", "%s", err.Error())
	}
	return err
}

// billingConfigured answers 503 when the server runs without Stripe.
func (s *Server) billingConfigured(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.Billing == nil {
		writeError(w, r, errorf(http.StatusServiceUnavailable, "unavailable", "billing is not configured"))
		return false
	}
	return true
}

// billingCheckout starts a Stripe Checkout session for {"plan"}.
func (s *Server) billingCheckout(w http.ResponseWriter, r *http.Request) {
	if !s.billingConfigured(w, r) {
		return
	}
	var req struct {
		Plan string `json:"plan"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	url, err := s.cfg.Billing.Checkout(r.Context(), principal(r).AccountID, req.Plan)
	if err != nil {
		writeError(w, r, billingError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"url": url})
}

// billingPortal opens the Stripe customer portal for the account.
func (s *Server) billingPortal(w http.ResponseWriter, r *http.Request) {
	if !s.billingConfigured(w, r) {
		return
	}
	url, err := s.cfg.Billing.Portal(r.Context(), principal(r).AccountID)
	if err != nil {
		writeError(w, r, billingError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"url": url})
}

// stripeWebhook receives Stripe events. It needs no bearer token: the
// Stripe-Signature header is the credential. A verified event answers 200
// whether it was applied, replayed or ignored; only a failure to apply it
// answers 5xx, so that Stripe retries.
func (s *Server) stripeWebhook(w http.ResponseWriter, r *http.Request) {
	if !s.billingConfigured(w, r) {
		return
	}
	payload, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	if err != nil {
		writeError(w, r, errorf(http.StatusRequestEntityTooLarge, "payload_too_large", "webhook body is larger than %d bytes", MaxWebhookBody))
		return
	}
	out, err := s.cfg.Billing.Webhook(r.Context(), payload, r.Header.Get("Stripe-Signature"), s.cfg.Now())
	if err != nil {
		writeError(w, r, billingError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"received": true, "event": out})
}
