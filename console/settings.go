package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Settings → Inboxes, Team and Labels (admins). Channel secrets are
// write-only: the pages say whether one is set, never what it is.

// channelFields are the settings each channel's form shows, in order;
// secrets are the password inputs.
var channelFields = map[string][]channelField{
	"api": {
		{Key: "webhook_url", Label: "Webhook URL", Type: "url", Hint: "Outgoing messages are POSTed here."},
		{Key: "webhook_secret", Label: "Webhook secret", Type: "password", Secret: true, Hint: "Signs each delivery (X-Deskwoot-Signature)."},
	},
	"email": {
		{Key: "from_address", Label: "From address", Type: "email", Hint: "Customers write to it and replies leave from it; its mailbox forwards to the receiving address Deskwoot assigns."},
		{Key: "smtp_host", Label: "SMTP host", Type: "text"},
		{Key: "smtp_port", Label: "SMTP port", Type: "text", Number: true},
		{Key: "smtp_username", Label: "SMTP username", Type: "text"},
		{Key: "smtp_password", Label: "SMTP password", Type: "password", Secret: true},
		{Key: "smtp_starttls", Label: "Use STARTTLS", Type: "checkbox", Bool: true},
	},
	"website": {
		{Key: "allowed_origins", Label: "Allowed origins", Type: "textarea", List: true, Hint: "The sites whose pages may show the chat, one per line, like https://www.example.com; * allows any site. None: the chat works nowhere."},
		{Key: "greeting", Label: "Greeting", Type: "text", Hint: "The first words visitors read in the chat."},
		{Key: "email_prompt_after_minutes", Label: "Ask for an email after (minutes)", Type: "text", Number: true, Hint: "When no reply came this long after the visitor wrote (3 when empty)."},
		{Key: "require_identity", Label: "Require identity (only users your site signed in may chat)", Type: "checkbox", Bool: true},
	},
}

// channelTitles name each channel's settings.
var channelTitles = map[string]string{"api": "API channel settings", "email": "Email channel settings", "website": "Website chat settings"}

type channelField struct {
	Key, Label, Type, Hint     string
	Secret, Number, Bool, List bool
}

// settingsFromForm reads a channel's settings from the form (fields are
// named CHANNEL.KEY so both channels' fields can share one create form).
// An empty secret keeps the current one unless "clear" is ticked; creating,
// empty fields are left out.
func settingsFromForm(f *Form, channel string, updating bool) map[string]any {
	out := map[string]any{}
	for _, cf := range channelFields[channel] {
		name := channel + "." + cf.Key
		v := f.Value(name)
		switch {
		case cf.Bool:
			out[cf.Key] = f.Checked(name, "true")
		case cf.List:
			list := []any{}
			for _, line := range strings.FieldsFunc(f.Raw(name), func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
				if line = strings.TrimSpace(line); line != "" {
					list = append(list, line)
				}
			}
			out[cf.Key] = list
		case cf.Secret:
			if f.Checked(name+".clear", "true") {
				out[cf.Key] = nil
			} else if f.Raw(name) != "" {
				out[cf.Key] = f.Raw(name)
			}
		case v == "":
			if updating {
				out[cf.Key] = nil
			}
		case cf.Number:
			n, err := strconv.Atoi(v)
			if err != nil {
				f.Fail(name, "Give a number such as 587.")
				continue
			}
			out[cf.Key] = n
		default:
			out[cf.Key] = v
		}
	}
	return out
}

// settingsErrFields maps the domain's "settings.KEY …" messages to fields.
func settingsErrFields(channel string) map[string]string {
	m := map[string]string{"name": "name", "channel": "channel"}
	for _, cf := range channelFields[channel] {
		m["settings."+cf.Key] = channel + "." + cf.Key
	}
	return m
}

// settingsView is a channel's form controls, filled from the form or the
// inbox's (redacted) settings.
type settingsField struct {
	F      field
	Secret bool
	IsSet  bool // a secret has a value
	Clear  field
}

