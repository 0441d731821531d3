package input

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/deskwoot/deskwoot/fault"
)

// An operation declares its input once, as a struct whose tags say what
// each field is; the schema a client reads (Schema), the parsing of a
// call's arguments (Bind) and the checks (Validate) all read the same tags:
//
//	json:"name"   the field's name in JSON, in the schema and in errors
//	desc:"…"      its description in the schema
//	input:"…"     comma-separated rules:
//	    required      must be given; a string must hold more than white space
//	    id            an integer id: 1 to 2^53
//	    min=N, max=N  an integer's bounds; a string's (or each string
//	                  item's) most characters (max)
//	    items=N       an array's most items
//	    enum=a|b|c    the values a string (or each string item) may take
//	    nullzero      an explicit null is given as the zero value (a pointer
//	                  field then points to ""), where absent leaves it nil
//	max:"N"       the short form of input:"max=N"
//
// A string without a max is bounded by MaxText, an array without items by
// MaxItems; map[string]any fields are custom attributes (Attributes).
// Field types: string, integers, bool, []string, map[string]any, pointers
// to the scalar ones (absent stays nil), and embedded structs, whose
// fields count as the outer struct's.

// MaxID is the largest id an integer argument may carry: JSON numbers are
// exact up to 2^53.
const MaxID = 1 << 53

// field is one declared field of an input struct.
type field struct {
	name     string
	index    []int
	typ      reflect.Type // the field's type, pointer removed
	pointer  bool
	desc     string
	required bool
	id       bool
	nullzero bool
	min, max *int
	items    int
	enum     []string
}

// Decl is the declaration of the input struct T, read from its tags once
// (Declare) and used for every call of the operation.
type Decl[T any] struct {
	fields []field
}

// Declare reads T's tags. A malformed tag is a programming error and
// panics, at start-up where declarations are made.
func Declare[T any]() *Decl[T] {
	return &Decl[T]{fields: fieldsOf(reflect.TypeFor[T]())}
}

// fieldsOf lists the declared fields of struct type t, embedded structs'
// fields in their place.
func fieldsOf(t reflect.Type) []field {
	if t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("input: %s is not a struct", t))
	}
	var out []field
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for _, inner := range fieldsOf(f.Type) {
				inner.index = append([]int{i}, inner.index...)
				out = append(out, inner)
			}
			continue
		}
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, parseField(name, f, i))
	}
	return out
}

func parseField(name string, f reflect.StructField, i int) field {
	fd := field{name: name, index: []int{i}, typ: f.Type, desc: f.Tag.Get("desc")}
	if fd.typ.Kind() == reflect.Pointer {
		fd.typ, fd.pointer = fd.typ.Elem(), true
	}
	num := func(rule, s string) *int {
		n, err := strconv.Atoi(s)
		if err != nil {
			panic(fmt.Sprintf("input: field %s has %s=%q, not a number", name, rule, s))
		}
		return &n
	}
	if s := f.Tag.Get("max"); s != "" {
		fd.max = num("max", s)
	}
	for _, rule := range strings.Split(f.Tag.Get("input"), ",") {
		key, val, _ := strings.Cut(rule, "=")
		switch key {
		case "":
		case "required":
			fd.required = true
		case "id":
			fd.id = true
		case "nullzero":
			fd.nullzero = true
		case "min":
			fd.min = num(key, val)
		case "max":
			fd.max = num(key, val)
		case "items":
			fd.items = *num(key, val)
		case "enum":
			fd.enum = strings.Split(val, "|")
		default:
			panic(fmt.Sprintf("input: field %s has an unknown rule %q", name, rule))
		}
	}
	if fd.id && !isInt(fd.typ) {
		panic(fmt.Sprintf("input: field %s is an id but not an integer", name))
	}
	return fd
}

func isInt(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return true
	}
	return false
}

func isStrings(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String
}

func isObject(t reflect.Type) bool {
	return t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && t.Elem().Kind() == reflect.Interface
}

// ObjectSchema is the JSON Schema of an input struct: an object with these
// properties, of which Required must be given.
type ObjectSchema struct {
	Properties map[string]any
	Required   []string
}

