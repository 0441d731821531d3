package api

import (
	"net/http"

	"github.com/deskwoot/deskwoot/desk"
)

// People (DESIGN §19): invitations, profiles, recovery and offboarding.
// Every change runs in desk's unit of work with its audit row (the person
// as actor); the handler touches the audit sealer after commit.

func (s *Server) invitationCreate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Email    string  `json:"email" max:"254"`
		Role     string  `json:"role" max:"20"`
		InboxIDs []int64 `json:"inbox_ids"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if req.Role == "" {
		req.Role = "agent"
	}
	p := principal(r)
	sent, err := s.cfg.Desk.InvitationCreate(r.Context(), p.AccountID, desk.InvitationInput{Email: req.Email, Role: req.Role, InboxIDs: req.InboxIDs}, person(p), s.cfg.Now())
	if err != nil {
		writeError(w, r, err)
		return
	}
	// link is in this answer only when the invitation was not mailed (no
	// relay): it is never shown again.
	writeJSON(w, http.StatusCreated, sent)
}

func (s *Server) invitationList(w http.ResponseWriter, r *http.Request) {
	invs, err := s.cfg.Desk.InvitationList(r.Context(), principal(r).AccountID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"invitations": invs, "next_cursor": nil})
}

func (s *Server) invitationRevoke(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	p := principal(r)
	if err := s.cfg.Desk.InvitationRevoke(r.Context(), p.AccountID, id, person(p), s.cfg.Now()); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "revoked": true})
}
