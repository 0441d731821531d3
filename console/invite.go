package console

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Invitation links (/invite/{token}) and the workspace chooser.

// The page never says whether the invited email already has a login:
// without a relay the admin holds the link (and may open it), so the page
// is the same for every email, with a name and password for a newcomer
// and a way to sign in for someone who has a login. Only someone signed
// in with the invited email's login sees "join with the same login".
type inviteData struct {
	View desk.InvitationView
	// Invitee: the signed-in person is the login that has the invited
	// email; they join with it.
	Invitee        bool
	Action, SignIn string
}

const badInvite = "This invitation link is not valid: it was used already, it expired or it was withdrawn. Ask the admin who invited you for a new one."

// invitePage shows an invitation: a newcomer chooses a name and a
// password; someone who already signs in joins with that login.
func (c *Console) invitePage(w http.ResponseWriter, r *http.Request) {
	c.showInvite(w, r, http.StatusOK, emptyForm())
}

func (c *Console) showInvite(w http.ResponseWriter, r *http.Request, status int, f *Form) {
	v, ok := openLink(c, w, r, badInvite, c.cfg.Desk.InvitationOpen)
	if !ok {
		return
	}
	me, signedIn := c.SignedIn(r)
	d := inviteData{View: v, Invitee: signedIn && v.LoginUserID != 0 && me.UserID == v.LoginUserID,
		Action: r.URL.Path, SignIn: SignInURL(r.URL.Path)}
	c.render(w, r, status, "invite", Page{Title: "Join " + v.Workspace, Form: f, Data: d})
}

// inviteAccept spends the invitation and signs the person in to the
// workspace.
func (c *Console) inviteAccept(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	raw := r.PathValue("token")
	v, ok := openLink(c, w, r, badInvite, c.cfg.Desk.InvitationOpen)
	if !ok {
		return
	}
	var joined desk.Joined
	var err error
	if me, ok := c.SignedIn(r); ok && v.LoginUserID != 0 && me.UserID == v.LoginUserID {
		joined, err = c.cfg.Desk.InvitationJoin(r.Context(), raw, me.UserID, c.cfg.Now())
	} else {
		// A name and a password, checked (and hashed) alike for every
		// email. Only then, to someone who chose a password for an email
		// that has a login, does the answer say so: a login cannot be
		// made twice. With a relay that someone read the invitee's mail.
		if f.Value("name") == "" {
			f.Fail("name", "Give your name, as your team will see it.")
		}
		hash, perr := c.cfg.Identities.HashPassword(f.Raw("password"))
		if perr != nil {
			f.Fail("password", "Choose a password of 8 to 72 characters.")
		}
		if !f.OK() {
			c.showInvite(w, r, http.StatusBadRequest, f)
			return
		}
		joined, err = c.cfg.Desk.InvitationAccept(r.Context(), raw, f.Value("name"), hash, c.cfg.Now())
	}
	switch {
	case errors.Is(err, identity.ErrLinkUnknown):
		c.renderError(w, r, http.StatusNotFound, badInvite)
		return
	case errors.Is(err, identity.ErrEmailTaken):
		f.Message = v.Email + " has a Deskwoot sign-in already: sign in with it, then open this link again."
		c.showInvite(w, r, http.StatusConflict, f)
		return
	case err != nil:
		if f.FailErr(err, map[string]string{"name": "name", "password": "password"}) {
			c.showInvite(w, r, http.StatusBadRequest, f)
			return
		}
		c.fail(w, r, err)
		return
	}
	if err := c.startSession(w, r, tenancy.For(joined.AccountID), joined.UserID); err != nil {
		c.fail(w, r, err)
		return
	}
	c.flash(w, "Welcome to "+v.Workspace+". You joined as "+v.Role+".")
	c.redirect(w, r, "/")
}

type workspacesData struct {
	Workspaces []identity.Workspace
	Current    int64
	Next       string
}

// workspacesPage lets a person in several workspaces choose one.
func (c *Console) workspacesPage(w http.ResponseWriter, r *http.Request) {
	ws, err := identity.Workspaces(r.Context(), c.cfg.DB, c.me(r).UserID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "workspaces", Page{Title: "Choose a workspace", Nav: "workspaces",
		Data: workspacesData{Workspaces: ws, Current: c.me(r).AccountID, Next: safeNext(r.URL.Query().Get("next"))}})
}

// workspaceSwitch signs the person in to another of their workspaces (a
// fresh session there; this one ends).
func (c *Console) workspaceSwitch(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	me := c.me(r)
	id, _ := strconv.ParseInt(f.Value("account_id"), 10, 64)
	ws, err := identity.Workspaces(r.Context(), c.cfg.DB, me.UserID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, x := range ws {
		if x.AccountID == id && id > 0 {
			signedIn := tenancy.Recorded(id, audit.Entry{ActorKind: "user", ActorID: me.UserID, Action: "user.login", Reasons: []string{"console", "workspace chooser"}})
			if err := c.startSession(w, r, signedIn, me.UserID); err != nil {
				c.fail(w, r, err)
				return
			}
			c.redirect(w, r, safeNext(f.Value("next")))
			return
		}
	}
	c.renderError(w, r, http.StatusNotFound, "You are not a member of that workspace.")
}
