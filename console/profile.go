package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
)

// The profile page (/profile): every person's own name, email, time zone,
// password, notification choices and personal API tokens.

type profileData struct {
	Profile desk.Profile
	Details []field
	Notify  []notifyRow
	Tokens  []identity.PersonalToken
	// Minted is the token just created: its secret is in this one
	// response only.
	Minted    *minted
	TokenName field
	MailOn    bool
	Several   bool // the person has several workspaces
}

type notifyRow struct {
	Label        string
	InApp, Email field
}

// profileFields maps the domain's field names to the form's.
var profileFields = map[string]string{"name": "name", "email": "email", "time_zone": "time_zone",
	"current_password": "current_password", "password": "new_password", "new_password": "new_password", "notifications": "notifications"}

func (c *Console) profilePage(w http.ResponseWriter, r *http.Request) {
	c.showProfile(w, r, http.StatusOK, emptyForm(), nil)
}

func (c *Console) showProfile(w http.ResponseWriter, r *http.Request, status int, f *Form, m *minted) {
	me := c.me(r)
	p, err := c.cfg.Desk.ProfileGet(r.Context(), me.AccountID, me.UserID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	tokens, err := c.cfg.Desk.PersonalTokenList(r.Context(), me.AccountID, me.UserID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	ws, err := identity.Workspaces(r.Context(), c.cfg.DB, me.UserID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if _, posted := f.Values["name"]; !posted {
		f.Values.Set("name", p.Name)
		f.Values.Set("email", p.Email)
		f.Values.Set("time_zone", p.TimeZone)
	}
	pw := func(name, label, hint, auto string) field {
		return field{Name: name, Label: label, Type: "password", ID: "f-" + name, Error: f.Err(name), Hint: hint, Autocomplete: auto}
	}
	d := profileData{Profile: p, Tokens: tokens, Minted: m, MailOn: c.cfg.Desk.MailOn(), Several: len(ws) > 1,
		Details: []field{textField(f, "name", "Name", "text"), textField(f, "email", "Email", "email"),
			{Name: "time_zone", Label: "Time zone", Type: "text", ID: "f-time_zone", Value: f.Raw("time_zone"), Error: f.Err("time_zone"),
				Hint: "An IANA name such as Europe/Paris, America/New_York or UTC. Every time in the console shows in it; until you choose one, it is your browser's at sign-in."},
			pw("current_password", "Current password", "Needed to change your email or your password.", "current-password"),
			pw("new_password", "New password", "8 to 72 characters. Your other sessions end; this one stays signed in.", "new-password")},
		TokenName: field{Name: "token_name", Label: "Token name", Type: "text", ID: "f-token_name", Value: f.Raw("token_name"), Error: f.Err("token_name"),
			Hint: "What uses it, e.g. a script or an integration."},
	}
	_, notifyPosted := f.Values["notify"]
	for _, k := range desk.NotificationKinds {
		ch := p.Notifications[k]
		inApp, email := ch.InApp, ch.Email
		if notifyPosted {
			inApp, email = f.Checked("notify", k+".in_app"), f.Checked("notify", k+".email")
		}
		d.Notify = append(d.Notify, notifyRow{Label: desk.NotificationLabels[k],
			InApp: field{Name: "notify", Value: k + ".in_app", Label: "In-app", Type: "checkbox", ID: "f-notify-" + k + "-in_app", Checked: inApp},
			Email: field{Name: "notify", Value: k + ".email", Label: "Email", Type: "checkbox", ID: "f-notify-" + k + "-email", Checked: email}})
	}
	c.render(w, r, status, "profile", Page{Title: "Profile", Nav: "profile", Form: f, Data: d})
}

// profileSave saves the name, email, time zone and password. A new
// password ends the person's other sessions; this one lives on.
func (c *Console) profileSave(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	me := c.me(r)
	cur, err := c.cfg.Desk.ProfileGet(r.Context(), me.AccountID, me.UserID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	patch := desk.ProfilePatch{CurrentPassword: f.Raw("current_password")}
	if v := f.Value("name"); v != cur.Name {
		patch.Name = &v
	}
	if v := f.Value("email"); !strings.EqualFold(v, cur.Email) {
		patch.Email = &v
	}
	if v := f.Value("time_zone"); v != cur.TimeZone {
		patch.TimeZone = &v
	}
	if f.Raw("new_password") != "" {
		if patch.NewPassword, err = c.cfg.Identities.HashPassword(f.Raw("new_password")); err != nil {
			f.Fail("new_password", "Choose a password of 8 to 72 characters.")
		}
	}
	if patch.Name == nil && patch.Email == nil && patch.TimeZone == nil && patch.NewPassword == nil && f.OK() {
		c.flash(w, "Nothing changed.")
		c.redirect(w, r, "/profile")
		return
	}
	var saved desk.Profile
	if f.OK() {
		saved, err = c.cfg.Desk.ProfileChange(r.Context(), me.AccountID, author(me), me.SessionID, patch)
		switch {
		case errors.Is(err, identity.ErrEmailTaken):
			f.Fail("email", "This email is not available; choose another.")
		case err != nil && !f.FailErr(err, profileFields):
			c.fail(w, r, err)
			return
		}
	}
	if !f.OK() {
		c.showProfile(w, r, http.StatusBadRequest, f, nil)
		return
	}
	msg := "Profile saved."
	switch {
	case patch.NewPassword != nil:
		msg = "Password changed. Your other sessions have ended; this one stays signed in."
	case patch.Email != nil && saved.EmailPending != "":
		msg = "Profile saved. We sent a link to " + saved.EmailPending + ": your email changes when it is opened."
	}
	c.flash(w, msg)
	c.redirect(w, r, "/profile")
}

// profileNotifications saves the notification choices.
func (c *Console) profileNotifications(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	me := c.me(r)
	choices := map[string]desk.NotifyChoice{}
	for _, k := range desk.NotificationKinds {
		choices[k] = desk.NotifyChoice{InApp: f.Checked("notify", k+".in_app"), Email: f.Checked("notify", k+".email")}
	}
	if _, err := c.cfg.Desk.ProfileChange(r.Context(), me.AccountID, author(me), me.SessionID, desk.ProfilePatch{Notifications: choices}); err != nil {
		c.failDomain(w, r, err)
		return
	}
	c.flash(w, "Notification choices saved.")
	c.redirect(w, r, "/profile")
}

// profileTokenCreate mints a personal API token and shows it once, in the
// answer to this post.
func (c *Console) profileTokenCreate(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	me := c.me(r)
	t, raw, err := c.cfg.Desk.PersonalTokenCreate(r.Context(), me.AccountID, author(me), f.Value("token_name"))
	if err != nil {
		if f.FailErr(err, map[string]string{"name": "token_name"}) {
			c.showProfile(w, r, http.StatusBadRequest, f, nil)
			return
		}
		c.fail(w, r, err)
		return
	}
	c.showProfile(w, r, http.StatusCreated, emptyForm(), &minted{Name: t.Name, Raw: raw})
}

// profileTokenRevoke revokes one of the person's tokens.
func (c *Console) profileTokenRevoke(w http.ResponseWriter, r *http.Request) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	me := c.me(r)
	if err := c.cfg.Desk.PersonalTokenRevoke(r.Context(), me.AccountID, author(me), id, c.cfg.Now()); err != nil {
		c.failDomain(w, r, err)
		return
	}
	c.flash(w, "Token revoked; it stops working on its next request.")
	c.redirect(w, r, "/profile")
}
