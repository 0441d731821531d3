// Package server wires the doors (REST, MCP and the console) and the background work
// into one http.Handler and runs it, for `deskwoot serve` and `deskwoot dev`.
package server

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/deskwoot/deskwoot/api"
	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/billing"
	"github.com/deskwoot/deskwoot/console"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/helpcenter"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/mailout"
	"github.com/deskwoot/deskwoot/mailserver"
	"github.com/deskwoot/deskwoot/mcp"
	"github.com/deskwoot/deskwoot/oauth"
	"github.com/deskwoot/deskwoot/outbox"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/shadow"
	"github.com/deskwoot/deskwoot/signup"
	"github.com/deskwoot/deskwoot/tenancy"
	"github.com/deskwoot/deskwoot/tenantpolicy"
	"github.com/deskwoot/deskwoot/throttle"
	"github.com/deskwoot/deskwoot/widget"
)

// Config is the server's configuration (environment and flags).
type Config struct {
	// Now is the clock the doors read (abuse limits, sessions, trials);
	// time.Now when nil. Tests that count attempts freeze it, so that a
	// slow machine refilling a budget meanwhile cannot change the answer.
	Now func() time.Time

	AppDatabaseURL string
	Addr           string
	PublicURL      string
	AllowedHosts   []string

	// DBMaxConns bounds the PostgreSQL pool (DESKWOOT_DB_MAX_CONNS); 0 takes
	// the URL's pool_max_conns, else tenancy.DefaultMaxConns.
	DBMaxConns int

	// EventRetention and IdempotencyTTL take their defaults when zero.
	EventRetention time.Duration
	IdempotencyTTL time.Duration

	// Stripe billing (STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET,
	// STRIPE_API_BASE, DESKWOOT_STRIPE_PRICE_*, DESKWOOT_GRACE_PERIOD).
	// With neither key set the server runs without billing and its
	// endpoints answer 503.
	StripeSecretKey     string
	StripeWebhookSecret string
	StripeAPIBase       string
	StripePrices        map[string]string // plan -> Stripe price id
	GracePeriod         time.Duration     // 168h when 0

	// SMTPAddr is where the inbound mail listener listens
	// (DESKWOOT_SMTP_ADDR); empty leaves it off.
	SMTPAddr string
	// InboundDomain is the domain of the receiving addresses Deskwoot
	// assigns to email inboxes (DESKWOOT_INBOUND_DOMAIN); its MX points at
	// the SMTP listener. InboundRotationGrace is how long a rotated-out
	// address still receives (DESKWOOT_INBOUND_ROTATION_GRACE, 7 days when 0).
	InboundDomain        string
	InboundRotationGrace time.Duration
	// InboundMailsPerAddress and InboundMailsPerInbox limit inbound mail a
	// minute per connecting address and per inbox
	// (DESKWOOT_SMTP_MAILS_PER_ADDRESS, _PER_INBOX; the mailserver's
	// defaults when 0).
	InboundMailsPerAddress, InboundMailsPerInbox int

	// MetricsAddr, when set, is the only place /metrics is served
	// (DESKWOOT_METRICS_ADDR, e.g. 127.0.0.1:9090). MetricsToken, when set,
	// is the bearer token /metrics requires (DESKWOOT_METRICS_TOKEN). With
	// neither, /metrics is off: it lists tools and decision counts.
	MetricsAddr  string
	MetricsToken string
	// SignupsPerHour bounds workspaces created per client address
	// (DESKWOOT_SIGNUPS_PER_HOUR, 5 when 0); ClientIPHeader names the header
	// a reverse proxy sets to the client's address (DESKWOOT_CLIENT_IP_HEADER).
	SignupsPerHour int
	ClientIPHeader string
	// MCPStreamsPerToken and MCPStreamTimeout bound the open GET /api/mcp
	// streams of one token and their lifetime (4 and 50 s when 0).
	MCPStreamsPerToken int
	MCPStreamTimeout   time.Duration
	// OutboxWorkers is how many deliveries one replica runs at once (10 when 0).
	OutboxWorkers int
	// AllowPrivateWebhooks lets egress (api inbox webhooks and the SMTP
	// delivery of email inboxes) reach loopback and private addresses
	// (DESKWOOT_WEBHOOK_ALLOW_PRIVATE); off in production.
	AllowPrivateWebhooks bool
	// OAuthAllowLoopbackMetadata lets OAuth client ID metadata documents be
	// fetched from http loopback URLs (DESKWOOT_OAUTH_ALLOW_LOOPBACK_METADATA);
	// off in production.
	OAuthAllowLoopbackMetadata bool
	// MailRelayURL is the operator's SMTP relay for mail to people
	// (DESKWOOT_SMTP_RELAY_URL, smtp://user:pass@host:port or smtps://…)
	// and MailFrom its From address (DESKWOOT_MAIL_FROM). Without a relay
	// the console shows invitation links to the admin once and
	// notifications stay in the app.
	MailRelayURL, MailFrom string
	// Signup is how new logins are created (DESKWOOT_SIGNUP): open (the
	// default) creates them at once and says when an email is taken;
	// confirm mails a link first and answers every address alike, which
	// needs MailRelayURL (Build refuses to start without it).
	Signup signup.Mode
	// MailQueue is the River queue of mail to people (mailout's default
	// when empty). Every replica of one deployment shares it; tests that
	// run servers with different relays on one database give each its own.
	MailQueue string
	// DevMailbox, when set, is served at /dev/mail: deskwoot dev's local
	// mailbox (package devmail). serve never sets it.
	DevMailbox http.Handler
	// OAuthConsole replaces the console's sign-in on the OAuth consent page
	// (tests); nil uses the console.
	OAuthConsole oauth.Console
	// AuditSigningKey signs the audit chain's checkpoints
	// (DESKWOOT_AUDIT_SIGNING_KEY; `deskwoot dev` uses the key migrate
	// stored). Nil leaves checkpoints off: the audit page then verifies
	// each account's whole chain.
	AuditSigningKey ed25519.PrivateKey
}

