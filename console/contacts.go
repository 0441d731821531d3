package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/deskwoot/deskwoot/desk"
)

// The contacts pages: search, a profile (attributes, notes,
// conversations) with its edit and note forms, and deleting with a
// confirm step (admins).

type contactListData struct {
	Rows    []desk.Contact
	Query   field
	NextURL string
}

// contactList lists or searches the contacts the person may see.
func (c *Console) contactList(w http.ResponseWriter, r *http.Request) {
	sc, err := c.scope(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	f := &Form{Values: q, Errors: map[string]string{}}
	rows, next, err := c.cfg.Desk.ContactList(r.Context(), c.request(r), sc, q.Get("q"), q.Get("cursor"), 50)
	status := http.StatusOK
	if err != nil {
		if !f.FailErr(err, map[string]string{"query": "q", "cursor": "q"}) {
			c.fail(w, r, err)
			return
		}
		status = http.StatusBadRequest
	}
	d := contactListData{Rows: rows, Query: textField(f, "q", "Search contacts", "search")}
	if next != nil {
		d.NextURL = "/contacts?" + url.Values{"q": {q.Get("q")}, "cursor": {*next}}.Encode()
	}
	c.render(w, r, status, "contacts", Page{Title: "Contacts", Nav: "contacts", Form: f, Data: d})
}

type contactData struct {
	V         desk.ContactView
	Attrs     []attr
	Edit      []field
	AttrsText field
	Note      field
	CanDelete bool
}

type attr struct{ Key, Value string }

// attrText renders custom attributes as "key = value" lines, strings as
// they are and other values as JSON.
func attrText(m map[string]any) (string, []attr) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	var out []attr
	for _, k := range keys {
		v, ok := m[k].(string)
		if !ok {
			js, _ := json.Marshal(m[k])
			v = string(js)
		}
		fmt.Fprintf(&b, "%s = %s\n", k, v)
		out = append(out, attr{k, v})
	}
	return b.String(), out
}

// parseAttrs reads "key = value" lines into the change against the current
// attributes: new and changed keys set, missing keys removed (null). A
// value that is a JSON number, true, false or null keeps that type.
func parseAttrs(text string, cur map[string]any) (map[string]any, error) {
	out := map[string]any{}
	seen := map[string]bool{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || len(k) > 100 {
			return nil, fmt.Errorf("line %d is not \"key = value\"", i+1)
		}
		seen[k] = true
		var val any = v
		var js any
		if json.Unmarshal([]byte(v), &js) == nil {
			switch js.(type) {
			case float64, bool:
				val = js
			}
		}
		if old, had := cur[k]; !had || fmt.Sprint(old) != fmt.Sprint(val) {
			out[k] = val
		}
	}
	for k := range cur {
		if !seen[k] {
			out[k] = nil
		}
	}
	return out, nil
}

// contactPage is a contact's profile.
func (c *Console) contactPage(w http.ResponseWriter, r *http.Request) {
	c.showContact(w, r, http.StatusOK, nil)
}

func (c *Console) showContact(w http.ResponseWriter, r *http.Request, status int, f *Form) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	sc, err := c.scope(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	v, err := c.cfg.Desk.ContactView(r.Context(), c.me(r).AccountID, sc, id)
	if err != nil {
		c.failDomain(w, r, err)
		return
	}
	text, attrs := attrText(v.Contact.CustomAttributes)
	if f == nil {
		f = emptyForm()
	}
	// Fields not posted (a bad note leaves the edit form as it was) show
	// the contact as it is.
	for k, v := range map[string]string{"name": v.Contact.Name, "email": orEmpty(v.Contact.Email), "phone": orEmpty(v.Contact.Phone), "attributes": text} {
		if _, sent := f.Values[k]; !sent {
			f.Values.Set(k, v)
		}
	}
	d := contactData{V: v, Attrs: attrs, CanDelete: c.me(r).Role == "admin",
		Edit: []field{
			textField(f, "name", "Name", "text"),
			textField(f, "email", "Email", "email"),
			textField(f, "phone", "Phone", "text"),
		},
		AttrsText: field{Name: "attributes", Label: "Custom attributes", ID: "f-attributes", Value: f.Raw("attributes"), Error: f.Err("attributes"),
			Hint: "One per line: key = value. Remove a line to remove the attribute."},
		Note: field{Name: "note", Label: "Note", ID: "f-note", Value: f.Raw("note"), Error: f.Err("note"), Required: true},
	}
	title := v.Contact.Name
	if title == "" {
		title = fmt.Sprintf("Contact #%d", v.Contact.ID)
	}
	c.render(w, r, status, "contact", Page{Title: title, Nav: "contacts", Form: f, Data: d})
}

