package console

import "testing"

// TestLogPathHidesEveryLinkToken: the token of each single-use link page
// is replaced before a path reaches a log.
func TestLogPathHidesEveryLinkToken(t *testing.T) {
	for _, p := range []string{"/invite/dw_inv_x", "/password/reset/dw_rst_x", "/profile/email/dw_eml_x", "/signup/confirm/dw_sgn_x"} {
		if got := LogPath(p); got == p || len(got) >= len(p) {
			t.Errorf("LogPath(%q) = %q: the token stays", p, got)
		}
	}
	if got := LogPath("/conversations/12"); got != "/conversations/12" {
		t.Errorf("LogPath changed an ordinary path: %q", got)
	}
}
