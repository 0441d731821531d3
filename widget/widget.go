// Package widget is the customers' door on a workspace's own website: the
// chat widget's script (/widget.js) and its public API under /widget/v1/.
//
// Every API path names the website inbox by the public id of its embed
// snippet; the visitor is known by the visitor token desk signs (sent as
// Authorization: Bearer). A request is refused, writing nothing, unless it
// comes from a page of one of the inbox's allowed origins (CORS: none →
// refused, "*" explicit), within the per-address and per-visitor rate
// limits, with a valid token for that inbox, and with bounded, NUL-free
// input. A visitor reaches only its own conversations in that inbox:
// requests never name a conversation, and a message or article that is not
// the visitor's (or not published) is 404. Handlers are thin: decode,
// check, one desk call, encode.
package widget

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/throttle"
)

// Config configures the widget door.
type Config struct {
	Desk *desk.Desk
	// PublicURL is where the server is reached (the script's API base).
	PublicURL string
	// IPHeader names the header a reverse proxy puts the client's address
	// in (DESKWOOT_CLIENT_IP_HEADER); empty uses the peer address.
	IPHeader string
	// Now is the clock of tokens and limits; time.Now when nil.
	Now func() time.Time
	// StreamTimeout bounds one live stream (DefaultStreamTimeout when 0);
	// the widget reconnects from where it was.
	StreamTimeout time.Duration
	// Limits are the rate limits (defaults when zero).
	Limits Limits
}

// Limits are the widget's rate limits: a burst, then one request every
// interval, per key.
type Limits struct {
	// PerAddress counts every widget request of one client address.
	PerAddressBurst int
	PerAddressEvery time.Duration
	// PerVisitor counts the requests of one visitor (its contact).
	PerVisitorBurst int
	PerVisitorEvery time.Duration
	// NewVisitors counts the contacts one address makes (anonymous first
	// messages and identifications).
	NewVisitorBurst int
	NewVisitorEvery time.Duration
	// StreamsPerVisitor bounds one visitor's open live streams.
	StreamsPerVisitor int
}

// Defaults.
const (
	DefaultStreamTimeout = 5 * time.Minute
	maxBody              = 512 << 10 // a 100,000-character message in UTF-8, with room
)

func (l Limits) withDefaults() Limits {
	def := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	every := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&l.PerAddressBurst, 120)
	every(&l.PerAddressEvery, 200*time.Millisecond)
	def(&l.PerVisitorBurst, 30)
	every(&l.PerVisitorEvery, time.Second)
	def(&l.NewVisitorBurst, 10)
	every(&l.NewVisitorEvery, 30*time.Second)
	def(&l.StreamsPerVisitor, 3)
	return l
}

// Widget serves the widget's script and API.
type Widget struct {
	cfg                            Config
	mux                            *http.ServeMux
	perAddress, perVisitor, newVis *throttle.Throttle

	mu      sync.Mutex
	streams map[int64]int // open streams per contact
	feeds   *feeds
}

// New builds the widget door.
func New(cfg Config) *Widget {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StreamTimeout <= 0 {
		cfg.StreamTimeout = DefaultStreamTimeout
	}
	cfg.Limits = cfg.Limits.withDefaults()
	l := cfg.Limits
	w := &Widget{cfg: cfg, mux: http.NewServeMux(), streams: map[int64]int{}, feeds: newFeeds(cfg.Desk),
		perAddress: throttle.New(l.PerAddressEvery, l.PerAddressBurst),
		perVisitor: throttle.New(l.PerVisitorEvery, l.PerVisitorBurst),
		newVis:     throttle.New(l.NewVisitorEvery, l.NewVisitorBurst)}
	w.routes()
	return w
}

// routes is the widget's route table. Script paths are served as files;
// every API path is /widget/v1/{inbox}/….
func (w *Widget) routes() {
	w.mux.HandleFunc("GET /widget.js", w.loader)
	w.mux.HandleFunc("GET /widget/app/{file}", w.app)

	w.mux.HandleFunc("OPTIONS /widget/v1/{inbox}/{rest...}", w.door(anyone, w.preflight))
	w.mux.HandleFunc("GET /widget/v1/{inbox}/config", w.door(anyone, w.config))
	w.mux.HandleFunc("POST /widget/v1/{inbox}/identify", w.door(anyone, w.identify))
	w.mux.HandleFunc("POST /widget/v1/{inbox}/messages", w.door(anyone, w.messageCreate))
	w.mux.HandleFunc("GET /widget/v1/{inbox}/messages", w.door(visitor, w.messages))
	w.mux.HandleFunc("GET /widget/v1/{inbox}/stream", w.door(visitor, w.stream))
	w.mux.HandleFunc("POST /widget/v1/{inbox}/seen", w.door(visitor, w.seen))
	w.mux.HandleFunc("POST /widget/v1/{inbox}/email", w.door(visitor, w.email))
	w.mux.HandleFunc("GET /widget/v1/{inbox}/articles", w.door(anyone, w.articleSearch))
	w.mux.HandleFunc("GET /widget/v1/{inbox}/articles/{id}", w.door(anyone, w.article))
	w.mux.HandleFunc("/widget/", func(rw http.ResponseWriter, r *http.Request) {
		writeError(rw, r, fault.NotFoundf("no widget route %s %s", r.Method, r.URL.Path))
	})
}

