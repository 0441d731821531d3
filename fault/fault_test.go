package fault

import (
	"errors"
	"fmt"
	"testing"
)

func TestKindsMatchSentinelsAndFromReadsWrappers(t *testing.T) {
	t.Parallel()
	e := Conflictf("name", "a label named %q already exists", "billing")
	if !errors.Is(e, ErrConflict) || errors.Is(e, ErrInvalid) {
		t.Error("a conflict must match ErrConflict only")
	}
	wrapped := fmt.Errorf("create label: %w", e)
	if got := From(wrapped); got != e || got.Sentence != `a label named "billing" already exists` {
		t.Errorf("From(wrapped) = %+v", got)
	}
	legacy := fmt.Errorf("%w: status must be open", ErrInvalid)
	if got := From(legacy); got.Kind != Invalid || got.Sentence != "status must be open" {
		t.Errorf("From(legacy) = %+v", got)
	}
	internal := From(errors.New("pq: relation labels_account_id_name_key"))
	if internal.Kind != Internal || internal.Sentence != "internal error; try again" {
		t.Errorf("an unknown error shows %q", internal.Sentence)
	}
}
