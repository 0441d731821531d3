package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/signup"
)

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	// Bounded: a load balancer's probe must get its answer even when the
	// database host has stopped answering.
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.cfg.DB.Pool.Ping(ctx); err != nil {
		writeError(w, r, errorf(http.StatusServiceUnavailable, "unavailable", "database unreachable"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

type signupRequest struct {
	AccountName string `json:"account_name" max:"200"`
	Email       string `json:"email" max:"254"`
	Password    string `json:"password" max:"72"`
	Name        string `json:"name" max:"200"`
}

func (s *Server) signup(w http.ResponseWriter, r *http.Request) {
	var req signupRequest
	if err := decodeJSONOnly(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	quota := s.cfg.Throttle.SignupQuota(r, s.cfg.Now())
	rateHeaders(w, quota)
	if wait := quota.Wait; wait > 0 {
		writeError(w, r, tooMany(wait, "too many workspaces created from your address; try again in %d seconds", retrySeconds(wait)))
		return
	}
	in := identity.SignupInput{AccountName: req.AccountName, Email: req.Email, Password: req.Password, Name: req.Name}
	if s.cfg.Signup != nil {
		// Confirm mode: the same work and the same answer for every
		// address; only the mailbox learns whether it has a login.
		if err := in.Validate(); err != nil {
			writeError(w, r, err)
			return
		}
		if wait := s.cfg.Throttle.SignupMail(req.Email, s.cfg.Now()).Wait; wait > 0 {
			writeError(w, r, tooMany(wait, "too many sign-up links mailed to this email; try again in %d seconds", retrySeconds(wait)))
			return
		}
		if err := s.cfg.Signup.Request(r.Context(), in, s.cfg.Now()); err != nil {
			writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"message": "a link to create the workspace is on its way to this email; it works once, for 24 hours"})
		return
	}
	res, err := s.cfg.Identities.Signup(r.Context(), in, s.cfg.Now())
	if err != nil {
		if errors.Is(err, identity.ErrEmailTaken) {
			// This tells that a login with the email exists somewhere; an
			// answer that did not (a workspace and token for an email
			// someone else owns) would hand a stranger that login. The
			// per-address signup limit bounds how often it can be asked
			// (throttle.Guard.NewLoginWait says why, for POST /users).
			err = errorf(http.StatusConflict, "conflict", "an account with email %s already exists; sign in instead", req.Email)
		}
		writeError(w, r, err)
		return
	}
	s.signedUp(w, res)
}

// signedUp answers a new workspace: it, its plan state, its admin and
// the admin's API token (shown once).
func (s *Server) signedUp(w http.ResponseWriter, res identity.SignupResult) {
	writeJSON(w, http.StatusCreated, map[string]any{
		"account":     accountJSON(res.Account),
		"entitlement": s.entitlement(res.Account),
		"user":        res.User,
		"api_token":   res.APIToken,
	})
}

// signupConfirm spends a signup link (confirm mode) and answers as an
// open signup does. A link for an email that already has a login needs
// that login: a user API token of it (any workspace) in Authorization, or
// a browser at the link itself.
func (s *Server) signupConfirm(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token string `json:"token" max:"200"`
	}
	if err := decodeJSONOnly(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if s.cfg.Signup == nil {
		writeError(w, r, signup.ErrLinkUnknown)
		return
	}
	var signedIn int64
	if raw, ok := bearer(r); ok {
		p, err := identity.AuthenticateUser(r.Context(), s.cfg.DB, raw)
		if err != nil {
			writeError(w, r, err)
			return
		}
		signedIn = p.UserID
	}
	res, err := s.cfg.Signup.Confirm(r.Context(), req.Token, signedIn, identity.SignupInput{
		Audit: &audit.Entry{Action: "user.signup", Reasons: []string{"rest", "email confirmed"}}}, s.cfg.Now())
	if errors.Is(err, signup.ErrSignInFirst) {
		err = errorf(http.StatusForbidden, "forbidden", "this email already has a Deskwoot sign-in: send a user API token of that login (Authorization: Bearer dw_usr_…), or open the link in a browser and sign in, to create the workspace")
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.signedUp(w, res)
}

// accountJSON is the account with its plan state.
func accountJSON(a identity.Account) map[string]any {
	return map[string]any{
		"id": a.ID, "name": a.Name, "plan": a.Plan, "subscription_status": a.SubscriptionStatus,
		"trial_ends_at": a.TrialEndsAt, "grace_ends_at": a.GraceEndsAt, "mcp_enabled": a.MCPEnabled,
		"created_at": a.CreatedAt,
	}
}

func (s *Server) accountGet(w http.ResponseWriter, r *http.Request) {
	a, err := identity.AccountGet(r.Context(), s.cfg.DB, principal(r).AccountID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"account": accountJSON(a), "entitlement": s.entitlement(a)})
}

func (s *Server) userList(w http.ResponseWriter, r *http.Request) {
	users, err := identity.UserList(r.Context(), s.cfg.DB, principal(r).AccountID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	// Removed people stay in the database for the audit's sake, not in the team.
	users = slices.DeleteFunc(users, func(u identity.User) bool { return u.Status == identity.StatusRemoved })
	writeJSON(w, http.StatusOK, map[string]any{"users": users, "next_cursor": nil})
}

type userRequest struct {
	Email    string `json:"email" max:"254"`
	Name     string `json:"name" max:"200"`
	Password string `json:"password" max:"72"`
	Role     string `json:"role" max:"20"`
}

func (s *Server) userCreate(w http.ResponseWriter, r *http.Request) {
	var req userRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if req.Role == "" {
		req.Role = "agent"
	}
	if s.cfg.Signup != nil {
		s.userInvite(w, r, req)
		return
	}
	acct := principal(r).AccountID
	// A workspace told too often that an email is taken waits for every
	// new login, so that this door cannot probe other workspaces' emails
	// (throttle.Guard.NewLoginWait).
	if wait := s.cfg.Throttle.NewLoginWait(acct, s.cfg.Now()); wait > 0 {
		writeError(w, r, tooMany(wait, "too many new logins refused in this workspace because their email is taken; try again in %d seconds", retrySeconds(wait)))
		return
	}
	u, token, err := s.cfg.Identities.UserCreate(r.Context(), s.recorded(r, audit.Entry{Action: "user.create", Reasons: []string{"role=" + req.Role}}),
		req.Email, req.Name, req.Password, req.Role)
	if err != nil {
		if errors.Is(err, identity.ErrEmailTaken) {
			s.cfg.Throttle.NewLoginTaken(acct, s.cfg.Now())
			err = errorf(http.StatusConflict, "conflict", "a user with email %s already exists", req.Email)
		}
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"user": u, "api_token": token})
}

// userInvite is POST /users in confirm mode: a login with a password the
// admin chooses could only be created for an email that has none, which
// would tell the admin whether it has one. So the person is invited by
// mail instead, with the same answer for every email that is not a member
// of this workspace already; they choose their own password (or join with
// their login) when they accept.
func (s *Server) userInvite(w http.ResponseWriter, r *http.Request, req userRequest) {
	p := principal(r)
	sent, err := s.cfg.Desk.InvitationCreate(r.Context(), p.AccountID, desk.InvitationInput{Email: req.Email, Role: req.Role}, person(p), s.cfg.Now())
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"invitation": sent,
		"message": "this server confirms every new login's email (DESKWOOT_SIGNUP=confirm), so an invitation is on its way to this email instead; the person chooses their own password when they accept, and a password given here is not used"})
}

type inboxRequest struct {
	Name     string         `json:"name" max:"200"`
	Channel  string         `json:"channel" max:"20"`
	Settings map[string]any `json:"settings"`
	// InboundAddress is refused: Deskwoot assigns it. Read here so the
	// answer says so instead of "unknown field".
	InboundAddress json.RawMessage `json:"inbound_address"`
}

// inboundInSettings moves a top-level inbound_address into the settings,
// where desk refuses it with the assigned address.
func inboundInSettings(settings map[string]any, top json.RawMessage) map[string]any {
	if top == nil {
		return settings
	}
	if settings == nil {
		settings = map[string]any{}
	}
	settings["inbound_address"] = top
	return settings
}

func (s *Server) inboxCreate(w http.ResponseWriter, r *http.Request) {
	var req inboxRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	ib, err := s.cfg.Desk.InboxCreate(r.Context(), s.recorded(r, audit.Entry{Action: "inbox.create"}), desk.InboxInput{Name: req.Name, Channel: req.Channel,
		Settings: inboundInSettings(req.Settings, req.InboundAddress)})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, ib)
}

