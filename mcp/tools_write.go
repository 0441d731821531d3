package mcp

import (
	"context"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/deskwoot/deskwoot/desk"
)

// DefaultIdempotencyTTL is how long a key remembers its first result.
const DefaultIdempotencyTTL = desk.DefaultIdempotencyTTL

// Output shapes of the write tools: the results of the desk's commands
// (what a replay returns too), and the drafts list.
type (
	replyOut        = desk.ReplyResult
	messageOut      = desk.MessageResult
	draftOut        = desk.DraftResult
	conversationOut = desk.ConversationResult
	escalateOut     = desk.EscalationResult
	contactOut      = desk.ContactResult
	contactNoteOut  = desk.ContactNoteResult
	startOut        = desk.OutreachResult
	draftsOut       struct {
		Drafts     []desk.Draft `json:"drafts"`
		NextCursor *string      `json:"next_cursor"`
	}
)

// writeHints: writes never destroy; idempotent when a key makes them so.
func writeHints(title string, idempotent bool) []mcpgo.ToolOption {
	return []mcpgo.ToolOption{
		mcpgo.WithTitleAnnotation(title), mcpgo.WithToolTitle(title),
		mcpgo.WithReadOnlyHintAnnotation(false), mcpgo.WithDestructiveHintAnnotation(false),
		mcpgo.WithIdempotentHintAnnotation(idempotent), mcpgo.WithOpenWorldHintAnnotation(false),
	}
}

// Input structs of the write tools (see args.go).
type (
	replyArgs struct {
		conversationRef
		Content string `json:"content" input:"required,max=100000" desc:"The reply text the customer will read."`
		idempotent
	}
	noteArgs struct {
		conversationRef
		Content string `json:"content" input:"required,max=100000" desc:"The note text."`
		idempotent
	}
	draftArgs struct {
		conversationRef
		Content   string `json:"content" input:"required,max=100000" desc:"The proposed reply."`
		Rationale string `json:"rationale" input:"max=2000" desc:"Why this reply; shown to the reviewer."`
		idempotent
	}
	listDraftsArgs struct {
		Status string `json:"status" input:"enum=pending|approved|rejected" desc:"Only drafts in this status."`
		pageCursor
	}
	updateConversationArgs struct {
		conversationRef
		Status       string   `json:"status" input:"enum=open|pending|resolved|snoozed"`
		Priority     string   `json:"priority" input:"enum=none|low|medium|high|urgent"`
		AddLabels    []string `json:"add_labels" input:"items=20,max=50" desc:"Labels to add."`
		RemoveLabels []string `json:"remove_labels" input:"items=20,max=50" desc:"Labels to remove."`
		attributes
		SnoozedUntil string `json:"snoozed_until" input:"max=40" desc:"RFC 3339 time in the future; snoozes the conversation until then."`
	}
	assignArgs struct {
		conversationRef
		AssigneeID int64 `json:"assignee_id" input:"id" desc:"A user id from list_team."`
		TeamID     int64 `json:"team_id" input:"id" desc:"A team id from list_team."`
	}
	escalateArgs struct {
		conversationRef
		Reason   string `json:"reason" input:"required,max=2000" desc:"Why a person is needed."`
		Priority string `json:"priority" input:"enum=none|low|medium|high|urgent"`
		TeamID   int64  `json:"team_id" input:"id" desc:"The team to hand it to."`
	}
	// contactFields are a contact's own fields; a field not given stays as
	// it is, an empty or null one is cleared.
	contactFields struct {
		Name  *string `json:"name" input:"max=200,nullzero"`
		Email *string `json:"email" input:"max=200,nullzero"`
		Phone *string `json:"phone" input:"max=200,nullzero"`
	}
	createContactArgs struct {
		contactFields
		Identifier *string `json:"identifier" input:"max=200,nullzero"`
		attributes
		InboxID int64 `json:"inbox_id" input:"id" desc:"The inbox to link the contact to."`
		idempotent
	}
	updateContactArgs struct {
		contactRef
		contactFields
		attributes
	}
	contactNoteArgs struct {
		contactRef
		Content string `json:"content" input:"required,max=10000"`
		idempotent
	}
	startConversationArgs struct {
		InboxID int64 `json:"inbox_id" input:"required,id" desc:"The inbox (channel) to write from."`
		contactRef
		Content string `json:"content" input:"required,max=100000" desc:"The first message."`
		Subject string `json:"subject" input:"max=300" desc:"Subject (email inboxes)."`
		idempotent
	}
)

