package mcp

import (
	"context"
	"errors"
	"slices"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/identity"
)

// MaxWait bounds a long-poll.
const MaxWait = 25 * time.Second

// pollEventsArgs is poll_events' input. Types' enum is desk.EventTypes
// (TestPollEventsTypesAreTheDesks).
type pollEventsArgs struct {
	Cursor      string   `json:"cursor" input:"max=300" desc:"next_cursor from the previous poll."`
	Limit       int      `json:"limit" input:"min=1,max=500" desc:"Events per page, 1 to 500 (default 100)."`
	WaitSeconds int      `json:"wait_seconds" input:"min=0,max=25" desc:"Wait up to this long for new events when there are none."`
	Types       []string `json:"types" input:"enum=conversation.created|conversation.updated|conversation.deleted|message.created|draft.created|draft.approved|draft.rejected|contact.created|contact.updated|contact.deleted" desc:"Only these event types."`
	Backfill    int      `json:"backfill" input:"min=0,max=500" desc:"Without a cursor: return the last N events instead of starting from now."`
}

func (s *Server) eventTools() []tool {
	return []tool{spec[pollEventsArgs]{
		name: "poll_events", opts: opts(readOnly("Poll the events feed"),
			mcpgo.WithDescription("Learn what changed without webhooks: returns events after the cursor, oldest first, and next_cursor to pass next time. Types: conversation.created, conversation.updated, conversation.deleted, message.created, draft.created, draft.approved, draft.rejected, contact.created, contact.updated, contact.deleted. Without a cursor it starts from now (or returns the last `backfill` events). With wait_seconds it waits for new events (long-poll). It never skips or repeats an event."),
			mcpgo.WithOutputSchema[desk.EventPage]()),
		run:   s.pollEvents,
		waits: true,
	}.tool()}
}

func (s *Server) pollEvents(ctx context.Context, c *call, in *pollEventsArgs) (any, error) {
	q := desk.EventQuery{Scope: c.scope(), Contacts: slices.Contains(c.p.Scopes, "contacts:read"),
		Cursor: in.Cursor, Limit: in.Limit, Backfill: in.Backfill, Types: in.Types}
	wait := in.WaitSeconds
	// A pause or revocation wakes the account's pollers; still ends this
	// one's wait then, and checks the token once the wait is over anyway:
	// the token was checked when the request arrived, up to MaxWait ago,
	// and a pause, revocation or expiry since must win over the events.
	still := func(ctx context.Context) error {
		err := identity.MCPTokenCheck(ctx, s.cfg.DB, c.p.AccountID, c.p.TokenID, s.cfg.Now())
		switch {
		case errors.Is(err, identity.ErrTokenPaused):
			return fault.New(fault.Forbidden, "", "this token was paused while the poll waited; its calls are refused until an admin resumes it on Settings → MCP server")
		case errors.Is(err, fault.ErrUnauthenticated):
			return fault.New(fault.Unauthenticated, "", "the token was revoked or expired while the poll waited; ask an admin for a new one")
		}
		return err
	}
	if wait > 0 {
		// While it waits, only a definite answer ends the poll: a database
		// out of reach (its listener reconnecting wakes every poller) is
		// waited out, as the poll itself does.
		q.Still = func(ctx context.Context) error {
			if err := still(ctx); errors.Is(err, fault.ErrForbidden) || errors.Is(err, fault.ErrUnauthenticated) {
				return err
			}
			return nil
		}
	}
	page, err := s.cfg.Desk.EventPollWait(ctx, c.req, q, time.Duration(wait)*time.Second, s.cfg.Now)
	if err != nil || wait == 0 {
		return page, err
	}
	if err := still(ctx); err != nil {
		return nil, err
	}
	return page, nil
}
