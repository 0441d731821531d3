package console

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/clientconfig"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// mcpPage is Settings → MCP server.
type mcpPage struct {
	Enabled  bool
	URL      string
	Configs  []clientconfig.Config
	FillWith *tokenRow // the token the configurations name, if one was chosen
	Scopes   []string
	Presets  []string
	Inboxes  []desk.Inbox
	Tokens   []tokenRow
	// Minted is the token just created: its raw secret is in this one
	// response and nowhere else (never a URL, a cookie or the session).
	Minted *minted
	// Switches are the brakes over the agents; Tools the catalog, one
	// switch each.
	Switches identity.MCPSwitches
	Tools    []toolSwitch
}

// toolSwitch is one catalog tool on the "Tool switches" list.
type toolSwitch struct {
	Name, Title, Access string
	On                  bool
}

type minted struct {
	Name, Raw string
}

// tokenRow is a token as the table shows it.
type tokenRow struct {
	identity.MCPToken
	Preset  string   // the preset its scopes equal, if any
	Inboxes []string // names; nil = every inbox
	Status  string   // Active, Paused, Revoked, Expired
}

// mcpTokenFields maps the domain's field names to the token form's.
var mcpTokenFields = map[string]string{"name": "name", "expires_at": "expires", "inbox": "inbox", "inbox_ids": "inbox", "rate_limit_per_minute": "name"}

// presetOrder is how the Preset choice lists them.
var presetOrder = []string{"read_only", "reply", "manage_contacts", "full_agent"}

// mcpSettings shows the switch, the endpoint, the client configurations,
// the token form and the token table.
func (c *Console) mcpSettings(w http.ResponseWriter, r *http.Request) {
	fill, _ := strconv.ParseInt(r.URL.Query().Get("fill"), 10, 64)
	c.renderMCP(w, r, http.StatusOK, emptyForm(), nil, fill)
}

// renderMCP loads what the MCP page shows and renders it with the token
// form f (kept values and errors) and, right after minting, the new token.
func (c *Console) renderMCP(w http.ResponseWriter, r *http.Request, status int, f *Form, m *minted, fill int64) {
	acct := c.me(r).AccountID
	tokens, err := identity.MCPTokenList(r.Context(), c.cfg.DB, acct)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	inboxes, err := c.cfg.Desk.InboxList(r.Context(), c.request(r), desk.Scope{}, false)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	sw, err := identity.MCPSwitchesGet(r.Context(), c.cfg.DB, acct)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := mcpPage{Enabled: c.account(r).MCPEnabled, URL: c.baseURL() + "/api/mcp", Scopes: c.cfg.Policy.Scopes(),
		Presets: presetOrder, Inboxes: inboxes, Minted: m, Switches: sw}
	catalog := c.cfg.Policy.Catalog()
	for _, name := range slices.Sorted(maps.Keys(catalog)) {
		t := catalog[name]
		d.Tools = append(d.Tools, toolSwitch{Name: name, Title: t.Title, Access: t.Access, On: !slices.Contains(sw.DisabledTools, name)})
	}
	names := map[int64]string{}
	for _, ib := range inboxes {
		names[ib.ID] = ib.Name
	}
	presets := c.cfg.Policy.Presets()
	now := c.cfg.Now()
	for _, t := range tokens {
		row := tokenRow{MCPToken: t, Status: "Active"}
		for _, p := range presetOrder {
			if slices.Equal(presets[p], t.Scopes) {
				row.Preset = p
			}
		}
		for _, id := range t.InboxIDs {
			n, ok := names[id]
			if !ok {
				n = fmt.Sprintf("inbox %d", id)
			}
			row.Inboxes = append(row.Inboxes, n)
		}
		switch {
		case t.RevokedAt != nil:
			row.Status = "Revoked"
		case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
			row.Status = "Expired"
		case t.PausedAt != nil:
			row.Status = "Paused"
		}
		if t.ID == fill && (row.Status == "Active" || row.Status == "Paused") {
			d.FillWith = &row
		}
		d.Tokens = append(d.Tokens, row)
	}
	placeholder := identity.MCPTokenPrefix + "…"
	switch {
	case m != nil:
		placeholder = m.Raw
	case d.FillWith != nil:
		placeholder = d.FillWith.Prefix + "…"
	}
	d.Configs = clientconfig.For(d.URL, placeholder)
	c.render(w, r, status, "mcp", Page{Title: "MCP server", Nav: "mcp", Form: f, Data: d})
}

