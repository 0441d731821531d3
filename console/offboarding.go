package console

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Admins' upkeep: roles, deactivation and removal of people (Settings →
// Team), inbox members and inbox deletion (Settings → Inboxes), team and
// label deletion, article edits. Each change is the request's unit of
// work with its audit row.

// teamRefused shows the team page again with a domain error above it
// (the last admin, a person not found).
func (c *Console) teamRefused(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, tenancy.ErrConflict), errors.Is(err, tenancy.ErrInvalid):
		f := emptyForm()
		f.Message = sentence(fault.From(err).Sentence)
		status := http.StatusBadRequest
		if errors.Is(err, tenancy.ErrConflict) {
			status = http.StatusConflict
		}
		c.showTeam(w, r, status, f, nil)
	default:
		c.failDomain(w, r, err)
	}
}

// personRole changes a person's role.
func (c *Console) personRole(w http.ResponseWriter, r *http.Request) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	role := newForm(w, r).Value("role")
	u, err := c.cfg.Desk.PersonChange(r.Context(), c.recorded(r, audit.Entry{Action: "user.update"}), id, desk.PersonPatch{Role: &role}, c.cfg.Now())
	if err != nil {
		c.teamRefused(w, r, err)
		return
	}
	c.flash(w, u.Name+" is now "+u.Role+".")
	c.redirect(w, r, "/settings/team")
}

// personActive deactivates a person (their sessions and tokens end at
// once, their open conversations become unassigned) or reactivates them.
func (c *Console) personActive(active bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := c.idParam(w, r)
		if !ok {
			return
		}
		u, err := c.cfg.Desk.PersonChange(r.Context(), c.recorded(r, audit.Entry{Action: "user.update"}), id, desk.PersonPatch{Active: &active}, c.cfg.Now())
		if err != nil {
			c.teamRefused(w, r, err)
			return
		}
		msg := u.Name + " is deactivated: signed out everywhere, personal tokens and connected apps revoked, open conversations unassigned. Reactivate to undo."
		if active {
			msg = u.Name + " is active again and can sign in."
		}
		c.flash(w, msg)
		c.redirect(w, r, "/settings/team")
	}
}

// person finds a member of the workspace (not removed) by id.
func (c *Console) person(r *http.Request, id int64) (identity.User, error) {
	users, err := identity.UserList(r.Context(), c.cfg.DB, c.me(r).AccountID)
	if err != nil {
		return identity.User{}, err
	}
	for _, u := range users {
		if u.ID == id && u.Kind == "human" && u.Status != identity.StatusRemoved {
			return u, nil
		}
	}
	return identity.User{}, tenancy.ErrNotFound
}

func (c *Console) personRemovePage(w http.ResponseWriter, r *http.Request) {
	c.showPersonRemove(w, r, http.StatusOK, emptyForm())
}

func (c *Console) showPersonRemove(w http.ResponseWriter, r *http.Request, status int, f *Form) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	u, err := c.person(r, id)
	if err != nil {
		c.failDomain(w, r, err)
		return
	}
	d := confirmData{What: "person", Name: u.Name + " (" + u.Email + ")", Verb: "remove", Button: "Remove person",
		Details: "They are signed out everywhere at once, their personal API tokens and the apps they connected to the MCP server stop working, they leave every inbox and team, " +
			"and their open conversations become unassigned. The audit log keeps their name. An invitation can bring them back.",
		Action: fmt.Sprintf("/settings/team/people/%d/remove", id), Back: "/settings/team",
		Confirm: confirmBox(f, "Yes, remove "+u.Name+" from this workspace")}
	c.render(w, r, status, "confirm-delete", Page{Title: "Remove " + u.Name, Nav: "team", Form: f, Data: d})
}

// personRemove removes a person after the confirm box was ticked.
func (c *Console) personRemove(w http.ResponseWriter, r *http.Request) {
	id, ok := c.confirmedDelete(w, r, c.showPersonRemove)
	if !ok {
		return
	}
	u, err := c.person(r, id)
	if err != nil {
		c.failDomain(w, r, err)
		return
	}
	out, err := c.cfg.Desk.PersonRemove(r.Context(), c.recorded(r, audit.Entry{Action: "user.remove"}), id, c.cfg.Now())
	if err != nil {
		c.teamRefused(w, r, err)
		return
	}
	c.flash(w, fmt.Sprintf("%s was removed; %d open conversations became unassigned.", u.Name, out.Unassigned))
	c.redirect(w, r, "/settings/team")
}

// inboxMemberRemove takes a person out of an inbox.
func (c *Console) inboxMemberRemove(w http.ResponseWriter, r *http.Request) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	uid, err := strconv.ParseInt(r.PathValue("user_id"), 10, 64)
	if err != nil || uid <= 0 {
		c.renderError(w, r, http.StatusNotFound, "There is nothing at "+r.URL.Path+".")
		return
	}
	if err := c.cfg.Desk.InboxMemberRemove(r.Context(), c.recorded(r, audit.Entry{Action: "inbox.member.remove"}), id, uid); err != nil {
		c.failDomain(w, r, err)
		return
	}
	c.flash(w, "Member removed from the inbox; their open conversations in it became unassigned.")
	c.redirect(w, r, fmt.Sprintf("/settings/inboxes/%d", id))
}

func (c *Console) inboxDeletePage(w http.ResponseWriter, r *http.Request) {
	c.showInboxDelete(w, r, http.StatusOK, emptyForm())
}

