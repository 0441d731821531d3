// Package policy is the judge: it loads Deskwoot's Rego policies (package
// rego) once, prepares their queries, and answers the two authorization
// questions of the MCP surface — may this account use MCP now (the gate),
// and may this token call this tool on this object (the tool decision).
package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	policies "github.com/deskwoot/deskwoot/rego"
	"github.com/deskwoot/deskwoot/sandbox"
)

// The queries the engine prepares.
const (
	queryDecision = "data.deskwoot.authz.decision"
	queryTool     = "data.deskwoot.authz.tool_decision"    // the decision past an open gate
	queryAccount  = "data.deskwoot.authz.account_decision" // tool_decision for a call the base allows (DecideLive)
	queryGate     = "data.deskwoot.gate.decision"
	queryVisible  = "data.deskwoot.authz.visible_tools"
	queryCatalog  = "data.deskwoot.catalog"
)

// Tool is one entry of the MCP tool catalog (rego/catalog.rego).
type Tool struct {
	Name   string `json:"name"`
	Scope  string `json:"scope"`  // the scope a token needs to call it
	Access string `json:"access"` // "read" or "write"
	// Target is the object the call touches and the caller must load into
	// Input.Target: "none", "inbox", "conversation", "contact" or "article".
	Target string `json:"target"`
	// InboxArg says how the tool uses args.inbox_id: "none", "filter" (an
	// optional listing filter) or "place" (where the new object is created;
	// an inbox-restricted token must name one of its inboxes).
	InboxArg string `json:"inbox_arg"`
	Title    string `json:"title"`
	// DraftOnApproval is true when a token with require_approval gets a
	// draft instead of the real effect (Decision.DraftOnly).
	DraftOnApproval bool `json:"draft_on_approval"`
	// AppOnly marks a tool only an MCP Apps view calls (the draft card's
	// buttons): the model never sees it, and only a grant that may approve
	// drafts in the chat may call it.
	AppOnly bool `json:"app_only"`
}

// Engine evaluates the policies. It is built once at start and is safe for
// concurrent use.
type Engine struct {
	decision rego.PreparedEvalQuery
	tool     rego.PreparedEvalQuery // tool_decision: decision when the gate is open
	gate     rego.PreparedEvalQuery
	visible  rego.PreparedEvalQuery
	store    storage.Store
	noop     metrics.Metrics

	revision  string
	sources   []source // the base policy files, tests excluded
	catalog   map[string]Tool
	scopes    []string
	presets   map[string][]string
	forbidden map[string]string
	fragments []string // forbidden's keys, sorted

	gates gateCache // the gate's answers by account state (gatecache.go)
	terms termCache // principals and accounts in Rego's form (termcache.go)

	tenantCaps *ast.Capabilities // the builtins account rules compile with (tenant.go)
	pool       *rulesPool        // where account rules run (sandbox.go)
	shadowPool *rulesPool        // where rules in shadow run, apart from the live calls' children

	tmu     sync.RWMutex
	tenants map[tenantKey]*TenantPolicy // prepared account rules by (account, version)

	testsOnce sync.Once
	tests     TestReport
	testsErr  error
}

// New loads the embedded policies, compiles them, prepares the decision,
// gate and visible-tools queries once, and reads the tool catalog. It fails
// when a policy does not compile or the catalog contradicts itself (a tool
// with an unknown scope, a tool whose name is a forbidden kind, ...).
func New(ctx context.Context) (*Engine, error) {
	return newEngine(ctx, sandbox.Limits{Workers: sandboxWorkers(), Memory: sandboxMemory, Grace: sandboxGrace})
}

