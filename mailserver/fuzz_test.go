package mailserver_test

import (
	"bytes"
	"testing"

	"github.com/deskwoot/deskwoot/mailserver"
)

// FuzzParse feeds arbitrary bytes to the MIME parser the SMTP listener
// uses: it must never panic or hang. (What it returns is cleaned into
// storable text by desk.IncomingEmail; see FuzzIncomingEmail in desk.)
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		mailserver.Parse(bytes.NewReader(raw))
	})
}
