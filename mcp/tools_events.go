package mcp

import (
	"context"
	"errors"
	"slices"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/fault"
)

// MaxWait bounds a long-poll.
const MaxWait = 25 * time.Second

func (s *Server) eventTools() []tool {
	return []tool{{
		def: mcpgo.NewTool("poll_events", opts(readOnly("Poll the events feed"),
			mcpgo.WithDescription("Learn what changed without webhooks: returns events after the cursor, oldest first, and next_cursor to pass next time. Types: conversation.created, conversation.updated, conversation.deleted, message.created, draft.created, draft.approved, draft.rejected, contact.created, contact.updated, contact.deleted. Without a cursor it starts from now (or returns the last `backfill` events). With wait_seconds it waits for new events (long-poll). It never skips or repeats an event."),
			mcpgo.WithString("cursor", mcpgo.MaxLength(300), mcpgo.Description("next_cursor from the previous poll.")),
			mcpgo.WithInteger("limit", mcpgo.Min(1), mcpgo.Max(500), mcpgo.Description("Events per page, 1 to 500 (default 100).")),
			mcpgo.WithInteger("wait_seconds", mcpgo.Min(0), mcpgo.Max(25), mcpgo.Description("Wait up to this long for new events when there are none.")),
			mcpgo.WithArray("types", mcpgo.WithStringItems(mcpgo.Enum(desk.EventTypes...)), mcpgo.Description("Only these event types.")),
			mcpgo.WithInteger("backfill", mcpgo.Min(0), mcpgo.Max(500), mcpgo.Description("Without a cursor: return the last N events instead of starting from now.")),
			mcpgo.WithOutputSchema[desk.EventPage]())...),
		run:   s.pollEvents,
		waits: true,
	}}
}

func (s *Server) pollEvents(ctx context.Context, c *call) (any, error) {
	q := desk.EventQuery{Scope: c.scope(), Contacts: slices.Contains(c.p.Scopes, "contacts:read")}
	var err error
	if q.Cursor, err = argString(c.args, "cursor", 300, false); err != nil {
		return nil, err
	}
	if q.Limit, err = argInt(c.args, "limit", 1, 500); err != nil {
		return nil, err
	}
	if q.Backfill, err = argInt(c.args, "backfill", 0, 500); err != nil {
		return nil, err
	}
	if q.Types, err = argStrings(c.args, "types", len(desk.EventTypes), 40); err != nil {
		return nil, err
	}
	wait, err := argInt(c.args, "wait_seconds", 0, int(MaxWait/time.Second))
	if err != nil {
		return nil, err
	}
	page, err := s.cfg.Desk.EventPollWait(ctx, c.p.AccountID, q, time.Duration(wait)*time.Second, s.cfg.Now)
	if err != nil || wait == 0 {
		return page, err
	}
	// The token was checked when the request arrived, up to MaxWait ago: a
	// revocation or expiry since then must win over the events.
	if err := s.cfg.DB.MCPTokenCheck(ctx, c.p.AccountID, c.p.TokenID, s.cfg.Now()); err != nil {
		if !errors.Is(err, fault.ErrUnauthenticated) {
			return nil, err
		}
		return nil, fault.New(fault.Unauthenticated, "", "the token was revoked or expired while the poll waited; ask an admin for a new one")
	}
	return page, nil
}