// writeTools lists the tools that change things.
func (s *Server) writeTools() []tool {
	return []tool{
		withCard(spec[replyArgs]{
			name: "reply_to_conversation", opts: append(writeHints("Reply to the customer", true),
				mcpgo.WithDescription("Send a reply to the customer on the conversation's own channel (email, the website's chat widget, or the api inbox's webhook). If this token requires approval, the reply becomes a draft for a human to approve instead (pending_approval: true) and nothing reaches the customer."),
				mcpgo.WithOutputSchema[replyOut]()),
			touches: func(in *replyArgs) desk.TargetRef { return desk.TargetRef{ConversationID: in.ConversationID} },
			write:   s.reply,
		}.tool()),
		spec[noteArgs]{
			name: "add_private_note", opts: append(writeHints("Add a private note", true),
				mcpgo.WithDescription("Add an internal note to a conversation. Only people in the help desk see it, never the customer."),
				mcpgo.WithOutputSchema[messageOut]()),
			touches: func(in *noteArgs) desk.TargetRef { return desk.TargetRef{ConversationID: in.ConversationID} },
			write:   s.note,
		}.tool(),
		withCard(spec[draftArgs]{
			name: "draft_reply", opts: append(writeHints("Draft a reply for approval", true),
				mcpgo.WithDescription("Propose a reply that waits for a human to approve, edit or reject it. Use it when unsure; check the outcome with list_drafts."),
				mcpgo.WithOutputSchema[draftOut]()),
			touches: func(in *draftArgs) desk.TargetRef { return desk.TargetRef{ConversationID: in.ConversationID} },
			write:   s.draft,
		}.tool()),
		spec[listDraftsArgs]{
			name: "list_drafts", opts: opts(readOnly("List my drafts"),
				mcpgo.WithDescription("List the drafts this token made and their outcome (pending, approved, rejected), newest first."),
				mcpgo.WithOutputSchema[draftsOut]()),
			run: s.listDrafts,
		}.tool(),
		spec[updateConversationArgs]{
			name: "update_conversation", opts: append(writeHints("Update a conversation", true),
				mcpgo.WithDescription("Change a conversation's status (open, pending, resolved, snoozed with snoozed_until), priority, labels (existing labels only; see list_labels) or custom attributes."+untrustedNote),
				mcpgo.WithOutputSchema[conversationOut]()),
			touches: func(in *updateConversationArgs) desk.TargetRef {
				return desk.TargetRef{ConversationID: in.ConversationID}
			},
			write: s.updateConversation,
		}.tool(),
		spec[assignArgs]{
			name: "assign_conversation", opts: append(writeHints("Assign a conversation", true),
				mcpgo.WithDescription("Assign a conversation to a person (assignee_id) and/or a team (team_id); see list_team for ids."+untrustedNote),
				mcpgo.WithOutputSchema[conversationOut]()),
			touches: func(in *assignArgs) desk.TargetRef { return desk.TargetRef{ConversationID: in.ConversationID} },
			write:   s.assign,
		}.tool(),
		spec[escalateArgs]{
			name: "escalate_to_human", opts: append(writeHints("Escalate to a human", false),
				mcpgo.WithDescription("Hand the conversation to people: it is reopened, assigned to the team (or unassigned from the agent), its priority raised (to at least high unless given), and a private note records the reason."+untrustedNote),
				mcpgo.WithOutputSchema[escalateOut]()),
			touches: func(in *escalateArgs) desk.TargetRef { return desk.TargetRef{ConversationID: in.ConversationID} },
			write:   s.escalate,
		}.tool(),
		spec[createContactArgs]{
			name: "create_contact", opts: append(writeHints("Create a contact", true),
				mcpgo.WithDescription("Create a customer record. A token limited to some inboxes must name one of them in inbox_id; the contact is linked to it."+untrustedNote),
				mcpgo.WithOutputSchema[contactOut]()),
			touches: func(in *createContactArgs) desk.TargetRef { return desk.TargetRef{InboxID: in.InboxID} },
			write:   s.createContact,
		}.tool(),
		spec[updateContactArgs]{
			name: "update_contact", opts: append(writeHints("Update a contact", true),
				mcpgo.WithDescription("Change a customer's name, email, phone or custom attributes (merged; a null value removes a key)."+untrustedNote),
				mcpgo.WithOutputSchema[contactOut]()),
			touches: func(in *updateContactArgs) desk.TargetRef { return desk.TargetRef{ContactID: in.ContactID} },
			write:   s.updateContact,
		}.tool(),
		spec[contactNoteArgs]{
			name: "add_contact_note", opts: append(writeHints("Add a note to a contact", true),
				mcpgo.WithDescription("Add an internal note to a customer record."),
				mcpgo.WithOutputSchema[contactNoteOut]()),
			touches: func(in *contactNoteArgs) desk.TargetRef { return desk.TargetRef{ContactID: in.ContactID} },
			write:   s.contactNote,
		}.tool(),
		withCard(spec[startConversationArgs]{
			name: "start_conversation", opts: append(writeHints("Start an outbound conversation", true),
				mcpgo.WithDescription("Start a new conversation with one contact in an inbox and send the first message. One contact per call. If this token requires approval, it becomes a draft for a human instead."+untrustedNote),
				mcpgo.WithOutputSchema[startOut]()),
			touches: func(in *startConversationArgs) desk.TargetRef {
				return desk.TargetRef{ContactID: in.ContactID, InboxID: in.InboxID}
			},
			write: s.startConversation,
		}.tool()),
	}
}

