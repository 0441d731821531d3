package mcp_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
)

// TestAnswersAreMCPGoBytes: over HTTP, a tool call's answer — its result
// encoded once by the door and put in mcp-go's answer (encodeOnce) — is
// byte for byte what mcp-go's own encoder writes for the result the answer
// carries: for reads whose customer text sits in boundaries (with _meta),
// a list, a write, and a tool error.
func TestAnswersAreMCPGoBytes(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, allScopes, nil)
	for _, c := range []struct {
		tool string
		args map[string]any
	}{
		{"get_conversation", map[string]any{"conversation_id": w.conv1}},
		{"get_contact", map[string]any{"contact_id": w.contact1}},
		{"list_conversations", map[string]any{}},
		{"add_private_note", map[string]any{"conversation_id": w.conv1, "content": "Checked <the> \"refund\" & \u2028 more", "idempotency_key": "bytes-1"}},
		{"get_conversation", map[string]any{"conversation_id": 999999999}},
	} {
		res := rpc(t, url, token, "tools/call", map[string]any{"name": c.tool, "arguments": c.args})
		raw := res.Raw
		var msg struct {
			ID     mcpgo.RequestId      `json:"id"`
			Result mcpgo.CallToolResult `json:"result"`
		}
		if err := json.Unmarshal(raw, &msg); err != nil || res.Status != http.StatusOK || len(msg.Result.Content) == 0 {
			t.Fatalf("%s: HTTP %d %s (%v)", c.tool, res.Status, raw, err)
		}
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(mcpgo.NewJSONRPCResultResponse(msg.ID, &msg.Result)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw, want.Bytes()) {
			t.Errorf("%s: the answer is not mcp-go's encoding of its result\n got %s\nwant %s", c.tool, raw, want.Bytes())
		}
	}
}
