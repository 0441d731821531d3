package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/tenancy"
)

// request is one HTTP request to the MCP endpoint, as a value the door
// builds and passes down: the principal it speaks for, its way into the
// tenant (tenancy.Request: the guard that re-checks a principal kept in
// memory, and the audit row of its call), and — when the request turns out
// refused on the way, its token revoked or its account closed since the
// principal was kept — the answer the door gives instead of mcp-go's.
//
// mcp-go hands a tool handler only a context: the request crosses mcp-go
// there, once (withRequest, requestFrom), and goes on in signatures.
type request struct {
	http  *http.Request
	raw   string // the bearer token, to authenticate afresh
	id    string // X-Request-Id, or one made up
	now   time.Time
	body  []byte
	calls int // tools/call and tools/list in the body: spent from the rate limit
	lists int // tools/list in the body
	// single: the body is one tools/call; rpcID is its id (null for a
	// batch). See readRPC.
	single bool
	rpcID  json.RawMessage
	// overBudget is how long the request's address must wait for failing
	// authentication too often (see Server.ServeHTTP): its look-ups go one
	// at a time, and its failures answer 429.
	overBudget time.Duration
	p          identity.MCPPrincipal
	tenant     *tenancy.Request
	// refusal, once set, is the request's whole answer (401, 403, 429,
	// 503), written in place of anything mcp-go writes.
	refusal func(w http.ResponseWriter)
	// answer is what mcp-go answers a single tools/call through; nil for
	// any other request.
	answer *answer
}

// throttled is the 429's message for an address over its budget of failed
// authentications.
const throttled = "too many requests with a missing or invalid token from your address"

type requestKey struct{}

func withRequest(ctx context.Context, req *request) context.Context {
	return context.WithValue(ctx, requestKey{}, req)
}

func requestFrom(ctx context.Context) *request {
	req, _ := ctx.Value(requestKey{}).(*request)
	return req
}

// use makes p the request's principal; guard, when p was kept in memory,
// re-checks it in the request's first transaction.
func (req *request) use(p identity.MCPPrincipal, guard *tenancy.Guard) {
	req.p = p
	req.tenant = &tenancy.Request{AccountID: p.AccountID, Guard: guard}
}

// guarded says the request's principal, kept in memory, has not been
// re-checked yet.
func (req *request) guarded() bool {
	g := req.tenant.Guard
	return g != nil && !g.Settled()
}

// limited notes that the request's calls exceed the token's rate limit,
// as the guard found: its calls are refused (and audited) for that.
func (req *request) limited() {
	if g := req.tenant.Guard; g != nil {
		if wait, ok := g.Limited(); ok {
			req.p.RateRetryAfter = wait
		}
	}
}

// quota is what the request's calls left of its token's rate limit, for
// the X-RateLimit headers: nil when it spent nothing (or the spending is
// not known).
func (req *request) quota() *identity.Quota {
	switch {
	case req.calls == 0:
		return nil
	case req.p.RateRetryAfter > 0:
		return &identity.Quota{Limit: req.p.RateLimitPerMinute, Remaining: 0, Reset: req.p.RateRetryAfter}
	}
	if g := req.tenant.Guard; g != nil {
		if q := identity.GuardQuota(g, req.p.RateLimitPerMinute); q != nil {
			return q
		}
	}
	return req.p.Quota
}

