package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/deskwoot/deskwoot/bench"
)

// benchCmd is `deskwoot bench`: the performance table of DESIGN §16.
func benchCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	url := fs.String("url", "", "a running server's base URL (http://127.0.0.1:8080); empty starts PostgreSQL and a server")
	token := fs.String("token", "", "with --url: an MCP token with every scope and a high rate limit")
	dbURL := fs.String("database-url", "", "with --url: a superuser connection to its database, for the bare-SQL baselines")
	pid := fs.Int("server-pid", 0, "with --url: the server's process id, for its RSS")
	scale := fs.String("scale", "small", "dataset: small (20 tenants, 20k messages) or large (1,000 tenants, 1M messages)")
	clients := fs.Int("clients", 8, "concurrent clients of the mixed load")
	pollers := fs.Int("pollers", 1000, "long-polling clients for the memory figure")
	opa := fs.String("opa", "", "the opa executable whose server is the decision baseline; empty: opa on PATH, else OPA of this build installed once with go install")
	serverBin := fs.String("server", "", "without --url: the deskwoot executable to run as the server (another build, to compare two side by side); empty: this one")
	dur := fs.Duration("duration", 3*time.Second, "how long each figure is measured")
	only := fs.String("only", "", "live: measure only the console's live streams (update latency, RSS of 1,000 streams); widget: only the chat widget's; triage: only the console's conversation list and thread against their REST calls; read: only get_conversation against its floors A, B and C, and where its server time goes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sc, ok := bench.Scales[*scale]
	if !ok {
		return fmt.Errorf("bench: --scale must be small or large, not %q", *scale)
	}
	if *clients < 1 || *clients > 1024 || *pollers < 0 || *pollers > 10000 || *dur <= 0 {
		return errors.New("bench: --clients 1 to 1024, --pollers 0 to 10000, --duration positive")
	}
	if *only != "" && !slices.Contains([]string{"live", "widget", "triage", "read"}, *only) {
		return fmt.Errorf("bench: --only takes live, widget, triage or read, not %q", *only)
	}
	if *url != "" && *serverBin != "" {
		return errors.New("bench: --server starts a server of its own; it does not go with --url")
	}
	if *url == "" && slices.ContainsFunc([]string{*token, *dbURL}, func(s string) bool { return s != "" }) {
		return errors.New("bench: --token and --database-url go with --url")
	}
	return bench.Run(ctx, bench.Config{URL: *url, Token: *token, DatabaseURL: *dbURL, ServerPID: *pid, OPA: *opa, Scale: sc,
		Clients: *clients, Pollers: *pollers, Duration: *dur, Log: os.Stderr, Only: *only, Binary: *serverBin}, os.Stdout)
}
