// Package clientconfig writes the MCP client configurations exactly as
// each client reads them (DESIGN §11), in one place for `deskwoot dev`'s
// banner, the console's MCP page and the README.
//
// Each configuration names the clients it works for, because they differ:
// Claude (desktop and web) adds remote servers only under Settings →
// Connectors, by URL, signing in with OAuth, and takes no static header;
// Claude Desktop's claude_desktop_config.json only launches local programs
// (a "url" entry there is silently ignored), so a static token reaches it
// through the mcp-remote bridge; Cursor, VS Code, Claude Code and OpenClaw
// take the URL and an Authorization header, each in its own format.
package clientconfig

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// InspectorVersion is the MCP Inspector the commands pin.
const InspectorVersion = "2.12.0"

// MCPRemoteVersion is the mcp-remote bridge the Claude Desktop
// configuration pins.
const MCPRemoteVersion = "0.15.1"

// Config is one client's configuration, ready to paste.
type Config struct {
	ID    string // a stable id: claude-connector, claude-desktop, cursor, vscode, claude-code, openclaw, openclaw-add, inspector
	Title string // which clients read it, and where
	Text  string // what to paste or run
	Note  string // what to know first; may be empty
}

// For returns every client's configuration for the MCP endpoint mcpURL and
// the token (a raw token or a placeholder), Claude first.
func For(mcpURL, token string) []Config {
	bearer := "Bearer " + token
	return []Config{
		{ID: "claude-connector", Title: "Claude (desktop and web): Settings → Connectors → Add custom connector, by URL",
			Text: mcpURL, Note: claudeNote(mcpURL)},
		{ID: "claude-desktop", Title: "Claude Desktop with this token: claude_desktop_config.json, through the mcp-remote bridge (Node.js)",
			Text: fmt.Sprintf(`{
  "mcpServers": {
    "deskwoot": {
      "command": "npx",
      "args": ["-y", "mcp-remote@%s", "%s", "--header", "Authorization:${AUTH_HEADER}"%s],
      "env": { "AUTH_HEADER": "%s" }
    }
  }
}`, MCPRemoteVersion, mcpURL, allowHTTP(mcpURL), bearer),
			Note: `claude_desktop_config.json only starts local programs and ignores a "url" entry; mcp-remote is that local program and sends the header. The header goes through AUTH_HEADER because Claude Desktop on Windows splits arguments at spaces. Restart Claude Desktop after editing.`},
		{ID: "cursor", Title: "Cursor: ~/.cursor/mcp.json (or .cursor/mcp.json in a project)", Text: fmt.Sprintf(`{
  "mcpServers": {
    "deskwoot": {
      "url": "%s",
      "headers": { "Authorization": "%s" }
    }
  }
}`, mcpURL, bearer)},
		{ID: "vscode", Title: "VS Code: .vscode/mcp.json (or MCP: Open User Configuration)", Text: fmt.Sprintf(`{
  "servers": {
    "deskwoot": {
      "type": "http",
      "url": "%s",
      "headers": { "Authorization": "%s" }
    }
  }
}`, mcpURL, bearer)},
		{ID: "claude-code", Title: "Claude Code, one line", Text: fmt.Sprintf(
			`claude mcp add --transport http deskwoot %s --header "Authorization: %s"`, mcpURL, bearer)},
		{ID: "openclaw", Title: "OpenClaw: ~/.openclaw/openclaw.json", Text: fmt.Sprintf(
			`{ "mcp": { "servers": { "deskwoot": { "url": "%s", "transport": "streamable-http", "headers": { "Authorization": "%s" } } } } }`, mcpURL, bearer),
			Note: `Without "transport": "streamable-http" OpenClaw falls back to legacy SSE.`},
		{ID: "openclaw-add", Title: "OpenClaw, one line", Text: fmt.Sprintf(
			`openclaw mcp add deskwoot --url %s --transport streamable-http --header 'Authorization=%s'`, mcpURL, bearer)},
		{ID: "inspector", Title: "MCP Inspector CLI: lists the tools", Text: fmt.Sprintf(
			`npx -y @modelcontextprotocol/inspector@%s --cli %s --transport http --header "Authorization: %s" --method tools/list`, InspectorVersion, mcpURL, bearer)},
	}
}

// claudeNote says how Claude connects, and whether it can reach mcpURL:
// Claude's connectors call the server from Anthropic's cloud, also in
// Claude Desktop, so a loopback or plain-http URL never works there.
func claudeNote(mcpURL string) string {
	n := "Paste this URL and nothing else; Claude signs in through Deskwoot's consent page (OAuth, sign in as an admin) and shows what it may do. Claude's connectors take no token header, and Claude connects from Anthropic's servers, also in Claude Desktop, so the URL must be public https."
	if u, err := url.Parse(mcpURL); err == nil && (u.Scheme != "https" || isLocal(u.Hostname())) {
		n += " This one is not: give the server a public https URL (a tunnel to it, with DESKWOOT_PUBLIC_URL), or use the Claude Desktop bridge below."
	}
	return n
}

// allowHTTP is mcp-remote's --allow-http, which it needs for a plain-http
// URL that is not on localhost.
func allowHTTP(mcpURL string) string {
	u, err := url.Parse(mcpURL)
	if err != nil || u.Scheme != "http" || isLocal(u.Hostname()) {
		return ""
	}
	return `, "--allow-http"`
}

func isLocal(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified())
}