func orEmpty(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// contactUpdate saves the edit form: name, email, phone and attributes.
func (c *Console) contactUpdate(w http.ResponseWriter, r *http.Request) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	f := newForm(w, r)
	sc, err := c.scope(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p := c.me(r)
	v, err := c.cfg.Desk.ContactView(r.Context(), p.AccountID, sc, id)
	if err != nil {
		c.failDomain(w, r, err)
		return
	}
	in := desk.ContactInput{}
	for name, dst := range map[string]**string{"name": &in.Name, "email": &in.Email, "phone": &in.Phone} {
		val := f.Value(name)
		var cur string
		switch name {
		case "name":
			cur = v.Contact.Name
		case "email":
			cur = orEmpty(v.Contact.Email)
		case "phone":
			cur = orEmpty(v.Contact.Phone)
		}
		if val != cur {
			*dst = &val
		}
	}
	if in.Name != nil && *in.Name == "" {
		f.Fail("name", "Give a name.")
	}
	attrs, err := parseAttrs(f.Raw("attributes"), v.Contact.CustomAttributes)
	if err != nil {
		f.Fail("attributes", sentence(err.Error()))
	}
	in.CustomAttributes = attrs
	if !f.OK() {
		c.showContact(w, r, http.StatusBadRequest, f)
		return
	}
	if in.Name == nil && in.Email == nil && in.Phone == nil && len(in.CustomAttributes) == 0 {
		c.flash(w, "Nothing changed.")
		c.redirect(w, r, fmt.Sprintf("/contacts/%d", id))
		return
	}
	if _, err := c.cfg.Desk.ContactChange(r.Context(), p.AccountID, sc, id, in, author(p)); err != nil {
		if f.FailErr(err, map[string]string{"name": "name", "email": "email", "phone": "phone"}) {
			c.showContact(w, r, http.StatusBadRequest, f)
			return
		}
		c.fail(w, r, err)
		return
	}
	c.flash(w, "Contact saved.")
	c.redirect(w, r, fmt.Sprintf("/contacts/%d", id))
}

// contactNote adds a note to the contact.
func (c *Console) contactNote(w http.ResponseWriter, r *http.Request) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	f := newForm(w, r)
	if f.Value("note") == "" {
		f.Fail("note", "Write the note first.")
		c.showContact(w, r, http.StatusBadRequest, f)
		return
	}
	sc, err := c.scope(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p := c.me(r)
	if _, err := c.cfg.Desk.ContactNoteAdd(r.Context(), p.AccountID, sc, id, f.Raw("note"), author(p)); err != nil {
		if f.FailErr(err, map[string]string{"content": "note"}) && f.Err("note") != "" {
			c.showContact(w, r, http.StatusBadRequest, f)
			return
		}
		c.failDomain(w, r, err)
		return
	}
	c.flash(w, "Note added.")
	c.redirect(w, r, fmt.Sprintf("/contacts/%d", id))
}

// contactDeletePage asks before deleting a contact (admins).
func (c *Console) contactDeletePage(w http.ResponseWriter, r *http.Request) {
	c.showContactDelete(w, r, http.StatusOK, emptyForm())
}

func (c *Console) showContactDelete(w http.ResponseWriter, r *http.Request, status int, f *Form) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	v, err := c.cfg.Desk.ContactView(r.Context(), c.me(r).AccountID, desk.Scope{}, id)
	if err != nil {
		c.failDomain(w, r, err)
		return
	}
	name := v.Contact.Name
	if e := orEmpty(v.Contact.Email); e != "" {
		name += " <" + e + ">"
	}
	d := confirmData{What: "contact", Name: name,
		Details: fmt.Sprintf("Deleted with them: conversations %d (with every message), notes %d, and their inbox links. This cannot be undone.",
			len(v.Conversations), len(v.Notes)),
		Action: fmt.Sprintf("/contacts/%d/delete", id), Back: fmt.Sprintf("/contacts/%d", id),
		Confirm: confirmBox(f, "Yes, delete this contact and their conversations")}
	c.render(w, r, status, "confirm-delete", Page{Title: "Delete contact", Nav: "contacts", Form: f, Data: d})
}

// contactDelete deletes after the confirm box was ticked.
func (c *Console) contactDelete(w http.ResponseWriter, r *http.Request) {
	id, ok := c.confirmedDelete(w, r, c.showContactDelete)
	if !ok {
		return
	}
	p := c.me(r)
	gone, err := c.cfg.Desk.ContactDelete(r.Context(), p.AccountID, desk.Scope{}, id, author(p))
	if err != nil {
		c.failDomain(w, r, err)
		return
	}
	c.flash(w, fmt.Sprintf("Contact deleted with %d conversations.", gone.Conversations))
	c.redirect(w, r, "/contacts")
}
