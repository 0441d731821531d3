package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/fault"
)

// FailErr puts a domain error beside the form field its fault.Field maps
// to, whatever its sentence says, and above the form when no field is
// mapped; other errors are not its to show.
func TestFailErrUsesTheField(t *testing.T) {
	t.Parallel()
	fields := map[string]string{"email": "email", "team_id": "team", "name": "label"}
	for _, c := range []struct {
		err          error
		field, shown string // field "" = above the form
		handled      bool
	}{
		{fault.Conflictf("email", "a contact with email a@example.com already exists"), "email", "A contact with email a@example.com already exists.", true},
		{fault.New(fault.NotFound, "team_id", "team 7 not found"), "team", "Team 7 not found.", true},
		{fault.Invalidf("name", "label name must be 1 to 50 lower-case letters"), "label", "Must be 1 to 50 lower-case letters.", true},
		{fault.Invalidf("name", "nickname must be short"), "label", "Nickname must be short.", true},
		{fault.Invalidf("phone", "phone is at most 200 characters"), "", "Phone is at most 200 characters.", true},
		{fault.Invalidf("", "give at least one of name, email, phone or identifier"), "", "Give at least one of name, email, phone or identifier.", true},
		{fmt.Errorf("%w: plan must be pro", fault.ErrInvalid), "", "Plan must be pro.", true},
		{errors.New("connection reset"), "", "", false},
	} {
		f := emptyForm()
		if got := f.FailErr(c.err, fields); got != c.handled {
			t.Errorf("%v: handled %v", c.err, got)
			continue
		}
		got := f.Message
		if c.field != "" {
			got = f.Err(c.field)
		}
		if got != c.shown || (c.field != "" && f.Message != "") {
			t.Errorf("%v: shown %q (message %q, errors %v), want %q beside %q", c.err, got, f.Message, f.Errors, c.shown, c.field)
		}
	}
}

// Errors whose sentence does not begin with their field's name (a taken
// email, a label or team that does not exist) come back beside that field.
func TestFormErrorsBesideTheirField(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	b := q.admin
	ctx := context.Background()
	other := dbtest.Unique("other") + "@example.com"
	if _, err := q.c.cfg.Desk.IncomingMessage(ctx, q.acct, q.inbox, desk.IncomingInput{
		Contact: desk.IncomingContact{Email: other, Name: "Otto"}, Content: "hello", SourceID: dbtest.Unique("s")}); err != nil {
		t.Fatal(err)
	}
	cpath := fmt.Sprintf("/contacts/%d", q.contact)
	p := wantStatus(t, b.post(cpath, url.Values{"name": {"Carla Customer"}, "email": {other}, "attributes": {""}}), http.StatusBadRequest)
	if got := p.fieldError("email"); !strings.Contains(got, "already exists") {
		t.Errorf("a taken email: error beside email %q:\n%s", got, p.text())
	}
	path := fmt.Sprintf("/conversations/%d", q.conv)
	p = wantStatus(t, b.post(path, url.Values{"status": {"open"}, "priority": {"none"}, "assignee": {""}, "team": {"987654321"}}), http.StatusBadRequest)
	if got := p.fieldError("team"); got != "Team 987654321 not found." {
		t.Errorf("an unknown team: error beside team %q:\n%s", got, p.text())
	}
	p = wantStatus(t, b.post(path, url.Values{"status": {"open"}, "priority": {"none"}, "assignee": {""}, "team": {""}, "labels": {"nosuch"}}), http.StatusBadRequest)
	if got := p.fieldError("labels"); !strings.Contains(got, `"nosuch" does not exist`) {
		t.Errorf("an unknown label: error beside labels %q:\n%s", got, p.text())
	}
}

// TestFormSummary: above a form stands its form-wide message, else, when
// fields are wrong, that they are marked, else nothing; the form-error
// partial prints exactly that, and nothing for no form.
func TestFormSummary(t *testing.T) {
	t.Parallel()
	pages, err := parseTemplates(time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	page := pages.byName["signin"]
	for _, c := range []struct {
		f    *Form
		want string
	}{
		{&Form{Message: "The form could not be read.", Errors: map[string]string{"email": "x"}}, "The form could not be read."},
		{&Form{Errors: map[string]string{"email": "x"}}, "Please correct the fields marked below."},
		{&Form{}, ""},
	} {
		if got := c.f.Summary(); got != c.want {
			t.Errorf("Summary of %+v = %q, want %q", c.f, got, c.want)
		}
		var b strings.Builder
		if err := page.ExecuteTemplate(&b, "form-error", c.f); err != nil {
			t.Fatal(err)
		}
		want := ""
		if c.want != "" {
			want = `<p class="error form-error" role="alert">` + c.want + `</p>`
		}
		if b.String() != want {
			t.Errorf("form-error for %+v: %q, want %q", c.f, b.String(), want)
		}
	}
	var b strings.Builder
	if err := page.ExecuteTemplate(&b, "form-error", (*Form)(nil)); err != nil || b.String() != "" {
		t.Errorf("form-error without a form: %q, %v", b.String(), err)
	}
}