// ServeHTTP serves /widget.js and everything under /widget/.
func (w *Widget) ServeHTTP(rw http.ResponseWriter, r *http.Request) { w.mux.ServeHTTP(rw, r) }

// who may call a route: anyone the inbox admits, or only a visitor with a
// valid token.
type access int

const (
	anyone access = iota
	visitor
)

// call is one checked widget request: its inbox, and its visitor when a
// valid token came with it (ContactID 0 otherwise).
type call struct {
	inbox   desk.WidgetInbox
	visitor desk.Visitor
	hasTok  bool
	now     time.Time
}

// door runs the checks every widget request passes, in order, before the
// handler: the address's rate limit (before any database work), the inbox
// (404), the page's origin (403, no CORS headers), the visitor token (401)
// and the visitor's rate limit.
func (w *Widget) door(need access, h func(http.ResponseWriter, *http.Request, *call)) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		now := w.cfg.Now()
		if wait := w.perAddress.Take(throttle.ClientIP(r, w.cfg.IPHeader), now); wait > 0 {
			writeError(rw, r, tooMany(wait, "too many chat requests from this address; wait and try again"))
			return
		}
		wi, err := w.cfg.Desk.WidgetInboxGet(r.Context(), r.PathValue("inbox"))
		if err != nil {
			writeError(rw, r, err)
			return
		}
		origin := r.Header.Get("Origin")
		if !wi.Settings.AllowsOrigin(origin) {
			writeError(rw, r, fault.New(fault.Forbidden, "", "this chat is not allowed on %s; an admin adds the site to the inbox's allowed origins", originName(origin)))
			return
		}
		hd := rw.Header()
		hd.Set("Access-Control-Allow-Origin", origin)
		hd.Add("Vary", "Origin")
		hd.Set("Cache-Control", "no-store")
		c := &call{inbox: wi, now: now}
		if r.Method == http.MethodOptions {
			h(rw, r, c)
			return
		}
		if tok, ok := bearer(r); ok {
			if c.visitor, err = w.cfg.Desk.VisitorTokenOpen(r.Context(), wi, tok, now); err != nil {
				writeError(rw, r, err)
				return
			}
			c.hasTok = true
		} else if need == visitor || r.Header.Get("Authorization") != "" {
			writeError(rw, r, fault.New(fault.Unauthenticated, "", "send the visitor token as Authorization: Bearer TOKEN; start a chat to get one"))
			return
		}
		if c.hasTok {
			if wait := w.perVisitor.Take(tokKey(c.visitor), now); wait > 0 {
				writeError(rw, r, tooMany(wait, "too many chat requests from this visitor; wait and try again"))
				return
			}
		}
		h(rw, r, c)
	}
}

func originName(o string) string {
	if o == "" {
		return "a page that sent no Origin"
	}
	if len(o) > 100 {
		o = o[:100] + "…"
	}
	return o
}

func bearer(r *http.Request) (string, bool) {
	v := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(v, "Bearer ")
	return strings.TrimSpace(tok), ok && strings.TrimSpace(tok) != ""
}

func tokKey(v desk.Visitor) string {
	return strings.Join([]string{itoa(v.AccountID), itoa(v.ContactID)}, ":")
}

// preflight answers a CORS preflight from an allowed origin (the door
// already refused the others).
func (w *Widget) preflight(rw http.ResponseWriter, r *http.Request, _ *call) {
	h := rw.Header()
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID")
	h.Set("Access-Control-Max-Age", "600")
	rw.WriteHeader(http.StatusNoContent)
}

// newVisitor spends one of the address's new visitors.
func (w *Widget) newVisitor(r *http.Request, now time.Time) error {
	if wait := w.newVis.Take(throttle.ClientIP(r, w.cfg.IPHeader), now); wait > 0 {
		return tooMany(wait, "too many new chats from this address; wait and try again")
	}
	return nil
}

// streamOpen counts an open stream of a visitor; false when it has its
// limit open already.
func (w *Widget) streamOpen(v desk.Visitor) (release func(), ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.streams[v.ContactID] >= w.cfg.Limits.StreamsPerVisitor {
		return nil, false
	}
	w.streams[v.ContactID]++
	return func() {
		w.mu.Lock()
		if w.streams[v.ContactID]--; w.streams[v.ContactID] <= 0 {
			delete(w.streams, v.ContactID)
		}
		w.mu.Unlock()
	}, true
}
