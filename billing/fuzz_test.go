package billing_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/billing"
	"github.com/deskwoot/deskwoot/billing/billingtest"
	"github.com/deskwoot/deskwoot/fault"
)

// FuzzWebhook feeds arbitrary payloads, correctly signed or not, to the
// Stripe webhook. Every answer is an outcome or an error the REST door
// maps to a 4xx (an invalid event, or a domain error of a known kind):
// nothing is a 500 and nothing panics.
func FuzzWebhook(f *testing.F) {
	var s *billing.Service
	f.Fuzz(func(t *testing.T, payload []byte, signed bool) {
		if s == nil {
			s = service(t)
		}
		sig := "t=1,v1=00"
		if signed {
			sig = billingtest.Sign(payload, billingtest.WebhookSecret, time.Time{})
		}
		_, err := s.Webhook(context.Background(), payload, sig, time.Now())
		if err != nil && !errors.Is(err, billing.ErrInvalidEvent) && fault.KindOf(err) == fault.Internal {
			t.Fatalf("payload %q: %v", payload, err)
		}
	})
}
