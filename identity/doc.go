// Package identity is who may act in a tenant: accounts and their people
// (users, memberships), sign-up and sign-in, console sessions, the links
// that invite people and reset passwords, personal API tokens, MCP tokens
// and the OAuth rows behind OAuth grants, and the principals they resolve
// to, with the cache that keeps MCP principals between requests. The
// brakes an admin holds over MCP tokens (the workspace's switches, a
// token's pause, its counted refusals) are here too: they are columns of
// the account and token rows every principal is read from and stamped
// with, so a change reaches every replica at its next call.
//
// Layering: identity sits on the fence (package tenancy) and the fence
// knows nothing of it. Every statement here runs through tenancy: a
// request's Unit or Read, InTenant or Batch, or — before the tenant is
// known, when a credential names its account only once its hash is looked
// up — tenancy.DB.Resolve and the OAuth store's tenancy.LookupTx, which set
// the tenant from a narrow SECURITY DEFINER look-up. The fence's Guard,
// which re-checks a principal kept in memory inside the request's own
// transaction, carries a statement without knowing what it checks: the
// statement is built here (MCPPrincipal.Guard), beside the authentication
// that reads the same rows, so that the two cannot drift apart and the
// fence does not import the principals it guards.
//
// The account's plan state is read here with the account; what it
// entitles the account to is trial's, and the MCP gate is policy's.
package identity
