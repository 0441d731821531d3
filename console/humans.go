package console

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Helpers of the pages that work the queue (conversations, contacts,
// settings, help center).

// author is the signed-in person as the author of a change.
func author(p identity.UserPrincipal) desk.Author {
	return desk.Author{Kind: "user", UserID: p.UserID, Name: p.Name}
}

// idParam reads the {id} path segment; a malformed id gets the 404 page.
func (c *Console) idParam(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		c.renderError(w, r, http.StatusNotFound, "There is nothing at "+r.URL.Path+".")
		return 0, false
	}
	return id, true
}

// failDomain shows a domain error as a page: not found (also what lies
// outside the person's inboxes or another workspace) is 404, bad input
// 400, anything else the 500 page.
func (c *Console) failDomain(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, tenancy.ErrNotFound):
		c.renderError(w, r, http.StatusNotFound, "This does not exist, or it is not in your inboxes.")
	case errors.Is(err, tenancy.ErrInvalid):
		c.renderError(w, r, http.StatusBadRequest, sentence(fault.From(err).Sentence))
	default:
		c.fail(w, r, err)
	}
}

// confirmBox is the box a delete needs ticked (the confirm step works
// without JavaScript).
func confirmBox(f *Form, label string) field {
	return field{Name: "confirm", Value: "yes", Type: "checkbox", ID: "f-confirm", Label: label, Error: f.Err("confirm")}
}

// confirmedDelete reads a delete post's id and checks its confirm box; an
// unticked box shows the confirm page again with the error beside it.
func (c *Console) confirmedDelete(w http.ResponseWriter, r *http.Request, show func(http.ResponseWriter, *http.Request, int, *Form)) (int64, bool) {
	id, ok := c.idParam(w, r)
	if !ok {
		return 0, false
	}
	f := newForm(w, r)
	if f.Value("confirm") != "yes" {
		f.Fail("confirm", "Tick the box to confirm the deletion.")
		show(w, r, http.StatusBadRequest, f)
		return 0, false
	}
	return id, true
}
