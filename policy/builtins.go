package policy

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Which of OPA's builtins account rules (and their tests) may call.
//
// The list is an allowlist, so that a builtin added by an OPA upgrade is
// refused until someone has read what it does. A rule of an account only
// reads input and takes access away, so it needs comparisons, strings,
// regular expressions, sets, numbers and time; nothing that reaches out or
// that can build a huge value from small arguments in a single call. A
// context deadline does not interrupt one builtin call (OPA checks it
// between evaluation steps), so those are refused by name at submission
// instead, with the line that calls them:
//
//   - bits.lsh, numbers.range, numbers.range_step: 2^n bits or n numbers
//     from two small numbers (bits.lsh(1, 9223372036854775807) crashed the
//     server: makeslice out of range).
//   - replace, strings.replace_n, regex.replace: every match (an empty
//     pattern matches between every two characters) becomes a copy of the
//     replacement: the product of two inputs.
//   - array.concat, array.flatten, json.marshal, yaml.marshal, walk,
//     graph.reachable_paths, strings.render_template: they copy or unfold
//     values that share parts ([x, x] holds x twice), so a value built in a
//     few steps unfolds to 2^steps in one call.
//   - format_int: a big number becomes all its digits.
//   - yaml.unmarshal, graphql.*, crypto.x509.*, crypto.parse_private_keys,
//     io.jwt.*, json.match_schema and friends: parsers and verifiers with a
//     large or unbounded cost per call that a rule about tool calls does
//     not need.
//   - sprintf stays, because reasons are written with it, but its format
//     must be a string literal with widths and precisions of at most
//     maxSprintfWidth: `sprintf("%.999999999f", [1])` is a gigabyte.
//
// What remains can still loop (comprehensions, `some … in`, `every`) and
// can still grow a value step by step; the evaluation's deadline interrupts
// it between steps.
var tenantBuiltins = map[string]bool{
	// Operators and keywords.
	"and": true, "or": true, "assign": true, "eq": true, "equal": true, "neq": true,
	"gt": true, "gte": true, "lt": true, "lte": true,
	"plus": true, "minus": true, "mul": true, "div": true, "rem": true,
	"internal.member_2": true, "internal.member_3": true, "internal.template_string": true,
	// print is stripped by the compiler; the name check below refuses it.
	"internal.print": true,
	// Numbers and aggregates.
	"abs": true, "ceil": true, "floor": true, "round": true, "to_number": true,
	"units.parse": true, "units.parse_bytes": true,
	"count": true, "sum": true, "product": true, "max": true, "min": true, "sort": true,
	"bits.and": true, "bits.or": true, "bits.xor": true, "bits.negate": true, "bits.rsh": true,
	// Collections.
	"array.slice": true, "array.reverse": true,
	"intersection": true, "union": true,
	"object.get": true, "object.keys": true, "object.filter": true, "object.remove": true,
	"object.subset": true, "object.union": true, "object.union_n": true,
	// Types.
	"is_array": true, "is_boolean": true, "is_null": true, "is_number": true,
	"is_object": true, "is_set": true, "is_string": true, "type_name": true,
	// Strings.
	"concat": true, "contains": true, "startswith": true, "endswith": true,
	"indexof": true, "indexof_n": true, "lower": true, "upper": true,
	"split": true, "strings.split_n": true, "strings.count": true, "strings.reverse": true,
	"strings.any_prefix_match": true, "strings.any_suffix_match": true, "substring": true,
	"trim": true, "trim_left": true, "trim_right": true, "trim_prefix": true,
	"trim_suffix": true, "trim_space": true, "sprintf": true,
	// Patterns (Go's regexp runs in linear time).
	"regex.match": true, "re_match": true, "regex.is_valid": true, "regex.find_n": true,
	"regex.find_all_string_submatch_n": true, "regex.split": true,
	"glob.match": true, "glob.quote_meta": true,
	// Time, from input.now (time.now_ns is not deterministic).
	"time.parse_rfc3339_ns": true, "time.parse_ns": true, "time.parse_duration_ns": true,
	"time.date": true, "time.clock": true, "time.weekday": true, "time.add_date": true,
	"time.diff": true, "time.format": true,
	// Encodings and digests whose output is at most a few times the input.
	"base64.encode": true, "base64.decode": true, "base64.is_valid": true,
	"base64url.encode": true, "base64url.encode_no_pad": true, "base64url.decode": true,
	"hex.encode": true, "hex.decode": true,
	"urlquery.encode": true, "urlquery.decode": true, "urlquery.encode_object": true, "urlquery.decode_object": true,
	"uri.is_valid": true, "json.is_valid": true, "json.unmarshal": true,
	"crypto.md5": true, "crypto.sha1": true, "crypto.sha256": true,
	"crypto.hmac.md5": true, "crypto.hmac.sha1": true, "crypto.hmac.sha256": true,
	"crypto.hmac.sha512": true, "crypto.hmac.equal": true,
	"semver.compare": true, "semver.is_valid": true, "uuid.parse": true,
}

