package bench

import (
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestOPAServerBaselineRunsOPAAsItsOwnProcess measures a few decisions
// through `opa run --server` started as a child process, when an opa
// executable is at hand (on PATH, or installed by an earlier `deskwoot
// bench`); installing one takes minutes, so the test does not.
func TestOPAServerBaselineRunsOPAAsItsOwnProcess(t *testing.T) {
	// A test binary has no module versions in its build information.
	v, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", opaModule).Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", opaModule, err)
	}
	bin, ok := opaAtHand(strings.TrimSpace(string(v)))
	if !ok {
		t.Skip("no opa on PATH or installed by an earlier `deskwoot bench`")
	}
	st, err := opaServerStats(context.Background(), bin, io.Discard, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if !st.ok() || st.errors > 0 {
		t.Fatalf("no decisions measured: %+v", st)
	}
}
