package console_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/deskwoot/deskwoot/dbtest"
)

// TestMCPSwitchesEndToEnd drives Settings → MCP server in Chromium: switch
// MCP on, mint a token, pause the workspace's agents and switch a tool
// off, pause and resume the token from its row; screenshots at desktop
// (1280) and phone (390) width in /tmp/shots/h24-oversight.
func TestMCPSwitchesEndToEnd(t *testing.T) {
	br := startChrome(t, 4*time.Minute)
	base, _ := startServer(t)
	p := br.tab(base)

	p.open("/signup")
	p.fill("Workspace name", "Acme Support")
	p.fill("Email", dbtest.Unique("sw")+"@example.com")
	p.fill("Password", "correct horse battery")
	p.press("Create account", "")
	p.open("/settings/mcp")
	p.tick("MCP server")
	p.press("Save", "")
	p.fill("Name", "triage-bot")
	p.fill("Preset", "full_agent")
	p.press("Create token", "")
	p.has("Copy it now", "0 of 600")

	p.tick("Pause AI agents")
	p.tick("poll_events")
	p.fill("Refusals", "12")
	p.press("Save switches", "")
	p.has("AI agents are paused", "1 tools are switched off", "Paused.")
	if v := p.value("Refusals"); v != "12" {
		t.Fatalf("Refusals shows %q after saving 12", v)
	}
	p.press("Pause", "triage-bot")
	p.has("Token triage-bot is paused", "paused by an admin", "Resume")
	p.shot("mcp-switches-desktop")
	p.run("phone width", chromedp.EmulateViewport(390, 844))
	p.open("/settings/mcp")
	p.shot("mcp-switches-phone")
	p.run("desktop width", chromedp.EmulateViewport(1280, 900))
	p.press("Resume", "triage-bot")
	p.has("Token triage-bot is resumed")
}
