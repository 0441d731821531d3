package desk_test

import (
	"context"
	"testing"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/tenancy"
)

// BenchmarkPageSide: the list and thread pages' reads against their REST
// calls' (the same data without the catalog, counts, Drafts count and
// bell), through the fence, one round trip each; page minus REST is what
// the page adds to the database's work.
func BenchmarkPageSide(b *testing.B) {
	ctx := context.Background()
	w := newSideWorld(b, dbtest.App(b))
	list := func(page bool) func(b *testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				f := desk.ConversationFilter{UserID: w.admin, View: "open", Triage: true, Limit: 50}
				if page {
					f.Catalog, f.Counts = &desk.Catalog{}, &desk.ViewCounts{}
				}
				if _, _, err := w.d.ConversationList(ctx, tenancy.For(w.acct), desk.Scope{}, f); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("list/rest", list(false))
	b.Run("list/page", list(true))
	b.Run("thread/rest", func(b *testing.B) {
		for b.Loop() {
			if _, err := w.d.ConversationFor(ctx, w.acct, desk.Scope{}, w.conv, "", 100); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("thread/page", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := w.d.Thread(ctx, w.acct, desk.Scope{}, w.admin, w.conv, "", 100); err != nil {
				b.Fatal(err)
			}
		}
	})
}
