package desk_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Two admins demoting each other at the same moment cannot leave the
// workspace without an admin: exactly one of them succeeds.
func TestTwoAdminsCannotBothStepDownAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := &desk.Desk{DB: dbtest.App(t)}
	for i := 0; i < 5; i++ {
		tn := dbtest.NewTenant(t)
		other, _, err := dbtest.Identities(t).UserCreate(ctx, tenancy.For(tn.Account.ID), dbtest.Unique("co")+"@example.com", "Co", "co password 1", "admin")
		if err != nil {
			t.Fatal(err)
		}
		agent := "agent"
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j, id := range []int64{tn.User.ID, other.ID} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[j] = d.PersonChange(ctx, tenancy.For(tn.Account.ID), id, desk.PersonPatch{Role: &agent}, time.Now())
			}()
		}
		wg.Wait()
		ok, refused := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, tenancy.ErrConflict):
				refused++
			default:
				t.Fatal(err)
			}
		}
		if ok != 1 || refused != 1 {
			t.Fatalf("round %d: %d demotions succeeded, %d refused; want 1 and 1", i, ok, refused)
		}
	}
}
