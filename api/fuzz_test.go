package api_test

import (
	"fmt"
	"net/url"
	"sync"
	"testing"
)

// fuzzWorld is one tenant per fuzzing process: an admin, an inbox with a
// conversation and a contact.
type fuzzWorld struct {
	tenant
	inbox, conv, contact int64
}

var (
	fuzzOnce sync.Once
	fuzzW    fuzzWorld
)

func worldForFuzz(t *testing.T) fuzzWorld {
	fuzzOnce.Do(func() {
		a := signup(t)
		ib := createInbox(t, a.Token)
		conv, _, contact := newConversation(t, a.Token, ib)
		fuzzW = fuzzWorld{a, ib, conv, contact}
	})
	return fuzzW
}

// bodyRoutes are the endpoints that read a JSON body, with the world's ids.
func bodyRoutes(w fuzzWorld) [][2]string {
	return [][2]string{
		{"POST", "/api/v1/signup"}, {"POST", "/api/v1/login"}, {"POST", "/api/v1/users"},
		{"POST", "/api/v1/inboxes"}, {"PATCH", fmt.Sprintf("/api/v1/inboxes/%d", w.inbox)},
		{"POST", fmt.Sprintf("/api/v1/inboxes/%d/members", w.inbox)}, {"POST", fmt.Sprintf("/api/v1/inboxes/%d/messages", w.inbox)},
		{"PATCH", fmt.Sprintf("/api/v1/conversations/%d", w.conv)}, {"POST", fmt.Sprintf("/api/v1/conversations/%d/messages", w.conv)},
		{"PATCH", fmt.Sprintf("/api/v1/contacts/%d", w.contact)}, {"POST", fmt.Sprintf("/api/v1/contacts/%d/notes", w.contact)},
		{"POST", "/api/v1/labels"}, {"POST", "/api/v1/teams"}, {"POST", "/api/v1/articles"},
		{"PUT", "/api/v1/settings/mcp"}, {"PUT", "/api/v1/settings/search"}, {"POST", "/api/v1/mcp/tokens"},
		{"POST", "/api/v1/drafts/1/approve"}, {"POST", "/api/v1/drafts/1/reject"},
		{"POST", "/api/v1/billing/checkout"}, {"POST", "/api/v1/stripe/webhook"},
	}
}

// FuzzRESTBody sends arbitrary bodies to every endpoint that reads one,
// as the tenant's admin. No body may produce a 500; every refusal has the
// one error shape (wantErr checks it).
func FuzzRESTBody(f *testing.F) {
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		w := worldForFuzz(t)
		routes := bodyRoutes(w)
		r := routes[int(route)%len(routes)]
		res := call(t, r[0], r[1], w.Token, body)
		if res.Status >= 500 && res.Status != 503 { // 503: billing is not configured in these tests
			t.Fatalf("%s %s %q: %d %s", r[0], r[1], body, res.Status, res.Raw)
		}
		if res.Status >= 400 {
			wantErr(t, res, res.Status, res.Body["error"].(obj)["code"].(string))
		}
	})
}

// FuzzCursor sends arbitrary cursors and limits to every paged list: a
// cursor this server did not issue is a 400, never a 500.
func FuzzCursor(f *testing.F) {
	f.Fuzz(func(t *testing.T, cursor, limit string) {
		w := worldForFuzz(t)
		q := "?cursor=" + url.QueryEscape(cursor) + "&limit=" + url.QueryEscape(limit)
		for _, path := range []string{"/api/v1/conversations", "/api/v1/audit", "/api/v1/contacts", "/api/v1/drafts",
			fmt.Sprintf("/api/v1/conversations/%d", w.conv)} {
			p := path + q
			if path == fmt.Sprintf("/api/v1/conversations/%d", w.conv) {
				p = path + "?messages_cursor=" + url.QueryEscape(cursor) + "&messages_limit=" + url.QueryEscape(limit)
			}
			res := call(t, "GET", p, w.Token, nil)
			if res.Status >= 500 {
				t.Fatalf("GET %s: %d %s", p, res.Status, res.Raw)
			}
		}
	})
}
