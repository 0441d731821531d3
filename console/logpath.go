package console

import "strings"

// secretPaths are the pages whose last path segment is a single-use token
// (invitation, password-reset, email-change and signup links): it never
// reaches a log.
var secretPaths = []string{"/invite/", "/password/reset/", "/profile/email/", "/signup/confirm/"}

// LogPath is a request path as logs may show it: a link token is replaced
// by "…".
func LogPath(p string) string {
	for _, pre := range secretPaths {
		if strings.HasPrefix(p, pre) && len(p) > len(pre) {
			return pre + "…"
		}
	}
	return p
}