// App is a built server.
type App struct {
	DB      *tenancy.DB
	Handler http.Handler
	Audit   *audit.Log
	Hub     *desk.EventHub
	// Desk is the server's desk, its outbox and mail wired: what a tool
	// that writes beside the server (the dev demo's seed) writes through.
	Desk *desk.Desk
	// Policy is the server's policy engine.
	Policy *policy.Engine
	// Outbox delivers outgoing messages; Mail (nil when off) takes inbound mail.
	Outbox *outbox.Outbox
	Mail   *mailserver.Server
	mailLn net.Listener
	// Metrics serves /metrics on its own listener (MetricsAddr); nil when
	// /metrics is on the main handler behind a token, or off.
	Metrics     http.Handler
	metricsAddr string
	// policy's sandbox children and the background replays stop with Run.
	policy   *policy.Engine
	replays  *tenantpolicy.Replays
	shadows  *shadow.Recorder
	shadowDB *tenancy.DB
}

// Background starts the work every replica does beside serving (the audit
// sealer and the events listener) until ctx ends. It returns once the
// listener is in place.
func (a *App) Background(ctx context.Context) {
	go a.Audit.RunSealer(ctx, 250*time.Millisecond, func(err error) {
		if ctx.Err() == nil { // not the shutdown
			slog.Error("audit sealer", "err", err)
		}
	})
	ready := make(chan struct{})
	go a.Hub.Run(ctx, ready)
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		slog.Warn("event listener not ready yet; long-polls fall back to periodic checks")
	}
	a.startChannels(ctx)
}

// startChannels runs the outbox workers and the inbound mail listener until
// ctx ends.
func (a *App) startChannels(ctx context.Context) {
	if err := a.Outbox.Start(ctx); err != nil {
		slog.Error("outbox workers did not start; outgoing messages wait in pending", "err", err)
	}
	if a.Mail != nil {
		go func() {
			if err := a.Mail.Serve(a.mailLn); err != nil {
				slog.Error("smtp listener", "err", err)
			}
		}()
		go func() { <-ctx.Done(); a.Mail.Close() }()
	}
}

// ErrPrivilegedRole is returned when the run-time connection could bypass
// row-level security.
var ErrPrivilegedRole = errors.New("refusing to serve")

