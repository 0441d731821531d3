package api_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestWebsiteInboxGivesSnippetAndSecretOnce: creating a website inbox
// answers its embed snippet and, this once, its identity secret; lists
// show the snippet and never the secret; rotation answers a new one.
func TestWebsiteInboxGivesSnippetAndSecretOnce(t *testing.T) {
	t.Parallel()
	a := signup(t)
	b := want(t, call(t, "POST", "/api/v1/inboxes", a.Token, obj{"name": "Website chat", "channel": "website",
		"settings": obj{"allowed_origins": []any{"https://shop.example", "http://localhost:3000"}, "require_identity": false,
			"greeting": "Hi!", "email_prompt_after_minutes": 5}}), 201)
	inbox := id(t, b["id"])
	pub, snippet, secret := str(t, b["public_id"]), str(t, b["embed_snippet"]), str(t, b["identity_secret"])
	if want := `<script src="http://127.0.0.1/widget.js" data-deskwoot-inbox="` + pub + `" async></script>`; snippet != want || len(secret) != 64 {
		t.Fatalf("created: %s", b)
	}
	list := call(t, "GET", "/api/v1/inboxes", a.Token, nil)
	if !strings.Contains(string(list.Raw), pub) || strings.Contains(string(list.Raw), secret) || strings.Contains(string(list.Raw), "identity_secret") {
		t.Fatalf("list: %s", list.Raw)
	}
	r := want(t, call(t, "POST", fmt.Sprintf("/api/v1/inboxes/%d/identity_secret/rotate", inbox), a.Token, nil), 200)
	if s := str(t, r["identity_secret"]); len(s) != 64 || s == secret || r["public_id"] != pub {
		t.Fatalf("rotated: %s", r)
	}
	api := createInbox(t, a.Token)
	want(t, call(t, "POST", fmt.Sprintf("/api/v1/inboxes/%d/identity_secret/rotate", api), a.Token, nil), 400)
	other := signup(t)
	want(t, call(t, "POST", fmt.Sprintf("/api/v1/inboxes/%d/identity_secret/rotate", inbox), other.Token, nil), 404)
	for _, bad := range []obj{
		{"allowed_origins": []any{"https://shop.example/path"}},
		{"allowed_origins": "https://shop.example"},
		{"email_prompt_after_minutes": -1},
		{"greeting": strings.Repeat("g", 501)},
	} {
		want(t, call(t, "POST", "/api/v1/inboxes", a.Token, obj{"name": "W", "channel": "website", "settings": bad}), 400)
	}
	want(t, call(t, "PATCH", fmt.Sprintf("/api/v1/inboxes/%d", inbox), a.Token, obj{"settings": obj{"allowed_origins": []any{"ftp://x"}}}), 400)
	// A site's server may post for its signed-in user.
	want(t, incoming(t, a.Token, inbox, uniqueEmail(), "posted by the site", ""), 201)
	u := want(t, call(t, "PATCH", fmt.Sprintf("/api/v1/inboxes/%d", inbox), a.Token, obj{"settings": obj{"allowed_origins": []any{"*"}}}), 200)
	if u["embed_snippet"] != snippet {
		t.Fatalf("updated: %s", u)
	}
}
