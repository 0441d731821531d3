// Package helpcenter is the public help center: a workspace's published
// articles at /hc/{slug}, server-rendered for readers and search engines
// (titles, descriptions, canonical links), with "Search articles" answered
// by the same search as the agent's tools. Drafts, other workspaces'
// articles and unknown slugs are 404. The pages carry the console's
// Content-Security-Policy: no script at all, the stylesheet from here.
package helpcenter

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/input"
	"github.com/deskwoot/deskwoot/tenancy"
	"github.com/deskwoot/deskwoot/throttle"
)

//go:embed templates/*.html templates/hc.css
var files embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{"paragraphs": paragraphs}).ParseFS(files, "templates/*.html"))

var stylesheet, _ = files.ReadFile("templates/hc.css")

// csp is the console's policy.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

// Config configures the help center.
type Config struct {
	Desk      *desk.Desk
	PublicURL string
	// IPHeader names the client-address header of a reverse proxy.
	IPHeader string
	Now      func() time.Time
}

// HelpCenter serves /hc/.
type HelpCenter struct {
	cfg      Config
	mux      *http.ServeMux
	searches *throttle.Throttle
}

// New builds the help center.
func New(cfg Config) *HelpCenter {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &HelpCenter{cfg: cfg, mux: http.NewServeMux(), searches: throttle.New(200*time.Millisecond, 60)}
	h.mux.HandleFunc("GET /hc/assets/hc.css", h.css)
	h.mux.HandleFunc("GET /hc/{slug}", h.index)
	h.mux.HandleFunc("GET /hc/{slug}/articles/{id}", h.article)
	h.mux.HandleFunc("/hc/", func(w http.ResponseWriter, r *http.Request) { h.notFound(w) })
	return h
}

// ServeHTTP serves every help-center page with the console's headers.
func (h *HelpCenter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	h.mux.ServeHTTP(w, r)
}

type indexPage struct {
	Workspace, Slug, Base, Query, Description string
	Articles                                  []desk.Article
	Searched                                  bool
}

// index lists the published articles, or searches them (?q=).
func (h *HelpCenter) index(w http.ResponseWriter, r *http.Request) {
	acct, name, ok := h.workspace(w, r)
	if !ok {
		return
	}
	p := indexPage{Workspace: name, Slug: r.PathValue("slug"), Base: h.base(r), Query: r.URL.Query().Get("q")}
	var err error
	if strings.TrimSpace(p.Query) != "" {
		if err := input.Text("q", p.Query, input.MaxQuery); err != nil {
			h.render(w, http.StatusBadRequest, "error", map[string]any{"Message": "A search is at most 500 characters of text. Shorten it and search again."})
			return
		}
		if wait := h.searches.Take(throttle.ClientIP(r, h.cfg.IPHeader), h.cfg.Now()); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(wait.Seconds()+0.999))))
			h.render(w, http.StatusTooManyRequests, "error", map[string]any{"Message": "Too many searches from your address; wait a moment and search again."})
			return
		}
		p.Searched = true
		p.Articles, err = h.cfg.Desk.ArticleSearch(r.Context(), tenancy.For(acct), p.Query, 25)
	} else {
		p.Articles, err = h.cfg.Desk.ArticleList(r.Context(), tenancy.For(acct), true)
	}
	if err != nil && fault.KindOf(err) == fault.Invalid {
		h.render(w, http.StatusBadRequest, "error", map[string]any{"Message": "That search could not be read; try other words."})
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p.Description = "Answers from " + name + ": " + strconv.Itoa(len(p.Articles)) + " help-center articles."
	h.render(w, http.StatusOK, "index", p)
}

type articlePage struct {
	Workspace, Slug, Base, Query, Description string
	Article                                   desk.Article
}

// article shows one published article.
func (h *HelpCenter) article(w http.ResponseWriter, r *http.Request) {
	acct, name, ok := h.workspace(w, r)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 || id > input.MaxID {
		h.notFound(w)
		return
	}
	a, err := h.cfg.Desk.ArticleGet(r.Context(), tenancy.For(acct), id, true)
	if errors.Is(err, desk.ErrNotFound) {
		h.notFound(w)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, http.StatusOK, "article", articlePage{Workspace: name, Slug: r.PathValue("slug"), Base: h.base(r),
		Article: a, Description: describe(a.Body)})
}

// workspace resolves the slug; an unknown one is answered 404.
func (h *HelpCenter) workspace(w http.ResponseWriter, r *http.Request) (int64, string, bool) {
	acct, err := h.cfg.Desk.HelpCenterAccount(r.Context(), r.PathValue("slug"))
	if err == nil {
		var name string
		if name, err = h.cfg.Desk.HelpCenterName(r.Context(), acct); err == nil {
			return acct, name, true
		}
	}
	if errors.Is(err, desk.ErrNotFound) {
		h.notFound(w)
	} else {
		h.fail(w, r, err)
	}
	return 0, "", false
}

func (h *HelpCenter) base(r *http.Request) string {
	return strings.TrimRight(h.cfg.PublicURL, "/") + "/hc/" + r.PathValue("slug")
}

func (h *HelpCenter) css(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(stylesheet)
}

func (h *HelpCenter) notFound(w http.ResponseWriter) {
	h.render(w, http.StatusNotFound, "error", map[string]any{"Message": "There is no such page in this help center."})
}

func (h *HelpCenter) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	if fault.KindOf(err) == fault.Unavailable {
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	} else {
		slog.ErrorContext(r.Context(), "help center", "path", r.URL.Path, "err", err)
	}
	h.render(w, status, "error", map[string]any{"Message": "The help center cannot answer right now; try again in a moment."})
}

// render writes a page whole, or nothing but a plain error: a template
// that fails half-way never sends half a page.
func (h *HelpCenter) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		slog.Error("help center template", "page", name, "err", err)
		http.Error(w, "The help center cannot answer right now.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// describe is an article's meta description: its first 160 characters
// of text, on one line.
func describe(body string) string {
	s := strings.Join(strings.Fields(body), " ")
	if utf8.RuneCountInString(s) > 160 {
		s = string([]rune(s)[:159]) + "…"
	}
	return s
}

// paragraphs splits an article's body at blank lines, for <p>s; each is
// escaped by the template like any text.
func paragraphs(body string) []string {
	var out []string
	for _, p := range strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
