// Package rego holds Deskwoot's authorization policies, written in OPA Rego,
// with their tests and the MCP tool catalog: catalog.rego (tool → scope,
// access and target), gate.rego (may this account use MCP now) and
// authz.rego (may this token call this tool on this object), and data.json,
// the one list of plans, which the policies read as data.deskwoot.plans
// and Go reads through Plans. A security reviewer reads this one folder and
// runs `deskwoot policy test` or `opa test rego/`.
package rego

import (
	"embed"
	"encoding/json"
	"fmt"
	"sync"
)

// FS holds every .rego file of this folder, policies and their tests, and
// data.json, so the binary carries exactly the policy that was reviewed.
//
//go:embed *.rego data.json
var FS embed.FS

// PlanList is data.deskwoot.plans.
type PlanList struct {
	All     []string `json:"all"`      // in upgrade order
	WithMCP string   `json:"with_mcp"` // the plan that includes MCP
}

// Valid says whether p is a plan.
func (l PlanList) Valid(p string) bool { return l.Rank(p) > 0 }

// Rank is p's place in the upgrade order, from 1; 0 for no plan.
func (l PlanList) Rank(p string) int {
	for i, q := range l.All {
		if q == p {
			return i + 1
		}
	}
	return 0
}

type document struct {
	Deskwoot struct {
		Plans PlanList `json:"plans"`
	} `json:"deskwoot"`
}

// plans reads data.json's plan list once; the file is embedded, so a
// broken one is a build that must not start.
var plans = sync.OnceValue(func() PlanList {
	var doc document
	if err := json.Unmarshal(dataJSON(), &doc); err != nil || len(doc.Deskwoot.Plans.All) == 0 || doc.Deskwoot.Plans.WithMCP == "" {
		panic(fmt.Sprintf("rego: data.json has no deskwoot.plans (%v)", err))
	}
	return doc.Deskwoot.Plans
})

func dataJSON() []byte {
	raw, err := FS.ReadFile("data.json")
	if err != nil {
		panic("rego: data.json is not embedded: " + err.Error())
	}
	return raw
}

// Data is data.json as the document a policy store starts from. Each call
// returns a fresh copy, which the caller may hand to a store.
func Data() map[string]any {
	plans() // checked
	var tree map[string]any
	if err := json.Unmarshal(dataJSON(), &tree); err != nil {
		panic("rego: data.json: " + err.Error())
	}
	return tree
}

// Plans is the plan list of data.json.
func Plans() PlanList { return plans() }
