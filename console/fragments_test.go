package console

import (
	"fmt"
	"html/template"
	"math/rand/v2"
	"reflect"
	"slices"
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

// fragmentTypes are the data of every fragment: each writes its own key
// (appendKey), which must show every field a template can print.
var fragmentTypes = []reflect.Type{reflect.TypeFor[convRow](), reflect.TypeFor[msgView](), reflect.TypeFor[field](), reflect.TypeFor[option](),
	reflect.TypeFor[viewLink](), reflect.TypeFor[viewLinks](), reflect.TypeFor[bulkBar](), reflect.TypeFor[snoozePanel](), reflect.TypeFor[snoozePreset](),
	reflect.TypeFor[navChrome](), reflect.TypeFor[threadHead](), reflect.TypeFor[threadComposer](), reflect.TypeFor[threadSide](), reflect.TypeFor[listFilters]()}

// filler fills a fragment's data through reflection, every exported field
// (the only ones a template reads): with change set to the number of one
// part, that part differs from the value filled with change 0; with rnd
// set, every part is one of a few random values instead.
type filler struct {
	t      *testing.T
	n      int // parts filled so far
	change int
	rnd    *rand.Rand
	path   []string
	what   string // the changed part's path
}

// part counts a part and reports whether it is the one to change.
func (f *filler) part() bool {
	f.n++
	if f.n == f.change {
		f.what = strings.Join(f.path, "")
		return true
	}
	return false
}

// pick is 0 or, changed, 1; or at random one of 0..n-1.
func (f *filler) pick(n int) int {
	if f.rnd != nil {
		return f.rnd.IntN(n)
	}
	if f.part() {
		return 1
	}
	return 0
}

func (f *filler) fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString([]string{"a", "ab", "", "b"}[f.pick(4)])
	case reflect.Bool:
		v.SetBool(f.pick(2) == 0)
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(1 + f.pick(3)))
	case reflect.Slice:
		n := 1 + f.pick(2)
		if f.rnd != nil {
			n = f.rnd.IntN(3)
		}
		v.Set(reflect.MakeSlice(v.Type(), n, n))
		for i := 0; i < n; i++ {
			f.at(fmt.Sprintf("[%d]", i), v.Index(i))
		}
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			f.at(fmt.Sprintf("[%d]", i), v.Index(i))
		}
	case reflect.Pointer:
		if f.pick(2) == 1 {
			return // nil
		}
		v.Set(reflect.New(v.Type().Elem()))
		f.at("*", v.Elem())
	case reflect.Map:
		if v.Type() != reflect.TypeFor[map[string]bool]() {
			f.t.Fatalf("%s: a %s; teach this test to fill it", strings.Join(f.path, ""), v.Type())
		}
		// A page's navigation: the entries set, each true (false prints
		// as an absent entry).
		v.Set(reflect.MakeMap(v.Type()))
		for i, name := range []string{"a", "b"} {
			if f.pick(2) != i {
				v.SetMapIndex(reflect.ValueOf(name), reflect.ValueOf(true))
			}
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				f.at("."+v.Type().Field(i).Name, v.Field(i))
			}
		}
	default:
		f.t.Fatalf("%s: a %s; teach this test to fill it", strings.Join(f.path, ""), v.Kind())
	}
}

func (f *filler) at(step string, v reflect.Value) {
	f.path = append(f.path, step)
	f.fill(v)
	f.path = f.path[:len(f.path)-1]
}

// fragmentKey is the key typ's value v writes.
func fragmentKey(v reflect.Value) string { return string(v.Interface().(keyed).appendKey(nil)) }