// showInboxDelete asks for the inbox's name, saying how many
// conversations go with it.
func (c *Console) showInboxDelete(w http.ResponseWriter, r *http.Request, status int, f *Form) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	pre, err := c.cfg.Desk.InboxDeletePreview(r.Context(), c.request(r), id)
	if err != nil {
		c.failDomain(w, r, err)
		return
	}
	typed := field{Name: "confirm_name", Label: "Type the inbox's name to confirm", Type: "text", ID: "f-confirm_name",
		Value: f.Raw("confirm_name"), Error: f.Err("confirm_name"), Autocomplete: "off", Hint: "Type " + pre.Name + " exactly."}
	d := confirmData{What: "inbox", Name: pre.Name, Typed: &typed,
		Details: fmt.Sprintf("%d conversations go with it, with their messages and drafts, and its members, settings and receiving address. This cannot be undone.", pre.Conversations),
		Action:  fmt.Sprintf("/settings/inboxes/%d/delete", id), Back: fmt.Sprintf("/settings/inboxes/%d", id)}
	c.render(w, r, status, "confirm-delete", Page{Title: "Delete inbox " + pre.Name, Nav: "inboxes", Form: f, Data: d})
}

// inboxDelete deletes the inbox once its name was typed.
func (c *Console) inboxDelete(w http.ResponseWriter, r *http.Request) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	f := newForm(w, r)
	name := f.Value("confirm_name")
	out, err := c.cfg.Desk.InboxDelete(r.Context(), c.recorded(r, audit.Entry{Action: "inbox.delete"}), id, &name, c.cfg.Now())
	if errors.Is(err, tenancy.ErrInvalid) {
		f.Fail("confirm_name", "Type the inbox's name exactly as shown to delete it.")
		c.showInboxDelete(w, r, http.StatusBadRequest, f)
		return
	}
	if err != nil {
		c.failDomain(w, r, err)
		return
	}
	c.flash(w, fmt.Sprintf("Inbox %s was deleted with %d conversations.", out.Name, out.Conversations))
	c.redirect(w, r, "/settings/inboxes")
}

func (c *Console) teamDeletePage(w http.ResponseWriter, r *http.Request) {
	c.showTeamDelete(w, r, http.StatusOK, emptyForm())
}

func (c *Console) showTeamDelete(w http.ResponseWriter, r *http.Request, status int, f *Form) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	teams, err := c.cfg.Desk.TeamList(r.Context(), c.request(r))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, t := range teams {
		if t.ID == id {
			d := confirmData{What: "team", Name: t.Name,
				Details: "Its conversations keep their assignee and lose the team; its members stay in the workspace.",
				Action:  fmt.Sprintf("/settings/team/teams/%d/delete", id), Back: "/settings/team",
				Confirm: confirmBox(f, "Yes, delete the team "+t.Name)}
			c.render(w, r, status, "confirm-delete", Page{Title: "Delete team " + t.Name, Nav: "team", Form: f, Data: d})
			return
		}
	}
	c.renderError(w, r, http.StatusNotFound, "There is no such team.")
}

func (c *Console) teamDelete(w http.ResponseWriter, r *http.Request) {
	id, ok := c.confirmedDelete(w, r, c.showTeamDelete)
	if !ok {
		return
	}
	if err := c.cfg.Desk.TeamDelete(r.Context(), c.recorded(r, audit.Entry{Action: "team.delete"}), id); err != nil {
		c.failDomain(w, r, err)
		return
	}
	c.flash(w, "Team deleted.")
	c.redirect(w, r, "/settings/team")
}

func (c *Console) labelDeletePage(w http.ResponseWriter, r *http.Request) {
	c.showLabelDelete(w, r, http.StatusOK, emptyForm())
}

func (c *Console) showLabelDelete(w http.ResponseWriter, r *http.Request, status int, f *Form) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	ls, err := c.cfg.Desk.LabelList(r.Context(), c.request(r))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, l := range ls {
		if l.ID == id {
			d := confirmData{What: "label", Name: l.Name,
				Details: "It comes off every conversation that carries it.",
				Action:  fmt.Sprintf("/settings/labels/%d/delete", id), Back: "/settings/labels",
				Confirm: confirmBox(f, "Yes, delete the label "+l.Name)}
			c.render(w, r, status, "confirm-delete", Page{Title: "Delete label " + l.Name, Nav: "labels", Form: f, Data: d})
			return
		}
	}
	c.renderError(w, r, http.StatusNotFound, "There is no such label.")
}

func (c *Console) labelDelete(w http.ResponseWriter, r *http.Request) {
	id, ok := c.confirmedDelete(w, r, c.showLabelDelete)
	if !ok {
		return
	}
	if err := c.cfg.Desk.LabelDelete(r.Context(), c.recorded(r, audit.Entry{Action: "label.delete"}), id); err != nil {
		c.failDomain(w, r, err)
		return
	}
	c.flash(w, "Label deleted.")
	c.redirect(w, r, "/settings/labels")
}

// articleEdit saves an article's title, body and status.
func (c *Console) articleEdit(w http.ResponseWriter, r *http.Request) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	f := newForm(w, r)
	title, body, status := f.Value("title"), f.Raw("body"), f.Value("status")
	a, err := c.cfg.Desk.ArticleChange(r.Context(), c.recorded(r, audit.Entry{Action: "article.update", Reasons: []string{"edit"}}), id,
		desk.ArticlePatch{Title: &title, Body: &body, Status: &status})
	if err != nil {
		if f.FailErr(err, map[string]string{"title": "title", "body": "body", "status": "status"}) {
			c.showArticle(w, r, http.StatusBadRequest, f)
			return
		}
		c.failDomain(w, r, err)
		return
	}
	c.flash(w, fmt.Sprintf("Article %q saved.", a.Title))
	c.redirect(w, r, fmt.Sprintf("/help-center/%d", id))
}