// CheckRole refuses a connection whose role is a superuser or bypasses RLS:
// the fence would not hold.
func CheckRole(ctx context.Context, db *tenancy.DB) error {
	var name string
	var super, bypass bool
	err := db.Pool.QueryRow(ctx, `SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user`).Scan(&name, &super, &bypass)
	if err != nil {
		return err
	}
	if super || bypass {
		return fmt.Errorf("%w: the database role %q is a superuser or has BYPASSRLS, so row-level security would not fence tenants; connect as deskwoot_app (DATABASE_URL for serve is the app role)", ErrPrivilegedRole, name)
	}
	return nil
}

// Build opens the database and assembles the handler.
func Build(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Signup == signup.Confirm && cfg.MailRelayURL == "" {
		return nil, errors.New("DESKWOOT_SIGNUP=confirm mails every new login a link to confirm its email, so it needs a relay: set DESKWOOT_SMTP_RELAY_URL, or DESKWOOT_SIGNUP=open")
	}
	db, err := tenancy.OpenPool(ctx, cfg.AppDatabaseURL, cfg.DBMaxConns)
	if err != nil {
		return nil, err
	}
	if err := CheckRole(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	engine, err := policy.New(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	lg := &audit.Log{DB: db, Key: cfg.AuditSigningKey}
	db.OnAudit = lg.Touch // every audit row a request commits is sealed soon after
	if lg.Key == nil {
		slog.Warn("audit checkpoints are off: set DESKWOOT_AUDIT_SIGNING_KEY (deskwoot audit key --private prints the key migrate stored); until then the audit page verifies each account's whole chain")
	}
	hub := desk.NewEventHub(db.Pool)
	d := &desk.Desk{DB: db, Hub: hub, EventRetention: cfg.EventRetention, PublicURL: cfg.PublicURL,
		InboundDomain: cfg.InboundDomain, InboundRotationGrace: cfg.InboundRotationGrace}
	ids := &identity.Identities{DB: db}
	var confirmer *signup.Confirmer // nil: open signup
	if cfg.Signup == signup.Confirm {
		confirmer = &signup.Confirmer{Identities: ids, PublicURL: cfg.PublicURL}
	}
	var also []outbox.JobKinds
	if cfg.MailRelayURL != "" {
		relay, err := mailout.ParseRelay(cfg.MailRelayURL, cfg.MailFrom)
		if err != nil {
			db.Close()
			return nil, err
		}
		mailer, err := mailout.New(mailout.Config{DB: db, Desk: d, Relay: relay, Queue: cfg.MailQueue, Signup: confirmer})
		if err != nil {
			db.Close()
			return nil, err
		}
		d.Mail = mailer
		if confirmer != nil {
			confirmer.Queue = mailer
			slog.Info("signup is email-confirmed (DESKWOOT_SIGNUP=confirm): every address gets the same answer, and a link by mail")
		}
		also = append(also, mailer)
		slog.Info("mail to people goes through the relay", "relay", relay.String(), "from", relay.From.String())
	}
	ob, err := outbox.New(outbox.Config{DB: db, Desk: d, Workers: cfg.OutboxWorkers, AllowPrivateTargets: cfg.AllowPrivateWebhooks, Also: also})
	if err != nil {
		db.Close()
		return nil, err
	}
	d.Outbox = ob
	var mailSrv *mailserver.Server
	var mailLn net.Listener
	if cfg.SMTPAddr != "" {
		if cfg.InboundDomain == "" {
			db.Close()
			return nil, errors.New("DESKWOOT_SMTP_ADDR is set but DESKWOOT_INBOUND_DOMAIN is not: set the domain whose MX points at the listener, e.g. in.example.com")
		}
		if mailLn, err = net.Listen("tcp", cfg.SMTPAddr); err != nil {
			db.Close()
			return nil, fmt.Errorf("smtp listener (DESKWOOT_SMTP_ADDR): %w", err)
		}
		mailSrv = mailserver.New(mailserver.Config{Desk: d, Domain: cfg.InboundDomain,
			MailsPerAddress: cfg.InboundMailsPerAddress, MailsPerInbox: cfg.InboundMailsPerInbox})
	}
	hosts := cfg.AllowedHosts
	if u, err := url.Parse(cfg.PublicURL); err == nil && u.Hostname() != "" && !isLoopback(u.Hostname()) {
		hosts = append(hosts, u.Hostname())
	}
	bill, err := buildBilling(cfg, db, lg)
	if err != nil {
		db.Close()
		return nil, err
	}
	m := newMetrics(db)
	r := mux.NewRouter()
	r.Use(m.middleware)
	// One set of abuse limits per replica, shared by every door.
	guard := throttle.NewGuard(throttle.Limits{SignupsPerHour: cfg.SignupsPerHour, IPHeader: cfg.ClientIPHeader})
	replays := tenantpolicy.NewReplays(db)
	// Shadow rules read and write through a pool of their own: they never
	// wait for, nor hold, a connection the requests need.
	shadowDB, err := tenancy.OpenBackground(cfg.AppDatabaseURL, shadowConns)
	if err != nil {
		return nil, err
	}
	shadows := shadow.New(shadowDB, engine)
	api.New(api.Config{DB: db, Identities: ids, Desk: d, Policy: engine, Audit: lg, PublicURL: cfg.PublicURL, Billing: bill, Throttle: guard, Now: cfg.Now,
		Replays: replays, Shadows: shadows, Signup: confirmer}).Routes(r)
	con, err := console.New(console.Config{DB: db, Identities: ids, Desk: d, Policy: engine, Audit: lg, Billing: bill,
		PublicURL: cfg.PublicURL, Throttle: guard, Now: cfg.Now, Signup: confirmer})
	if err != nil {
		db.Close()
		shadowDB.Close()
		return nil, err
	}
	var signIn oauth.Console = con
	if cfg.OAuthConsole != nil {
		signIn = cfg.OAuthConsole
	}
	as, err := oauth.New(oauth.Config{DB: db, Desk: d, Audit: lg, PublicURL: cfg.PublicURL, Scopes: engine.Scopes(),
		Console: signIn, AllowLoopbackMetadata: cfg.OAuthAllowLoopbackMetadata, ClientIPHeader: cfg.ClientIPHeader})
	if err != nil {
		db.Close()
		return nil, err
	}
	as.Routes(r)
	r.Handle("/api/mcp", mcp.New(mcp.Config{DB: db, Desk: d, Policy: engine, Audit: lg, AllowedHosts: hosts,
		IdempotencyTTL: cfg.IdempotencyTTL, Observer: m, Resource: as.Resource(), ResourceMetadata: as.ResourceMetadataURL(),
		Throttle: guard, StreamsPerToken: cfg.MCPStreamsPerToken, StreamTimeout: cfg.MCPStreamTimeout, Shadow: shadows}))
	app := &App{DB: db, Audit: lg, Hub: hub, Desk: d, Policy: engine, Outbox: ob, Mail: mailSrv, mailLn: mailLn, metricsAddr: cfg.MetricsAddr,
		replays: replays, shadows: shadows, shadowDB: shadowDB}
	metrics := m.handler()
	if cfg.MetricsToken != "" {
		metrics = requireToken(cfg.MetricsToken, metrics)
	}
	switch {
	case cfg.MetricsAddr != "": // its own listener only
		only := http.NewServeMux()
		only.Handle("GET /metrics", metrics)
		app.Metrics = securityHeaders(cfg.PublicURL, only)
	case cfg.MetricsToken != "":
		r.Handle("/metrics", metrics).Methods(http.MethodGet)
	}
	if cfg.DevMailbox != nil {
		r.Handle("/dev/mail", cfg.DevMailbox)
	}
	chat := widget.New(widget.Config{Desk: d, PublicURL: cfg.PublicURL, IPHeader: cfg.ClientIPHeader, Now: cfg.Now})
	r.Handle("/widget.js", chat)
	r.PathPrefix("/widget/").Handler(chat)
	r.PathPrefix("/hc/").Handler(helpcenter.New(helpcenter.Config{Desk: d, PublicURL: cfg.PublicURL, IPHeader: cfg.ClientIPHeader, Now: cfg.Now}))
	r.PathPrefix("/").Handler(con) // the console: everything the routes above do not take
	app.Handler = securityHeaders(cfg.PublicURL, logRequests(r))
	return app, nil
}

// buildBilling is nil (billing not configured) unless a Stripe key is set.
func buildBilling(cfg Config, db *tenancy.DB, lg *audit.Log) (*billing.Service, error) {
	if cfg.StripeSecretKey == "" && cfg.StripeWebhookSecret == "" {
		return nil, nil
	}
	return billing.New(billing.Config{DB: db, Audit: lg, SecretKey: cfg.StripeSecretKey, WebhookSecret: cfg.StripeWebhookSecret,
		APIBase: cfg.StripeAPIBase, Prices: cfg.StripePrices, GracePeriod: cfg.GracePeriod, PublicURL: cfg.PublicURL})
}

func isLoopback(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

// Run serves until ctx ends, then shuts down gracefully.
func (a *App) Run(ctx context.Context, addr string) error {
	// Bounded reads and writes; the write bound leaves room for a 25 s long-poll.
	srv := &http.Server{Addr: addr, Handler: a.Handler, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute}
	bg, stopBackground := context.WithCancel(context.Background())
	defer stopBackground()
	a.Background(bg)
	errc := make(chan error, 2)
	go func() { errc <- srv.ListenAndServe() }()
	if a.Metrics != nil {
		msrv := &http.Server{Addr: a.metricsAddr, Handler: a.Metrics, ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
		go func() { errc <- fmt.Errorf("metrics listener (DESKWOOT_METRICS_ADDR): %w", msrv.ListenAndServe()) }()
		defer msrv.Close()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	stopBackground()
	a.replays.Close() // each saves where it stopped
	a.shadows.Close()
	a.shadowDB.Close()
	a.Policy.Close()
	select { // running deliveries finish before the pool closes
	case <-a.Outbox.Stopped():
	case <-shutdown.Done():
	}
	a.DB.Close()
	return err
}

// hsts is the Strict-Transport-Security of a server whose public URL is
// https: browsers use only https for two years, subdomains included, so
// that no first plain-http request can be intercepted.
// shadowConns bounds the shadow rules' own pool: one worker uses it.
const shadowConns = 2

const hsts = "max-age=63072000; includeSubDomains"

// securityHeaders marks every answer nosniff (a JSON or text body is never
// run as a script or style), every answer HSTS when the public URL is
// https, and every API answer no-store: API answers carry tokens, secrets
// and customer data that no cache may keep. no-store holds whatever a
// handler or a library sets (mcp-go's streams say no-cache, which lets a
// cache store them).
func securityHeaders(publicURL string, next http.Handler) http.Handler {
	https := strings.HasPrefix(strings.ToLower(publicURL), "https://")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if https {
			w.Header().Set("Strict-Transport-Security", hsts)
		}
		if strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/oauth/") {
			w = &noStoreWriter{ResponseWriter: w}
		}
		next.ServeHTTP(w, r)
	})
}

// noStoreWriter sets Cache-Control: no-store just before the header goes
// out, over any value set before.
type noStoreWriter struct {
	http.ResponseWriter
	sent bool
}

func (w *noStoreWriter) seal() {
	if !w.sent {
		w.sent = true
		w.ResponseWriter.Header().Set("Cache-Control", "no-store")
	}
}

func (w *noStoreWriter) WriteHeader(code int) {
	if code >= 200 { // 1xx answers come before the real header
		w.seal()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *noStoreWriter) Write(b []byte) (int, error) {
	w.seal()
	return w.ResponseWriter.Write(b)
}

// Flush keeps streaming responses (SSE) working through the wrapper.
func (w *noStoreWriter) Flush() {
	w.seal()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *noStoreWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// requireToken answers 401 unless the request carries Bearer token
// (compared in constant time).
func requireToken(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte("Bearer " + token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := sha256.Sum256([]byte(r.Header.Get("Authorization")))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="deskwoot-metrics"`)
			http.Error(w, "send Authorization: Bearer DESKWOOT_METRICS_TOKEN", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// SplitHosts parses a comma-separated host list.
func SplitHosts(s string) []string {
	var out []string
	for _, h := range strings.Split(s, ",") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, h)
		}
	}
	return out
}

// logRequests logs method, path, status and duration; never headers (tokens).
func logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		slog.Debug("http", "method", r.Method, "path", console.LogPath(r.URL.Path), "status", sw.status, "dur", time.Since(start))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Flush keeps streaming responses (SSE) working through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
