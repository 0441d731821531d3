package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/types"
)

// slowRule loops over literal arrays for about 30^6 steps: far longer than
// TenantTimeout, with only builtins account rules may call, so only the
// deadline stops it.
const slowRule = `package deskwoot.tenant

deny contains "never" if {
	xs := [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29]
	some a in xs
	some b in xs
	some c in xs
	some d in xs
	some e in xs
	some f in xs
	a + b + c + d + e + f < 0
}
`

// crashTests is the test module that crashed the server (issue 18): a
// builtin that builds 2^(2^63) bits in one call.
const crashTests = `package deskwoot.tenant_test

import data.deskwoot.tenant

test_boom if {
	bits.lsh(1, 9223372036854775807) > 0
}
`

// TestTenantBuiltinsRefusedWithTheirLine: a builtin that can build a huge
// value in one call, or whose format asks for a huge width, is refused at
// submission with its line, in the module and in the tests, called
// directly, nested, or put in place of another with `with`.
func TestTenantBuiltinsRefusedWithTheirLine(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	const mod = "package deskwoot.tenant\n\ndeny contains \"x\" if false\n"
	deny := func(body string) string {
		return "package deskwoot.tenant\n\ndeny contains \"x\" if {\n\t" + body + "\n}\n"
	}
	cases := []struct {
		name, rego, tests string
		file              string
		line              int
		want              string
	}{
		{"the crash payload", mod, crashTests, TenantTestsFile, 6, "bits.lsh is not allowed in account rules (it can build a huge number in one call)"},
		{"bits.lsh in a rule", deny("bits.lsh(1, 33554432) > 0"), okTests, TenantFile, 4, "bits.lsh is not allowed"},
		{"numbers.range", deny("some i in numbers.range(1, 1000000000)\n\ti < 0"), okTests, TenantFile, 4, "numbers.range is not allowed"},
		{"numbers.range_step", deny("count(numbers.range_step(1, 1000000000, 1)) > 0"), okTests, TenantFile, 4, "numbers.range_step is not allowed"},
		{"nested", deny("count(split(concat(\",\", [\"a\", sprintf(\"%v\", [bits.lsh(1, 99)])]), \",\")) > 0"), okTests, TenantFile, 4, "bits.lsh is not allowed"},
		{"strings.replace_n", deny("strings.replace_n({\"\": input.tool}, input.tool) != \"\""), okTests, TenantFile, 4, "strings.replace_n is not allowed"},
		{"replace", deny("replace(input.tool, \"\", input.tool) != \"\""), okTests, TenantFile, 4, "replace is not allowed"},
		{"array.concat", deny("count(array.concat([1], [2])) > 5"), okTests, TenantFile, 4, "array.concat is not allowed"},
		{"json.marshal", deny("json.marshal(input) == \"\""), okTests, TenantFile, 4, "json.marshal is not allowed"},
		{"walk", deny("walk(input, [p, v])"), okTests, TenantFile, 4, "walk is not allowed"},
		{"yaml", deny("yaml.unmarshal(input.tool) == 1"), okTests, TenantFile, 4, "yaml.unmarshal is not allowed"},
		{"a parser nobody needs", deny("graphql.parse_query(input.tool)"), okTests, TenantFile, 4, "graphql.parse_query is not allowed in account rules (it is not available to account rules)"},
		{"sprintf width", deny("sprintf(\"%999999999d\", [1]) != \"\""), okTests, TenantFile, 4, "sprintf: widths and precisions are at most 99"},
		{"sprintf precision", deny("sprintf(\"%.999999999f\", [1]) != \"\""), okTests, TenantFile, 4, "sprintf: widths and precisions are at most 99"},
		{"sprintf star", deny("sprintf(\"%*d\", [999999999, 1]) != \"\""), okTests, TenantFile, 4, "passed as an argument"},
		{"sprintf format from input", deny("sprintf(input.tool, [1]) != \"\""), okTests, TenantFile, 4, "format must be a string literal"},
		{"a mock", mod, "package deskwoot.tenant_test\n\nimport data.deskwoot.tenant\n\ntest_x if {\n\tcount(tenant.deny) == 0 with concat as array.concat\n}\n", TenantTestsFile, 6, "array.concat is not allowed"},
	}
	for _, c := range cases {
		_, err := e.ParseTenantRules(context.Background(), testAcct(), c.rego, c.tests)
		var re *RuleError
		if !errors.As(err, &re) {
			t.Errorf("%s: got %v, want a RuleError", c.name, err)
			continue
		}
		if re.File != c.file || re.Line != c.line || !strings.Contains(re.Msg, c.want) {
			t.Errorf("%s: got %q (file %s line %d), want file %s line %d containing %q", c.name, re.Error(), re.File, re.Line, c.file, c.line, c.want)
		}
	}
	for _, ok := range []string{
		deny("sprintf(\"%s in inbox %d, %.2f%% (%-10s)\", [input.tool, 3, 1.5, \"x\"]) != \"\""),
		deny("sprintf(\"100%% 99999 items\", []) != \"\""),
		deny("startswith(lower(trim_space(input.tool)), \"reply\")\n\tregex.match(`^re`, input.tool)\n\tglob.match(\"reply_*\", [], input.tool)"),
		deny("time.weekday(time.parse_rfc3339_ns(input.now)) == \"Sunday\""),
		deny("count([x | some x in input.principal.scopes; startswith(x, \"c\")]) > 3"),
	} {
		if _, err := e.ParseTenantRules(context.Background(), testAcct(), ok, okTests); err != nil {
			t.Errorf("an ordinary rule was refused: %v\n%s", err, ok)
		}
	}
}

