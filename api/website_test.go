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

// TestHelpCenterAddressIsEditableByAdmins: the slug comes from the
// workspace's name; admins change it (bad ones 400, another workspace's
// 409); the public help center answers at the new address only.
func TestHelpCenterAddressIsEditableByAdmins(t *testing.T) {
	t.Parallel()
	a, b := signup(t), signup(t)
	cur := want(t, call(t, "GET", "/api/v1/settings/help_center", a.Token, nil), 200)
	slug := str(t, cur["slug"])
	if !strings.HasPrefix(slug, "acme-") || cur["url"] != "http://127.0.0.1/hc/"+slug {
		t.Fatalf("settings: %v", cur)
	}
	other := str(t, want(t, call(t, "GET", "/api/v1/settings/help_center", b.Token, nil), 200)["slug"])
	want(t, call(t, "PUT", "/api/v1/settings/help_center", a.Token, obj{"slug": "Not A Slug"}), 400)
	want(t, call(t, "PUT", "/api/v1/settings/help_center", a.Token, obj{"slug": other}), 409)
	want(t, call(t, "PUT", "/api/v1/settings/help_center", a.Token, obj{"slug": "x\u0000y"}), 400)
	fresh := fmt.Sprintf("help-%d", a.AccountID)
	want(t, call(t, "PUT", "/api/v1/settings/help_center", a.Token, obj{"slug": fresh}), 200)
	if r := call(t, "GET", "/hc/"+fresh, "", nil); r.Status != 200 || !strings.Contains(string(r.Raw), "help center") {
		t.Fatalf("new address: %d", r.Status)
	}
	if r := call(t, "GET", "/hc/"+slug, "", nil); r.Status != 404 {
		t.Fatalf("old address: %d", r.Status)
	}
}
