package migrations_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/migrations"
	"github.com/deskwoot/deskwoot/tenancy"
)

// TestOldEmailInboxesGetAnAssignedAddress builds the schema as it was
// before 0010 (inboxes claimed their own inbound_address), fills it, then
// migrates: every email inbox gets a generated receiving address, the
// claimed ones stop routing and leave the settings.
func TestOldEmailInboxesGetAnAssignedAddress(t *testing.T) {
	ctx := context.Background()
	url := scratchDB(t, "migtest_inbound")
	if _, err := migrations.Run(ctx, url, migrations.Options{UpTo: 9}); err != nil {
		t.Fatal(err)
	}
	appURL, err := tenancy.AppURL(url, "")
	if err != nil {
		t.Fatal(err)
	}
	db, err := tenancy.Open(ctx, appURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ids := &identity.Identities{DB: db, PasswordCost: bcrypt.MinCost}
	type old struct{ acct, email, api int64 }
	var olds []old
	for i, claimed := range []string{"support@acme.test", "help@in.other.test"} {
		res, err := ids.Signup(ctx, identity.SignupInput{AccountName: "Old", Email: dbtest.Unique("old") + "@example.com", Password: "correct horse battery", NoAPIToken: true}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		o := old{acct: res.Account.ID}
		err = db.InTenant(ctx, o.acct, func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, `INSERT INTO inboxes (account_id, name, channel, settings) VALUES ($1, 'Mail', 'email', $2) RETURNING id`,
				o.acct, map[string]any{"from_address": "support@acme.test", "inbound_address": claimed}).Scan(&o.email); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `INSERT INTO inboxes (account_id, name, channel, settings) VALUES ($1, 'API', 'api', '{}') RETURNING id`, o.acct).Scan(&o.api)
		})
		if err != nil {
			t.Fatalf("old inbox %d: %v", i, err)
		}
		olds = append(olds, o)
	}

	if _, err := migrations.Run(ctx, url, migrations.Options{}); err != nil {
		t.Fatal(err)
	}
	d := &desk.Desk{DB: db, InboundDomain: "in.deskwoot.test"}
	shape := regexp.MustCompile(`^[0-9a-f]{32}@in\.deskwoot\.test$`)
	seen := map[string]bool{}
	for _, o := range olds {
		ibs, err := d.InboxList(ctx, tenancy.For(o.acct), desk.Scope{}, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, ib := range ibs {
			switch ib.ID {
			case o.email:
				if ib.InboundAddress == nil || !shape.MatchString(*ib.InboundAddress) || seen[*ib.InboundAddress] {
					t.Fatalf("migrated email inbox has receiving address %v", ib.InboundAddress)
				}
				seen[*ib.InboundAddress] = true
				if regexp.MustCompile(`inbound_address`).Match(ib.Settings) || !regexp.MustCompile(`support@acme.test`).Match(ib.Settings) {
					t.Fatalf("migrated settings %s: the claimed address should be gone, from_address kept", ib.Settings)
				}
				acct, inbox, err := d.EmailInbox(ctx, *ib.InboundAddress)
				if err != nil || acct != o.acct || inbox != o.email {
					t.Fatalf("%s routes to %d/%d (%v)", *ib.InboundAddress, acct, inbox, err)
				}
			case o.api:
				if ib.InboundAddress != nil {
					t.Fatalf("an api inbox got a receiving address %s", *ib.InboundAddress)
				}
			}
		}
	}
	if len(seen) != 2 {
		t.Fatalf("%d migrated addresses, want 2", len(seen))
	}
	for _, claimed := range []string{"support@acme.test", "help@in.other.test"} {
		_, domain, _ := strings.Cut(claimed, "@")
		d := &desk.Desk{DB: db, InboundDomain: domain}
		if _, _, err := d.EmailInbox(ctx, claimed); !errors.Is(err, desk.ErrNotFound) {
			t.Fatalf("the claimed address %s still routes: %v", claimed, err)
		}
	}
}
