package console

import (
	"fmt"
	"html/template"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestFragmentsShowWhatRowsShow: a list row kept by the fragments is the
// row as html/template renders it (customer text escaped, the second time
// as the first), and a row whose words changed in any field is rendered
// anew, in each time zone apart.
func TestFragmentsShowWhatRowsShow(t *testing.T) {
	t.Parallel()
	pages, err := parseTemplates(time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	page := pages.byName["conversations"]
	f := &fragments{}
	row := convRow{ID: "12", Tick: "Tick conversation #12 with <b>Eve</b>", Contact: "<b>Eve</b>", Ref: "#12",
		Sender: "Customer", Preview: `<script>alert("hi")</script>`, Status: "open", Inbox: "Support", Assignee: "Unassigned",
		Waiting: "3 min", Since: "2026-12-07 11:57 UTC"}
	render := func(r convRow, loc *time.Location) string {
		t.Helper()
		h, err := f.render(page, loc, "conversation-row", r)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	first := render(row, time.UTC)
	for _, want := range []string{`id="c12"`, `id="pick-12"`, `href="/conversations/12"`, "&lt;b&gt;Eve&lt;/b&gt;", "&lt;script&gt;alert(&#34;hi&#34;)&lt;/script&gt;", "Waiting 3 min"} {
		if !strings.Contains(first, want) {
			t.Errorf("row lacks %s:\n%s", want, first)
		}
	}
	if strings.Contains(first, "<script>") || strings.Contains(first, "<b>") {
		t.Fatalf("customer text not escaped:\n%s", first)
	}
	if again := render(row, time.UTC); again != first || len(f.html) != 1 {
		t.Fatalf("the same row rendered differently, or was kept twice (%d kept):\n%s", len(f.html), again)
	}
	// Every field the template prints is part of what the row is kept by
	// (When shows on a row that does not wait).
	answered := row
	answered.Waiting, answered.Since, answered.When = "", "", "2026-12-07 11:50 UTC"
	v := reflect.ValueOf(&row).Elem()
	for i := 0; i < v.NumField(); i++ {
		shown := false
		for _, base := range []convRow{row, answered} {
			changed := base
			switch fv := reflect.ValueOf(&changed).Elem().Field(i); fv.Kind() {
			case reflect.String:
				fv.SetString(fv.String() + "x")
			case reflect.Bool:
				fv.SetBool(!fv.Bool())
			case reflect.Slice:
				fv.Set(reflect.MakeSlice(fv.Type(), 1, 1))
			default:
				t.Fatalf("convRow.%s: a %s; teach this test to change it", v.Type().Field(i).Name, fv.Kind())
			}
			shown = shown || render(changed, time.UTC) != render(base, time.UTC)
		}
		if !shown {
			t.Errorf("a row whose %s changed shows as before", v.Type().Field(i).Name)
		}
	}
	n := len(f.html)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	render(row, ny)
	if len(f.html) != n+1 {
		t.Errorf("a row in another zone was not kept apart: %d kept, want %d", len(f.html), n+1)
	}
	again, err := parseTemplates(time.UTC) // another set of pages, which could define the row otherwise
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.render(again.byName["conversations"], time.UTC, "conversation-row", row); err != nil {
		t.Fatal(err)
	}
	if len(f.html) != n+2 {
		t.Errorf("a row of another set of templates was not kept apart: %d kept, want %d", len(f.html), n+2)
	}
}

// TestFragmentDataHidesNoField: a fragment is kept by its data in JSON, so
// no field of a fragment's data may be left out of JSON (a template could
// print a field the key does not know).
func TestFragmentDataHidesNoField(t *testing.T) {
	t.Parallel()
	for _, typ := range []reflect.Type{reflect.TypeFor[convRow](), reflect.TypeFor[msgView](), reflect.TypeFor[field](), reflect.TypeFor[option](), reflect.TypeFor[viewLink](), reflect.TypeFor[bulkBar](), reflect.TypeFor[snoozePanel](), reflect.TypeFor[snoozePreset](), reflect.TypeFor[navChrome]()} {
		for i := 0; i < typ.NumField(); i++ {
			if fl := typ.Field(i); fl.IsExported() && fl.Tag.Get("json") != "" {
				t.Errorf("%s.%s has the JSON tag %q: fragments.go keys rows by their fields in JSON", typ.Name(), fl.Name, fl.Tag.Get("json"))
			}
		}
	}
}

// TestFragmentsStayBounded: however many rows pass, the fragments keep at
// most maxFragmentBytes, and a fragment too large to be worth keeping is
// rendered without being kept.
func TestFragmentsStayBounded(t *testing.T) {
	t.Parallel()
	tm := template.Must(template.New("x").Parse(`{{define "row"}}<p>{{.}}</p>{{end}}`))
	f := &fragments{}
	long := strings.Repeat("a", 1000)
	for i := 0; i < 3*maxFragmentBytes/1000; i++ {
		if _, err := f.render(tm, time.UTC, "row", fmt.Sprint(i, long)); err != nil {
			t.Fatal(err)
		}
		if f.bytes > maxFragmentBytes {
			t.Fatalf("after %d rows the fragments hold %d bytes, more than %d", i+1, f.bytes, maxFragmentBytes)
		}
	}
	sum := 0
	for k, v := range f.html {
		sum += len(k) + len(v)
	}
	if sum != f.bytes {
		t.Fatalf("the fragments count %d bytes but hold %d", f.bytes, sum)
	}
	huge := strings.Repeat("b", maxFragmentBytes/32)
	before := f.bytes
	h, err := f.render(tm, time.UTC, "row", huge)
	if err != nil || string(h) != "<p>"+huge+"</p>" {
		t.Fatalf("a huge row rendered as %d bytes, %v", len(h), err)
	}
	if f.bytes != before {
		t.Fatalf("a huge row was kept: the fragments grew from %d to %d bytes", before, f.bytes)
	}
}
