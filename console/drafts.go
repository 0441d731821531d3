package console

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/tenancy"
)

// draftsPage is the queue of pending drafts.
type draftsPage struct {
	Drafts []desk.DraftInContext
	Next   *string
	// FormFor is the draft whose form came back with an error (Page.Form).
	FormFor int64
}

// recentMessages is how much of each conversation the queue shows.
const recentMessages = 4

func (c *Console) draftList(w http.ResponseWriter, r *http.Request) {
	c.renderDrafts(w, r, http.StatusOK, nil, 0)
}

func (c *Console) renderDrafts(w http.ResponseWriter, r *http.Request, status int, f *Form, formFor int64) {
	sc, err := c.scope(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	ds, next, err := c.cfg.Desk.DraftQueue(r.Context(), c.me(r).AccountID, sc, r.URL.Query().Get("cursor"), 25, recentMessages)
	if errors.Is(err, tenancy.ErrInvalid) {
		c.renderError(w, r, http.StatusBadRequest, "That page of drafts does not exist; start from the first page.")
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, status, "drafts", Page{Title: "Drafts", Nav: "drafts", Form: f, Data: draftsPage{Drafts: ds, Next: next, FormFor: formFor}})
}

// draftApprove sends the draft, with the reviewer's edits, to the customer
// (the same desk call as REST's POST /api/v1/drafts/{id}/approve).
func (c *Console) draftApprove(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	content := f.Raw("content")
	c.draftDecide(w, r, f, desk.DraftDecision{Approve: true, Content: &content},
		"Approved: the reply is on its way to the customer.")
}

// draftReject drops the draft, with an optional reason for the record.
func (c *Console) draftReject(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	c.draftDecide(w, r, f, desk.DraftDecision{Reason: f.Value("reason")}, "Rejected: nothing was sent to the customer.")
}

func (c *Console) draftDecide(w http.ResponseWriter, r *http.Request, f *Form, dec desk.DraftDecision, done string) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		c.renderError(w, r, http.StatusNotFound, "There is no such draft.")
		return
	}
	// A draft decided in its conversation's thread goes back there.
	back, again := "/drafts", func(status int) { c.renderDrafts(w, r, status, f, id) }
	if conv, err := strconv.ParseInt(f.Value("conversation"), 10, 64); err == nil && conv > 0 {
		back = fmt.Sprintf("/conversations/%d#d%d", conv, id)
		again = func(status int) { c.showThread(w, r, conv, status, emptyForm(), threadAsk{draftID: id, draft: f}) }
	}
	if !f.OK() {
		again(http.StatusBadRequest)
		return
	}
	sc, err := c.scope(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p := c.me(r)
	dec.UserID = p.UserID
	_, _, err = c.cfg.Desk.DraftDecide(r.Context(), p.AccountID, id, sc, dec)
	switch {
	case errors.Is(err, tenancy.ErrNotFound):
		c.renderError(w, r, http.StatusNotFound, "There is no such draft.")
		return
	case errors.Is(err, tenancy.ErrConflict):
		c.flash(w, "That draft was already decided by someone else; nothing more was sent.")
		c.redirect(w, r, back)
		return
	case err != nil:
		if !f.FailErr(err, map[string]string{"content": "content", "reason": "reason"}) {
			c.fail(w, r, err)
			return
		}
		again(http.StatusBadRequest)
		return
	}
	c.flash(w, done)
	c.redirect(w, r, back)
}
