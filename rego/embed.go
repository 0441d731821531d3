// Package rego holds Deskwoot's authorization policies, written in OPA Rego,
// with their tests and the MCP tool catalog: catalog.rego (tool → scope,
// access and target), gate.rego (may this account use MCP now) and
// authz.rego (may this token call this tool on this object). A security
// reviewer reads this one folder and runs `deskwoot policy test` or
// `opa test rego/`.
package rego

import "embed"

// FS holds every .rego file of this folder, policies and their tests, so the
// binary carries exactly the policy that was reviewed.
//
//go:embed *.rego
var FS embed.FS
