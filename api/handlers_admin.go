package api

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

func (s *Server) labelList(w http.ResponseWriter, r *http.Request) {
	ls, err := s.cfg.Desk.LabelList(r.Context(), s.request(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"labels": ls, "next_cursor": nil})
}

func (s *Server) labelCreate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name        string `json:"name" max:"50"`
		Description string `json:"description" max:"1000"`
		Color       string `json:"color" max:"20"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	l, err := s.cfg.Desk.LabelCreate(r.Context(), s.recorded(r, audit.Entry{Action: "label.create"}), req.Name, req.Description, req.Color)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, l)
}

func (s *Server) teamList(w http.ResponseWriter, r *http.Request) {
	ts, err := s.cfg.Desk.TeamList(r.Context(), s.request(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"teams": ts, "next_cursor": nil})
}

func (s *Server) teamCreate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name        string  `json:"name" max:"200"`
		Description string  `json:"description" max:"1000"`
		MemberIDs   []int64 `json:"member_ids"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	t, err := s.cfg.Desk.TeamCreate(r.Context(), s.recorded(r, audit.Entry{Action: "team.create"}), req.Name, req.Description, req.MemberIDs)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, t)
}

func (s *Server) articleList(w http.ResponseWriter, r *http.Request) {
	as, err := s.cfg.Desk.ArticleList(r.Context(), s.request(r), principal(r).Role != "admin")
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"articles": as, "next_cursor": nil})
}

func (s *Server) articleCreate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Title  string `json:"title" max:"300"`
		Body   string `json:"body" max:"200000"`
		Status string `json:"status"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	a, err := s.cfg.Desk.ArticleCreate(r.Context(), s.recorded(r, audit.Entry{Action: "article.create"}), req.Title, req.Body, req.Status)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, a)
}

func (s *Server) mcpURL() string { return strings.TrimRight(s.cfg.PublicURL, "/") + "/api/mcp" }

// mcpSettingsGet shows the MCP server's switch, its URL, and the brakes
// over the agents (DESIGN §22).
func (s *Server) mcpSettingsGet(w http.ResponseWriter, r *http.Request) {
	acct := principal(r).AccountID
	a, err := identity.AccountGet(r.Context(), s.cfg.DB, acct)
	if err != nil {
		writeError(w, r, err)
		return
	}
	sw, err := identity.MCPSwitchesGet(r.Context(), s.cfg.DB, acct)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.mcpSettings(a, sw))
}

func (s *Server) mcpSettings(a identity.Account, sw identity.MCPSwitches) map[string]any {
	return map[string]any{"enabled": a.MCPEnabled, "url": s.mcpURL(), "service_user_id": a.ServiceUserID,
		"agents_paused": sw.AgentsPaused, "disabled_tools": sw.DisabledTools,
		"suspend_after_denials": sw.SuspendAfterDenials, "suspend_after_inbox_probes": sw.SuspendAfterInboxProbe}
}

// mcpSettingsPut changes what the body names and keeps the rest: the
// server's switch, and the switches over the agents, each audited with
// the person as actor.
func (s *Server) mcpSettingsPut(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Enabled                 *bool     `json:"enabled"`
		AgentsPaused            *bool     `json:"agents_paused"`
		DisabledTools           *[]string `json:"disabled_tools"`
		SuspendAfterDenials     *int      `json:"suspend_after_denials"`
		SuspendAfterInboxProbes *int      `json:"suspend_after_inbox_probes"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	change := identity.MCPSwitchesChange{AgentsPaused: req.AgentsPaused, DisabledTools: req.DisabledTools,
		SuspendAfterDenials: req.SuspendAfterDenials, SuspendAfterInboxProbe: req.SuspendAfterInboxProbes}
	if req.Enabled == nil && change.Empty() {
		writeError(w, r, errorf(http.StatusBadRequest, "bad_request", `send at least one of enabled, agents_paused, disabled_tools, suspend_after_denials, suspend_after_inbox_probes`))
		return
	}
	if err := change.Validate(slices.Sorted(maps.Keys(s.cfg.Policy.Catalog()))); err != nil {
		writeError(w, r, err)
		return
	}
	ctx := r.Context()
	if req.Enabled != nil {
		if _, err := identity.MCPEnable(ctx, s.cfg.DB, s.recorded(r, audit.Entry{Action: "settings.mcp", Reasons: []string{"enabled=" + strconv.FormatBool(*req.Enabled)}}), *req.Enabled); err != nil {
			writeError(w, r, err)
			return
		}
	}
	if !change.Empty() {
		if _, err := identity.MCPSwitchesSet(ctx, s.cfg.DB, s.recorded(r, audit.Entry{Action: "settings.mcp.switches", Reasons: switchReasons(change)}), change); err != nil {
			writeError(w, r, err)
			return
		}
	}
	s.mcpSettingsGet(w, r)
}

