package mcp

import (
	"context"

	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/tenancy"
)

// decide asks the policy about one call, with the account's own rules
// (DESIGN §17) when it has a version in force. The version comes with the
// token at every request, so an activation or a roll-back holds from the
// next call on every replica; a version is compiled once per replica. Rules
// that cannot be loaded, compiled or evaluated in time deny the call (fail
// closed) for this account only, with a reason that says so.
func (s *Server) decide(ctx context.Context, p *tenancy.MCPPrincipal, in policy.Input) (policy.Decision, error) {
	v := p.Account.TenantRulesVersion
	if v == 0 {
		return onDeepStack(func() (policy.Decision, error) { return s.cfg.Policy.Decide(ctx, in) })
	}
	tp, ok := s.cfg.Policy.CachedTenant(p.AccountID, v)
	if !ok {
		src, err := s.cfg.DB.TenantRulesVersionSource(ctx, p.AccountID, v)
		if err != nil {
			return policy.TenantFailure(v, err), err
		}
		tp = s.cfg.Policy.CompileTenant(ctx, p.AccountID, v, src)
	}
	return onDeepStack(func() (policy.Decision, error) { return tp.Decide(ctx, in) })
}
