package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/tenancy"
	"github.com/deskwoot/deskwoot/tenantpolicy"
)

// policyShowCmd prints the policy in force: revision, files, tests with
// coverage, and the tool catalog.
func policyShowCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("policy show", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print everything, sources included, as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	e, err := policy.New(ctx)
	if err != nil {
		return err
	}
	v, err := tenantpolicy.Show(ctx, nil, e, 0)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(v)
	}
	fmt.Printf("revision %s\n\nfiles:\n", v.Revision)
	for _, f := range v.Files {
		fmt.Printf("  %s (%d bytes)\n", f.Name, len(f.Source))
	}
	fmt.Printf("\ntests: %d passed, %d failed\n", v.Tests.Passed, v.Tests.Failed)
	for _, c := range v.Tests.Coverage {
		fmt.Printf("  coverage %-14s %5.1f%%\n", c.File, c.Percent)
	}
	fmt.Println("\ncatalog:")
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TOOL\tSCOPE\tACCESS\tTARGET\tDRAFT ON APPROVAL")
	for _, t := range v.Catalog.Tools {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%v\n", t.Name, t.Scope, t.Access, t.Target, t.DraftOnApproval)
	}
	return tw.Flush()
}

// ownerDB opens the owner's connection for an operator command.
func ownerDB(ctx context.Context, url string) (*tenancy.DB, error) {
	if url == "" {
		return nil, errors.New("set DATABASE_URL to the owner connection")
	}
	return tenancy.Open(ctx, url)
}

// policyExplainCmd explains one audit row (DATABASE_URL = the owner).
func policyExplainCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("policy explain", flag.ContinueOnError)
	dbURL := fs.String("database-url", env("DATABASE_URL", ""), "PostgreSQL URL of the owner (DATABASE_URL)")
	auditID := fs.Int64("audit-id", 0, "the audit row to explain")
	acct := fs.Int64("account", 0, "the row's account (optional; found when left out)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *auditID <= 0 {
		return errors.New("policy explain: --audit-id must be an audit row id")
	}
	db, err := ownerDB(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	x, a, err := tenantpolicy.ExplainAny(ctx, db, *acct, *auditID)
	if err != nil {
		return err
	}
	return printJSON(map[string]any{"account_id": a, "explanation": x})
}

// policyReplayCmd replays a candidate folder against an account's recorded
// decisions, without storing or activating anything.
func policyReplayCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("policy replay", flag.ContinueOnError)
	dbURL := fs.String("database-url", env("DATABASE_URL", ""), "PostgreSQL URL of the owner (DATABASE_URL)")
	acct := fs.Int64("account", 0, "account id")
	dir := fs.String("candidate", "", "folder with the module (package deskwoot.tenant) and its tests (*_test.rego)")
	days := fs.Int("days", tenantpolicy.DefaultReplayDays, "replay the decisions of this many days")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *acct <= 0 || *dir == "" {
		return errors.New("policy replay: say --account N --candidate DIR")
	}
	tr, err := tenantpolicy.ReadCandidateDir(*dir)
	if err != nil {
		return err
	}
	e, err := policy.New(ctx)
	if err != nil {
		return err
	}
	db, err := ownerDB(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	rev, err := tenantpolicy.ReviewCandidate(ctx, db, e, *acct, tr, time.Now().AddDate(0, 0, -*days))
	if err != nil {
		return err
	}
	if err := printJSON(rev); err != nil {
		return err
	}
	if rev.Tests.Failed > 0 {
		return fmt.Errorf("%d of the candidate's tests failed", rev.Tests.Failed)
	}
	return nil
}

// auditExportCmd writes an account's decisions as OPA decision-log JSON
// lines (DATABASE_URL = the owner).
func auditExportCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("audit export", flag.ContinueOnError)
	dbURL := fs.String("database-url", env("DATABASE_URL", ""), "PostgreSQL URL of the owner (DATABASE_URL)")
	acct := fs.String("account", "", "account id")
	since := fs.String("since", "", "RFC 3339 time or a duration back from now such as 24h (default: everything)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	id, err := strconv.ParseInt(*acct, 10, 64)
	if err != nil || id <= 0 {
		return errors.New("audit export: --account must be an account id")
	}
	var from time.Time
	if *since != "" {
		if from, err = time.Parse(time.RFC3339, *since); err != nil {
			d, derr := time.ParseDuration(*since)
			if derr != nil || d <= 0 {
				return errors.New("audit export: --since must be an RFC 3339 time or a duration such as 24h")
			}
			from = time.Now().Add(-d)
		}
	}
	db, err := ownerDB(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := tenantpolicy.Export(ctx, db, id, from, os.Stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%d decisions exported\n", n)
	return nil
}
