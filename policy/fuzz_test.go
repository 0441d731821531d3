package policy

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
)

// FuzzDecide feeds arbitrary decision inputs to the real policy. No input
// may make it fail (a failure would deny with "internal" reasons) or
// panic, and no input may be allowed unless the token holds the scope the
// catalog names for the tool and the account gate is open.
func FuzzDecide(f *testing.F) {
	e := testEngine(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		var in Input
		if json.Unmarshal(raw, &in) != nil {
			return
		}
		d, err := e.Decide(context.Background(), in)
		if err != nil {
			t.Fatalf("Decide(%s): %v", raw, err)
		}
		if !d.Allow {
			return
		}
		tool, ok := e.Catalog()[in.Tool]
		if !ok || !slices.Contains(in.Principal.Scopes, tool.Scope) || !in.Account.MCPEnabled {
			t.Fatalf("allowed %q for %s without its scope %q or an open gate", in.Tool, raw, tool.Scope)
		}
	})
}
