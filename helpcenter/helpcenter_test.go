package helpcenter_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/helpcenter"
	"github.com/deskwoot/deskwoot/tenancy"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func get(t *testing.T, u string) (int, http.Header, string) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// TestHelpCenterShowsPublishedArticlesOnly: the workspace's slug comes from
// its name; its page lists and searches published articles with titles
// and descriptions; drafts, other workspaces' articles and unknown slugs
// are 404; a changed slug moves the help center at once.
func TestHelpCenterShowsPublishedArticlesOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.App(t)
	d := &desk.Desk{DB: db}
	srv := httptest.NewServer(helpcenter.New(helpcenter.Config{Desk: d, PublicURL: "https://desk.example"}))
	defer srv.Close()
	a, b := dbtest.NewTenant(t), dbtest.NewTenant(t)
	slugA, err := d.HelpCenterSlug(ctx, a.Account.ID)
	if err != nil || !strings.HasPrefix(slugA, "acme-") {
		t.Fatalf("slug %q, %v", slugA, err)
	}
	slugB, _ := d.HelpCenterSlug(ctx, b.Account.ID)
	if slugB == slugA || slugB == "" {
		t.Fatalf("slugs %q and %q", slugA, slugB)
	}
	pub, _ := d.ArticleCreate(ctx, tenancy.For(a.Account.ID), "Refund policy", "Refunds arrive within five days.\n\nAsk us <b>anything</b>.", "published")
	draft, _ := d.ArticleCreate(ctx, tenancy.For(a.Account.ID), "Refund internals", "Draft refunds.", "draft")
	theirs, _ := d.ArticleCreate(ctx, tenancy.For(b.Account.ID), "Refund elsewhere", "Refunds elsewhere.", "published")

	st, hd, body := get(t, srv.URL+"/hc/"+slugA)
	if st != 200 || !strings.Contains(body, "Refund policy") || strings.Contains(body, "internals") || strings.Contains(body, "elsewhere") ||
		!strings.Contains(body, `<meta name="description"`) || !strings.Contains(body, "<title>How can we help") && !strings.Contains(body, "help center</title>") {
		t.Fatalf("index: %d\n%s", st, body)
	}
	if hd.Get("Content-Security-Policy") == "" || !strings.Contains(hd.Get("Content-Security-Policy"), "script-src 'self'") || hd.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("headers: %v", hd)
	}
	st, _, body = get(t, srv.URL+"/hc/"+slugA+"?q="+url.QueryEscape("refunded"))
	if st != 200 || !strings.Contains(body, "Refund policy") || strings.Contains(body, "internals") || strings.Contains(body, "elsewhere") {
		t.Fatalf("search: %d\n%s", st, body)
	}
	st, _, body = get(t, srv.URL+"/hc/"+slugA+"/articles/"+strconv.FormatInt(pub.ID, 10))
	if st != 200 || !strings.Contains(body, "<title>Refund policy · ") || !strings.Contains(body, `content="Refunds arrive within five days. Ask us &lt;b&gt;anything&lt;/b&gt;."`) ||
		!strings.Contains(body, "&lt;b&gt;anything&lt;/b&gt;") {
		t.Fatalf("article: %d\n%s", st, body)
	}
	for _, path := range []string{
		"/hc/" + slugA + "/articles/" + strconv.FormatInt(draft.ID, 10),
		"/hc/" + slugA + "/articles/" + strconv.FormatInt(theirs.ID, 10),
		"/hc/" + slugA + "/articles/x", "/hc/" + slugA + "/articles/99999999999999999999",
		"/hc/no-such-workspace-here", "/hc/BAD%00slug", "/hc/",
	} {
		if st, _, _ := get(t, srv.URL+path); st != 404 {
			t.Errorf("%s: %d, want 404", path, st)
		}
	}
	if st, _, _ := get(t, srv.URL+"/hc/"+slugA+"?q=a%00b"); st != 400 {
		t.Errorf("NUL search: %d", st)
	}
	if st, _, _ := get(t, srv.URL+"/hc/"+slugA+"?q="+strings.Repeat("x", 501)); st != 400 {
		t.Errorf("long search: %d", st)
	}

	// Admins change the slug: bad and taken ones are refused.
	if err := d.HelpCenterSlugSet(ctx, tenancy.For(a.Account.ID), "Bad Slug"); !errors.Is(err, desk.ErrInvalid) {
		t.Fatalf("bad slug: %v", err)
	}
	if err := d.HelpCenterSlugSet(ctx, tenancy.For(a.Account.ID), slugB); !errors.Is(err, desk.ErrConflict) {
		t.Fatalf("taken slug: %v", err)
	}
	moved := "help-" + strings.TrimPrefix(slugA, "acme-")
	if len(moved) > 50 {
		moved = moved[:50]
	}
	moved = strings.TrimRight(moved, "-")
	if err := d.HelpCenterSlugSet(ctx, tenancy.For(a.Account.ID), moved); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := get(t, srv.URL+"/hc/"+slugA); st != 404 {
		t.Fatalf("old slug: %d", st)
	}
	if st, _, body := get(t, srv.URL+"/hc/"+moved); st != 200 || !strings.Contains(body, "Refund policy") {
		t.Fatalf("new slug: %d", st)
	}
}
