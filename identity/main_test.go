package identity_test

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/deskwoot/deskwoot/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// isPermission says err is PostgreSQL refusing the role the statement.
func isPermission(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42501"
}
