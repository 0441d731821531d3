package mcp

import (
	"context"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/input"
)

// Each tool declares its arguments once, as an input struct whose tags
// (see input.Decl) give the input schema tools/list shows, the parsing of
// a call's arguments and their checks. The pieces below are shared by
// several tools; an input struct embeds them.
type (
	// conversationRef names the conversation a tool works on.
	conversationRef struct {
		ConversationID int64 `json:"conversation_id" input:"required,id" desc:"The conversation id."`
	}
	// contactRef names the contact a tool works on.
	contactRef struct {
		ContactID int64 `json:"contact_id" input:"required,id" desc:"The contact id."`
	}
	// idempotent is the key of a write that acts once per key (see
	// keyed).
	idempotent struct {
		IdempotencyKey string `json:"idempotency_key" input:"required,max=200" desc:"A unique key for this action (e.g. a UUID). Retrying with the same key and arguments returns the first result and never acts twice."`
	}
	// pageCursor is the cursor of a paged list.
	pageCursor struct {
		Cursor string `json:"cursor" input:"max=200" desc:"Opaque cursor from a previous page's next_cursor; omit for the first page."`
	}
	// pageLimit is the page size of a list (0: the list's default).
	pageLimit struct {
		Limit int `json:"limit" input:"min=1,max=100" desc:"Page size, 1 to 100 (default 25)."`
	}
	// attributes are custom attributes to merge into an object's.
	attributes struct {
		CustomAttributes map[string]any `json:"custom_attributes" desc:"Attributes to merge in; a null value removes a key."`
	}
	// noArgs is the input of a tool that takes no arguments.
	noArgs struct{}
)

// keyed is the input of a write tool that takes an idempotency key.
type keyed interface{ idempotencyKey() string }

func (k idempotent) idempotencyKey() string { return k.IdempotencyKey }

// spec declares one tool with its input struct In: its name, its other
// options (description, hints, output schema) and its steps, each given
// the call and the input parsed from the call's arguments. tool() turns
// it into what the server registers.
type spec[In any] struct {
	name string
	opts []mcpgo.ToolOption
	// target loads the object a read's policy decides on (under RLS).
	target func(ctx context.Context, c *call, in *In) error
	// run is a read once allowed; write builds a write's desk command.
	run   func(ctx context.Context, c *call, in *In) (any, error)
	write func(c *call, in *In) (desk.Command, error)
	// touches names what a write's policy decides on: the desk reads it
	// in the write's own unit of work (desk.WriteDecided).
	touches func(in *In) desk.TargetRef
	// waits marks a tool that can hold its request open (a long-poll): its
	// decision runs off the request's stack (see onDeepStack).
	waits bool
}

// tool builds the tool: its input schema from In's declaration, and steps
// that read the call's input as the *In that bind parsed.
func (sp spec[In]) tool() tool {
	decl := input.Declare[In]()
	schema := decl.Schema()
	def := mcpgo.NewTool(sp.name, sp.opts...)
	def.InputSchema = mcpgo.ToolInputSchema{Type: "object", Properties: schema.Properties, Required: schema.Required}
	t := tool{def: def, waits: sp.waits}
	t.bind = func(args map[string]any) (any, error) { return decl.Bind(args) }
	_, t.keyed = any((*In)(nil)).(keyed)
	if sp.target != nil {
		t.target = func(ctx context.Context, c *call) error { return sp.target(ctx, c, c.in.(*In)) }
	}
	if sp.run != nil {
		t.run = func(ctx context.Context, c *call) (any, error) { return sp.run(ctx, c, c.in.(*In)) }
	}
	if sp.write != nil {
		t.write = func(c *call) (desk.Command, error) { return sp.write(c, c.in.(*In)) }
	}
	if sp.touches != nil {
		t.touches = func(c *call) desk.TargetRef { return sp.touches(c.in.(*In)) }
	}
	return t
}

// rfc3339 reads an optional RFC 3339 time argument ("" is none).
func rfc3339(field, s, example string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, fault.Invalidf(field, "%s must be an RFC 3339 time such as %s", field, example)
	}
	return &t, nil
}
