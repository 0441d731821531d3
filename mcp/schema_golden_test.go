package mcp_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/tool_inputs.json from the running server")

// TestToolInputSchemasGolden: the input schemas tools/list shows (names,
// argument names, types, required lists, enums, descriptions, limits) are
// the ones in testdata/tool_inputs.json, taken from the server before the
// schemas were generated from the tools' input structs. A change to an
// argument is a change to the public contract: rewrite the file with
// -update and review the diff.
func TestToolInputSchemasGolden(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, allScopes, nil)
	r := rpc(t, url, token, "tools/list", map[string]any{})
	res, _ := r.Body["result"].(map[string]any)
	tools, _ := res["tools"].([]any)
	got := map[string]any{}
	for _, x := range tools {
		m := x.(map[string]any)
		got[m["name"].(string)] = m["inputSchema"]
	}
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	const golden = "testdata/tool_inputs.json"
	if *updateGolden {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("tools/list input schemas differ from %s; run with -update and review the diff:\n%s", golden, b)
	}
}
