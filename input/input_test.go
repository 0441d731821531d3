package input

import (
	"errors"
	"strings"
	"testing"

	"github.com/deskwoot/deskwoot/fault"
)

func TestText(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		s    string
		max  int
		want string // "" = accepted
	}{
		{"hello", 5, ""},
		{"héllo", 5, ""}, // five characters, six bytes
		{"hello!", 5, "at most 5 characters"},
		{"a\x00b", 10, "NUL"},
		{"a\xffb", 10, "valid UTF-8"},
	} {
		err := Text("content", c.s, c.max)
		if c.want == "" {
			if err != nil {
				t.Errorf("Text(%q): %v", c.s, err)
			}
			continue
		}
		var fe *fault.Error
		if !errors.As(err, &fe) || fe.Kind != fault.Invalid || fe.Field != "content" || !strings.Contains(fe.Sentence, c.want) || !strings.HasPrefix(fe.Sentence, "content ") {
			t.Errorf("Text(%q) = %v, want an invalid content error saying %q", c.s, err, c.want)
		}
	}
}

func TestStructNamesTheField(t *testing.T) {
	t.Parallel()
	type contact struct {
		Email string `json:"email" max:"254"`
	}
	type body struct {
		Contact  contact        `json:"contact"`
		Content  string         `json:"content" max:"100000"`
		Name     *string        `json:"name"`
		Labels   []string       `json:"labels"`
		Settings map[string]any `json:"settings"`
	}
	nul := "x\x00"
	for _, c := range []struct {
		b     body
		field string
	}{
		{body{Contact: contact{Email: nul}}, "contact.email"},
		{body{Contact: contact{Email: strings.Repeat("e", 255)}}, "contact.email"},
		{body{Content: strings.Repeat("c", 1001)}, ""},
		{body{Name: &nul}, "name"},
		{body{Name: new(string)}, ""},
		{body{Labels: []string{"ok", nul}}, "labels[1]"},
		{body{Settings: map[string]any{"a": map[string]any{"b": []any{nul}}}}, "settings.a.b[0]"},
		{body{Settings: map[string]any{nul: 1}}, "settings key"},
		{body{Name: ptr(strings.Repeat("n", MaxText+1))}, "name"},
	} {
		err := Struct(&c.b)
		if c.field == "" {
			if err != nil {
				t.Errorf("%+v: %v", c.b, err)
			}
			continue
		}
		if fe := fault.From(err); fe.Kind != fault.Invalid || fe.Field != c.field {
			t.Errorf("%+v: %v (field %q), want field %s", c.b, err, fe.Field, c.field)
		}
	}
}

func TestValueBoundsNesting(t *testing.T) {
	t.Parallel()
	var v any = "leaf"
	for range MaxDepth + 2 {
		v = []any{v}
	}
	if err := Value("custom_attributes", v, 10); err == nil {
		t.Error("a value nested past MaxDepth passed")
	}
	if err := Attributes("custom_attributes", map[string]any{"k": make([]any, MaxItems+1)}); err == nil {
		t.Error("an array past MaxItems passed")
	}
}

func ptr(s string) *string { return &s }
