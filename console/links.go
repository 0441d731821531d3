package console

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/signup"
)

// Links mailed to people: an invitation (/invite/{token}), a password
// reset (/password/reset/{token}), an email change (/profile/email/{token})
// and a signup's confirmation (signupconfirm.go). Opening one shows a page and changes nothing,
// so that a mail scanner following it spends nothing.

// openLink opens the link in the request's path with open (the desk's
// look-up of that kind of link) and returns what the link names. A link
// that is not valid (used, expired, withdrawn, replaced, malformed) shows
// dead as a 404 page, any other failure the error page; then ok is false
// and the response is written.
func openLink[T any](c *Console, w http.ResponseWriter, r *http.Request, dead string, open func(context.Context, string, time.Time) (T, error)) (v T, ok bool) {
	v, err := open(r.Context(), r.PathValue("token"), c.cfg.Now())
	switch {
	case errors.Is(err, identity.ErrLinkUnknown), errors.Is(err, signup.ErrLinkUnknown):
		c.renderError(w, r, http.StatusNotFound, dead)
		return v, false
	case err != nil:
		c.fail(w, r, err)
		return v, false
	}
	return v, true
}

// addressedLink is a link page's data: the email the link is for and
// where its form posts.
type addressedLink struct {
	Email, Action string
}
