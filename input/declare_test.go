package input

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/deskwoot/deskwoot/fault"
)

type sampleRef struct {
	ThingID int64 `json:"thing_id" input:"required,id" desc:"The thing."`
}

type sample struct {
	sampleRef
	Name   *string        `json:"name" input:"max=200"`
	Phone  *string        `json:"phone" input:"nullzero"`
	Body   string         `json:"body" input:"required,max=10" desc:"The body."`
	Status string         `json:"status" input:"enum=open|closed"`
	Limit  int            `json:"limit" input:"min=1,max=100"`
	Tags   []string       `json:"tags" input:"items=2,max=5,enum=a|bb"`
	Attrs  map[string]any `json:"attrs"`
	Quiet  bool           `json:"quiet"`
	Other  int64          `json:"other_id" input:"id"`
}

// The schema says what Bind checks: types, descriptions, required names in
// declaration order (embedded fields in their place), minLength for a
// required string, maxLength, enums, bounds, maxItems.
func TestSchema(t *testing.T) {
	t.Parallel()
	got, err := json.Marshal(Declare[sample]().Schema())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Properties":{"attrs":{"properties":{},"type":"object"},` +
		`"body":{"description":"The body.","maxLength":10,"minLength":1,"type":"string"},` +
		`"limit":{"maximum":100,"minimum":1,"type":"integer"},` +
		`"name":{"maxLength":200,"type":"string"},` +
		`"other_id":{"minimum":1,"type":"integer"},` +
		`"phone":{"type":"string"},` +
		`"quiet":{"type":"boolean"},` +
		`"status":{"enum":["open","closed"],"type":"string"},` +
		`"tags":{"items":{"enum":["a","bb"],"maxLength":5,"type":"string"},"maxItems":2,"type":"array"},` +
		`"thing_id":{"description":"The thing.","minimum":1,"type":"integer"}},` +
		`"Required":["thing_id","body"]}`
	if string(got) != want {
		t.Errorf("schema\n got %s\nwant %s", got, want)
	}
}

// Bind refuses each bad argument with a fault.Invalid naming its field,
// counts characters rather than bytes, and leaves absent fields absent.
func TestBind(t *testing.T) {
	t.Parallel()
	d := Declare[sample]()
	ok := func() map[string]any { return map[string]any{"thing_id": 7.0, "body": "hi"} }
	with := func(k string, v any) map[string]any { m := ok(); m[k] = v; return m }
	without := func(k string) map[string]any { m := ok(); delete(m, k); return m }
	japanese150 := strings.Repeat("日本", 75)
	for _, c := range []struct {
		args  map[string]any
		field string
		want  string // "" = accepted
	}{
		{ok(), "", ""},
		{with("name", japanese150), "", ""}, // 150 characters, 450 bytes
		{with("name", japanese150+strings.Repeat("語", 51)), "name", "name is at most 200 characters"},
		{with("body", "ééééééééé"), "", ""}, // 9 characters, 18 bytes
		{with("body", "ééééééééééé"), "body", "body is at most 10 characters"},
		{without("thing_id"), "thing_id", "thing_id is required"},
		{with("thing_id", nil), "thing_id", "thing_id is required"},
		{with("thing_id", "7"), "thing_id", "thing_id must be a positive integer id"},
		{with("thing_id", 0.0), "thing_id", "thing_id must be a positive integer id"},
		{with("thing_id", 1.5), "thing_id", "thing_id must be a positive integer id"},
		{with("thing_id", float64(1<<53)), "", ""},
		{with("thing_id", float64(1<<54)), "thing_id", "thing_id must be a positive integer id"},
		{with("other_id", -3.0), "other_id", "other_id must be a positive integer id"},
		{without("body"), "body", "body is required"},
		{with("body", "  "), "body", "body must not be empty"},
		{with("body", 42.0), "body", "body must be a string"},
		{with("body", "a\x00b"), "body", "body must not contain NUL"},
		{with("body", "a\xffb"), "body", "body must be valid UTF-8"},
		{with("status", "shut"), "status", "status must be one of open, closed"},
		{with("status", ""), "", ""},
		{with("limit", 0.0), "limit", "limit must be an integer from 1 to 100"},
		{with("limit", 101.0), "limit", "limit must be an integer from 1 to 100"},
		{with("limit", "5"), "limit", "limit must be an integer from 1 to 100"},
		{with("tags", []any{"a", "bb", "a"}), "tags", "tags holds at most 2 items"},
		{with("tags", []any{"a", 1.0}), "tags", "tags must be an array of strings"},
		{with("tags", []any{"c"}), "tags[0]", "tags[0] must be one of a, bb"},
		{with("tags", "a"), "tags", "tags must be an array of strings"},
		{with("attrs", "x"), "attrs", "attrs must be an object"},
		{with("attrs", map[string]any{"k": "a\x00"}), "attrs.k", "NUL"},
		{with("quiet", "yes"), "quiet", "quiet must be true or false"},
		// Arguments nobody declared are not refused, but bounded.
		{with("extra", "fine"), "", ""},
		{with("extra", strings.Repeat("x", MaxText+1)), "extra", "extra is at most 1000 characters"},
		{with("extra", map[string]any{"k": "\x00"}), "extra.k", "NUL"},
		{with("a\x00", 1.0), "argument name", "NUL"},
	} {
		got, err := d.Bind(c.args)
		if c.want == "" {
			if err != nil || got == nil {
				t.Errorf("Bind(%v): %v", c.args, err)
			}
			continue
		}
		var fe *fault.Error
		if !errors.As(err, &fe) || fe.Kind != fault.Invalid || fe.Field != c.field || !strings.Contains(fe.Sentence, c.want) {
			t.Errorf("Bind(%v) = %#v, want an invalid %s error saying %q", c.args, err, c.field, c.want)
		}
	}
}

