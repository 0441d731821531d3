package auditrow_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// writers are the packages that may write an audit row themselves, and
// why. Every door (api, console, mcp, server) writes its rows through a
// request (tenancy.Request) that the unit of work commits with the change
// it records (tenancy.Unit), or alone through the same door (Record, for
// a refusal) — never by itself, and never after the change committed.
var writers = map[string]string{
	"tenancy":      "the unit of work writes the request's row before its COMMIT; signup, sign-in and sign-out write theirs in their own transactions",
	"audit":        "Insert, for the writers below",
	"billing":      "the Stripe webhook writes its row in the transaction of the change it records",
	"trial":        "the operator command writes its row in the transaction of the change it records",
	"tenantpolicy": "the tenant rules are activated in a transaction with their row",
	"oauth":        "fosite's storage writes its grant and revocation rows in the transaction that makes them (one way into a tenant is issue 19 part 3)",
}

// TestOnlyUnitsWriteAuditRows fails when any package outside writers —
// a door above all — writes an audit row itself: calls audit.Insert,
// queues auditrow's INSERT or spells an INSERT into audit_log.
func TestOnlyUnitsWriteAuditRows(t *testing.T) {
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
		pkg := filepath.ToSlash(filepath.Dir(path))
		pkg = strings.TrimPrefix(strings.TrimPrefix(pkg, ".."), "/")
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.SelectorExpr:
				if id, ok := x.X.(*ast.Ident); ok {
					name := id.Name + "." + x.Sel.Name
					if name == "audit.Insert" || name == "auditrow.QueueID" || name == "auditrow.InsertSQL" {
						found[pkg] = append(found[pkg], path+": "+name)
					}
				}
			case *ast.BasicLit:
				if x.Kind == token.STRING {
					s, _ := strconv.Unquote(x.Value)
					if strings.Contains(strings.ToUpper(strings.Join(strings.Fields(s), " ")), "INSERT INTO AUDIT_LOG") {
						found[pkg] = append(found[pkg], path+": an INSERT INTO audit_log")
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for pkg, where := range found {
		if pkg == "auditrow" || pkg == "bench" { // the row itself; the bench's floor B, which writes a row as the server would
			continue
		}
		if _, ok := writers[pkg]; !ok {
			t.Errorf("package %s writes audit rows itself (%s); pass the row in the request (tenancy.Request) to the unit of work that makes the change", pkg, strings.Join(where, "; "))
		}
	}
	for _, door := range []string{"api", "console", "mcp", "server"} {
		if _, ok := writers[door]; ok {
			t.Errorf("door %s is listed as an audit writer", door)
		}
	}
	if len(found) < 3 || !slices.ContainsFunc(found["tenancy"], func(s string) bool { return strings.Contains(s, "auditrow.QueueID") }) {
		t.Fatalf("the scan found too little (%v); does it read the repository?", found)
	}
}
