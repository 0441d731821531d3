package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/deskwoot/deskwoot/browsertest"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/server"
	"github.com/deskwoot/deskwoot/tenancy"
)

// hookReceiver is an api inbox's webhook endpoint: what the customer's
// side receives.
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, string(b))
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookReceiver) received() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.bodies, "\n")
}

// startServer runs the whole server (REST, MCP, console, outbox, audit
// sealer) on a loopback port.
func startServer(t *testing.T) (base string, app *server.App) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base = "http://" + addr
	app, err = server.Build(context.Background(), server.Config{AppDatabaseURL: dbtest.AppURL(), PublicURL: base, AllowPrivateWebhooks: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, addr) }()
	t.Cleanup(func() { stop(); <-done })
	for i := 0; ; i++ {
		if res, err := http.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			break
		}
		if i > 100 {
			t.Fatal("the server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return base, app
}

// chrome is the one headless Chromium of a browser test (package
// browsertest: its flags, its screenshot folder), ended with the test.
// Each person browses in a tab of their own (tab).
type chrome struct {
	t       *testing.T
	ctx     context.Context
	shots   string
	timeout time.Duration
}

// startChrome starts the browser, or skips the test without one; each
// tab's steps must be done within timeout.
func startChrome(t *testing.T, timeout time.Duration) *chrome {
	t.Helper()
	return &chrome{t: t, ctx: browsertest.Start(t), shots: browsertest.Shots(t), timeout: timeout}
}

// tab opens a tab on the site at base, in a browser context of its own
// (its own cookies: one person).
func (c *chrome) tab(base string) *page {
	return &page{t: c.t, ctx: browsertest.Tab(c.t, c.ctx, c.timeout), base: base, shots: c.shots}
}

// signIn signs the tab in through the console's form.
func (p *page) signIn(email, password string) {
	p.t.Helper()
	p.open("/signin")
	p.fill("Email", email)
	p.fill("Password", password)
	p.press("Sign in", "")
}

// page drives one browser tab by the words people see: labels and button
// names (DESIGN §13's contract).
type page struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string
}

func (p *page) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v\npage text:\n%s", what, err, p.textOrErr())
	}
}

// eval evaluates a JavaScript expression and returns its value.
func eval[T any](p *page, what, js string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		p.t.Fatalf("%s: %v\npage text:\n%s", what, err, p.textOrErr())
	}
	return v
}

func (p *page) textOrErr() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return err.Error()
	}
	return s
}

func (p *page) open(path string) {
	p.t.Helper()
	p.run("open "+path, chromedp.Navigate(p.base+path), chromedp.WaitReady(chromedp.CSS("body")))
}

// control finds the form control a <label> names (exact words first, then
// a label containing them), as a CSS selector.
func (p *page) control(label string) string {
	p.t.Helper()
	js := fmt.Sprintf(`(function(want){
		want = want.toLowerCase();
		const labels = [...document.querySelectorAll('label')];
		const norm = l => l.textContent.replace(/\s+/g, ' ').trim().toLowerCase();
		const l = labels.find(l => norm(l) === want) || labels.find(l => norm(l).includes(want));
		if (!l) return '';
		const el = l.htmlFor ? document.getElementById(l.htmlFor) : l.querySelector('input,select,textarea');
		return el ? '#' + CSS.escape(el.id) : '';
	})(%q)`, label)
	sel := eval[string](p, "find "+label, js)
	if sel == "" {
		p.t.Fatalf("no field labelled %q on the page:\n%s", label, p.textOrErr())
	}
	return sel
}

func (p *page) fill(label, value string) {
	p.t.Helper()
	p.run("fill "+label, chromedp.SetValue(chromedp.CSS(p.control(label)), value))
}

func (p *page) tick(label string) {
	p.t.Helper()
	p.run("tick "+label, chromedp.Click(chromedp.CSS(p.control(label))))
}

func (p *page) value(label string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Value(chromedp.CSS(p.control(label))))
	if err != nil {
		p.t.Fatalf("read %s: %v", label, err)
	}
	return v
}

