package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/deskwoot/deskwoot/sandbox"
)

// sharedLeaves is a rule whose values share their parts: a and b are equal
// arrays of 2^n leaves built in 2n steps, and comparing them is one
// evaluation step that walks every leaf (2^34: hours). array.slice keeps
// the type checker from nesting the types (see nestedTypes).
func sharedLeaves(n int) string {
	var b strings.Builder
	b.WriteString("package deskwoot.tenant\n\ndeny contains \"never\" if {\n\tinput.tool == \"list_inboxes\"\n\ta0 := \"x\"\n\tb0 := \"x\"\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "\ta%d := array.slice([a%d, a%d], 0, 2)\n\tb%d := array.slice([b%d, b%d], 0, 2)\n", i, i-1, i-1, i, i-1, i-1)
	}
	fmt.Fprintf(&b, "\ta%d == b%d\n\tfalse\n}\n", n, n)
	return b.String()
}

// nestedTypes is a module OPA's type checker takes minutes to compile: the
// type of a_n nests a_(n-1)'s twice, and checking a_n == b_n unifies both
// trees leaf by leaf.
func nestedTypes(n int) string {
	var b strings.Builder
	b.WriteString("package deskwoot.tenant\n\ndeny contains \"never\" if {\n\ta0 := \"x\"\n\tb0 := \"x\"\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "\ta%d := [a%d, a%d]\n\tb%d := [b%d, b%d]\n", i, i-1, i-1, i, i-1, i-1)
	}
	fmt.Fprintf(&b, "\ta%d == b%d\n}\n", n, n)
	return b.String()
}

// bigConcat builds a string by concat calls of a hundred times their
// input: 100 MB in its last call.
func bigConcat() string {
	args := func(x string) string { return strings.TrimSuffix(strings.Repeat(x+", ", 100), ", ") }
	return "package deskwoot.tenant\n\ndeny contains \"never\" if {\n\tinput.tool == \"list_inboxes\"\n" +
		"\tx1 := \"" + strings.Repeat("x", 100) + "\"\n" +
		"\tx2 := concat(\"\", [" + args("x1") + "])\n" +
		"\tx3 := concat(\"\", [" + args("x2") + "])\n" +
		"\tx4 := concat(\"\", [" + args("x3") + "])\n" +
		"\tcount(x4) < 0\n}\n"
}

func listInboxes() Input {
	return Input{Principal: Principal{AccountID: 1, TokenID: 7, Scopes: []string{"conversations:read"}},
		Account: activeEnterprise(), Tool: "list_inboxes", Args: map[string]any{}, Now: testNow}
}

// TestOneStepPastTheDeadlineIsKilled: a rule whose one evaluation step
// runs for hours is stopped with its sandbox child, and the call is denied
// for running long; the account's next call gets a fresh child.
func TestOneStepPastTheDeadlineIsKilled(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	acct := testAcct()
	tp := e.PrepareTenant(acct, 7, TenantRules{Rego: sharedLeaves(34)})
	d, err := tp.Decide(context.Background(), listInboxes())
	// Killed for its time (or, under the race detector, whose shadow
	// memory the walk touches, perhaps for its memory first).
	if d.Allow || d.Rule != RuleTenantFailed || !errors.Is(err, ErrTenantFailed) ||
		(!strings.Contains(d.Reasons[0], "ran longer than 1s") && !strings.Contains(d.Reasons[0], "more memory than its limit")) {
		t.Fatalf("got %+v, %v; want a denial for running long", d, err)
	}
	ok := e.PrepareTenant(acct, 8, TenantRules{Rego: "package deskwoot.tenant\n\ndeny contains \"x\" if input.tool == \"get_article\"\n"})
	if d, err := ok.Decide(context.Background(), listInboxes()); !d.Allow || err != nil {
		t.Errorf("the account's next decision: %+v, %v", d, err)
	}
}

// TestOneCallPastTheMemoryLimitIsKilled: a rule whose one concat call
// writes 100 MB, in a child allowed 96 MB of resident memory, is stopped
// with its child (by the sampling of resident memory, or by the address
// space limit), and the call is denied. (The server's children may hold
// sandboxMemory; this engine's are allowed less so that the test does not
// depend on how fast a machine fills memory.)
func TestOneCallPastTheMemoryLimitIsKilled(t *testing.T) {
	t.Parallel()
	e, err := newEngine(context.Background(), sandbox.Limits{Workers: 1, Memory: 96 << 20, Grace: sandboxGrace})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	tp := e.PrepareTenant(testAcct(), 9, TenantRules{Rego: bigConcat()})
	d, err := tp.Decide(context.Background(), listInboxes())
	if d.Allow || d.Rule != RuleTenantFailed || !errors.Is(err, ErrTenantFailed) ||
		(!strings.Contains(d.Reasons[0], "more memory than its limit") && !strings.Contains(d.Reasons[0], "crashed")) {
		t.Fatalf("got %+v, %v; want a denial for memory", d, err)
	}
	ok := e.PrepareTenant(testAcct(), 1, TenantRules{Rego: "package deskwoot.tenant\n\ndeny contains \"x\" if input.tool == \"get_article\"\n"})
	if d, err := ok.Decide(context.Background(), listInboxes()); !d.Allow || err != nil {
		t.Errorf("the next decision, in a fresh child: %+v, %v", d, err)
	}
}

// TestModuleThatTakesMinutesToCompileIsRefused: compiling happens in the
// account's sandbox too; a module the type checker would chew on for
// minutes is refused after TenantTestTimeout, naming why.
func TestModuleThatTakesMinutesToCompileIsRefused(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	_, err := e.ParseTenantRules(context.Background(), testAcct(), nestedTypes(30), okTests)
	var re *RuleError
	if !errors.As(err, &re) || !strings.Contains(re.Msg, "checking it took longer than 5s") {
		t.Fatalf("got %v, want a RuleError for a check that ran long", err)
	}
	_, err = e.RunTenantTests(context.Background(), testAcct(), TenantRules{Rego: "package deskwoot.tenant\n\ndeny contains \"x\" if false\n",
		Tests: strings.Replace(sharedLeaves(34), "package deskwoot.tenant\n\ndeny contains \"never\" if {\n\tinput.tool == \"list_inboxes\"", "package deskwoot.tenant_test\n\ntest_equal if {", 1)})
	// Whether these tests first reach the deadline or the child's memory
	// limit (a slice of 10 GB) depends on the machine's speed: on a fast
	// one the child dies first. Either way the tests are refused in words
	// and the server goes on.
	if !errors.As(err, &re) || !(strings.Contains(re.Msg, "running its tests took longer than 5s") ||
		strings.Contains(re.Msg, "more memory than its limit") || strings.Contains(re.Msg, "crashed the process")) {
		t.Fatalf("tests: got %v, want a RuleError for tests that ran long or ran out of memory", err)
	}
}
