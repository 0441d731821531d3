package api

import (
	"net/http"

	"github.com/deskwoot/deskwoot/desk"
)

func (s *Server) draftList(w http.ResponseWriter, r *http.Request) {
	sc, err := s.scopeFor(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	limit, err := queryInt(r, "limit")
	if err != nil {
		writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	ds, next, err := s.cfg.Desk.DraftList(r.Context(), s.request(r), desk.DraftFilter{
		Status: q.Get("status"), Scope: sc, Cursor: q.Get("cursor"), Limit: int(limit)})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"drafts": ds, "next_cursor": next})
}

func (s *Server) draftApprove(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Content *string `json:"content" max:"100000"`
	}
	if r.ContentLength != 0 {
		if err := decode(w, r, &req); err != nil {
			writeError(w, r, err)
			return
		}
	}
	s.draftDecide(w, r, desk.DraftDecision{Approve: true, Content: req.Content})
}

func (s *Server) draftReject(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Reason string `json:"reason" max:"2000"`
	}
	if r.ContentLength != 0 {
		if err := decode(w, r, &req); err != nil {
			writeError(w, r, err)
			return
		}
	}
	s.draftDecide(w, r, desk.DraftDecision{Reason: req.Reason})
}

// draftDecide approves or rejects a draft once; humans only (user tokens
// belong to people; the agent has none).
func (s *Server) draftDecide(w http.ResponseWriter, r *http.Request, dec desk.DraftDecision) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	sc, err := s.scopeFor(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	p := principal(r)
	dec.UserID = p.UserID
	d, m, err := s.cfg.Desk.DraftDecide(r.Context(), p.AccountID, id, sc, dec)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := map[string]any{"draft": d}
	if m != nil {
		out["message_id"] = m.ID
		out["message"] = m
	}
	writeJSON(w, http.StatusOK, out)
}
