package console

import (
	"fmt"
	"net/http"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/fault"
)

// One-click actions on a thread (DESIGN §18): "Assign to me" and
// "Resolve", each one POST of a plain form (CSRF-checked like every
// console form), each the same change the controls would make, with its
// event and audit row. "Send and resolve" is the composer's (messagePost).

// assignMe assigns the conversation to the person clicking, which also
// takes it out of Escalated.
func (c *Console) assignMe(w http.ResponseWriter, r *http.Request) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	p := c.me(r)
	c.quick(w, r, id, desk.HumanConversationPatch{Assignee: desk.OptionalID{Set: true, ID: p.UserID}}, "Assigned to you.")
}

// resolveOne resolves the conversation.
func (c *Console) resolveOne(w http.ResponseWriter, r *http.Request) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	if _, err := c.resolve(r, id); err != nil {
		c.failDomain(w, r, err)
		return
	}
	c.flash(w, "Conversation resolved.")
	c.redirect(w, r, fmt.Sprintf("/conversations/%d", id))
}

// resolve sets a conversation in the person's scope to resolved.
func (c *Console) resolve(r *http.Request, id int64) (desk.Conversation, error) {
	resolved := "resolved"
	return c.change(r, id, desk.HumanConversationPatch{ConversationPatch: desk.ConversationPatch{Status: &resolved}})
}

// quick applies a one-click change and returns to the thread.
func (c *Console) quick(w http.ResponseWriter, r *http.Request, id int64, p desk.HumanConversationPatch, done string) {
	if _, err := c.change(r, id, p); err != nil {
		c.failDomain(w, r, err)
		return
	}
	c.flash(w, done)
	c.redirect(w, r, fmt.Sprintf("/conversations/%d", id))
}

// change is ConversationChange for the signed-in person in their scope.
func (c *Console) change(r *http.Request, id int64, p desk.HumanConversationPatch) (desk.Conversation, error) {
	sc, err := c.scope(r)
	if err != nil {
		return desk.Conversation{}, err
	}
	me := c.me(r)
	return c.cfg.Desk.ConversationChange(r.Context(), me.AccountID, sc, id, p, author(me), c.cfg.Now())
}

// personFault is the sentence of an error the person can act on (bad
// input, a conflict, something not found); false for anything else, which
// is the server's to report.
func personFault(err error) (string, bool) {
	fe := fault.From(err)
	if fe == nil || (fe.Kind != fault.Invalid && fe.Kind != fault.NotFound && fe.Kind != fault.Conflict) {
		return "", false
	}
	return fe.Sentence, true
}