func (s *Server) inboxList(w http.ResponseWriter, r *http.Request) {
	sc, err := s.scopeFor(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	ibs, err := s.cfg.Desk.InboxList(r.Context(), s.request(r), sc, principal(r).Role == "admin")
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"inboxes": ibs, "next_cursor": nil})
}

// inboxUpdate renames an inbox or changes its channel settings (webhook
// URL and secret, SMTP relay, addresses); settings merge, null removes.
func (s *Server) inboxUpdate(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	var req struct {
		Name           *string         `json:"name" max:"200"`
		Settings       map[string]any  `json:"settings"`
		InboundAddress json.RawMessage `json:"inbound_address"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	ib, err := s.cfg.Desk.InboxUpdate(r.Context(), s.recorded(r, audit.Entry{Action: "inbox.update"}), id, desk.InboxPatch{Name: req.Name, Settings: inboundInSettings(req.Settings, req.InboundAddress)})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ib)
}

// inboxInboundRotate gives an email inbox a new receiving address; the old
// one keeps receiving for the grace period (DESKWOOT_INBOUND_ROTATION_GRACE).
func (s *Server) inboxInboundRotate(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	ib, err := s.cfg.Desk.InboxInboundRotate(r.Context(), s.recorded(r, audit.Entry{Action: "inbox.inbound_address.rotate"}), id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ib)
}

// inboxIdentitySecretRotate gives a website inbox a new identity secret,
// shown in this answer only; the old one stops verifying at once.
func (s *Server) inboxIdentitySecretRotate(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	ib, err := s.cfg.Desk.InboxIdentitySecretRotate(r.Context(), s.recorded(r, audit.Entry{Action: "inbox.identity_secret.rotate"}), id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ib)
}

func (s *Server) inboxMemberAdd(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	var req struct {
		UserID int64 `json:"user_id"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.cfg.Desk.InboxMemberAdd(r.Context(), s.recorded(r, audit.Entry{Action: "inbox.member.add"}), id, req.UserID); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"inbox_id": id, "user_id": req.UserID})
}

