package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
	"github.com/deskwoot/deskwoot/trial"
)

//go:embed templates static
var files embed.FS

// Page is what a handler hands to render.
type Page struct {
	Title string // the page's <title> and heading
	Nav   string // the current navigation entry: conversations, contacts, drafts, helpcenter, audit, mcp, inboxes, team, labels, billing
	Form  *Form  // the page's form, if any (nil is fine)
	Data  any    // the page's own data
}

// view is what the templates see: the page and the chrome around it.
type view struct {
	Page
	// Current holds the one navigation entry the page belongs to (Nav),
	// so the layout marks it with a field instead of 14 comparisons.
	Current map[string]bool
	Me      identity.UserPrincipal
	Account identity.Account
	Admin   bool
	Drafts  int
	Unread  int // unread notifications (the bell)
	Banner  *banner
	Flashes []string
	// LiveCursor is where the page's live stream starts (live.js).
	LiveCursor string
	// Chrome is the header and navigation of a signed-in page, in the
	// template chrome (renderChrome).
	Chrome template.HTML
}

// navChrome is the data of the template chrome: the header and
// navigation of a signed-in page.
type navChrome struct {
	Workspace  string
	Name, Role string // the person's
	Admin      bool
	Current    map[string]bool
	Drafts     int
	Unread     int
}

func (n navChrome) appendKey(k []byte) []byte {
	k = keyString(keyString(keyString(k, n.Workspace), n.Name), n.Role)
	return keyInt(keyInt(keySet(keyBool(k, n.Admin), n.Current), int64(n.Drafts)), int64(n.Unread))
}

// renderChrome renders v's header and navigation through f, the page
// being t in zone loc: they are the same on every page a person reads
// until a count changes, and rendered anew they cost as much as the rows.
func (v *view) renderChrome(f *fragments, t *template.Template, loc *time.Location) (err error) {
	v.Chrome, err = f.render(t, loc, "chrome", navChrome{Workspace: v.Account.Name, Name: v.Me.Name, Role: v.Me.Role,
		Admin: v.Admin, Current: v.Current, Drafts: v.Drafts, Unread: v.Unread})
	return err
}

// banner is the trial and plan notice on every signed-in page.
type banner struct {
	Warn    bool   // MCP is paused or about to be
	Text    string // what and why, in a sentence
	Upgrade bool   // show the Upgrade link
}

type templates struct {
	base   *template.Template // the layout and partials, for other doors' pages
	byName map[string]*template.Template
	assets map[string]string // file -> ?v= content hash, for caching
}

// parseTemplates parses the pages with their times shown in loc.
func parseTemplates(loc *time.Location) (*templates, error) {
	t := &templates{byName: map[string]*template.Template{}, assets: map[string]string{}}
	statics, _ := fs.Glob(files, "static/*")
	for _, name := range statics {
		b, _ := files.ReadFile(name)
		h := sha256.Sum256(b)
		t.assets[path.Base(name)] = hex.EncodeToString(h[:4])
	}
	// The head's tags are the same on every page (one set signed in, one
	// not): rendered once here, each page prints them with one action
	// instead of twenty.
	var scripts [2]template.HTML
	fm := funcs(t.assets, loc)
	fm["scripts"] = func(userID int64) template.HTML {
		if userID != 0 {
			return scripts[1]
		}
		return scripts[0]
	}
	base, err := template.New("layout.html").Funcs(fm).ParseFS(files, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, err
	}
	for i, signedIn := range []bool{false, true} {
		var b strings.Builder
		if err := template.Must(base.Clone()).ExecuteTemplate(&b, "scripts", signedIn); err != nil {
			return nil, err
		}
		scripts[i] = template.HTML(b.String())
	}
	t.base = base
	pages, _ := fs.Glob(files, "templates/pages/*.html")
	for _, p := range pages {
		clone := template.Must(base.Clone())
		if _, err := clone.ParseFS(files, p); err != nil {
			return nil, err
		}
		t.byName[strings.TrimSuffix(path.Base(p), ".html")] = clone
	}
	return t, nil
}

// field is one labelled form control as the partials render it.
type field struct {
	Name, Label, Type, Value, Error, Autocomplete, Hint, Placeholder string
	Required, Checked                                                bool
	ID                                                               string
	Options                                                          []option
}

type option struct {
	Value, Label string
	Selected     bool
}

