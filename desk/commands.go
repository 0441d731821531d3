package desk

import (
	"context"
	"time"
)

// The commands an agent's writes run through Write, and their results. A
// result is what the caller reads back (the MCP tools' structured output)
// and, under an idempotency key, what a replay returns.

// ReplyResult is a reply: the message on its way to the customer, or the
// draft waiting for a human's approval.
type ReplyResult struct {
	Message         *Message `json:"message,omitempty"`
	Draft           *Draft   `json:"draft,omitempty"`
	PendingApproval bool     `json:"pending_approval"`
}

// MessageResult is a note written.
type MessageResult struct {
	Message Message `json:"message"`
}

// DraftResult is a draft stored.
type DraftResult struct {
	Draft Draft `json:"draft"`
}

// ConversationResult is a conversation after a change.
type ConversationResult struct {
	Conversation Conversation `json:"conversation"`
}

// EscalationResult is an escalated conversation and the note saying why.
type EscalationResult struct {
	Conversation Conversation `json:"conversation"`
	Note         Message      `json:"note"`
}

// ContactResult is a contact after a change.
type ContactResult struct {
	Contact Contact `json:"contact"`
}

// ContactNoteResult is a note written on a contact.
type ContactNoteResult struct {
	Note ContactNote `json:"note"`
}

// OutreachResult is an outbound conversation started, or the draft of it
// waiting for a human's approval.
type OutreachResult struct {
	Conversation    *Conversation `json:"conversation,omitempty"`
	Message         *Message      `json:"message,omitempty"`
	Draft           *Draft        `json:"draft,omitempty"`
	PendingApproval bool          `json:"pending_approval"`
}

// Reply answers the customer on the conversation's channel (the outbox
// delivers it). With NeedsApproval it becomes a pending draft instead and
// nothing reaches the customer.
type Reply struct {
	ConversationID int64
	Content        string
	By             Author
	NeedsApproval  bool
}

func (r Reply) run(ctx context.Context, u *unit) (any, error) {
	if r.NeedsApproval {
		dr, err := u.d.draftCreate(ctx, u.tx, u, u.acct, DraftInput{Kind: "reply", ConversationID: r.ConversationID,
			Content: r.Content, TokenID: r.By.TokenID, CreatedBy: r.By.UserID})
		return ReplyResult{Draft: &dr, PendingApproval: true}, err
	}
	m, err := u.d.messageAppend(ctx, u.tx, u, u.acct, MessageParams{ConversationID: r.ConversationID, Content: r.Content, By: r.By})
	return ReplyResult{Message: &m}, err
}

// Note is a private note on a conversation; only people see it.
type Note struct {
	ConversationID int64
	Content        string
	By             Author
}

func (n Note) run(ctx context.Context, u *unit) (any, error) {
	m, err := u.d.messageAppend(ctx, u.tx, u, u.acct, MessageParams{ConversationID: n.ConversationID, Content: n.Content, Private: true, By: n.By})
	return MessageResult{Message: m}, err
}

// DraftReply proposes a reply for a human to approve, edit or reject.
type DraftReply struct {
	ConversationID int64
	Content        string
	Rationale      string
	By             Author
}

func (r DraftReply) run(ctx context.Context, u *unit) (any, error) {
	dr, err := u.d.draftCreate(ctx, u.tx, u, u.acct, DraftInput{Kind: "reply", ConversationID: r.ConversationID,
		Content: r.Content, Rationale: r.Rationale, TokenID: r.By.TokenID, CreatedBy: r.By.UserID})
	return DraftResult{Draft: dr}, err
}

// ConversationEdit applies a patch to a conversation at time Now.
type ConversationEdit struct {
	ConversationID int64
	Patch          ConversationPatch
	Now            time.Time
}

func (e ConversationEdit) run(ctx context.Context, u *unit) (any, error) {
	c, err := u.d.ConversationUpdate(ctx, u.tx, u.acct, e.ConversationID, e.Patch, e.Now)
	return ConversationResult{Conversation: c}, err
}

// Assignment sets a conversation's assignee and/or team; a zero id leaves
// that side as it is.
type Assignment struct {
	ConversationID int64
	AssigneeID     int64
	TeamID         int64
}

func (a Assignment) run(ctx context.Context, u *unit) (any, error) {
	c, err := u.d.ConversationAssign(ctx, u.tx, u.acct, a)
	return ConversationResult{Conversation: c}, err
}

func (e Escalation) run(ctx context.Context, u *unit) (any, error) {
	c, note, err := u.d.conversationEscalate(ctx, u.tx, u.acct, e)
	return EscalationResult{Conversation: c, Note: note}, err
}

// ContactNew creates a contact, linked to InboxID when given; the token
// that creates it (By.TokenID) may see it whatever its inboxes.
type ContactNew struct {
	Input   ContactInput
	InboxID int64
	By      Author
}

func (c ContactNew) run(ctx context.Context, u *unit) (any, error) {
	ct, err := u.d.contactCreate(ctx, u.tx, u.acct, c)
	if err == nil {
		u.created("contact_id", ct.ID)
	}
	return ContactResult{Contact: ct}, err
}

// ContactEdit changes a contact's fields. Scope is the caller's: the
// contact it answers lists only the inboxes the scope includes.
type ContactEdit struct {
	ContactID int64
	Input     ContactInput
	Scope     Scope
}

func (c ContactEdit) run(ctx context.Context, u *unit) (any, error) {
	ct, err := u.d.contactUpdate(ctx, u.tx, u.acct, c)
	ct.InboxIDs = c.Scope.visibleInboxes(ct.InboxIDs)
	return ContactResult{Contact: ct}, err
}

// ContactNoteNew is an internal note on a contact.
type ContactNoteNew struct {
	ContactID int64
	Content   string
	By        Author
}

func (n ContactNoteNew) run(ctx context.Context, u *unit) (any, error) {
	note, err := u.d.contactNoteCreate(ctx, u.tx, u.acct, n)
	return ContactNoteResult{Note: note}, err
}

// Outreach starts an outbound conversation with one contact in an inbox
// and sends its first message. With NeedsApproval it becomes a pending
// draft instead.
type Outreach struct {
	InboxID       int64
	ContactID     int64
	Subject       string
	Content       string
	By            Author
	NeedsApproval bool
}

func (o Outreach) run(ctx context.Context, u *unit) (any, error) {
	if o.NeedsApproval {
		dr, err := u.d.draftCreate(ctx, u.tx, u, u.acct, DraftInput{Kind: "start", InboxID: o.InboxID, ContactID: o.ContactID,
			Subject: o.Subject, Content: o.Content, TokenID: o.By.TokenID, CreatedBy: o.By.UserID})
		return OutreachResult{Draft: &dr, PendingApproval: true}, err
	}
	c, m, err := u.d.conversationStart(ctx, u.tx, u.acct, o)
	if err == nil {
		u.created("conversation_id", c.ID)
	}
	return OutreachResult{Conversation: &c, Message: &m}, err
}
