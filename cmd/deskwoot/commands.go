package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/deskwoot/deskwoot/mailserver"
	"github.com/deskwoot/deskwoot/mcp"
	"github.com/deskwoot/deskwoot/migrations"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/server"
	"github.com/deskwoot/deskwoot/signup"
	"github.com/deskwoot/deskwoot/trial"
)

var version = "dev"

const usage = `deskwoot — a multi-tenant help desk with an MCP server at /api/mcp

Usage:
  deskwoot serve            serve the REST API and /api/mcp (DATABASE_URL = the deskwoot_app role)
  deskwoot migrate          apply migrations, create/update the deskwoot_app role (DATABASE_URL = the owner)
  deskwoot dev [--addr A] [--dir D] [--public-url URL]   private PostgreSQL under ./.deskwoot, migrate, demo workspace and its inbox receiver, serve on 127.0.0.1:8080
  deskwoot policy test      run the Rego policy tests with coverage
  deskwoot policy eval --input FILE.json   print the decision for an input document
  deskwoot policy show [--json]            the policy in force: revision, files, tests, coverage, catalog
  deskwoot policy explain --audit-id N     why an audit row's call was allowed or denied (DATABASE_URL = the owner)
  deskwoot policy replay --account N --candidate DIR   test a candidate of account rules and replay it on the account's decisions (DATABASE_URL = the owner)
  deskwoot audit export --account N [--since T]        decisions as OPA decision-log JSON lines (DATABASE_URL = the owner)
  deskwoot audit verify --account N        recompute an account's whole audit hash chain (DATABASE_URL = the owner)
  deskwoot audit verify --file EXPORT.jsonl --key PUBKEY   verify an audit export offline; names the first bad line
  deskwoot audit key [--private | --new]   the audit signing key's public half (and the key itself) migrate stored, or a new key pair
  deskwoot accounts list | show ID | trial --account ID (--ends-at RFC3339 | --extend 7d)   plan state; extend or end a trial (DATABASE_URL = the owner)
  deskwoot bench [--scale small|large] [--url URL --token T] [--opa PATH]   the performance table (DESIGN §16)
  deskwoot version

Environment (flags mirror them; see --help of each command, and the README's Reference):
  DATABASE_URL, DESKWOOT_APP_DATABASE_URL, DESKWOOT_APP_PASSWORD, DESKWOOT_DB_MAX_CONNS, DESKWOOT_ADDR, DESKWOOT_AUDIT_SIGNING_KEY,
  DESKWOOT_PUBLIC_URL, DESKWOOT_ALLOWED_HOSTS, DESKWOOT_WEBHOOK_ALLOW_PRIVATE, DESKWOOT_OAUTH_ALLOW_LOOPBACK_METADATA,
  DESKWOOT_IDEMPOTENCY_TTL, DESKWOOT_EVENT_RETENTION, DESKWOOT_SMTP_ADDR, DESKWOOT_INBOUND_DOMAIN,
  DESKWOOT_INBOUND_ROTATION_GRACE, DESKWOOT_SMTP_MAILS_PER_ADDRESS, DESKWOOT_SMTP_MAILS_PER_INBOX,
  DESKWOOT_METRICS_ADDR, DESKWOOT_METRICS_TOKEN, DESKWOOT_SIGNUPS_PER_HOUR, DESKWOOT_SIGNUP,
  DESKWOOT_CLIENT_IP_HEADER, DESKWOOT_SMTP_RELAY_URL, DESKWOOT_MAIL_FROM, STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET,
  STRIPE_API_BASE, DESKWOOT_STRIPE_PRICE_{STARTER,BUSINESS,ENTERPRISE}, DESKWOOT_GRACE_PERIOD
`

