package shadow

import (
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/policy"
)

// idle is a recorder without its worker, to look at its queue.
func idle() *Recorder {
	return &Recorder{wake: make(chan struct{}, 1), accounts: map[int64]*account{}}
}

// TestQueueIsBounded: an account's calls wait up to queuedPerAccount, all
// accounts' up to queuedInAll; past that calls are skipped and counted,
// never waited for.
func TestQueueIsBounded(t *testing.T) {
	r := idle()
	for i := 0; i < queuedPerAccount+10; i++ {
		r.Observe(&Call{AccountID: 1})
	}
	if a := r.accounts[1]; len(a.waiting) != queuedPerAccount || a.skipped != 10 {
		t.Fatalf("account 1: %d waiting, %d skipped; want %d and 10", len(a.waiting), a.skipped, queuedPerAccount)
	}
	for acct := int64(2); r.queued < queuedInAll; acct++ {
		r.Observe(&Call{AccountID: acct})
	}
	r.Observe(&Call{AccountID: 99999})
	if a := r.accounts[99999]; len(a.waiting) != 0 || a.skipped != 1 || r.queued != queuedInAll {
		t.Fatalf("past the queue in all: %d waiting, %d skipped, %d queued", len(a.waiting), a.skipped, r.queued)
	}
}

// TestAccountsTakeTurns: each account's calls go a trip at a time, in
// turn with the other accounts', so that one busy account cannot hold
// back another's shadow; calls made after the shadow ended are let go;
// an account known to have no shadow queues nothing.
func TestAccountsTakeTurns(t *testing.T) {
	r := idle()
	now := time.Now()
	for i := 0; i < tripCalls+5; i++ {
		r.Observe(&Call{AccountID: 1, At: now})
	}
	r.Observe(&Call{AccountID: 2, At: now})
	r.Observe(&Call{AccountID: 2, At: now.Add(2 * time.Hour)}) // after its shadow ends
	inShadow := account{rules: &policy.TenantPolicy{}, until: now.Add(time.Hour)}

	var order []int64
	var sizes []int
	for {
		acct, ok := r.next()
		if !ok {
			break
		}
		trip, _ := r.take(acct, inShadow)
		order, sizes = append(order, acct), append(sizes, len(trip))
	}
	if want := []int64{1, 2, 1}; len(order) != 3 || order[0] != want[0] || order[1] != want[1] || order[2] != want[2] {
		t.Fatalf("turns %v, want %v", order, want)
	}
	if sizes[0] != tripCalls || sizes[1] != 1 || sizes[2] != 5 {
		t.Errorf("trips of %v calls; want %d, 1 (the later call let go), 5", sizes, tripCalls)
	}
	if r.queued != 0 {
		t.Errorf("%d calls still queued", r.queued)
	}

	r.accounts[3] = &account{checked: time.Now()} // read: no shadow
	r.Observe(&Call{AccountID: 3})
	if len(r.accounts[3].waiting) != 0 || len(r.ready) != 0 {
		t.Error("a call of an account known to have no shadow was queued")
	}
	r.Forget(3)
	r.Observe(&Call{AccountID: 3})
	if len(r.accounts[3].waiting) != 1 {
		t.Error("after Forget, the account's call did not wait for its shadow to be read")
	}
}
