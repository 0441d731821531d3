// Package clientconfig writes the MCP client configurations exactly as
// each client reads them (DESIGN §11), in one place for `deskwoot dev`'s
// banner and the console's MCP page.
package clientconfig

import "fmt"

// InspectorVersion is the MCP Inspector the commands pin.
const InspectorVersion = "2.12.0"

// Config is one client's configuration, ready to paste.
type Config struct {
	ID    string // a stable id (mcpservers, openclaw, openclaw-add, inspector)
	Title string // which clients read it, and where
	Text  string
}

// For returns every client's configuration for the MCP endpoint url and
// the token (a raw token or a placeholder).
func For(url, token string) []Config {
	return []Config{
		{ID: "mcpservers", Title: `Claude Desktop, Cursor and most clients ("mcpServers")`, Text: fmt.Sprintf(`{
  "mcpServers": {
    "deskwoot": {
      "url": "%s",
      "headers": { "Authorization": "Bearer %s" }
    }
  }
}`, url, token)},
		{ID: "openclaw", Title: "OpenClaw (~/.openclaw/openclaw.json)", Text: fmt.Sprintf(
			`{ "mcp": { "servers": { "deskwoot": { "url": "%s", "transport": "streamable-http", "headers": { "Authorization": "Bearer %s" } } } } }`, url, token)},
		{ID: "openclaw-add", Title: "OpenClaw, one line", Text: fmt.Sprintf(
			`openclaw mcp add deskwoot --url %s --transport streamable-http --header 'Authorization=Bearer %s'`, url, token)},
		{ID: "inspector", Title: "MCP Inspector CLI", Text: fmt.Sprintf(
			`npx -y @modelcontextprotocol/inspector@%s --cli %s --transport http --header "Authorization: Bearer %s" --method tools/list`, InspectorVersion, url, token)},
	}
}