func run(args []string) error {
	if len(args) == 0 {
		fmt.Print(usage)
		return errors.New("no command given")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "serve":
		return serveCmd(ctx, args[1:])
	case "migrate":
		return migrateCmd(ctx, args[1:])
	case "dev":
		return devCmd(ctx, args[1:])
	case "policy":
		return policyCmd(ctx, args[1:])
	case "audit":
		return auditCmd(ctx, args[1:])
	case "accounts":
		return accountsCmd(ctx, args[1:])
	case "bench":
		return benchCmd(ctx, args[1:])
	case "version", "--version":
		fmt.Println("deskwoot", version)
		return nil
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	}
	fmt.Fprint(os.Stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func serveCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	dbURL := fs.String("database-url", env("DATABASE_URL", ""), "PostgreSQL URL of the deskwoot_app role (DATABASE_URL)")
	addr := fs.String("addr", env("DESKWOOT_ADDR", "127.0.0.1:8080"), "listen address (DESKWOOT_ADDR)")
	public := fs.String("public-url", env("DESKWOOT_PUBLIC_URL", ""), "public base URL, also an allowed Host (DESKWOOT_PUBLIC_URL)")
	hosts := fs.String("allowed-hosts", env("DESKWOOT_ALLOWED_HOSTS", ""), "extra allowed Host names for /api/mcp, comma separated (DESKWOOT_ALLOWED_HOSTS)")
	allowPrivate := fs.Bool("webhook-allow-private", env("DESKWOOT_WEBHOOK_ALLOW_PRIVATE", "") == "true", "let api inbox webhooks and email inbox delivery reach loopback and private addresses (DESKWOOT_WEBHOOK_ALLOW_PRIVATE=true)")
	oauthLoopback := fs.Bool("oauth-allow-loopback-metadata", env("DESKWOOT_OAUTH_ALLOW_LOOPBACK_METADATA", "") == "true", "let OAuth client ID metadata documents be fetched from http loopback URLs, for tests and local clients (DESKWOOT_OAUTH_ALLOW_LOOPBACK_METADATA=true)")
	maxConns := fs.String("db-max-conns", env("DESKWOOT_DB_MAX_CONNS", "0"), "most PostgreSQL connections this replica opens; 0 means the URL's pool_max_conns, else 4 per CPU, at least 4 (DESKWOOT_DB_MAX_CONNS)")
	smtpAddr := fs.String("smtp-addr", env("DESKWOOT_SMTP_ADDR", ""), "inbound mail listener address, e.g. :2525; off when empty (DESKWOOT_SMTP_ADDR)")
	inbound := addInboundFlags(fs, "")
	edge := addEdgeFlags(fs)
	mail := addMailFlags(fs)
	stripeFlags := addBillingFlags(fs)
	limits := addRetentionFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dbURL == "" {
		return errors.New("serve: set DATABASE_URL to the deskwoot_app connection")
	}
	if *public == "" {
		*public = "http://" + *addr
	}
	conns, err := strconv.Atoi(*maxConns)
	if err != nil || conns < 0 || conns > 10000 {
		return fmt.Errorf("serve: DESKWOOT_DB_MAX_CONNS must be a whole number from 0 (the default) to 10000, not %q", *maxConns)
	}
	mcp.Version = version
	cfg := server.Config{AppDatabaseURL: *dbURL, DBMaxConns: conns, Addr: *addr, PublicURL: *public, AllowedHosts: server.SplitHosts(*hosts), SMTPAddr: *smtpAddr, AllowPrivateWebhooks: *allowPrivate,
		OAuthAllowLoopbackMetadata: *oauthLoopback}
	if err := stripeFlags.apply(&cfg); err != nil {
		return err
	}
	if err := limits.apply(&cfg); err != nil {
		return err
	}
	if err := inbound.apply(&cfg); err != nil {
		return err
	}
	if err := edge.apply(&cfg); err != nil {
		return err
	}
	mail.apply(&cfg)
	if cfg.AuditSigningKey, err = signingKeyFromEnv(); err != nil {
		return err
	}
	app, err := server.Build(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "deskwoot serving on http://%s (MCP at %s/api/mcp)\n", *addr, *public)
	return app.Run(ctx, *addr)
}

// edgeFlags are where /metrics is served and the per-address abuse limits.
type edgeFlags struct{ metricsAddr, metricsToken, signups, signup, ipHeader *string }

func addEdgeFlags(fs *flag.FlagSet) *edgeFlags {
	return &edgeFlags{
		metricsAddr:  fs.String("metrics-addr", env("DESKWOOT_METRICS_ADDR", ""), "serve /metrics only on this address, e.g. 127.0.0.1:9090 (DESKWOOT_METRICS_ADDR)"),
		metricsToken: fs.String("metrics-token", env("DESKWOOT_METRICS_TOKEN", ""), "bearer token /metrics requires; without it and without --metrics-addr /metrics is off (DESKWOOT_METRICS_TOKEN)"),
		signups:      fs.String("signups-per-hour", env("DESKWOOT_SIGNUPS_PER_HOUR", "5"), "workspaces one client address may create an hour (DESKWOOT_SIGNUPS_PER_HOUR)"),
		signup: fs.String("signup", env("DESKWOOT_SIGNUP", "open"), "how new logins are made: open (signup and POST /api/v1/users create them at once and answer 409 for an email that has a login, rate limited) "+
			"or confirm (a mailed link confirms the email first and every address gets the same answer; needs --smtp-relay-url) (DESKWOOT_SIGNUP)"),
		ipHeader: fs.String("client-ip-header", env("DESKWOOT_CLIENT_IP_HEADER", ""), "header a reverse proxy sets to the client's address, e.g. X-Forwarded-For (DESKWOOT_CLIENT_IP_HEADER)"),
	}
}

func (f *edgeFlags) apply(cfg *server.Config) error {
	n, err := strconv.Atoi(*f.signups)
	if err != nil || n < 1 {
		return fmt.Errorf("DESKWOOT_SIGNUPS_PER_HOUR must be a whole number of at least 1, not %q", *f.signups)
	}
	mode, err := signup.ParseMode(*f.signup)
	if err != nil {
		return err
	}
	cfg.MetricsAddr, cfg.MetricsToken, cfg.SignupsPerHour, cfg.ClientIPHeader = *f.metricsAddr, *f.metricsToken, n, strings.TrimSpace(*f.ipHeader)
	cfg.Signup = mode
	return nil
}

// mailFlags are the operator's relay for mail to people. The relay URL's
// flag has no default shown: --help must not print a password taken from
// the environment.
type mailFlags struct{ relay, from *string }

func addMailFlags(fs *flag.FlagSet) *mailFlags {
	return &mailFlags{
		relay: fs.String("smtp-relay-url", "", "SMTP relay for mail to people (invitations, password resets, notifications), smtp://user:password@host:587 (STARTTLS when offered) or smtps://user:password@host:465; mail is off without it (DESKWOOT_SMTP_RELAY_URL)"),
		from:  fs.String("mail-from", env("DESKWOOT_MAIL_FROM", ""), "From address of mail to people, e.g. 'Deskwoot <desk@example.com>' (DESKWOOT_MAIL_FROM)"),
	}
}

func (f *mailFlags) apply(cfg *server.Config) {
	cfg.MailRelayURL, cfg.MailFrom = *f.relay, *f.from
	if cfg.MailRelayURL == "" {
		cfg.MailRelayURL = os.Getenv("DESKWOOT_SMTP_RELAY_URL")
	}
}

// inboundFlags are the receiving addresses' domain and rotation grace, and
// the inbound mail limits.
type inboundFlags struct{ domain, grace, perAddress, perInbox *string }

func addInboundFlags(fs *flag.FlagSet, defaultDomain string) *inboundFlags {
	return &inboundFlags{
		domain: fs.String("inbound-domain", env("DESKWOOT_INBOUND_DOMAIN", defaultDomain), "domain of the receiving addresses assigned to email inboxes, e.g. in.example.com (DESKWOOT_INBOUND_DOMAIN)"),
		grace:  fs.String("inbound-rotation-grace", env("DESKWOOT_INBOUND_ROTATION_GRACE", "7d"), "how long a rotated-out receiving address still receives, e.g. 7d or 36h (DESKWOOT_INBOUND_ROTATION_GRACE)"),
		perAddress: fs.String("smtp-mails-per-address", env("DESKWOOT_SMTP_MAILS_PER_ADDRESS", strconv.Itoa(mailserver.DefaultMailsPerAddress)),
			"inbound mails one connecting address may send a minute, a third of them at once; past it 451 (DESKWOOT_SMTP_MAILS_PER_ADDRESS)"),
		perInbox: fs.String("smtp-mails-per-inbox", env("DESKWOOT_SMTP_MAILS_PER_INBOX", strconv.Itoa(mailserver.DefaultMailsPerInbox)),
			"inbound mails one inbox may receive a minute, a third of them at once; past it 451 (DESKWOOT_SMTP_MAILS_PER_INBOX)"),
	}
}

func (f *inboundFlags) apply(cfg *server.Config) error {
	d := strings.ToLower(strings.TrimSpace(*f.domain))
	if d != "" && (strings.ContainsAny(d, "@/: ") || !strings.Contains(d, ".")) {
		return fmt.Errorf("DESKWOOT_INBOUND_DOMAIN must be a domain name such as in.example.com, not %q", *f.domain)
	}
	g, err := trial.ParseExtend(*f.grace)
	if err != nil || g < 0 {
		return fmt.Errorf("DESKWOOT_INBOUND_ROTATION_GRACE must be a duration such as 7d or 36h, not %q", *f.grace)
	}
	cfg.InboundDomain, cfg.InboundRotationGrace = d, g
	for _, l := range []struct {
		env, val string
		to       *int
	}{{"DESKWOOT_SMTP_MAILS_PER_ADDRESS", *f.perAddress, &cfg.InboundMailsPerAddress}, {"DESKWOOT_SMTP_MAILS_PER_INBOX", *f.perInbox, &cfg.InboundMailsPerInbox}} {
		n, err := strconv.Atoi(strings.TrimSpace(l.val))
		if err != nil || n < 1 || n > 1_000_000 {
			return fmt.Errorf("%s must be a whole number of mails a minute from 1 to 1000000, not %q", l.env, l.val)
		}
		*l.to = n
	}
	return nil
}

// retentionFlags are how long idempotency keys and events are kept.
type retentionFlags struct{ idempotency, events *string }

func addRetentionFlags(fs *flag.FlagSet) *retentionFlags {
	return &retentionFlags{
		idempotency: fs.String("idempotency-ttl", env("DESKWOOT_IDEMPOTENCY_TTL", "24h"), "how long an idempotency key returns its first result (DESKWOOT_IDEMPOTENCY_TTL)"),
		events:      fs.String("event-retention", env("DESKWOOT_EVENT_RETENTION", "720h"), "how long events are kept for poll_events (DESKWOOT_EVENT_RETENTION)"),
	}
}

func (r *retentionFlags) apply(cfg *server.Config) error {
	var err error
	if cfg.IdempotencyTTL, err = time.ParseDuration(*r.idempotency); err != nil || cfg.IdempotencyTTL <= 0 {
		return fmt.Errorf("DESKWOOT_IDEMPOTENCY_TTL must be a positive duration such as 24h, not %q", *r.idempotency)
	}
	if cfg.EventRetention, err = time.ParseDuration(*r.events); err != nil || cfg.EventRetention <= 0 {
		return fmt.Errorf("DESKWOOT_EVENT_RETENTION must be a positive duration such as 720h, not %q", *r.events)
	}
	return nil
}

func migrateCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	dbURL := fs.String("database-url", env("DATABASE_URL", ""), "PostgreSQL URL of the schema owner (DATABASE_URL)")
	appPassword := fs.String("app-password", env("DESKWOOT_APP_PASSWORD", ""), "password to set for deskwoot_app (DESKWOOT_APP_PASSWORD)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dbURL == "" {
		return errors.New("migrate: set DATABASE_URL to the owner connection")
	}
	v, err := migrations.Run(ctx, *dbURL, migrations.Options{AppPassword: *appPassword, Log: os.Stdout})
	if err != nil {
		return err
	}
	fmt.Printf("schema at version %d\n", v)
	return nil
}

