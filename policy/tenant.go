package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/deskwoot/deskwoot/sandbox"
)

// An account's own rules (DESIGN §17) are one Rego module, package
// deskwoot.tenant, that may define only `deny contains reason if {…}` and
// `require_approval contains reason if {…}`. authz.rego consults those two
// sets and only ever takes access away with them, so the module cannot allow
// anything by construction. Before such a module is compiled beside the base
// policy it is checked here: no other package, rule, import or data, and
// only the builtins of builtins.go's allowlist. Everything past those
// checks — compiling, tests, decisions, replay — runs in a sandbox child
// process (sandbox.go), never in the server's: a deadline interrupts Rego
// only between evaluation steps, and one step can run for minutes.

// TenantTimeout bounds one decision that runs an account's rules. A rule
// that runs longer is cut off and the call is denied (fail closed). A
// decision takes tens of microseconds; the bound is wall-clock time, so it
// leaves room for a busy machine descheduling the child.
const TenantTimeout = time.Second

// TenantTestTimeout bounds one run of an account's Rego tests, and the
// check (compiling) of a module with its tests.
const TenantTestTimeout = 5 * time.Second

// Tenant module file names, as errors and test results name them.
const (
	TenantFile      = "rego"
	TenantTestsFile = "tests"
)

// MaxTenantSource bounds an account's module and its tests, in characters
// each (the REST input layer allows the same).
const MaxTenantSource = 64 << 10

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
// error is a *RuleError naming the line. The compiling runs in the
// account's sandbox (a module can make OPA's type checker run for minutes).
func (e *Engine) ParseTenantRules(ctx context.Context, acct int64, regoSrc, tests string) (TenantRules, error) {
	tr := TenantRules{Rego: regoSrc, Tests: tests}
	a, err := e.sandboxCall(ctx, acct, TenantTestTimeout, sandboxRequest{Op: opCheck, Rules: tr})
	if err != nil {
		return TenantRules{}, sandboxRuleError("checking it", TenantTestTimeout, err)
	}
	if a.RuleErr != nil {
		return TenantRules{}, a.RuleErr
	}
	return tr, nil
}

