package mcp

import (
	"context"
	"time"

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

var (
	keyArg = mcpgo.WithString("idempotency_key", mcpgo.Required(), mcpgo.MinLength(1), mcpgo.MaxLength(200),
		mcpgo.Description("A unique key for this action (e.g. a UUID). Retrying with the same key and arguments returns the first result and never acts twice."))
	conversationArg = mcpgo.WithInteger("conversation_id", mcpgo.Required(), mcpgo.Min(1), mcpgo.Description("The conversation id."))
	contactArg      = mcpgo.WithInteger("contact_id", mcpgo.Required(), mcpgo.Min(1), mcpgo.Description("The contact id."))
	contentArg      = func(what string) mcpgo.ToolOption {
		return mcpgo.WithString("content", mcpgo.Required(), mcpgo.MinLength(1), mcpgo.MaxLength(desk.MaxContent), mcpgo.Description(what))
	}
	attrsArg = mcpgo.WithObject("custom_attributes", mcpgo.Description("Attributes to merge in; a null value removes a key."))
)

// writeTools lists the tools that change things.
func (s *Server) writeTools() []tool {
	return []tool{
		{
			def: mcpgo.NewTool("reply_to_conversation", append(writeHints("Reply to the customer", true),
				mcpgo.WithDescription("Send a reply to the customer on the conversation's own channel (email or the api inbox's webhook). If this token requires approval, the reply becomes a draft for a human to approve instead (pending_approval: true) and nothing reaches the customer."),
				conversationArg, contentArg("The reply text the customer will read."), keyArg,
				mcpgo.WithOutputSchema[replyOut]())...),
			target: s.conversationWriteTarget, write: s.reply, keyed: true,
		},
		{
			def: mcpgo.NewTool("add_private_note", append(writeHints("Add a private note", true),
				mcpgo.WithDescription("Add an internal note to a conversation. Only people in the help desk see it, never the customer."),
				conversationArg, contentArg("The note text."), keyArg,
				mcpgo.WithOutputSchema[messageOut]())...),
			target: s.conversationWriteTarget, write: s.note, keyed: true,
		},
		{
			def: mcpgo.NewTool("draft_reply", append(writeHints("Draft a reply for approval", true),
				mcpgo.WithDescription("Propose a reply that waits for a human to approve, edit or reject it. Use it when unsure; check the outcome with list_drafts."),
				conversationArg, contentArg("The proposed reply."),
				mcpgo.WithString("rationale", mcpgo.MaxLength(2000), mcpgo.Description("Why this reply; shown to the reviewer.")),
				keyArg,
				mcpgo.WithOutputSchema[draftOut]())...),
			target: s.conversationWriteTarget, write: s.draft, keyed: true,
		},
		{
			def: mcpgo.NewTool("list_drafts", opts(readOnly("List my drafts"),
				mcpgo.WithDescription("List the drafts this token made and their outcome (pending, approved, rejected), newest first."),
				mcpgo.WithString("status", mcpgo.Enum("pending", "approved", "rejected"), mcpgo.Description("Only drafts in this status.")),
				cursorArg,
				mcpgo.WithOutputSchema[draftsOut]())...),
			run: s.listDrafts,
		},
		{
			def: mcpgo.NewTool("update_conversation", append(writeHints("Update a conversation", true),
				mcpgo.WithDescription("Change a conversation's status (open, pending, resolved, snoozed with snoozed_until), priority, labels (existing labels only; see list_labels) or custom attributes."+untrustedNote),
				conversationArg,
				mcpgo.WithString("status", mcpgo.Enum("open", "pending", "resolved", "snoozed")),
				mcpgo.WithString("priority", mcpgo.Enum("none", "low", "medium", "high", "urgent")),
				mcpgo.WithArray("add_labels", mcpgo.WithStringItems(mcpgo.MaxLength(50)), mcpgo.MaxItems(20), mcpgo.Description("Labels to add.")),
				mcpgo.WithArray("remove_labels", mcpgo.WithStringItems(mcpgo.MaxLength(50)), mcpgo.MaxItems(20), mcpgo.Description("Labels to remove.")),
				attrsArg,
				mcpgo.WithString("snoozed_until", mcpgo.MaxLength(40), mcpgo.Description("RFC 3339 time in the future; snoozes the conversation until then.")),
				mcpgo.WithOutputSchema[conversationOut]())...),
			target: s.conversationWriteTarget, write: s.updateConversation,
		},
		{
			def: mcpgo.NewTool("assign_conversation", append(writeHints("Assign a conversation", true),
				mcpgo.WithDescription("Assign a conversation to a person (assignee_id) and/or a team (team_id); see list_team for ids."+untrustedNote),
				conversationArg,
				mcpgo.WithInteger("assignee_id", mcpgo.Min(1), mcpgo.Description("A user id from list_team.")),
				mcpgo.WithInteger("team_id", mcpgo.Min(1), mcpgo.Description("A team id from list_team.")),
				mcpgo.WithOutputSchema[conversationOut]())...),
			target: s.conversationWriteTarget, write: s.assign,
		},
		{
			def: mcpgo.NewTool("escalate_to_human", append(writeHints("Escalate to a human", false),
				mcpgo.WithDescription("Hand the conversation to people: it is reopened, assigned to the team (or unassigned from the agent), its priority raised (to at least high unless given), and a private note records the reason."+untrustedNote),
				conversationArg,
				mcpgo.WithString("reason", mcpgo.Required(), mcpgo.MinLength(1), mcpgo.MaxLength(2000), mcpgo.Description("Why a person is needed.")),
				mcpgo.WithString("priority", mcpgo.Enum("none", "low", "medium", "high", "urgent")),
				mcpgo.WithInteger("team_id", mcpgo.Min(1), mcpgo.Description("The team to hand it to.")),
				mcpgo.WithOutputSchema[escalateOut]())...),
			target: s.conversationWriteTarget, write: s.escalate,
		},
		{
			def: mcpgo.NewTool("create_contact", append(writeHints("Create a contact", true),
				mcpgo.WithDescription("Create a customer record. A token limited to some inboxes must name one of them in inbox_id; the contact is linked to it."+untrustedNote),
				mcpgo.WithString("name", mcpgo.MaxLength(200)), mcpgo.WithString("email", mcpgo.MaxLength(200)),
				mcpgo.WithString("phone", mcpgo.MaxLength(200)), mcpgo.WithString("identifier", mcpgo.MaxLength(200)),
				attrsArg,
				mcpgo.WithInteger("inbox_id", mcpgo.Min(1), mcpgo.Description("The inbox to link the contact to.")),
				keyArg,
				mcpgo.WithOutputSchema[contactOut]())...),
			target: s.optionalInbox, write: s.createContact, keyed: true,
		},
		{
			def: mcpgo.NewTool("update_contact", append(writeHints("Update a contact", true),
				mcpgo.WithDescription("Change a customer's name, email, phone or custom attributes (merged; a null value removes a key)."+untrustedNote),
				contactArg,
				mcpgo.WithString("name", mcpgo.MaxLength(200)), mcpgo.WithString("email", mcpgo.MaxLength(200)),
				mcpgo.WithString("phone", mcpgo.MaxLength(200)), attrsArg,
				mcpgo.WithOutputSchema[contactOut]())...),
			target: s.contactTarget, write: s.updateContact,
		},
		{
			def: mcpgo.NewTool("add_contact_note", append(writeHints("Add a note to a contact", true),
				mcpgo.WithDescription("Add an internal note to a customer record."),
				contactArg, mcpgo.WithString("content", mcpgo.Required(), mcpgo.MinLength(1), mcpgo.MaxLength(10000)), keyArg,
				mcpgo.WithOutputSchema[contactNoteOut]())...),
			target: s.contactTarget, write: s.contactNote, keyed: true,
		},
		{
			def: mcpgo.NewTool("start_conversation", append(writeHints("Start an outbound conversation", true),
				mcpgo.WithDescription("Start a new conversation with one contact in an inbox and send the first message. One contact per call. If this token requires approval, it becomes a draft for a human instead."+untrustedNote),
				mcpgo.WithInteger("inbox_id", mcpgo.Required(), mcpgo.Min(1), mcpgo.Description("The inbox (channel) to write from.")),
				contactArg, contentArg("The first message."),
				mcpgo.WithString("subject", mcpgo.MaxLength(300), mcpgo.Description("Subject (email inboxes).")),
				keyArg,
				mcpgo.WithOutputSchema[startOut]())...),
			target: s.startTarget, write: s.startConversation, keyed: true,
		},
	}
}

// conversationWriteTarget is conversationTarget for a write, from memory
// when this replica has read the conversation before (its inbox and
// contact never change; see targetHints), so that the write's first round
// trip is the one that begins its unit of work. The write's own statements
// find a conversation deleted since, and fail with not found, writing
// nothing.
func (s *Server) conversationWriteTarget(ctx context.Context, c *call) error {
	id, err := argID(c.args, "conversation_id", true)
	if err != nil {
		return err
	}
	if h, ok := s.hints.get(c.p.AccountID, id); ok {
		c.target.ConversationID, c.target.InboxID, c.target.ContactID = id, h.inboxID, h.contactID
		return nil
	}
	if err := s.conversationTarget(ctx, c); err != nil {
		return err
	}
	s.hints.put(c.p.AccountID, id, targetHint{inboxID: c.target.InboxID, contactID: c.target.ContactID})
	return nil
}

// author is the agent as the sender of what this token writes.
func (c *call) author() desk.Author {
	return desk.Author{Kind: "agent", UserID: c.p.ServiceUserID, Name: c.p.TokenName, TokenID: c.p.TokenID}
}

func (s *Server) startTarget(ctx context.Context, c *call) error {
	if err := s.contactTarget(ctx, c); err != nil {
		return err
	}
	if _, err := argID(c.args, "inbox_id", true); err != nil {
		return err
	}
	return s.optionalInbox(ctx, c)
}

func (s *Server) reply(c *call) (desk.Command, error) {
	content, err := argString(c.args, "content", desk.MaxContent, true)
	return desk.Reply{ConversationID: c.target.ConversationID, Content: content, By: c.author(), NeedsApproval: c.decision.DraftOnly}, err
}

func (s *Server) note(c *call) (desk.Command, error) {
	content, err := argString(c.args, "content", desk.MaxContent, true)
	return desk.Note{ConversationID: c.target.ConversationID, Content: content, By: c.author()}, err
}

func (s *Server) draft(c *call) (desk.Command, error) {
	content, err := argString(c.args, "content", desk.MaxContent, true)
	if err != nil {
		return nil, err
	}
	rationale, err := argString(c.args, "rationale", 2000, false)
	return desk.DraftReply{ConversationID: c.target.ConversationID, Content: content, Rationale: rationale, By: c.author()}, err
}

func (s *Server) listDrafts(ctx context.Context, c *call) (any, error) {
	status, err := argString(c.args, "status", 20, false)
	if err != nil {
		return nil, err
	}
	cur, err := argString(c.args, "cursor", 200, false)
	if err != nil {
		return nil, err
	}
	ds, next, err := s.cfg.Desk.DraftList(ctx, c.p.AccountID, desk.DraftFilter{Status: status, TokenID: c.p.TokenID, Scope: c.scope(), Cursor: cur})
	return draftsOut{Drafts: ds, NextCursor: next}, err
}

func (s *Server) updateConversation(c *call) (desk.Command, error) {
	var p desk.ConversationPatch
	for name, dst := range map[string]**string{"status": &p.Status, "priority": &p.Priority} {
		v, err := argString(c.args, name, 20, false)
		if err != nil {
			return nil, err
		}
		if v != "" {
			*dst = &v
		}
	}
	var err error
	if p.AddLabels, err = argStrings(c.args, "add_labels", 20, 50); err != nil {
		return nil, err
	}
	if p.RemoveLabels, err = argStrings(c.args, "remove_labels", 20, 50); err != nil {
		return nil, err
	}
	if p.CustomAttributes, err = argObject(c.args, "custom_attributes"); err != nil {
		return nil, err
	}
	if p.SnoozedUntil, err = argTime(c.args, "snoozed_until"); err != nil {
		return nil, err
	}
	return desk.ConversationEdit{ConversationID: c.target.ConversationID, Patch: p, Now: s.cfg.Now()}, nil
}

func (s *Server) assign(c *call) (desk.Command, error) {
	assignee, err := argID(c.args, "assignee_id", false)
	if err != nil {
		return nil, err
	}
	team, err := argID(c.args, "team_id", false)
	return desk.Assignment{ConversationID: c.target.ConversationID, AssigneeID: assignee, TeamID: team}, err
}

func (s *Server) escalate(c *call) (desk.Command, error) {
	e := desk.Escalation{ConversationID: c.target.ConversationID, By: c.author()}
	var err error
	if e.Reason, err = argString(c.args, "reason", 2000, true); err != nil {
		return nil, err
	}
	if e.Priority, err = argString(c.args, "priority", 20, false); err != nil {
		return nil, err
	}
	e.TeamID, err = argID(c.args, "team_id", false)
	return e, err
}

func contactInput(args map[string]any, withIdentifier bool) (desk.ContactInput, error) {
	var in desk.ContactInput
	fields := map[string]**string{"name": &in.Name, "email": &in.Email, "phone": &in.Phone}
	if withIdentifier {
		fields["identifier"] = &in.Identifier
	}
	for name, dst := range fields {
		if _, ok := args[name]; !ok {
			continue
		}
		v, err := argString(args, name, 200, false)
		if err != nil {
			return in, err
		}
		*dst = &v
	}
	var err error
	in.CustomAttributes, err = argObject(args, "custom_attributes")
	return in, err
}

func (s *Server) createContact(c *call) (desk.Command, error) {
	in, err := contactInput(c.args, true)
	return desk.ContactNew{Input: in, InboxID: c.target.InboxID, By: c.author()}, err
}

func (s *Server) updateContact(c *call) (desk.Command, error) {
	in, err := contactInput(c.args, false)
	return desk.ContactEdit{ContactID: c.target.ContactID, Input: in}, err
}

func (s *Server) contactNote(c *call) (desk.Command, error) {
	content, err := argString(c.args, "content", 10000, true)
	return desk.ContactNoteNew{ContactID: c.target.ContactID, Content: content, By: c.author()}, err
}

func (s *Server) startConversation(c *call) (desk.Command, error) {
	content, err := argString(c.args, "content", desk.MaxContent, true)
	if err != nil {
		return nil, err
	}
	subject, err := argString(c.args, "subject", 300, false)
	return desk.Outreach{InboxID: c.target.InboxID, ContactID: c.target.ContactID, Subject: subject, Content: content,
		By: c.author(), NeedsApproval: c.decision.DraftOnly}, err
}

// argStrings reads an optional array of short strings.
func argStrings(args map[string]any, name string, maxItems, maxLen int) ([]string, error) {
	v, ok := args[name]
	if !ok || v == nil {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok || len(arr) > maxItems {
		return nil, badArg("%s must be an array of at most %d strings", name, maxItems)
	}
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		s, ok := x.(string)
		if !ok || s == "" || len(s) > maxLen {
			return nil, badArg("%s must hold strings of 1 to %d characters", name, maxLen)
		}
		out = append(out, s)
	}
	return out, nil
}

// argObject reads an optional JSON object.
func argObject(args map[string]any, name string) (map[string]any, error) {
	v, ok := args[name]
	if !ok || v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, badArg("%s must be an object", name)
	}
	if len(m) > 50 {
		return nil, badArg("%s holds at most 50 keys", name)
	}
	return m, nil
}

// argTime reads an optional RFC 3339 time.
func argTime(args map[string]any, name string) (*time.Time, error) {
	s, err := argString(args, name, 40, false)
	if err != nil || s == "" {
		return nil, err
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, badArg("%s must be an RFC 3339 time such as 2026-12-01T09:00:00Z", name)
	}
	return &t, nil
}
