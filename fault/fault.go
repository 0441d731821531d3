// Package fault is the one error type of the domain: a Kind (what class of
// failure, which each door maps to its own status once), the Field the
// failure concerns and a Sentence a person can act on. Layers below the
// doors build these (tenancy.MapError turns database errors into them), so
// doors never read error strings and no answer shows a constraint name.
package fault

import (
	"errors"
	"fmt"
)

// Kind is the class of a failure.
type Kind uint8

// The kinds. Internal is anything unexpected: doors log it and answer with
// a generic sentence, never the cause.
const (
	Internal Kind = iota
	Invalid
	NotFound
	Conflict
	Unauthenticated
	Forbidden
	TooLarge
	RateLimited
	Unavailable
)

var kindNames = [...]string{"internal", "invalid", "not found", "conflict", "unauthenticated", "forbidden", "too large", "rate limited", "unavailable"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "internal"
}

// Sentinels, one per kind, for errors.Is. An *Error of a kind matches its
// sentinel; fmt.Errorf("%w: …", ErrX) wrappers still work, read by From.
var (
	ErrInvalid         = errors.New("invalid")
	ErrNotFound        = errors.New("not found")
	ErrConflict        = errors.New("conflict")
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrForbidden       = errors.New("forbidden")
	ErrTooLarge        = errors.New("too large")
	ErrRateLimited     = errors.New("rate limited")
	ErrUnavailable     = errors.New("unavailable")
)

var sentinels = map[Kind]error{
	Invalid: ErrInvalid, NotFound: ErrNotFound, Conflict: ErrConflict, Unauthenticated: ErrUnauthenticated,
	Forbidden: ErrForbidden, TooLarge: ErrTooLarge, RateLimited: ErrRateLimited, Unavailable: ErrUnavailable,
}

// Error is a failure a caller can act on.
type Error struct {
	Kind Kind
	// Field names the input at fault ("content", "contact.email"), or "".
	Field string
	// Sentence says what went wrong and what to do, in words; it never
	// carries database or Go internals.
	Sentence string
	// Err is the cause, for logs only.
	Err error
}

func (e *Error) Error() string { return e.Sentence }

// Unwrap exposes the cause to errors.Is/As (a pgx error, a context error).
func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel of the error's kind.
func (e *Error) Is(target error) bool { return target != nil && sentinels[e.Kind] == target }

// New builds an error of a kind about a field.
func New(kind Kind, field, format string, args ...any) *Error {
	return &Error{Kind: kind, Field: field, Sentence: fmt.Sprintf(format, args...)}
}

// Invalidf is bad input in a field.
func Invalidf(field, format string, args ...any) *Error { return New(Invalid, field, format, args...) }

// NotFoundf is something that does not exist or is not visible to the caller.
func NotFoundf(format string, args ...any) *Error { return New(NotFound, "", format, args...) }

// Conflictf is a collision with something that exists, said in words.
func Conflictf(field, format string, args ...any) *Error {
	return New(Conflict, field, format, args...)
}

// From reads any error as an *Error: an *Error in the chain as it is; an
// error wrapping a sentinel (fmt.Errorf("%w: sentence", ErrInvalid)) as that
// kind with the sentence after the sentinel's prefix; anything else as
// Internal with the generic sentence, so a cause never reaches a caller.
func From(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	for k, s := range sentinels {
		if errors.Is(err, s) {
			msg := err.Error()
			if p := s.Error() + ": "; len(msg) > len(p) && msg[:len(p)] == p {
				msg = msg[len(p):]
			}
			return &Error{Kind: k, Sentence: msg, Err: err}
		}
	}
	return &Error{Kind: Internal, Sentence: "internal error; try again", Err: err}
}

// KindOf is From(err).Kind; Internal for nil too.
func KindOf(err error) Kind {
	if err == nil {
		return Internal
	}
	return From(err).Kind
}
