package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/tenancy"
	"github.com/deskwoot/deskwoot/tenantpolicy"
)

// Security teams (DESIGN §17): see the policy, explain a decision, export
// decisions in OPA's decision-log shape, and tighten the policy with the
// account's own restrict-only rules.

func (s *Server) rules() *tenantpolicy.Service {
	return &tenantpolicy.Service{DB: s.cfg.DB, Policy: s.cfg.Policy, Audit: s.cfg.Audit, Replays: s.cfg.Replays, Shadows: s.cfg.Shadows, Now: s.cfg.Now}
}

func (s *Server) policyGet(w http.ResponseWriter, r *http.Request) {
	view, err := tenantpolicy.Show(r.Context(), s.cfg.DB, s.cfg.Policy, principal(r).AccountID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, view)
}

func (s *Server) policyVersions(w http.ResponseWriter, r *http.Request) {
	vs, active, err := tenantpolicy.TenantRulesVersions(r.Context(), s.cfg.DB, principal(r).AccountID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var a *int
	if active > 0 {
		a = &active
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": vs, "active_version": a, "next_cursor": nil})
}

func (s *Server) policyCandidateCreate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Rego       string `json:"rego" max:"65536"`
		Tests      string `json:"tests" max:"65536"`
		ReplayDays *int   `json:"replay_days"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	days := 0
	if req.ReplayDays != nil {
		if days = *req.ReplayDays; days == 0 {
			days = -1 // an explicit 0 is out of range, not the default
		}
	}
	p := principal(r)
	if wait := s.candidates.Take(strconv.FormatInt(p.AccountID, 10), s.cfg.Now()); wait > 0 {
		writeError(w, r, tooMany(wait, "this workspace submitted %d policy candidates in the last minute; submit again in %d seconds", CandidatesPerMinute, retrySeconds(wait)))
		return
	}
	c, err := s.rules().Submit(r.Context(), p.AccountID, p.UserID, req.Rego, req.Tests, days)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

func (s *Server) policyCandidates(w http.ResponseWriter, r *http.Request) {
	cs, err := s.rules().Candidates(r.Context(), principal(r).AccountID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"candidates": cs, "next_cursor": nil})
}

func (s *Server) policyCandidate(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	c, err := s.rules().Candidate(r.Context(), principal(r).AccountID, id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) policyCandidateActivate(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	p := principal(r)
	v, err := s.rules().Activate(r.Context(), p.AccountID, p.UserID, id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": v.ID, "version": v.Version, "active_version": v.Version})
}

func (s *Server) policyVersionActivate(w http.ResponseWriter, r *http.Request) {
	// Versions are PostgreSQL ints: a number past int32 names no version
	// (it answered 500 when it reached the database).
	n, err := strconv.ParseInt(mux.Vars(r)["n"], 10, 32)
	if err != nil || n <= 0 {
		writeError(w, r, errorf(http.StatusNotFound, "not_found", "version %q not found", mux.Vars(r)["n"]))
		return
	}
	p := principal(r)
	if err := s.rules().ActivateVersion(r.Context(), p.AccountID, p.UserID, int(n)); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"active_version": n})
}

func (s *Server) policyCandidateShadow(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	var req struct {
		Days int `json:"days"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	p := principal(r)
	sh, err := s.rules().Shadow(r.Context(), p.AccountID, p.UserID, id, req.Days)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sh)
}

func (s *Server) policyShadow(w http.ResponseWriter, r *http.Request) {
	limit, err := queryInt(r, "limit")
	if err != nil {
		writeError(w, r, err)
		return
	}
	out, err := tenantpolicy.ShadowList(r.Context(), s.cfg.DB, principal(r).AccountID, r.URL.Query().Get("cursor"), int(min(limit, 1000)))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) policyShadowStop(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := s.rules().StopShadow(r.Context(), p.AccountID, p.UserID); err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) policyTenantRemove(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := s.rules().Remove(r.Context(), p.AccountID, p.UserID); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"active_version": nil})
}

func (s *Server) auditExplanation(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	x, err := tenantpolicy.Explain(r.Context(), s.cfg.DB, principal(r).AccountID, id)
	if errors.Is(err, tenancy.ErrNotFound) {
		err = errorf(http.StatusNotFound, "not_found", "audit row %d not found", id)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, x)
}

// auditDecisions streams the account's policy decisions as JSON lines in
// OPA's decision-log shape, oldest first, one page per request; the
// X-Next-Cursor header carries the cursor of the next page (absent on the
// last one).
func (s *Server) auditDecisions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var f audit.DecisionFilter
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, r, errorf(http.StatusBadRequest, "bad_request", "since must be an RFC 3339 time"))
			return
		}
		f.Since = t
	}
	limit, err := queryInt(r, "limit")
	if err != nil || limit > 1000 {
		writeError(w, r, errorf(http.StatusBadRequest, "bad_request", "limit must be 1 to 1000"))
		return
	}
	if limit == 0 {
		limit = 500
	}
	if c := q.Get("cursor"); c != "" {
		if f.AfterID, err = strconv.ParseInt(c, 10, 64); err != nil || f.AfterID <= 0 {
			writeError(w, r, errorf(http.StatusBadRequest, "bad_request", "cursor is not one this server issued"))
			return
		}
	}
	f.Limit = int(limit) + 1
	acct := principal(r).AccountID
	rows, err := audit.DecisionList(r.Context(), s.cfg.DB, acct, f)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if len(rows) > int(limit) {
		rows = rows[:limit]
		w.Header().Set("X-Next-Cursor", strconv.FormatInt(rows[len(rows)-1].ID, 10))
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	for _, d := range rows {
		if ev, ok := audit.LogEventOf(acct, d); ok {
			if enc.Encode(ev) != nil {
				return
			}
		}
	}
}
