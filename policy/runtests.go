package policy

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"

	policies "github.com/deskwoot/deskwoot/rego"
)

// RunTests runs every Rego test (the *_test.rego files beside the policies)
// with OPA's tester, writes one line per test to w and, with coverage, the
// coverage of each policy file. It is what `deskwoot policy test` runs and
// what `go test ./policy` checks. err reports a policy that does not load;
// failing tests are counted in failed.
func RunTests(ctx context.Context, w io.Writer, withCoverage bool) (passed, failed int, err error) {
	srcs, err := readSources(policies.FS, true)
	if err != nil {
		return 0, 0, err
	}
	modules, err := parseModules(srcs)
	if err != nil {
		return 0, 0, err
	}
	runner := tester.NewRunner().
		SetDefaultRegoVersion(ast.RegoV1).
		SetStore(inmem.New()).
		SetModules(modules).
		CapturePrintOutput(true)
	var cov *cover.Cover
	if withCoverage {
		cov = cover.New()
		runner = runner.SetCoverageQueryTracer(cov)
	}
	ch, err := runner.RunTests(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("policy: run tests: %w", err)
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
	for _, r := range results {
		name := strings.TrimPrefix(r.Package, "data.") + "." + r.Name
		switch {
		case r.Skip:
			fmt.Fprintf(w, "SKIP %s\n", name)
		case r.Pass():
			passed++
			fmt.Fprintf(w, "PASS %s (%s)\n", name, r.Duration.Round(1000))
		default:
			failed++
			why := "the test body was false"
			if r.Error != nil {
				why = r.Error.Error()
			} else if r.FailedAt != nil {
				why = "failed at " + r.FailedAt.String()
				if r.FailedAt.Location != nil {
					why = fmt.Sprintf("failed at %s:%d: %s", r.FailedAt.Location.File, r.FailedAt.Location.Row, r.FailedAt.String())
				}
			}
			fmt.Fprintf(w, "FAIL %s: %s\n", name, why)
			if len(r.Output) > 0 {
				fmt.Fprintf(w, "     output: %s\n", strings.TrimSpace(string(r.Output)))
			}
		}
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
			fmt.Fprintf(w, "coverage %-14s %5.1f%% (%d of %d lines)\n", f, fr.Coverage, fr.CoveredLines, fr.CoveredLines+fr.NotCoveredLines)
		}
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed)
	return passed, failed, nil
}
