package desk_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
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

// A person's change that begins after their removal committed fails as
// unauthenticated and writes nothing, though their request was
// authenticated before (tenancy.ByMember).
func TestARemovedPersonsChangeWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := &desk.Desk{DB: dbtest.App(t)}
	tn := dbtest.NewTenant(t)
	pat, _, err := dbtest.Identities(t).UserCreate(ctx, tenancy.For(tn.Account.ID), dbtest.Unique("pat")+"@example.com", "Pat", "pat password 1", "agent")
	if err != nil {
		t.Fatal(err)
	}
	label := func(name string) error {
		_, err := d.LabelCreate(ctx, tenancy.ByMember(tn.Account.ID, pat.ID, auditEntry("label.create", pat.ID)), name, "", "")
		return err
	}
	if err := label("before"); err != nil {
		t.Fatalf("an active person's change: %v", err)
	}
	if _, err := d.PersonRemove(ctx, tenancy.For(tn.Account.ID), pat.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := label("after"); !errors.Is(err, tenancy.ErrMemberEnded) || !errors.Is(err, identity.ErrUnauthenticated) {
		t.Fatalf("a removed person's change: %v, want ErrMemberEnded", err)
	}
	labels, err := d.LabelList(ctx, tenancy.For(tn.Account.ID))
	if err != nil {
		t.Fatal(err)
	}
	if len(labels) != 1 || labels[0].Name != "before" {
		t.Fatalf("labels = %v, want only the one made before the removal", labels)
	}
}

// Two admins removing each other at the same moment: one removal wins,
// the other is refused in words (its admin is gone, or it collided),
// never a server error, and an admin stays.
func TestTwoAdminsRemovingEachOtherAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := &desk.Desk{DB: dbtest.App(t)}
	for i := 0; i < 3; i++ {
		tn := dbtest.NewTenant(t)
		// A third admin, so that neither removal is refused as the last.
		if _, _, err := dbtest.Identities(t).UserCreate(ctx, tenancy.For(tn.Account.ID), dbtest.Unique("third")+"@example.com", "Third", "third password 1", "admin"); err != nil {
			t.Fatal(err)
		}
		other, _, err := dbtest.Identities(t).UserCreate(ctx, tenancy.For(tn.Account.ID), dbtest.Unique("co")+"@example.com", "Co", "co password 1", "admin")
		if err != nil {
			t.Fatal(err)
		}
		pairs := [][2]int64{{tn.User.ID, other.ID}, {other.ID, tn.User.ID}}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j, p := range pairs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[j] = d.PersonRemove(ctx, tenancy.ByMember(tn.Account.ID, p[0], auditEntry("user.remove", p[0])), p[1], time.Now())
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, identity.ErrUnauthenticated), errors.Is(err, tenancy.ErrConflict):
			default:
				t.Fatalf("round %d: %v", i, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d removals succeeded (%v), want 1", i, ok, errs)
		}
	}
}

func auditEntry(action string, actor int64) audit.Entry {
	return audit.Entry{ActorKind: "user", ActorID: actor, Action: action, Decision: "allow"}
}

// Demoting an admin revokes the apps they connected to the MCP server
// (their OAuth grants, which granted what an admin may); tokens minted on
// Settings → MCP server belong to the workspace and stay, and promoting
// someone revokes nothing.
func TestDemotingAnAdminRevokesTheAppsTheyConnected(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.App(t)
	d := &desk.Desk{DB: db}
	tn := dbtest.NewTenant(t)
	co, _, err := dbtest.Identities(t).UserCreate(ctx, tenancy.For(tn.Account.ID), dbtest.Unique("co")+"@example.com", "Co", "co password 1", "admin")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	in := identity.MCPTokenInput{Name: "app", Scopes: []string{"conversations:read"}, RateLimitPerMinute: identity.DefaultRateLimit, CreatedBy: co.ID}
	tx, err := db.BeginLookup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	app, err := identity.OAuthGrantCreate(ctx, tx, tn.Account.ID, dbtest.Unique("request"), in, "https://client.example/meta.json", "Client", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	in.Name = "workspace bot"
	named, _, err := identity.MCPTokenCreate(ctx, db, tenancy.For(tn.Account.ID), in, now)
	if err != nil {
		t.Fatal(err)
	}
	revoked := func() map[int64]bool {
		t.Helper()
		list, err := identity.MCPTokenList(ctx, db, tn.Account.ID)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int64]bool{}
		for _, tok := range list {
			out[tok.ID] = tok.RevokedAt != nil
		}
		return out
	}
	admin, agent := "admin", "agent"
	if _, err := d.PersonChange(ctx, tenancy.For(tn.Account.ID), co.ID, desk.PersonPatch{Role: &admin}, now); err != nil {
		t.Fatal(err)
	}
	if r := revoked(); r[app.ID] || r[named.ID] {
		t.Fatalf("an admin kept as admin lost tokens: %v", r)
	}
	if _, err := d.PersonChange(ctx, tenancy.For(tn.Account.ID), co.ID, desk.PersonPatch{Role: &agent}, now); err != nil {
		t.Fatal(err)
	}
	if r := revoked(); !r[app.ID] || r[named.ID] {
		t.Fatalf("after demotion: the app is revoked %v (want true), the workspace's token %v (want false)", r[app.ID], r[named.ID])
	}
}