func (f field) appendKey(k []byte) []byte {
	for _, s := range [...]string{f.Name, f.Label, f.Type, f.Value, f.Error, f.Autocomplete, f.Hint, f.Placeholder, f.ID} {
		k = keyString(k, s)
	}
	return keyList(keyBool(keyBool(k, f.Required), f.Checked), f.Options)
}

func (o option) appendKey(k []byte) []byte {
	return keyBool(keyString(keyString(k, o.Value), o.Label), o.Selected)
}

// funcs are the templates' helpers; times show in loc, with the zone's
// abbreviation (or offset) beside them.
func funcs(assets map[string]string, loc *time.Location) template.FuncMap {
	return template.FuncMap{
		"asset": func(name string) string { return "/static/" + name + "?v=" + assets[name] },
		// field builds a control from the form: field FORM NAME LABEL TYPE
		// [options…], options being "required", "autocomplete=…",
		// "hint=…", "placeholder=…", "value=…" (a default when the form
		// has none).
		"field": func(f *Form, name, label, typ string, opts ...string) field {
			if f == nil {
				f = emptyForm()
			}
			fl := field{Name: name, Label: label, Type: typ, ID: "f-" + name, Error: f.Err(name)}
			if typ != "password" {
				fl.Value = f.Raw(name)
			}
			for _, o := range opts {
				k, v, _ := strings.Cut(o, "=")
				switch k {
				case "required":
					fl.Required = true
				case "autocomplete":
					fl.Autocomplete = v
				case "hint":
					fl.Hint = v
				case "placeholder":
					fl.Placeholder = v
				case "value":
					if _, sent := f.Values[name]; !sent {
						fl.Value = v
					}
				case "id":
					fl.ID = v
				}
			}
			return fl
		},
		// checkbox builds one checkbox: checkbox FORM NAME VALUE LABEL.
		"checkbox": func(f *Form, name, value, label string) field {
			if f == nil {
				f = emptyForm()
			}
			return field{Name: name, Value: value, Label: label, Type: "checkbox", Checked: f.Checked(name, value),
				ID: "f-" + name + "-" + idSafe(value), Error: f.Err(name)}
		},
		// choice builds a select: choice FORM NAME LABEL "value=Label"…
		"choice": func(f *Form, name, label string, opts ...string) field {
			if f == nil {
				f = emptyForm()
			}
			fl := field{Name: name, Label: label, Type: "select", ID: "f-" + name, Error: f.Err(name)}
			for _, o := range opts {
				v, l, _ := strings.Cut(o, "=")
				fl.Options = append(fl.Options, option{Value: v, Label: l, Selected: f.Raw(name) == v})
			}
			return fl
		},
		"when": func(t *time.Time) string {
			if t == nil {
				return "—"
			}
			return t.In(loc).Format(minuteLayout)
		},
		"at":   func(t time.Time) string { return t.In(loc).Format(secondLayout) },
		"date": func(t time.Time) string { return t.In(loc).Format("2006-01-02") },
		"join": strings.Join,
		// short cuts a long id (a hash) to n characters for display.
		"short": func(s string, n int) string {
			if len(s) <= n {
				return s
			}
			return s[:n] + "…"
		},
	}
}

// idSafe makes a value usable inside an element id.
func idSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, s)
}

