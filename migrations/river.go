package migrations

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// migrateRiver applies River's own migrations (the outbox's job tables,
// river_*), each in its own transaction, after the numbered files and before the
// grants, under the same advisory lock. River keeps its own bookkeeping in
// river_migration, so a re-run applies nothing.
func migrateRiver(ctx context.Context, conn *pgx.Conn, log io.Writer) error {
	m, err := rivermigrate.New(riverpgxv5.New(nil), &rivermigrate.Config{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return fmt.Errorf("migrate: river: %w", err)
	}
	// One River version per transaction: a later version uses an enum
	// value an earlier one adds, which PostgreSQL allows only after commit.
	for {
		var applied []rivermigrate.MigrateVersion
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			res, err := m.MigrateTx(ctx, tx, rivermigrate.DirectionUp, &rivermigrate.MigrateOpts{MaxSteps: 1})
			if err != nil {
				return err
			}
			applied = res.Versions
			return nil
		})
		if err != nil {
			return fmt.Errorf("migrate: river: %w", err)
		}
		if len(applied) == 0 {
			return nil
		}
		for _, v := range applied {
			fmt.Fprintf(log, "migrated river %03d_%s\n", v.Version, v.Name)
		}
	}
}