func TestBindFillsTheStruct(t *testing.T) {
	t.Parallel()
	got, err := Declare[sample]().Bind(map[string]any{"thing_id": 7.0, "body": "hi", "name": "", "tags": []any{"a"},
		"attrs": map[string]any{"gone": nil}, "quiet": true, "status": nil})
	if err != nil {
		t.Fatal(err)
	}
	if got.ThingID != 7 || got.Body != "hi" || got.Name == nil || *got.Name != "" || len(got.Tags) != 1 ||
		len(got.Attrs) != 1 || got.Attrs["gone"] != nil || !got.Quiet || got.Status != "" || got.Limit != 0 || got.Other != 0 {
		t.Errorf("bound %+v", got)
	}
	// A null or absent optional pointer stays nil: "not given", unlike "";
	// with nullzero a null is "" and an absent one nil.
	got, err = Declare[sample]().Bind(map[string]any{"thing_id": 7.0, "body": "hi", "name": nil, "phone": nil})
	if err != nil || got.Name != nil || got.Phone == nil || *got.Phone != "" {
		t.Errorf("null name %v, null phone %v: %v", got.Name, got.Phone, err)
	}
	if got, _ = Declare[sample]().Bind(map[string]any{"thing_id": 7.0, "body": "hi"}); got.Phone != nil {
		t.Errorf("absent phone: %v", *got.Phone)
	}
}

// Validate checks a struct filled some other way as Bind checks arguments.
func TestValidate(t *testing.T) {
	t.Parallel()
	d := Declare[sample]()
	long := strings.Repeat("語", 201)
	for _, c := range []struct {
		v     sample
		field string
	}{
		{sample{sampleRef: sampleRef{1}, Body: "ok"}, ""},
		{sample{Body: "ok"}, "thing_id"},
		{sample{sampleRef: sampleRef{1}}, "body"},
		{sample{sampleRef: sampleRef{1}, Body: "ok", Name: &long}, "name"},
		{sample{sampleRef: sampleRef{1}, Body: "ok", Limit: 200}, "limit"},
		{sample{sampleRef: sampleRef{1}, Body: "ok", Status: "shut"}, "status"},
	} {
		err := d.Validate(&c.v)
		if c.field == "" {
			if err != nil {
				t.Errorf("Validate(%+v): %v", c.v, err)
			}
			continue
		}
		var fe *fault.Error
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("Validate(%+v) = %v, want an error about %s", c.v, err, c.field)
		}
	}
}

func TestDeclarePanicsOnBadTags(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]func(){
		"unknown rule": func() {
			Declare[struct {
				A string `json:"a" input:"maximum=3"`
			}]()
		},
		"max not a number": func() {
			Declare[struct {
				A string `json:"a" input:"max=x"`
			}]()
		},
		"id not an integer": func() {
			Declare[struct {
				A string `json:"a" input:"id"`
			}]()
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Declare did not panic", name)
				}
			}()
			f()
		}()
	}
}

type benchArgs struct {
	sampleRef
	Content string `json:"content" input:"required,max=100000"`
	Key     string `json:"idempotency_key" input:"required,max=200"`
}

// BenchmarkBind binds a reply-shaped call's decoded arguments (as mcp-go
// hands them over) with every check; BenchmarkUnmarshal is the baseline a
// typed decode without checks costs: json.Unmarshal of the raw arguments.
func BenchmarkBind(b *testing.B) {
	d := Declare[benchArgs]()
	args := map[string]any{"thing_id": 42.0, "content": "Thanks for waiting, here is an update.", "idempotency_key": "bench-123456"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Bind(args); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	raw := []byte(`{"thing_id":42,"content":"Thanks for waiting, here is an update.","idempotency_key":"bench-123456"}`)
	b.ReportAllocs()
	for b.Loop() {
		var v benchArgs
		if err := json.Unmarshal(raw, &v); err != nil {
			b.Fatal(err)
		}
	}
}