// mcpSwitch switches the MCP server on or off; the first time on
// provisions the agent service account (the same call as REST's PUT
// /api/v1/settings/mcp).
func (c *Console) mcpSwitch(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	if !f.OK() {
		c.renderMCP(w, r, http.StatusBadRequest, f, nil, 0)
		return
	}
	on := f.Value("enabled") != ""
	if _, err := identity.MCPEnable(r.Context(), c.cfg.DB, c.recorded(r, audit.Entry{Action: "settings.mcp", Reasons: []string{"enabled=" + strconv.FormatBool(on)}}), on); err != nil {
		c.fail(w, r, err)
		return
	}
	if on {
		c.flash(w, "The MCP server is on. Create a token below and give it to your agent.")
	} else {
		c.flash(w, "The MCP server is off. Tokens are kept; every MCP call is refused until you switch it on again.")
	}
	c.redirect(w, r, "/settings/mcp")
}

// mcpTokenCreate mints a token (the same tenancy call as REST's POST
// /api/v1/mcp/tokens) and shows the raw token in this response only.
func (c *Console) mcpTokenCreate(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	in, ok := c.tokenInput(f)
	if !ok {
		c.renderMCP(w, r, http.StatusBadRequest, f, nil, 0)
		return
	}
	p := c.me(r)
	in.CreatedBy = p.UserID
	t, raw, err := identity.MCPTokenCreate(r.Context(), c.cfg.DB, c.recorded(r, audit.Entry{Action: "mcp.token.create", Reasons: in.Scopes}), in, c.cfg.Now())
	if err != nil {
		if !f.FailErr(err, mcpTokenFields) {
			c.fail(w, r, err)
			return
		}
		c.renderMCP(w, r, http.StatusBadRequest, f, nil, 0)
		return
	}
	c.renderMCP(w, r, http.StatusOK, emptyForm(), &minted{Name: t.Name, Raw: raw}, 0)
}

// tokenInput reads the token form; field errors are marked on f.
func (c *Console) tokenInput(f *Form) (identity.MCPTokenInput, bool) {
	in := identity.MCPTokenInput{Name: f.Value("name"), RequireApproval: f.Value("require_approval") != ""}
	if !f.OK() {
		return in, false
	}
	if in.Name == "" {
		f.Fail("name", "Give the token a name, such as the agent that will use it.")
	}
	preset := f.Value("preset")
	scopes, err := c.cfg.Policy.ExpandScopes(preset, f.All("scope"))
	switch {
	case err != nil && strings.Contains(err.Error(), "preset"):
		f.Fail("preset", sentence(err.Error()))
	case err != nil:
		f.Fail("scope", sentence(err.Error()))
	case len(scopes) == 0:
		f.Fail("scope", "Tick at least one scope or choose a preset.")
	}
	in.Scopes = scopes
	for _, v := range f.All("inbox") {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			f.Fail("inbox", "Choose inboxes from the list.")
			break
		}
		in.InboxIDs = append(in.InboxIDs, id)
	}
	if v := f.Value("expires"); v != "" {
		d, err := time.Parse("2006-01-02", v)
		if err != nil {
			f.Fail("expires", "Enter a date such as 2027-01-31, or leave it empty for a token that does not expire.")
		} else {
			in.ExpiresAt = &d
		}
	}
	return in, f.OK()
}

// mcpTokenRevoke revokes a token for the very next request.
func (c *Console) mcpTokenRevoke(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		c.renderError(w, r, http.StatusNotFound, "There is no such token.")
		return
	}
	err = identity.MCPTokenRevoke(r.Context(), c.cfg.DB, c.recorded(r, audit.Entry{TokenID: id, Action: "mcp.token.revoke"}), id)
	if errors.Is(err, tenancy.ErrNotFound) {
		c.renderError(w, r, http.StatusNotFound, "There is no such token.")
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" || len(name) > 100 {
		name = "The token"
	} else {
		name = "Token " + name
	}
	c.flash(w, name+" is revoked: its next request is refused.")
	c.redirect(w, r, "/settings/mcp")
}