// Schema is T's JSON Schema. It says what Bind and Validate check, in
// JSON Schema's words: types, descriptions, required names, enums,
// minLength 1 for a required string, maxLength (in characters, as JSON
// Schema counts) where a max is declared, minimum and maximum, maxItems.
func (d *Decl[T]) Schema() ObjectSchema {
	s := ObjectSchema{Properties: map[string]any{}, Required: []string{}}
	for _, f := range d.fields {
		s.Properties[f.name] = f.schema()
		if f.required {
			s.Required = append(s.Required, f.name)
		}
	}
	return s
}

func (f field) schema() map[string]any {
	p := map[string]any{}
	if f.desc != "" {
		p["description"] = f.desc
	}
	text := func(p map[string]any) {
		p["type"] = "string"
		if f.max != nil {
			p["maxLength"] = *f.max
		}
		if len(f.enum) > 0 {
			p["enum"] = f.enum
		}
	}
	switch {
	case f.typ.Kind() == reflect.String:
		text(p)
		if f.required {
			p["minLength"] = 1
		}
	case isInt(f.typ):
		p["type"] = "integer"
		if f.id {
			p["minimum"] = 1
		}
		if f.min != nil {
			p["minimum"] = *f.min
		}
		if f.max != nil {
			p["maximum"] = *f.max
		}
	case f.typ.Kind() == reflect.Bool:
		p["type"] = "boolean"
	case isStrings(f.typ):
		p["type"] = "array"
		items := map[string]any{}
		text(items)
		p["items"] = items
		if f.items > 0 {
			p["maxItems"] = f.items
		}
	case isObject(f.typ):
		p["type"] = "object"
		p["properties"] = map[string]any{}
	default:
		panic(fmt.Sprintf("input: field %s has type %s, which has no schema", f.name, f.typ))
	}
	return p
}

// Bind reads a call's decoded JSON arguments into a new T, checking each
// declared field as it goes; the first failure is a fault.Invalid error
// naming its field. Arguments T does not declare are not refused, but are
// checked as any text is (names at most MaxAttrKey characters, strings
// MaxText, objects as custom attributes), so nothing unbounded passes.
func (d *Decl[T]) Bind(args map[string]any) (*T, error) {
	for name, v := range args {
		if err := Text("argument name", name, MaxAttrKey); err != nil {
			return nil, err
		}
		if slices.ContainsFunc(d.fields, func(f field) bool { return f.name == name }) {
			continue
		}
		if m, ok := v.(map[string]any); ok {
			if err := Attributes(name, m); err != nil {
				return nil, err
			}
		} else if err := Value(name, v, MaxText); err != nil {
			return nil, err
		}
	}
	out := new(T)
	dst := reflect.ValueOf(out).Elem()
	for _, f := range d.fields {
		v, ok := args[f.name]
		if ok && v == nil && f.nullzero {
			v = reflect.Zero(f.typ).Interface()
		}
		if !ok || v == nil {
			if f.required {
				return nil, fault.Invalidf(f.name, "%s is required", f.name)
			}
			continue
		}
		val, err := f.decode(v)
		if err != nil {
			return nil, err
		}
		if err := f.check(val); err != nil {
			return nil, err
		}
		to := dst.FieldByIndex(f.index)
		if f.pointer {
			p := reflect.New(f.typ)
			p.Elem().Set(val)
			val = p
		}
		to.Set(val)
	}
	return out, nil
}

// decode turns a decoded JSON value into a value of the field's type, or
// says what the field must be.
func (f field) decode(v any) (reflect.Value, error) {
	switch {
	case f.typ.Kind() == reflect.String:
		if s, ok := v.(string); ok {
			return reflect.ValueOf(s).Convert(f.typ), nil
		}
		return reflect.Value{}, fault.Invalidf(f.name, "%s must be a string", f.name)
	case isInt(f.typ):
		n, ok := integer(v)
		if !ok || (f.id && (n < 1 || n > MaxID)) {
			return reflect.Value{}, f.intError()
		}
		return reflect.ValueOf(n).Convert(f.typ), nil
	case f.typ.Kind() == reflect.Bool:
		if b, ok := v.(bool); ok {
			return reflect.ValueOf(b).Convert(f.typ), nil
		}
		return reflect.Value{}, fault.Invalidf(f.name, "%s must be true or false", f.name)
	case isStrings(f.typ):
		arr, ok := v.([]any)
		if !ok {
			return reflect.Value{}, fault.Invalidf(f.name, "%s must be an array of strings", f.name)
		}
		out := reflect.MakeSlice(f.typ, len(arr), len(arr))
		for i, x := range arr {
			s, ok := x.(string)
			if !ok {
				return reflect.Value{}, fault.Invalidf(f.name, "%s must be an array of strings", f.name)
			}
			out.Index(i).SetString(s)
		}
		return out, nil
	case isObject(f.typ):
		if m, ok := v.(map[string]any); ok {
			return reflect.ValueOf(m).Convert(f.typ), nil
		}
		return reflect.Value{}, fault.Invalidf(f.name, "%s must be an object", f.name)
	}
	return reflect.Value{}, fault.Invalidf(f.name, "%s has a type this server cannot read", f.name)
}

