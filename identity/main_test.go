package identity_test

import (
	"testing"

	"github.com/deskwoot/deskwoot/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }
