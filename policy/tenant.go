package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// An account's own rules (DESIGN §17) are one Rego module, package
// deskwoot.tenant, that may define only `deny contains reason if {…}` and
// `require_approval contains reason if {…}`. authz.rego consults those two
// sets and only ever takes access away with them, so the module cannot allow
// anything by construction. Before such a module is compiled beside the base
// policy it is checked here, in a sandbox: no other package, rule, import or
// data, no builtin that reaches out (http.send, net.*), reads the runtime
// (opa.runtime) or is not deterministic (time.now_ns, rand, uuid), and its
// evaluation is cut off after TenantTimeout.

// TenantTimeout bounds one decision that runs an account's rules. A rule
// that runs longer is cut off and the call is denied (fail closed). A
// decision takes tens of microseconds; the bound is wall-clock time, so it
// leaves room for a busy machine descheduling the goroutine.
const TenantTimeout = time.Second

// TenantTestTimeout bounds one run of an account's Rego tests.
const TenantTestTimeout = 5 * time.Second

// Tenant module file names, as errors and test results name them.
const (
	TenantFile      = "rego"
	TenantTestsFile = "tests"
	maxTenantSource = 64 << 10
)

var (
	tenantPackage     = ast.MustParseRef("data.deskwoot.tenant")
	tenantTestPackage = ast.MustParseRef("data.deskwoot.tenant_test")
	basePackages      = ast.MustParseRef("data.deskwoot")
)

// tenantRuleNames are the only rules a tenant module may define.
var tenantRuleNames = map[string]bool{"deny": true, "require_approval": true}

// RuleError is a problem with an account's rules, naming the file (rego or
// tests) and the line.
type RuleError struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Msg  string `json:"message"`
}

func (e *RuleError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s line %d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// TenantRules is an account's module with its tests, parsed and checked.
type TenantRules struct {
	Rego  string
	Tests string
}

// ParseTenantRules checks an account's module and its tests: both parse as
// Rego v1, the module is package deskwoot.tenant and defines only deny and
// require_approval as sets, the tests are package deskwoot.tenant_test with
// at least one test_ rule, neither imports or reads other data nor calls a
// forbidden builtin, and together with the base policy they compile. An
// error is a *RuleError naming the line.
func (e *Engine) ParseTenantRules(regoSrc, tests string) (TenantRules, error) {
	tr := TenantRules{Rego: regoSrc, Tests: tests}
	if _, _, err := e.tenantModules(tr, true); err != nil {
		return TenantRules{}, err
	}
	return tr, nil
}

// tenantModules parses the base policy beside the account's module (and
// its tests), checks them and compiles them in the sandbox.
func (e *Engine) tenantModules(tr TenantRules, withTests bool) (map[string]*ast.Module, *ast.Compiler, error) {
	if strings.TrimSpace(tr.Rego) == "" {
		return nil, nil, &RuleError{File: TenantFile, Msg: "the module is empty; send package deskwoot.tenant with deny or require_approval rules"}
	}
	if len(tr.Rego) > maxTenantSource || len(tr.Tests) > maxTenantSource {
		return nil, nil, &RuleError{File: TenantFile, Msg: fmt.Sprintf("the module and its tests are at most %d bytes each", maxTenantSource)}
	}
	modules, err := parseModules(e.sources)
	if err != nil {
		return nil, nil, err
	}
	m, err := parseTenantModule(TenantFile, tr.Rego)
	if err != nil {
		return nil, nil, err
	}
	if err := checkTenantModule(m); err != nil {
		return nil, nil, err
	}
	modules[TenantFile] = m
	if withTests {
		if strings.TrimSpace(tr.Tests) == "" {
			return nil, nil, &RuleError{File: TenantTestsFile, Msg: "no tests; send package deskwoot.tenant_test with at least one test_ rule"}
		}
		tm, err := parseTenantModule(TenantTestsFile, tr.Tests)
		if err != nil {
			return nil, nil, err
		}
		if err := checkTenantTests(tm); err != nil {
			return nil, nil, err
		}
		modules[TenantTestsFile] = tm
	}
	c := ast.NewCompiler().WithCapabilities(e.tenantCaps)
	if c.Compile(modules); c.Failed() {
		return nil, nil, compileError(c.Errors)
	}
	return modules, c, nil
}

func parseTenantModule(file, src string) (*ast.Module, error) {
	m, err := ast.ParseModuleWithOpts(file, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return nil, compileError(err)
	}
	if m == nil {
		return nil, &RuleError{File: file, Msg: "the module is empty"}
	}
	return m, nil
}

// compileError turns OPA's errors into a RuleError naming the first line.
func compileError(err error) error {
	var errs ast.Errors
	if errors.As(err, &errs) && len(errs) > 0 {
		first := errs[0]
		re := &RuleError{File: TenantFile, Msg: first.Message}
		if first.Location != nil {
			re.Line = first.Location.Row
			if first.Location.File != "" {
				re.File = first.Location.File
			}
		}
		if re.File != TenantFile && re.File != TenantTestsFile {
			// An error inside the base policy: the account's module
			// clashes with it (for example by recursion).
			re.Msg = fmt.Sprintf("does not compile beside the base policy (%s line %d: %s)", re.File, re.Line, first.Message)
			re.File, re.Line = TenantFile, 0
		}
		return re
	}
	return &RuleError{File: TenantFile, Msg: err.Error()}
}

func ruleErr(file string, loc *ast.Location, format string, args ...any) *RuleError {
	re := &RuleError{File: file, Msg: fmt.Sprintf(format, args...)}
	if loc != nil {
		re.Line = loc.Row
	}
	return re
}

func checkTenantModule(m *ast.Module) error {
	const f = TenantFile
	if !m.Package.Path.Equal(tenantPackage) {
		return ruleErr(f, m.Package.Location, "the module must be package deskwoot.tenant, not %s", strings.TrimPrefix(m.Package.Path.String(), "data."))
	}
	if err := checkImports(f, m, nil); err != nil {
		return err
	}
	for _, r := range m.Rules {
		name := r.Head.Ref().String()
		switch {
		case !tenantRuleNames[name]:
			return ruleErr(f, r.Location, "rule %s is not allowed; an account module defines only deny and require_approval", name)
		case r.Default || len(r.Head.Args) > 0 || r.Head.RuleKind() != ast.MultiValue || r.Else != nil:
			return ruleErr(f, r.Location, "%s must be written as `%s contains reason if { … }`", name, name)
		}
	}
	return checkBody(f, m, tenantPackage)
}

func checkTenantTests(m *ast.Module) error {
	const f = TenantTestsFile
	if !m.Package.Path.Equal(tenantTestPackage) {
		return ruleErr(f, m.Package.Location, "the tests must be package deskwoot.tenant_test, not %s", strings.TrimPrefix(m.Package.Path.String(), "data."))
	}
	if err := checkImports(f, m, basePackages); err != nil {
		return err
	}
	tests := 0
	for _, r := range m.Rules {
		if strings.HasPrefix(r.Head.Ref().String(), "test_") {
			tests++
		}
	}
	if tests == 0 {
		return ruleErr(f, m.Package.Location, "no test_ rules; name each test test_something")
	}
	return checkBody(f, m, basePackages)
}

// checkImports allows only `import rego.v1`, future keywords, input and
// (for tests) data under allowedData.
func checkImports(file string, m *ast.Module, allowedData ast.Ref) error {
	for _, imp := range m.Imports {
		path := imp.Path.String()
		if path == "rego.v1" || strings.HasPrefix(path, "future.keywords") || path == "input" || strings.HasPrefix(path, "input.") {
			continue
		}
		if ref, ok := imp.Path.Value.(ast.Ref); ok && allowedData != nil && ref.HasPrefix(allowedData) {
			continue
		}
		return ruleErr(file, imp.Location, "import %s is not allowed; account rules read only input", path)
	}
	return nil
}

// checkBody refuses references to data outside allowed and calls to
// forbidden builtins.
func checkBody(file string, m *ast.Module, allowed ast.Ref) error {
	var bad *RuleError
	ast.WalkRefs(m, func(r ast.Ref) bool {
		if bad == nil && r.HasPrefix(ast.DefaultRootRef) && !r.HasPrefix(allowed) && !r.HasPrefix(m.Package.Path) {
			bad = ruleErr(file, r[0].Location, "%s is not readable from account rules; they read only input", r)
		}
		return bad != nil
	})
	if bad != nil {
		return bad
	}
	// Every call, nested or not, and every function a `with` puts in place
	// of another.
	ast.WalkTerms(m, func(t *ast.Term) bool {
		if bad != nil {
			return true
		}
		switch v := t.Value.(type) {
		case ast.Call:
			bad = checkCall(file, t.Location, v)
		case ast.Ref:
			if _, ok := ast.BuiltinMap[v.String()]; ok {
				if why := forbiddenBuiltin(v.String()); why != "" {
					bad = ruleErr(file, t.Location, "%s is not allowed in account rules (%s)", v, why)
				}
			}
		}
		return bad != nil
	})
	if bad != nil {
		return bad
	}
	ast.WalkExprs(m, func(x *ast.Expr) bool {
		if bad == nil && x.IsCall() {
			bad = checkCall(file, x.Location, x.Terms.([]*ast.Term))
		}
		return bad != nil
	})
	if bad != nil {
		return bad
	}
	return nil
}

// checkCall refuses a call to a builtin account rules may not use.
func checkCall(file string, loc *ast.Location, call []*ast.Term) *RuleError {
	if len(call) == 0 {
		return nil
	}
	name := call[0].String()
	if _, builtin := ast.BuiltinMap[name]; !builtin {
		return nil // a function of the module itself (tests may define them)
	}
	if why := forbiddenBuiltin(name); why != "" {
		return ruleErr(file, loc, "%s is not allowed in account rules (%s)", name, why)
	}
	if name == "sprintf" {
		if why := checkSprintf(call); why != "" {
			return ruleErr(file, loc, "sprintf: %s", why)
		}
	}
	return nil
}

// tenantCapabilities are OPA's builtins that account rules may call, plus
// those the base policy calls (it is compiled by the same compiler), with
// no network host allowed. The checks above name a refused call with its
// line; these make sure nothing slips past them.
func tenantCapabilities(base map[string]*ast.Module) *ast.Capabilities {
	used := map[string]bool{}
	for _, m := range base {
		ast.WalkTerms(m, func(t *ast.Term) bool {
			switch v := t.Value.(type) {
			case ast.Call:
				used[v[0].String()] = true
			case ast.Ref:
				used[v.String()] = true
			}
			return false
		})
		ast.WalkExprs(m, func(x *ast.Expr) bool {
			if x.IsCall() {
				used[x.Operator().String()] = true
			}
			return false
		})
	}
	c := ast.CapabilitiesForThisVersion()
	c.Builtins = slices.DeleteFunc(slices.Clone(c.Builtins), func(b *ast.Builtin) bool {
		// print stays declared so the compiler can strip it; it is
		// refused by name above.
		return b.Name != "print" && forbiddenBuiltin(b.Name) != "" && !used[b.Name]
	})
	c.AllowNet = []string{}
	return c
}

// TenantPolicy is the base policy compiled together with one version of an
// account's rules, its decision query prepared.
type TenantPolicy struct {
	AccountID int64
	Version   int
	decision  rego.PreparedEvalQuery
	tool      rego.PreparedEvalQuery // tool_decision, for an open gate (Engine.decisionQuery)
	err       error                  // the version does not compile: every decision denies
	e         *Engine
}

type tenantKey struct {
	acct    int64
	version int
}

// maxCachedTenants bounds the prepared tenant policies kept in memory; past
// it the cache starts over (a miss costs one compile, a few milliseconds).
const maxCachedTenants = 2000

// CachedTenant returns the prepared policy of an account's rules version,
// if this replica has compiled it. Versions never change once activated, so
// a cached one is never stale.
func (e *Engine) CachedTenant(acct int64, version int) (*TenantPolicy, bool) {
	e.tmu.RLock()
	tp, ok := e.tenants[tenantKey{acct, version}]
	e.tmu.RUnlock()
	return tp, ok
}

// PrepareTenant compiles the base policy with an account's module (a
// candidate under review) and prepares its decision query. It is not
// cached. version is what decisions report (0 for a candidate).
func (e *Engine) PrepareTenant(ctx context.Context, version int, tr TenantRules) (*TenantPolicy, error) {
	_, c, err := e.tenantModules(tr, false)
	if err != nil {
		return nil, err
	}
	tp := &TenantPolicy{Version: version, e: e}
	for _, q := range []struct {
		query string
		pq    *rego.PreparedEvalQuery
	}{{queryDecision, &tp.decision}, {queryTool, &tp.tool}} {
		if *q.pq, err = rego.New(rego.Query(q.query), rego.Compiler(c), rego.Store(e.store)).PrepareForEval(ctx); err != nil {
			return nil, fmt.Errorf("policy: prepare account rules: %w", err)
		}
	}
	return tp, nil
}

// CompileTenant compiles an activated version of an account's rules and
// keeps it for CachedTenant. A version that does not compile (say, after
// an upgrade of the base policy) is kept too, with its error, so that it
// denies every call of that account (fail closed) without recompiling each
// time.
func (e *Engine) CompileTenant(ctx context.Context, acct int64, version int, regoSrc string) *TenantPolicy {
	tp, err := e.PrepareTenant(ctx, version, TenantRules{Rego: regoSrc})
	if err != nil {
		tp = &TenantPolicy{Version: version, err: err, e: e}
	}
	tp.AccountID = acct
	e.tmu.Lock()
	if len(e.tenants) >= maxCachedTenants {
		e.tenants = map[tenantKey]*TenantPolicy{}
	}
	e.tenants[tenantKey{acct, version}] = tp
	e.tmu.Unlock()
	return tp
}

// ErrTenantFailed marks a decision denied because the account's rules
// could not be evaluated (too slow, or broken).
var ErrTenantFailed = errors.New("the account's policy rules could not be evaluated")

// Decide evaluates the tool decision with the account's rules, cut off
// after TenantTimeout. On any failure the call is denied (fail closed) with
// a reason that says so; the error tells why.
func (tp *TenantPolicy) Decide(ctx context.Context, in Input) (Decision, error) {
	if tp.err != nil {
		return TenantFailure(tp.Version), fmt.Errorf("%w: %w", ErrTenantFailed, tp.err)
	}
	v, err := in.valueWith(&tp.e.terms)
	if err != nil {
		return Decision{Reasons: []string{errFailed}, Rule: RuleEvalError}, err
	}
	return tp.decideValue(ctx, in, v)
}

func (tp *TenantPolicy) decideValue(ctx context.Context, in Input, v ast.Value) (Decision, error) {
	tool := in.Tool
	ctx, cancel := context.WithTimeout(ctx, TenantTimeout)
	defer cancel()
	var builtinErrs []topdown.Error
	res, err := tp.e.eval(ctx, tp.e.decisionQuery(ctx, in, tp.decision, tp.tool), v, rego.EvalBuiltinErrorList(&builtinErrs))
	if err == nil {
		err = tenantBuiltinError(builtinErrs)
	}
	if err == nil {
		var d Decision
		if d, err = parseDecision(res); err == nil {
			d.TenantVersion = tp.Version
			return d, nil
		}
	}
	why := "it failed"
	switch {
	case ctx.Err() != nil:
		why = fmt.Sprintf("it ran longer than %s", TenantTimeout)
	case errors.Is(err, ErrEvalCrashed):
		why = "it crashed"
	case errors.As(err, new(*RuleError)):
		why = "a rule raised an error"
	}
	msg := fmt.Sprintf("this account's policy rules (version %d) could not be evaluated: %s; the call was refused until an admin fixes or removes them", tp.Version, why)
	return Decision{Reasons: []string{msg}, Rule: RuleTenantFailed, TenantVersion: tp.Version},
		fmt.Errorf("%w: decide %s with version %d: %s: %w", ErrTenantFailed, tool, tp.Version, why, err)
}

// tenantBuiltinError is the first error a builtin raised inside the
// account's module, as a RuleError naming its line. OPA does not stop on
// such an error: the expression is undefined, so `x := 1 / 0` in a deny
// rule would quietly deny nothing and let the call through. A rule that
// errs refuses the call instead (fail closed). Errors of the base policy
// are not counted here; the base policy decides as it always has.
func tenantBuiltinError(errs []topdown.Error) error {
	for _, e := range errs {
		if e.Location != nil && e.Location.File == TenantFile {
			return &RuleError{File: TenantFile, Line: e.Location.Row, Msg: e.Message}
		}
	}
	return nil
}

// TenantFailure is the denial for an account whose rules version cannot be
// loaded or compiled at all (fail closed). The reason is a plain sentence;
// the error that says why goes to the explanation, not to the caller.
func TenantFailure(version int) Decision {
	return Decision{
		Reasons:       []string{fmt.Sprintf("this account's policy rules (version %d) could not be loaded; the call was refused until an admin fixes or removes them", version)},
		Rule:          RuleTenantFailed,
		TenantVersion: version,
	}
}