// switchReasons is what an audit row of a switch change says it changed.
func switchReasons(c identity.MCPSwitchesChange) []string {
	var rs []string
	if c.AgentsPaused != nil {
		rs = append(rs, "agents_paused="+strconv.FormatBool(*c.AgentsPaused))
	}
	if c.DisabledTools != nil {
		rs = append(rs, "disabled_tools="+strings.Join(*c.DisabledTools, ","))
	}
	if c.SuspendAfterDenials != nil {
		rs = append(rs, "suspend_after_denials="+strconv.Itoa(*c.SuspendAfterDenials))
	}
	if c.SuspendAfterInboxProbe != nil {
		rs = append(rs, "suspend_after_inbox_probes="+strconv.Itoa(*c.SuspendAfterInboxProbe))
	}
	return rs
}

// searchSettingsGet shows the workspace's search language and the choices.
func (s *Server) searchSettingsGet(w http.ResponseWriter, r *http.Request) {
	lang, err := s.cfg.Desk.SearchLanguageGet(r.Context(), principal(r).AccountID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"language": lang, "languages": desk.SearchLanguages})
}

// searchSettingsPut changes the search language (and re-indexes).
func (s *Server) searchSettingsPut(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Language string `json:"language" max:"50"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.cfg.Desk.SearchLanguageSet(r.Context(), s.recorded(r, audit.Entry{Action: "settings.search", Reasons: []string{"language=" + req.Language}}), req.Language); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"language": req.Language, "languages": desk.SearchLanguages})
}

// helpCenterSettingsGet answers the public help center's slug and address.
func (s *Server) helpCenterSettingsGet(w http.ResponseWriter, r *http.Request) {
	slug, err := s.cfg.Desk.HelpCenterSlug(r.Context(), principal(r).AccountID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.helpCenterAnswer(slug))
}

// helpCenterSettingsPut changes the slug; the old address stops at once.
func (s *Server) helpCenterSettingsPut(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Slug string `json:"slug" max:"50"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.cfg.Desk.HelpCenterSlugSet(r.Context(), s.recorded(r, audit.Entry{Action: "settings.help_center", Reasons: []string{"slug=" + req.Slug}}), req.Slug); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.helpCenterAnswer(req.Slug))
}

func (s *Server) helpCenterAnswer(slug string) map[string]any {
	return map[string]any{"slug": slug, "url": strings.TrimRight(s.cfg.PublicURL, "/") + "/hc/" + slug}
}

type tokenRequest struct {
	Name               string     `json:"name" max:"100"`
	Scopes             []string   `json:"scopes"`
	Preset             string     `json:"preset"`
	InboxIDs           *[]int64   `json:"inbox_ids"`
	ExpiresAt          *time.Time `json:"expires_at"`
	RequireApproval    bool       `json:"require_approval"`
	RateLimitPerMinute int        `json:"rate_limit_per_minute"`
}