// newEngine is New with the bounds of the sandbox children that evaluate
// account rules.
func newEngine(ctx context.Context, limits sandbox.Limits) (*Engine, error) {
	srcs, err := readSources(policies.FS, false)
	if err != nil {
		return nil, err
	}
	modules, err := parseModules(srcs)
	if err != nil {
		return nil, err
	}
	compiler := ast.NewCompiler().WithStrict(true)
	if compiler.Compile(modules); compiler.Failed() {
		return nil, fmt.Errorf("policy: compile: %w", compiler.Errors)
	}

	e := &Engine{
		store:    inmem.NewFromObjectWithOpts(policies.Data(), inmem.OptRoundTripOnWrite(false)),
		noop:     metrics.NoOp(),
		revision: revision(srcs),
		sources:  srcs,
		tenants:  map[tenantKey]*TenantPolicy{},
	}
	e.tenantCaps = tenantCapabilities(modules)
	e.pool = sandbox.NewPool[sandboxRequest, sandboxAnswer](sandboxRole, limits)
	e.shadowPool = sandbox.NewPool[sandboxRequest, sandboxAnswer](sandboxRole, shadowLimits(limits))
	prepare := func(query string) (rego.PreparedEvalQuery, error) {
		pq, err := rego.New(
			rego.Query(query),
			rego.Compiler(compiler),
			rego.Store(e.store),
		).PrepareForEval(ctx)
		if err != nil {
			return pq, fmt.Errorf("policy: prepare %s: %w", query, err)
		}
		return pq, nil
	}
	if e.decision, err = prepare(queryDecision); err != nil {
		return nil, err
	}
	if e.tool, err = prepare(queryTool); err != nil {
		return nil, err
	}
	if e.gate, err = prepare(queryGate); err != nil {
		return nil, err
	}
	if e.visible, err = prepare(queryVisible); err != nil {
		return nil, err
	}
	cat, err := prepare(queryCatalog)
	if err != nil {
		return nil, err
	}
	if err := e.loadCatalog(ctx, cat); err != nil {
		return nil, err
	}
	return e, nil
}

// Revision identifies the policy in force: the hex SHA-256 over the policy
// sources (tests excluded), sorted by file name. It goes into audit rows.
func (e *Engine) Revision() string { return e.revision }

// Catalog returns the MCP tools by name. The map is a copy.
func (e *Engine) Catalog() map[string]Tool {
	out := make(map[string]Tool, len(e.catalog))
	for k, v := range e.catalog {
		out[k] = v
	}
	return out
}

// Scopes returns every scope a token can hold, sorted.
func (e *Engine) Scopes() []string { return slices.Clone(e.scopes) }

// Presets returns the scope bundles of the minting screen (read_only,
// reply, manage_contacts, full_agent), each sorted. The map is a copy.
func (e *Engine) Presets() map[string][]string {
	out := make(map[string][]string, len(e.presets))
	for k, v := range e.presets {
		out[k] = slices.Clone(v)
	}
	return out
}

// ForbiddenKind reports whether a tool name contains a fragment that no MCP
// tool may ever carry (settings, channel, billing, delete, ...), and what it
// stands for. The MCP server uses it to audit calls to such names.
func (e *Engine) ForbiddenKind(name string) (label string, forbidden bool) {
	for _, f := range e.fragments {
		if strings.Contains(name, f) {
			return e.forbidden[f], true
		}
	}
	return "", false
}

