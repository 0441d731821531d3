package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// newInbox makes an api inbox in the browser's workspace.
func newInbox(t *testing.T, c *Console, acct int64, name string) desk.Inbox {
	t.Helper()
	ib, err := c.cfg.Desk.InboxCreate(context.Background(), tenancy.For(acct), desk.InboxInput{Name: name, Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	return ib
}

// newAgent adds an agent to the account and signs them in.
func newAgent(t *testing.T, srv interface{ Close() }, b *browser, acct int64) *browser {
	t.Helper()
	email := dbtest.Unique("agent") + "@example.com"
	if _, _, err := dbtest.Identities(t).UserCreate(context.Background(), tenancy.For(acct), email, "Agent", "agent password 1", "agent"); err != nil {
		t.Fatal(err)
	}
	ag := &browser{t: t, base: b.base, hc: newBrowserClient()}
	wantRedirect(t, ag.post("/signin", url.Values{"email": {email}, "password": {"agent password 1"}}), "/")
	return ag
}

var rawToken = regexp.MustCompile(`id="new-token" name="token" type="text" value="(dw_mcp_[0-9A-Za-z]+)"`)

func TestMCPPageAccess(t *testing.T) {
	t.Parallel()
	c, srv := testConsole(t, nil)
	anon := newBrowser(t, srv)
	wantRedirect(t, anon.get("/settings/mcp"), "/signin?next=%2Fsettings%2Fmcp")
	wantRedirect(t, anon.post("/settings/mcp/tokens", url.Values{"name": {"x"}}), "/signin?next=%2Fsettings%2Fmcp%2Ftokens")

	a, _ := signUp(t, srv)
	p, _ := accountOf(t, c, a)
	ag := newAgent(t, srv, a, p.AccountID)
	wantStatus(t, ag.get("/settings/mcp"), http.StatusForbidden).has(t, "Only workspace admins")
	wantStatus(t, ag.post("/settings/mcp", url.Values{"enabled": {"on"}}), http.StatusForbidden)
	wantStatus(t, ag.post("/settings/mcp/tokens", url.Values{"name": {"x"}, "preset": {"full_agent"}}), http.StatusForbidden)
	if _, acct := accountOf(t, c, a); acct.MCPEnabled {
		t.Fatal("an agent switched MCP on")
	}
	if ts, _ := identity.MCPTokenList(context.Background(), c.cfg.DB, p.AccountID); len(ts) != 0 {
		t.Fatalf("an agent minted %d tokens", len(ts))
	}
	// Cross-site posts never reach the handler.
	wantStatus(t, a.post("/settings/mcp", url.Values{"enabled": {"on"}}, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"), http.StatusForbidden)
	if _, acct := accountOf(t, c, a); acct.MCPEnabled {
		t.Fatal("a cross-site post switched MCP on")
	}
}

func TestMCPSwitchProvisionsTheAgentOnce(t *testing.T) {
	t.Parallel()
	c, srv := testConsole(t, nil)
	b, _ := signUp(t, srv)
	// Each client's configuration under a title naming it (Claude by URL
	// with OAuth, Claude Desktop through mcp-remote, Cursor, VS Code, Claude
	// Code, OpenClaw, the Inspector), and where a REST token comes from.
	cfg := wantStatus(t, b.get("/settings/mcp"), http.StatusOK)
	cfg.has(t, "MCP server", "Off.", "http://127.0.0.1/api/mcp", "Settings → Connectors", "OAuth", "mcp-remote@", `"AUTH_HEADER"`,
		"Cursor", `"mcpServers"`, "VS Code", `"servers"`, `"type": "http"`, "claude mcp add --transport http deskwoot",
		"openclaw mcp add deskwoot", "@modelcontextprotocol/inspector@", "POST /api/v1/login")
	cfg.lacks(t, "most clients")
	wantRedirect(t, b.post("/settings/mcp", url.Values{"enabled": {"on"}}), "/settings/mcp")
	_, acct := accountOf(t, c, b)
	if !acct.MCPEnabled || acct.ServiceUserID == nil {
		t.Fatalf("after switching on: %+v", acct)
	}
	first := *acct.ServiceUserID
	wantStatus(t, b.get("/settings/mcp"), http.StatusOK).has(t, "The MCP server is on", "On.")
	wantRedirect(t, b.post("/settings/mcp", url.Values{}), "/settings/mcp")
	wantRedirect(t, b.post("/settings/mcp", url.Values{"enabled": {"on"}}), "/settings/mcp")
	_, acct = accountOf(t, c, b)
	if !acct.MCPEnabled || *acct.ServiceUserID != first {
		t.Fatalf("switching again: %+v (first agent %d)", acct, first)
	}
}

func TestMCPTokenFormBadInputKeepsFields(t *testing.T) {
	t.Parallel()
	c, srv := testConsole(t, nil)
	b, _ := signUp(t, srv)
	p, _ := accountOf(t, c, b)
	ib := newInbox(t, c, p.AccountID, "Web widget")
	id := fmt.Sprint(ib.ID)

	pg := wantStatus(t, b.post("/settings/mcp/tokens", url.Values{"name": {""}, "inbox": {id}, "require_approval": {"on"}, "expires": {"2099-01-31"}}), http.StatusBadRequest)
	if pg.fieldError("name") == "" {
		t.Fatalf("no error next to Name:\n%s", pg.text())
	}
	if !strings.Contains(pg.Body, `id="f-scope-error">Tick at least one scope`) {
		t.Fatalf("no error next to the scopes:\n%s", pg.text())
	}
	for _, kept := range []string{`value="` + id + `" checked`, `name="require_approval" type="checkbox" value="on" checked`, `value="2099-01-31"`} {
		if !strings.Contains(pg.Body, kept) {
			t.Fatalf("field not kept: %s", kept)
		}
	}
	pg = wantStatus(t, b.post("/settings/mcp/tokens", url.Values{"name": {"bot"}, "preset": {"read_only"}, "scope": {"conversations:read"}, "expires": {"2001-01-01"}}), http.StatusBadRequest)
	if e := pg.fieldError("expires"); !strings.Contains(e, "future") {
		t.Fatalf("past expiry: %q", e)
	}
	if pg.fieldValue("name") != "bot" || !strings.Contains(pg.Body, `value="conversations:read" checked`) || !strings.Contains(pg.Body, `value="read_only" selected`) {
		t.Fatal("name, scope or preset not kept")
	}
	pg = wantStatus(t, b.post("/settings/mcp/tokens", url.Values{"name": {"bot"}, "preset": {"everything"}}), http.StatusBadRequest)
	if e := pg.fieldError("preset"); !strings.Contains(e, "Unknown preset") {
		t.Fatalf("unknown preset: %q", e)
	}
	pg = wantStatus(t, b.post("/settings/mcp/tokens", url.Values{"name": {"bot"}, "preset": {"read_only"}, "expires": {"next week"}}), http.StatusBadRequest)
	if pg.fieldError("expires") == "" {
		t.Fatal("no error for an unreadable date")
	}
	// Another workspace's inbox is not one of ours.
	other := dbtest.NewTenant(t)
	foreign := newInbox(t, c, other.Account.ID, "Theirs")
	pg = wantStatus(t, b.post("/settings/mcp/tokens", url.Values{"name": {"bot"}, "preset": {"read_only"}, "inbox": {fmt.Sprint(foreign.ID)}}), http.StatusBadRequest)
	if e := pg.fieldError("inbox"); !strings.Contains(e, "not found") {
		t.Fatalf("foreign inbox: %q\n%s", e, pg.text())
	}
	if ts, _ := identity.MCPTokenList(context.Background(), c.cfg.DB, p.AccountID); len(ts) != 0 {
		t.Fatalf("bad forms minted %d tokens", len(ts))
	}
}

func TestMCPTokenShownOnceThenRevoked(t *testing.T) {
	t.Parallel()
	c, srv := testConsole(t, nil)
	b, _ := signUp(t, srv)
	p, _ := accountOf(t, c, b)
	ib := newInbox(t, c, p.AccountID, "Web widget")
	newInbox(t, c, p.AccountID, "Email")
	wantRedirect(t, b.post("/settings/mcp", url.Values{"enabled": {"on"}}), "/settings/mcp")

	res := wantStatus(t, b.post("/settings/mcp/tokens", url.Values{"name": {"triage-bot"}, "preset": {"read_only"}, "inbox": {fmt.Sprint(ib.ID)}, "require_approval": {"on"}}), http.StatusOK)
	m := rawToken.FindStringSubmatch(res.Body)
	if m == nil {
		t.Fatalf("no Token field:\n%s", res.text())
	}
	raw := m[1]
	res.has(t, "Copy it now", "preset read_only", "Web widget", "Required", "Active")
	if !strings.Contains(res.Body, `Bearer `+raw) {
		t.Fatal("the client configurations are not filled with the new token")
	}
	for _, v := range res.Header.Values("Set-Cookie") {
		if strings.Contains(v, raw) {
			t.Fatal("the raw token went into a cookie")
		}
	}
	pr, err := identity.AuthenticateMCP(context.Background(), c.cfg.DB, raw, time.Now())
	if err != nil || pr.TokenName != "triage-bot" || len(pr.InboxIDs) != 1 || pr.InboxIDs[0] != ib.ID || !pr.RequireApproval {
		t.Fatalf("minted token: %+v, %v", pr, err)
	}
	// Never again.
	again := wantStatus(t, b.get("/settings/mcp"), http.StatusOK)
	if strings.Contains(again.Body, raw) {
		t.Fatal("the raw token was shown a second time")
	}
	again.has(t, "triage-bot", "Revoke")
	// Filling the configurations with a chosen token uses its prefix only.
	filled := wantStatus(t, b.get(fmt.Sprintf("/settings/mcp?fill=%d", pr.TokenID)), http.StatusOK)
	if !strings.Contains(filled.Body, "Bearer "+raw[:11]+"…") || strings.Contains(filled.Body, raw) {
		t.Fatal("fill-in should show the token's prefix, never its secret")
	}

	wantRedirect(t, b.post(fmt.Sprintf("/settings/mcp/tokens/%d/revoke", pr.TokenID), url.Values{"name": {"triage-bot"}}), "/settings/mcp")
	if _, err := identity.AuthenticateMCP(context.Background(), c.cfg.DB, raw, time.Now()); !errors.Is(err, identity.ErrTokenRevoked) {
		t.Fatalf("after Revoke: %v", err)
	}
	after := wantStatus(t, b.get("/settings/mcp"), http.StatusOK)
	after.has(t, "Token triage-bot is revoked", "Revoked")
	wantStatus(t, b.post("/settings/mcp/tokens/999999999/revoke", nil), http.StatusNotFound)
	wantStatus(t, b.post("/settings/mcp/tokens/abc/revoke", nil), http.StatusNotFound)
}

func TestMCPPageNeverShowsAnotherWorkspace(t *testing.T) {
	t.Parallel()
	c, srv := testConsole(t, nil)
	a, _ := signUp(t, srv)
	pa, _ := accountOf(t, c, a)
	newInbox(t, c, pa.AccountID, "Alpha inbox")
	res := wantStatus(t, a.post("/settings/mcp/tokens", url.Values{"name": {"alpha-secret-bot"}, "preset": {"full_agent"}}), http.StatusOK)
	if rawToken.FindStringSubmatch(res.Body) == nil {
		t.Fatal("no token minted")
	}
	ts, _ := identity.MCPTokenList(context.Background(), c.cfg.DB, pa.AccountID)

	b, _ := signUp(t, srv)
	pg := wantStatus(t, b.get("/settings/mcp"), http.StatusOK)
	pg.lacks(t, "alpha-secret-bot", "Alpha inbox")
	wantStatus(t, b.post(fmt.Sprintf("/settings/mcp/tokens/%d/revoke", ts[0].ID), nil), http.StatusNotFound)
	if ts, _ := identity.MCPTokenList(context.Background(), c.cfg.DB, pa.AccountID); ts[0].RevokedAt != nil {
		t.Fatal("another workspace revoked the token")
	}
}

// TestMCPSwitchesAndTokenPause: "Pause AI agents", the tool switches and
// the limits are saved from the MCP page (unticked = off) and shown back;
// bad limits are refused and change nothing; Pause and Resume in the token
// table pause the token (its principal says so) and lift the pause.
func TestMCPSwitchesAndTokenPause(t *testing.T) {
	t.Parallel()
	c, srv := testConsole(t, nil)
	b, _ := signUp(t, srv)
	p, _ := accountOf(t, c, b)
	wantRedirect(t, b.post("/settings/mcp", url.Values{"enabled": {"on"}}), "/settings/mcp")
	page := wantStatus(t, b.get("/settings/mcp"), http.StatusOK)
	page.has(t, "Pause AI agents", "Tool switches", "reply_to_conversation", "Refusals")

	var tick []string
	for name := range c.cfg.Policy.Catalog() {
		if name != "poll_events" && name != "add_private_note" {
			tick = append(tick, name)
		}
	}
	wantRedirect(t, b.post("/settings/mcp/switches", url.Values{"agents_paused": {"on"}, "tool": tick,
		"suspend_after_denials": {"7"}, "suspend_after_inbox_probes": {"0"}}), "/settings/mcp")
	sw, err := identity.MCPSwitchesGet(context.Background(), c.cfg.DB, p.AccountID)
	if err != nil || !sw.AgentsPaused || fmt.Sprint(sw.DisabledTools) != "[add_private_note poll_events]" || sw.SuspendAfterDenials != 7 || sw.SuspendAfterInboxProbe != 0 {
		t.Fatalf("switches after save: %+v %v", sw, err)
	}
	shown := wantStatus(t, b.get("/settings/mcp"), http.StatusOK)
	shown.has(t, "Paused.")
	if !strings.Contains(shown.Body, `value="poll_events">`) || !strings.Contains(shown.Body, `value="get_article" checked>`) {
		t.Error("the tool switches do not show poll_events off and get_article on")
	}
	wantStatus(t, b.post("/settings/mcp/switches", url.Values{"tool": tick, "suspend_after_denials": {"many"}, "suspend_after_inbox_probes": {"5"}}), http.StatusBadRequest).
		has(t, "Enter a whole number")
	if again, _ := identity.MCPSwitchesGet(context.Background(), c.cfg.DB, p.AccountID); !again.AgentsPaused {
		t.Fatal("a refused save changed the switches")
	}

	res := wantStatus(t, b.post("/settings/mcp/tokens", url.Values{"name": {"triage-bot"}, "preset": {"read_only"}}), http.StatusOK)
	raw := rawToken.FindStringSubmatch(res.Body)[1]
	pr, _ := identity.AuthenticateMCP(context.Background(), c.cfg.DB, raw, time.Now())
	res.has(t, "0 of 600", "Pause")
	wantRedirect(t, b.post(fmt.Sprintf("/settings/mcp/tokens/%d/pause", pr.TokenID), nil), "/settings/mcp")
	if pr, err = identity.AuthenticateMCP(context.Background(), c.cfg.DB, raw, time.Now()); err != nil || !pr.Paused || pr.PauseReason != identity.PauseByAdmin {
		t.Fatalf("after Pause: %+v %v", pr, err)
	}
	wantStatus(t, b.get("/settings/mcp"), http.StatusOK).has(t, "Token triage-bot is paused", "Paused", "paused by an admin", "Resume")
	wantRedirect(t, b.post(fmt.Sprintf("/settings/mcp/tokens/%d/resume", pr.TokenID), nil), "/settings/mcp")
	if pr, err = identity.AuthenticateMCP(context.Background(), c.cfg.DB, raw, time.Now()); err != nil || pr.Paused {
		t.Fatalf("after Resume: %+v %v", pr, err)
	}
	wantStatus(t, b.post("/settings/mcp/tokens/999999999/pause", nil), http.StatusNotFound)
}
