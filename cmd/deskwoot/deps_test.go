package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryLeavesOutHeavyPackages keeps the production binary lean: OPA's
// server runtime (its plugins, bundle downloader, OpenTelemetry exporters
// and gRPC) belongs to `opa run --server`, which `deskwoot bench` starts as
// its own process, and stripe-go's client package compiles every Stripe API
// where billing calls two. Each cost the first `make dev` tens of seconds.
func TestBinaryLeavesOutHeavyPackages(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the binary's packages: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		deps[p] = true
	}
	if !deps["github.com/open-policy-agent/opa/v1/rego"] || !deps["github.com/stripe/stripe-go/v76/checkout/session"] {
		t.Fatalf("the listing lacks packages the binary does use; is it the binary's? %d packages", len(deps))
	}
	for _, p := range []string{
		"github.com/open-policy-agent/opa/v1/runtime",
		"github.com/open-policy-agent/opa/v1/server",
		"github.com/open-policy-agent/opa/v1/plugins",
		"github.com/stripe/stripe-go/v76/client",
	} {
		if deps[p] {
			t.Errorf("deskwoot links %s; keep it out of the production binary (go list -deps ./cmd/deskwoot)", p)
		}
	}
}