type incomingRequest struct {
	Contact struct {
		Email      string `json:"email" max:"254"`
		Identifier string `json:"identifier" max:"200"`
		Name       string `json:"name" max:"200"`
	} `json:"contact"`
	Content  string `json:"content" max:"100000"`
	SourceID string `json:"source_id" max:"200"`
}

func (s *Server) incomingMessage(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	var req incomingRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	// An agent posts only into inboxes they are a member of; any other
	// inbox reads as not found, like every object outside their inboxes.
	sc, err := s.scopeFor(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if !sc.Allows(id) {
		writeError(w, r, errorf(http.StatusNotFound, "not_found", "inbox %d not found", id))
		return
	}
	res, err := s.cfg.Desk.IncomingMessage(r.Context(), principal(r).AccountID, id, desk.IncomingInput{
		Contact: desk.IncomingContact(req.Contact), Content: req.Content, SourceID: req.SourceID,
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	status := http.StatusCreated
	if !res.Created {
		status = http.StatusOK // a repeated source_id: the first message
	}
	writeJSON(w, status, res)
}

func (s *Server) conversationList(w http.ResponseWriter, r *http.Request) {
	sc, err := s.scopeFor(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	inbox, err := queryInt(r, "inbox_id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	limit, err := queryInt(r, "limit")
	if err != nil {
		writeError(w, r, err)
		return
	}
	f := desk.ConversationFilter{Status: q.Get("status"), InboxID: inbox, Label: q.Get("label"), Assignee: q.Get("assignee"),
		Query: q.Get("q"), UserID: principal(r).UserID, Cursor: q.Get("cursor"), Limit: int(limit),
		View: q.Get("view"), Sort: q.Get("sort"), Triage: true}
	if v := q.Get("updated_since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, r, errorf(http.StatusBadRequest, "bad_request", "updated_since must be an RFC 3339 time"))
			return
		}
		f.UpdatedSince = &t
	}
	list, next, err := s.cfg.Desk.ConversationList(r.Context(), s.request(r), sc, f)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversations": list, "next_cursor": next})
}

func (s *Server) conversationGet(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	limit, err := queryInt(r, "messages_limit")
	if err != nil {
		writeError(w, r, err)
		return
	}
	v, err := s.visibleConversation(r, id, r.URL.Query().Get("messages_cursor"), int(limit))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// visibleConversation loads a conversation the human may see; one outside
// an agent's inboxes is not found.
func (s *Server) visibleConversation(r *http.Request, id int64, cursor string, limit int) (desk.ConversationView, error) {
	sc, err := s.scopeFor(r)
	if err != nil {
		return desk.ConversationView{}, err
	}
	return s.cfg.Desk.ConversationFor(r.Context(), principal(r).AccountID, sc, id, cursor, limit)
}

type messageRequest struct {
	Content string `json:"content" max:"100000"`
	Private bool   `json:"private"`
}

func (s *Server) messageCreate(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	var req messageRequest
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
	m, err := s.cfg.Desk.PersonMessage(r.Context(), p.AccountID, sc, id, req.Content, req.Private, person(p))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"message": m})
}

type loginRequest struct {
	Email     string `json:"email" max:"254"`
	Password  string `json:"password" max:"72"`
	AccountID int64  `json:"account_id"`
}

// login mints a new user API token for a person's email and password, for
// when the token from signup or invitation is lost.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := decodeJSONOnly(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	quota := s.cfg.Throttle.SignInQuota(r, req.Email, s.cfg.Now())
	rateHeaders(w, quota)
	if wait := quota.Wait; wait > 0 {
		writeError(w, r, tooMany(wait, "too many sign-in attempts for this email from your address; try again in %d seconds", retrySeconds(wait)))
		return
	}
	res, err := s.cfg.Identities.Login(r.Context(), req.Email, req.Password, req.AccountID, &audit.Entry{Action: "user.login"})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"account": accountJSON(res.Account), "entitlement": s.entitlement(res.Account),
		"user": res.User, "api_token": res.APIToken})
}
