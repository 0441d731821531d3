package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/input"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Settings → Canned responses (DESIGN §18): every person reads them, admins
// add, edit and delete them. The composer's script reads them as JSON
// (cannedJSON) when a person first types / in it, so a thread page does not
// carry them.

// cannedItem is a canned response with its edit form's fields.
type cannedItem struct {
	desk.CannedResponse
	Fields []field
	// Error is an error about the edit as a whole.
	Error string
}

type cannedData struct {
	Items []cannedItem
	New   []field
	// NewError is an error about the new response's form as a whole.
	NewError string
}

// cannedFields are the short code and content fields of one form; suffix
// keeps the ids of the page's forms apart.
func cannedFields(f *Form, suffix string) []field {
	return []field{
		{Name: "short_code", Label: "Short code", Type: "text", ID: "f-short_code" + suffix, Value: f.Raw("short_code"), Error: f.Err("short_code"),
			Hint: "Type / and this in the composer. Letters, digits, - and _, no spaces; up to 50.", Required: true},
		{Name: "content", Label: "Content", Type: "textarea", ID: "f-content" + suffix, Value: f.Raw("content"), Error: f.Err("content"), Required: true},
	}
}

func (c *Console) cannedPage(w http.ResponseWriter, r *http.Request) {
	c.showCanned(w, r, http.StatusOK, emptyForm(), 0)
}

// showCanned renders the page; f, when it came back with errors, is the
// new-response form (editing 0) or the edit form of response editing.
func (c *Console) showCanned(w http.ResponseWriter, r *http.Request, status int, f *Form, editing int64) {
	list, err := c.cfg.Desk.CannedList(r.Context(), c.request(r))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := cannedData{New: cannedFields(emptyForm(), "")}
	if editing == 0 {
		d.New, d.NewError = cannedFields(f, ""), f.Message
	}
	for _, cr := range list {
		ef := &Form{Values: map[string][]string{"short_code": {cr.ShortCode}, "content": {cr.Content}}, Errors: map[string]string{}}
		item := cannedItem{CannedResponse: cr}
		if cr.ID == editing {
			ef = f
			item.Error = f.Message
		}
		item.Fields = cannedFields(ef, "-"+strconv.FormatInt(cr.ID, 10))
		d.Items = append(d.Items, item)
	}
	c.render(w, r, status, "canned", Page{Title: "Canned responses", Nav: "canned", Form: f, Data: d})
}

// cannedJSON is the list for the composer's script.
func (c *Console) cannedJSON(w http.ResponseWriter, r *http.Request) {
	list, err := c.cfg.Desk.CannedList(r.Context(), c.request(r))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{"canned_responses": list})
}

// cannedInput reads the form's fields, bounded by the input layer's
// limits before the domain checks them.
func cannedInput(f *Form) desk.CannedInput {
	code, content := f.Value("short_code"), f.Raw("content")
	if err := input.Text("short_code", code, input.MaxShortCode); err != nil {
		f.Fail("short_code", "At most 50 characters: letters, digits, - and _.")
	}
	if err := input.Text("content", content, input.MaxCanned); err != nil {
		f.Fail("content", "At most 10,000 characters.")
	}
	return desk.CannedInput{ShortCode: &code, Content: &content}
}

var cannedFieldNames = map[string]string{"short_code": "short_code", "content": "content"}

func (c *Console) cannedCreate(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	in := cannedInput(f)
	if !f.OK() {
		c.showCanned(w, r, http.StatusBadRequest, f, 0)
		return
	}
	cr, err := c.cfg.Desk.CannedCreate(r.Context(), c.recorded(r, audit.Entry{Action: "canned_response.create"}), in)
	if err != nil {
		if f.FailErr(err, cannedFieldNames) {
			c.showCanned(w, r, http.StatusBadRequest, f, 0)
			return
		}
		c.fail(w, r, err)
		return
	}
	c.flash(w, "Canned response /"+cr.ShortCode+" saved.")
	c.redirect(w, r, "/settings/canned-responses")
}

func (c *Console) cannedSave(w http.ResponseWriter, r *http.Request) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	f := newForm(w, r)
	in := cannedInput(f)
	if !f.OK() {
		c.showCanned(w, r, http.StatusBadRequest, f, id)
		return
	}
	cr, err := c.cfg.Desk.CannedChange(r.Context(), c.recorded(r, audit.Entry{Action: "canned_response.update"}), id, in)
	if err != nil {
		if errors.Is(err, tenancy.ErrNotFound) { // deleted meanwhile, or another workspace's
			c.failDomain(w, r, err)
			return
		}
		if f.FailErr(err, cannedFieldNames) {
			c.showCanned(w, r, http.StatusBadRequest, f, id)
			return
		}
		c.fail(w, r, err)
		return
	}
	c.flash(w, "Canned response /"+cr.ShortCode+" saved.")
	c.redirect(w, r, "/settings/canned-responses")
}

func (c *Console) cannedDelete(w http.ResponseWriter, r *http.Request) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	if err := c.cfg.Desk.CannedDelete(r.Context(), c.recorded(r, audit.Entry{Action: "canned_response.delete"}), id); err != nil {
		c.failDomain(w, r, err)
		return
	}
	c.flash(w, "Canned response deleted.")
	c.redirect(w, r, "/settings/canned-responses")
}