// ExpandScopes turns a preset and a list of scopes into one sorted,
// de-duplicated scope list (their union). An empty preset adds nothing. An
// unknown preset or scope is an error that names it.
func (e *Engine) ExpandScopes(preset string, scopes []string) ([]string, error) {
	set := map[string]bool{}
	if preset != "" {
		ps, ok := e.presets[preset]
		if !ok {
			names := make([]string, 0, len(e.presets))
			for n := range e.presets {
				names = append(names, n)
			}
			sort.Strings(names)
			return nil, fmt.Errorf("unknown preset %q; use one of %s", preset, strings.Join(names, ", "))
		}
		for _, s := range ps {
			set[s] = true
		}
	}
	for _, s := range scopes {
		if !slices.Contains(e.scopes, s) {
			return nil, fmt.Errorf("unknown scope %q; use one of %s", s, strings.Join(e.scopes, ", "))
		}
		set[s] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}

// catalogDoc mirrors data.deskwoot.catalog.
type catalogDoc struct {
	Tools          map[string]Tool     `json:"tools"`
	Scopes         []string            `json:"scopes"`
	TargetKinds    []string            `json:"target_kinds"`
	Presets        map[string][]string `json:"presets"`
	ApprovalTools  []string            `json:"approval_tools"`
	ForbiddenKinds map[string]string   `json:"forbidden_kinds"`
}

func (e *Engine) loadCatalog(ctx context.Context, pq rego.PreparedEvalQuery) error {
	rs, err := pq.Eval(ctx)
	if err != nil {
		return fmt.Errorf("policy: read catalog: %w", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return fmt.Errorf("policy: read catalog: %s is undefined", queryCatalog)
	}
	raw, err := json.Marshal(rs[0].Expressions[0].Value)
	if err != nil {
		return fmt.Errorf("policy: read catalog: %w", err)
	}
	var doc catalogDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("policy: read catalog: %w", err)
	}
	if err := doc.check(); err != nil {
		return fmt.Errorf("policy: catalog: %w", err)
	}
	e.scopes = slices.Sorted(slices.Values(doc.Scopes))
	e.forbidden = doc.ForbiddenKinds
	for f := range doc.ForbiddenKinds {
		e.fragments = append(e.fragments, f)
	}
	sort.Strings(e.fragments)
	e.presets = make(map[string][]string, len(doc.Presets))
	for name, ss := range doc.Presets {
		e.presets[name] = slices.Sorted(slices.Values(ss))
	}
	e.catalog = make(map[string]Tool, len(doc.Tools))
	for name, t := range doc.Tools {
		t.Name = name
		t.DraftOnApproval = slices.Contains(doc.ApprovalTools, name)
		e.catalog[name] = t
	}
	return nil
}

// check refuses a catalog that contradicts itself.
func (d catalogDoc) check() error {
	if len(d.Tools) == 0 || len(d.Scopes) == 0 {
		return fmt.Errorf("no tools or no scopes")
	}
	for name, t := range d.Tools {
		if !slices.Contains(d.Scopes, t.Scope) {
			return fmt.Errorf("tool %s needs unknown scope %q", name, t.Scope)
		}
		if t.Access != "read" && t.Access != "write" {
			return fmt.Errorf("tool %s has access %q; want read or write", name, t.Access)
		}
		if !slices.Contains(d.TargetKinds, t.Target) {
			return fmt.Errorf("tool %s has unknown target %q", name, t.Target)
		}
		if t.InboxArg != "none" && t.InboxArg != "filter" && t.InboxArg != "place" {
			return fmt.Errorf("tool %s has inbox_arg %q; want none, filter or place", name, t.InboxArg)
		}
		if t.Title == "" {
			return fmt.Errorf("tool %s has no title", name)
		}
		for frag, label := range d.ForbiddenKinds {
			if strings.Contains(name, frag) {
				return fmt.Errorf("tool %s is a forbidden kind (%s)", name, label)
			}
		}
	}
	for name, ss := range d.Presets {
		for _, s := range ss {
			if !slices.Contains(d.Scopes, s) {
				return fmt.Errorf("preset %s names unknown scope %q", name, s)
			}
		}
	}
	for _, name := range d.ApprovalTools {
		if _, ok := d.Tools[name]; !ok {
			return fmt.Errorf("approval tool %s is not in the catalog", name)
		}
	}
	return nil
}

// source is one .rego file.
type source struct {
	name string
	text string
}

// readSources returns the .rego files of fsys sorted by name; test files
// only when withTests is set.
func readSources(fsys fs.FS, withTests bool) ([]source, error) {
	names, err := fs.Glob(fsys, "*.rego")
	if err != nil {
		return nil, fmt.Errorf("policy: list policies: %w", err)
	}
	sort.Strings(names)
	var out []source
	for _, name := range names {
		if !withTests && strings.HasSuffix(name, "_test.rego") {
			continue
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("policy: read %s: %w", name, err)
		}
		out = append(out, source{name: name, text: string(b)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("policy: no .rego files found")
	}
	return out, nil
}

func parseModules(srcs []source) (map[string]*ast.Module, error) {
	modules := make(map[string]*ast.Module, len(srcs))
	for _, s := range srcs {
		m, err := ast.ParseModuleWithOpts(s.name, s.text, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, fmt.Errorf("policy: parse %s: %w", s.name, err)
		}
		modules[s.name] = m
	}
	return modules, nil
}

// revision names the policy in force: its .rego files and data.json (the
// plans), so that an audit row's revision changes when either does.
func revision(srcs []source) string {
	h := sha256.New()
	data, _ := policies.FS.ReadFile("data.json")
	srcs = append(slices.Clip(srcs), source{name: "data.json", text: string(data)})
	for _, s := range srcs {
		h.Write([]byte(s.name))
		h.Write([]byte{0})
		h.Write([]byte(s.text))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
