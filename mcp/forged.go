package mcp

import (
	"html"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/unicode/norm"
)

// Customer text must not be able to close the boundary early or open a
// fake one, and a model reads what text looks like, not its code points:
// "＜/untrusted‐сustomer-text" (fullwidth bracket, Unicode hyphen,
// Cyrillic с), "<\u200b/untrusted…", "&#60;/untrusted…" and "‹untrusted…"
// all read as the tag. So the check runs on the text's skeleton — what
// each character looks like — and defangs the original text where the
// skeleton shows a tag: the first character of its bracket, whatever form
// the bracket took, becomes "[". Everything else of the customer's text is
// left as written, and its length in characters does not change.
//
// The skeleton of a character is, in order:
//   - nothing, for characters that print nothing (format characters such as
//     U+200B and U+2060, combining marks, variation selectors and the other
//     default-ignorable code points);
//   - its compatibility decomposition (NFKD: fullwidth and mathematical
//     letters, "﹤", U+00A0 → space), marks dropped;
//   - the prototype of its confusables class from Unicode's UTS #39
//     (Cyrillic с → c, "‹" → "<", "〈" and "⟨" → "❬"), then the angle
//     brackets that class leaves apart ("❬", double angles) → "<";
//   - lower case.
//
// An escape that spells one character (an HTML character reference such as
// "&lt;", "&#60;", "&#x3c;", "&lsaquo;" or "&amp;lt;", a "\u003c", "\x3c"
// or "%3C") counts as that character.

// forgedTag matches, in a skeleton, a bracket, then anything but letters
// and digits (spaces, slashes, punctuation, more brackets), then the tag's
// name with any separators between its words; its group is everything
// before the name. UTS #39 spells the look-alikes of "m" as "rn".
// Case-insensitive, so that it also runs on plain ASCII text as is.
var forgedTag = regexp.MustCompile(`(?i)(<[^a-z0-9]*)untrusted[^a-z0-9<>]*custo(?:m|rn)er[^a-z0-9<>]*text`)

// angles are the brackets that read as "<" but that the confusables
// table maps elsewhere or not at all.
var angles = map[rune]bool{
	'❬': true, // the prototype of "〈", "〈" and "⟨"
	'«': true, '≪': true, '⟪': true, '《': true, '❰': true, '⦉': true, '⧼': true,
}

// neutralise defangs every forged boundary tag in s: each bracket before
// the tag's name loses its first character to "[" (all of them, so that
// "<<" leaves no "<" behind to pair with the name). A tag starts with a bracket, so only the
// text from the first character that may read as one is looked at.
func neutralise(s string) string {
	at := firstBracket(s)
	if at < 0 {
		return s
	}
	var k skeleton
	if plain(s[at:]) {
		k = skeleton{text: s[at:]} // its own skeleton, byte for byte
	} else {
		k = skeletonOf(s[at:])
	}
	found := forgedTag.FindAllStringSubmatchIndex(k.text, -1)
	if found == nil {
		return s
	}
	var out strings.Builder
	out.Grow(len(s))
	last := 0
	for _, m := range found {
		for i := m[2]; i < m[3]; i++ {
			if k.text[i] != '<' {
				continue
			}
			from, _ := k.source(i)
			if from += at; from < last {
				continue // the same character again
			}
			// Only the bracket's first character changes ("&#60;" becomes
			// "[#60;"), so the text keeps its length in characters: the
			// match offsets of search highlights stay right.
			_, n := utf8.DecodeRuneInString(s[from:])
			out.WriteString(s[last:from])
			out.WriteByte('[')
			last = from + n
		}
	}
	out.WriteString(s[last:])
	return out.String()
}

// firstBracket is the index of the first character of s that reads as "<"
// (directly, as a look-alike, or escaped), or -1.
func firstBracket(s string) int {
	for i, r := range s {
		switch {
		case r == '<' || lookalikeBrackets[r]:
			return i
		case r == '&' || r == '\\' || r == '%':
			if e, _, ok := escaped(s[i:]); ok && (e == '<' || lookalikeBrackets[e]) {
				return i
			}
		}
	}
	return -1
}

