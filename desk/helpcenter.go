package desk

import (
	"context"
	"errors"
	"regexp"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/tenancy"
)

// The public help center: a workspace's published articles at
// /hc/{slug} (package helpcenter serves it). The slug is made of the
// workspace's name at signup and admins may change it; it routes a
// reader's request to its workspace before the tenant is known
// (migrations/0068_help_center.sql). Readers see published articles only,
// searched with the one search engine (ArticleSearch).

var slugPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,48}[a-z0-9])?$`)

// errNoHelpCenter is every slug no workspace has.
func errNoHelpCenter() error { return fault.NotFoundf("there is no help center at this address") }

// HelpCenterAccount is the workspace whose help center is at slug.
func (d *Desk) HelpCenterAccount(ctx context.Context, slug string) (int64, error) {
	if !slugPattern.MatchString(slug) {
		return 0, errNoHelpCenter()
	}
	var acct *int64
	if err := d.DB.Pool.QueryRow(ctx, `SELECT deskwoot_help_center_account($1)`, slug).Scan(&acct); err != nil {
		return 0, mapErr(err)
	}
	if acct == nil {
		return 0, errNoHelpCenter()
	}
	return *acct, nil
}

// HelpCenterSlug is the workspace's help-center slug ("" when it has none).
func (d *Desk) HelpCenterSlug(ctx context.Context, acct int64) (string, error) {
	var slug *string
	b := &pgx.Batch{}
	b.Queue(`SELECT deskwoot_account_slug()`).QueryRow(func(r pgx.Row) error { return r.Scan(&slug) })
	if err := d.DB.Batch(ctx, acct, b); err != nil {
		return "", mapErr(err)
	}
	if slug == nil {
		return "", nil
	}
	return *slug, nil
}

// HelpCenterSlugSet changes the workspace's slug (admins; the caller
// checks the role), with the request's audit row. The old address stops
// answering at once.
func (d *Desk) HelpCenterSlugSet(ctx context.Context, req *tenancy.Request, slug string) error {
	if !slugPattern.MatchString(slug) {
		return invalid("slug", "slug must be 1 to 50 lowercase letters, digits and hyphens, starting and ending with a letter or digit")
	}
	return d.inUnit(ctx, req, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT deskwoot_account_slug_set($1)`, slug)
		return mapErr(err, tenancy.Fields{"slug": slug})
	})
}

// HelpCenterName is the workspace's name, shown on its help center.
func (d *Desk) HelpCenterName(ctx context.Context, acct int64) (string, error) {
	var name string
	b := &pgx.Batch{}
	b.Queue(`SELECT name FROM accounts WHERE id = $1`, acct).QueryRow(func(r pgx.Row) error { return r.Scan(&name) })
	err := d.DB.Batch(ctx, acct, b)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", errNoHelpCenter()
	}
	return name, mapErr(err)
}
