package policy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/topdown"

	policies "github.com/deskwoot/deskwoot/rego"
)

// TestResult is one Rego test's outcome.
type TestResult struct {
	Name  string `json:"name"` // package.rule, without "data."
	Pass  bool   `json:"pass"`
	Skip  bool   `json:"skip,omitempty"`
	Error string `json:"error,omitempty"` // why it failed
}

// FileCoverage is the share of a policy file's lines the tests ran.
type FileCoverage struct {
	File       string  `json:"file"`
	Percent    float64 `json:"percent"`
	Covered    int     `json:"covered_lines"`
	NotCovered int     `json:"not_covered_lines"`
}

// TestReport is the outcome of a test run.
type TestReport struct {
	Passed   int            `json:"passed"`
	Failed   int            `json:"failed"`
	Results  []TestResult   `json:"results"`
	Coverage []FileCoverage `json:"coverage,omitempty"`
}

// RunTests runs every Rego test (the *_test.rego files beside the policies)
// with OPA's tester, writes one line per test to w and, with coverage, the
// coverage of each policy file. It is what `deskwoot policy test` runs and
// what `go test ./policy` checks. err reports a policy that does not load;
// failing tests are counted in failed.
func RunTests(ctx context.Context, w io.Writer, withCoverage bool) (passed, failed int, err error) {
	rep, err := baseTests(ctx, withCoverage)
	if err != nil {
		return 0, 0, err
	}
	rep.Write(w)
	return rep.Passed, rep.Failed, nil
}

