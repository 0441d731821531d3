package console_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/deskwoot/deskwoot/dbtest"
)

// shopPage is a customer's site: the embed snippet, and, on
// /signed-in, the site's identity of its user before it.
var shopPage = template.Must(template.New("shop").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Shop</title>
<style>body{font:18px Georgia,serif;background:#faf7f2}button{background:hotpink;font-size:30px}label,textarea{color:green}</style>
</head><body><h1>The Shop</h1><p>A page on another origin that embeds the chat.</p>
{{with .Settings}}<script>window.deskwootSettings = {{.}};</script>{{end}}
{{.Snippet}}
</body></html>`))

// shopSite serves shopPage with the inbox's snippet.
func shopSite(t *testing.T, snippet string, settings func(r *http.Request) map[string]string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data := map[string]any{"Snippet": template.HTML(snippet)}
		if r.URL.Path == "/signed-in" {
			data["Settings"] = settings(r)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		shopPage.Execute(w, data)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// rest sends a JSON request to the server's REST API and decodes the answer.
func rest(t *testing.T, base, method, path, token string, body, out any) int {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		json.NewDecoder(res.Body).Decode(out)
	}
	return res.StatusCode
}

// in runs JavaScript against the widget's shadow root (bound as w).
func in[T any](p *page, what, js string) T {
	p.t.Helper()
	return eval[T](p, what, `(function(){const host = document.querySelector('[data-deskwoot]'); const w = host && host.shadowRoot; if (!w) return null; `+js+`})()`)
}

// until waits for a condition on the widget (JavaScript returning true).
func until(p *page, what, js string, d time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(function(){const host = document.querySelector('[data-deskwoot]'); const w = host && host.shadowRoot; if (!w) return false; `+js+`})()`))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: not within %v (%v)\nwidget text: %s", what, d, err,
				in[string](p, "widget text", `return w.querySelector('.panel') ? w.querySelector('.panel').innerText : ''`))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// chat opens the widget and sends a message through its form.
func chat(p *page, text string) {
	p.t.Helper()
	in[any](p, "write", fmt.Sprintf(`const m = w.getElementById('dw-message'); m.value = %q; [...w.querySelectorAll('button')].find(b => b.textContent === 'Send').click(); return null`, text))
	until(p, "the message in the widget", fmt.Sprintf(`return w.querySelector('.log').innerText.includes(%q)`, text), 10*time.Second)
}

func openWidget(p *page) {
	p.t.Helper()
	until(p, "the launcher", `return !!w.querySelector('.launch')`, 15*time.Second)
	if name := in[string](p, "launcher name", `return w.querySelector('.launch').textContent`); !strings.HasPrefix(name, "Chat with us") {
		p.t.Fatalf("launcher says %q", name)
	}
	in[any](p, "open", `w.querySelector('.launch').click(); return null`)
	until(p, "the panel", `return !w.querySelector('.panel').hidden && w.activeElement && w.activeElement.id === 'dw-message'`, 10*time.Second)
}

