package desk_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/tenancy"
)

// The desk's validation errors name their field in fault.Field (the name
// callers send it by), so that doors place them without reading the
// sentence; so do objects an input names that do not exist.
func TestErrorsNameTheirField(t *testing.T) {
	t.Parallel()
	d, acct, conv := unitWorld(t)
	ctx := context.Background()
	now := time.Now()
	str := func(s string) *string { return &s }
	change := func(p desk.HumanConversationPatch) error {
		_, err := d.ConversationChange(ctx, acct, desk.Scope{}, conv, p, desk.Author{Kind: "user", Name: "Ann"}, now)
		return err
	}
	patch := func(p desk.ConversationPatch) desk.HumanConversationPatch {
		return desk.HumanConversationPatch{ConversationPatch: p}
	}
	for _, c := range []struct {
		what  string
		err   error
		kind  fault.Kind
		field string
	}{
		{"bad status", change(patch(desk.ConversationPatch{Status: str("closed")})), fault.Invalid, "status"},
		{"bad priority", change(patch(desk.ConversationPatch{Priority: str("asap")})), fault.Invalid, "priority"},
		{"snooze in the past", change(patch(desk.ConversationPatch{SnoozedUntil: &now})), fault.Invalid, "snoozed_until"},
		{"unknown label added", change(patch(desk.ConversationPatch{AddLabels: []string{"nosuch"}})), fault.Invalid, "add_labels"},
		{"unknown label removed", change(patch(desk.ConversationPatch{RemoveLabels: []string{"nosuch"}})), fault.Invalid, "remove_labels"},
		{"unknown assignee", change(desk.HumanConversationPatch{Assignee: desk.OptionalID{Set: true, ID: 987654321}}), fault.NotFound, "assignee_id"},
		{"unknown team", change(desk.HumanConversationPatch{Team: desk.OptionalID{Set: true, ID: 987654321}}), fault.NotFound, "team_id"},
		{"nothing to change", change(desk.HumanConversationPatch{}), fault.Invalid, ""},
		{"bad label name", func() error { _, err := d.LabelCreate(ctx, tenancy.For(acct), "Not A Slug", "", ""); return err }(), fault.Invalid, "name"},
		{"unknown team member", func() error {
			_, err := d.TeamCreate(ctx, tenancy.For(acct), "Tier 9", "", []int64{987654321})
			return err
		}(), fault.NotFound, "member_ids"},
		{"bad list status", func() error {
			_, _, err := d.ConversationList(ctx, tenancy.For(acct), desk.Scope{}, desk.ConversationFilter{Status: "closed"})
			return err
		}(), fault.Invalid, "status"},
		{"foreign cursor", func() error {
			_, _, err := d.ConversationList(ctx, tenancy.For(acct), desk.Scope{}, desk.ConversationFilter{Cursor: "bogus"})
			return err
		}(), fault.Invalid, "cursor"},
	} {
		var fe *fault.Error
		if !errors.As(c.err, &fe) || fe.Kind != c.kind || fe.Field != c.field {
			t.Errorf("%s: %#v, want a %s error about %q", c.what, c.err, c.kind, c.field)
		}
	}
}
