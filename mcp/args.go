package mcp

import (
	"fmt"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/deskwoot/deskwoot/input"
)

// checkArgs puts every argument of a call through the input layer with
// the bounds the tool's input schema declares (maxLength, maxItems and the
// items' maxLength), so the schema a client reads is also the one
// declaration of what is accepted. Strings the schema does not bound get
// input.MaxText; objects are custom attributes (input.Attributes);
// arguments no schema names are still checked as JSON values. It runs before
// the target is loaded or the policy asked, so bad text never reaches the
// database.
func checkArgs(def mcpgo.Tool, args map[string]any) error {
	for name, v := range args {
		if err := input.Text("argument name", name, input.MaxAttrKey); err != nil {
			return err
		}
		schema, _ := def.InputSchema.Properties[name].(map[string]any)
		if err := checkArg(name, schema, v); err != nil {
			return err
		}
	}
	return nil
}

func checkArg(name string, schema map[string]any, v any) error {
	switch x := v.(type) {
	case string:
		return input.Text(name, x, bound(schema, "maxLength", input.MaxText))
	case []any:
		if n := bound(schema, "maxItems", input.MaxItems); len(x) > n {
			return badArg("%s holds at most %d items", name, n)
		}
		items, _ := schema["items"].(map[string]any)
		for i, e := range x {
			if err := checkArg(fmt.Sprintf("%s[%d]", name, i), items, e); err != nil {
				return err
			}
		}
	case map[string]any:
		return input.Attributes(name, x)
	}
	return nil
}

// bound reads a numeric schema keyword, or def when the schema has none.
func bound(schema map[string]any, key string, def int) int {
	switch n := schema[key].(type) {
	case int:
		return n
	case float64:
		return int(n)
	}
	return def
}
