package desk

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// linkRead opens a link mailed to a person (kind identity.LinkInvite,
// LinkReset or LinkEmail): it resolves the link's token to its account
// and row, then reads the row in that account with query ($1 the row's
// id, $2 now), which answers only while the link is live (not used,
// withdrawn or expired), scanning the answer with scan. A malformed,
// unknown, used, withdrawn or expired link is identity.ErrLinkUnknown.
// Opening a link changes nothing: a mail scanner may follow it.
func (d *Desk) linkRead(ctx context.Context, raw, kind string, now time.Time, query string, scan func(pgx.Row) error) (acct, id int64, err error) {
	acct, id, err = identity.LinkOwner(ctx, d.DB, raw, kind)
	if err != nil {
		return 0, 0, err
	}
	b := &pgx.Batch{}
	b.Queue(query, id, now).QueryRow(scan)
	if err := d.DB.Batch(ctx, acct, b); err != nil {
		if errors.Is(err, pgx.ErrNoRows) || errors.Is(err, tenancy.ErrNotFound) {
			return 0, 0, identity.ErrLinkUnknown
		}
		return 0, 0, err
	}
	return acct, id, nil
}
