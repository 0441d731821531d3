package mcp

import (
	"slices"
	"testing"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/input"
)

// poll_events' types are declared in a tag, so a new desk event type must
// be added there too.
func TestPollEventsTypesAreTheDesks(t *testing.T) {
	t.Parallel()
	types := input.Declare[pollEventsArgs]().Schema().Properties["types"].(map[string]any)
	if got := types["items"].(map[string]any)["enum"].([]string); !slices.Equal(got, desk.EventTypes) {
		t.Errorf("poll_events types enum %v, desk.EventTypes %v", got, desk.EventTypes)
	}
}

// Every tool's steps read the input type its spec declared, and keyed
// tools are exactly those whose input holds an idempotency key.
func TestToolsAreDeclared(t *testing.T) {
	t.Parallel()
	s := &Server{}
	for _, tl := range slices.Concat(s.tools(), s.writeTools(), s.eventTools()) {
		_, hasKey := tl.def.InputSchema.Properties["idempotency_key"]
		if tl.keyed != hasKey {
			t.Errorf("%s: keyed %v, but idempotency_key in the schema: %v", tl.def.Name, tl.keyed, hasKey)
		}
		if tl.bind == nil || (tl.run == nil) == (tl.write == nil) {
			t.Errorf("%s: needs bind and exactly one of run and write", tl.def.Name)
		}
	}
}
