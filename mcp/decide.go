package mcp

import (
	"context"

	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/tenantpolicy"
)

// decide asks the policy about one call, with the account's own rules
// (DESIGN §17) when it has a version in force. The version comes with the
// token at every request, so an activation or a roll-back holds from the
// next call on every replica; a version's source is read once per replica
// and compiled in the account's sandbox (policy/sandbox.go). Rules that
// cannot be loaded, compiled or evaluated within their bounds deny the call
// (fail closed) for this account only, with a reason that says so.
//
// A tool that waits (a long-poll) is decided on a goroutine of its own, so
// that the request's goroutine does not keep OPA's deep stack while it
// waits; other tools are decided in place, which spares them a goroutine
// and its stack growth (about 150 µs per call on a busy 2-core machine).
func (s *Server) decide(ctx context.Context, p *identity.MCPPrincipal, in policy.Input, waits bool) (policy.Decision, error) {
	run := func(f func() (policy.Decision, error)) (policy.Decision, error) {
		if waits {
			return onDeepStack(f)
		}
		return f()
	}
	v := p.Account.TenantRulesVersion
	if v == 0 {
		return run(func() (policy.Decision, error) { return s.cfg.Policy.Decide(ctx, in) })
	}
	tp, ok := s.cfg.Policy.CachedTenant(p.AccountID, v)
	if !ok {
		src, err := tenantpolicy.TenantRulesVersionSource(ctx, s.cfg.DB, p.AccountID, v)
		if err != nil {
			return policy.TenantFailure(v), err
		}
		tp = s.cfg.Policy.AddTenant(p.AccountID, v, src)
	}
	return run(func() (policy.Decision, error) { return tp.Decide(ctx, in) })
}
