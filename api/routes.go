package api

import (
	"net/http"

	"github.com/gorilla/mux"
)

// Routes is the REST route table, readable top to bottom. extra mounts
// other doors (the MCP endpoint) on the same router.
func (s *Server) Routes(r *mux.Router) {
	r.HandleFunc("/healthz", s.healthz).Methods(http.MethodGet)
	r.HandleFunc("/readyz", s.readyz).Methods(http.MethodGet)

	v1 := r.PathPrefix("/api/v1").Subrouter()
	v1.Use(checkQuery)
	v1.HandleFunc("/signup", s.signup).Methods(http.MethodPost)
	v1.HandleFunc("/signup/confirm", s.signupConfirm).Methods(http.MethodPost)
	v1.HandleFunc("/login", s.login).Methods(http.MethodPost)
	v1.HandleFunc("/password/forgot", s.passwordForgot).Methods(http.MethodPost)
	v1.HandleFunc("/password/reset", s.passwordReset).Methods(http.MethodPost)
	v1.HandleFunc("/profile/email/confirm", s.emailConfirm).Methods(http.MethodPost)
	v1.HandleFunc("/account", s.authenticated(s.accountGet)).Methods(http.MethodGet)
	v1.HandleFunc("/users", s.admin(s.userList)).Methods(http.MethodGet)
	v1.HandleFunc("/users", s.admin(s.userCreate)).Methods(http.MethodPost)
	v1.HandleFunc("/users/{id}", s.admin(s.userPatch)).Methods(http.MethodPatch)
	v1.HandleFunc("/users/{id}", s.admin(s.userRemove)).Methods(http.MethodDelete)
	v1.HandleFunc("/profile", s.authenticated(s.profileGet)).Methods(http.MethodGet)
	v1.HandleFunc("/profile", s.authenticated(s.profilePatch)).Methods(http.MethodPatch)
	v1.HandleFunc("/profile/tokens", s.authenticated(s.profileTokenList)).Methods(http.MethodGet)
	v1.HandleFunc("/profile/tokens", s.authenticated(s.profileTokenCreate)).Methods(http.MethodPost)
	v1.HandleFunc("/profile/tokens/{id}", s.authenticated(s.profileTokenRevoke)).Methods(http.MethodDelete)
	v1.HandleFunc("/notifications", s.authenticated(s.notificationList)).Methods(http.MethodGet)
	v1.HandleFunc("/notifications/read", s.authenticated(s.notificationRead)).Methods(http.MethodPost)
	v1.HandleFunc("/invitations", s.admin(s.invitationList)).Methods(http.MethodGet)
	v1.HandleFunc("/invitations", s.admin(s.invitationCreate)).Methods(http.MethodPost)
	v1.HandleFunc("/invitations/{id}", s.admin(s.invitationRevoke)).Methods(http.MethodDelete)

	v1.HandleFunc("/inboxes", s.authenticated(s.inboxList)).Methods(http.MethodGet)
	v1.HandleFunc("/inboxes", s.admin(s.inboxCreate)).Methods(http.MethodPost)
	v1.HandleFunc("/inboxes/{id}", s.admin(s.inboxUpdate)).Methods(http.MethodPatch)
	v1.HandleFunc("/inboxes/{id}/inbound_address/rotate", s.admin(s.inboxInboundRotate)).Methods(http.MethodPost)
	v1.HandleFunc("/inboxes/{id}/identity_secret/rotate", s.admin(s.inboxIdentitySecretRotate)).Methods(http.MethodPost)
	v1.HandleFunc("/inboxes/{id}", s.admin(s.inboxDelete)).Methods(http.MethodDelete)
	v1.HandleFunc("/inboxes/{id}/members", s.admin(s.inboxMemberAdd)).Methods(http.MethodPost)
	v1.HandleFunc("/inboxes/{id}/members/{user_id}", s.admin(s.inboxMemberRemove)).Methods(http.MethodDelete)
	v1.HandleFunc("/inboxes/{id}/messages", s.authenticated(s.incomingMessage)).Methods(http.MethodPost)

	v1.HandleFunc("/conversations", s.authenticated(s.conversationList)).Methods(http.MethodGet)
	v1.HandleFunc("/conversations/{id}", s.authenticated(s.conversationGet)).Methods(http.MethodGet)
	v1.HandleFunc("/conversations/{id}", s.authenticated(s.conversationPatch)).Methods(http.MethodPatch)
	v1.HandleFunc("/conversations/{id}", s.admin(s.conversationDelete)).Methods(http.MethodDelete)
	v1.HandleFunc("/conversations/{id}/messages", s.authenticated(s.messageCreate)).Methods(http.MethodPost)

	v1.HandleFunc("/contacts", s.authenticated(s.contactList)).Methods(http.MethodGet)
	v1.HandleFunc("/contacts/{id}", s.authenticated(s.contactGet)).Methods(http.MethodGet)
	v1.HandleFunc("/contacts/{id}", s.authenticated(s.contactPatch)).Methods(http.MethodPatch)
	v1.HandleFunc("/contacts/{id}", s.admin(s.contactDelete)).Methods(http.MethodDelete)
	v1.HandleFunc("/contacts/{id}/notes", s.authenticated(s.contactNoteCreate)).Methods(http.MethodPost)

	v1.HandleFunc("/labels", s.authenticated(s.labelList)).Methods(http.MethodGet)
	v1.HandleFunc("/labels", s.admin(s.labelCreate)).Methods(http.MethodPost)
	v1.HandleFunc("/labels/{id}", s.admin(s.labelDelete)).Methods(http.MethodDelete)
	v1.HandleFunc("/canned_responses", s.authenticated(s.cannedList)).Methods(http.MethodGet)
	v1.HandleFunc("/canned_responses", s.admin(s.cannedCreate)).Methods(http.MethodPost)
	v1.HandleFunc("/canned_responses/{id}", s.admin(s.cannedPatch)).Methods(http.MethodPatch)
	v1.HandleFunc("/canned_responses/{id}", s.admin(s.cannedDelete)).Methods(http.MethodDelete)
	v1.HandleFunc("/teams", s.authenticated(s.teamList)).Methods(http.MethodGet)
	v1.HandleFunc("/teams", s.admin(s.teamCreate)).Methods(http.MethodPost)
	v1.HandleFunc("/teams/{id}", s.admin(s.teamDelete)).Methods(http.MethodDelete)
	v1.HandleFunc("/articles", s.authenticated(s.articleList)).Methods(http.MethodGet)
	v1.HandleFunc("/articles", s.admin(s.articleCreate)).Methods(http.MethodPost)
	v1.HandleFunc("/articles/{id}", s.admin(s.articlePatch)).Methods(http.MethodPatch)

	v1.HandleFunc("/drafts", s.authenticated(s.draftList)).Methods(http.MethodGet)
	v1.HandleFunc("/drafts/{id}/approve", s.authenticated(s.draftApprove)).Methods(http.MethodPost)
	v1.HandleFunc("/drafts/{id}/reject", s.authenticated(s.draftReject)).Methods(http.MethodPost)

	v1.HandleFunc("/settings/mcp", s.admin(s.mcpSettingsGet)).Methods(http.MethodGet)
	v1.HandleFunc("/settings/mcp", s.admin(s.mcpSettingsPut)).Methods(http.MethodPut)
	v1.HandleFunc("/settings/search", s.admin(s.searchSettingsGet)).Methods(http.MethodGet)
	v1.HandleFunc("/settings/search", s.admin(s.searchSettingsPut)).Methods(http.MethodPut)
	v1.HandleFunc("/settings/help_center", s.admin(s.helpCenterSettingsGet)).Methods(http.MethodGet)
	v1.HandleFunc("/settings/help_center", s.admin(s.helpCenterSettingsPut)).Methods(http.MethodPut)
	v1.HandleFunc("/mcp/tokens", s.admin(s.mcpTokenList)).Methods(http.MethodGet)
	v1.HandleFunc("/mcp/tokens", s.admin(s.mcpTokenCreate)).Methods(http.MethodPost)
	v1.HandleFunc("/mcp/tokens/{id}", s.admin(s.mcpTokenRevoke)).Methods(http.MethodDelete)
	v1.HandleFunc("/mcp/tokens/{id}/pause", s.admin(s.mcpTokenPause)).Methods(http.MethodPost)
	v1.HandleFunc("/mcp/tokens/{id}/resume", s.admin(s.mcpTokenResume)).Methods(http.MethodPost)

	v1.HandleFunc("/audit", s.admin(s.auditList)).Methods(http.MethodGet)
	v1.HandleFunc("/audit/export", s.admin(s.auditExport)).Methods(http.MethodGet)
	v1.HandleFunc("/audit/checkpoints", s.admin(s.auditCheckpoints)).Methods(http.MethodGet)
	v1.HandleFunc("/audit/decisions", s.admin(s.auditDecisions)).Methods(http.MethodGet)
	v1.HandleFunc("/audit/{id}/explanation", s.admin(s.auditExplanation)).Methods(http.MethodGet)

	v1.HandleFunc("/policy", s.admin(s.policyGet)).Methods(http.MethodGet)
	v1.HandleFunc("/policy/versions", s.admin(s.policyVersions)).Methods(http.MethodGet)
	v1.HandleFunc("/policy/versions/{n}/activate", s.admin(s.policyVersionActivate)).Methods(http.MethodPost)
	v1.HandleFunc("/policy/candidates", s.admin(s.policyCandidateCreate)).Methods(http.MethodPost)
	v1.HandleFunc("/policy/candidates", s.admin(s.policyCandidates)).Methods(http.MethodGet)
	v1.HandleFunc("/policy/candidates/{id}", s.admin(s.policyCandidate)).Methods(http.MethodGet)
	v1.HandleFunc("/policy/candidates/{id}/activate", s.admin(s.policyCandidateActivate)).Methods(http.MethodPost)
	v1.HandleFunc("/policy/candidates/{id}/shadow", s.admin(s.policyCandidateShadow)).Methods(http.MethodPost)
	v1.HandleFunc("/policy/shadow", s.admin(s.policyShadow)).Methods(http.MethodGet)
	v1.HandleFunc("/policy/shadow", s.admin(s.policyShadowStop)).Methods(http.MethodDelete)
	v1.HandleFunc("/policy/tenant", s.admin(s.policyTenantRemove)).Methods(http.MethodDelete)

	v1.HandleFunc("/billing/checkout", s.admin(s.billingCheckout)).Methods(http.MethodPost)
	v1.HandleFunc("/billing/portal", s.admin(s.billingPortal)).Methods(http.MethodPost)
	v1.HandleFunc("/stripe/webhook", s.stripeWebhook).Methods(http.MethodPost)

	methodNotAllowed := func(w http.ResponseWriter, req *http.Request) {
		writeError(w, req, errorf(http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed on %s", req.Method, req.URL.Path))
	}
	v1.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// gorilla/mux v1.8.1 forgets a method mismatch inside a subrouter when
		// a later route's prefix matches, so ask again with each method.
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if m == req.Method {
				continue
			}
			probe := req.Clone(req.Context())
			probe.Method = m
			var match mux.RouteMatch
			if r.Match(probe, &match) && match.MatchErr == nil && match.Route != nil {
				methodNotAllowed(w, req)
				return
			}
		}
		writeError(w, req, errorf(http.StatusNotFound, "not_found", "no route %s %s", req.Method, req.URL.Path))
	})
	v1.MethodNotAllowedHandler = http.HandlerFunc(methodNotAllowed)
}
