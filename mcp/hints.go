package mcp

import "sync"

// targetHints remembers, per replica, the policy target of conversations
// this replica has read: their inbox and contact, which never change
// after a conversation is created. With the target known, a read asks the
// policy first and then reads its answer and writes its audit row in one
// round trip. A hint is only ever a key to a tenant's own rows (it is
// stored under the account it was read in) and is checked again by the
// read itself: a conversation deleted since is not found and its hint
// dropped.
type targetHints struct {
	mu sync.Mutex
	m  map[hintKey]targetHint
}

type hintKey struct{ accountID, conversationID int64 }

type targetHint struct{ inboxID, contactID int64 }

// maxHints bounds the memory hints take (some 100 bytes each).
const maxHints = 100_000

func (h *targetHints) get(acct, conv int64) (targetHint, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.m[hintKey{acct, conv}]
	return t, ok
}

func (h *targetHints) put(acct, conv int64, t targetHint) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[hintKey]targetHint{}
	}
	for k := range h.m {
		if len(h.m) < maxHints {
			break
		}
		delete(h.m, k)
	}
	h.m[hintKey{acct, conv}] = t
}

func (h *targetHints) drop(acct, conv int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, hintKey{acct, conv})
}
