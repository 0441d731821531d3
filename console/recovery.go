package console

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/deskwoot/deskwoot/identity"
)

// Password recovery: "Forgot password?" (/password/forgot) and the reset
// link (/password/reset/{token}). The forgot page answers the same for
// every address: whether anyone signs in with it is decided later, in a
// job, and only a mail to its owner shows it.

type forgotData struct{ MailOn bool }

func (c *Console) forgotPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "forgot", Page{Title: "Reset your password", Form: emptyForm(), Data: forgotData{MailOn: c.cfg.Desk.MailOn()}})
}

// forgot asks for a reset link (throttled per email and per address).
func (c *Console) forgot(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	page := Page{Title: "Reset your password", Form: f, Data: forgotData{MailOn: c.cfg.Desk.MailOn()}}
	email := f.Value("email")
	if f.OK() && !identity.ValidEmail(email) {
		f.Fail("email", "Enter the email you sign in with, like name@example.com.")
	}
	if !f.OK() {
		c.render(w, r, http.StatusBadRequest, "forgot", page)
		return
	}
	if wait := c.cfg.Throttle.PasswordReset(r, email, c.cfg.Now()); wait > 0 {
		secs := int(wait.Seconds()) + 1
		f.Message = fmt.Sprintf("Too many reset requests; try again in %d seconds.", secs)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		c.render(w, r, http.StatusTooManyRequests, "forgot", page)
		return
	}
	if err := c.cfg.Desk.PasswordForgot(r.Context(), email); err != nil {
		c.fail(w, r, err)
		return
	}
	c.flash(w, "If a Deskwoot sign-in uses "+email+", a link to reset its password is on its way. It works once, for 30 minutes.")
	c.redirect(w, r, "/password/forgot")
}

const badReset = "This reset link is not valid: it was used already, it expired (links work for 30 minutes) or a newer one replaced it. Ask for a new one."

func (c *Console) resetPage(w http.ResponseWriter, r *http.Request) {
	c.showReset(w, r, http.StatusOK, emptyForm())
}

func (c *Console) showReset(w http.ResponseWriter, r *http.Request, status int, f *Form) {
	email, ok := openLink(c, w, r, badReset, c.cfg.Desk.PasswordResetOpen)
	if !ok {
		return
	}
	c.render(w, r, status, "reset", Page{Title: "Set a new password", Form: f, Data: addressedLink{Email: email, Action: r.URL.Path}})
}

// reset sets the new password; every session and personal token of the
// person ends, this browser's too, and they sign in again.
func (c *Console) reset(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	hash, err := c.cfg.Identities.HashPassword(f.Raw("password"))
	if err != nil || !f.OK() {
		f.Fail("password", "Choose a password of 8 to 72 characters.")
		c.showReset(w, r, http.StatusBadRequest, f)
		return
	}
	_, err = c.cfg.Desk.PasswordReset(r.Context(), r.PathValue("token"), hash, c.cfg.Now())
	if errors.Is(err, identity.ErrLinkUnknown) {
		c.renderError(w, r, http.StatusNotFound, badReset)
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.clearSession(w)
	c.flash(w, "Your password is set, and every session and personal API token of yours has ended. Sign in with the new password.")
	c.redirect(w, r, "/signin")
}
