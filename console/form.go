package console

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/deskwoot/deskwoot/fault"
)

// maxForm bounds a posted form.
const maxForm = 1 << 20

// Form is a posted form: its values, kept to fill the fields again when it
// comes back with errors, and the errors, each shown next to its field.
type Form struct {
	Values url.Values
	Errors map[string]string
	// Message is an error about the whole form, shown above it.
	Message string
}

// newForm reads the request's posted fields (bounded). An unreadable body
// is a form-wide error.
func newForm(w http.ResponseWriter, r *http.Request) *Form {
	f := &Form{Values: url.Values{}, Errors: map[string]string{}}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		f.Message = "The form could not be read; reload the page and try again."
		return f
	}
	f.Values = r.PostForm
	return f
}

// emptyForm is a form with no values yet (a page's first view).
func emptyForm() *Form { return &Form{Values: url.Values{}, Errors: map[string]string{}} }

// Value is the trimmed value of a field.
func (f *Form) Value(name string) string { return strings.TrimSpace(f.Values.Get(name)) }

// Raw is the value of a field as sent (passwords, message bodies).
func (f *Form) Raw(name string) string { return f.Values.Get(name) }

// All is every value of a repeated field (checkboxes).
func (f *Form) All(name string) []string { return f.Values[name] }

// Checked reports whether a checkbox or radio with this value was sent.
func (f *Form) Checked(name, value string) bool { return slices.Contains(f.Values[name], value) }

// Err is the error shown next to a field.
func (f *Form) Err(name string) string { return f.Errors[name] }

// Summary is what stands above a form about its errors: its form-wide
// message, or, when only fields are wrong, that they are marked (the
// partial form-message prints it).
func (f *Form) Summary() string {
	if f.Message != "" || len(f.Errors) == 0 {
		return f.Message
	}
	return "Please correct the fields marked below."
}

// Fail marks a field with an error.
func (f *Form) Fail(name, msg string) {
	if _, ok := f.Errors[name]; !ok {
		f.Errors[name] = msg
	}
}

// OK reports whether the form has no errors.
func (f *Form) OK() bool { return len(f.Errors) == 0 && f.Message == "" }

// FailErr files a domain error on the form and reports whether it was one
// a person can fix (invalid input, a conflict, something not found). The
// error's fault.Field names the input at fault as the domain knows it
// (REST's field names: "account_name", "settings.smtp_port"); fields maps
// such a name to the form's field, and the sentence goes next to that
// field (from "must …" when it reads "[…] <field> must …", since the
// field's label names it). An error about no mapped field is shown above the form.
// Anything else is for the caller to treat as a server error.
func (f *Form) FailErr(err error, fields map[string]string) bool {
	fe := fault.From(err)
	if fe == nil || (fe.Kind != fault.Invalid && fe.Kind != fault.Conflict && fe.Kind != fault.NotFound) {
		return false
	}
	if field, ok := fields[fe.Field]; ok && fe.Field != "" {
		msg := fe.Sentence
		if before, rest, ok := strings.Cut(msg, " must "); ok && (before == fe.Field || strings.HasSuffix(before, " "+fe.Field)) {
			msg = "must " + rest // "label name must …" beside the name field
		}
		f.Fail(field, sentence(msg))
		return true
	}
	f.Message = sentence(fe.Sentence)
	return true
}

// sentence capitalises a message's first letter and ends it with a period.
func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}
