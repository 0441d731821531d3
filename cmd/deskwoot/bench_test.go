package main

import (
	"context"
	"strings"
	"testing"
)

// TestBenchFlags: --only names read among its choices, and --server (a
// server build of the bench's own) is refused beside --url, before anything
// starts.
func TestBenchFlags(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--only", "nope"}, "live, widget, triage or read"},
		{[]string{"--url", "http://127.0.0.1:1", "--server", "/bin/true"}, "does not go with --url"},
	} {
		err := benchCmd(context.Background(), c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("bench %v: error %v, want one saying %q", c.args, err, c.want)
		}
	}
}
