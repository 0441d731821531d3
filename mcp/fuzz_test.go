package mcp_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
)

var (
	fuzzOnce  sync.Once
	fuzzW     world
	fuzzToken string
)

// FuzzToolCall sends arbitrary tool names and arguments through the real
// MCP handler (HTTP, authentication, the input layer, the policy, the
// database) with an all-scopes token. No call may answer a 5xx, a JSON-RPC
// error other than an unknown tool, or "internal error"; and a refused call
// writes nothing.
func FuzzToolCall(f *testing.F) {
	url := endpoint(f)
	f.Fuzz(func(t *testing.T, tool string, rawArgs []byte) {
		fuzzOnce.Do(func() {
			fuzzW = newWorld(t)
			fuzzToken = fuzzW.token(t, allScopes, nil)
		})
		var args map[string]any
		if json.Unmarshal(rawArgs, &args) != nil {
			return
		}
		before := counts(t, fuzzW.Account.ID)
		r := rpc(t, url, fuzzToken, "tools/call", map[string]any{"name": tool, "arguments": args})
		if r.Status >= 500 {
			t.Fatalf("%s %s: HTTP %d %v", tool, rawArgs, r.Status, r.Body)
		}
		if e, ok := r.Body["error"].(map[string]any); ok {
			if code, _ := e["code"].(float64); code != -32602 && code != -32601 {
				t.Fatalf("%s %s: JSON-RPC error %v", tool, rawArgs, e)
			}
			return
		}
		res, _ := r.Body["result"].(map[string]any)
		if isErr, _ := res["isError"].(bool); !isErr {
			return
		}
		content, _ := res["content"].([]any)
		text := ""
		if len(content) > 0 {
			text, _ = content[0].(map[string]any)["text"].(string)
		}
		if strings.Contains(text, "internal error") {
			t.Fatalf("%s %s: %q", tool, rawArgs, text)
		}
		if after := counts(t, fuzzW.Account.ID); !sameCounts(before, after) {
			t.Fatalf("%s %s refused (%q) but wrote rows: %v -> %v", tool, rawArgs, text, before, after)
		}
	})
}
