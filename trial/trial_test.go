package trial_test

import (
	"context"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/policy"
	policies "github.com/deskwoot/deskwoot/rego"
	"github.com/deskwoot/deskwoot/tenancy"
	"github.com/deskwoot/deskwoot/trial"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func ptr(t time.Time) *time.Time { return &t }

// signup is when the trial of the cases below starts.
var signup = at("2026-11-26T09:30:00Z")

type planCase struct {
	name    string
	state   policy.Account
	now     time.Time
	allowed bool
	status  string // the entitlement's status
	reason  string // a fragment of the reason
}

func planCases() []planCase {
	trialEnd := signup.Add(trial.Length)
	grace := at("2027-01-08T00:00:00Z")
	trialing := policy.Account{Plan: "enterprise", Status: "trialing", TrialEndsAt: &trialEnd, MCPEnabled: true}
	with := func(f func(*policy.Account)) policy.Account {
		s := trialing
		f(&s)
		return s
	}
	return []planCase{
		{"trial day 1", trialing, signup.Add(time.Hour), true, "trialing", "the Enterprise trial runs until 2026-12-03"},
		{"trial day 7", trialing, signup.Add(6*24*time.Hour + 23*time.Hour + 59*time.Minute), true, "trialing", "runs until 2026-12-03"},
		{"trial ends after exactly 168h", trialing, signup.Add(168 * time.Hour), false, "expired", "the Enterprise trial ended on 2026-12-03; upgrade to Enterprise to use MCP"},
		{"trial day 8", trialing, signup.Add(7*24*time.Hour + 3*time.Hour), false, "expired", "the Enterprise trial ended on 2026-12-03; upgrade to Enterprise"},
		{"trial on the business plan is still Enterprise", with(func(s *policy.Account) { s.Plan = "business" }), signup.Add(48 * time.Hour), true, "trialing", "trial runs until"},
		{"active enterprise", with(func(s *policy.Account) { s.Status = "active" }), signup.Add(400 * 24 * time.Hour), true, "active", "active Enterprise subscription"},
		{"past_due inside grace", with(func(s *policy.Account) { s.Status, s.GraceEndsAt = "past_due", &grace }), grace.Add(-time.Second), true, "past_due", "grace period ends on 2027-01-08"},
		{"past_due outside grace", with(func(s *policy.Account) { s.Status, s.GraceEndsAt = "past_due", &grace }), grace.Add(time.Second), false, "past_due", "payment is past due and the grace period ended on 2027-01-08; update the payment method to use MCP"},
		{"canceled", with(func(s *policy.Account) { s.Status = "canceled" }), signup.Add(time.Hour), false, "canceled", "the subscription was canceled; upgrade to Enterprise to use MCP"},
		{"active business", with(func(s *policy.Account) { s.Status, s.Plan = "active", "business" }), signup.Add(time.Hour), false, "active", "the business plan does not include MCP; upgrade to Enterprise to use MCP"},
		{"active starter", with(func(s *policy.Account) { s.Status, s.Plan = "active", "starter" }), signup.Add(time.Hour), false, "active", "the starter plan does not include MCP"},
		{"past_due business", with(func(s *policy.Account) { s.Status, s.Plan, s.GraceEndsAt = "past_due", "business", &grace }), signup.Add(time.Hour), false, "past_due", "the business plan does not include MCP"},
		{"expired", with(func(s *policy.Account) { s.Status = "expired" }), signup.Add(time.Hour), false, "expired", "the Enterprise trial ended on 2026-12-03"},
	}
}

// TestCompute: the entitlement people see for each plan state.
func TestCompute(t *testing.T) {
	t.Parallel()
	for _, c := range planCases() {
		t.Run(c.name, func(t *testing.T) {
			e := trial.Compute(c.state, c.now)
			if e.MCPAllowed != c.allowed || e.Status != c.status || !strings.Contains(e.Reason, c.reason) {
				t.Fatalf("got allowed=%v status=%s reason=%q; want allowed=%v status=%s reason containing %q",
					e.MCPAllowed, e.Status, e.Reason, c.allowed, c.status, c.reason)
			}
			if e.Plan != c.state.Plan || e.TrialEndsAt != c.state.TrialEndsAt || e.GraceEndsAt != c.state.GraceEndsAt {
				t.Fatalf("entitlement does not carry the account's plan and dates: %+v", e)
			}
		})
	}
}

// TestComputeAgreesWithTheGate: the Rego gate, which decides MCP, gives the
// same answer and, when it says no, the same reason as Compute.
func TestComputeAgreesWithTheGate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	engine, err := policy.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range planCases() {
		t.Run(c.name, func(t *testing.T) {
			s := c.state
			acct := policy.Account{Plan: s.Plan, Status: s.Status, TrialEndsAt: s.TrialEndsAt, GraceEndsAt: s.GraceEndsAt, MCPEnabled: true}
			g, err := engine.Gate(ctx, acct, c.now)
			if err != nil {
				t.Fatal(err)
			}
			e := trial.Compute(s, c.now)
			if g.Allow != c.allowed || e.MCPAllowed != g.Allow {
				t.Fatalf("gate allow=%v (%s), Compute allow=%v; want %v", g.Allow, g.Reason, e.MCPAllowed, c.allowed)
			}
			if !g.Allow && g.Reason != e.Reason {
				t.Fatalf("gate reason %q, Compute reason %q", g.Reason, e.Reason)
			}
			// Switched off, the gate is shut whatever the plan.
			acct.MCPEnabled = false
			if g, _ := engine.Gate(ctx, acct, c.now); g.Allow || g.Code != "mcp_disabled" {
				t.Fatalf("MCP switched off: gate %+v", g)
			}
		})
	}
}

