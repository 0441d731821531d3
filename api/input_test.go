package api_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// Every text a REST caller sends passes the input layer: NUL characters,
// text past its documented maximum and huge numbers in filters are 400s
// naming the field, never 500, and nothing is written.
func TestBadTextIsRefusedByName(t *testing.T) {
	t.Parallel()
	a := signup(t)
	ib := createInbox(t, a.Token)
	conv, _, _ := newConversation(t, a.Token, ib)
	nul := "a\x00b"
	long := func(n int) string { return strings.Repeat("é", n+1) }
	in := func(contact obj, content, source string) obj {
		return obj{"contact": contact, "content": content, "source_id": source}
	}
	msgs := fmt.Sprintf("/api/v1/inboxes/%d/messages", ib)
	cases := []struct {
		method, path string
		body         any
		field        string
	}{
		{"POST", "/api/v1/signup", obj{"account_name": nul, "email": uniqueEmail(), "password": "correct horse battery"}, "account_name"},
		{"POST", "/api/v1/signup", obj{"account_name": "X", "email": "a\x00@example.com", "password": "correct horse battery"}, "email"},
		{"POST", "/api/v1/login", obj{"email": "a\x00@example.com", "password": "whatever pass"}, "email"},
		{"POST", "/api/v1/labels", obj{"name": "bill\x00ing"}, "name"},
		{"POST", "/api/v1/labels", obj{"name": "billing", "description": long(1000)}, "description"},
		{"POST", "/api/v1/teams", obj{"name": nul}, "name"},
		{"POST", "/api/v1/teams", obj{"name": "Tier 3", "description": long(1000)}, "description"},
		{"POST", "/api/v1/inboxes", obj{"name": nul, "channel": "api"}, "name"},
		{"POST", "/api/v1/inboxes", obj{"name": "x", "channel": "api", "settings": obj{"webhook_secret": nul}}, "settings.webhook_secret"},
		{"POST", "/api/v1/users", obj{"email": uniqueEmail(), "name": nul, "password": "agent password 1"}, "name"},
		{"POST", "/api/v1/articles", obj{"title": nul, "body": "b"}, "title"},
		{"POST", "/api/v1/mcp/tokens", obj{"name": nul, "preset": "read_only"}, "name"},
		{"POST", msgs, in(obj{"email": uniqueEmail()}, nul, "s1"), "content"},
		{"POST", msgs, in(obj{"email": uniqueEmail(), "name": nul}, "hi", "s2"), "contact.name"},
		{"POST", msgs, in(obj{"email": strings.Repeat("x", 10000) + "@example.com"}, "hi", "s3"), "contact.email"},
		{"POST", msgs, in(obj{"identifier": nul}, "hi", "s4"), "contact.identifier"},
		{"POST", msgs, in(obj{"email": uniqueEmail()}, "hi", nul), "source_id"},
		{"POST", msgs, in(obj{"email": uniqueEmail()}, long(100000), "s5"), "content"},
		{"POST", fmt.Sprintf("/api/v1/conversations/%d/messages", conv), obj{"content": nul}, "content"},
		{"GET", "/api/v1/conversations?label=" + url.QueryEscape(nul), nil, "label"},
		{"GET", "/api/v1/conversations?cursor=" + url.QueryEscape(nul), nil, "cursor"},
		{"GET", "/api/v1/conversations?q=" + url.QueryEscape(long(500)), nil, "q"},
		{"GET", "/api/v1/audit?tool=" + url.QueryEscape(nul), nil, "tool"},
	}
	for _, c := range cases {
		msg := wantErr(t, call(t, c.method, c.path, a.Token, c.body), 400, "bad_request")
		if !strings.Contains(msg, c.field) {
			t.Errorf("%s %s: %q does not name %s", c.method, c.path, msg, c.field)
		}
	}
	// Nothing of the refused writes exists.
	if l := list(t, want(t, call(t, "GET", "/api/v1/labels", a.Token, nil), 200), "labels"); len(l) != 0 {
		t.Errorf("labels after refused creates: %v", l)
	}
	if l := list(t, want(t, call(t, "GET", "/api/v1/teams", a.Token, nil), 200), "teams"); len(l) != 0 {
		t.Errorf("teams after refused creates: %v", l)
	}
	if got := conversationIDs(t, a.Token, ""); len(got) != 1 {
		t.Errorf("conversations after refused messages: %v", got)
	}
	// Numbers past every id are an empty page, not a 500.
	for _, q := range []string{"cursor", "actor", "token"} {
		b := want(t, call(t, "GET", "/api/v1/audit?"+q+"=9223372036854775807", a.Token, nil), 200)
		list(t, b, "audit")
	}
	wantErr(t, call(t, "GET", "/api/v1/audit?cursor=9223372036854775808", a.Token, nil), 400, "bad_request")
}
