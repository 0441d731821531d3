package identity

import (
	"crypto/sha256"
	"sync"
	"time"
)

// PrincipalCache keeps the principals of MCP tokens (static and OAuth)
// that authenticated on this replica, so that their next requests skip the
// authentication round trip. A principal served from it is only ever used
// with a Guard, which re-checks it inside the request's own transaction:
// the cache saves time, never trust. Entries live for TTL at most, and
// the cache holds Max of them (it forgets an arbitrary one when full).
type PrincipalCache struct {
	TTL time.Duration
	Max int

	mu      sync.Mutex
	entries map[[sha256.Size]byte]cachedPrincipal
}

type cachedPrincipal struct {
	p       MCPPrincipal
	expires time.Time
}

// Cache defaults.
const (
	DefaultPrincipalTTL = time.Minute
	DefaultPrincipalMax = 10000
)

func (c *PrincipalCache) key(raw string) [sha256.Size]byte { return sha256.Sum256([]byte(raw)) }

// Get returns the principal kept for raw, if any and not expired.
func (c *PrincipalCache) Get(raw string, now time.Time) (MCPPrincipal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[c.key(raw)]
	if !ok || !now.Before(e.expires) {
		return MCPPrincipal{}, false
	}
	return e.p, true
}

// Put keeps p for raw (without the request's rate-limit outcome and quota).
func (c *PrincipalCache) Put(raw string, p MCPPrincipal, now time.Time) {
	if p.Stamp == "" {
		return
	}
	p.RateRetryAfter, p.Quota = 0, nil
	ttl, max := c.TTL, c.Max
	if ttl <= 0 {
		ttl = DefaultPrincipalTTL
	}
	if max <= 0 {
		max = DefaultPrincipalMax
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[[sha256.Size]byte]cachedPrincipal{}
	}
	for k := range c.entries {
		if len(c.entries) < max {
			break
		}
		delete(c.entries, k)
	}
	c.entries[c.key(raw)] = cachedPrincipal{p: p, expires: now.Add(ttl)}
}

// Drop forgets raw's principal.
func (c *PrincipalCache) Drop(raw string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, c.key(raw))
}
