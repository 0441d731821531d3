package policy

import (
	"slices"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// termCache keeps the Rego (ast) form of the principals and account states
// seen lately. The MCP server sends the same ones call after call, and
// building them is a tenth of a decision. An entry is used only when every
// field is equal to the one asked for, so it can never be stale; terms are
// never changed by evaluation, so they are shared between calls.
type termCache struct {
	mu         sync.RWMutex
	principals map[int64]principalTerm // by token id
	accounts   map[gateKey]*ast.Term
}

// maxCachedTerms bounds each map; past it the map starts over.
const maxCachedTerms = 10000

type principalTerm struct {
	p    Principal
	term *ast.Term
}

func samePrincipal(a, b Principal) bool {
	return a.AccountID == b.AccountID && a.TokenID == b.TokenID && a.RequireApproval == b.RequireApproval &&
		a.Paused == b.Paused && a.PauseReason == b.PauseReason && a.ChatApproval == b.ChatApproval &&
		slices.Equal(a.Scopes, b.Scopes) && (a.InboxIDs == nil) == (b.InboxIDs == nil) && slices.Equal(a.InboxIDs, b.InboxIDs)
}

func (c *termCache) principal(p Principal) *ast.Term {
	c.mu.RLock()
	e, ok := c.principals[p.TokenID]
	c.mu.RUnlock()
	if ok && samePrincipal(e.p, p) {
		return e.term
	}
	t := p.term()
	kept := p
	kept.Scopes = slices.Clone(p.Scopes)
	kept.InboxIDs = slices.Clone(p.InboxIDs) // nil stays nil
	c.mu.Lock()
	if c.principals == nil || len(c.principals) >= maxCachedTerms {
		c.principals = make(map[int64]principalTerm)
	}
	c.principals[p.TokenID] = principalTerm{p: kept, term: t}
	c.mu.Unlock()
	return t
}

func (c *termCache) account(a Account) *ast.Term {
	k := newGateKey(a)
	c.mu.RLock()
	t, ok := c.accounts[k]
	c.mu.RUnlock()
	if ok {
		return t
	}
	t = a.term()
	c.mu.Lock()
	if c.accounts == nil || len(c.accounts) >= maxCachedTerms {
		c.accounts = make(map[gateKey]*ast.Term)
	}
	c.accounts[k] = t
	c.mu.Unlock()
	return t
}
