package console

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/signup"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Email-confirmed signup (DESKWOOT_SIGNUP=confirm, package signup): the
// sign-up form answers "check your email" for every address, and the
// mailed link (/signup/confirm/{token}) creates the workspace. A GET
// shows the link's workspace and a button, and creates nothing, so that a
// mail scanner following the link creates nothing.

const badSignupLink = "This sign-up link is not valid: it was used already or it expired (links work for 24 hours). Sign up again to get a new one."

// signupRequest answers a sign-up in confirm mode: the same page, after
// the same work, whether or not the email has a login.
func (c *Console) signupRequest(w http.ResponseWriter, r *http.Request, f *Form, page Page) {
	in := identity.SignupInput{AccountName: f.Value("workspace"), Email: f.Value("email"), Password: f.Raw("password")}
	if err := in.Validate(); err != nil {
		f.FailErr(err, signupFields)
		c.render(w, r, http.StatusBadRequest, "signup", page)
		return
	}
	if wait := c.cfg.Throttle.SignupMail(in.Email, c.cfg.Now()).Wait; wait > 0 {
		secs := int(wait.Seconds()) + 1
		f.Message = fmt.Sprintf("Too many sign-up links mailed to this email; try again in %d seconds.", secs)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		c.render(w, r, http.StatusTooManyRequests, "signup", page)
		return
	}
	err := c.cfg.Signup.Request(r.Context(), in, c.cfg.Now())
	if err != nil {
		if !f.FailErr(err, signupFields) {
			c.fail(w, r, err)
			return
		}
		c.render(w, r, http.StatusBadRequest, "signup", page)
		return
	}
	c.render(w, r, http.StatusAccepted, "signup-sent", Page{Title: "Check your email", Data: f.Value("email")})
}

type signupConfirmData struct {
	View signup.View
	// Existing: the email has a login already; Owner: the signed-in
	// person is that login.
	Existing, Owner bool
	Action, SignIn  string
}

func (c *Console) signupConfirmPage(w http.ResponseWriter, r *http.Request) {
	c.showSignupConfirm(w, r, http.StatusOK, emptyForm())
}

func (c *Console) showSignupConfirm(w http.ResponseWriter, r *http.Request, status int, f *Form) {
	if c.cfg.Signup == nil {
		c.renderError(w, r, http.StatusNotFound, badSignupLink)
		return
	}
	v, ok := openLink(c, w, r, badSignupLink, c.cfg.Signup.Open)
	if !ok {
		return
	}
	me, signedIn := c.SignedIn(r)
	d := signupConfirmData{View: v, Existing: v.LoginUserID != 0, Owner: signedIn && v.LoginUserID != 0 && me.UserID == v.LoginUserID,
		Action: r.URL.Path, SignIn: SignInURL(r.URL.Path)}
	c.render(w, r, status, "signup-confirm", Page{Title: "Create " + v.Workspace, Form: f, Data: d})
}

// signupConfirm spends the link: the workspace starts its trial and the
// person is signed in to it.
func (c *Console) signupConfirm(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	if c.cfg.Signup == nil {
		c.renderError(w, r, http.StatusNotFound, badSignupLink)
		return
	}
	if !f.OK() {
		c.renderError(w, r, http.StatusBadRequest, "The form was not accepted; open the link from the mail again.")
		return
	}
	var signedIn int64
	if me, ok := c.SignedIn(r); ok {
		signedIn = me.UserID
	}
	res, err := c.cfg.Signup.Confirm(r.Context(), r.PathValue("token"), signedIn, identity.SignupInput{NoAPIToken: true,
		Audit: &audit.Entry{Action: "user.signup", Reasons: []string{"console", "email confirmed"}}}, c.cfg.Now())
	switch {
	case errors.Is(err, signup.ErrLinkUnknown):
		c.renderError(w, r, http.StatusNotFound, badSignupLink)
		return
	case errors.Is(err, signup.ErrSignInFirst):
		f.Message = "Sign in with this email first, then open the link again."
		c.showSignupConfirm(w, r, http.StatusForbidden, f)
		return
	case err != nil:
		c.fail(w, r, err)
		return
	}
	if err := c.startSession(w, r, tenancy.For(res.Account.ID), res.User.ID); err != nil {
		c.fail(w, r, err)
		return
	}
	c.flash(w, fmt.Sprintf("Welcome to Deskwoot. Your 7-day Enterprise trial of %s has started.", res.Account.Name))
	c.redirect(w, r, "/")
}

// signupThrottled answers a sign-up over the per-address limit.
func (c *Console) signupThrottled(w http.ResponseWriter, r *http.Request, f *Form, page Page) bool {
	wait := c.cfg.Throttle.Signup(r, c.cfg.Now())
	if wait <= 0 {
		return false
	}
	secs := int(wait.Seconds()) + 1
	f.Message = fmt.Sprintf("Too many workspaces created from your address; try again in %d seconds.", secs)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	c.render(w, r, http.StatusTooManyRequests, "signup", page)
	return true
}