// author is the agent as the sender of what this token writes.
func (c *call) author() desk.Author {
	return desk.Author{Kind: "agent", UserID: c.p.ServiceUserID, Name: c.p.TokenName, TokenID: c.p.TokenID}
}

func (s *Server) reply(c *call, in *replyArgs) (desk.Command, error) {
	return desk.Reply{ConversationID: c.target.ConversationID, Content: in.Content, By: c.author(), NeedsApproval: c.decision.DraftOnly}, nil
}

func (s *Server) note(c *call, in *noteArgs) (desk.Command, error) {
	return desk.Note{ConversationID: c.target.ConversationID, Content: in.Content, By: c.author()}, nil
}

func (s *Server) draft(c *call, in *draftArgs) (desk.Command, error) {
	return desk.DraftReply{ConversationID: c.target.ConversationID, Content: in.Content, Rationale: in.Rationale, By: c.author()}, nil
}

func (s *Server) listDrafts(ctx context.Context, c *call, in *listDraftsArgs) (any, error) {
	ds, next, err := s.cfg.Desk.DraftList(ctx, c.req, desk.DraftFilter{Status: in.Status, TokenID: c.p.TokenID, Scope: c.scope(), Cursor: in.Cursor})
	return draftsOut{Drafts: ds, NextCursor: next}, err
}

func (s *Server) updateConversation(c *call, in *updateConversationArgs) (desk.Command, error) {
	p := desk.ConversationPatch{Status: given(in.Status), Priority: given(in.Priority),
		AddLabels: in.AddLabels, RemoveLabels: in.RemoveLabels, CustomAttributes: in.CustomAttributes}
	var err error
	if p.SnoozedUntil, err = rfc3339("snoozed_until", in.SnoozedUntil, "2026-12-01T09:00:00Z"); err != nil {
		return nil, err
	}
	return desk.ConversationEdit{ConversationID: c.target.ConversationID, Patch: p, Now: s.cfg.Now()}, nil
}

// given is an optional string argument as the desk takes it: nil when it
// was not given (or empty).
func given(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (s *Server) assign(c *call, in *assignArgs) (desk.Command, error) {
	return desk.Assignment{ConversationID: c.target.ConversationID, AssigneeID: in.AssigneeID, TeamID: in.TeamID}, nil
}

func (s *Server) escalate(c *call, in *escalateArgs) (desk.Command, error) {
	return desk.Escalation{ConversationID: c.target.ConversationID, Reason: in.Reason, Priority: in.Priority, TeamID: in.TeamID, By: c.author()}, nil
}

func (s *Server) createContact(c *call, in *createContactArgs) (desk.Command, error) {
	return desk.ContactNew{Input: desk.ContactInput{Name: in.Name, Email: in.Email, Phone: in.Phone, Identifier: in.Identifier,
		CustomAttributes: in.CustomAttributes}, InboxID: c.target.InboxID, By: c.author()}, nil
}

func (s *Server) updateContact(c *call, in *updateContactArgs) (desk.Command, error) {
	return desk.ContactEdit{ContactID: c.target.ContactID, Input: desk.ContactInput{Name: in.Name, Email: in.Email, Phone: in.Phone,
		CustomAttributes: in.CustomAttributes}, Scope: c.scope()}, nil
}

func (s *Server) contactNote(c *call, in *contactNoteArgs) (desk.Command, error) {
	return desk.ContactNoteNew{ContactID: c.target.ContactID, Content: in.Content, By: c.author()}, nil
}

func (s *Server) startConversation(c *call, in *startConversationArgs) (desk.Command, error) {
	return desk.Outreach{InboxID: c.target.InboxID, ContactID: c.target.ContactID, Subject: in.Subject, Content: in.Content,
		By: c.author(), NeedsApproval: c.decision.DraftOnly}, nil
}
