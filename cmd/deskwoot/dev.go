package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/clientconfig"
	"github.com/deskwoot/deskwoot/demo"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/devmail"
	"github.com/deskwoot/deskwoot/devreceiver"
	"github.com/deskwoot/deskwoot/localpg"
	"github.com/deskwoot/deskwoot/mcp"
	"github.com/deskwoot/deskwoot/migrations"
	"github.com/deskwoot/deskwoot/server"
	"github.com/deskwoot/deskwoot/tenancy"
)

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// devCmd runs a local trial: private PostgreSQL (or DATABASE_URL), migrate,
// demo workspace, the demo inbox's receiver, a local mailbox, client
// configuration, serve.
func devCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	addr := fs.String("addr", env("DESKWOOT_ADDR", "127.0.0.1:8080"), "listen address (DESKWOOT_ADDR)")
	dir := fs.String("dir", ".deskwoot", "where the private PostgreSQL keeps its data and the demo's logins are saved")
	public := fs.String("public-url", env("DESKWOOT_PUBLIC_URL", ""), "public base URL, such as an https tunnel to --addr for Claude's connectors; default http://ADDR (DESKWOOT_PUBLIC_URL)")
	limits := addRetentionFlags(fs)
	// A local trial receives mail on a local domain; the listener is on
	// when DESKWOOT_SMTP_ADDR is set.
	inbound := addInboundFlags(fs, "in.deskwoot.localhost")
	smtpAddr := fs.String("smtp-addr", env("DESKWOOT_SMTP_ADDR", ""), "inbound mail listener address, e.g. 127.0.0.1:2525; off when empty (DESKWOOT_SMTP_ADDR)")
	mail := addMailFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	owner, app := os.Getenv("DATABASE_URL"), os.Getenv("DESKWOOT_APP_DATABASE_URL")
	if owner == "" {
		c, err := localpg.Start(ctx, localpg.Options{Dir: *dir, Log: os.Stderr})
		if err != nil {
			return err
		}
		defer c.Stop()
		abs, _ := filepath.Abs(c.Dir)
		fmt.Fprintf(os.Stderr, "PostgreSQL data in %s, listening on 127.0.0.1:%d\n", abs, c.Port)
		owner, app = c.OwnerURL, c.AppURL
	} else if app == "" {
		var err error
		if app, err = tenancy.AppURL(owner, os.Getenv("DESKWOOT_APP_PASSWORD")); err != nil {
			return err
		}
	}
	if _, err := migrations.Run(ctx, owner, migrations.Options{AppPassword: os.Getenv("DESKWOOT_APP_PASSWORD"), Log: os.Stderr}); err != nil {
		return err
	}
	mcp.Version = version
	if *public == "" {
		*public = "http://" + *addr
	}
	*public = strings.TrimRight(*public, "/")
	// A local trial delivers webhooks to local receivers (its own included)
	// and lets OAuth clients publish their metadata on loopback.
	cfg := server.Config{AppDatabaseURL: app, Addr: *addr, PublicURL: *public, AllowPrivateWebhooks: true, OAuthAllowLoopbackMetadata: true, SMTPAddr: *smtpAddr}
	if err := limits.apply(&cfg); err != nil {
		return err
	}
	if err := inbound.apply(&cfg); err != nil {
		return err
	}
	mail.apply(&cfg)
	// The audit checkpoints' key: DESKWOOT_AUDIT_SIGNING_KEY, else the one
	// migrate stored, which dev may read as the owner.
	key, err := devSigningKey(ctx, owner)
	if err != nil {
		return err
	}
	cfg.AuditSigningKey = key
	if cfg.MailRelayURL == "" {
		// No relay of the operator's: mail to people goes to a local
		// mailbox, shown at /dev/mail.
		box, err := devmail.Start("127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("dev: local mailbox: %w", err)
		}
		defer box.Close()
		cfg.MailRelayURL, cfg.DevMailbox = box.RelayURL(), box.Handler(*public)
		if cfg.MailFrom == "" {
			cfg.MailFrom = "Deskwoot <deskwoot@localhost>"
		}
	}
	srv, _, err := devApp(ctx, cfg, *dir, os.Stdout)
	if err != nil {
		return err
	}
	fmt.Printf("Serving on %s — Ctrl-C to stop.\n", *public)
	return srv.Run(ctx, *addr)
}