// TestGateRegoTests runs rego/gate_test.rego (also run by `deskwoot policy
// test`) inside go test.
func TestGateRegoTests(t *testing.T) {
	t.Parallel()
	modules := map[string]*ast.Module{}
	for _, name := range []string{"gate.rego", "gate_test.rego"} {
		src, err := fs.ReadFile(policies.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ast.ParseModuleWithOpts(name, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatal(err)
		}
		modules[name] = m
	}
	ch, err := tester.NewRunner().SetStore(inmem.NewFromObject(policies.Data())).SetModules(modules).Run(context.Background(), modules)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for r := range ch {
		n++
		if !r.Pass() {
			t.Errorf("%s: %v %v", r.Name, r.Fail, r.Error)
		}
	}
	if n < 15 {
		t.Fatalf("ran %d gate tests; want the whole file", n)
	}
}

func TestParseExtend(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"7d": 168 * time.Hour, "36h": 36 * time.Hour, "1d12h": 36 * time.Hour, "168h": 168 * time.Hour} {
		if got, err := trial.ParseExtend(in); err != nil || got != want {
			t.Errorf("ParseExtend(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0d", "-1d", "xd", "7x", "d"} {
		if _, err := trial.ParseExtend(in); err == nil {
			t.Errorf("ParseExtend(%q) accepted", in)
		}
	}
}

// TestDatabaseKnowsThePlansOfDataJSON: the accounts table's CHECK on plan
// (SQL, which cannot read data.json) names exactly data.json's plans.
func TestDatabaseKnowsThePlansOfDataJSON(t *testing.T) {
	t.Parallel()
	owner, err := tenancy.Open(context.Background(), dbtest.OwnerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	var def string
	err = owner.Pool.QueryRow(context.Background(), `SELECT pg_get_constraintdef(oid) FROM pg_constraint
		WHERE conrelid = 'accounts'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%plan%'`).Scan(&def)
	if err != nil {
		t.Fatal(err)
	}
	var inSQL []string
	for _, m := range regexp.MustCompile(`'([a-z_]+)'`).FindAllStringSubmatch(def, -1) {
		inSQL = append(inSQL, m[1])
	}
	slices.Sort(inSQL)
	want := slices.Sorted(slices.Values(policies.Plans().All))
	if !slices.Equal(inSQL, want) {
		t.Fatalf("accounts.plan's CHECK allows %v (%s); data.json's plans are %v", inSQL, def, want)
	}
}
