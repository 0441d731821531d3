package desk

import (
	"context"
	"errors"

	"github.com/deskwoot/deskwoot/fault"
)

// MaxAttempts bounds every retry of a write that lost a race to a
// concurrent one. A lost race is rare and the next attempt sees the
// winner's rows, so a third loss means something keeps colliding: the
// caller gets a clear conflict instead of a loop.
const MaxAttempts = 3

// errRaced is what a write returns when a concurrent transaction took the
// row it meant to create (ON CONFLICT DO NOTHING found nothing to read).
var errRaced = errors.New("lost a race to a concurrent write")

// retryRaced runs fn until it does not report errRaced, at most
// MaxAttempts times, and stops early when ctx ends.
func retryRaced[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		v, err := fn()
		if !errors.Is(err, errRaced) {
			return v, err
		}
		if attempt == MaxAttempts || ctx.Err() != nil {
			return v, fault.Conflictf("", "a concurrent request wrote the same records; try again")
		}
	}
}
