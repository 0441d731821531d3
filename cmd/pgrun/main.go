// Command pgrun starts a throwaway PostgreSQL, migrates it, runs a command
// with DATABASE_URL (owner) and DESKWOOT_APP_DATABASE_URL (app role) pointing
// at it, and stops it. `make test` uses it so that every test package of one
// `go test` run shares one cluster. With DATABASE_URL already set it only
// runs the command.
//
//	go run ./cmd/pgrun -- go test ./...
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/deskwoot/deskwoot/localpg"
	"github.com/deskwoot/deskwoot/migrations"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: pgrun -- command [args...]")
		os.Exit(2)
	}
	os.Exit(run(args))
}

func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if os.Getenv("DATABASE_URL") == "" {
		c, err := localpg.Start(ctx, localpg.Options{Fast: true, Log: os.Stderr})
		if err != nil {
			fmt.Fprintln(os.Stderr, "pgrun:", err)
			return 1
		}
		defer func() {
			c.Stop()
			os.RemoveAll(c.Dir)
		}()
		if _, err := migrations.Run(ctx, c.OwnerURL, migrations.Options{}); err != nil {
			fmt.Fprintln(os.Stderr, "pgrun:", err)
			return 1
		}
		os.Setenv("DATABASE_URL", c.OwnerURL)
		os.Setenv("DESKWOOT_APP_DATABASE_URL", c.AppURL)
		os.Setenv("DESKWOOT_TEST_SUPERUSER_URL", c.SuperuserURL())
		fmt.Fprintf(os.Stderr, "pgrun: PostgreSQL on 127.0.0.1:%d (%s)\n", c.Port, c.Dir)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "pgrun:", err)
		return 1
	}
	return 0
}
