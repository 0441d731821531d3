package policy

import (
	"context"
	"strings"
	"sync"
	"time"
)

// The account gate runs for every MCP request, and its answer depends on
// nothing but the account's fields and the clock. gate.rego reads the clock
// only to compare it with the account's trial end and grace end (now < end),
// so between two of those instants the answer cannot change: an answer
// worked out at one time holds, exactly, for every other time in the same
// interval. gateCache keeps the Rego gate's answers keyed by the account
// fields with that interval; a request whose clock lies outside it asks
// Rego again. A change of plan, status or dates is a different key, so
// nothing is ever invalidated by hand. TestGateCacheIsExact compares it with
// Rego across the boundaries; a new use of input.now in gate.rego must come
// with new bounds here.
type gateCache struct {
	mu sync.RWMutex
	m  map[gateKey]gateEntry
}

// maxGateEntries bounds the cache (an entry is about 200 bytes); past it the
// cache starts over.
const maxGateEntries = 10000

// gateKey is the account state exactly as the gate's input carries it:
// times as instants (the input renders them in UTC), a missing or zero time
// as absent.
type gateKey struct {
	plan, status string
	mcp          bool
	trial, grace time.Time // zero when absent
	// The switches are not the gate's, but the account's term (termCache)
	// is kept by this key too, so it must tell them apart.
	agentsPaused bool
	disabled     string // the disabled tools, joined by NUL
}

type gateEntry struct {
	g GateDecision
	// The answer holds for from <= now < until; a zero bound is open.
	from, until time.Time
}

func newGateKey(a Account) gateKey {
	k := gateKey{plan: a.Plan, status: a.Status, mcp: a.MCPEnabled, agentsPaused: a.AgentsPaused, disabled: strings.Join(a.DisabledTools, "\x00")}
	if a.TrialEndsAt != nil {
		k.trial = instant(*a.TrialEndsAt)
	}
	if a.GraceEndsAt != nil {
		k.grace = instant(*a.GraceEndsAt)
	}
	return k
}

// instant is t without location or monotonic reading, so that equal
// instants are equal keys.
func instant(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Round(0)
}

// cacheable says whether now is a time the Rego gate reads the same way Go
// does: time.parse_rfc3339_ns works in int64 nanoseconds (years 1678-2262).
// A zero or far-off clock is left to Rego every time.
func cacheable(now time.Time) bool {
	y := now.Year()
	return !now.IsZero() && y > 1970 && y < 2200
}

// interval returns the bounds between which the gate's answer for k cannot
// change around now: the latest account instant at or before now and the
// earliest after it.
func (k gateKey) interval(now time.Time) (from, until time.Time) {
	for _, b := range [...]time.Time{k.trial, k.grace} {
		if b.IsZero() {
			continue
		}
		if !b.After(now) {
			if from.IsZero() || b.After(from) {
				from = b
			}
		} else if until.IsZero() || b.Before(until) {
			until = b
		}
	}
	return from, until
}

func (e gateEntry) holds(now time.Time) bool {
	return (e.from.IsZero() || !now.Before(e.from)) && (e.until.IsZero() || now.Before(e.until))
}

func (c *gateCache) get(k gateKey, now time.Time) (GateDecision, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if ok && e.holds(now) {
		return e.g, true
	}
	return GateDecision{}, false
}

func (c *gateCache) put(k gateKey, now time.Time, g GateDecision) {
	from, until := k.interval(now)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxGateEntries {
		c.m = make(map[gateKey]gateEntry)
	}
	c.m[k] = gateEntry{g: g, from: from, until: until}
	c.mu.Unlock()
}

// Gate evaluates the account gate, from the cache when this account state
// was judged before within the same interval (see gateCache). On an error
// the gate is shut, and nothing is cached.
func (e *Engine) Gate(ctx context.Context, acct Account, now time.Time) (GateDecision, error) {
	if !cacheable(now) {
		return e.evalGate(ctx, acct, now)
	}
	k := newGateKey(acct)
	if g, ok := e.gates.get(k, now); ok {
		return g, nil
	}
	g, err := e.evalGate(ctx, acct, now)
	if err == nil {
		e.gates.put(k, now, g)
	}
	return g, err
}