func channelControls(f *Form, channel string, current map[string]any, posted bool) []settingsField {
	var out []settingsField
	for _, cf := range channelFields[channel] {
		name := channel + "." + cf.Key
		sf := settingsField{F: field{Name: name, Label: cf.Label, Type: cf.Type, ID: "f-" + idSafe(name), Hint: cf.Hint, Error: f.Err(name)}, Secret: cf.Secret}
		cur, has := current[cf.Key]
		switch {
		case cf.Secret:
			sf.IsSet = has && cur != nil && cur != ""
			sf.Clear = field{Name: name + ".clear", Value: "true", Type: "checkbox", ID: "f-" + idSafe(name) + "-clear",
				Label: "Remove the " + cf.Label, Checked: f.Checked(name+".clear", "true")}
		case cf.Bool:
			sf.F.Value = "true"
			if posted {
				sf.F.Checked = f.Checked(name, "true")
			} else {
				sf.F.Checked = cur == true
			}
		case cf.List && !posted:
			if list, ok := cur.([]any); ok {
				lines := make([]string, 0, len(list))
				for _, v := range list {
					lines = append(lines, fmt.Sprint(v))
				}
				sf.F.Value = strings.Join(lines, "\n")
			}
		default:
			if posted {
				sf.F.Value = f.Raw(name)
			} else if has && cur != nil {
				sf.F.Value = fmt.Sprint(cur)
			}
		}
		out = append(out, sf)
	}
	return out
}

type inboxesData struct {
	Inboxes  []desk.Inbox
	Name     field
	Channel  field
	Channels []channelForm
}

type channelForm struct {
	Channel, Title string
	Fields         []settingsField
}

// inboxesPage lists the inboxes with the create form.
func (c *Console) inboxesPage(w http.ResponseWriter, r *http.Request) {
	c.showInboxes(w, r, http.StatusOK, emptyForm())
}

func (c *Console) showInboxes(w http.ResponseWriter, r *http.Request, status int, f *Form) {
	ibs, err := c.cfg.Desk.InboxList(r.Context(), c.request(r), desk.Scope{}, false)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if f.Value("channel") == "" {
		f.Values.Set("channel", "api")
	}
	d := inboxesData{Inboxes: ibs, Name: textField(f, "name", "Name", "text"),
		Channel: selectField(f, "channel", "Channel", "api", "API (webhook)", "email", "Email (SMTP)", "website", "Website chat (widget)")}
	d.Name.Required = true
	for _, ch := range []string{"api", "email", "website"} {
		d.Channels = append(d.Channels, channelForm{Channel: ch, Title: channelTitles[ch], Fields: channelControls(f, ch, nil, true)})
	}
	c.render(w, r, status, "inboxes", Page{Title: "Inboxes", Nav: "inboxes", Form: f, Data: d})
}

// inboxCreate creates an api, email or website inbox with its channel
// settings. A website inbox's page follows at once (no redirect): it shows
// the identity secret, this once.
func (c *Console) inboxCreate(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	ch := f.Value("channel")
	if _, ok := channelFields[ch]; !ok {
		f.Fail("channel", "Choose API, Email or Website chat.")
	}
	if f.Value("name") == "" {
		f.Fail("name", "Give the inbox a name.")
	}
	settings := settingsFromForm(f, ch, false)
	if !f.OK() {
		c.showInboxes(w, r, http.StatusBadRequest, f)
		return
	}
	ib, err := c.cfg.Desk.InboxCreate(r.Context(), c.recorded(r, audit.Entry{Action: "inbox.create"}), desk.InboxInput{Name: f.Value("name"), Channel: ch, Settings: settings})
	if err != nil {
		if f.FailErr(err, settingsErrFields(ch)) {
			c.showInboxes(w, r, http.StatusBadRequest, f)
			return
		}
		c.fail(w, r, err)
		return
	}
	if ib.IdentitySecret != "" {
		c.showInboxSecret(w, r, http.StatusCreated, emptyForm(), ib.ID, ib.IdentitySecret)
		return
	}
	c.flash(w, "Inbox "+ib.Name+" created.")
	c.redirect(w, r, fmt.Sprintf("/settings/inboxes/%d", ib.ID))
}

type inboxData struct {
	Inbox desk.Inbox
	// Secret is a website inbox's identity secret, on the one page that
	// shows it (after creation or rotation).
	Secret    string
	Name      field
	Title     string
	Fields    []settingsField
	Members   []identity.User
	AddMember field
	CanAdd    bool
}

