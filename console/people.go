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

// Settings → Team (admins): people and their roles, invitations, teams.

type teamData struct {
	People      []identity.User
	Teams       []desk.Team
	Names       map[int64]string
	Invitations []desk.Invitation
	Inboxes     map[int64]string
	// MailOn says invitations are mailed; without a relay the link is
	// shown once, in Sent.
	MailOn  bool
	Sent    *desk.InvitationSent
	Invite  []field
	Role    field
	InboxCh []field
	Team    []field
	Members []field
	MeID    int64
}

// teamPage lists people, invitations and teams with the invite and team
// forms.
func (c *Console) teamPage(w http.ResponseWriter, r *http.Request) {
	c.showTeam(w, r, http.StatusOK, emptyForm(), nil)
}

func (c *Console) showTeam(w http.ResponseWriter, r *http.Request, status int, f *Form, sent *desk.InvitationSent) {
	acct := c.me(r).AccountID
	users, err := identity.UserList(r.Context(), c.cfg.DB, acct)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	teams, err := c.cfg.Desk.TeamList(r.Context(), c.request(r))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	invs, err := c.cfg.Desk.InvitationList(r.Context(), acct)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	ibs, err := c.cfg.Desk.InboxList(r.Context(), c.request(r), desk.Scope{}, false)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if f.Value("role") == "" {
		f.Values.Set("role", "agent")
	}
	d := teamData{Teams: teams, Names: map[int64]string{}, Invitations: invs, Inboxes: map[int64]string{},
		MailOn: c.cfg.Desk.MailOn(), Sent: sent, MeID: c.me(r).UserID,
		Invite: []field{{Name: "invite_email", Label: "Email", Type: "email", ID: "f-invite_email", Value: f.Raw("invite_email"),
			Error: f.Err("invite_email"), Required: true, Autocomplete: "off"}},
		Role: selectField(f, "role", "Role", "agent", "Agent: works the inboxes they are members of", "admin", "Admin: everything, including settings and billing"),
		Team: []field{textField(f, "team_name", "Team name", "text"), textField(f, "team_description", "Description", "text")},
	}
	for _, ib := range ibs {
		d.Inboxes[ib.ID] = ib.Name
		v := strconv.FormatInt(ib.ID, 10)
		d.InboxCh = append(d.InboxCh, field{Name: "inbox", Value: v, Label: ib.Name, Type: "checkbox", ID: "f-inbox-" + v, Checked: f.Checked("inbox", v)})
	}
	for _, u := range users {
		d.Names[u.ID] = u.Name
		if u.Status == identity.StatusRemoved {
			continue
		}
		d.People = append(d.People, u)
		if u.Kind == "human" && u.Status == identity.StatusActive {
			d.Members = append(d.Members, field{Name: "member", Value: strconv.FormatInt(u.ID, 10), Label: u.Name, Type: "checkbox",
				ID: "f-member-" + strconv.FormatInt(u.ID, 10), Checked: f.Checked("member", strconv.FormatInt(u.ID, 10))})
		}
	}
	c.render(w, r, status, "team", Page{Title: "Team", Nav: "team", Form: f, Data: d})
}

// teamInvite invites a person by email with a role and inboxes. With a
// relay the invitation is mailed; without one, the answer to this post
// shows the link once (it is never in a URL, cookie or later page).
func (c *Console) teamInvite(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	if f.Value("invite_email") == "" {
		f.Fail("invite_email", "Give their email.")
	}
	var inboxes []int64
	for _, v := range f.All("inbox") {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			f.Fail("inbox", "Choose inboxes from the list.")
			break
		}
		inboxes = append(inboxes, id)
	}
	if !f.OK() {
		c.showTeam(w, r, http.StatusBadRequest, f, nil)
		return
	}
	sent, err := c.cfg.Desk.InvitationCreate(r.Context(), c.me(r).AccountID,
		desk.InvitationInput{Email: f.Value("invite_email"), Role: f.Value("role"), InboxIDs: inboxes}, author(c.me(r)), c.cfg.Now())
	if err != nil {
		if f.FailErr(err, map[string]string{"email": "invite_email", "role": "role", "inbox_ids": "inbox", "an inbox": "inbox"}) {
			if errors.Is(err, tenancy.ErrConflict) {
				f.Errors, f.Message = map[string]string{"invite_email": sentence(fault.From(err).Sentence)}, ""
			}
			c.showTeam(w, r, http.StatusBadRequest, f, nil)
			return
		}
		c.fail(w, r, err)
		return
	}
	if sent.Mailed {
		c.flash(w, "Invitation sent to "+sent.Email+". It works once, for 7 days.")
		c.redirect(w, r, "/settings/team")
		return
	}
	c.showTeam(w, r, http.StatusCreated, emptyForm(), &sent)
}

// invitationRevoke withdraws a pending invitation.
func (c *Console) invitationRevoke(w http.ResponseWriter, r *http.Request) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	if err := c.cfg.Desk.InvitationRevoke(r.Context(), c.me(r).AccountID, id, author(c.me(r)), c.cfg.Now()); err != nil {
		c.failDomain(w, r, err)
		return
	}
	c.flash(w, "Invitation withdrawn; its link no longer works.")
	c.redirect(w, r, "/settings/team")
}
