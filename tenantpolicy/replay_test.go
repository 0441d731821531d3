package tenantpolicy_test

import (
	"context"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/tenantpolicy"
)

// slowReplies spends its whole second on every reply (the deadline cuts
// it off, and the call is denied): the shape of the rule that made a
// submission take 10.5 s for 88 replayed decisions.
const slowReplies = `package deskwoot.tenant

deny contains "never" if {
	input.tool == "reply_to_conversation"
	xs := [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29]
	some a in xs
	some b in xs
	some c in xs
	some d in xs
	some e in xs
	some f in xs
	a + b + c + d + e + f < 0
}
`

const otherToolsTests = "package deskwoot.tenant_test\n\nimport data.deskwoot.tenant\n\ntest_other_tools if {\n\tcount(tenant.deny) == 0 with input as {\"tool\": \"get_article\"}\n}\n"

func service(t *testing.T) *tenantpolicy.Service {
	t.Helper()
	db := dbtest.App(t)
	rs := tenantpolicy.NewReplays(db)
	t.Cleanup(rs.Close)
	return &tenantpolicy.Service{DB: db, Policy: testEngine(t), Audit: &audit.Log{DB: db}, Replays: rs}
}

// settled waits until the candidate's replay is no longer running.
func settled(t *testing.T, svc *tenantpolicy.Service, acct, id int64) tenantpolicy.Replay {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		c, err := svc.Candidate(context.Background(), acct, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.Replay.Status != tenantpolicy.ReplayRunning {
			return c.Replay
		}
	}
	t.Fatal("the replay is still running after 2 minutes")
	return tenantpolicy.Replay{}
}

// TestReplayPastItsBudgetGoesOnInTheBackground: a candidate whose replay
// cannot finish within InlineReplayTime is answered with the replay
// running and its progress; the rest is replayed in the background, and
// the candidate shows the whole result once done.
func TestReplayPastItsBudgetGoesOnInTheBackground(t *testing.T) {
	t.Parallel()
	svc := service(t)
	tn := dbtest.NewTenant(t)
	const n = 6
	record(t, svc.DB, tn.Account.ID, n)
	c, err := svc.Submit(context.Background(), tn.Account.ID, tn.User.ID, slowReplies, otherToolsTests, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Replay; r.Status != tenantpolicy.ReplayRunning || r.Total != n || r.Done >= n || r.Decisions != r.Done || r.Flipped != r.Done {
		t.Fatalf("the answer's replay %+v; want it running, %d in all, part done", r, n)
	}
	r := settled(t, svc, tn.Account.ID, c.ID)
	if r.Status != tenantpolicy.ReplayDone || r.Done != n || r.Decisions != n || r.Flipped != n || len(r.Flips) != n {
		t.Fatalf("the finished replay %+v; want all %d replayed, each a flip to deny", r, n)
	}
	for _, f := range r.Flips {
		if f.Before != "allow" || f.After != "deny" {
			t.Errorf("flip %+v", f)
		}
	}
	list, err := svc.Candidates(context.Background(), tn.Account.ID)
	if err != nil || len(list) != 1 || list[0].ID != c.ID || list[0].Replay.Status != tenantpolicy.ReplayDone {
		t.Errorf("candidates %+v, %v", list, err)
	}
}

// TestNewerCandidateCancelsTheReplay: an account has at most one replay in
// the background; a newer candidate's ends the older one, which keeps
// what it had replayed and says it was canceled.
func TestNewerCandidateCancelsTheReplay(t *testing.T) {
	t.Parallel()
	svc := service(t)
	tn := dbtest.NewTenant(t)
	record(t, svc.DB, tn.Account.ID, 8)
	first, err := svc.Submit(context.Background(), tn.Account.ID, tn.User.ID, slowReplies, otherToolsTests, 1)
	if err != nil || first.Replay.Status != tenantpolicy.ReplayRunning {
		t.Fatalf("first: %+v, %v", first.Replay, err)
	}
	second, err := svc.Submit(context.Background(), tn.Account.ID, tn.User.ID, denyInbox1, denyInbox1Tests, 1)
	if err != nil || second.Replay.Status != tenantpolicy.ReplayDone || second.Replay.Decisions != 8 {
		t.Fatalf("second: %+v, %v", second.Replay, err)
	}
	if r := settled(t, svc, tn.Account.ID, first.ID); r.Status != tenantpolicy.ReplayCanceled || r.Done == 0 || r.Done >= 8 {
		t.Errorf("the first replay after the second candidate: %+v; want it canceled part way", r)
	}
}

// TestReplayPastItsDecisionBudgetGoesOnInTheBackground: a replay that
// reaches the inline budget's count of decisions before the end of its
// window is running, not done (it used to say done with the rest never
// replayed), and the background replays the rest.
func TestReplayPastItsDecisionBudgetGoesOnInTheBackground(t *testing.T) {
	t.Parallel()
	svc := service(t)
	svc.Inline = tenantpolicy.ReplayBudget{Decisions: 2}
	tn := dbtest.NewTenant(t)
	const n = 6
	record(t, svc.DB, tn.Account.ID, n)
	c, err := svc.Submit(context.Background(), tn.Account.ID, tn.User.ID, denyInbox1, denyInbox1Tests, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Replay; r.Status != tenantpolicy.ReplayRunning || r.Total != n || r.Done != 2 {
		t.Fatalf("the answer's replay %+v; want it running, 2 of %d done", r, n)
	}
	r := settled(t, svc, tn.Account.ID, c.ID)
	if r.Status != tenantpolicy.ReplayDone || r.Done != n || r.Decisions != n || r.Flipped != n/2 {
		t.Fatalf("the finished replay %+v; want all %d replayed, half of them flips", r, n)
	}
}