// integer reads a JSON number that is a whole number within int64.
func integer(v any) (int64, bool) {
	switch x := v.(type) {
	case float64:
		if x != math.Trunc(x) || x < math.MinInt64 || x >= math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	case int:
		return int64(x), true
	case int64:
		return x, true
	}
	return 0, false
}

func (f field) intError() error {
	switch {
	case f.id:
		return fault.Invalidf(f.name, "%s must be a positive integer id", f.name)
	case f.min != nil && f.max != nil:
		return fault.Invalidf(f.name, "%s must be an integer from %d to %d", f.name, *f.min, *f.max)
	case f.min != nil:
		return fault.Invalidf(f.name, "%s must be an integer of at least %d", f.name, *f.min)
	case f.max != nil:
		return fault.Invalidf(f.name, "%s must be an integer of at most %d", f.name, *f.max)
	}
	return fault.Invalidf(f.name, "%s must be an integer", f.name)
}

// check applies the field's rules to a value of its type (pointer removed).
func (f field) check(v reflect.Value) error {
	switch {
	case f.typ.Kind() == reflect.String:
		return f.checkText(f.name, v.String(), f.required)
	case isInt(f.typ):
		n := v.Int()
		if (f.id && (n < 1 || n > MaxID)) || (f.min != nil && n < int64(*f.min)) || (f.max != nil && n > int64(*f.max)) {
			return f.intError()
		}
	case isStrings(f.typ):
		limit := MaxItems
		if f.items > 0 {
			limit = f.items
		}
		if v.Len() > limit {
			return fault.Invalidf(f.name, "%s holds at most %d items", f.name, limit)
		}
		for i := 0; i < v.Len(); i++ {
			if err := f.checkText(f.name+"["+strconv.Itoa(i)+"]", v.Index(i).String(), false); err != nil {
				return err
			}
		}
	case isObject(f.typ):
		m, _ := v.Interface().(map[string]any)
		if m == nil {
			m = v.Convert(reflect.TypeFor[map[string]any]()).Interface().(map[string]any)
		}
		return Attributes(f.name, m)
	}
	return nil
}

// checkText checks one string of the field (the field itself or an item):
// Text with the declared max (else MaxText), more than white space when
// required, one of the enum when there is one and it is not empty. The error names the field
// as the caller sent it.
func (f field) checkText(name, s string, required bool) error {
	max := MaxText
	if f.max != nil {
		max = *f.max
	}
	var err error
	if required {
		err = Required(name, s, max)
	} else {
		err = Text(name, s, max)
	}
	if err != nil {
		return err
	}
	if len(f.enum) > 0 && s != "" && !slices.Contains(f.enum, s) { // "" is an optional string not given
		return fault.Invalidf(name, "%s must be one of %s", name, strings.Join(f.enum, ", "))
	}
	return nil
}

// Validate checks a T filled some other way (a REST body decoded, a form
// read) as Bind checks arguments: a nil pointer or a zero number counts as
// absent, an error only for a required field.
func (d *Decl[T]) Validate(v *T) error {
	root := reflect.ValueOf(v).Elem()
	for _, f := range d.fields {
		fv := root.FieldByIndex(f.index)
		if f.pointer {
			if fv.IsNil() {
				if f.required {
					return fault.Invalidf(f.name, "%s is required", f.name)
				}
				continue
			}
			fv = fv.Elem()
		} else if fv.IsZero() && f.typ.Kind() != reflect.String {
			if f.required {
				return fault.Invalidf(f.name, "%s is required", f.name)
			}
			continue
		}
		if err := f.check(fv); err != nil {
			return err
		}
	}
	return nil
}