// inboxPage edits one inbox: name, channel settings, members.
func (c *Console) inboxPage(w http.ResponseWriter, r *http.Request) {
	c.showInbox(w, r, http.StatusOK, emptyForm())
}

func (c *Console) showInbox(w http.ResponseWriter, r *http.Request, status int, f *Form) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	c.showInboxSecret(w, r, status, f, id, "")
}

func (c *Console) showInboxSecret(w http.ResponseWriter, r *http.Request, status int, f *Form, id int64, secret string) {
	acct := c.me(r).AccountID
	ibs, err := c.cfg.Desk.InboxList(r.Context(), c.request(r), desk.Scope{InboxIDs: []int64{id}}, true)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if len(ibs) == 0 {
		c.renderError(w, r, http.StatusNotFound, "There is no such inbox.")
		return
	}
	ib := ibs[0]
	var current map[string]any
	json.Unmarshal(ib.Settings, &current)
	members, err := c.cfg.Desk.InboxMemberIDs(r.Context(), acct, id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	users, err := identity.UserList(r.Context(), c.cfg.DB, acct)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	_, posted := f.Values["name"]
	if !posted {
		f.Values.Set("name", ib.Name)
	}
	d := inboxData{Inbox: ib, Secret: secret, Name: textField(f, "name", "Name", "text"),
		Title:  channelTitles[ib.Channel],
		Fields: channelControls(f, ib.Channel, current, posted)}
	choices := []string{}
	for _, u := range users {
		if u.Kind != "human" {
			continue
		}
		if slices.Contains(members, u.ID) {
			d.Members = append(d.Members, u)
		} else {
			choices = append(choices, strconv.FormatInt(u.ID, 10), u.Name+" ("+u.Role+")")
		}
	}
	d.CanAdd = len(choices) > 0
	d.AddMember = selectField(f, "user_id", "Person", choices...)
	c.render(w, r, status, "inbox", Page{Title: "Inbox " + ib.Name, Nav: "inboxes", Form: f, Data: d})
}

// inboxUpdate saves the name and channel settings; empty secrets stay.
func (c *Console) inboxUpdate(w http.ResponseWriter, r *http.Request) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	f := newForm(w, r)
	ib, err := c.cfg.Desk.InboxGet(r.Context(), c.request(r), id)
	if err != nil {
		c.failDomain(w, r, err)
		return
	}
	name := f.Value("name")
	if name == "" {
		f.Fail("name", "Give the inbox a name.")
	}
	settings := settingsFromForm(f, ib.Channel, true)
	if !f.OK() {
		c.showInbox(w, r, http.StatusBadRequest, f)
		return
	}
	if _, err := c.cfg.Desk.InboxUpdate(r.Context(), c.recorded(r, audit.Entry{Action: "inbox.update"}), id, desk.InboxPatch{Name: &name, Settings: settings}); err != nil {
		if f.FailErr(err, settingsErrFields(ib.Channel)) {
			c.showInbox(w, r, http.StatusBadRequest, f)
			return
		}
		c.fail(w, r, err)
		return
	}
	c.flash(w, "Inbox saved.")
	c.redirect(w, r, fmt.Sprintf("/settings/inboxes/%d", id))
}

// inboxInboundRotate gives an email inbox a new receiving address; the old
// one keeps receiving for the grace period.
func (c *Console) inboxInboundRotate(w http.ResponseWriter, r *http.Request) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	if _, err := c.cfg.Desk.InboxInboundRotate(r.Context(), c.recorded(r, audit.Entry{Action: "inbox.inbound_address.rotate"}), id); err != nil {
		c.failDomain(w, r, err)
		return
	}
	c.flash(w, "New receiving address issued; the old one keeps receiving for the grace period.")
	c.redirect(w, r, fmt.Sprintf("/settings/inboxes/%d", id))
}

