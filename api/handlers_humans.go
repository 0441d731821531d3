package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
)

// What people alone may do (DESIGN §13): change and delete conversations,
// list, read, edit and delete contacts, and write notes on them. Only user
// API tokens reach these routes (an MCP token is not one); each desk call
// audits the person in the same transaction as the change.

// optionalID is a JSON id that may be absent (leave it), null (clear it)
// or a positive integer (set it).
type optionalID struct{ desk.OptionalID }

func (o *optionalID) UnmarshalJSON(b []byte) error {
	o.Set = true
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if err := json.Unmarshal(b, &o.ID); err != nil || o.ID <= 0 {
		return errors.New("an id must be a positive integer, or null to clear it")
	}
	return nil
}

type conversationPatchRequest struct {
	Status           *string        `json:"status"`
	Priority         *string        `json:"priority"`
	SnoozedUntil     *time.Time     `json:"snoozed_until"`
	AssigneeID       optionalID     `json:"assignee_id"`
	TeamID           optionalID     `json:"team_id"`
	AddLabels        []string       `json:"add_labels"`
	RemoveLabels     []string       `json:"remove_labels"`
	CustomAttributes map[string]any `json:"custom_attributes" max:"10000"`
}

// conversationPatch changes a conversation's status (snoozed with
// snoozed_until), priority, assignee, team and labels; null clears the
// assignee or team.
func (s *Server) conversationPatch(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	var req conversationPatchRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	sc, err := s.scopeFor(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	p := principal(r)
	c, err := s.cfg.Desk.ConversationChange(r.Context(), p.AccountID, sc, id, desk.HumanConversationPatch{
		ConversationPatch: desk.ConversationPatch{Status: req.Status, Priority: req.Priority, SnoozedUntil: req.SnoozedUntil,
			AddLabels: req.AddLabels, RemoveLabels: req.RemoveLabels, CustomAttributes: req.CustomAttributes},
		Assignee: req.AssigneeID.OptionalID, Team: req.TeamID.OptionalID,
	}, person(p), s.cfg.Now())
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversation": c})
}

// conversationDelete removes a conversation with its messages and drafts
// (admins only).
func (s *Server) conversationDelete(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	p := principal(r)
	if err := s.cfg.Desk.ConversationDelete(r.Context(), p.AccountID, desk.Scope{}, id, person(p)); err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// contactList lists or searches (q) the contacts the person may see.
func (s *Server) contactList(w http.ResponseWriter, r *http.Request) {
	limit, err := queryInt(r, "limit")
	if err != nil {
		writeError(w, r, err)
		return
	}
	sc, err := s.scopeFor(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	cs, next, err := s.cfg.Desk.ContactList(r.Context(), s.request(r), sc, q.Get("q"), q.Get("cursor"), int(limit))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"contacts": cs, "next_cursor": next})
}

// contactGet is a contact's profile: attributes, notes, conversations.
func (s *Server) contactGet(w http.ResponseWriter, r *http.Request) {
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
	v, err := s.cfg.Desk.ContactView(r.Context(), principal(r).AccountID, sc, id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// contactPatch changes a contact's name, email, phone or custom attributes
// (merged; null removes a key; an empty email or phone clears it).
func (s *Server) contactPatch(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	var req struct {
		Name             *string        `json:"name" max:"200"`
		Email            *string        `json:"email" max:"254"`
		Phone            *string        `json:"phone" max:"200"`
		CustomAttributes map[string]any `json:"custom_attributes" max:"10000"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	sc, err := s.scopeFor(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	p := principal(r)
	c, err := s.cfg.Desk.ContactChange(r.Context(), p.AccountID, sc, id, desk.ContactInput{
		Name: req.Name, Email: req.Email, Phone: req.Phone, CustomAttributes: req.CustomAttributes}, person(p))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"contact": c})
}

// contactDelete removes a contact with their conversations, notes and
// inbox links (admins only).
func (s *Server) contactDelete(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	p := principal(r)
	if _, err := s.cfg.Desk.ContactDelete(r.Context(), p.AccountID, desk.Scope{}, id, person(p)); err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// contactNoteCreate writes a note on a contact.
func (s *Server) contactNoteCreate(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	var req struct {
		Content string `json:"content" max:"10000"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	sc, err := s.scopeFor(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	p := principal(r)
	n, err := s.cfg.Desk.ContactNoteAdd(r.Context(), p.AccountID, sc, id, req.Content, person(p))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"note": n})
}

// person is the signed-in human as the author of a change.
func person(p identity.UserPrincipal) desk.Author {
	return desk.Author{Kind: "user", UserID: p.UserID, Name: p.Name}
}