// Write prints the report as `deskwoot policy test` does.
func (rep TestReport) Write(w io.Writer) {
	for _, r := range rep.Results {
		switch {
		case r.Skip:
			fmt.Fprintf(w, "SKIP %s\n", r.Name)
		case r.Pass:
			fmt.Fprintf(w, "PASS %s\n", r.Name)
		default:
			fmt.Fprintf(w, "FAIL %s: %s\n", r.Name, r.Error)
		}
	}
	for _, c := range rep.Coverage {
		fmt.Fprintf(w, "coverage %-14s %5.1f%% (%d of %d lines)\n", c.File, c.Percent, c.Covered, c.Covered+c.NotCovered)
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", rep.Passed, rep.Failed)
}

// Tests returns the base policy's test report with coverage, run once per
// process and cached (GET /api/v1/policy shows it).
func (e *Engine) Tests(ctx context.Context) (TestReport, error) {
	e.testsOnce.Do(func() { e.tests, e.testsErr = baseTests(context.WithoutCancel(ctx), true) })
	return e.tests, e.testsErr
}

func baseTests(ctx context.Context, withCoverage bool) (TestReport, error) {
	srcs, err := readSources(policies.FS, true)
	if err != nil {
		return TestReport{}, err
	}
	modules, err := parseModules(srcs)
	if err != nil {
		return TestReport{}, err
	}
	// The base policy is trusted; its slowest tests (every tool × every
	// scope) need more than the tester's default 5 s on a busy machine with
	// coverage on.
	runner := tester.NewRunner().SetDefaultRegoVersion(ast.RegoV1).SetModules(modules).SetTimeout(2 * time.Minute)
	return runTests(ctx, runner, modules, withCoverage)
}

// RunTenantTests checks an account's module and tests (as
// ParseTenantRules) and runs the tests against the module compiled beside
// the base policy, in the account's sandbox, bounded by TenantTestTimeout
// in all. A module that does not pass the checks is a *RuleError.
func (e *Engine) RunTenantTests(ctx context.Context, acct int64, tr TenantRules) (TestReport, error) {
	a, err := e.sandboxCall(ctx, acct, TenantTestTimeout, sandboxRequest{Op: opTest, Rules: tr})
	if err != nil {
		return TestReport{}, sandboxRuleError("running its tests", TenantTestTimeout, err)
	}
	if a.RuleErr != nil {
		return TestReport{}, a.RuleErr
	}
	if a.Report.Results == nil {
		a.Report.Results = []TestResult{}
	}
	return a.Report, nil
}

// runTenantTests runs the tests, in a sandbox child.
//
// They do not go through OPA's tester: it runs each test on a goroutine of
// its own without a recover, so one panicking builtin in a test took the
// whole server down. Here each test is evaluated in turn on the caller's
// goroutine, a panic fails that test with a plain sentence, and an error a
// builtin raises fails it too (as it would deny a call).
func (e *Engine) runTenantTests(ctx context.Context, tr TenantRules) (TestReport, error) {
	modules, c, err := e.tenantModules(tr, true)
	if err != nil {
		return TestReport{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, TenantTestTimeout)
	defer cancel()
	rep := TestReport{Results: []TestResult{}}
	pkg := strings.TrimPrefix(tenantTestPackage.String(), "data.")
	for _, name := range testNames(modules[TenantTestsFile]) {
		r := TestResult{Name: pkg + "." + name}
		switch {
		case strings.HasPrefix(name, tester.SkipTestPrefix):
			r.Skip = true
		case ctx.Err() != nil:
			r.Error = fmt.Sprintf("not run: the tests ran longer than %s in all", TenantTestTimeout)
		default:
			r.Pass, r.Error = e.runTenantTest(ctx, c, tenantTestPackage.Append(ast.StringTerm(name)))
		}
		switch {
		case r.Skip:
		case r.Pass:
			rep.Passed++
		default:
			rep.Failed++
		}
		rep.Results = append(rep.Results, r)
	}
	return rep, nil
}

// testNames are the module's test rules (test_… and todo_test_…), each
// once, sorted.
func testNames(m *ast.Module) []string {
	var names []string
	for _, r := range m.Rules {
		name := r.Head.Ref().String()
		if (strings.HasPrefix(name, "test_") || strings.HasPrefix(name, tester.SkipTestPrefix)) && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// runTenantTest evaluates one test rule: it passes when it is true.
func (e *Engine) runTenantTest(ctx context.Context, c *ast.Compiler, rule ast.Ref) (pass bool, why string) {
	defer func() {
		if r := recover(); r != nil {
			slog.ErrorContext(ctx, "an account's Rego test panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			pass, why = false, "the test crashed the evaluator; the call it models would be refused"
		}
	}()
	var builtinErrs []topdown.Error
	rs, err := rego.New(rego.Query(rule.String()), rego.Compiler(c), rego.Store(inmem.NewFromObject(policies.Data())),
		rego.BuiltinErrorList(&builtinErrs)).Eval(ctx)
	switch {
	case ctx.Err() != nil:
		return false, fmt.Sprintf("the tests ran longer than %s in all", TenantTestTimeout)
	case err != nil:
		return false, compileError(err).Error()
	case len(builtinErrs) > 0:
		msg := builtinErrs[0].Message
		if loc := builtinErrs[0].Location; loc != nil {
			msg = fmt.Sprintf("%s line %d: %s", loc.File, loc.Row, msg)
		}
		return false, "a builtin raised an error: " + msg
	case len(rs) == 0 || len(rs[0].Expressions) == 0:
		return false, "the test body was false or undefined"
	case rs[0].Expressions[0].Value != true:
		return false, fmt.Sprintf("the test's value is %v, not true", rs[0].Expressions[0].Value)
	}
	return true, ""
}

func runTests(ctx context.Context, runner *tester.Runner, modules map[string]*ast.Module, withCoverage bool) (TestReport, error) {
	runner = runner.SetStore(inmem.NewFromObject(policies.Data())).CapturePrintOutput(true)
	var cov *cover.Cover
	if withCoverage {
		cov = cover.New()
		runner = runner.SetCoverageQueryTracer(cov)
	}
	ch, err := runner.RunTests(ctx, nil)
	if err != nil {
		return TestReport{}, fmt.Errorf("policy: run tests: %w", err)
	}
	var results []*tester.Result
	for r := range ch {
		results = append(results, r)
	}
	sort.Slice(results, func(i, j int) bool {
		if results[i].Package != results[j].Package {
			return results[i].Package < results[j].Package
		}
		return results[i].Name < results[j].Name
	})
	rep := TestReport{Results: make([]TestResult, 0, len(results))}
	for _, r := range results {
		tr := TestResult{Name: strings.TrimPrefix(r.Package, "data.") + "." + r.Name}
		switch {
		case r.Skip:
			tr.Skip = true
		case r.Pass():
			tr.Pass = true
			rep.Passed++
		default:
			rep.Failed++
			tr.Error = "the test body was false"
			if r.Error != nil {
				tr.Error = r.Error.Error()
			} else if r.FailedAt != nil {
				tr.Error = "failed at " + r.FailedAt.String()
				if r.FailedAt.Location != nil {
					tr.Error = fmt.Sprintf("failed at %s:%d: %s", r.FailedAt.Location.File, r.FailedAt.Location.Row, r.FailedAt.String())
				}
			}
			if len(r.Output) > 0 {
				tr.Error += "; output: " + strings.TrimSpace(string(r.Output))
			}
		}
		rep.Results = append(rep.Results, tr)
	}
	if withCoverage {
		report := cov.Report(modules)
		var files []string
		for f := range report.Files {
			if !strings.HasSuffix(f, "_test.rego") {
				files = append(files, f)
			}
		}
		sort.Strings(files)
		for _, f := range files {
			fr := report.Files[f]
			rep.Coverage = append(rep.Coverage, FileCoverage{File: f, Percent: fr.Coverage, Covered: fr.CoveredLines, NotCovered: fr.NotCoveredLines})
		}
	}
	return rep, nil
}