// refusedBuiltins say, for the builtins an author is likely to reach for,
// why they are refused. Any other builtin outside tenantBuiltins is
// refused as "not available to account rules".
var refusedBuiltins = map[string]string{
	"bits.lsh":                  "it can build a huge number in one call",
	"numbers.range":             "it can build a huge array in one call; iterate over input or a literal array instead",
	"numbers.range_step":        "it can build a huge array in one call; iterate over input or a literal array instead",
	"replace":                   "its output can be the product of its inputs' sizes",
	"strings.replace_n":         "its output can be the product of its inputs' sizes",
	"regex.replace":             "its output can be the product of its inputs' sizes",
	"array.concat":              "it can unfold a value that shares parts into a huge one in one call",
	"array.flatten":             "it can unfold a value that shares parts into a huge one in one call",
	"json.marshal":              "it can unfold a value that shares parts into a huge one in one call",
	"json.marshal_with_options": "it can unfold a value that shares parts into a huge one in one call",
	"yaml.marshal":              "it can unfold a value that shares parts into a huge one in one call",
	"walk":                      "it can unfold a value that shares parts into a huge one in one call",
	"graph.reachable_paths":     "it can unfold a value that shares parts into a huge one in one call",
	"strings.render_template":   "a template can expand far beyond its inputs",
	"format_int":                "a big number becomes all its digits",
	"yaml.unmarshal":            "YAML aliases expand far beyond the input",
	"http.send":                 "no network access",
	"opa.runtime":               "no access to the runtime",
	"trace":                     "no access to the runtime",
	"print":                     "no access to the runtime",
}

// maxSprintfWidth bounds a width or precision in a sprintf format.
const maxSprintfWidth = 99

// forbiddenBuiltin says why a builtin is not available to account rules,
// or "" when it is.
func forbiddenBuiltin(name string) string {
	if why, ok := refusedBuiltins[name]; ok {
		return why
	}
	switch {
	case strings.HasPrefix(name, "net."):
		return "no network access"
	case strings.HasPrefix(name, "rego."):
		return "no access to the runtime"
	}
	if b, ok := ast.BuiltinMap[name]; ok && b.Nondeterministic {
		return "not deterministic; read the time from input.now"
	}
	if !tenantBuiltins[name] {
		return "it is not available to account rules"
	}
	return ""
}

// sprintfVerb matches one verb of a Go format: flags, width, precision.
var sprintfVerb = regexp.MustCompile(`%[-+# 0]*(\[\d+\])?(\d+|\*)?(?:\.(\d+|\*)?)?`)

// checkSprintf refuses a sprintf whose format is not a string literal or
// asks for a width or precision above maxSprintfWidth.
func checkSprintf(call []*ast.Term) string {
	if len(call) < 2 {
		return ""
	}
	format, ok := call[1].Value.(ast.String)
	if !ok {
		return "its format must be a string literal in account rules"
	}
	for _, m := range sprintfVerb.FindAllStringSubmatch(strings.ReplaceAll(string(format), "%%", ""), -1) {
		for _, n := range m[2:] {
			if n == "*" {
				return "a width or precision must be written in the format, not passed as an argument"
			}
			if w, err := strconv.Atoi(n); n != "" && (err != nil || w > maxSprintfWidth) {
				return "widths and precisions are at most " + strconv.Itoa(maxSprintfWidth)
			}
		}
	}
	return ""
}
