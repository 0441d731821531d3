package api

import (
	"net/http"
	"strings"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
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

func (s *Server) profileGet(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	prof, err := s.cfg.Desk.ProfileGet(r.Context(), p.AccountID, p.UserID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"profile": prof})
}

// profilePatch changes the caller's own profile. A new password ends
// every session of the person (a token keeps working).
func (s *Server) profilePatch(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name            *string                      `json:"name" max:"200"`
		Email           *string                      `json:"email" max:"254"`
		TimeZone        *string                      `json:"time_zone" max:"64"`
		CurrentPassword string                       `json:"current_password" max:"72"`
		NewPassword     *string                      `json:"new_password" max:"72"`
		Notifications   map[string]desk.NotifyChoice `json:"notifications"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	patch := desk.ProfilePatch{Name: req.Name, Email: req.Email, TimeZone: req.TimeZone, CurrentPassword: req.CurrentPassword, Notifications: req.Notifications}
	if req.NewPassword != nil {
		hash, err := s.cfg.Identities.HashPassword(*req.NewPassword)
		if err != nil {
			writeError(w, r, errorf(http.StatusBadRequest, "bad_request", "new_password must be 8 to 72 characters"))
			return
		}
		patch.NewPassword = hash
	}
	p := principal(r)
	prof, err := s.cfg.Desk.ProfileChange(r.Context(), p.AccountID, person(p), p.SessionID, patch)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"profile": prof})
}

func (s *Server) profileTokenList(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	ts, err := s.cfg.Desk.PersonalTokenList(r.Context(), p.AccountID, p.UserID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": ts, "next_cursor": nil})
}

// profileTokenCreate mints a personal API token; api_token is in this
// answer only.
func (s *Server) profileTokenCreate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name" max:"100"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	p := principal(r)
	t, raw, err := s.cfg.Desk.PersonalTokenCreate(r.Context(), p.AccountID, person(p), req.Name)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": t, "api_token": raw})
}

func (s *Server) profileTokenRevoke(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	p := principal(r)
	if err := s.cfg.Desk.PersonalTokenRevoke(r.Context(), p.AccountID, person(p), id, s.cfg.Now()); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "revoked": true})
}

// passwordForgot asks for a reset link. The answer is the same whether
// or not anyone signs in with the email (the look-up happens later, in a
// job); requests are throttled per email and per address.
func (s *Server) passwordForgot(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Email string `json:"email" max:"254"`
	}
	if err := decodeJSONOnly(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if !identity.ValidEmail(strings.TrimSpace(req.Email)) {
		writeError(w, r, errorf(http.StatusBadRequest, "bad_request", "email must be an address like name@example.com"))
		return
	}
	quota := s.cfg.Throttle.PasswordResetQuota(r, req.Email, s.cfg.Now())
	rateHeaders(w, quota)
	if wait := quota.Wait; wait > 0 {
		writeError(w, r, tooMany(wait, "too many password reset requests; try again in %d seconds", retrySeconds(wait)))
		return
	}
	if err := s.cfg.Desk.PasswordForgot(r.Context(), req.Email); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"message": "if a Deskwoot sign-in uses this email, a link to reset its password is on its way; it works once, for 30 minutes"})
}

// passwordReset sets a new password with a reset link's token; every
// session and personal token of the person ends.
func (s *Server) passwordReset(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token    string `json:"token" max:"100"`
		Password string `json:"password" max:"72"`
	}
	if err := decodeJSONOnly(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	hash, err := s.cfg.Identities.HashPassword(req.Password)
	if err != nil {
		writeError(w, r, err)
		return
	}
	email, err := s.cfg.Desk.PasswordReset(r.Context(), req.Token, hash, s.cfg.Now())
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": "password set; every session and personal API token of " + email + " has ended; sign in with the new password"})
}

// emailConfirm applies the email change a link mailed to the new address
// names (the token proves the mailbox, so it needs no other credential).
func (s *Server) emailConfirm(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token string `json:"token" max:"100"`
	}
	if err := decodeJSONOnly(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	email, err := s.cfg.Desk.EmailChangeConfirm(r.Context(), req.Token, s.cfg.Now())
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"email": email, "message": "your email is now " + email + "; sign in with it from now on"})
}

// userPatch changes a person's role, or deactivates (active: false) or
// reactivates them. The last active admin cannot be demoted or
// deactivated (409).
func (s *Server) userPatch(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	var req struct {
		Role   *string `json:"role" max:"20"`
		Active *bool   `json:"active"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	u, err := s.cfg.Desk.PersonChange(r.Context(), s.recorded(r, audit.Entry{Action: "user.update"}), id, desk.PersonPatch{Role: req.Role, Active: req.Active}, s.cfg.Now())
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": u})
}

// userRemove removes a person from the workspace (409 for the last admin).
func (s *Server) userRemove(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	out, err := s.cfg.Desk.PersonRemove(r.Context(), s.recorded(r, audit.Entry{Action: "user.remove"}), id, s.cfg.Now())
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "removed": true, "unassigned": out.Unassigned})
}

func (s *Server) inboxMemberRemove(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	userID, err := pathID(r, "user_id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.cfg.Desk.InboxMemberRemove(r.Context(), s.recorded(r, audit.Entry{Action: "inbox.member.remove"}), id, userID); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"inbox_id": id, "user_id": userID, "removed": true})
}

// inboxDelete deletes an inbox with its conversations; the answer says
// how many went.
func (s *Server) inboxDelete(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	out, err := s.cfg.Desk.InboxDelete(r.Context(), s.recorded(r, audit.Entry{Action: "inbox.delete"}), id, nil, s.cfg.Now())
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "deleted": true, "name": out.Name, "conversations": out.Conversations})
}

func (s *Server) teamDelete(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.cfg.Desk.TeamDelete(r.Context(), s.recorded(r, audit.Entry{Action: "team.delete"}), id); err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) labelDelete(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.cfg.Desk.LabelDelete(r.Context(), s.recorded(r, audit.Entry{Action: "label.delete"}), id); err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) articlePatch(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	var req struct {
		Title  *string `json:"title" max:"300"`
		Body   *string `json:"body" max:"200000"`
		Status *string `json:"status" max:"20"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	a, err := s.cfg.Desk.ArticleChange(r.Context(), s.recorded(r, audit.Entry{Action: "article.update"}), id, desk.ArticlePatch{Title: req.Title, Body: req.Body, Status: req.Status})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// notificationList lists the caller's in-app notifications, newest first
// (?unread=true for the unread ones), with the unread count.
func (s *Server) notificationList(w http.ResponseWriter, r *http.Request) {
	limit, err := queryInt(r, "limit")
	if err != nil {
		writeError(w, r, err)
		return
	}
	unreadOnly := r.URL.Query().Get("unread") == "true"
	p := principal(r)
	ns, unread, err := s.cfg.Desk.NotificationList(r.Context(), p.AccountID, p.UserID, unreadOnly, int(limit))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"notifications": ns, "unread": unread, "next_cursor": nil})
}

// notificationRead marks the caller's notifications read: {ids} or
// {all: true}.
func (s *Server) notificationRead(w http.ResponseWriter, r *http.Request) {
	var req struct {
		IDs []int64 `json:"ids"`
		All bool    `json:"all"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	p := principal(r)
	n, err := s.cfg.Desk.NotificationRead(r.Context(), p.AccountID, p.UserID, req.IDs, req.All, s.cfg.Now())
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"read": n})
}
