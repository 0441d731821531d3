package desk

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/tenancy"
)

// ThreadDraft is a draft as its conversation's thread shows it (DESIGN
// §18): a pending one stands where it would go, a decided one leaves a
// line saying who decided what and when.
type ThreadDraft struct {
	Draft
	TokenName   string // the MCP token that drafted it
	DeciderName string // the person who approved or rejected it
	// Edited is an approval whose sent text differs from the draft (the
	// draft keeps what the agent wrote; the message carries the edit).
	Edited bool
}

// ConversationDrafts lists the drafts of a conversation, oldest first. The
// caller has checked that the conversation is in the person's scope (its
// drafts are in the conversation's inbox).
func (d *Desk) ConversationDrafts(ctx context.Context, acct, conversationID int64) ([]ThreadDraft, error) {
	return collect(ctx, d.DB, tenancy.For(acct), scanThreadDraft, threadDraftsSQL, conversationID)
}

// threadDraftsSQL reads a conversation's ($1) drafts, oldest first, for
// scanThreadDraft.
const threadDraftsSQL = `SELECT d.id, d.kind, d.conversation_id, d.inbox_id, d.contact_id, d.subject, d.content, d.rationale, d.status, d.token_id,
		d.created_at, d.decided_at, d.decided_by, d.decision_reason, d.message_id,
		coalesce(t.name, 'the AI agent'), coalesce(u.name, ''), coalesce(m.content <> d.content, false)
	FROM drafts d
	LEFT JOIN mcp_tokens t ON t.id = d.token_id
	LEFT JOIN users u ON u.id = d.decided_by
	LEFT JOIN messages m ON m.id = d.message_id
	WHERE d.conversation_id = $1
	ORDER BY d.id`

func scanThreadDraft(r pgx.CollectableRow) (ThreadDraft, error) {
	var t ThreadDraft
	x := &t.Draft
	err := r.Scan(&x.ID, &x.Kind, &x.ConversationID, &x.InboxID, &x.ContactID, &x.Subject, &x.Content, &x.Rationale, &x.Status,
		&x.TokenID, &x.CreatedAt, &x.DecidedAt, &x.DecidedBy, &x.DecisionReason, &x.MessageID,
		&t.TokenName, &t.DeciderName, &t.Edited)
	return t, err
}
