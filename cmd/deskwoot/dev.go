package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/deskwoot/deskwoot/clientconfig"
	"github.com/deskwoot/deskwoot/demo"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/devmail"
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
// demo workspace, client configuration, serve.
func devCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	addr := fs.String("addr", env("DESKWOOT_ADDR", "127.0.0.1:8080"), "listen address (DESKWOOT_ADDR)")
	dir := fs.String("dir", ".deskwoot", "where the private PostgreSQL keeps its data")
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
	public := "http://" + *addr
	// A local trial delivers webhooks to local receivers.
	cfg := server.Config{AppDatabaseURL: app, Addr: *addr, PublicURL: public, AllowPrivateWebhooks: true, OAuthAllowLoopbackMetadata: true, SMTPAddr: *smtpAddr}
	if err := limits.apply(&cfg); err != nil {
		return err
	}
	if err := inbound.apply(&cfg); err != nil {
		return err
	}
	mail.apply(&cfg)
	if cfg.MailRelayURL == "" {
		// No relay of the operator's: mail to people goes to a local
		// mailbox, shown at /dev/mail.
		box, err := devmail.Start("127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("dev: local mailbox: %w", err)
		}
		defer box.Close()
		cfg.MailRelayURL, cfg.DevMailbox = box.RelayURL(), box.Handler(public)
		if cfg.MailFrom == "" {
			cfg.MailFrom = "Deskwoot <deskwoot@localhost>"
		}
	}
	srv, err := server.Build(ctx, cfg)
	if err != nil {
		return err
	}
	creds := filepath.Join(*dir, "demo-credentials.json")
	ws, err := demo.Seed(ctx, &tenancy.Identities{DB: srv.DB}, &desk.Desk{DB: srv.DB}, demo.Options{Now: time.Now()})
	switch {
	case errors.Is(err, demo.ErrAlreadySeeded):
		// Kept data from an earlier run: show the credentials saved then.
		raw, rerr := os.ReadFile(creds)
		if rerr != nil || json.Unmarshal(raw, &ws) != nil {
			fmt.Printf("The demo workspace already exists, but %s is gone; remove %s to start over.\n", creds, *dir)
			break
		}
		printDevBanner(public, ws)
		fmt.Printf("(the demo workspace from an earlier run, read from %s)\n\n", creds)
	case err != nil:
		return err
	default:
		printDevBanner(public, ws)
		os.MkdirAll(*dir, 0o700)
		if b, err := json.MarshalIndent(ws, "", "  "); err == nil {
			os.WriteFile(creds, b, 0o600)
			fmt.Printf("(saved to %s)\n\n", creds)
		}
	}
	if cfg.DevMailbox != nil {
		fmt.Printf("Mail to people (invitations, password resets, notifications) lands in %s/dev/mail\n", public)
	}
	fmt.Printf("Serving on %s — Ctrl-C to stop.\n", public)
	return srv.Run(ctx, *addr)
}

func printDevBanner(public string, ws demo.Workspace) {
	fmt.Printf(`
Deskwoot demo workspace %q (account %d)
  console:          %s   (sign in with the admin login)
  admin login:      %s / %s
  admin API token:  %s
  MCP token:        %s   (all ten scopes, every inbox)

`, ws.AccountName, ws.AccountID, public, ws.AdminEmail, ws.AdminPassword, ws.AdminAPIToken, ws.MCPToken)
	// The same configurations the console's MCP page shows.
	cs := clientconfig.For(public+"/api/mcp", ws.MCPToken)
	fmt.Printf("MCP client configuration — %s:\n%s\n\n", cs[0].Title, cs[0].Text)
	fmt.Printf("%s:\n%s\nor: %s\n\n", cs[1].Title, cs[1].Text, cs[2].Text)
	fmt.Printf("%s:\n%s\n\n", cs[3].Title, cs[3].Text)
}
