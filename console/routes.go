package console

import (
	"io/fs"
	"net/http"
)

// routes is the console's route table, readable top to bottom. Patterns
// are net/http's ("METHOD /path/{id}"); the access level runs first.
func (c *Console) routes() {
	static, _ := fs.Sub(files, "static")
	c.mux.Handle("GET /static/", c.staticFiles(http.StripPrefix("/static/", http.FileServerFS(static))))

	c.handle("GET /signup", public, c.signupPage)
	c.handle("POST /signup", public, c.signup)
	c.handle("GET /signup/confirm/{token}", public, c.signupConfirmPage)
	c.handle("POST /signup/confirm/{token}", public, c.signupConfirm)
	c.handle("GET /signin", public, c.signinPage)
	c.handle("POST /signin", public, c.signin)
	c.handle("POST /signout", public, c.signout)
	c.handle("GET /password/forgot", public, c.forgotPage)
	c.handle("POST /password/forgot", public, c.forgot)
	c.handle("GET /password/reset/{token}", public, c.resetPage)
	c.handle("GET /profile/email/{token}", public, c.emailConfirmPage)
	c.handle("POST /profile/email/{token}", public, c.emailConfirm)
	c.handle("POST /password/reset/{token}", public, c.reset)
	// The pages' live updates (live.go): its own 401, never a sign-in page.
	c.handle("GET /live", public, c.liveStream)
	c.handle("GET /workspaces", member, c.workspacesPage)
	c.handle("POST /workspaces", member, c.workspaceSwitch)

	// The bell (notifications.go).
	c.handle("GET /notifications", member, c.notificationsPage)
	c.handle("POST /notifications/read-all", member, c.notificationReadAll)
	c.handle("POST /notifications/{id}/read", member, c.notificationRead)

	// Every person's own profile (profile.go).
	c.handle("GET /profile", member, c.profilePage)
	c.handle("POST /profile", member, c.profileSave)
	c.handle("POST /profile/notifications", member, c.profileNotifications)
	c.handle("POST /profile/tokens", member, c.profileTokenCreate)
	c.handle("POST /profile/tokens/{id}/revoke", member, c.profileTokenRevoke)

	// People (people.go, invite.go): invitations and their links.
	c.handle("GET /invite/{token}", public, c.invitePage)
	c.handle("POST /invite/{token}", public, c.inviteAccept)

	c.handle("GET /{$}", member, c.home)

	// Working the queue (conversations.go, contacts.go, helpcenter.go).
	c.handle("GET /conversations", member, c.conversationList)
	c.handle("GET /conversations/{id}", member, c.conversationPage)
	c.handle("POST /conversations/{id}", member, c.conversationUpdate)
	c.handle("POST /conversations/{id}/messages", member, c.messagePost)
	c.handle("POST /conversations/{id}/snooze", member, c.conversationSnooze)
	c.handle("POST /conversations/{id}/assign-me", member, c.assignMe)
	c.handle("POST /conversations/{id}/resolve", member, c.resolveOne)
	c.handle("POST /conversations/bulk", member, c.conversationBulk)
	c.handle("GET /conversations/{id}/delete", admin, c.conversationDeletePage)
	c.handle("POST /conversations/{id}/delete", admin, c.conversationDelete)
	c.handle("GET /contacts", member, c.contactList)
	c.handle("GET /contacts/{id}", member, c.contactPage)
	c.handle("POST /contacts/{id}", member, c.contactUpdate)
	c.handle("POST /contacts/{id}/notes", member, c.contactNote)
	c.handle("GET /contacts/{id}/delete", admin, c.contactDeletePage)
	c.handle("POST /contacts/{id}/delete", admin, c.contactDelete)
	c.handle("GET /help-center", member, c.helpCenterPage)
	c.handle("GET /help-center/{id}", member, c.articlePage)
	c.handle("POST /help-center", admin, c.articleCreate)
	c.handle("POST /help-center/address", admin, c.helpCenterAddress)
	c.handle("POST /help-center/{id}/status", admin, c.articleStatus)
	c.handle("POST /help-center/{id}", admin, c.articleEdit)

	// Settings → Inboxes, Team, Labels (settings.go).
	c.handle("GET /settings/inboxes", admin, c.inboxesPage)
	c.handle("POST /settings/inboxes", admin, c.inboxCreate)
	c.handle("GET /settings/inboxes/{id}", admin, c.inboxPage)
	c.handle("POST /settings/inboxes/{id}", admin, c.inboxUpdate)
	c.handle("POST /settings/inboxes/{id}/members", admin, c.inboxMemberAdd)
	c.handle("POST /settings/inboxes/{id}/members/{user_id}/remove", admin, c.inboxMemberRemove)
	c.handle("GET /settings/inboxes/{id}/delete", admin, c.inboxDeletePage)
	c.handle("POST /settings/inboxes/{id}/delete", admin, c.inboxDelete)
	c.handle("POST /settings/inboxes/{id}/inbound_address/rotate", admin, c.inboxInboundRotate)
	c.handle("POST /settings/inboxes/{id}/identity_secret/rotate", admin, c.inboxIdentitySecretRotate)
	c.handle("GET /settings/team", admin, c.teamPage)
	c.handle("POST /settings/team/invitations", admin, c.teamInvite)
	c.handle("POST /settings/team/invitations/{id}/revoke", admin, c.invitationRevoke)
	c.handle("POST /settings/team/teams", admin, c.teamCreate)
	c.handle("GET /settings/team/teams/{id}/delete", admin, c.teamDeletePage)
	c.handle("POST /settings/team/teams/{id}/delete", admin, c.teamDelete)
	c.handle("POST /settings/team/people/{id}", admin, c.personRole)
	c.handle("POST /settings/team/people/{id}/deactivate", admin, c.personActive(false))
	c.handle("POST /settings/team/people/{id}/reactivate", admin, c.personActive(true))
	c.handle("GET /settings/team/people/{id}/remove", admin, c.personRemovePage)
	c.handle("POST /settings/team/people/{id}/remove", admin, c.personRemove)
	c.handle("GET /settings/canned-responses", member, c.cannedPage)
	c.handle("GET /canned-responses.json", member, c.cannedJSON)
	c.handle("GET /people.json", member, c.mentionsJSON)
	c.handle("POST /settings/canned-responses", admin, c.cannedCreate)
	c.handle("POST /settings/canned-responses/{id}", admin, c.cannedSave)
	c.handle("POST /settings/canned-responses/{id}/delete", admin, c.cannedDelete)
	c.handle("GET /settings/labels", admin, c.labelsPage)
	c.handle("POST /settings/labels", admin, c.labelCreate)
	c.handle("GET /settings/labels/{id}/delete", admin, c.labelDeletePage)
	c.handle("POST /settings/labels/{id}/delete", admin, c.labelDelete)

	c.handle("GET /drafts", member, c.draftList)
	c.handle("POST /drafts/{id}/approve", member, c.draftApprove)
	c.handle("POST /drafts/{id}/reject", member, c.draftReject)

	c.handle("GET /audit", admin, c.auditLog)
	c.handle("GET /audit/export", admin, c.auditExport)
	c.handle("GET /audit/{id}/explanation", admin, c.explanationPage)
	c.handle("GET /policy", admin, c.policyPage)

	c.handle("GET /settings/mcp", admin, c.mcpSettings)
	c.handle("POST /settings/mcp", admin, c.mcpSwitch)
	c.handle("POST /settings/mcp/tokens", admin, c.mcpTokenCreate)
	c.handle("POST /settings/mcp/tokens/{id}/revoke", admin, c.mcpTokenRevoke)
	c.handle("POST /settings/mcp/switches", admin, c.mcpSwitches)
	c.handle("POST /settings/mcp/tokens/{id}/pause", admin, c.mcpTokenPause)
	c.handle("POST /settings/mcp/tokens/{id}/resume", admin, c.mcpTokenResume)

	c.handle("GET /billing", admin, c.billingShow)
	c.handle("POST /billing/checkout", admin, c.billingCheckout)
	c.handle("POST /billing/portal", admin, c.billingPortal)

	c.handle("GET /", public, c.notFound)
}

// staticFiles serves the embedded CSS and scripts; links carry a content
// hash (?v=), so browsers may keep them.
func (c *Console) staticFiles(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		h.ServeHTTP(w, r)
	})
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	if _, _, err := c.authenticate(r); err == nil {
		// Signed in: show the page inside the navigation.
		c.guard(member, func(w http.ResponseWriter, r *http.Request) {
			c.renderError(w, r, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
		})(w, r)
		return
	}
	c.renderError(w, r, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
}