// devApp builds the server, seeds the demo workspace (or reads the logins
// an earlier run saved in dir), points the demo's "Website chat" inbox at the
// built-in receiver on this server, and prints the banner to out. The
// workspace is zero when an earlier run's logins are lost.
func devApp(ctx context.Context, cfg server.Config, dir string, out io.Writer) (*server.App, demo.Workspace, error) {
	srv, err := server.Build(ctx, cfg)
	if err != nil {
		return nil, demo.Workspace{}, err
	}
	creds := filepath.Join(dir, "demo-credentials.json")
	// The seed writes through a desk with the server's outbox, so that its
	// replies are queued for delivery like any other (without it they
	// would stay pending forever).
	d := &desk.Desk{DB: srv.DB, Hub: srv.Hub, Outbox: srv.Outbox, EventRetention: cfg.EventRetention,
		InboundDomain: cfg.InboundDomain, InboundRotationGrace: cfg.InboundRotationGrace}
	ws, err := demo.Seed(ctx, &tenancy.Identities{DB: srv.DB}, d, demo.Options{Now: time.Now()})
	earlier := errors.Is(err, demo.ErrAlreadySeeded)
	switch {
	case earlier:
		// Kept data from an earlier run: show the logins saved then.
		raw, rerr := os.ReadFile(creds)
		if rerr != nil || json.Unmarshal(raw, &ws) != nil || ws.AccountID == 0 {
			fmt.Fprintf(out, "The demo workspace already exists, but %s is gone; remove %s to start over.\n", creds, dir)
			return srv, demo.Workspace{}, nil
		}
	case err != nil:
		return nil, demo.Workspace{}, err
	default:
		os.MkdirAll(dir, 0o700)
		if b, err := json.MarshalIndent(ws, "", "  "); err == nil {
			os.WriteFile(creds, b, 0o600)
		}
	}
	// Each start signs the demo inbox's deliveries with a new secret and
	// points them at this start's address.
	secret := rand.Text()
	if err := demo.ChatWebhookSet(ctx, d, ws, localURL(cfg.Addr)+devreceiver.WebhookPath, secret); err != nil {
		// Kept data a person changed (the inbox deleted, say): serve anyway.
		fmt.Fprintf(out, "Replies on the demo's Website chat will not reach %s: %v\n", devreceiver.PagePath, err)
	}
	srv.Handler = devreceiver.New(secret).Mount(srv.Handler)
	printDevBanner(out, cfg.PublicURL, ws)
	if cfg.DevMailbox != nil {
		fmt.Fprintf(out, "Mail to people (invitations, password resets, notifications) lands in %s/dev/mail\n", cfg.PublicURL)
	}
	if earlier {
		fmt.Fprintf(out, "(the demo workspace from an earlier run, read from %s; remove %s to start over)\n\n", creds, dir)
	} else {
		fmt.Fprintf(out, "(saved to %s)\n\n", creds)
	}
	return srv, ws, nil
}

// localURL is the base URL this process reaches itself at on addr.
func localURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// printDevBanner is the newcomer's first hour, in order: sign in, be a
// customer, connect an agent, watch it work.
func printDevBanner(out io.Writer, public string, ws demo.Workspace) {
	fmt.Fprintf(out, `
Deskwoot demo workspace %q (account %d)

1. Sign in to the console: %s
     admin:  %s / %s
     agent:  %s / %s   (a person on the Tier 2 team: the queue, no settings)

2. Be a customer: send a message to the "Website chat" inbox
     curl -sS %s/api/v1/inboxes/%d/messages -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \
       -d '{"contact": {"email": "pat@example.com", "name": "Pat Lee"}, "content": "Hi! I was charged twice this month."}'
   Replies there reach the customer's side, shown at %s%s

3. Connect an agent. The MCP token (all ten scopes, every inbox):
     %s

`, ws.AccountName, ws.AccountID, public, ws.AdminEmail, ws.AdminPassword, ws.AgentEmail, ws.AgentPassword,
		public, ws.ChatInboxID, ws.AdminAPIToken, public, devreceiver.PagePath, ws.MCPToken)
	// The same configurations the console's MCP page shows.
	for _, c := range clientconfig.For(public+"/api/mcp", ws.MCPToken) {
		fmt.Fprintf(out, "   %s:\n", c.Title)
		if c.Note != "" {
			fmt.Fprintf(out, "     (%s)\n", c.Note)
		}
		fmt.Fprintf(out, "%s\n\n", indent(c.Text, "     "))
	}
	fmt.Fprintf(out, `4. Ask the agent to work the queue, then watch its replies, notes and drafts in
   the console (Conversations, Drafts) and what the customer got at %s%s

REST (/api/v1): the admin's API token is %s; anyone gets theirs from
POST /api/v1/login with their email and password (api_token).
`, public, devreceiver.PagePath, ws.AdminAPIToken)
}

func indent(s, by string) string {
	return by + strings.ReplaceAll(s, "\n", "\n"+by)
}

// devSigningKey is DESKWOOT_AUDIT_SIGNING_KEY, else the key migrate stored
// (read over the owner's connection, which dev has).
func devSigningKey(ctx context.Context, ownerURL string) (ed25519.PrivateKey, error) {
	if key, err := signingKeyFromEnv(); key != nil || err != nil {
		return key, err
	}
	conn, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	return audit.StoredKey(ctx, conn)
}