// lookalikeBrackets are the characters other than "<" whose skeleton has
// a "<" (TestLookalikeBracketsComplete derives them from the tables).
var lookalikeBrackets = map[rune]bool{ // « ˂ ᐸ ᑄ ᑅ ᔌ ᚲ ‹ ≪ ≮ ⋖ ⋘ 〈 ❬ ❮ ❰ ⟨ ⟪ ⦉ ⧼ ⪥ Ⲵ 〈 《 く ぐ ㇛ ︽ ︿ ﹤ ＜ 𝈶 𡿨
	'\u00AB': true, '\u02C2': true, '\u1438': true, '\u1444': true, '\u1445': true, '\u150C': true,
	'\u16B2': true, '\u2039': true, '\u226A': true, '\u226E': true, '\u22D6': true, '\u22D8': true,
	'\u2329': true, '\u276C': true, '\u276E': true, '\u2770': true, '\u27E8': true, '\u27EA': true,
	'\u2989': true, '\u29FC': true, '\u2AA5': true, '\u2CB4': true, '\u3008': true, '\u300A': true,
	'\u304F': true, '\u3050': true, '\u31DB': true, '\uFE3D': true, '\uFE3F': true, '\uFE64': true,
	'\uFF1C': true, '\U0001D236': true, '\U00021FE8': true,
}

// plain says s is ASCII without anything that could start an escape: the
// common case, whose skeleton is s itself for forgedTag's purposes.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || c == '&' || c == '\\' || c == '%' {
			return false
		}
	}
	return true
}

// skeleton is a text as it reads. Only its brackets need to be traced
// back to the original: brackets[i] is the span of the original behind the
// "<" at byte i (nil: the text is the original itself).
type skeleton struct {
	text     string
	brackets map[int]span
}

type span struct{ from, to int }

// source is the span of the original behind the bracket at byte i.
func (k skeleton) source(i int) (int, int) {
	if k.brackets == nil {
		return i, i + 1
	}
	sp := k.brackets[i]
	return sp.from, sp.to
}

func skeletonOf(s string) skeleton {
	var b []byte
	brackets := map[int]span{}
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if e, en, ok := escaped(s[i:]); ok {
			r, n = e, en
		}
		start := len(b)
		b = appendLooks(b, r)
		for j := start; j < len(b); j++ {
			if b[j] == '<' {
				brackets[j] = span{i, i + n}
			}
		}
		i += n
	}
	return skeleton{text: string(b), brackets: brackets}
}

// appendLooks appends the skeleton of r to b.
func appendLooks(b []byte, r rune) []byte {
	if r < utf8.RuneSelf {
		return append(b, byte(unicode.ToLower(r)))
	}
	if invisible(r) {
		return b
	}
	for _, d := range norm.NFKD.String(string(r)) {
		switch {
		case d < utf8.RuneSelf:
			b = append(b, byte(unicode.ToLower(d)))
		case invisible(d):
		default:
			for _, c := range confusables.Skeleton(string(d)) {
				switch {
				case invisible(c):
				case angles[c]:
					b = append(b, '<')
				default:
					b = utf8.AppendRune(b, unicode.ToLower(c))
				}
			}
		}
	}
	return b
}

// invisible says r prints nothing, or nothing by itself.
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Mn, unicode.Me, unicode.Other_Default_Ignorable_Code_Point)
}

// escapeForm matches an escape that may spell one character at the start
// of a text: an HTML character reference (also escaped again as
// "&amp;…"; a named one needs its ";" except the legacy "&lt"), a JavaScript
// or JSON "\u…" or "\x…", or a URL's "%…".
var escapeForm = regexp.MustCompile(`^(?:&(?:amp;)*(?:#[0-9]{1,7};?|#[xX][0-9a-fA-F]{1,6};?|[A-Za-z][A-Za-z0-9]{1,31};|[lL][tT])` +
	`|\\u\{[0-9a-fA-F]{1,6}\}|\\u[0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}|%[0-9a-fA-F]{2})`)

// escaped decodes an escape at the start of s into the one character it
// spells, with the escape's length.
func escaped(s string) (rune, int, bool) {
	if s[0] != '&' && s[0] != '\\' && s[0] != '%' {
		return 0, 0, false
	}
	e := escapeForm.FindString(s)
	if e == "" {
		return 0, 0, false
	}
	var decoded string
	switch e[0] {
	case '&':
		ref := e[1:]
		for strings.HasPrefix(ref, "amp;") {
			ref = ref[len("amp;"):]
		}
		decoded = html.UnescapeString("&" + ref)
	case '%':
		decoded = hexRune(e[1:])
	default: // \u{…}, \u…, \x…
		decoded = hexRune(strings.Trim(e[2:], "{}"))
	}
	r, n := utf8.DecodeRuneInString(decoded)
	if n == 0 || n != len(decoded) || r == utf8.RuneError {
		return 0, 0, false
	}
	return r, len(e), true
}

func hexRune(h string) string {
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil || v > unicode.MaxRune {
		return ""
	}
	return string(rune(v))
}