// TestTenantBuiltinsExist: every builtin account rules may call exists in
// this OPA (an upgrade that renames one fails here, not in a customer's
// rules), and none of them is one the checks refuse.
func TestTenantBuiltinsExist(t *testing.T) {
	t.Parallel()
	for name := range tenantBuiltins {
		if _, ok := ast.BuiltinMap[name]; !ok {
			t.Errorf("%s is allowed but OPA has no such builtin", name)
		}
		if _, refused := refusedBuiltins[name]; refused {
			t.Errorf("%s is both allowed and refused", name)
		}
	}
	for name := range refusedBuiltins {
		if _, ok := ast.BuiltinMap[name]; !ok {
			t.Errorf("%s is refused but OPA has no such builtin", name)
		}
	}
}

// TestTenantTestsSurviveTheCrashPayload: the crash payload, had it passed
// the checks, runs on the caller's goroutine where a panic is recovered:
// the process goes on. The checks refuse it first, so this calls the test
// runner's evaluation directly with a compiler that allows it.
func TestTenantTestsSurviveTheCrashPayload(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	modules, err := parseModules(e.sources)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := parseTenantModule(TenantTestsFile, crashTests)
	if err != nil {
		t.Fatal(err)
	}
	modules[TenantTestsFile] = tm
	c := ast.NewCompiler()
	if c.Compile(modules); c.Failed() {
		t.Fatal(c.Errors)
	}
	pass, why := e.runTenantTest(context.Background(), c, tenantTestPackage.Append(ast.StringTerm("test_boom")))
	if pass || why != "the test crashed the evaluator; the call it models would be refused" {
		t.Errorf("got %v %q", pass, why)
	}
}

// TestEvalRecoversAPanic: a builtin that panics inside an evaluation is an
// error with a plain sentence, never a crash and never the panic's text.
func TestEvalRecoversAPanic(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	pq, err := rego.New(rego.Query("x := test.boom(1)"), rego.Function1(
		&rego.Function{Name: "test.boom", Decl: types.NewFunction(types.Args(types.N), types.N)},
		func(rego.BuiltinContext, *ast.Term) (*ast.Term, error) { panic("makeslice: len out of range") },
	)).PrepareForEval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.eval(context.Background(), pq, ast.NewObject())
	if !errors.Is(err, ErrEvalCrashed) || strings.Contains(err.Error(), "makeslice") {
		t.Errorf("got %v, want ErrEvalCrashed without the panic's text", err)
	}
}

