package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// stubHost is a page playing an MCP Apps host for the draft card: it shows
// the card (the HTML resources/read gave) in an iframe, answers its
// ui/initialize, posts it the drafted tool result, and relays its
// tools/call to Deskwoot's /api/mcp (through the stub's own origin).
const stubHost = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Stub host</title></head>
<body style="font-family:sans-serif"><p>Stub MCP Apps host</p>
<iframe id="card" title="Deskwoot draft" style="width:100%%;max-width:560px;height:420px;border:1px solid #ccc"></iframe>
<script>
const RESULT = %s, CARD = %s, TOKEN = %s;
const frame = document.getElementById("card");
window.calls = [];
window.addEventListener("message", async (e) => {
  if (e.source !== frame.contentWindow) return;
  const m = e.data, reply = (x) => frame.contentWindow.postMessage(Object.assign({jsonrpc: "2.0", id: m.id}, x), "*");
  if (m.method === "ui/initialize") {
    reply({result: {protocolVersion: "2026-01-26", hostCapabilities: {serverTools: {}}, hostInfo: {name: "stub", version: "1"}, hostContext: {}}});
  } else if (m.method === "ui/notifications/initialized") {
    frame.contentWindow.postMessage({jsonrpc: "2.0", method: "ui/notifications/tool-result", params: RESULT}, "*");
  } else if (m.method === "tools/call") {
    window.calls.push(m.params.name);
    const r = await fetch("/mcp", {method: "POST", headers: {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
      "Authorization": "Bearer " + TOKEN, "Mcp-Protocol-Version": "2025-11-25"},
      body: JSON.stringify({jsonrpc: "2.0", id: 1, method: "tools/call", params: m.params})});
    const j = await r.json();
    reply(j.error ? {error: j.error} : {result: j.result});
  }
});
frame.srcdoc = CARD;
</script></body></html>`

// mcpPost posts one JSON-RPC request to /api/mcp and returns its result.
func mcpPost(t *testing.T, url, token, method string, params any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	res, _ := out["result"].(map[string]any)
	if res == nil {
		t.Fatalf("%s: HTTP %d %s", method, resp.StatusCode, raw)
	}
	return res
}

// TestDraftCardEndToEnd renders the draft card in Chromium inside a stub
// MCP Apps host that posts it a drafted result of a grant that may
// approve in the chat: the card shows the draft and the customer's last
// message, and its Approve sends the reply (the draft is approved, the
// message stored). Screenshot at desktop and phone width.
func TestDraftCardEndToEnd(t *testing.T) {
	br := startChrome(t, 3*time.Minute)
	base, app := startServer(t)
	ctx := context.Background()

	tn := dbtest.NewTenant(t)
	acct := tn.Account.ID
	if _, err := identity.MCPEnable(ctx, app.DB, tenancy.For(acct), true); err != nil {
		t.Fatal(err)
	}
	d := &desk.Desk{DB: app.DB}
	ib, err := d.InboxCreate(ctx, tenancy.For(acct), desk.InboxInput{Name: "Support", Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	in, err := d.IncomingMessage(ctx, acct, ib.ID, desk.IncomingInput{Contact: desk.IncomingContact{Email: "jane@example.com", Name: "Jane"},
		Content: "Where is my refund for order 1042?", SourceID: "dc-1"})
	if err != nil {
		t.Fatal(err)
	}
	tok, raw, err := identity.MCPTokenCreate(ctx, app.DB, tenancy.For(acct), identity.MCPTokenInput{Name: "Claude", Scopes: []string{"conversations:read", "conversations:draft"},
		CreatedBy: tn.User.ID}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// As an OAuth grant with the consent ticked would be (oauth's
	// TestMCPSDKClientEndToEnd ticks it in Chromium).
	if err := app.DB.InTenant(ctx, acct, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE mcp_tokens SET chat_approval = true WHERE id = $1`, tok.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	mcpURL := base + "/api/mcp"
	result := mcpPost(t, mcpURL, raw, "tools/call", map[string]any{"name": "draft_reply", "arguments": map[string]any{
		"conversation_id": in.ConversationID, "content": "Your refund for order 1042 left today; expect it within 5 business days.", "idempotency_key": dbtest.Unique("k")}})
	card := mcpPost(t, mcpURL, raw, "resources/read", map[string]any{"uri": "ui://deskwoot/draft-card"})
	html := card["contents"].([]any)[0].(map[string]any)["text"].(string)
	enc := func(v any) string { b, _ := json.Marshal(v); return string(b) }

	target, _ := url.Parse(base)
	proxy := httputil.NewSingleHostReverseProxy(target)
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/mcp" {
			r.URL.Path = "/api/mcp"
			proxy.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, stubHost, enc(result), enc(html), enc(raw))
	}))
	defer host.Close()
	p := br.tab(host.URL)
	cctx := p.ctx
	if err := chromedp.Do(cctx, chromedp.Navigate(host.URL+"/")); err != nil {
		t.Fatal(err)
	}
	frames, err := chromedp.Run(cctx, chromedp.Nodes(chromedp.CSS("#card")))
	if err != nil || len(frames) != 1 {
		t.Fatalf("the stub host has no card frame: %v", err)
	}
	inCard := chromedp.FromNode(frames[0])
	if err := chromedp.Do(cctx, chromedp.WaitVisible(chromedp.CSS("#draft"), inCard)); err != nil {
		t.Fatalf("the card shows no draft: %v", err)
	}
	shown, err := chromedp.Run(cctx, chromedp.Value(chromedp.CSS("#text"), inCard))
	if err != nil {
		t.Fatal(err)
	}
	customer, err := chromedp.Run(cctx, chromedp.Text(chromedp.CSS("#customer"), inCard))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(shown, "Your refund for order 1042 left today") || !strings.Contains(customer, "Where is my refund") {
		t.Fatalf("the card shows %q and the customer's %q", shown, customer)
	}
	shot := p.shot
	shot("draft-card-desktop")
	if err := chromedp.Do(cctx, chromedp.Click(chromedp.CSS("#approve"), inCard), chromedp.WaitVisible(chromedp.CSS("#status.ok"), inCard)); err != nil {
		t.Fatalf("approve: %v", err)
	}
	status, err := chromedp.Run(cctx, chromedp.Text(chromedp.CSS("#status"), inCard))
	if err != nil || !strings.Contains(status, "Approved") {
		t.Fatalf("card status after Approve: %q %v", status, err)
	}
	if err := chromedp.Do(cctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	shot("draft-card-phone")
	ds, _, err := d.DraftList(ctx, tenancy.For(acct), desk.DraftFilter{Status: "approved"})
	if err != nil || len(ds) != 1 || ds[0].DecidedBy == nil || *ds[0].DecidedBy != tn.User.ID || ds[0].MessageID == nil {
		t.Fatalf("approved drafts: %+v %v", ds, err)
	}
}
