package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/clientconfig"
	"github.com/deskwoot/deskwoot/demo"
	"github.com/deskwoot/deskwoot/devmail"
	"github.com/deskwoot/deskwoot/devsite"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/localpg"
	"github.com/deskwoot/deskwoot/mcp"
	"github.com/deskwoot/deskwoot/migrations"
	"github.com/deskwoot/deskwoot/server"
	"github.com/deskwoot/deskwoot/signup"
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
	signupMode := fs.String("signup", env("DESKWOOT_SIGNUP", "open"), "open or confirm: confirm mails a link to create each workspace (see it at /dev/mail) and answers every address alike (DESKWOOT_SIGNUP)")
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
	mode, err := signup.ParseMode(*signupMode)
	if err != nil {
		return err
	}
	cfg.Signup = mode
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
	srv, site, _, err := devApp(ctx, cfg, *dir, os.Stdout)
	if err != nil {
		return err
	}
	if site != nil {
		defer site.Close()
	}
	fmt.Printf("Serving on %s — Ctrl-C to stop.\n", *public)
	return srv.Run(ctx, *addr)
}

// devApp builds the server, seeds the demo workspace (or reads the logins
// an earlier run saved in dir), serves the test page that embeds the demo's
// "Website chat" widget on another origin (and lets that origin show it),
// and prints the banner to out. The workspace is zero (and the site nil)
// when an earlier run's logins are lost.
func devApp(ctx context.Context, cfg server.Config, dir string, out io.Writer) (*server.App, *devsite.Site, demo.Workspace, error) {
	srv, err := server.Build(ctx, cfg)
	if err != nil {
		return nil, nil, demo.Workspace{}, err
	}
	creds := filepath.Join(dir, "demo-credentials.json")
	// The seed writes through the server's own desk, so that its replies
	// are queued for delivery like any other.
	ws, err := demo.Seed(ctx, &identity.Identities{DB: srv.DB}, srv.Desk, demo.Options{Now: time.Now()})
	earlier := errors.Is(err, demo.ErrAlreadySeeded)
	switch {
	case earlier:
		// Kept data from an earlier run: show the logins saved then.
		raw, rerr := os.ReadFile(creds)
		if rerr != nil || json.Unmarshal(raw, &ws) != nil || ws.AccountID == 0 {
			fmt.Fprintf(out, "The demo workspace already exists, but %s is gone; remove %s to start over.\n", creds, dir)
			return srv, nil, demo.Workspace{}, nil
		}
	case err != nil:
		return nil, nil, demo.Workspace{}, err
	default:
		os.MkdirAll(dir, 0o700)
		if b, err := json.MarshalIndent(ws, "", "  "); err == nil {
			os.WriteFile(creds, b, 0o600)
		}
	}
	// The customer's side: a page on another port embeds the widget, and
	// each start lets that page's origin show it.
	var site *devsite.Site
	snippet, err := demo.ChatSnippet(ctx, srv.Desk, ws)
	if err == nil {
		if site, err = devsite.Start(devSiteAddr(cfg.Addr), snippet); err == nil {
			err = demo.ChatOriginsSet(ctx, srv.Desk, ws, site.Origin())
		}
	}
	if err != nil {
		// Kept data a person changed (the inbox deleted, say): serve anyway.
		fmt.Fprintf(out, "The demo's Website chat test page is not served: %v\n", err)
	}
	printDevBanner(out, cfg.PublicURL, ws, site)
	if cfg.DevMailbox != nil {
		fmt.Fprintf(out, "Mail to people (invitations, password resets, notifications, chat replies a visitor missed) lands in %s/dev/mail\n", cfg.PublicURL)
	}
	if earlier {
		fmt.Fprintf(out, "(the demo workspace from an earlier run, read from %s; remove %s to start over)\n\n", creds, dir)
	} else {
		fmt.Fprintf(out, "(saved to %s)\n\n", creds)
	}
	return srv, site, ws, nil
}

// devSiteAddr is where the test page listens: the next port after the
// server's when it has a fixed one (so the page's URL stays the same from
// run to run), else any free port.
func devSiteAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	n, perr := strconv.Atoi(port)
	if err != nil || perr != nil || n == 0 || n >= 65535 {
		return "127.0.0.1:0"
	}
	if host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
		host = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(n+1)))
	if err != nil {
		return net.JoinHostPort(host, "0")
	}
	ln.Close()
	return net.JoinHostPort(host, strconv.Itoa(n+1))
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
func printDevBanner(out io.Writer, public string, ws demo.Workspace, site *devsite.Site) {
	chat := "(not served this time; see above)"
	if site != nil {
		chat = site.URL()
	}
	fmt.Fprintf(out, `
Deskwoot demo workspace %q (account %d)

1. Sign in to the console: %s
     admin:  %s / %s
     agent:  %s / %s   (a person on the Tier 2 team: the queue, no settings)

2. Be a customer: open the test page that embeds the "Website chat" widget
     %s
   (a page on another origin, as your own site would be), search the help
   center, write, and watch the conversation appear in the console. A site's
   server may also post for its signed-in user:
     curl -sS %s/api/v1/inboxes/%d/messages -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \
       -d '{"contact": {"email": "pat@example.com", "name": "Pat Lee"}, "content": "Hi! I was charged twice this month."}'

3. Connect an agent. The MCP token (all ten scopes, every inbox):
     %s

`, ws.AccountName, ws.AccountID, public, ws.AdminEmail, ws.AdminPassword, ws.AgentEmail, ws.AgentPassword,
		chat, public, ws.ChatInboxID, ws.AdminAPIToken, ws.MCPToken)
	// The same configurations the console's MCP page shows.
	for _, c := range clientconfig.For(public+"/api/mcp", ws.MCPToken) {
		fmt.Fprintf(out, "   %s:\n", c.Title)
		if c.Note != "" {
			fmt.Fprintf(out, "     (%s)\n", c.Note)
		}
		fmt.Fprintf(out, "%s\n\n", indent(c.Text, "     "))
	}
	fmt.Fprintf(out, `4. Ask the agent to work the queue, then watch its replies, notes and drafts in
   the console (Conversations, Drafts), and its answers arrive live in the
   chat on the test page: %s

REST (/api/v1): the admin's API token is %s; anyone gets theirs from
POST /api/v1/login with their email and password (api_token).
`, chat, ws.AdminAPIToken)
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