// TestFragmentKeysShowEveryField: a fragment is kept by the key its data
// writes, so every exported field of a fragment's data (all a template
// can print), down to a slice's elements and a pointer's target, must
// change the key when it changes; and no two different values may write
// the same key (each part is written with its length, so that "ab","" is
// not "a","b").
func TestFragmentKeysShowEveryField(t *testing.T) {
	t.Parallel()
	for _, typ := range fragmentTypes {
		base := reflect.New(typ).Elem()
		fb := &filler{t: t, path: []string{typ.Name()}}
		fb.fill(base)
		want := fragmentKey(base)
		for change := 1; change <= fb.n; change++ {
			v := reflect.New(typ).Elem()
			f := &filler{t: t, change: change, path: []string{typ.Name()}}
			f.fill(v)
			if fragmentKey(v) == want {
				t.Errorf("%s changed, and the key did not: add it to %s.appendKey", f.what, typ.Name())
			}
		}

		seen := map[string]reflect.Value{}
		rnd := rand.New(rand.NewPCG(1, uint64(len(typ.Name()))))
		for range 3000 {
			v := reflect.New(typ).Elem()
			(&filler{t: t, rnd: rnd, path: []string{typ.Name()}}).fill(v)
			k := fragmentKey(v)
			if other, ok := seen[k]; ok && !reflect.DeepEqual(other.Interface(), v.Interface()) {
				t.Fatalf("two values of %s write the same key:\n%#v\n%#v", typ.Name(), other.Interface(), v.Interface())
			}
			seen[k] = v
		}
	}
}

// text is a fragment's data in tests: a string, its own key.
type text string

func (s text) appendKey(k []byte) []byte { return keyString(k, string(s)) }

// TestFragmentsStayBounded: however many rows pass, the fragments keep at
// most maxFragmentBytes, and a fragment too large to be worth keeping is
// rendered without being kept.
func TestFragmentsStayBounded(t *testing.T) {
	t.Parallel()
	tm := template.Must(template.New("x").Parse(`{{define "row"}}<p>{{.}}</p>{{end}}`))
	f := &fragments{}
	long := strings.Repeat("a", 1000)
	for i := 0; i < 3*maxFragmentBytes/1000; i++ {
		if _, err := f.render(tm, time.UTC, "row", text(fmt.Sprint(i, long))); err != nil {
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
	h, err := f.render(tm, time.UTC, "row", text(huge))
	if err != nil || string(h) != "<p>"+huge+"</p>" {
		t.Fatalf("a huge row rendered as %d bytes, %v", len(h), err)
	}
	if f.bytes != before {
		t.Fatalf("a huge row was kept: the fragments grew from %d to %d bytes", before, f.bytes)
	}
}

// TestFragmentListsShowTheirItems: a list kept whole (renderAll) is its
// items rendered one after the other, and a list whose items changed in
// any way, or in order, is rendered anew.
func TestFragmentListsShowTheirItems(t *testing.T) {
	t.Parallel()
	pages, err := parseTemplates(time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	page := pages.byName["conversations"]
	f := &fragments{}
	var rows []convRow
	for _, name := range []string{"Ann", "Bob", "Cy"} {
		rows = append(rows, convRow{ID: name, Contact: name, Sender: "Customer", Preview: "Hello from " + name, Status: "open"})
	}
	list := func(rows []convRow) string {
		t.Helper()
		h, err := renderAll(f, page, time.UTC, "conversation-row", rows)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	joined := func(rows []convRow) string {
		t.Helper()
		var b strings.Builder
		for _, r := range rows {
			h, err := f.render(page, time.UTC, "conversation-row", r)
			if err != nil {
				t.Fatal(err)
			}
			b.WriteString(string(h))
		}
		return b.String()
	}
	first := list(rows)
	if first != joined(rows) {
		t.Fatalf("the list is not its rows one after the other:\n%s", first)
	}
	n := len(f.html)
	if again := list(rows); again != first || len(f.html) != n {
		t.Fatalf("the same list rendered differently, or was kept again (%d kept, %d before)", len(f.html), n)
	}
	changed := slices.Clone(rows)
	changed[1].Preview = "Bob <b>wrote again</b>"
	if got := list(changed); got == first || got != joined(changed) || !strings.Contains(got, "Bob &lt;b&gt;wrote again&lt;/b&gt;") {
		t.Fatalf("a list whose second row changed shows:\n%s", got)
	}
	swapped := []convRow{rows[1], rows[0], rows[2]}
	if got := list(swapped); got != joined(swapped) {
		t.Fatalf("a list in another order shows:\n%s", got)
	}
	if got := list(rows[:2]); got != joined(rows[:2]) {
		t.Fatalf("a shorter list shows:\n%s", got)
	}
	if got := list(nil); got != "" {
		t.Fatalf("an empty list shows %q", got)
	}
}
