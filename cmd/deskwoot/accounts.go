package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/deskwoot/deskwoot/billing"
	policies "github.com/deskwoot/deskwoot/rego"
	"github.com/deskwoot/deskwoot/server"
	"github.com/deskwoot/deskwoot/tenancy"
	"github.com/deskwoot/deskwoot/trial"
)

const accountsUsage = `deskwoot accounts — plan state of accounts, and trials (DATABASE_URL = the owner)

  deskwoot accounts list [--json]
  deskwoot accounts show ID
  deskwoot accounts trial --account ID --ends-at 2026-12-03T00:00:00Z   set the trial end (in the past ends it now)
  deskwoot accounts trial --account ID --extend 7d                      extend from the later of now and the current end
`

// accountsCmd is the operator's view of accounts and their trials.
func accountsCmd(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, accountsUsage)
		return errors.New("accounts: say list, show ID or trial")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("accounts "+sub, flag.ContinueOnError)
	dbURL := fs.String("database-url", env("DATABASE_URL", ""), "PostgreSQL URL of the owner (DATABASE_URL)")
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	asJSON := fs.Bool("json", false, "list: print JSON instead of a table")
	acct := fs.String("account", "", "trial: account id")
	endsAt := fs.String("ends-at", "", "trial: new trial end, RFC3339")
	extend := fs.String("extend", "", "trial: extension such as 7d or 36h")
	operator := fs.String("operator", env("USER", "operator"), "trial: who is making the change, for the audit log")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if id == "" {
		id = fs.Arg(0)
	}
	if *dbURL == "" {
		return errors.New("accounts: set DATABASE_URL to the owner connection")
	}
	db, err := tenancy.Open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now()
	switch sub {
	case "list":
		views, err := billing.List(ctx, db, now)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(map[string]any{"accounts": views})
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tPLAN\tSTATUS\tMCP\tTRIAL ENDS\tGRACE ENDS\tREASON")
		for _, v := range views {
			e := v.Entitlement
			mcp := "no"
			if e.MCPAllowed {
				mcp = "allowed"
				if !e.MCPEnabled {
					mcp = "allowed, off"
				}
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.AccountID, v.Name, e.Plan, e.Status, mcp, day(e.TrialEndsAt), day(e.GraceEndsAt), e.Reason)
		}
		return tw.Flush()
	case "show":
		n, err := accountID(id)
		if err != nil {
			return err
		}
		v, err := billing.View(ctx, db, n, now)
		if err != nil {
			return err
		}
		events, err := billing.StripeEventList(ctx, db, n)
		if err != nil {
			return err
		}
		if len(events) > 20 {
			events = events[:20]
		}
		return printJSON(map[string]any{"account": v, "stripe_events": events})
	case "trial":
		n, err := accountID(*acct)
		if err != nil {
			return err
		}
		var c trial.Change
		switch {
		case *endsAt != "" && *extend != "", *endsAt == "" && *extend == "":
			return errors.New("accounts trial: give exactly one of --ends-at RFC3339 or --extend 7d")
		case *endsAt != "":
			t, err := time.Parse(time.RFC3339, *endsAt)
			if err != nil {
				return fmt.Errorf("accounts trial: --ends-at must be an RFC3339 time such as 2026-12-03T00:00:00Z")
			}
			c.EndsAt = &t
		default:
			if c.Extend, err = trial.ParseExtend(*extend); err != nil {
				return fmt.Errorf("accounts trial: %w", err)
			}
		}
		if _, err := billing.TrialSet(ctx, db, nil, n, c, *operator, now); err != nil {
			return err
		}
		v, err := billing.View(ctx, db, n, now)
		if err != nil {
			return err
		}
		return printJSON(map[string]any{"account": v})
	}
	fmt.Fprint(os.Stderr, accountsUsage)
	return fmt.Errorf("accounts: unknown subcommand %q", sub)
}

func accountID(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("accounts: give an account id (a positive integer)")
	}
	return n, nil
}

func day(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// billingFlags are serve's Stripe settings.
type billingFlags struct {
	secret, webhookSecret, apiBase, grace *string
	prices                                map[string]*string
}

func addBillingFlags(fs *flag.FlagSet) *billingFlags {
	b := &billingFlags{
		secret:        fs.String("stripe-secret-key", env("STRIPE_SECRET_KEY", ""), "Stripe API key (STRIPE_SECRET_KEY); billing is off without Stripe keys"),
		webhookSecret: fs.String("stripe-webhook-secret", env("STRIPE_WEBHOOK_SECRET", ""), "Stripe webhook signing secret, whsec_… (STRIPE_WEBHOOK_SECRET)"),
		apiBase:       fs.String("stripe-api-base", env("STRIPE_API_BASE", ""), "Stripe API base URL, e.g. a stripe-mock at http://127.0.0.1:12111 (STRIPE_API_BASE)"),
		grace:         fs.String("grace-period", env("DESKWOOT_GRACE_PERIOD", "168h"), "how long a past-due subscription keeps MCP (DESKWOOT_GRACE_PERIOD)"),
		prices:        map[string]*string{},
	}
	for _, plan := range policies.Plans().All {
		name := "DESKWOOT_STRIPE_PRICE_" + strings.ToUpper(plan)
		b.prices[plan] = fs.String("stripe-price-"+plan, env(name, ""), "Stripe price id of the "+plan+" plan ("+name+")")
	}
	return b
}

func (b *billingFlags) apply(cfg *server.Config) error {
	grace, err := trial.ParseExtend(*b.grace)
	if err != nil {
		return fmt.Errorf("serve: DESKWOOT_GRACE_PERIOD: %w", err)
	}
	cfg.StripeSecretKey, cfg.StripeWebhookSecret, cfg.StripeAPIBase, cfg.GracePeriod = *b.secret, *b.webhookSecret, *b.apiBase, grace
	cfg.StripePrices = map[string]string{}
	for plan, p := range b.prices {
		if *p != "" {
			cfg.StripePrices[plan] = *p
		}
	}
	if cfg.StripeSecretKey == "" && cfg.StripeWebhookSecret == "" {
		fmt.Fprintln(os.Stderr, "deskwoot: billing is not configured (set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET); its endpoints answer 503")
	}
	return nil
}
