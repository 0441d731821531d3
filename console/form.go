package console

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/deskwoot/deskwoot/tenancy"
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
// domain words its messages after the REST fields ("account_name must
// be …"); fields maps such a leading name to the form field, and the
// message goes next to that field (without the name when it reads "must
// …", since the field's label says it). Anything else is for the caller to
// treat as a server error.
func (f *Form) FailErr(err error, fields map[string]string) bool {
	if !errors.Is(err, tenancy.ErrInvalid) && !errors.Is(err, tenancy.ErrConflict) && !errors.Is(err, tenancy.ErrNotFound) {
		return false
	}
	msg := err.Error()
	for _, p := range []string{"invalid: ", "conflict: ", "not found: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	for key, field := range fields {
		if rest, ok := strings.CutPrefix(msg, key+" "); ok {
			if !strings.HasPrefix(rest, "must ") {
				rest = msg
			}
			f.Fail(field, sentence(rest))
			return true
		}
	}
	f.Message = sentence(msg)
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
