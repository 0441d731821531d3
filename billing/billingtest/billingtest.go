// Package billingtest helps tests talk Stripe: signed webhook events built
// the way Stripe sends them, and a stripe-mock server to point the Stripe
// client at.
package billingtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

// WebhookSecret is the signing secret tests configure.
const WebhookSecret = "whsec_deskwoot_test_secret"

// Prices are the plan prices tests configure.
var Prices = map[string]string{
	"starter":    "price_test_starter",
	"business":   "price_test_business",
	"enterprise": "price_test_enterprise",
}

// Event is a Stripe event envelope around data.object.
func Event(id, typ string, created time.Time, object map[string]any) []byte {
	b, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "type": typ, "created": created.Unix(),
		// Deliberately not stripe-go v76's pinned 2023-10-16: the webhook
		// accepts other versions.
		"api_version": "2025-03-31.basil", "livemode": false, "pending_webhooks": 1,
		"data": map[string]any{"object": object},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// Subscription is a subscription object with one item of price.
// accountID 0 leaves metadata.account_id out. periodEnd sits on the item,
// as API versions from 2025-03-31.basil send it.
func Subscription(id, customer, status, price string, accountID int64, periodEnd time.Time) map[string]any {
	meta := map[string]any{}
	if accountID != 0 {
		meta["account_id"] = fmt.Sprint(accountID)
	}
	return map[string]any{
		"id": id, "object": "subscription", "customer": customer, "status": status, "metadata": meta,
		"items": map[string]any{"object": "list", "data": []any{map[string]any{
			"id": "si_" + id, "object": "subscription_item", "current_period_end": periodEnd.Unix(),
			"price": map[string]any{"id": price, "object": "price"},
		}}},
	}
}

// Sign signs payload for the Stripe-Signature header at time ts (now when
// zero) with secret.
func Sign(payload []byte, secret string, ts time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: ts}).Header
}

// Request is one request stripe-mock received, as the proxy saw it.
type Request struct {
	Method, Path string
	Form         url.Values
	Header       http.Header
}

// Mock is a running stripe-mock behind a recording proxy.
type Mock struct {
	URL string // the proxy: point STRIPE_API_BASE here

	mu       sync.Mutex
	requests []Request
}

// Requests returns what the Stripe client sent so far.
func (m *Mock) Requests() []Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Request(nil), m.requests...)
}

// StripeMock starts stripe-mock for one test (installing it with `go
// install github.com/stripe/stripe-mock@latest` when it is not on the PATH
// or in GOPATH/bin) and stops it when the test ends. When it cannot be had
// the test is skipped, saying why.
func StripeMock(t testing.TB) *Mock {
	t.Helper()
	bin, err := stripeMockBinary()
	if err != nil {
		t.Skipf("stripe-mock is not available, skipping this Stripe API test: %v (install it with `go install github.com/stripe/stripe-mock@latest`)", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	// No Pdeathsig: Linux sends it when the *thread* that started the child
	// exits, which the Go runtime may do at any time; the cleanup kills it.
	cmd := exec.Command(bin, "-http-addr", addr)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Skipf("stripe-mock would not start, skipping this Stripe API test: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	// A loaded 2-core machine can take a while to start it; a minute is
	// generous and still bounded.
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			// Stop it first: its output is written by another goroutine
			// until Wait returns.
			cmd.Process.Kill()
			cmd.Wait()
			t.Skipf("stripe-mock did not listen on %s within 60s, skipping this Stripe API test: %s", addr, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	target := "http://" + addr
	m := &Mock{}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		m.mu.Lock()
		m.requests = append(m.requests, Request{Method: r.Method, Path: r.URL.Path, Form: form, Header: r.Header.Clone()})
		m.mu.Unlock()
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		io.Copy(w, res.Body)
	}))
	t.Cleanup(proxy.Close)
	m.URL = proxy.URL
	return m
}

var install struct {
	sync.Mutex
	done bool
	err  error
}

func stripeMockBinary() (string, error) {
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p, nil
	}
	gobin := func() string {
		out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output()
		if err != nil {
			return ""
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) > 0 && strings.TrimSpace(lines[0]) != "" {
			return strings.TrimSpace(lines[0])
		}
		if len(lines) > 1 {
			return filepath.Join(strings.SplitN(strings.TrimSpace(lines[1]), string(os.PathListSeparator), 2)[0], "bin")
		}
		return ""
	}()
	p := filepath.Join(gobin, "stripe-mock")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	install.Lock()
	defer install.Unlock()
	if !install.done {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "install", "github.com/stripe/stripe-mock@latest").CombinedOutput()
		install.done = true
		if err != nil {
			install.err = fmt.Errorf("go install github.com/stripe/stripe-mock@latest: %v: %s", err, bytes.TrimSpace(out))
		}
	}
	if install.err != nil {
		return "", install.err
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("installed stripe-mock not found at %s", p)
	}
	return p, nil
}
