package desk

import (
	"context"
	"crypto/sha256"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/fault"
)

// Approval in the chat (DESIGN §22, MCP Apps): a draft an OAuth grant made
// is shown on a card in the agent's chat, whose Approve and Reject call
// back with a single-use nonce. Only the nonce's hash is kept, on the
// draft, with the hash of the draft's text when it was issued: a nonce is
// good once, for this draft, for the token that made it, and for this very
// text. Deciding the draft, by any door, makes it worthless.

// DraftChatNonce issues a card's nonce for a pending draft of tokenID
// (nonceHash is the SHA-256 of the nonce the card carries) and returns the
// customer's last message in the draft's conversation, for the card
// ("" for an outbound start). A draft decided meanwhile is ErrConflict.
func (d *Desk) DraftChatNonce(ctx context.Context, acct, draftID, tokenID int64, nonceHash []byte) (customerLast string, err error) {
	var last *string
	b := &pgx.Batch{}
	b.Queue(`UPDATE drafts dr SET chat_nonce = $3, chat_nonce_text = sha256(convert_to(dr.content, 'UTF8'))
		WHERE dr.id = $1 AND dr.token_id = $2 AND dr.status = 'pending'
		RETURNING (SELECT left(m.content, 1000) FROM messages m
			WHERE m.conversation_id = dr.conversation_id AND m.type = 'incoming' ORDER BY m.id DESC LIMIT 1)`,
		draftID, tokenID, nonceHash).QueryRow(func(r pgx.Row) error { return r.Scan(&last) })
	err = d.DB.Batch(ctx, acct, b)
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, pgx.ErrNoRows):
		return "", fault.Conflictf("", "draft %d is no longer pending", draftID)
	case err != nil:
		return "", err
	}
	if last == nil {
		return "", nil
	}
	return *last, nil
}

// ChatProof is what the card's Approve or Reject brings: the token of
// the grant whose card it is, and the nonce the card was given.
type ChatProof struct {
	TokenID int64
	Nonce   string
}

// errStaleNonce refuses a card's decision whose nonce is no good.
var errStaleNonce = fault.New(fault.Forbidden, "nonce",
	"this card's approval is no longer good (used already, or the draft changed since it was shown); open the draft on the Drafts page of the Deskwoot console")

// spend checks the proof against the draft, locked in tx, and uses the
// nonce up.
func (p ChatProof) spend(ctx context.Context, tx pgx.Tx, dr Draft) error {
	sum := sha256.Sum256([]byte(p.Nonce))
	var good bool
	if err := tx.QueryRow(ctx, `SELECT token_id = $2 AND chat_nonce = $3 AND chat_nonce_text = sha256(convert_to(content, 'UTF8'))
		FROM drafts WHERE id = $1`, dr.ID, p.TokenID, sum[:]).Scan(&good); err != nil {
		return err
	}
	if !good || p.Nonce == "" {
		return errStaleNonce
	}
	_, err := tx.Exec(ctx, `UPDATE drafts SET chat_nonce = NULL, chat_nonce_text = NULL WHERE id = $1`, dr.ID)
	return err
}

// personScopeTx is what a person may see now, read in tx: every inbox for
// an active admin, their inboxes for an active agent, and nothing (an
// error) for anyone else, such as a person removed since they consented.
func personScopeTx(ctx context.Context, tx pgx.Tx, userID int64) (Scope, error) {
	var role string
	var inboxes []int64
	err := tx.QueryRow(ctx, `SELECT au.role, coalesce((SELECT array_agg(im.inbox_id ORDER BY im.inbox_id) FROM inbox_members im WHERE im.user_id = au.user_id), '{}')
		FROM account_users au JOIN users u ON u.id = au.user_id
		WHERE au.user_id = $1 AND au.status = 'active' AND u.kind = 'human'`, userID).Scan(&role, &inboxes)
	if err != nil {
		return Scope{}, err
	}
	if role == "admin" {
		return Scope{}, nil
	}
	if inboxes == nil {
		inboxes = []int64{}
	}
	return Scope{InboxIDs: inboxes}, nil
}
