package shadow

import (
	"context"
	"fmt"
	"testing"

	"github.com/deskwoot/deskwoot/dbtest"
)

// BenchmarkRecord measures one write of what a trip saw: trip flips of
// one candidate (each with the candidate's one reason), against the same
// write of counts alone.
func BenchmarkRecord(b *testing.B) {
	ctx := context.Background()
	ten := dbtest.NewTenant(b)
	db := dbtest.App(b)
	cand := candidate(b, db, ten.Account.ID)
	for _, n := range []int{0, 1, 32} {
		seen := Seen{CandidateID: cand, Decisions: int64(n)}
		for i := range n {
			seen.Flips = append(seen.Flips, FlippedCall{AuditID: int64(1000 + i), Tool: "get_conversation", Before: "allow", After: "deny",
				Reasons: []string{"denied by this account's policy rules: not while we try this"}})
		}
		b.Run(fmt.Sprintf("flips=%d", n), func(b *testing.B) {
			for b.Loop() {
				if err := Record(ctx, db, ten.Account.ID, seen); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