// render writes a page inside the layout. Signed-in pages get the chrome
// (navigation with the drafts count, trial banner, flash messages).
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p Page) {
	t := c.pagesIn(c.zone(r)).byName[name]
	if t == nil {
		c.fail(w, r, fmt.Errorf("console: no template %q", name))
		return
	}
	v := view{Page: p, Current: map[string]bool{p.Nav: true}, Flashes: c.takeFlashes(w, r)}
	if who := c.who(r); who.me.UserID != 0 {
		v.Me, v.Account, v.Admin = who.me, who.account, who.me.Role == "admin"
		v.LiveCursor = who.cursor
		v.Banner = trialBanner(trial.Compute(who.account.State(), c.cfg.Now()), c.cfg.Now())
		if who.drafts != nil {
			v.Drafts = *who.drafts
		} else if sc, err := c.scope(r); err == nil {
			v.Drafts, _ = c.cfg.Desk.DraftCount(r.Context(), who.me.AccountID, sc)
		}
		if who.unread != nil {
			v.Unread = *who.unread
		} else {
			v.Unread, _ = c.cfg.Desk.NotificationUnread(r.Context(), who.me.AccountID, who.me.UserID)
		}
		if err := v.renderChrome(&c.rows, t, c.zone(r)); err != nil {
			c.fail(w, r, err)
			return
		}
	}
	buf := c.buffer()
	defer c.putBuffer(buf)
	if err := t.ExecuteTemplate(buf, "layout", v); err != nil {
		c.fail(w, r, fmt.Errorf("console: render %s: %w", name, err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// buffer is an empty buffer to render a page into, from c.buffers.
func (c *Console) buffer() *bytes.Buffer {
	if b, ok := c.buffers.Get().(*bytes.Buffer); ok {
		b.Reset()
		return b
	}
	return new(bytes.Buffer)
}

// putBuffer returns buf to c.buffers unless an unusually large page grew
// it, so that one such page does not keep its memory for ever.
func (c *Console) putBuffer(buf *bytes.Buffer) {
	if buf.Cap() <= 1<<20 {
		c.buffers.Put(buf)
	}
}

// trialBanner words the plan state for the banner: days left in the
// trial, or plainly that MCP is paused and why.
func trialBanner(e trial.Entitlement, now time.Time) *banner {
	switch {
	case !e.MCPAllowed:
		return &banner{Warn: true, Upgrade: true, Text: "MCP is paused: " + e.Reason + "."}
	case e.Status == trial.StatusTrialing && e.TrialEndsAt != nil:
		days := int(math.Ceil(e.TrialEndsAt.Sub(now).Hours() / 24))
		left := fmt.Sprintf("%d days left", days)
		if days <= 1 {
			left = "Less than a day left"
			if e.TrialEndsAt.Sub(now) > 24*time.Hour {
				left = "1 day left"
			}
		}
		return &banner{Upgrade: true, Warn: days <= 2,
			Text: fmt.Sprintf("%s in your Enterprise trial (it ends on %s). MCP stops when it ends unless you upgrade.", left, e.TrialEndsAt.UTC().Format("2006-01-02"))}
	case e.Status == trial.StatusPastDue:
		return &banner{Warn: true, Upgrade: true, Text: sentence(e.Reason)}
	}
	return nil
}

// renderError writes a plain error page with the status.
func (c *Console) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	title := http.StatusText(status)
	c.render(w, r, status, "error", Page{Title: title, Data: msg})
}

// fail logs an unexpected error and shows a 500 page that reveals nothing
// (a 503 asking to retry while the database is out of reach).
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, tenancy.ErrMemberEnded) {
		// Deactivated or removed while this request ran: nothing was
		// changed, and the session is over.
		c.clearSession(w)
		c.RedirectToSignIn(w, r)
		return
	}
	if errors.Is(err, tenancy.ErrUnavailable) {
		slog.WarnContext(r.Context(), "database unavailable", "method", r.Method, "path", LogPath(r.URL.Path), "err", err)
		w.Header().Set("Retry-After", "1")
		c.renderError(w, r, http.StatusServiceUnavailable, "The database is unavailable for a moment. Try again shortly.")
		return
	}
	slog.ErrorContext(r.Context(), "console request failed", "method", r.Method, "path", LogPath(r.URL.Path), "err", err)
	t := c.pages.byName["error"]
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusInternalServerError)
	if t == nil || t.ExecuteTemplate(w, "layout", view{Page: Page{Title: "Something went wrong", Data: "The server could not finish this request. Try again in a moment."}}) != nil {
		fmt.Fprint(w, "internal error; try again")
	}
}

// flashCookie carries messages across a redirect (Post/Redirect/Get). It
// never carries secrets: the raw token is rendered in the POST response.
const flashCookie = "deskwoot_flash"

// flash queues a message for the next page this browser renders.
func (c *Console) flash(w http.ResponseWriter, msg string) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(msg)), Path: "/",
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode, MaxAge: 60})
}

func (c *Console) takeFlashes(w http.ResponseWriter, r *http.Request) []string {
	ck, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/", HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	b, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || len(b) == 0 || len(b) > 500 {
		return nil
	}
	return []string{string(b)}
}

// redirect answers a successful post with 303 See Other to a local path.
func (c *Console) redirect(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, safeNext(to), http.StatusSeeOther)
}
