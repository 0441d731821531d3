package tenantpolicy

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/shadow"
	"github.com/deskwoot/deskwoot/tenancy"
)

// A candidate in shadow (issue 24) is decided beside the rules in force on
// every live call of its account for some days, changing nothing; the
// calls it would have decided differently are listed (package shadow
// decides them). Activation works as it does without a shadow.

// MaxShadowDays bounds a shadow's days.
const MaxShadowDays = 30

// Shadow puts a candidate in shadow for the given days from now, ending
// the shadow of any other candidate of the account, audited with the
// person as actor.
func (s *Service) Shadow(ctx context.Context, acct, by, id int64, days int) (shadow.Run, error) {
	if days < 1 || days > MaxShadowDays {
		return shadow.Run{}, fmt.Errorf("%w: days must be 1 to %d", tenancy.ErrInvalid, MaxShadowDays)
	}
	var out shadow.Run
	err := s.DB.InTenant(ctx, acct, func(tx pgx.Tx) error {
		var err error
		if out, err = shadow.StartTx(ctx, tx, id, s.now().Add(time.Duration(days)*24*time.Hour)); err != nil {
			return err
		}
		return s.audit(ctx, tx, acct, by, "policy.shadow.start", map[string]int64{"candidate_id": id},
			fmt.Sprintf("candidate %d in shadow until %s", id, out.Until.UTC().Format(time.RFC3339)))
	})
	if err != nil {
		return shadow.Run{}, err
	}
	s.Audit.Touch(acct)
	s.Shadows.Forget(acct)
	return out, nil
}

// StopShadow ends the account's shadow now (nothing changes when it has
// none), audited with the person as actor.
func (s *Service) StopShadow(ctx context.Context, acct, by int64) error {
	err := s.DB.InTenant(ctx, acct, func(tx pgx.Tx) error {
		id, err := shadow.StopTx(ctx, tx)
		if err != nil || id == 0 {
			return err
		}
		return s.audit(ctx, tx, acct, by, "policy.shadow.stop", map[string]int64{"candidate_id": id},
			fmt.Sprintf("candidate %d no longer in shadow", id))
	})
	if err != nil {
		return err
	}
	s.Audit.Touch(acct)
	s.Shadows.Forget(acct)
	return nil
}

// ShadowFlips is the account's latest shadow (nil: it never had one) and
// a page of the live calls its candidates in shadow would have decided
// differently, newest first.
type ShadowFlips struct {
	Shadow     *shadow.Run   `json:"shadow"`
	Flips      []shadow.Flip `json:"flips"`
	NextCursor *string       `json:"next_cursor"`
}

// Page sizes of ShadowList, as every REST list has them (DESIGN §12).
const (
	defaultShadowPage = 25
	maxShadowPage     = 100
)

// ShadowList reads a page of limit flips (0: 25; at most 100) from cursor
// ("" for the newest). A cursor this API did not give, or a limit out of
// bounds, is tenancy.ErrInvalid.
func ShadowList(ctx context.Context, db *tenancy.DB, acct int64, cursor string, limit int) (ShadowFlips, error) {
	switch {
	case limit == 0:
		limit = defaultShadowPage
	case limit < 1 || limit > maxShadowPage:
		return ShadowFlips{}, fmt.Errorf("%w: limit must be 1 to %d", tenancy.ErrInvalid, maxShadowPage)
	}
	var before int64
	if cursor != "" {
		n, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || n <= 0 {
			return ShadowFlips{}, fmt.Errorf("%w: cursor is not one this API gave", tenancy.ErrInvalid)
		}
		before = n
	}
	sh, flips, err := shadow.List(ctx, db, acct, before, limit+1)
	if err != nil {
		return ShadowFlips{}, err
	}
	out := ShadowFlips{Shadow: sh, Flips: flips}
	if len(flips) > limit {
		out.Flips = flips[:limit]
		next := strconv.FormatInt(flips[limit-1].ID, 10)
		out.NextCursor = &next
	}
	return out, nil
}
