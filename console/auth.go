package console

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// signupFields maps the domain's field names to the sign-up form's.
var signupFields = map[string]string{"account_name": "workspace", "email": "email", "password": "password"}

func (c *Console) signupPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "signup", Page{Title: "Create your workspace", Form: emptyForm(), Data: c.cfg.Signup != nil})
}

// signup creates the workspace (7-day Enterprise trial) and its first
// admin through the same tenancy function as REST, then signs them in.
// In confirm mode (Config.Signup) it mails a link instead
// (signupconfirm.go).
func (c *Console) signup(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	page := Page{Title: "Create your workspace", Form: f, Data: c.cfg.Signup != nil}
	if !f.OK() {
		c.render(w, r, http.StatusBadRequest, "signup", page)
		return
	}
	if c.signupThrottled(w, r, f, page) {
		return
	}
	if c.cfg.Signup != nil {
		c.signupRequest(w, r, f, page)
		return
	}
	res, err := c.cfg.Identities.Signup(r.Context(), identity.SignupInput{
		AccountName: f.Value("workspace"), Email: f.Value("email"), Password: f.Raw("password"), NoAPIToken: true,
		Audit: &audit.Entry{Action: "user.signup", Reasons: []string{"console"}},
	}, c.cfg.Now())
	if errors.Is(err, identity.ErrEmailTaken) {
		f.Fail("email", "An account with this email already exists; sign in instead.")
	} else if err != nil && !f.FailErr(err, signupFields) {
		c.fail(w, r, err)
		return
	}
	if !f.OK() {
		c.render(w, r, http.StatusBadRequest, "signup", page)
		return
	}
	if err := c.startSession(w, r, tenancy.For(res.Account.ID), res.User.ID); err != nil {
		c.fail(w, r, err)
		return
	}
	c.browserZone(r, f, res.Account.ID, res.User.ID)
	c.flash(w, fmt.Sprintf("Welcome to Deskwoot. Your 7-day Enterprise trial of %s has started.", res.Account.Name))
	c.redirect(w, r, "/")
}

func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.SignedIn(r); ok {
		c.redirect(w, r, safeNext(r.URL.Query().Get("next")))
		return
	}
	f := emptyForm()
	f.Values.Set("next", safeNext(r.URL.Query().Get("next")))
	c.render(w, r, http.StatusOK, "signin", Page{Title: "Sign in", Form: f})
}

// signin checks the email and password (throttled per email, shared with
// REST's /api/v1/login) and starts a session in the person's first
// workspace; someone in several is then offered the chooser.
func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	page := Page{Title: "Sign in", Form: f}
	email := f.Value("email")
	switch {
	case !f.OK():
	case email == "":
		f.Fail("email", "Enter the email you signed up with.")
	case f.Raw("password") == "":
		f.Fail("password", "Enter your password.")
	}
	if !f.OK() {
		c.render(w, r, http.StatusBadRequest, "signin", page)
		return
	}
	if wait := c.cfg.Throttle.SignIn(r, email, c.cfg.Now()); wait > 0 {
		f.Message = fmt.Sprintf("Too many sign-in attempts for this email; try again in %d seconds.", int(wait.Seconds())+1)
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		c.render(w, r, http.StatusTooManyRequests, "signin", page)
		return
	}
	acct, user, n, err := c.cfg.Identities.SignIn(r.Context(), email, f.Raw("password"))
	switch {
	case errors.Is(err, identity.ErrBadCredentials):
		f.Message = "The email or password is wrong."
		c.render(w, r, http.StatusUnauthorized, "signin", page)
		return
	case err != nil:
		if !f.FailErr(err, nil) {
			c.fail(w, r, err)
			return
		}
		c.render(w, r, http.StatusBadRequest, "signin", page)
		return
	}
	signedIn := tenancy.Recorded(acct.ID, audit.Entry{ActorKind: "user", ActorID: user.ID, Action: "user.login", Reasons: []string{"console"}})
	if err := c.startSession(w, r, signedIn, user.ID); err != nil {
		c.fail(w, r, err)
		return
	}
	c.browserZone(r, f, acct.ID, user.ID)
	next := safeNext(f.Value("next"))
	if n > 1 && next == "/" {
		// Signed in to the first of several workspaces: offer the others.
		next = "/workspaces"
	}
	c.redirect(w, r, next)
}

// signout ends the session server-side and forgets the cookie.
func (c *Console) signout(w http.ResponseWriter, r *http.Request) {
	if p, _, err := c.authenticate(r); err == nil {
		ck, _ := r.Cookie(sessionCookie)
		out := &audit.Entry{ActorKind: "user", ActorID: p.UserID, Action: "user.logout", Reasons: []string{"console"}}
		if err := identity.SessionEnd(r.Context(), c.cfg.DB, ck.Value, c.cfg.Now(), out); err != nil {
			c.fail(w, r, err)
			return
		}
		c.live.EndSession(p.SessionID)
	}
	c.clearSession(w)
	c.flash(w, "You are signed out.")
	c.redirect(w, r, "/signin")
}

// home is the signed-in landing page.
func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "home", Page{Title: "Home", Nav: "home"})
}
