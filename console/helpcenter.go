package console

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/desk"
)

// The help center: everyone reads the published articles; admins also see
// drafts, write articles, and publish or unpublish them.

type helpData struct {
	Articles []desk.Article
	Title    field
	Body     field
	Status   field
	// PublicURL is the workspace's public help center; Slug its form.
	PublicURL string
	Slug      field
}

func (c *Console) helpCenterPage(w http.ResponseWriter, r *http.Request) {
	c.showHelpCenter(w, r, http.StatusOK, emptyForm())
}

func (c *Console) showHelpCenter(w http.ResponseWriter, r *http.Request, status int, f *Form) {
	p := c.me(r)
	as, err := c.cfg.Desk.ArticleList(r.Context(), c.request(r), p.Role != "admin")
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if f.Value("status") == "" {
		f.Values.Set("status", "draft")
	}
	d := helpData{Articles: as, Title: textField(f, "title", "Title", "text"),
		Body:   field{Name: "body", Label: "Body", ID: "f-body", Value: f.Raw("body"), Error: f.Err("body")},
		Status: selectField(f, "status", "Status", "draft", "Draft (only admins see it)", "published", "Published (agents and MCP clients read it)")}
	d.Title.Required = true
	slug, err := c.cfg.Desk.HelpCenterSlug(r.Context(), p.AccountID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if slug != "" {
		d.PublicURL = strings.TrimRight(c.cfg.PublicURL, "/") + "/hc/" + slug
	}
	if _, posted := f.Values["slug"]; !posted {
		f.Values.Set("slug", slug)
	}
	d.Slug = textField(f, "slug", "Address", "text")
	d.Slug.Hint = "The last part of the public help center's address: lowercase letters, digits and hyphens. The old address stops working at once."
	c.render(w, r, status, "helpcenter", Page{Title: "Help center", Nav: "helpcenter", Form: f, Data: d})
}

// helpCenterAddress changes the public help center's slug.
func (c *Console) helpCenterAddress(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	slug := f.Value("slug")
	err := c.cfg.Desk.HelpCenterSlugSet(r.Context(), c.recorded(r, audit.Entry{Action: "settings.help_center", Reasons: []string{"slug=" + slug}}), slug)
	if err != nil {
		if f.FailErr(err, map[string]string{"slug": "slug"}) {
			c.showHelpCenter(w, r, http.StatusBadRequest, f)
			return
		}
		c.fail(w, r, err)
		return
	}
	c.flash(w, "The help center's address is saved.")
	c.redirect(w, r, "/help-center")
}

// articleView shows one article (drafts to admins only).
func (c *Console) articlePage(w http.ResponseWriter, r *http.Request) {
	c.showArticle(w, r, http.StatusOK, emptyForm())
}

// articleData is an article with, for admins, its edit form.
type articleData struct {
	desk.Article
	Edit   bool
	Fields []field
	Status field
}

func (c *Console) showArticle(w http.ResponseWriter, r *http.Request, status int, f *Form) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	p := c.me(r)
	a, err := c.cfg.Desk.ArticleGet(r.Context(), c.request(r), id, p.Role != "admin")
	if err != nil {
		c.failDomain(w, r, err)
		return
	}
	if _, posted := f.Values["title"]; !posted {
		f.Values.Set("title", a.Title)
		f.Values.Set("body", a.Body)
		f.Values.Set("status", a.Status)
	}
	body := textField(f, "body", "Body", "textarea")
	d := articleData{Article: a, Edit: p.Role == "admin", Fields: []field{textField(f, "title", "Title", "text"), body},
		Status: selectField(f, "status", "Status", "published", "Published", "draft", "Draft")}
	c.render(w, r, status, "article", Page{Title: a.Title, Nav: "helpcenter", Form: f, Data: d})
}

// articleCreate writes an article as a draft or published.
func (c *Console) articleCreate(w http.ResponseWriter, r *http.Request) {
	f := newForm(w, r)
	if f.Value("title") == "" {
		f.Fail("title", "Give the article a title.")
		c.showHelpCenter(w, r, http.StatusBadRequest, f)
		return
	}
	status := f.Value("status")
	if status == "" {
		status = "published" // as the desk defaults it, for the audit row
	}
	req := c.recorded(r, audit.Entry{Action: "article.create", Reasons: []string{"status=" + status}})
	a, err := c.cfg.Desk.ArticleCreate(r.Context(), req, f.Value("title"), f.Raw("body"), status)
	if err != nil {
		if f.FailErr(err, map[string]string{"title": "title", "body": "body", "status": "status"}) {
			c.showHelpCenter(w, r, http.StatusBadRequest, f)
			return
		}
		c.fail(w, r, err)
		return
	}
	c.flash(w, fmt.Sprintf("Article %q saved as %s.", a.Title, a.Status))
	c.redirect(w, r, "/help-center")
}

// articleStatus publishes an article or takes it back to draft.
func (c *Console) articleStatus(w http.ResponseWriter, r *http.Request) {
	id, ok := c.idParam(w, r)
	if !ok {
		return
	}
	f := newForm(w, r)
	req := c.recorded(r, audit.Entry{Action: "article.update", Reasons: []string{"status=" + f.Value("status")}})
	a, err := c.cfg.Desk.ArticleStatusSet(r.Context(), req, id, f.Value("status"))
	if err != nil {
		c.failDomain(w, r, err)
		return
	}
	c.flash(w, fmt.Sprintf("Article %q is now %s.", a.Title, a.Status))
	c.redirect(w, r, "/help-center")
}