// TestTenantRuleErrorDenies: a rule that raises an error (1 / 0) refuses
// the call, saying so in plain words; before, OPA made the expression
// undefined and the call went through.
func TestTenantRuleErrorDenies(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	ctx := context.Background()
	for _, body := range []string{"x := 1 / 0\n\tx > 0", "to_number(input.tool) > 0"} {
		for _, rule := range []string{"deny", "require_approval"} {
			src := fmt.Sprintf("package deskwoot.tenant\n\n%s contains \"x\" if {\n\tinput.tool == \"list_inboxes\"\n\t%s\n}\n", rule, body)
			tp := e.PrepareTenant(testAcct(), 5, TenantRules{Rego: src})
			d, err := tp.Decide(ctx, Input{Principal: Principal{AccountID: 1, TokenID: 7, Scopes: []string{"conversations:read"}},
				Account: activeEnterprise(), Tool: "list_inboxes", Args: map[string]any{}, Now: testNow})
			var re *RuleError
			if d.Allow || d.Rule != RuleTenantFailed || len(d.Reasons) != 1 ||
				d.Reasons[0] != "this account's policy rules (version 5) could not be evaluated: a rule raised an error; the call was refused until an admin fixes or removes them" ||
				!errors.Is(err, ErrTenantFailed) || !errors.As(err, &re) || re.Line != 5 {
				t.Errorf("%s with %q: %+v, %v; want a plain fail-closed denial naming line 5 in the error", rule, body, d, err)
			}
		}
	}
	// A rule that does not apply raises nothing and denies nothing.
	tp := e.PrepareTenant(testAcct(), 5, TenantRules{Rego: "package deskwoot.tenant\n\ndeny contains \"x\" if {\n\tinput.tool == \"get_article\"\n\t1 / 0 > 0\n}\n"})
	if d, err := tp.Decide(ctx, Input{Principal: Principal{AccountID: 1, TokenID: 7, Scopes: []string{"conversations:read"}},
		Account: activeEnterprise(), Tool: "list_inboxes", Args: map[string]any{}, Now: testNow}); !d.Allow || err != nil {
		t.Errorf("a rule for another tool: %+v, %v", d, err)
	}
}

// TestTenantTestErrorFails: a test whose builtin raises an error fails,
// naming the line, as the call it models would be refused.
func TestTenantTestErrorFails(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	tr, err := e.ParseTenantRules(context.Background(), testAcct(), "package deskwoot.tenant\n\ndeny contains \"x\" if {\n\tx := 1 / 0\n\tx > 0\n}\n",
		"package deskwoot.tenant_test\n\nimport data.deskwoot.tenant\n\ntest_nothing_denied if {\n\tcount(tenant.deny) == 0\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := e.RunTenantTests(context.Background(), testAcct(), tr)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed != 1 || !strings.Contains(rep.Results[0].Error, "rego line 4: div: divide by zero") {
		t.Errorf("report %+v", rep)
	}
}

// TestTenantReasonsCapped: a rule denying with 200 reasons of 400
// characters gives MaxReasons reasons of at most MaxReasonChars characters,
// the last saying how many more there were. (The cap does not depend on
// the count; the API test sends the finding's 20,000.)
func TestTenantReasonsCapped(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	ctx := context.Background()
	src := `package deskwoot.tenant

deny contains sprintf("%d%d%d %s%s%s%s", [a, b, f, long, long, long, long]) if {
	long := "ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé"
	xs := [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
	some a in xs
	some b in xs
	some f in [0, 1]
}
`
	tp := e.PrepareTenant(testAcct(), 6, TenantRules{Rego: src})
	d, err := tp.Decide(ctx, Input{Principal: Principal{AccountID: 1, TokenID: 7, Scopes: []string{"conversations:read"}},
		Account: activeEnterprise(), Tool: "list_inboxes", Args: map[string]any{}, Now: testNow})
	if err != nil || d.Allow || len(d.Reasons) != MaxReasons || d.Reasons[MaxReasons-1] != "… and 191 more reasons" {
		t.Fatalf("%d reasons, last %q, %v", len(d.Reasons), d.Reasons[len(d.Reasons)-1], err)
	}
	for _, r := range d.Reasons {
		if n := utf8.RuneCountInString(r); n > MaxReasonChars || !utf8.ValidString(r) {
			t.Errorf("a reason of %d characters (valid UTF-8: %v)", n, utf8.ValidString(r))
		}
	}
	if !strings.HasSuffix(d.Reasons[0], "…") {
		t.Errorf("a cut reason does not say so: %q", d.Reasons[0])
	}
}
