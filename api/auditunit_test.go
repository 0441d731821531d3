package api_test

import (
	"fmt"
	"testing"

	"github.com/deskwoot/deskwoot/dbtest"
)

// TestAdminWritesCommitWithTheirAuditRows: an admin's change and its audit
// row commit in one unit of work, so when PostgreSQL refuses the row the
// change is refused with it and nothing of it remains — no label, team,
// inbox, token or person is made, a token is not revoked, MCP is not
// switched off, and the admin is told it failed. Before, the doors audited
// after the change committed and only logged a failed row.
func TestAdminWritesCommitWithTheirAuditRows(t *testing.T) {
	t.Parallel()
	a := signup(t)
	want(t, call(t, "PUT", "/api/v1/settings/mcp", a.Token, obj{"enabled": true}), 200)
	tok := want(t, call(t, "POST", "/api/v1/mcp/tokens", a.Token, obj{"name": "kept", "preset": "read_only"}), 201)
	tokID := id(t, tok["id"])
	dbtest.RefuseAuditRows(t, a.AccountID)

	for _, w := range []struct {
		method, path string
		body         obj
	}{
		{"POST", "/api/v1/labels", obj{"name": "refused"}},
		{"POST", "/api/v1/teams", obj{"name": "Refused"}},
		{"POST", "/api/v1/inboxes", obj{"name": "Refused", "channel": "api", "settings": obj{}}},
		{"POST", "/api/v1/articles", obj{"title": "Refused", "body": "x"}},
		{"POST", "/api/v1/users", obj{"email": uniqueEmail(), "name": "Refused", "password": "agent password 1", "role": "agent"}},
		{"POST", "/api/v1/mcp/tokens", obj{"name": "refused", "preset": "read_only"}},
		{"DELETE", fmt.Sprintf("/api/v1/mcp/tokens/%d", tokID), nil},
		{"PUT", "/api/v1/settings/mcp", obj{"enabled": false}},
	} {
		if r := call(t, w.method, w.path, a.Token, w.body); r.Status < 500 {
			t.Errorf("%s %s with its audit row refused: HTTP %d %s, want a failure", w.method, w.path, r.Status, r.Raw)
		}
	}
	if ls := list(t, want(t, call(t, "GET", "/api/v1/labels", a.Token, nil), 200), "labels"); len(ls) != 0 {
		t.Errorf("labels %v", ls)
	}
	if ts := list(t, want(t, call(t, "GET", "/api/v1/teams", a.Token, nil), 200), "teams"); len(ts) != 0 {
		t.Errorf("teams %v", ts)
	}
	if ibs := list(t, want(t, call(t, "GET", "/api/v1/inboxes", a.Token, nil), 200), "inboxes"); len(ibs) != 0 {
		t.Errorf("inboxes %v", ibs)
	}
	if as := list(t, want(t, call(t, "GET", "/api/v1/articles", a.Token, nil), 200), "articles"); len(as) != 0 {
		t.Errorf("articles %v", as)
	}
	toks := list(t, want(t, call(t, "GET", "/api/v1/mcp/tokens", a.Token, nil), 200), "tokens")
	if len(toks) != 1 || toks[0]["revoked_at"] != nil {
		t.Errorf("tokens %v, want the one kept, not revoked", toks)
	}
	if g := want(t, call(t, "GET", "/api/v1/settings/mcp", a.Token, nil), 200); g["enabled"] != true {
		t.Errorf("MCP switched off without its audit row: %v", g)
	}
	if r := call(t, "POST", "/api/v1/login", "", obj{"email": a.Email, "password": "correct horse battery"}); r.Status < 500 {
		t.Errorf("a sign-in whose audit row is refused: HTTP %d, want a failure (no token minted unaudited)", r.Status)
	}
}