// TestWidgetEndToEnd drives the chat widget in real headless Chromium on a
// page of another origin: the visitor searches the help center and
// writes; the message appears in the console live; a reply sent over MCP
// appears in the widget without a reload (and is marked delivered); an
// identified visitor sees the same conversation from a second browser
// context; a wrong user_hash is refused; a page on a disallowed origin
// gets nothing. Screenshots: closed, open, phone width.
func TestWidgetEndToEnd(t *testing.T) {
	br := startChrome(t, 5*time.Minute)
	base, _ := startServer(t)

	// The workspace: a website inbox, a published and a draft article, an
	// MCP token.
	email := dbtest.Unique("widget") + "@example.com"
	var signup struct {
		APIToken string `json:"api_token"`
	}
	if c := rest(t, base, "POST", "/api/v1/signup", "", map[string]any{"account_name": "Acme Shop", "email": email, "password": "correct horse battery"}, &signup); c != 201 {
		t.Fatalf("signup: %d", c)
	}
	tok := signup.APIToken
	var ib struct {
		ID             int64  `json:"id"`
		EmbedSnippet   string `json:"embed_snippet"`
		IdentitySecret string `json:"identity_secret"`
	}
	if c := rest(t, base, "POST", "/api/v1/inboxes", tok, map[string]any{"name": "Website chat", "channel": "website",
		"settings": map[string]any{"allowed_origins": []string{}, "greeting": "Hi! How can we help?", "email_prompt_after_minutes": 1}}, &ib); c != 201 {
		t.Fatalf("inbox: %d", c)
	}
	identity := func(r *http.Request) map[string]string {
		user := r.URL.Query().Get("user")
		mac := hmac.New(sha256.New, []byte(ib.IdentitySecret))
		mac.Write([]byte(user))
		hash := hex.EncodeToString(mac.Sum(nil))
		if r.URL.Query().Get("forged") != "" {
			hash = strings.Repeat("0", 64)
		}
		return map[string]string{"user_id": user, "email": user + "@customers.example", "name": "Jo " + user, "user_hash": hash}
	}
	shop := shopSite(t, ib.EmbedSnippet, identity)
	elsewhere := shopSite(t, ib.EmbedSnippet, identity)
	if c := rest(t, base, "PATCH", fmt.Sprintf("/api/v1/inboxes/%d", ib.ID), tok, map[string]any{"settings": map[string]any{"allowed_origins": []string{shop.URL}}}, nil); c != 200 {
		t.Fatalf("allow the shop: %d", c)
	}
	for _, a := range []map[string]any{
		{"title": "Refund policy", "body": "Refunds arrive within five business days.", "status": "published"},
		{"title": "Refund internals", "body": "Draft text about refunds.", "status": "draft"},
	} {
		if c := rest(t, base, "POST", "/api/v1/articles", tok, a, nil); c != 201 {
			t.Fatalf("article: %d", c)
		}
	}
	rest(t, base, "PUT", "/api/v1/settings/mcp", tok, map[string]any{"enabled": true}, nil)
	var minted struct {
		Token string `json:"token"`
	}
	if c := rest(t, base, "POST", "/api/v1/mcp/tokens", tok, map[string]any{"name": "widget-bot", "preset": "full_agent"}, &minted); c != 201 {
		t.Fatalf("mint: %d", c)
	}
	person := br.tab

	// The admin watches the console's conversation list.
	admin := person(base)
	admin.open("/signin")
	admin.fill("Email", email)
	admin.fill("Password", "correct horse battery")
	admin.press("Sign in", "")
	admin.open("/conversations")

	// A visitor on the shop: the closed launcher, then the panel.
	visitor := person(shop.URL)
	visitor.open("/")
	until(visitor, "the launcher", `return !!w.querySelector('.launch')`, 15*time.Second)
	visitor.shot("widget-closed")
	openWidget(visitor)
	until(visitor, "the greeting", `return w.querySelector('.greeting').textContent === 'Hi! How can we help?'`, 10*time.Second)
	// The page's styles do not reach the widget.
	if font := in[string](visitor, "send button font", `return getComputedStyle([...w.querySelectorAll('button')].find(b => b.textContent === 'Send')).fontSize`); font == "30px" {
		t.Fatal("the host page's CSS reached the widget")
	}
	// Search articles: the published one, not the draft.
	in[any](visitor, "search", `const s = w.getElementById('dw-search'); s.value = 'refunded'; w.querySelector('form[role=search]').requestSubmit(); return null`)
	until(visitor, "search results", `return w.querySelector('.results').innerText.includes('Refund policy')`, 10*time.Second)
	if txt := in[string](visitor, "results", `return w.querySelector('.results').innerText`); strings.Contains(txt, "internals") {
		t.Fatalf("a draft article in the results: %s", txt)
	}
	in[any](visitor, "open article", `w.querySelector('.results button').click(); return null`)
	until(visitor, "the article", `return w.querySelector('.article').innerText.includes('five business days')`, 10*time.Second)

	// The visitor writes; it is an incoming message in the console, live.
	question := "Hi, <b>where</b> is my order 1042?"
	chat(visitor, question)
	if in[int](visitor, "bold elements", `return w.querySelectorAll('.log b').length`) != 0 {
		t.Fatal("the widget rendered customer text as HTML")
	}
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(admin.text(), "Website visitor") {
		if time.Now().After(deadline) {
			t.Fatalf("the visitor's message did not appear in the console without a reload:\n%s", admin.text())
		}
		time.Sleep(200 * time.Millisecond)
	}

	// A reply over MCP reaches the open widget without a reload.
	var convs struct {
		Conversations []struct {
			ID int64 `json:"id"`
		} `json:"conversations"`
	}
	rest(t, base, "GET", fmt.Sprintf("/api/v1/conversations?inbox_id=%d", ib.ID), tok, nil, &convs)
	if len(convs.Conversations) != 1 {
		t.Fatalf("conversations in the inbox: %+v", convs)
	}
	conv := convs.Conversations[0].ID
	cs, err := mcpSession(t, base+"/api/mcp", minted.Token)
	if err != nil {
		t.Fatal(err)
	}
	answer := "Order 1042 ships today; you will get a tracking link."
	sent := time.Now()
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "reply_to_conversation", Arguments: map[string]any{
		"conversation_id": conv, "content": answer, "idempotency_key": "widget-e2e-1"}})
	if err != nil || res.IsError {
		t.Fatalf("reply_to_conversation: %v %+v", err, res)
	}
	cs.Close()
	until(visitor, "the reply in the widget", fmt.Sprintf(`return w.querySelector('.log').innerText.includes(%q)`, answer), 5*time.Second)
	t.Logf("the MCP reply reached the open widget %v after the call", time.Since(sent).Round(time.Millisecond))
	visitor.shot("widget-open")
	var thread struct {
		Messages []struct {
			Content        string  `json:"content"`
			DeliveryStatus *string `json:"delivery_status"`
		} `json:"messages"`
	}
	deadline = time.Now().Add(10 * time.Second)
	for delivered := false; !delivered; {
		rest(t, base, "GET", fmt.Sprintf("/api/v1/conversations/%d", conv), tok, nil, &thread)
		for _, m := range thread.Messages {
			delivered = delivered || m.Content == answer && m.DeliveryStatus != nil && *m.DeliveryStatus == "delivered"
		}
		if time.Now().After(deadline) {
			t.Fatalf("the shown reply is not marked delivered: %+v", thread)
		}
		time.Sleep(100 * time.Millisecond)
	}
	admin.open(fmt.Sprintf("/conversations/%d", conv))
	admin.has(question, answer, "Delivery: delivered (shown in the chat widget)")

	// Escape closes the panel and gives focus back to the launcher.
	in[any](visitor, "escape", `w.querySelector('.panel').dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true})); return null`)
	until(visitor, "closed by Escape", `return w.querySelector('.panel').hidden && w.activeElement === w.querySelector('.launch')`, 5*time.Second)

	// At phone width the panel fills the screen; with no reply yet it asks
	// for an email (the inbox now asks at once).
	if c := rest(t, base, "PATCH", fmt.Sprintf("/api/v1/inboxes/%d", ib.ID), tok, map[string]any{"settings": map[string]any{"email_prompt_after_minutes": 0}}, nil); c != 200 {
		t.Fatalf("prompt at once: %d", c)
	}
	phone := person(shop.URL)
	phone.run("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	phone.open("/")
	openWidget(phone)
	chat(phone, "Hello from my phone")
	if wd := in[float64](phone, "panel width", `return w.querySelector('.panel').getBoundingClientRect().width`); wd < 389 {
		t.Fatalf("the panel is %v px wide on a 390 px phone", wd)
	}
	until(phone, "the email prompt", `return !w.querySelector('.emailbox').hidden && [...w.querySelectorAll('label')].some(l => l.textContent === 'Email')`, 10*time.Second)
	phone.shot("widget-phone")
	in[any](phone, "leave an email", `w.getElementById('dw-email').value = 'pat@customers.example'; [...w.querySelectorAll('button')].find(b => b.textContent === 'Save email').click(); return null`)
	until(phone, "the email saved", `return w.querySelector('.emailbox').hidden && w.querySelector('.log').innerText.includes('we will email it to you')`, 10*time.Second)

	// An identified visitor: the same conversation in a second browser
	// context (another device).
	laptop := person(shop.URL)
	laptop.open("/signed-in?user=u-77")
	openWidget(laptop)
	chat(laptop, "Written on my laptop")
	other := person(shop.URL)
	other.open("/signed-in?user=u-77")
	openWidget(other)
	until(other, "the laptop's message on the second device", `return w.querySelector('.log').innerText.includes('Written on my laptop')`, 10*time.Second)

	// A wrong user_hash is refused: an error, no way to write, nothing stored.
	forged := person(shop.URL)
	forged.open("/signed-in?user=u-78&forged=1")
	until(forged, "the launcher", `return !!w.querySelector('.launch')`, 15*time.Second)
	in[any](forged, "open", `w.querySelector('.launch').click(); return null`)
	until(forged, "the refusal", `return w.querySelector('[role=alert]').textContent.includes('user_hash') && w.getElementById('dw-message').disabled`, 10*time.Second)
	forged.shot("widget-wrong-hash")

	// A page on a disallowed origin gets nothing.
	stranger := person(elsewhere.URL)
	stranger.open("/")
	until(stranger, "the launcher", `return !!w.querySelector('.launch')`, 15*time.Second)
	in[any](stranger, "open", `w.querySelector('.launch').click(); return null`)
	until(stranger, "the refusal", `return w.querySelector('[role=alert]').textContent.includes('not available here')`, 10*time.Second)
	if txt := in[string](stranger, "stranger's widget", `return w.querySelector('.panel').innerText`); strings.Contains(txt, "How can we help") {
		t.Fatalf("a disallowed origin got the greeting: %s", txt)
	}
	// The public help center: published articles, searchable, at desktop
	// and phone width.
	var hc struct {
		Slug string `json:"slug"`
	}
	rest(t, base, "GET", "/api/v1/settings/help_center", tok, nil, &hc)
	reader := person(base)
	reader.open("/hc/" + hc.Slug + "?q=refunded")
	reader.has("Search articles", "Refund policy")
	if strings.Contains(reader.text(), "internals") {
		t.Fatal("the public help center shows a draft")
	}
	reader.shot("hc-search")
	reader.run("article", chromedp.Click(chromedp.CSS(`.articles a`)), chromedp.WaitVisible(chromedp.CSS(`article h1`)))
	reader.has("Refund policy", "five business days")
	reader.shot("hc-article")
	phone.base = base
	phone.open("/hc/" + hc.Slug)
	phone.has("How can we help?", "Refund policy")
	phone.shot("hc-phone")

	var all struct {
		Conversations []struct {
			ID int64 `json:"id"`
		} `json:"conversations"`
	}
	rest(t, base, "GET", fmt.Sprintf("/api/v1/conversations?inbox_id=%d", ib.ID), tok, nil, &all)
	if len(all.Conversations) != 3 { // the visitor's, the phone's and the identified user's
		t.Fatalf("conversations after the refusals: %d", len(all.Conversations))
	}
}