func (s *Server) mcpTokenCreate(w http.ResponseWriter, r *http.Request) {
	var req tokenRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	scopes, err := s.cfg.Policy.ExpandScopes(req.Preset, req.Scopes)
	if err != nil {
		writeError(w, r, errorf(http.StatusBadRequest, "bad_request", "%v", err))
		return
	}
	var inboxes []int64
	if req.InboxIDs != nil {
		inboxes = *req.InboxIDs
		if inboxes == nil {
			inboxes = []int64{}
		}
	}
	if req.RateLimitPerMinute < 0 {
		writeError(w, r, errorf(http.StatusBadRequest, "bad_request", "rate_limit_per_minute must be 1 to 60000"))
		return
	}
	t, raw, err := identity.MCPTokenCreate(r.Context(), s.cfg.DB, s.recorded(r, audit.Entry{Action: "mcp.token.create", Reasons: scopes}), identity.MCPTokenInput{
		Name: req.Name, Scopes: scopes, InboxIDs: inboxes, RequireApproval: req.RequireApproval,
		RateLimitPerMinute: req.RateLimitPerMinute, ExpiresAt: req.ExpiresAt, CreatedBy: principal(r).UserID,
	}, s.cfg.Now())
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		identity.MCPToken
		Token string `json:"token"`
	}{t, raw})
}

func (s *Server) mcpTokenList(w http.ResponseWriter, r *http.Request) {
	ts, err := identity.MCPTokenList(r.Context(), s.cfg.DB, principal(r).AccountID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if ts == nil {
		ts = []identity.MCPToken{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": ts, "next_cursor": nil})
}

func (s *Server) mcpTokenRevoke(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := identity.MCPTokenRevoke(r.Context(), s.cfg.DB, s.recorded(r, audit.Entry{TokenID: id, Action: "mcp.token.revoke"}), id); err != nil {
		if errors.Is(err, tenancy.ErrNotFound) {
			err = errorf(http.StatusNotFound, "not_found", "token %d not found", id)
		}
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "revoked": true})
}

// mcpTokenPause pauses a token (undone by mcpTokenResume, unlike a
// revocation): its next call, on any replica, is refused naming the pause.
func (s *Server) mcpTokenPause(w http.ResponseWriter, r *http.Request) {
	s.mcpTokenPauseSet(w, r, "mcp.token.pause", func(ctx context.Context, req *tenancy.Request, id int64) (identity.MCPToken, error) {
		return identity.MCPTokenPause(ctx, s.cfg.DB, req, id, identity.PauseByAdmin)
	})
}

// mcpTokenResume lifts a token's pause, an admin's or the anomaly
// suspend's.
func (s *Server) mcpTokenResume(w http.ResponseWriter, r *http.Request) {
	s.mcpTokenPauseSet(w, r, "mcp.token.resume", func(ctx context.Context, req *tenancy.Request, id int64) (identity.MCPToken, error) {
		return identity.MCPTokenResume(ctx, s.cfg.DB, req, id)
	})
}

func (s *Server) mcpTokenPauseSet(w http.ResponseWriter, r *http.Request, action string,
	set func(ctx context.Context, req *tenancy.Request, id int64) (identity.MCPToken, error)) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	t, err := set(r.Context(), s.recorded(r, audit.Entry{TokenID: id, Action: action}), id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) auditList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := audit.ParseFilter(q)
	if err != nil {
		writeError(w, r, err)
		return
	}
	limit, err := queryInt(r, "limit")
	if err != nil || limit > 100 {
		writeError(w, r, errorf(http.StatusBadRequest, "bad_request", "limit must be 1 to 100"))
		return
	}
	if limit == 0 {
		limit = 25
	}
	f.Limit = int(limit) + 1
	if c := q.Get("cursor"); c != "" {
		if f.BeforeID, err = strconv.ParseInt(c, 10, 64); err != nil || f.BeforeID <= 0 {
			writeError(w, r, errorf(http.StatusBadRequest, "bad_request", "cursor is not one this server issued"))
			return
		}
	}
	acct := principal(r).AccountID
	rows, err := audit.List(r.Context(), s.cfg.DB, acct, f)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var next *string
	if len(rows) > int(limit) {
		rows = rows[:limit]
		c := strconv.FormatInt(rows[len(rows)-1].ID, 10)
		next = &c
	}
	shown := make([]int64, len(rows))
	for i, x := range rows {
		shown[i] = x.ID
	}
	chain, err := audit.VerifyRecent(r.Context(), s.cfg.DB, acct, s.cfg.Audit.PublicKey(), shown)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"audit": rows, "next_cursor": next, "chain": chain})
}