// mcpSwitches saves "Pause AI agents", the tool switches and the anomaly
// limits (the same tenancy call as REST's PUT /api/v1/settings/mcp). A
// tool whose box is unticked is switched off.
func (c *Console) mcpSwitches(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	if !f.OK() {
		c.renderMCP(w, r, http.StatusBadRequest, f, nil, 0)
		return
	}
	paused := f.Value("agents_paused") != ""
	on := f.All("tool")
	off := []string{}
	for name := range c.cfg.Policy.Catalog() {
		if !slices.Contains(on, name) {
			off = append(off, name)
		}
	}
	change := identity.MCPSwitchesChange{AgentsPaused: &paused, DisabledTools: &off}
	for _, n := range []struct {
		field string
		dst   **int
	}{{"suspend_after_denials", &change.SuspendAfterDenials}, {"suspend_after_inbox_probes", &change.SuspendAfterInboxProbe}} {
		v, err := strconv.Atoi(f.Value(n.field))
		if err != nil {
			f.Fail(n.field, "Enter a whole number; 0 turns this limit off.")
			continue
		}
		*n.dst = &v
	}
	if err := change.Validate(slices.Collect(maps.Keys(c.cfg.Policy.Catalog()))); err != nil && !f.FailErr(err, map[string]string{
		"suspend_after_denials": "suspend_after_denials", "suspend_after_inbox_probes": "suspend_after_inbox_probes", "disabled_tools": "tool"}) {
		c.fail(w, r, err)
		return
	}
	if !f.OK() {
		c.renderMCP(w, r, http.StatusBadRequest, f, nil, 0)
		return
	}
	sw, err := identity.MCPSwitchesSet(r.Context(), c.cfg.DB, c.recorded(r, audit.Entry{Action: "settings.mcp.switches", Reasons: switchReasons(change)}), change)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	msg := "Saved. AI agents work normally"
	if sw.AgentsPaused {
		msg = "Saved. AI agents are paused: every write tool is refused from their next call; reading tools still work"
	}
	if n := len(sw.DisabledTools); n > 0 {
		msg += fmt.Sprintf("; %d tools are switched off", n)
	}
	c.flash(w, msg+".")
	c.redirect(w, r, "/settings/mcp")
}

// switchReasons is what the audit row of a switch change says it set.
func switchReasons(c identity.MCPSwitchesChange) []string {
	return []string{"agents_paused=" + strconv.FormatBool(*c.AgentsPaused), "disabled_tools=" + strings.Join(*c.DisabledTools, ","),
		"suspend_after_denials=" + strconv.Itoa(*c.SuspendAfterDenials), "suspend_after_inbox_probes=" + strconv.Itoa(*c.SuspendAfterInboxProbe)}
}

// mcpTokenPause pauses a token (its next call is refused, naming the
// pause); mcpTokenResume lifts a pause, an admin's or the anomaly
// suspend's.
func (c *Console) mcpTokenPause(w http.ResponseWriter, r *http.Request) {
	c.mcpTokenPauseSet(w, r, "mcp.token.pause", "is paused: its next call is refused until you resume it.",
		func(ctx context.Context, req *tenancy.Request, id int64) (identity.MCPToken, error) {
			return identity.MCPTokenPause(ctx, c.cfg.DB, req, id, identity.PauseByAdmin)
		})
}

func (c *Console) mcpTokenResume(w http.ResponseWriter, r *http.Request) {
	c.mcpTokenPauseSet(w, r, "mcp.token.resume", "is resumed: its next call is decided as before the pause.", func(ctx context.Context, req *tenancy.Request, id int64) (identity.MCPToken, error) {
		return identity.MCPTokenResume(ctx, c.cfg.DB, req, id)
	})
}

func (c *Console) mcpTokenPauseSet(w http.ResponseWriter, r *http.Request, action, done string,
	set func(ctx context.Context, req *tenancy.Request, id int64) (identity.MCPToken, error)) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		c.renderError(w, r, http.StatusNotFound, "There is no such token.")
		return
	}
	t, err := set(r.Context(), c.recorded(r, audit.Entry{TokenID: id, Action: action}), id)
	if errors.Is(err, tenancy.ErrNotFound) {
		c.renderError(w, r, http.StatusNotFound, "There is no such token, or it is revoked.")
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.flash(w, "Token "+t.Name+" "+done)
	c.redirect(w, r, "/settings/mcp")
}
