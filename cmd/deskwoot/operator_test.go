package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/billing"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/tenancy"
)

// TestMain: started as a sandbox child evaluating account rules, the test
// binary serves that and nothing else (policy.ServeSandboxIfChild).
func TestMain(m *testing.M) {
	policy.ServeSandboxIfChild()
	dbtest.Main(m)
}

// superuserURL is a connection that RLS does not bind, as `make dev`'s
// owner is: the test cluster's superuser, or the owner when it is one.
func superuserURL(t *testing.T) string {
	t.Helper()
	if u := dbtest.SuperuserURL(); u != "" {
		return u
	}
	var super bool
	if err := dbtest.Owner(t).QueryRow(context.Background(), `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super); err != nil {
		t.Fatal(err)
	}
	if !super {
		t.Skip("needs a superuser connection (DESKWOOT_TEST_SUPERUSER_URL)")
	}
	return dbtest.OwnerURL()
}

// runOut runs the deskwoot command line and returns what it printed on
// standard output. Tests that call it do not run in parallel.
func runOut(t *testing.T, args ...string) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	got := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); got <- b }()
	err = run(args)
	os.Stdout = stdout
	w.Close()
	return string(<-got), err
}

// recordDecisions audits n allowed replies in the account, each with the
// explanation of its policy decision, as the MCP server does, and returns
// the audit ids of all the account's decisions.
func recordDecisions(t *testing.T, e *policy.Engine, acct int64, n int) []int64 {
	t.Helper()
	ctx := context.Background()
	lg := &audit.Log{DB: dbtest.App(t)}
	for i := 0; i < n; i++ {
		in := policy.Input{
			Principal: policy.Principal{AccountID: acct, TokenID: 7, Scopes: []string{"conversations:reply"}},
			Account:   policy.Account{Plan: "enterprise", Status: "active", MCPEnabled: true},
			Tool:      "reply_to_conversation",
			Args:      map[string]any{"conversation_id": float64(100 + i), "content": "hello"},
			Target:    policy.Target{Kind: "conversation", ConversationID: int64(100 + i), InboxID: 1},
			Now:       time.Now(),
		}
		d, err := e.Decide(ctx, in)
		if err != nil || !d.Allow {
			t.Fatalf("decision %+v %v", d, err)
		}
		digest := audit.DigestArgs(in.Args)
		if err := lg.DB.Unit(ctx, tenancy.Recorded(acct, audit.Entry{ActorKind: "agent", TokenID: 7, Action: in.Tool, Decision: "allow",
			Target: map[string]int64{"inbox_id": 1, "conversation_id": int64(100 + i)}, ArgsDigest: digest,
			PolicyRev: e.Revision(), Explanation: policy.Explain(in, d, digest, nil)}), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := audit.DecisionList(ctx, dbtest.App(t), acct, audit.DecisionFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return ids
}

// TestOperatorCommandsNameTheirAccount runs every operator command that
// enters a tenant over a superuser connection, which RLS does not bind,
// while a second account holds audit rows, decisions, a sealed chain,
// unsealed rows and Stripe events: each command reads and writes only the
// account it names. Before the commands named their account in every
// statement, `audit verify` reported "chain sequence jumps from 1 to 1",
// export and replay took the other account's decisions, and explain
// named the wrong account.
func TestOperatorCommandsNameTheirAccount(t *testing.T) {
	ctx := context.Background()
	su := superuserURL(t)
	app := dbtest.App(t)
	e, err := policy.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, b := dbtest.NewTenant(t).Account.ID, dbtest.NewTenant(t).Account.ID
	aIDs := recordDecisions(t, e, a, 3)
	bIDs := recordDecisions(t, e, b, 2)
	for _, acct := range []int64{a, b} {
		if _, err := audit.Seal(ctx, app, acct); err != nil {
			t.Fatal(err)
		}
	}
	// Rows left unsealed in both accounts: a superuser's seal of a must
	// not take b's.
	recordDecisions(t, e, b, 3)
	aIDs = recordDecisions(t, e, a, 4)
	if err := app.InTenant(ctx, b, func(tx pgx.Tx) error {
		_, err := billing.StripeEventClaim(ctx, tx, b, billing.StripeEvent{ID: "evt_" + strconv.FormatInt(b, 10), Type: "invoice.paid", Created: time.Now(), Outcome: "applied"})
		return err
	}); err != nil {
		t.Fatal(err)
	}

	t.Run("audit verify", func(t *testing.T) {
		// Verify seals first; an open transaction of another test process
		// can hold the sealing horizon back for a moment, so it runs until
		// nothing is left unsealed (bounded).
		verify := func(acct int64, args ...string) audit.VerifyResult {
			t.Helper()
			out, err := runOut(t, append([]string{"audit", "verify", "--account", strconv.FormatInt(acct, 10), "--database-url", su}, args...)...)
			var res audit.VerifyResult
			if err != nil || json.Unmarshal([]byte(out), &res) != nil {
				t.Fatalf("audit verify --account %d: %v\n%s", acct, err, out)
			}
			all, err := audit.List(ctx, app, acct, audit.Filter{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK || res.Checked+res.Unsealed != len(all) {
				t.Fatalf("account %d has %d rows; verify says %+v", acct, len(all), res)
			}
			return res
		}
		for deadline := time.Now().Add(20 * time.Second); verify(a).Unsealed > 0; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("account %d still has unsealed rows", a)
			}
		}
		// b's chain took none of a's rows and lost none of its own.
		verify(b, "--seal=false")
	})

	t.Run("audit export", func(t *testing.T) {
		out, err := runOut(t, "audit", "export", "--account", strconv.FormatInt(a, 10), "--database-url", su)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		sc := bufio.NewScanner(strings.NewReader(out))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var ev audit.LogEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatal(err)
			}
			got = append(got, int64(ev.RequestID))
		}
		if !sameIDs(got, aIDs) {
			t.Errorf("export of account %d wrote decisions %v, want %v", a, got, aIDs)
		}
	})

	t.Run("policy explain", func(t *testing.T) {
		out, err := runOut(t, "policy", "explain", "--audit-id", strconv.FormatInt(bIDs[0], 10), "--database-url", su)
		if err != nil {
			t.Fatal(err)
		}
		var x struct {
			AccountID int64 `json:"account_id"`
		}
		if err := json.Unmarshal([]byte(out), &x); err != nil || x.AccountID != b {
			t.Errorf("audit row %d of account %d explained as account %d's (%v)", bIDs[0], b, x.AccountID, err)
		}
		if _, err := runOut(t, "policy", "explain", "--account", strconv.FormatInt(a, 10), "--audit-id", strconv.FormatInt(bIDs[0], 10), "--database-url", su); err == nil {
			t.Errorf("account %d's audit row %d was explained as account %d's", b, bIDs[0], a)
		}
	})

	t.Run("policy replay", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "rules.rego"), []byte("package deskwoot.tenant\n\ndeny contains \"no replies\" if input.tool == \"reply_to_conversation\"\n"), 0o600)
		os.WriteFile(filepath.Join(dir, "rules_test.rego"), []byte("package deskwoot.tenant_test\n\nimport data.deskwoot.tenant\n\ntest_deny if count(tenant.deny) == 1 with input as {\"tool\": \"reply_to_conversation\"}\n"), 0o600)
		out, err := runOut(t, "policy", "replay", "--account", strconv.FormatInt(a, 10), "--candidate", dir, "--database-url", su)
		if err != nil {
			t.Fatalf("policy replay: %v\n%s", err, out)
		}
		var rev struct {
			Replay struct {
				Decisions int `json:"decisions"`
				Flips     []struct {
					AuditID int64 `json:"audit_id"`
				} `json:"flips"`
			} `json:"replay"`
		}
		if err := json.Unmarshal([]byte(out), &rev); err != nil {
			t.Fatal(err)
		}
		var flipped []int64
		for _, f := range rev.Replay.Flips {
			flipped = append(flipped, f.AuditID)
		}
		if rev.Replay.Decisions != len(aIDs) || !sameIDs(flipped, aIDs) {
			t.Errorf("replay in account %d re-decided %d decisions and flipped %v; want %d and %v", a, rev.Replay.Decisions, flipped, len(aIDs), aIDs)
		}
	})

	t.Run("accounts show", func(t *testing.T) {
		out, err := runOut(t, "accounts", "show", strconv.FormatInt(a, 10), "--database-url", su)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Events []billing.StripeEvent `json:"stripe_events"`
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatal(err)
		}
		if len(v.Events) != 0 {
			t.Errorf("account %d shows another account's Stripe events: %+v", a, v.Events)
		}
	})
}

func sameIDs(got, want []int64) bool {
	if len(got) != len(want) {
		return false
	}
	seen := map[int64]bool{}
	for _, id := range want {
		seen[id] = true
	}
	for _, id := range got {
		if !seen[id] {
			return false
		}
	}
	return true
}
