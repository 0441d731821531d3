package tenantpolicy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/plugins/logs"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/tenancy"
	"github.com/deskwoot/deskwoot/tenantpolicy"
)

// TestMain: started as a sandbox child evaluating account rules, the test
// binary serves that and nothing else (policy.ServeSandboxIfChild).
func TestMain(m *testing.M) {
	policy.ServeSandboxIfChild()
	dbtest.Main(m)
}

var (
	engineOnce sync.Once
	engine     *policy.Engine
)

func testEngine(t testing.TB) *policy.Engine {
	t.Helper()
	engineOnce.Do(func() {
		var err error
		if engine, err = policy.New(context.Background()); err != nil {
			panic(err)
		}
	})
	return engine
}

// record decides n replies (alternating inboxes 1 and 2) with the base
// policy and audits each with its explanation, as the MCP server does.
func record(t testing.TB, db *tenancy.DB, acct int64, n int) {
	t.Helper()
	ctx := context.Background()
	e := testEngine(t)
	lg := &audit.Log{DB: db}
	now := time.Now()
	for i := 0; i < n; i++ {
		inbox := int64(1 + i%2)
		in := policy.Input{
			Principal: policy.Principal{AccountID: acct, TokenID: 7, Scopes: []string{"conversations:reply"}},
			Account:   policy.Account{Plan: "enterprise", Status: "active", MCPEnabled: true},
			Tool:      "reply_to_conversation",
			Args:      map[string]any{"conversation_id": float64(100 + i), "content": "SECRET text of the reply", "idempotency_key": "k"},
			Target:    policy.Target{Kind: "conversation", ConversationID: int64(100 + i), InboxID: inbox},
			Now:       now,
		}
		d, err := e.Decide(ctx, in)
		if err != nil || !d.Allow {
			t.Fatalf("decision %+v %v", d, err)
		}
		digest := audit.DigestArgs(in.Args)
		if err := lg.DB.Unit(ctx, tenancy.Recorded(acct, audit.Entry{ActorKind: "agent", TokenID: 7, Action: in.Tool, Decision: "allow",
			Target: map[string]int64{"inbox_id": inbox, "conversation_id": int64(100 + i)}, ArgsDigest: digest,
			PolicyRev: e.Revision(), Explanation: policy.Explain(in, d, digest, nil)}), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
}

const denyInbox1 = "package deskwoot.tenant\n\ndeny contains \"not in inbox 1\" if {\n\tinput.tool == \"reply_to_conversation\"\n\tinput.target.inbox_id == 1\n}\n"

const denyInbox1Tests = "package deskwoot.tenant_test\n\nimport data.deskwoot.tenant\n\ntest_inbox_1 if {\n\tcount(tenant.deny) == 1 with input as {\"tool\": \"reply_to_conversation\", \"target\": {\"inbox_id\": 1}}\n}\n"

// TestOperatorCommands covers what `deskwoot policy replay`, `policy
// explain` and `audit export` run, over the owner's connection.
func TestOperatorCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := dbtest.NewTenant(t), dbtest.NewTenant(t)
	owner, err := tenancy.Open(ctx, dbtest.OwnerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	app := dbtest.App(t)
	record(t, app, a.Account.ID, 6)
	record(t, app, b.Account.ID, 2)

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "rules.rego"), []byte(denyInbox1), 0o600)
	os.WriteFile(filepath.Join(dir, "rules_test.rego"), []byte(denyInbox1Tests), 0o600)
	tr, err := tenantpolicy.ReadCandidateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := tenantpolicy.ReviewCandidate(ctx, owner, testEngine(t), a.Account.ID, tr, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if rev.Tests.Passed != 1 || rev.Replay.Decisions != 6 || len(rev.Replay.Flips) != 3 {
		t.Errorf("review: %+v", rev)
	}
	for _, f := range rev.Replay.Flips {
		if f.Before != "allow" || f.After != "deny" || !strings.Contains(strings.Join(f.Reasons, ";"), "not in inbox 1") {
			t.Errorf("flip %+v", f)
		}
	}
	if _, err := tenantpolicy.ReadCandidateDir(t.TempDir()); err == nil {
		t.Error("an empty folder was read as a candidate")
	}

	var out bytes.Buffer
	n, err := tenantpolicy.Export(ctx, owner, a.Account.ID, time.Time{}, &out)
	if err != nil || n != 6 {
		t.Fatalf("export wrote %d lines, %v", n, err)
	}
	if strings.Contains(out.String(), "SECRET") {
		t.Errorf("export carries argument text")
	}
	var firstID int64
	for i, line := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		var ev logs.EventV1
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if ev.Labels["account_id"] != fmt.Sprint(a.Account.ID) || ev.Path != policy.PathDecision {
			t.Errorf("event %+v", ev)
		}
		if i == 0 {
			firstID = int64(ev.RequestID)
		}
	}

	x, acct, err := tenantpolicy.ExplainAny(ctx, owner, 0, firstID)
	if err != nil || acct != a.Account.ID || x.Decision != "allow" || len(x.Rules) == 0 {
		t.Errorf("explain %d: %+v in %d, %v", firstID, x, acct, err)
	}
	if _, _, err := tenantpolicy.ExplainAny(ctx, owner, b.Account.ID, firstID); err == nil {
		t.Error("another account's row was explained")
	}
}

// BenchmarkReplay reports how many recorded decisions a replay re-decides
// per second (decisions/s), reading them from PostgreSQL.
func BenchmarkReplay(b *testing.B) {
	ctx := context.Background()
	tn := dbtest.NewTenant(b)
	db := dbtest.App(b)
	const n = 2000
	record(b, db, tn.Account.ID, n)
	tr := policy.TenantRules{Rego: denyInbox1}
	b.ResetTimer()
	start := time.Now()
	total := 0
	for b.Loop() {
		r, err := tenantpolicy.ReplayCandidate(ctx, db, testEngine(b), tn.Account.ID, tr, time.Now().Add(-time.Hour))
		if err != nil || r.Decisions != n || len(r.Flips) != n/2 {
			b.Fatalf("replay %d decisions, %d flips, %v", r.Decisions, len(r.Flips), err)
		}
		total += r.Decisions
	}
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "decisions/s")
}
