package console

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/clientconfig"
	"github.com/deskwoot/deskwoot/desk"
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
}

type minted struct {
	Name, Raw string
}

// tokenRow is a token as the table shows it.
type tokenRow struct {
	tenancy.MCPToken
	Preset  string   // the preset its scopes equal, if any
	Inboxes []string // names; nil = every inbox
	Status  string   // Active, Revoked, Expired
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
	tokens, err := c.cfg.DB.MCPTokenList(r.Context(), acct)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	inboxes, err := c.cfg.Desk.InboxList(r.Context(), c.request(r), desk.Scope{}, false)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := mcpPage{Enabled: c.account(r).MCPEnabled, URL: c.baseURL() + "/api/mcp", Scopes: c.cfg.Policy.Scopes(),
		Presets: presetOrder, Inboxes: inboxes, Minted: m}
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
		}
		if t.ID == fill && row.Status == "Active" {
			d.FillWith = &row
		}
		d.Tokens = append(d.Tokens, row)
	}
	placeholder := tenancy.MCPTokenPrefix + "…"
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
	if _, err := c.cfg.DB.MCPEnable(r.Context(), c.recorded(r, audit.Entry{Action: "settings.mcp", Reasons: []string{"enabled=" + strconv.FormatBool(on)}}), on); err != nil {
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
	t, raw, err := c.cfg.DB.MCPTokenCreate(r.Context(), c.recorded(r, audit.Entry{Action: "mcp.token.create", Reasons: in.Scopes}), in, c.cfg.Now())
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
func (c *Console) tokenInput(f *Form) (tenancy.MCPTokenInput, bool) {
	in := tenancy.MCPTokenInput{Name: f.Value("name"), RequireApproval: f.Value("require_approval") != ""}
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
	err = c.cfg.DB.MCPTokenRevoke(r.Context(), c.recorded(r, audit.Entry{TokenID: id, Action: "mcp.token.revoke"}), id)
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