// press clicks the button with this name (inside the table row that
// mentions row, when row is not empty) and waits for the next page.
func (p *page) press(button, row string) {
	p.t.Helper()
	js := fmt.Sprintf(`(function(name, row){
		name = name.toLowerCase();
		let scope = document;
		if (row) { scope = [...document.querySelectorAll('tr')].find(tr => tr.innerText.includes(row)); if (!scope) return false; }
		const b = [...scope.querySelectorAll('button')].find(b => b.textContent.replace(/\s+/g, ' ').trim().toLowerCase().startsWith(name));
		if (!b) return false;
		window.__stay = 1;
		b.click();
		return true;
	})(%q, %q)`, button, row)
	if !eval[bool](p, "press "+button, js) {
		p.t.Fatalf("no button %q (row %q) on the page:\n%s", button, row, p.textOrErr())
	}
	// The old page's JavaScript context dies with the navigation, so ask
	// again (errors included) until the new page has loaded.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
		done, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__stay === undefined && document.readyState === 'complete'`))
		cancel()
		if err == nil && done {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no new page after %s: %v\n%s", button, err, p.textOrErr())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *page) text() string {
	p.t.Helper()
	return eval[string](p, "read the page", `document.body.innerText`)
}

func (p *page) has(words ...string) {
	p.t.Helper()
	s := strings.ToLower(p.text())
	for _, w := range words {
		if !strings.Contains(s, strings.ToLower(w)) {
			p.t.Fatalf("the page lacks %q:\n%s", w, p.text())
		}
	}
}

// shot saves a full-page screenshot as NAME.png in the artifacts folder.
func (p *page) shot(name string) {
	p.t.Helper()
	buf, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(p.shots, name+".png"), buf, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// bearer adds the MCP token to each request of the SDK client.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

func mcpSession(t *testing.T, url, token string) (*sdk.ClientSession, error) {
	client := sdk.NewClient(&sdk.Implementation{Name: "deskwoot-e2e", Version: "1"}, nil)
	return client.Connect(context.Background(), &sdk.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: bearer{token}}}, nil)
}

// rawMCPStatus sends one initialize request and returns the HTTP status.
func rawMCPStatus(t *testing.T, url, token string) int {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}`
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewBufferString(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestConsoleEndToEnd drives the console in real headless Chromium: sign
// up, switch MCP on, mint an inbox-restricted read-only token that works
// from an MCP client until it is revoked, approve an edited draft that
// reaches the customer's webhook, and read the verified audit trail.
func TestConsoleEndToEnd(t *testing.T) {
	br := startChrome(t, 8*time.Minute)
	base, app := startServer(t)
	hook := newHookReceiver(t)
	p := br.tab(base)
	ctx := p.ctx
	mcpURL := base + "/api/mcp"

	// Sign up.
	email := dbtest.Unique("e2e") + "@example.com"
	p.open("/signup")
	p.shot("signup")
	p.fill("Workspace name", "Acme Support")
	p.fill("Email", email)
	p.fill("Password", "correct horse battery")
	p.press("Create account", "")
	p.has("7 days left in your Enterprise trial", "Sign out", "Acme Support")
	p.shot("home")

	// The workspace's inboxes: an api inbox whose webhook is the
	// customer's side, and another one the token must not see.
	jar, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	var session string
	for _, c := range jar.Cookies {
		if c.Name == "deskwoot_session" {
			session = c.Value
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax {
				t.Errorf("session cookie: HttpOnly %v SameSite %v", c.HTTPOnly, c.SameSite)
			}
		}
	}
	who, _, err := identity.SessionAuthenticate(context.Background(), app.DB, session, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d := &desk.Desk{DB: app.DB}
	widget, err := d.InboxCreate(context.Background(), tenancy.For(who.AccountID), desk.InboxInput{Name: "Web widget", Channel: "api", Settings: map[string]any{"webhook_url": hook.URL + "/hook"}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := d.InboxCreate(context.Background(), tenancy.For(who.AccountID), desk.InboxInput{Name: "Partners", Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	in, err := d.IncomingMessage(context.Background(), who.AccountID, widget.ID, desk.IncomingInput{
		Contact: desk.IncomingContact{Email: "jane@example.com", Name: "Jane Customer"}, Content: "Where is my refund for order 1042?", SourceID: "w-1"})
	if err != nil {
		t.Fatal(err)
	}
	hidden, err := d.IncomingMessage(context.Background(), who.AccountID, other.ID, desk.IncomingInput{
		Contact: desk.IncomingContact{Email: "partner@example.com", Name: "Partner"}, Content: "Partner-only matter", SourceID: "p-1"})
	if err != nil {
		t.Fatal(err)
	}

	// Switch MCP on.
	p.open("/settings/mcp")
	p.has("Off.")
	p.tick("MCP server")
	p.press("Save", "")
	p.has("The MCP server is on", "On.", mcpURL)
	p.shot("mcp-settings")

	// Mint a read-only token restricted to the Web widget inbox.
	p.fill("Name", "triage-reader")
	p.fill("Preset", "read_only")
	p.tick("Web widget")
	p.press("Create token", "")
	p.has("Copy it now", "triage-reader", "preset read_only")
	reader := p.value("Token")
	if !strings.HasPrefix(reader, "dw_mcp_") {
		t.Fatalf("Token field holds %q", reader)
	}
	p.shot("mcp-token-created")

	// The raw token works from the official MCP Go SDK client, inside its inbox only.
	cs, err := mcpSession(t, mcpURL, reader)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "list_conversations", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("list_conversations: %v %+v", err, res)
	}
	listed, _ := json.Marshal(res.StructuredContent)
	var page struct {
		Conversations []struct {
			ID int64 `json:"id"`
		} `json:"conversations"`
	}
	json.Unmarshal(listed, &page)
	var ids []int64 // conversation ids only: a contact's id may equal the hidden conversation's
	for _, c := range page.Conversations {
		ids = append(ids, c.ID)
	}
	if !slices.Contains(ids, in.ConversationID) || slices.Contains(ids, hidden.ConversationID) {
		t.Fatalf("the inbox-restricted token listed %s", listed)
	}
	cs.Close()

	// Revoke: the very next call is refused with 401.
	p.press("Revoke", "triage-reader")
	p.has("Token triage-reader is revoked", "Revoked")
	p.shot("mcp-token-revoked")
	if st := rawMCPStatus(t, mcpURL, reader); st != http.StatusUnauthorized {
		t.Fatalf("after Revoke the token got %d, want 401", st)
	}
	if _, err := mcpSession(t, mcpURL, reader); err == nil {
		t.Fatal("the MCP client still connects with a revoked token")
	}

	// A token that requires approval: its reply waits in Drafts.
	p.fill("Name", "careful-replier")
	p.fill("Preset", "reply")
	p.tick("Require approval")
	p.press("Create token", "")
	careful := p.value("Token")
	cs, err = mcpSession(t, mcpURL, careful)
	if err != nil {
		t.Fatal(err)
	}
	res, err = cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "reply_to_conversation", Arguments: map[string]any{
		"conversation_id": in.ConversationID, "content": "Your refund is on its way.", "idempotency_key": "e2e-reply-1"}})
	if err != nil || res.IsError {
		t.Fatalf("reply_to_conversation: %v %+v", err, res)
	}
	cs.Close()
	if strings.Contains(hook.received(), "Your refund") {
		t.Fatal("a reply that needs approval reached the customer")
	}

	p.open("/drafts")
	p.has("Where is my refund for order 1042?", "careful-replier", "Jane Customer")
	if got := p.value("Reply"); got != "Your refund is on its way." {
		t.Fatalf("Reply field holds %q", got)
	}
	p.shot("drafts")
	edited := "Hi Jane, your refund for order 1042 was sent today; expect it within 3 days."
	p.fill("Reply", edited)
	p.press("Approve", "")
	p.has("Approved", "No drafts wait")
	p.shot("drafts-approved")

	// The customer receives the edited text.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(hook.received(), "your refund for order 1042 was sent today") {
		if time.Now().After(deadline) {
			t.Fatalf("the webhook never received the edited reply; it got:\n%s", hook.received())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Contains(hook.received(), "Your refund is on its way.") {
		t.Fatal("the customer received the unedited draft")
	}

	// The audit page lists those actions, and the chain verifies.
	deadline = time.Now().Add(30 * time.Second)
	for {
		p.open("/audit")
		s := p.text()
		if strings.Contains(s, "Verified through row") && strings.Contains(s, "reply_to_conversation") && !strings.Contains(s, "not sealed yet") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the audit page never showed the sealed actions:\n%s", s)
		}
		time.Sleep(300 * time.Millisecond)
	}
	p.has("settings.mcp", "mcp.token.create", "mcp.token.revoke", "list_conversations", "reply_to_conversation", "draft.approved", "triage-reader", "careful-replier")
	p.shot("audit")

	// A security reviewer asks why the agent's reply was allowed, and reads
	// the policy that decided it.
	why := eval[string](p, "find the reply's explanation", `(() => {
		for (const tr of document.querySelectorAll("tbody tr")) {
			if (tr.innerText.includes("reply_to_conversation")) { return tr.querySelector('a[href$="/explanation"]').getAttribute("href"); }
		}
		return "";
	})()`)
	if why == "" {
		t.Fatal("no explanation link on the reply's audit row")
	}
	p.open(why)
	p.has("reply_to_conversation", "Rules that decided", "Input", "Policy revision")
	p.shot("explanation")
	// The base policy's tests run once per process, on the first look at
	// /policy; under -race on a loaded 2-core machine that outlasted the
	// server's 60 s write timeout, so they run here first (as in
	// TestPolicyPages).
	if _, err := app.Policy.Tests(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.open("/policy")
	p.has("Revision", "Coverage", "Catalog", "reply_to_conversation", "authz.rego")
	p.shot("policy")

	p.open("/billing")
	p.has("Plan and billing", "Billing is not configured on this server")
	p.shot("billing")
	p.open("/conversations")
	p.shot("conversations")

	// A phone: the same pages stay readable.
	p.run("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	p.open("/settings/mcp")
	p.shot("phone-mcp-settings")
	p.open("/drafts")
	p.shot("phone-drafts")
	p.run("desktop", chromedp.EmulateViewport(1280, 900))

	// Sign out ends the session.
	p.press("Sign out", "")
	p.has("You are signed out", "Sign in")
	p.shot("signin")
	p.open("/settings/mcp")
	p.has("Sign in")
	if _, _, err := identity.SessionAuthenticate(context.Background(), app.DB, session, time.Now()); err == nil {
		t.Fatal("the session still works after Sign out")
	}
}
