package clientconfig

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func byID(t *testing.T, cs []Config, id string) Config {
	t.Helper()
	for _, c := range cs {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no configuration %q", id)
	return Config{}
}

func decode(t *testing.T, c Config) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(c.Text), &v); err != nil {
		t.Fatalf("%s is not JSON: %v\n%s", c.ID, err, c.Text)
	}
	return v
}

func server(t *testing.T, v map[string]any, path ...string) map[string]any {
	t.Helper()
	for _, k := range path {
		next, ok := v[k].(map[string]any)
		if !ok {
			t.Fatalf("no object at %q in %v", k, v)
		}
		v = next
	}
	return v
}

// Each client gets the shape it reads, under a title naming that client.
func TestEachClientGetsItsOwnFormat(t *testing.T) {
	const url, tok = "https://desk.example.com/api/mcp", "dw_mcp_abc"
	cs := For(url, tok)
	for _, c := range cs {
		if strings.Contains(c.Title, "most clients") || c.Title == "" || c.Text == "" {
			t.Errorf("%s: title %q says no client in particular, or the text is empty", c.ID, c.Title)
		}
	}

	claude := byID(t, cs, "claude-connector")
	if claude.Text != url || !strings.Contains(claude.Title, "Connectors") || !strings.Contains(claude.Note, "OAuth") ||
		strings.Contains(claude.Note, "This one is not") {
		t.Errorf("Claude connector: %+v", claude)
	}

	desktop := server(t, decode(t, byID(t, cs, "claude-desktop")), "mcpServers", "deskwoot")
	args, _ := desktop["args"].([]any)
	env := server(t, desktop, "env")
	if desktop["command"] != "npx" || desktop["url"] != nil || !slices.Contains(args, any(url)) ||
		!slices.Contains(args, any("Authorization:${AUTH_HEADER}")) || env["AUTH_HEADER"] != "Bearer "+tok ||
		slices.Contains(args, any("--allow-http")) {
		t.Errorf("Claude Desktop launches mcp-remote with the header from AUTH_HEADER, got %v", desktop)
	}

	cursor := server(t, decode(t, byID(t, cs, "cursor")), "mcpServers", "deskwoot")
	if cursor["url"] != url || server(t, cursor, "headers")["Authorization"] != "Bearer "+tok {
		t.Errorf("Cursor: %v", cursor)
	}
	vscode := server(t, decode(t, byID(t, cs, "vscode")), "servers", "deskwoot")
	if vscode["type"] != "http" || vscode["url"] != url || server(t, vscode, "headers")["Authorization"] != "Bearer "+tok {
		t.Errorf("VS Code: %v", vscode)
	}
	openclaw := server(t, decode(t, byID(t, cs, "openclaw")), "mcp", "servers", "deskwoot")
	if openclaw["transport"] != "streamable-http" || openclaw["url"] != url || server(t, openclaw, "headers")["Authorization"] != "Bearer "+tok {
		t.Errorf("OpenClaw: %v", openclaw)
	}
	if cc := byID(t, cs, "claude-code").Text; cc != `claude mcp add --transport http deskwoot `+url+` --header "Authorization: Bearer `+tok+`"` {
		t.Errorf("Claude Code: %s", cc)
	}
	if add := byID(t, cs, "openclaw-add").Text; !strings.HasPrefix(add, "openclaw mcp add deskwoot --url "+url+" --transport streamable-http") {
		t.Errorf("OpenClaw one-liner: %s", add)
	}
	if in := byID(t, cs, "inspector").Text; !strings.Contains(in, "@modelcontextprotocol/inspector@"+InspectorVersion) || !strings.Contains(in, "Bearer "+tok) {
		t.Errorf("Inspector: %s", in)
	}
}

// Claude connects from Anthropic's cloud: a local URL gets told so, and
// mcp-remote gets --allow-http only where it needs it.
func TestLocalAndPlainHTTPURLs(t *testing.T) {
	local := For("http://127.0.0.1:8080/api/mcp", "tok")
	if n := byID(t, local, "claude-connector").Note; !strings.Contains(n, "This one is not") {
		t.Errorf("a loopback URL must be called unreachable for Claude: %s", n)
	}
	if strings.Contains(byID(t, local, "claude-desktop").Text, "--allow-http") {
		t.Error("mcp-remote takes http on localhost without --allow-http")
	}
	lan := For("http://desk.internal.example:8080/api/mcp", "tok")
	if !strings.Contains(byID(t, lan, "claude-desktop").Text, `"--allow-http"`) {
		t.Error("mcp-remote needs --allow-http for plain http beyond localhost")
	}
	decode(t, byID(t, lan, "claude-desktop"))
}
