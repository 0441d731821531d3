package console

import (
	"errors"
	"net/http"

	"github.com/deskwoot/deskwoot/identity"
)

// The link mailed to a new email address (desk/emailchange.go): opening
// it shows the address and a "Confirm email" button; a GET changes
// nothing, so that a mail scanner following the link confirms nothing.

const badEmailLink = "This link is not valid: it was used already, it expired (links work for 24 hours) or a newer change replaced it. Change your email on your profile again."

func (c *Console) emailConfirmPage(w http.ResponseWriter, r *http.Request) {
	email, ok := openLink(c, w, r, badEmailLink, c.cfg.Desk.EmailChangeOpen)
	if !ok {
		return
	}
	c.render(w, r, http.StatusOK, "email-confirm", Page{Title: "Confirm your new email", Form: emptyForm(),
		Data: addressedLink{Email: email, Action: r.URL.Path}})
}

func (c *Console) emailConfirm(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	if !f.OK() {
		c.renderError(w, r, http.StatusBadRequest, "The form was not accepted; open the link from the mail again.")
		return
	}
	email, err := c.cfg.Desk.EmailChangeConfirm(r.Context(), r.PathValue("token"), c.cfg.Now())
	switch {
	case errors.Is(err, identity.ErrLinkUnknown):
		c.renderError(w, r, http.StatusNotFound, badEmailLink)
		return
	case errors.Is(err, identity.ErrEmailTaken):
		c.renderError(w, r, http.StatusConflict, "Another Deskwoot login uses this address, so your email stays as it was. Choose another on your profile.")
		return
	case err != nil:
		c.fail(w, r, err)
		return
	}
	c.flash(w, "Your email is now "+email+"; sign in with it from now on.")
	c.redirect(w, r, "/profile")
}
