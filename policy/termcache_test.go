package policy

import (
	"testing"
	"time"
)

// TestTermCacheIsExact checks that inputs built with the term cache equal
// those built without it, when the same token id comes back with other
// scopes, null versus empty inboxes, or a slice the caller changed in place
// after the first call, and when the account changes.
func TestTermCacheIsExact(t *testing.T) {
	var c termCache
	trial := testNow.Add(time.Hour)
	scopes := []string{"conversations:read", "conversations:reply"}
	p := Principal{AccountID: 1, TokenID: 7, Scopes: scopes, InboxIDs: []int64{1, 2}}
	acct := Account{Plan: "business", Status: "trialing", TrialEndsAt: &trial, MCPEnabled: true}
	check := func(step string, in Input) {
		t.Helper()
		got, err := in.valueWith(&c)
		if err != nil {
			t.Fatal(err)
		}
		want, err := in.value()
		if err != nil {
			t.Fatal(err)
		}
		if got.Compare(want) != 0 {
			t.Errorf("%s: cached input\n%v\nwant\n%v", step, got, want)
		}
	}
	in := Input{Principal: p, Account: acct, Tool: "get_conversation", Target: Target{Kind: "conversation", InboxID: 1}, Now: testNow}
	check("first", in)
	check("again", in)
	scopes[1] = "contacts:write" // the caller reuses its slice
	check("scope changed in place", in)
	in.Principal.InboxIDs = nil
	check("every inbox", in)
	in.Principal.InboxIDs = []int64{}
	check("no inbox", in)
	in.Principal.RequireApproval = true
	check("approval", in)
	in.Principal.AccountID = 2
	check("other account id", in)
	other := trial.Add(time.Nanosecond)
	in.Account.TrialEndsAt = &other
	check("trial end moved", in)
	in.Account.TrialEndsAt = nil
	check("no trial end", in)
	in.Account.Status = "active"
	in.Account.Plan = "enterprise"
	check("upgraded", in)
}
