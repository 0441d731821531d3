package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/billing"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/live"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/signup"
	"github.com/deskwoot/deskwoot/tenancy"
	"github.com/deskwoot/deskwoot/throttle"
)

// Config is what the console needs: the same domain services REST uses.
type Config struct {
	DB         *tenancy.DB
	Identities *identity.Identities
	Desk       *desk.Desk
	Policy     *policy.Engine
	Audit      *audit.Log
	// Billing is nil when Stripe is not configured; the billing page says so.
	Billing *billing.Service
	// PublicURL is the base URL people reach the server at; an https URL
	// makes the session cookie Secure, and its origin is trusted for posts.
	PublicURL string
	// Throttle holds the per-address abuse limits (sign-in, signup); share
	// REST's so that the doors count together. A fresh one when nil.
	Throttle *throttle.Guard
	// Signup, when set, makes sign-up email-confirmed
	// (DESKWOOT_SIGNUP=confirm); nil creates the workspace at once.
	Signup *signup.Confirmer
	// Now is the clock (tests move it); time.Now when nil.
	Now func() time.Time
	// Live bounds and paces the pages' live streams (GET /live); its Desk
	// and clock are the console's.
	Live live.Config
}

// Console serves the pages.
type Console struct {
	cfg     Config
	mux     *http.ServeMux
	pages   *templates
	handler http.Handler
	cop     *http.CrossOriginProtection
	secure  bool
	live    *live.Streams
	zones   zones
	// buffers hold pages while they render (a page is written only once
	// it rendered whole, so that a template error can still answer 500):
	// a list or a thread is some 50 KB, which a fresh buffer would reach
	// through a dozen copies on every request.
	buffers sync.Pool
	// rows keeps the HTML of list rows, thread lines and the selects
	// beside them (fragments.go).
	rows fragments
}

// New builds the console and its route table.
func New(cfg Config) (*Console, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Throttle == nil {
		cfg.Throttle = throttle.NewGuard(throttle.Limits{})
	}
	pages, err := parseTemplates(time.UTC)
	if err != nil {
		return nil, err
	}
	lc := cfg.Live
	lc.Desk, lc.Now = cfg.Desk, cfg.Now
	c := &Console{cfg: cfg, mux: http.NewServeMux(), pages: pages, live: live.New(lc)}
	u, err := url.Parse(cfg.PublicURL)
	if cfg.PublicURL != "" && (err != nil || u.Host == "") {
		return nil, errors.New("console: the public URL must be an absolute URL such as https://desk.example.com")
	}
	c.secure = u != nil && u.Scheme == "https"
	c.cop = http.NewCrossOriginProtection()
	if u != nil && u.Host != "" {
		if err := c.cop.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
			return nil, err
		}
	}
	c.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.renderError(w, r, http.StatusForbidden, "This request came from another site, so it was refused. Go back to the page and submit the form again.")
	}))
	c.routes()
	c.handler = c.Protect(c.mux)
	return c, nil
}

// ServeHTTP serves every console page.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.handler.ServeHTTP(w, r) }

// csp allows the console's own scripts, styles and images only: no inline
// script or style, no plugins, no framing.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

// Protect wraps h with the console's security headers and refuses unsafe
// cross-origin requests (CSRF) before h runs. Other doors that serve
// browser pages with the console's session (the OAuth consent page) use it.
func (c *Console) Protect(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		c.cop.Handler(h).ServeHTTP(w, r)
	})
}

// access is who may reach a route.
type access int

const (
	public access = iota // anyone
	member               // a signed-in person of the account
	admin                // a signed-in admin
)

type ctxKey struct{}

// who is the signed-in person and their account, kept in the request's
// context by the access check.
type who struct {
	me      identity.UserPrincipal
	account identity.Account
	scope   *desk.Scope
	drafts  *int // the pending drafts count, when a page already read it
	unread  *int // the unread notifications, when a page already read them
	// cursor is the events feed's position before the page read anything:
	// its live stream starts there, so it misses no later change.
	cursor string
}

// handle registers a route (a net/http pattern such as "GET /drafts")
// behind its access check.
func (c *Console) handle(pattern string, a access, h http.HandlerFunc) {
	c.mux.Handle(pattern, c.guard(a, h))
}

func (c *Console) guard(a access, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a == public {
			h(w, r)
			return
		}
		p, acct, err := c.authenticate(r)
		if errors.Is(err, identity.ErrUnauthenticated) {
			c.clearSession(w)
			c.RedirectToSignIn(w, r)
			return
		}
		if err != nil {
			c.fail(w, r, err)
			return
		}
		in := &who{me: p, account: acct}
		if r.Method == http.MethodGet && r.Header.Get(liveRefetch) == "" {
			// Without a cursor (the key unreadable for a moment) the
			// stream starts from its own now: the page still works, the
			// stream may miss a change made while the page loaded.
			in.cursor, _ = c.cfg.Desk.EventCursorAt(r.Context(), p.AccountID, p.Horizon, c.cfg.Now())
		}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, in))
		if a == admin && p.Role != "admin" {
			c.renderError(w, r, http.StatusForbidden, "Only workspace admins can open this page. Ask an admin of "+acct.Name+" if you need it.")
			return
		}
		h(w, r)
	}
}

func (c *Console) who(r *http.Request) *who {
	if w, ok := r.Context().Value(ctxKey{}).(*who); ok {
		return w
	}
	return &who{}
}

// me is the signed-in person behind a member or admin route.
func (c *Console) me(r *http.Request) identity.UserPrincipal { return c.who(r).me }

// account is the signed-in person's workspace as it was when the request
// began.
func (c *Console) account(r *http.Request) identity.Account { return c.who(r).account }

// scope is what the person may see: admins every inbox, agents the inboxes
// they are members of (read once per request).
func (c *Console) scope(r *http.Request) (desk.Scope, error) {
	w := c.who(r)
	if w.scope != nil {
		return *w.scope, nil
	}
	sc, err := c.scopeOf(r.Context(), w.me)
	if err != nil {
		return sc, err
	}
	w.scope = &sc
	return sc, nil
}

// scopeOf is what person p may see: admins every inbox, agents the
// inboxes they are members of.
func (c *Console) scopeOf(ctx context.Context, p identity.UserPrincipal) (desk.Scope, error) {
	sc := desk.Scope{}
	if p.Role != "admin" {
		ids, err := c.cfg.Desk.MemberInboxIDs(ctx, p.AccountID, p.UserID)
		if err != nil {
			return sc, err
		}
		if ids == nil {
			ids = []int64{}
		}
		sc.InboxIDs = ids
	}
	return sc, nil
}

// request is the signed-in person's request as the desk takes it: their
// account, nothing to re-check, no audit row (a read).
func (c *Console) request(r *http.Request) *tenancy.Request {
	return tenancy.For(c.me(r).AccountID)
}

// recorded is the person's request with e, the audit row of the change it
// makes, the person as its actor: the change and its row commit together
// in the unit of work that makes it (tenancy.Unit), or neither does.
func (c *Console) recorded(r *http.Request, e audit.Entry) *tenancy.Request {
	p := c.me(r)
	e.ActorKind, e.ActorID = "user", p.UserID
	return tenancy.ByMember(p.AccountID, p.UserID, e)
}

// baseURL is the public URL without a trailing slash.
func (c *Console) baseURL() string { return strings.TrimRight(c.cfg.PublicURL, "/") }
