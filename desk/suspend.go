package desk

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/auditrow"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Anomaly suspend (DESIGN §22): a token the policy keeps refusing — a
// prompt-injected agent probing inboxes outside its list, say — is paused
// once its refusals trip one of the account's limits
// (identity.RecordRefused counts them), and the admins hear of it.

// errNotSuspended rolls back a suspension that another refusal (on any
// replica) made first: the token is paused already, and that one is
// audited.
var errNotSuspended = errors.New("desk: the token was paused already")

// MCPTokenSuspend pauses a token for reason, as one unit of work with its
// audit row (actor: the system, the reason in the row) and an
// in-app notification, and mail where a person wants it, to every admin;
// its waiting long-polls wake to end. It reports false, with nothing
// written, when the token was paused (or revoked) already.
func (d *Desk) MCPTokenSuspend(ctx context.Context, acct, tokenID int64, reason, requestID string) (bool, error) {
	req := tenancy.Recorded(acct, auditrow.Entry{ActorKind: "system", TokenID: tokenID, Action: "mcp.token.suspend",
		Reasons: []string{reason}, RequestID: requestID})
	err := d.DB.Unit(ctx, req, nil, func(tx pgx.Tx) (*pgx.Batch, error) {
		name, ok, err := identity.MCPTokenSuspendTx(ctx, tx, tokenID, reason)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errNotSuspended
		}
		if err := d.notify(ctx, tx, acct, notice{kind: NotifyTokenPaused, to: audienceInbox, subject: name, reason: reason}); err != nil {
			return nil, err
		}
		wake := &pgx.Batch{}
		wake.Queue(`SELECT pg_notify('deskwoot_events', $1::bigint::text)`, acct)
		return wake, nil
	})
	if errors.Is(err, errNotSuspended) {
		return false, nil
	}
	return err == nil, err
}
