// Package input is the one input layer of both doors. Every text a caller
// sends (a JSON body field, a query parameter, an MCP tool argument, a
// custom attribute nested in either) passes here before the domain sees it:
// it must be valid UTF-8, hold no NUL character (PostgreSQL refuses NUL in
// text), and be at most a documented number of characters. A failure is a
// fault.Invalid error naming the field, which the doors answer as 400 or as
// a tool error.
package input

import (
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/deskwoot/deskwoot/fault"
)

// The documented maximums, in characters (README, "Input limits").
const (
	MaxName        = 200    // names of contacts, people, teams, inboxes, accounts; identifiers, phones, source ids
	MaxEmail       = 254    // an email address (RFC 5321's path limit)
	MaxLabel       = 50     // a label name
	MaxDescription = 1000   // label and team descriptions
	MaxKey         = 200    // idempotency keys
	MaxQuery       = 500    // search queries, filters, cursors: any query parameter
	MaxContent     = 100000 // message, draft and approval bodies
	MaxNote        = 10000  // contact notes
	MaxShortCode   = 50     // a canned response's short code
	MaxCanned      = 10000  // a canned response's content
	MaxArticle     = 200000 // help-center article bodies
	MaxText        = 1000   // any other text field without a limit of its own
	MaxPassword    = 72     // bcrypt reads no more
	MaxAttrKeys    = 50     // keys in a custom_attributes object
	MaxAttrKey     = 100    // characters in one custom attribute key
	MaxAttrText    = 10000  // characters in one custom attribute string
	MaxDepth       = 8      // nesting of objects and arrays inside a JSON value
	MaxItems       = 100    // items in any array inside a JSON value
)

// Text checks one text field: valid UTF-8, no NUL, at most max characters.
func Text(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return fault.Invalidf(field, "%s must be valid UTF-8 text", field)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return fault.Invalidf(field, "%s must not contain NUL characters (\\u0000)", field)
	}
	if len(s) > max && utf8.RuneCountInString(s) > max { // len bounds the count from above: count only when it could exceed
		return fault.Invalidf(field, "%s is at most %d characters", field, max)
	}
	return nil
}

// Required is Text for a field that must hold more than white space.
func Required(field, s string, max int) error {
	if strings.TrimSpace(s) == "" {
		return fault.Invalidf(field, "%s must not be empty", field)
	}
	return Text(field, s, max)
}

// Email checks an email address field: Text with MaxEmail, one @ with
// something on both sides, no spaces or angle brackets.
func Email(field, s string) error {
	if err := Text(field, s, MaxEmail); err != nil {
		return err
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.ContainsAny(s, " \t\r\n<>,;") {
		return fault.Invalidf(field, "%s must be an address like name@example.com", field)
	}
	return nil
}

// Value checks a decoded JSON value of any shape (custom attributes,
// channel settings, tool arguments no schema describes): every key and
// string inside is Text with maxString characters (keys MaxAttrKey), and
// nesting and array sizes are bounded.
func Value(field string, v any, maxString int) error {
	return value(field, v, maxString, 0)
}

func value(field string, v any, maxString, depth int) error {
	if depth > MaxDepth {
		return fault.Invalidf(field, "%s nests deeper than %d levels", field, MaxDepth)
	}
	switch x := v.(type) {
	case string:
		return Text(field, x, maxString)
	case map[string]any:
		for k, e := range x {
			if err := Text(field+" key", k, MaxAttrKey); err != nil {
				return err
			}
			if err := value(field+"."+k, e, maxString, depth+1); err != nil {
				return err
			}
		}
	case []any:
		if len(x) > MaxItems {
			return fault.Invalidf(field, "%s holds at most %d items", field, MaxItems)
		}
		for i, e := range x {
			if err := value(field+"["+strconv.Itoa(i)+"]", e, maxString, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// Attributes checks a custom_attributes object: at most MaxAttrKeys keys
// and Value with MaxAttrText.
func Attributes(field string, m map[string]any) error {
	if len(m) > MaxAttrKeys {
		return fault.Invalidf(field, "%s holds at most %d keys", field, MaxAttrKeys)
	}
	return Value(field, m, MaxAttrText)
}

// Struct checks every text inside a decoded request body: each string
// field (also behind pointers, in slices, maps and nested structs) is Text
// with the limit of its max (a `max:"N"` or `input:"max=N"` tag, see
// Decl), or MaxText without one, and is
// named by its JSON path ("contact.email"). Fields of type map[string]any
// or any are checked with Value. The REST door runs it on every body, so a
// new field is bounded the day it is added.
func Struct(v any) error {
	return walk("", reflect.ValueOf(v), MaxText)
}

func walk(path string, v reflect.Value, max int) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		if v.Kind() == reflect.Interface {
			return Value(path, v.Interface(), max)
		}
		return walk(path, v.Elem(), max)
	case reflect.String:
		return Text(path, v.String(), max)
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return nil // raw bytes (json.RawMessage) are not text
		}
		for i := 0; i < v.Len(); i++ {
			if err := walk(path+"["+strconv.Itoa(i)+"]", v.Index(i), max); err != nil {
				return err
			}
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return nil
		}
		if v.Type().Elem().Kind() == reflect.Interface {
			return Value(path, v.Interface(), max)
		}
		for it := v.MapRange(); it.Next(); {
			if err := Text(path+" key", it.Key().String(), MaxAttrKey); err != nil {
				return err
			}
			if err := walk(path+"."+it.Key().String(), it.Value(), max); err != nil {
				return err
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("json"), ",")[0]
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				// An embedded struct's fields are the outer struct's, as in JSON.
				if err := walk(path, v.Field(i), max); err != nil {
					return err
				}
				continue
			}
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if path != "" {
				name = path + "." + name
			}
			limit := MaxText
			if fd := parseField(name, f, i); fd.max != nil {
				limit = *fd.max
			}
			if err := walk(name, v.Field(i), limit); err != nil {
				return err
			}
		}
	}
	return nil
}