// rateHeaders sets X-RateLimit-Limit, -Remaining and -Reset (seconds) from
// q, when the request spent a limit.
func rateHeaders(h http.Header, q *identity.Quota) {
	if q == nil {
		return
	}
	h.Set("X-RateLimit-Limit", strconv.Itoa(q.Limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(q.Remaining))
	h.Set("X-RateLimit-Reset", strconv.Itoa(int(math.Ceil(q.Reset.Seconds()))))
}

// cached is a request whose principal comes from memory (POSTs only: a
// GET stream cannot wait for its guard): the guard spends its calls and
// checks the principal in the request's first transaction.
func (s *Server) cached(req *request) bool {
	if req.http.Method != http.MethodPost {
		return false
	}
	p, ok := s.principals.Get(req.raw, req.now)
	if !ok {
		return false
	}
	sig, _ := identity.ParseToken(req.raw, identity.OAuthAccessPrefix) // nil for a static token
	req.use(p, p.Guard(req.calls, req.now, sig))
	return true
}

// authenticate resolves the request's token in a round trip of its own,
// spending its calls from the token's rate limit (shared by every
// replica), and keeps the principal for the token's next POSTs. It returns
// the refusal to answer when the token is no good.
func (s *Server) authenticate(ctx context.Context, req *request) func(http.ResponseWriter) {
	if req.overBudget > 0 {
		release, ok := s.cfg.Throttle.MCPAuthLookup(req.http)
		if !ok {
			return func(w http.ResponseWriter) { tooMany(w, req.overBudget, json.RawMessage("null"), throttled) }
		}
		defer release()
	}
	var p identity.MCPPrincipal
	var err error
	if strings.HasPrefix(req.raw, identity.OAuthAccessPrefix) {
		p, err = identity.AuthenticateOAuthCalls(ctx, s.cfg.DB, req.raw, s.cfg.Resource, req.now, req.calls)
	} else {
		p, err = identity.AuthenticateMCPCalls(ctx, s.cfg.DB, req.raw, req.now, req.calls)
	}
	deny := func(msg string) func(http.ResponseWriter) {
		s.cfg.Throttle.MCPAuthFailed(req.http, req.now)
		if req.overBudget > 0 {
			return func(w http.ResponseWriter) { tooMany(w, req.overBudget, json.RawMessage("null"), throttled) }
		}
		return func(w http.ResponseWriter) { s.unauthorized(w, true, msg) }
	}
	switch {
	case errors.Is(err, identity.ErrTokenRevoked):
		return deny("the token was revoked; ask an admin for a new one")
	case errors.Is(err, identity.ErrTokenExpired):
		return deny("the token has expired; refresh it or ask an admin for a new one")
	case errors.Is(err, identity.ErrTokenWrongResource):
		return deny("the token was issued for another resource than " + s.cfg.Resource)
	case errors.Is(err, identity.ErrUnauthenticated):
		return deny("unknown token")
	case err != nil:
		slog.WarnContext(ctx, "mcp authentication failed", "err", err)
		return unavailable
	}
	if req.http.Method == http.MethodPost {
		s.principals.Put(req.raw, p, req.now)
	}
	req.use(p, nil)
	return nil
}

// refresh authenticates the request afresh: its principal kept in memory
// changed, or its token was revoked, after it was kept, and the request's
// first transaction (or Check) found so before anything of the request
// committed. It reports whether the request may go on with the principal
// as it is now; if not, the request's refusal says why.
func (s *Server) refresh(ctx context.Context, req *request) bool {
	s.principals.Drop(req.raw)
	if refusal := s.authenticate(ctx, req); refusal != nil {
		req.refusal = refusal
		return false
	}
	return s.admit(ctx, req)
}

// settle checks the request's guard in a round trip of its own, for a
// request that makes no transaction that could carry it (it has no tool
// call, or mcp-go answered the call itself). It reports whether the
// request may go on; if not, its refusal says why.
func (s *Server) settle(ctx context.Context, req *request) bool {
	err := s.cfg.DB.Check(ctx, req.tenant)
	switch {
	case err == nil:
		return true
	case errors.Is(err, tenancy.ErrPrincipalChanged):
		return s.refresh(ctx, req)
	case tenancy.GuardLimited(err):
		req.limited()
		return true
	}
	slog.ErrorContext(ctx, "mcp guard check failed", "err", err)
	req.refusal = unavailable
	return false
}

// admit applies the account gate to the request's principal. A closed gate
// is audited as a denial and answered 403: admit reports false with the
// request's refusal set.
func (s *Server) admit(ctx context.Context, req *request) bool {
	in := req.p.Account
	gate, err := s.cfg.Policy.Gate(ctx, in, req.now)
	if err == nil && gate.Allow {
		return true
	}
	reason := gate.Reason
	if reason == "" {
		reason = "access denied"
	}
	p := req.p
	req.tenant.Record(audit.Entry{ActorKind: "agent", ActorID: p.ServiceUserID, TokenID: p.TokenID, ClientID: p.ClientID,
		Action: "mcp.gate", Decision: "deny", Reasons: []string{gate.Code, reason}, PolicyRev: s.cfg.Policy.Revision(),
		RequestID: req.id, Explanation: policy.ExplainGate(in, req.now, gate)})
	err = s.cfg.DB.Record(ctx, req.tenant)
	if tenancy.GuardLimited(err) {
		// The principal was current (the guard checks it before it
		// spends): the denial is recorded without the guard.
		req.limited()
		err = s.cfg.DB.Record(ctx, req.tenant)
	}
	switch {
	case errors.Is(err, tenancy.ErrPrincipalChanged):
		return s.refresh(ctx, req) // the gate may be open to the principal as it is now
	case err != nil:
		slog.ErrorContext(ctx, "audit write failed", "action", "mcp.gate", "err", err)
		req.refusal = unavailable // a denial that cannot be recorded is not given
		return false
	}
	req.refusal = func(w http.ResponseWriter) { gateClosed(w, rpcID(req.body), reason, gate.Code) }
	return false
}
