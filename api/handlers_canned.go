package api

import (
	"net/http"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/desk"
)

// Canned responses (DESIGN §18): any person of the workspace lists them,
// admins create, edit and delete them, each write audited with the person
// as actor.

// cannedRequest is a canned response as sent; the input layer bounds both
// fields before the domain checks them (a short code of 10 KB is a 400);
// the maxima are input.MaxShortCode and input.MaxCanned.
type cannedRequest struct {
	ShortCode *string `json:"short_code" max:"50"`
	Content   *string `json:"content" max:"10000"`
}

func (s *Server) cannedList(w http.ResponseWriter, r *http.Request) {
	list, err := s.cfg.Desk.CannedList(r.Context(), s.request(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"canned_responses": list, "next_cursor": nil})
}

func (s *Server) cannedCreate(w http.ResponseWriter, r *http.Request) {
	var req cannedRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	c, err := s.cfg.Desk.CannedCreate(r.Context(), s.recorded(r, audit.Entry{Action: "canned_response.create"}), desk.CannedInput(req))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

func (s *Server) cannedPatch(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	var req cannedRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	c, err := s.cfg.Desk.CannedChange(r.Context(), s.recorded(r, audit.Entry{Action: "canned_response.update"}), id, desk.CannedInput(req))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) cannedDelete(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.cfg.Desk.CannedDelete(r.Context(), s.recorded(r, audit.Entry{Action: "canned_response.delete"}), id); err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