func policyCmd(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("policy: say test, eval --input FILE.json, show, explain --audit-id N or replay --account N --candidate DIR")
	}
	switch args[0] {
	case "show":
		return policyShowCmd(ctx, args[1:])
	case "explain":
		return policyExplainCmd(ctx, args[1:])
	case "replay":
		return policyReplayCmd(ctx, args[1:])
	case "test":
		fs := flag.NewFlagSet("policy test", flag.ContinueOnError)
		cover := fs.Bool("coverage", true, "print coverage per policy file")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		passed, failed, err := policy.RunTests(ctx, os.Stdout, *cover)
		if err != nil {
			return err
		}
		if failed > 0 || passed == 0 {
			return errors.New("policy tests failed")
		}
		return nil
	case "eval":
		fs := flag.NewFlagSet("policy eval", flag.ContinueOnError)
		input := fs.String("input", "", "JSON input document (see rego/authz.rego)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		raw, err := os.ReadFile(*input)
		if err != nil {
			return fmt.Errorf("policy eval: %w", err)
		}
		e, err := policy.New(ctx)
		if err != nil {
			return err
		}
		out, err := e.EvalJSON(ctx, raw)
		if err != nil {
			return err
		}
		return printJSON(out)
	}
	return fmt.Errorf("policy: unknown subcommand %q", args[0])
}
