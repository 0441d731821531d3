package tenancy_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestOneWayIntoATenant scans the repository's Go sources: outside this
// package, nothing begins a transaction on the pool (Pool.Begin,
// Pool.BeginTx, pgx.BeginFunc or BeginTxFunc on a Pool) or sets the tenant (deskwoot.account_id), so every tenant
// transaction goes through a Request's (Unit, Read, Record, and InTenant,
// InTenantSnapshot and Batch on top of them), or, before the tenant is known,
// through Resolve or a LookupTx (a credential's look-up).
// The bench, whose baselines measure bare SQL beside the server, is the
// one exception.
func TestOneWayIntoATenant(t *testing.T) {
	found := map[string][]string{}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name != ".." && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		pkg := strings.TrimPrefix(strings.TrimPrefix(filepath.ToSlash(filepath.Dir(path)), ".."), "/")
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.SelectorExpr:
				if in, ok := x.X.(*ast.SelectorExpr); ok && in.Sel.Name == "Pool" && (x.Sel.Name == "Begin" || x.Sel.Name == "BeginTx") {
					found[pkg] = append(found[pkg], path+": Pool."+x.Sel.Name)
				}
			case *ast.CallExpr:
				// pgx.BeginFunc(ctx, x.Pool, …) and pgx.BeginTxFunc begin on the pool too.
				if fn, ok := x.Fun.(*ast.SelectorExpr); ok && (fn.Sel.Name == "BeginFunc" || fn.Sel.Name == "BeginTxFunc") && len(x.Args) > 1 {
					if arg, ok := x.Args[1].(*ast.SelectorExpr); ok && arg.Sel.Name == "Pool" {
						found[pkg] = append(found[pkg], path+": pgx."+fn.Sel.Name+" on the pool")
					}
				}
			case *ast.BasicLit:
				if s, _ := strconv.Unquote(x.Value); x.Kind == token.STRING && strings.Contains(s, "deskwoot.account_id") && strings.Contains(s, "set_config") {
					found[pkg] = append(found[pkg], path+": sets deskwoot.account_id")
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found["tenancy"]) < 3 {
		t.Fatalf("the scan found too little in tenancy (%v); does it read the repository?", found["tenancy"])
	}
	for pkg, where := range found {
		switch pkg {
		case "tenancy", "bench", "dbtest":
			continue
		}
		t.Errorf("package %s enters a tenant itself (%s); go through a tenancy.Request (Unit, Read) or InTenant", pkg, strings.Join(where, "; "))
	}
}

// TestTheFenceImportsNoIdentity: of the project, tenancy imports only the
// audit row it commits (auditrow) and the error type (fault). Who acts in a
// tenant (identity), the billing record and the tenant's rules sit above
// the fence, so that everything that runs SQL can use it without a cycle,
// and the guard carries a statement without knowing the principal it
// checks.
func TestTheFenceImportsNoIdentity(t *testing.T) {
	const module = "github.com/deskwoot/deskwoot/"
	allowed := map[string]bool{module + "auditrow": true, module + "fault": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		n++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, module) && !allowed[p] {
				t.Errorf("%s imports %s: the fence must not depend on what it fences; move the code that needs it out of tenancy", path, p)
			}
		}
	}
	if n < 5 {
		t.Fatalf("read %d of tenancy's files; does the test run in its folder?", n)
	}
}
