package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/billing/billingtest"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/devmail"
	"github.com/deskwoot/deskwoot/server"
)

// get fetches url with an optional Authorization header.
func get(t *testing.T, url, auth string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

func build(t *testing.T, cfg server.Config) *server.App {
	t.Helper()
	cfg.AppDatabaseURL = dbtest.AppURL()
	app, err := server.Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// TestMetricsArePrivate: /metrics is off by default, behind its token when
// one is set, and only on its own listener when DESKWOOT_METRICS_ADDR is.
func TestMetricsArePrivate(t *testing.T) {
	const metric = "deskwoot_http_requests_total"
	off := httptest.NewServer(build(t, server.Config{}).Handler)
	defer off.Close()
	if code, _, body := get(t, off.URL+"/metrics", ""); code == 200 || strings.Contains(body, metric) {
		t.Fatalf("/metrics without DESKWOOT_METRICS_ADDR or _TOKEN: HTTP %d %.80q, want it off", code, body)
	}

	tok := httptest.NewServer(build(t, server.Config{MetricsToken: "metrics-secret"}).Handler)
	defer tok.Close()
	for _, auth := range []string{"", "Bearer wrong", "metrics-secret", "Bearer metrics-secret-and-more"} {
		if code, _, body := get(t, tok.URL+"/metrics", auth); code != 401 || strings.Contains(body, metric) {
			t.Fatalf("/metrics with Authorization %q: HTTP %d, want 401", auth, code)
		}
	}
	if code, _, body := get(t, tok.URL+"/metrics", "Bearer metrics-secret"); code != 200 || !strings.Contains(body, metric) {
		t.Fatalf("/metrics with the token: HTTP %d", code)
	}

	// Its own listener: the main one never serves /metrics, even with the token.
	addr, main := freeAddr(t), freeAddr(t)
	app := build(t, server.Config{MetricsAddr: addr, MetricsToken: "metrics-secret"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, main) }()
	defer func() { cancel(); <-done }()
	waitListening(t, main)
	waitListening(t, addr)
	if code, _, body := get(t, "http://"+main+"/metrics", "Bearer metrics-secret"); code == 200 || strings.Contains(body, metric) {
		t.Fatalf("main listener /metrics with DESKWOOT_METRICS_ADDR set: HTTP %d", code)
	}
	if code, _, _ := get(t, "http://"+addr+"/metrics", ""); code != 401 {
		t.Fatalf("metrics listener without the token: HTTP %d, want 401", code)
	}
	code, h, body := get(t, "http://"+addr+"/metrics", "Bearer metrics-secret")
	if code != 200 || !strings.Contains(body, metric) || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("metrics listener: HTTP %d, nosniff %q", code, h.Get("X-Content-Type-Options"))
	}
	if code, _, _ := get(t, "http://"+addr+"/api/v1/account", ""); code != 404 {
		t.Fatalf("the metrics listener serves the API: HTTP %d", code)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("nothing listens on %s", addr)
}

// TestSecurityHeaders: nosniff on every answer, no-store on API answers
// (they carry tokens and secrets).
func TestSecurityHeaders(t *testing.T) {
	ts := httptest.NewServer(build(t, server.Config{}).Handler)
	defer ts.Close()
	email := dbtest.Unique("h") + "@example.com"
	res, err := http.Post(ts.URL+"/api/v1/signup", "application/json",
		strings.NewReader(fmt.Sprintf(`{"account_name":"H","email":%q,"password":"correct horse battery"}`, email)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 201 || res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("signup: HTTP %d, Cache-Control %q, nosniff %q", res.StatusCode, res.Header.Get("Cache-Control"), res.Header.Get("X-Content-Type-Options"))
	}
	for _, p := range []string{"/healthz", "/api/mcp", "/no/such/page", "/signin"} {
		_, h, _ := get(t, ts.URL+p, "")
		if h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", p)
		}
	}
	if _, h, _ := get(t, ts.URL+"/api/mcp", ""); h.Get("Cache-Control") != "no-store" {
		t.Errorf("/api/mcp: Cache-Control %q", h.Get("Cache-Control"))
	}
}

// TestHSTSWhenPublicURLIsHTTPS: with an https public URL every answer
// (console, API, MCP, errors) carries Strict-Transport-Security for two
// years with subdomains; with an http one, none does (issue 18, item 11).
func TestHSTSWhenPublicURLIsHTTPS(t *testing.T) {
	paths := []string{"/healthz", "/signin", "/api/v1/me", "/api/mcp", "/oauth/authorize", "/no/such/page"}
	secure := httptest.NewServer(build(t, server.Config{PublicURL: "https://desk.example.com"}).Handler)
	defer secure.Close()
	for _, p := range paths {
		if _, h, _ := get(t, secure.URL+p, ""); h.Get("Strict-Transport-Security") != "max-age=63072000; includeSubDomains" {
			t.Errorf("https public URL, %s: Strict-Transport-Security %q", p, h.Get("Strict-Transport-Security"))
		}
	}
	plain := httptest.NewServer(build(t, server.Config{PublicURL: "http://127.0.0.1"}).Handler)
	defer plain.Close()
	for _, p := range paths {
		if _, h, _ := get(t, plain.URL+p, ""); h.Get("Strict-Transport-Security") != "" {
			t.Errorf("http public URL, %s: Strict-Transport-Security %q", p, h.Get("Strict-Transport-Security"))
		}
	}
}

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func secret(prefix string) string {
	b := make([]byte, 12)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// TestNoSecretIsLogged runs a full flow (signup, sign-in, people, tokens,
// webhook and SMTP secrets, MCP calls with good and bad tokens, Stripe keys,
// failing deliveries and billing calls) with every log line of the server
// captured at debug level, and finds none of the secrets in them.
func TestNoSecretIsLogged(t *testing.T) {
	logs := &logBuffer{}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer slog.SetDefault(prev)

	stripeKey, whsec := secret("sk_test_"), secret("whsec_")
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", 500) }))
	defer hook.Close()
	box, err := devmail.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	ts := httptest.NewUnstartedServer(nil)
	app := build(t, server.Config{StripeSecretKey: stripeKey, StripeWebhookSecret: whsec, StripeAPIBase: "http://" + freeAddr(t),
		StripePrices: billingtest.Prices, AllowPrivateWebhooks: true, MetricsToken: secret("metrics-"),
		PublicURL: "http://" + ts.Listener.Addr().String(), MailRelayURL: box.RelayURL(), MailFrom: "desk@deskwoot.test",
		MailQueue: fmt.Sprintf("test_logs_%d", os.Getpid())})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	app.Background(ctx)
	ts.Config.Handler = app.Handler
	ts.Start()
	defer ts.Close()

	do := func(method, path, token string, body any) map[string]any {
		t.Helper()
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, ts.URL+path, bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		json.NewDecoder(res.Body).Decode(&out)
		return out
	}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }

	password, agentPassword := secret("pw-"), secret("agent-pw-")
	email := dbtest.Unique("logs") + "@example.com"
	admin := str(do("POST", "/api/v1/signup", "", map[string]any{"account_name": "Logs", "email": email, "password": password}), "api_token")
	if admin == "" {
		t.Fatal("signup failed")
	}
	do("POST", "/api/v1/login", "", map[string]any{"email": email, "password": "wrong-" + password})
	login := str(do("POST", "/api/v1/login", "", map[string]any{"email": email, "password": password}), "api_token")
	agent := str(do("POST", "/api/v1/users", admin, map[string]any{"email": dbtest.Unique("a") + "@example.com", "name": "A", "password": agentPassword, "role": "agent"}), "api_token")
	do("PUT", "/api/v1/settings/mcp", admin, map[string]any{"enabled": true})
	mcpToken := str(do("POST", "/api/v1/mcp/tokens", admin, map[string]any{"name": "bot", "preset": "full_agent"}), "token")
	webhookSecret, smtpPassword := secret("hook-"), secret("smtp-")
	ib := do("POST", "/api/v1/inboxes", admin, map[string]any{"name": "API", "channel": "api", "settings": map[string]any{"webhook_url": hook.URL, "webhook_secret": webhookSecret}})
	do("POST", "/api/v1/inboxes", admin, map[string]any{"name": "Mail", "channel": "email", "settings": map[string]any{
		"smtp_host": "127.0.0.1", "smtp_port": 1, "smtp_username": "u", "smtp_password": smtpPassword, "from_address": "s@example.com"}})
	inbox, _ := ib["id"].(float64)
	in := do("POST", fmt.Sprintf("/api/v1/inboxes/%d/messages", int64(inbox)), admin, map[string]any{
		"contact": map[string]any{"email": "c@example.com", "name": "C"}, "content": "help", "source_id": "s1"})
	conv, _ := in["conversation_id"].(float64)
	do("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", int64(conv)), admin, map[string]any{"content": "on it"})
	for _, tok := range []string{mcpToken, "dw_mcp_" + secret("bogus"), ""} {
		do("POST", "/api/mcp", tok, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
		do("POST", "/api/mcp", tok, map[string]any{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": map[string]any{"name": "list_conversations", "arguments": map[string]any{}}})
	}
	do("POST", "/api/v1/billing/checkout", admin, map[string]any{"plan": "enterprise"})
	do("POST", "/api/v1/stripe/webhook", "", map[string]any{"id": "evt_x", "type": "checkout.session.completed"})
	do("GET", "/api/v1/account", agent, nil)
	do("GET", "/api/v1/account", login, nil)
	time.Sleep(2 * time.Second) // the outbox tries the failing webhook
	do("DELETE", "/api/v1/mcp/tokens/1", admin, nil)

	// Links: an invitation and a password reset, each opened and spent.
	invitee := dbtest.Unique("inv") + "@example.com"
	do("POST", "/api/v1/invitations", admin, map[string]any{"email": invitee, "role": "agent"})
	_, invite := mailTo(t, box, invitee)
	b := newBrowserClient(t, ts.URL)
	b.get(invite)
	b.post(invite, url.Values{"name": {"Invitee"}, "password": {secret("inv-pw-")}})
	do("POST", "/api/v1/password/forgot", "", map[string]any{"email": invitee})
	rm, ok := box.Wait(15*time.Second, func(m devmail.Mail) bool { return strings.Contains(m.Body, "/password/reset/dw_rst_") })
	if !ok {
		t.Fatal("no reset mail")
	}
	reset := "/password/reset/" + linkRE.FindStringSubmatch(rm.Body)[2]
	b.get(reset)
	b.post(reset, url.Values{"password": {secret("new-pw-")}})
	do("POST", "/api/v1/password/reset", "", map[string]any{"token": strings.TrimPrefix(reset, "/password/reset/"), "password": "whatever password"})

	out := logs.String()
	if !strings.Contains(out, "path=/api/v1/signup") || !strings.Contains(out, "path=/invite/…") || !strings.Contains(out, "path=/password/reset/…") {
		t.Fatalf("the request log was not captured; got:\n%s", out)
	}
	for name, s := range map[string]string{"password": password, "agent password": agentPassword, "admin token": admin, "login token": login,
		"agent token": agent, "MCP token": mcpToken, "webhook secret": webhookSecret, "SMTP password": smtpPassword,
		"Stripe secret key": stripeKey, "Stripe webhook secret": whsec,
		"invitation token": strings.TrimPrefix(invite, "/invite/"), "reset token": strings.TrimPrefix(reset, "/password/reset/")} {
		if s == "" {
			t.Fatalf("the flow did not produce the %s", name)
		}
		if strings.Contains(out, s) {
			t.Errorf("the %s appears in the logs", name)
		}
	}
}
