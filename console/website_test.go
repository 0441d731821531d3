package console

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestWebsiteInboxPageShowsSnippetAndSecretOnce: creating a website inbox
// in the console shows its embed snippet and identity secret; the page
// shown again later has the snippet and no secret; "Rotate identity
// secret" shows a new one, once.
func TestWebsiteInboxPageShowsSnippetAndSecretOnce(t *testing.T) {
	t.Parallel()
	_, srv := testConsole(t, nil)
	b, _ := signUp(t, srv)
	p := wantStatus(t, b.post("/settings/inboxes", url.Values{"name": {"Website chat"}, "channel": {"website"},
		"website.allowed_origins": {"https://shop.example\nhttp://localhost:3000"}, "website.greeting": {"Hi there"},
		"website.email_prompt_after_minutes": {"2"}}), 201)
	p.has(t, "Identity secret", "Copy it now", "Embed snippet", "Rotate identity secret")
	secret := p.fieldValue("identity_secret")
	snippet := p.fieldValue("embed_snippet")
	if len(secret) != 64 || !strings.HasPrefix(snippet, `<script src="http://127.0.0.1/widget.js" data-deskwoot-inbox="wi_`) {
		t.Fatalf("secret %q snippet %q", secret, snippet)
	}
	path := regexp.MustCompile(`/settings/inboxes/\d+/identity_secret/rotate`).FindString(p.Body)
	inboxPath := strings.TrimSuffix(path, "/identity_secret/rotate")
	again := wantStatus(t, b.get(inboxPath), 200)
	if strings.Contains(again.Body, secret) || again.fieldValue("embed_snippet") != snippet {
		t.Fatal("the inbox page shows the secret again, or lost the snippet")
	}
	again.has(t, "https://shop.example", "http://localhost:3000")
	if g := again.fieldValue("website.greeting"); g != "Hi there" {
		t.Fatalf("greeting %q", g)
	}
	rot := wantStatus(t, b.post(path, url.Values{}), 200)
	if s := rot.fieldValue("identity_secret"); len(s) != 64 || s == secret {
		t.Fatalf("rotated secret %q", s)
	}
	bad := wantStatus(t, b.post("/settings/inboxes", url.Values{"name": {"Bad"}, "channel": {"website"},
		"website.allowed_origins": {"shop.example"}}), 400)
	bad.has(t, "is not an origin")
}

// TestHelpCenterPageShowsAndChangesThePublicAddress: admins see the
// public help center's address and change it; a taken one is refused on
// the form.
func TestHelpCenterPageShowsAndChangesThePublicAddress(t *testing.T) {
	t.Parallel()
	_, srv := testConsole(t, nil)
	b, _ := signUp(t, srv)
	p := wantStatus(t, b.get("/help-center"), 200)
	p.has(t, "Public address", "http://127.0.0.1/hc/")
	slug := p.fieldValue("slug")
	other, _ := signUp(t, srv)
	otherSlug := wantStatus(t, other.get("/help-center"), 200).fieldValue("slug")
	taken := wantStatus(t, b.post("/help-center/address", url.Values{"slug": {otherSlug}}), 400)
	if taken.fieldError("slug") == "" {
		t.Fatalf("no error on the slug field:\n%s", taken.text())
	}
	wantRedirect(t, b.post("/help-center/address", url.Values{"slug": {slug + "-help"}}), "/help-center")
	wantStatus(t, b.get("/help-center"), 200).has(t, "http://127.0.0.1/hc/"+slug+"-help")
}
