package desk

import (
	"slices"
	"testing"
)

// TestParseSearchQuotesEveryWord: what a person types becomes quoted
// lexemes joined by the operators the web syntax means, so nothing typed
// is read as tsquery syntax; the last plain word is a prefix.
func TestParseSearchQuotesEveryWord(t *testing.T) {
	cases := []struct {
		in, terms string
		fuzzy     []string
	}{
		{"refund", `'refund':*`, []string{"refund"}},
		{"Refund late", `'Refund' & 'late':*`, []string{"refund", "late"}},
		{`"arrived broken"`, `('arrived' <-> 'broken')`, []string{"arrived", "broken"}},
		{`refund -money`, `'refund' & !'money'`, []string{"refund"}},
		{`refund -"money back"`, `'refund' & !('money' <-> 'back')`, []string{"refund"}},
		{`parcel or money`, `'parcel' | 'money':*`, []string{"parcel", "money"}},
		{`or parcel`, `'or' & 'parcel':*`, []string{"parcel"}},
		{`it's`, `'it''s':*`, []string{"it's"}},
		{`a\b`, `'a\\b':*`, []string{`a\b`}},
		{`refund & late)`, `'refund' & '&' & 'late)':*`, []string{"refund", "late)"}},
		{`refund:*`, `'refund:*':*`, []string{"refund:*"}},
		{"a", `'a'`, []string{}},
		{`"unclosed phrase`, `('unclosed' <-> 'phrase')`, []string{"unclosed", "phrase"}},
	}
	for _, c := range cases {
		sq, err := parseSearch(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if sq.terms != c.terms || !slices.Equal(sq.fuzzy, c.fuzzy) {
			t.Errorf("%q: terms %s fuzzy %q, want %s %q", c.in, sq.terms, sq.fuzzy, c.terms, c.fuzzy)
		}
	}
}

func TestHighlightFromMarkers(t *testing.T) {
	marked := "Où est mon \x01colis\x02 ? Il \x01arrivé\x02"
	h, ok := markedHighlight("content", &marked)
	if !ok || h.Text != "Où est mon colis ? Il arrivé" || !slices.Equal(h.Matches, [][2]int{{11, 16}, {22, 28}}) {
		t.Fatalf("%+v %v", h, ok)
	}
	parts := h.Parts()
	if len(parts) != 4 || parts[1] != (HighlightPart{Text: "colis", Match: true}) || parts[3] != (HighlightPart{Text: "arrivé", Match: true}) {
		t.Fatalf("parts %+v", parts)
	}
	plain := "nothing marked"
	if _, ok := markedHighlight("subject", &plain); ok {
		t.Error("a text without marks is no highlight")
	}
}
