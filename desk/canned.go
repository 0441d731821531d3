package desk

import (
	"context"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/input"
	"github.com/deskwoot/deskwoot/tenancy"
)

// CannedResponse is a workspace-wide snippet a person inserts in the
// composer by typing / and its short code (DESIGN §18). Any person reads
// them; the doors let only admins write them.
type CannedResponse struct {
	ID        int64     `json:"id"`
	ShortCode string    `json:"short_code"`
	Content   string    `json:"content"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CannedInput is a canned response as written; nil leaves a field as it is
// (an edit), and a new one needs both.
type CannedInput struct {
	ShortCode *string
	Content   *string
}

// shortCode is what follows the / in the composer: a word without spaces,
// so that the composer knows where it ends.
var shortCode = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// validate checks the fields given (all of them when creating).
func (in CannedInput) validate(creating bool) error {
	if in.ShortCode == nil && in.Content == nil {
		return invalid("", "nothing to change; give short_code or content")
	}
	if creating && (in.ShortCode == nil || in.Content == nil) {
		return invalid("", "a canned response needs short_code and content")
	}
	if in.ShortCode != nil {
		if err := input.Required("short_code", *in.ShortCode, input.MaxShortCode); err != nil {
			return err
		}
		if !shortCode.MatchString(*in.ShortCode) {
			return invalid("short_code", "short_code must be letters, digits, - or _, starting with a letter or digit (no spaces), at most %d characters", input.MaxShortCode)
		}
	}
	if in.Content != nil {
		if err := input.Required("content", *in.Content, input.MaxCanned); err != nil {
			return err
		}
	}
	return nil
}

const cannedColumns = `id, short_code, content, created_at, updated_at`

// CannedList lists the workspace's canned responses by short code.
func (d *Desk) CannedList(ctx context.Context, req *tenancy.Request) ([]CannedResponse, error) {
	return all[CannedResponse](ctx, d.DB, req, `SELECT `+cannedColumns+` FROM canned_responses ORDER BY lower(short_code)`)
}

// CannedCreate adds a canned response, with the request's audit row; a
// short code already in use (in any case) is a conflict that names it.
func (d *Desk) CannedCreate(ctx context.Context, req *tenancy.Request, in CannedInput) (CannedResponse, error) {
	if err := in.validate(true); err != nil {
		return CannedResponse{}, err
	}
	var c CannedResponse
	err := d.inUnit(ctx, req, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `INSERT INTO canned_responses (account_id, short_code, content) VALUES ($1, $2, $3)
			RETURNING `+cannedColumns, req.AccountID, *in.ShortCode, *in.Content)
		var err error
		if c, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[CannedResponse]); err != nil {
			return mapErr(err, tenancy.Fields{"short_code": *in.ShortCode})
		}
		req.Audit.Touched("canned_response_id", c.ID)
		return nil
	})
	return c, err
}

// CannedChange edits a canned response's short code or content, with the
// request's audit row naming what changed.
func (d *Desk) CannedChange(ctx context.Context, req *tenancy.Request, id int64, in CannedInput) (CannedResponse, error) {
	if err := in.validate(false); err != nil {
		return CannedResponse{}, err
	}
	req.Audit.Touched("canned_response_id", id)
	var c CannedResponse
	err := d.inUnit(ctx, req, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `UPDATE canned_responses SET
				short_code = coalesce($2, short_code), content = coalesce($3, content), updated_at = now()
			WHERE id = $1 RETURNING `+cannedColumns, id, in.ShortCode, in.Content)
		var err error
		if c, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[CannedResponse]); err != nil {
			var code string
			if in.ShortCode != nil {
				code = *in.ShortCode
			}
			return withKind(mapErr(err, tenancy.Fields{"short_code": code}), "canned response", id)
		}
		var changed []string
		if in.ShortCode != nil {
			changed = append(changed, "changed=short_code")
		}
		if in.Content != nil {
			changed = append(changed, "changed=content")
		}
		reasons(req, changed...)
		return nil
	})
	return c, err
}

// CannedDelete deletes a canned response, with the request's audit row.
func (d *Desk) CannedDelete(ctx context.Context, req *tenancy.Request, id int64) error {
	req.Audit.Touched("canned_response_id", id)
	return d.inUnit(ctx, req, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM canned_responses WHERE id = $1`, id)
		if err == nil && tag.RowsAffected() == 0 {
			return notFound("canned response", id)
		}
		return err
	})
}