// tenantModules parses the base policy beside the account's module (and
// its tests), checks them and compiles them in the sandbox.
func (e *Engine) tenantModules(tr TenantRules, withTests bool) (map[string]*ast.Module, *ast.Compiler, error) {
	if strings.TrimSpace(tr.Rego) == "" {
		return nil, nil, &RuleError{File: TenantFile, Msg: "the module is empty; send package deskwoot.tenant with deny or require_approval rules"}
	}
	if utf8.RuneCountInString(tr.Rego) > MaxTenantSource || utf8.RuneCountInString(tr.Tests) > MaxTenantSource {
		return nil, nil, &RuleError{File: TenantFile, Msg: fmt.Sprintf("the module and its tests are at most %d characters each", MaxTenantSource)}
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

// TenantPolicy is one version of an account's rules (or a candidate, as
// version 0) as the server holds it: its source. It is compiled and
// evaluated in the account's sandbox child.
type TenantPolicy struct {
	AccountID int64
	Version   int
	rego      string
	hash      string     // the child's cache key for the compiled module
	pool      *rulesPool // the children that evaluate it
}

type tenantKey struct {
	acct    int64
	version int
}

// maxCachedTenants bounds the versions kept in memory; past it the cache
// starts over (a miss costs one read of the source).
const maxCachedTenants = 2000

// CachedTenant returns an account's rules version, if this replica has
// loaded it. Versions never change once activated, so a cached one is never
// stale.
func (e *Engine) CachedTenant(acct int64, version int) (*TenantPolicy, bool) {
	e.tmu.RLock()
	tp, ok := e.tenants[tenantKey{acct, version}]
	e.tmu.RUnlock()
	return tp, ok
}

// PrepareTenant is an account's module (a candidate under review, or a
// version) ready to decide with. Nothing is compiled until the first
// decision; a module that does not compile denies every call (fail
// closed). version is what decisions report (0 for a candidate).
func (e *Engine) PrepareTenant(acct int64, version int, tr TenantRules) *TenantPolicy {
	return prepareTenant(e.pool, acct, version, tr)
}

// PrepareShadow is an account's candidate in shadow (issue 24), ready to
// decide with beside the live calls: like PrepareTenant, but evaluated in
// a child of its own (shadowLimits), so that a candidate in shadow never
// waits for, nor holds, the children the account's live calls use.
func (e *Engine) PrepareShadow(acct int64, tr TenantRules) *TenantPolicy {
	return prepareTenant(e.shadowPool, acct, 0, tr)
}

func prepareTenant(pool *rulesPool, acct int64, version int, tr TenantRules) *TenantPolicy {
	sum := sha256.Sum256([]byte(tr.Rego))
	return &TenantPolicy{AccountID: acct, Version: version, rego: tr.Rego, hash: hex.EncodeToString(sum[:]), pool: pool}
}

// AddTenant keeps an activated version of an account's rules for
// CachedTenant.
func (e *Engine) AddTenant(acct int64, version int, regoSrc string) *TenantPolicy {
	tp := e.PrepareTenant(acct, version, TenantRules{Rego: regoSrc})
	e.tmu.Lock()
	if len(e.tenants) >= maxCachedTenants {
		e.tenants = map[tenantKey]*TenantPolicy{}
	}
	e.tenants[tenantKey{acct, version}] = tp
	e.tmu.Unlock()
	return tp
}

// ErrTenantFailed marks a decision denied because the account's rules
// could not be evaluated (too slow, too big, erring, crashed, or broken).
var ErrTenantFailed = errors.New("the account's policy rules could not be evaluated")

// Decide evaluates the tool decision with the account's rules in the
// account's sandbox, cut off after TenantTimeout. On any failure the call
// is denied (fail closed) with a plain reason that says so; the error
// tells why, for the explanation and the log.
func (tp *TenantPolicy) Decide(ctx context.Context, in Input) (Decision, error) {
	raw, err := json.Marshal(in)
	if err != nil {
		return Decision{Reasons: []string{errFailed}, Rule: RuleEvalError}, fmt.Errorf("policy: decide %s: %w", in.Tool, err)
	}
	rs, err := tp.DecideMany(ctx, [][]byte{raw}, 0)
	if err != nil {
		why := tenantFailure(err)
		return tenantDenial(tp.Version, why), fmt.Errorf("%w: decide %s with version %d: %s: %w", ErrTenantFailed, in.Tool, tp.Version, why, err)
	}
	if rs[0].Skipped {
		return Decision{Reasons: []string{errFailed}, Rule: RuleEvalError}, fmt.Errorf("policy: decide %s: the sandbox could not read the input", in.Tool)
	}
	return rs[0].Decision, rs[0].Err
}

// DecideResult is one decision of DecideMany.
type DecideResult struct {
	Decision Decision
	// Err is why the rules failed (the decision then denies), or nil.
	Err error
	// Skipped is an input that is not a decision's input document.
	Skipped bool
}

// DecideMany decides a batch of recorded input documents (JSON) with the
// account's rules in one trip to its sandbox, each cut off after
// TenantTimeout. No decision starts after budget is spent (the first always
// does): the results are then fewer than the inputs, and the caller sends
// the rest again. The trip is killed past budget + TenantTimeout. An error
// is the sandbox's own (the trip ran over, the child died, no sandbox was
// free in time).
func (tp *TenantPolicy) DecideMany(ctx context.Context, inputs [][]byte, budget time.Duration) ([]DecideResult, error) {
	return tp.decideMany(ctx, inputs, nil, budget)
}

// decideMany is DecideMany where allowed[i] (if any) says the rules in
// force allowed inputs[i] in this process (DecideLive).
func (tp *TenantPolicy) decideMany(ctx context.Context, inputs [][]byte, allowed []bool, budget time.Duration) ([]DecideResult, error) {
	req := sandboxRequest{Op: opDecide, Hash: tp.hash, Version: tp.Version, Inputs: inputs, Allowed: allowed, Budget: budget}
	limit := budget + TenantTimeout
	a, err := callPool(ctx, tp.pool, tp.AccountID, limit, req)
	if err == nil && a.NeedRules {
		// The child has not compiled this module: send it, with the time
		// a module may take to compile (TenantTestTimeout) on top.
		req.Rules = TenantRules{Rego: tp.rego}
		a, err = callPool(ctx, tp.pool, tp.AccountID, TenantTestTimeout+limit, req)
	}
	if err != nil {
		return nil, err
	}
	out := make([]DecideResult, len(a.Results))
	for i, r := range a.Results {
		if r.Decision.Reasons == nil {
			r.Decision.Reasons = []string{} // gob leaves an empty list out
		}
		out[i] = DecideResult{Decision: r.Decision, Skipped: r.Skipped}
		switch {
		case r.RuleErr != nil:
			out[i].Err = fmt.Errorf("%w: %s: %w", ErrTenantFailed, r.Why, r.RuleErr)
		case r.Why != "":
			out[i].Err = fmt.Errorf("%w: %s: %s", ErrTenantFailed, r.Why, r.Detail)
		}
	}
	if len(out) == 0 && len(inputs) > 0 {
		return nil, fmt.Errorf("%w: the sandbox answered no decision", sandbox.ErrCrashed)
	}
	return out, nil
}

// LiveCall is a call the rules in force have just decided in this
// process, on its base policy: its input and their decision.
type LiveCall struct {
	Input    Input
	Decision Decision
}

// DecideLive decides live calls with the account's rules (a candidate in
// shadow), as DecideMany does, leaving out the work that cannot change a
// decision. authz.rego consults the account's rules only to take away
// what the base policy allows: a call the base denied before consulting
// them (Decision.settled) is denied alike whatever the rules say, and is
// answered here with its decision, without a trip; a call the rules in
// force allowed met every base condition, and the child decides it with
// account_decision instead of the whole decision. Any other call (denied
// by the rules in force, or not decided) is decided in full. The results
// follow the calls, and may stop short of them as DecideMany's do.
func (tp *TenantPolicy) DecideLive(ctx context.Context, calls []LiveCall, budget time.Duration) ([]DecideResult, error) {
	var inputs [][]byte
	var allowed []bool
	for _, c := range calls {
		if !c.Decision.settled() {
			// An input that does not marshal goes as nothing, which the
			// sandbox answers as skipped.
			raw, _ := json.Marshal(c.Input)
			inputs = append(inputs, raw)
			allowed = append(allowed, c.Decision.Allow)
		}
	}
	var decided []DecideResult
	if len(inputs) > 0 {
		var err error
		if decided, err = tp.decideMany(ctx, inputs, allowed, budget); err != nil {
			return nil, err
		}
	}
	out := make([]DecideResult, 0, len(calls))
	for _, c := range calls {
		if c.Decision.settled() {
			d := c.Decision
			d.TenantVersion = tp.Version
			out = append(out, DecideResult{Decision: d})
			continue
		}
		if len(decided) == 0 {
			break // the child's budget ran out here
		}
		out, decided = append(out, decided[0]), decided[1:]
	}
	return out, nil
}

// settled says whether the base policy denied the call before the
// account's rules were consulted: a switch, an object outside the token's
// inboxes, or its own reasons (authz.rego's branches before the account
// rules' reasons, the gate's included). No account rules can change such
// a decision.
func (d Decision) settled() bool {
	return !d.Allow && (d.Rule == RuleSwitch || d.Rule == RuleNotFound || d.Rule == RuleDeny)
}

// tenantFailure says in plain words why the sandbox gave no decision.
func tenantFailure(err error) string {
	switch {
	case errors.Is(err, sandbox.ErrTimeout):
		return fmt.Sprintf("it ran longer than %s", TenantTimeout)
	case errors.Is(err, sandbox.ErrMemory):
		return "it used more memory than its limit"
	case errors.Is(err, sandbox.ErrBusy):
		return "its sandbox was busy with this account's other calls"
	default:
		return "it crashed"
	}
}

// FailedDecision is the fail-closed denial of a call the account's rules
// could not decide (err from DecideMany: the sandbox ran over or died).
func FailedDecision(version int, err error) Decision {
	return tenantDenial(version, tenantFailure(err))
}

// tenantDenial is the fail-closed denial when an account's rules failed.
func tenantDenial(version int, why string) Decision {
	msg := fmt.Sprintf("this account's policy rules (version %d) could not be evaluated: %s; the call was refused until an admin fixes or removes them", version, why)
	return Decision{Reasons: []string{msg}, Rule: RuleTenantFailed, TenantVersion: version}
}

// compiledTenant is the base policy compiled with an account's module, its
// queries prepared: what a sandbox child keeps and decides with. The same
// module may be a candidate and then a version; decisions name the version
// they were asked for.
type compiledTenant struct {
	decision rego.PreparedEvalQuery
	tool     rego.PreparedEvalQuery // tool_decision, for an open gate (Engine.decisionQuery)
	account  rego.PreparedEvalQuery // account_decision, for a call the base allows (DecideLive)
	err      error                  // the module does not compile: every decision denies
}

// compileTenant compiles and prepares an account's module. Only a sandbox
// child calls it.
func (e *Engine) compileTenant(ctx context.Context, regoSrc string) *compiledTenant {
	ct := &compiledTenant{}
	_, c, err := e.tenantModules(TenantRules{Rego: regoSrc}, false)
	if err != nil {
		ct.err = err
		return ct
	}
	for _, q := range []struct {
		query string
		pq    *rego.PreparedEvalQuery
	}{{queryDecision, &ct.decision}, {queryTool, &ct.tool}, {queryAccount, &ct.account}} {
		if *q.pq, err = rego.New(rego.Query(q.query), rego.Compiler(c), rego.Store(e.store)).PrepareForEval(ctx); err != nil {
			ct.err = fmt.Errorf("policy: prepare account rules: %w", err)
			return ct
		}
	}
	return ct
}

// decide evaluates one decision with the compiled rules, cut off after
// TenantTimeout; a failure is the fail-closed denial, with why (plain) and
// the error. A call the base policy allowed (allowed: the rules in force
// did, in the server) is asked account_decision, which equals the whole
// decision for such a call at a fraction of its cost. Only a sandbox
// child calls it.
func (ct *compiledTenant) decide(ctx context.Context, e *Engine, version int, in Input, allowed bool) (d Decision, why string, err error) {
	if ct.err != nil {
		return TenantFailure(version), "its module does not compile", ct.err
	}
	v, err := in.valueWith(&e.terms)
	if err != nil {
		return tenantDenial(version, "its input is malformed"), "its input is malformed", err
	}
	ctx, cancel := context.WithTimeout(ctx, TenantTimeout)
	defer cancel()
	var builtinErrs []topdown.Error
	query := ct.account
	if !allowed {
		query = e.decisionQuery(ctx, in, ct.decision, ct.tool)
	}
	res, err := e.eval(ctx, query, v, rego.EvalBuiltinErrorList(&builtinErrs))
	if err == nil {
		err = tenantBuiltinError(builtinErrs)
	}
	if err == nil {
		if d, err = parseDecision(res); err == nil {
			d.TenantVersion = version
			return d, "", nil
		}
	}
	why = "it failed"
	switch {
	case ctx.Err() != nil:
		why = fmt.Sprintf("it ran longer than %s", TenantTimeout)
	case errors.Is(err, ErrEvalCrashed):
		why = "it crashed"
	case errors.As(err, new(*RuleError)):
		why = "a rule raised an error"
	}
	return tenantDenial(version, why), why, err
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