// auditCheckpoints lists the account's signed chain checkpoints, newest
// first, beside the public key that verifies them; "verified" says a
// checkpoint carries a valid signature by this server's key (one signed by
// any other key is never trusted). Cursor: "<seq>.<hex public key>".
func (s *Server) auditCheckpoints(w http.ResponseWriter, r *http.Request) {
	limit, err := queryInt(r, "limit")
	if err != nil || limit > 100 {
		writeError(w, r, errorf(http.StatusBadRequest, "bad_request", "limit must be 1 to 100"))
		return
	}
	if limit == 0 {
		limit = 25
	}
	var beforeSeq int64
	var beforeKey []byte
	if c := r.URL.Query().Get("cursor"); c != "" {
		seq, key, ok := strings.Cut(c, ".")
		if beforeSeq, err = strconv.ParseInt(seq, 10, 64); err == nil && ok {
			beforeKey, err = hex.DecodeString(key)
		}
		if err != nil || !ok || beforeSeq <= 0 {
			writeError(w, r, errorf(http.StatusBadRequest, "bad_request", "cursor is not one this server issued"))
			return
		}
	}
	cps, err := audit.CheckpointPage(r.Context(), s.cfg.DB, principal(r).AccountID, beforeSeq, beforeKey, int(limit)+1)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var next *string
	if len(cps) > int(limit) {
		cps = cps[:limit]
		last := cps[len(cps)-1]
		c := strconv.FormatInt(last.Seq, 10) + "." + hex.EncodeToString(last.PublicKey)
		next = &c
	}
	type checkpoint struct {
		audit.Checkpoint
		Verified bool `json:"verified"`
	}
	pub := s.cfg.Audit.PublicKey()
	out := make([]checkpoint, len(cps))
	for i, c := range cps {
		out[i] = checkpoint{Checkpoint: c, Verified: c.SignedBy(pub)}
	}
	var key *string
	if pub != nil {
		k := audit.EncodePublicKey(pub)
		key = &k
	}
	writeJSON(w, http.StatusOK, map[string]any{"public_key": key, "checkpoints": out, "next_cursor": next})
}

// auditExport streams every audit row the filters select as CSV or JSON
// lines (?format=csv|jsonl, the same filters as GET /api/v1/audit). The
// export itself is audited with the person as actor.
func (s *Server) auditExport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := audit.ParseFilter(q)
	if err != nil {
		writeError(w, r, err)
		return
	}
	format := q.Get("format")
	ctype := map[string]string{audit.FormatCSV: "text/csv; charset=utf-8", audit.FormatJSONL: "application/x-ndjson"}[format]
	if ctype == "" {
		writeError(w, r, errorf(http.StatusBadRequest, "bad_request", "format must be csv or jsonl"))
		return
	}
	// The export is audited before any row goes out; unaudited, nothing does.
	req := s.recorded(r, audit.Entry{Action: "audit.export", Reasons: []string{"format=" + format, "door=rest"}})
	if err := s.cfg.DB.Record(r.Context(), req); err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `attachment; filename="deskwoot-audit.`+format+`"`)
	if err := audit.Export(r.Context(), s.cfg.DB, req.AccountID, f, format, w, s.cfg.Audit.Key); err != nil {
		// The status line is gone once rows stream; the cut-short body and
		// the log say what happened.
		slog.ErrorContext(r.Context(), "audit export failed", "err", err)
	}
}