// inboxIdentitySecretRotate gives a website inbox a new identity secret
// and shows it on the page it answers, this once.
func (c *Console) inboxIdentitySecretRotate(w http.ResponseWriter, r *http.Request) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	ib, err := c.cfg.Desk.InboxIdentitySecretRotate(r.Context(), c.recorded(r, audit.Entry{Action: "inbox.identity_secret.rotate"}), id)
	if err != nil {
		c.failDomain(w, r, err)
		return
	}
	c.showInboxSecret(w, r, http.StatusOK, emptyForm(), id, ib.IdentitySecret)
}

// inboxMemberAdd makes a person a member of the inbox.
func (c *Console) inboxMemberAdd(w http.ResponseWriter, r *http.Request) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	f := newForm(w, r)
	uid, err := strconv.ParseInt(f.Value("user_id"), 10, 64)
	if err != nil || uid <= 0 {
		f.Fail("user_id", "Choose a person from the list.")
		c.showInbox(w, r, http.StatusBadRequest, f)
		return
	}
	if err := c.cfg.Desk.InboxMemberAdd(r.Context(), c.recorded(r, audit.Entry{Action: "inbox.member.add"}), id, uid); err != nil {
		if f.FailErr(err, map[string]string{"user_id": "user_id"}) {
			c.showInbox(w, r, http.StatusBadRequest, f)
			return
		}
		c.fail(w, r, err)
		return
	}
	c.flash(w, "Member added.")
	c.redirect(w, r, fmt.Sprintf("/settings/inboxes/%d", id))
}

// teamCreate adds a team with members.
func (c *Console) teamCreate(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	if f.Value("team_name") == "" {
		f.Fail("team_name", "Give the team a name.")
		c.showTeam(w, r, http.StatusBadRequest, f, nil)
		return
	}
	var members []int64
	for _, v := range f.All("member") {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			f.Fail("member", "Choose members from the list.")
			c.showTeam(w, r, http.StatusBadRequest, f, nil)
			return
		}
		members = append(members, id)
	}
	t, err := c.cfg.Desk.TeamCreate(r.Context(), c.recorded(r, audit.Entry{Action: "team.create"}), f.Value("team_name"), f.Value("team_description"), members)
	if err != nil {
		if errors.Is(err, tenancy.ErrConflict) {
			f.Fail("team_name", "A team with this name already exists.")
			c.showTeam(w, r, http.StatusBadRequest, f, nil)
			return
		}
		if f.FailErr(err, map[string]string{"name": "team_name", "member_ids": "member"}) {
			c.showTeam(w, r, http.StatusBadRequest, f, nil)
			return
		}
		c.fail(w, r, err)
		return
	}
	c.flash(w, "Team "+t.Name+" created.")
	c.redirect(w, r, "/settings/team")
}

type labelsData struct {
	Labels []desk.Label
	New    []field
}

// labelsPage lists the labels with the create form.
func (c *Console) labelsPage(w http.ResponseWriter, r *http.Request) {
	c.showLabels(w, r, http.StatusOK, emptyForm())
}

func (c *Console) showLabels(w http.ResponseWriter, r *http.Request, status int, f *Form) {
	ls, err := c.cfg.Desk.LabelList(r.Context(), c.request(r))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := labelsData{Labels: ls, New: []field{
		{Name: "name", Label: "Name", Type: "text", ID: "f-name", Value: f.Raw("name"), Error: f.Err("name"), Hint: "Lower-case letters, digits, - and _; up to 50.", Required: true},
		textField(f, "description", "Description", "text"),
	}}
	c.render(w, r, status, "labels", Page{Title: "Labels", Nav: "labels", Form: f, Data: d})
}

// labelCreate adds a label.
func (c *Console) labelCreate(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	l, err := c.cfg.Desk.LabelCreate(r.Context(), c.recorded(r, audit.Entry{Action: "label.create"}), f.Value("name"), f.Value("description"), "")
	if err != nil {
		if errors.Is(err, tenancy.ErrConflict) {
			f.Fail("name", "A label with this name already exists.")
			c.showLabels(w, r, http.StatusBadRequest, f)
			return
		}
		if f.FailErr(err, map[string]string{"name": "name"}) {
			c.showLabels(w, r, http.StatusBadRequest, f)
			return
		}
		c.fail(w, r, err)
		return
	}
	c.flash(w, "Label "+l.Name+" created.")
	c.redirect(w, r, "/settings/labels")
}
