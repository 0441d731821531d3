package mcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMCPInspectorCLI drives /api/mcp with the official MCP Inspector CLI
// from npm, a client we did not write.
func TestMCPInspectorCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the npm-based Inspector client")
	}
	if _, err := exec.LookPath("npx"); err != nil {
		t.Skip("npx not found: install Node.js to run the MCP Inspector CLI test")
	}
	t.Parallel()
	// Fetch the client first: a registry that cannot be reached is a reason
	// to skip, not a failure of our server.
	home := t.TempDir()
	fetch := exec.Command("npx", "-y", "@modelcontextprotocol/inspector@2.12.0", "--help")
	fetch.Env = append(fetch.Environ(), "HOME="+home, "npm_config_update_notifier=false")
	if out, err := fetch.CombinedOutput(); err != nil && len(out) > 0 && strings.Contains(string(out), "npm error") {
		t.Skipf("could not fetch the MCP Inspector from npm: %s", out)
	}
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, []string{"conversations:read"}, nil)
	run := func(args ...string) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		base := []string{"-y", "@modelcontextprotocol/inspector@2.12.0", "--cli", url, "--transport", "http",
			"--header", "Authorization: Bearer " + token}
		cmd := exec.CommandContext(ctx, "npx", append(base, args...)...)
		cmd.Env = append(cmd.Environ(), "HOME="+home, "npm_config_update_notifier=false")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("inspector %v: %v\n%s", args, err, out)
		}
		return out
	}
	var list struct {
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(run("--method", "tools/list"), &list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range list.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	want := []string{"get_conversation", "list_conversations", "list_inboxes", "list_labels", "list_team", "search_conversations"}
	if !slices.Equal(names, want) {
		t.Fatalf("Inspector tools/list: %v, want %v", names, want)
	}
	var res struct {
		IsError           bool `json:"isError"`
		StructuredContent struct {
			Conversation struct {
				ID int64 `json:"id"`
			} `json:"conversation"`
		} `json:"structuredContent"`
	}
	out := run("--method", "tools/call", "--tool-name", "get_conversation", "--tool-arg", fmt.Sprintf("conversation_id=%d", w.conv1))
	if err := json.Unmarshal(out, &res); err != nil || res.IsError || res.StructuredContent.Conversation.ID != w.conv1 {
		t.Fatalf("Inspector get_conversation: %v %s", err, out)
	}
}
