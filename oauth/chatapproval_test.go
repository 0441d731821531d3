package oauth_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// chatGrant runs the OAuth flow for a grant with conversations:read and
// conversations:draft, with "Allow approving drafts in the chat" ticked or
// not, and returns its access token.
func (w *world) chatGrant(t *testing.T, inChat bool) string {
	t.Helper()
	redirect := "https://client.example/cb"
	client := w.register(t, redirect)
	p := newPKCE()
	params := w.authParams(client, redirect, p)
	params.Set("scope", "conversations:read conversations:draft")
	answer := url.Values{"consent": {"allow"}, "scope_grant": {"conversations:read", "conversations:draft"}}
	if inChat {
		answer.Set("chat_approval", "on")
	}
	r := w.consent(t, params, answer)
	loc, _ := url.Parse(r.Header.Get("Location"))
	if loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("consent: %d %q %s", r.Status, r.Header.Get("Location"), r.Body)
	}
	tok := w.exchange(t, client, redirect, loc.Query().Get("code"), p.verifier)
	access, _ := tok.JSON["access_token"].(string)
	if access == "" {
		t.Fatalf("exchange: %d %s", tok.Status, tok.Body)
	}
	return access
}

// toolCall calls a tool and returns its result.
func (w *world) toolCall(t *testing.T, token, name string, args map[string]any) map[string]any {
	t.Helper()
	r := w.mcp(t, token, "tools/call", map[string]any{"name": name, "arguments": args})
	res, _ := r.JSON["result"].(map[string]any)
	if res == nil {
		t.Fatalf("%s: HTTP %d %s", name, r.Status, r.Body)
	}
	return res
}

func resultText(res map[string]any) string {
	if c, _ := res["content"].([]any); len(c) > 0 {
		s, _ := c[0].(map[string]any)["text"].(string)
		return s
	}
	return ""
}

// card drafts a reply with token and returns the card data of its result.
func (w *world) card(t *testing.T, token string, conv int64) map[string]any {
	t.Helper()
	res := w.toolCall(t, token, "draft_reply", map[string]any{"conversation_id": conv, "content": "Your refund left today.",
		"idempotency_key": dbtest.Unique("k")})
	meta, _ := res["_meta"].(map[string]any)
	card, _ := meta["deskwoot/draft"].(map[string]any)
	if res["isError"] == true || card == nil {
		t.Fatalf("draft_reply: %v", res)
	}
	if strings.Contains(resultText(res), fmt.Sprint(card["nonce"])) && card["nonce"] != nil {
		t.Fatal("the nonce is in the text the model reads")
	}
	return card
}

// draftState reads a draft's status and how many messages its
// conversation has.
func (w *world) draftState(t *testing.T, id int64, conv int64) (status string, messages int) {
	t.Helper()
	err := dbtest.App(t).InTenant(context.Background(), w.Account.ID, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT status, (SELECT count(*) FROM messages WHERE conversation_id = $2) FROM drafts WHERE id = $1`, id, conv).
			Scan(&status, &messages)
	})
	if err != nil {
		t.Fatal(err)
	}
	return status, messages
}

func draftID(card map[string]any) int64 { return int64(card["draft_id"].(float64)) }

// TestChatApprovalDraftCard: the MCP Apps extension is declared; the tools
// that can leave a draft link the card; the card is a self-contained
// mcp-app page; the card's tools are listed only for a grant that may
// approve in the chat; the consent choice is off by default.
func TestChatApprovalDraftCard(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	init := w.mcp(t, w.chatGrant(t, false), "initialize", map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "t", "version": "1"}})
	caps, _ := init.JSON["result"].(map[string]any)["capabilities"].(map[string]any)
	if ext, _ := caps["extensions"].(map[string]any); ext["io.modelcontextprotocol/ui"] == nil {
		t.Fatalf("initialize capabilities: %v", caps)
	}
	listed := func(token string) map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, x := range w.mcp(t, token, "tools/list", map[string]any{}).JSON["result"].(map[string]any)["tools"].([]any) {
			tool := x.(map[string]any)
			out[tool["name"].(string)] = tool
		}
		return out
	}
	plain, inChat := listed(w.chatGrant(t, false)), listed(w.chatGrant(t, true))
	ui := func(tool map[string]any) map[string]any {
		meta, _ := tool["_meta"].(map[string]any)
		u, _ := meta["ui"].(map[string]any)
		return u
	}
	if ui(plain["draft_reply"])["resourceUri"] != "ui://deskwoot/draft-card" || plain["approve_draft"] != nil {
		t.Fatalf("tools/list without chat approval: draft_reply %v, approve_draft listed %v", plain["draft_reply"], plain["approve_draft"] != nil)
	}
	for _, name := range []string{"approve_draft", "reject_draft"} {
		if u := ui(inChat[name]); fmt.Sprint(u["visibility"]) != "[app]" || u["resourceUri"] != "ui://deskwoot/draft-card" {
			t.Errorf("%s for a grant that may approve in the chat: %v", name, inChat[name])
		}
	}
	read := w.mcp(t, w.chatGrant(t, false), "resources/read", map[string]any{"uri": "ui://deskwoot/draft-card"})
	contents, _ := read.JSON["result"].(map[string]any)["contents"].([]any)
	if len(contents) != 1 {
		t.Fatalf("resources/read: %s", read.Body)
	}
	c := contents[0].(map[string]any)
	html, _ := c["text"].(string)
	if c["mimeType"] != "text/html;profile=mcp-app" || !strings.HasPrefix(html, "<!DOCTYPE html>") || strings.Contains(html, "src=") ||
		strings.Contains(html, "http://") || strings.Contains(html, "https://") || strings.Contains(html, "innerHTML") {
		t.Fatalf("the card is not a self-contained mcp-app page: %v", c["mimeType"])
	}
	page := w.get(t, "/oauth/authorize?"+w.authParams(w.register(t, "https://client.example/cb"), "https://client.example/cb", newPKCE()).Encode(), w.session)
	if body := string(page.Body); !strings.Contains(body, "Allow approving drafts in the chat") || strings.Contains(body, `name="chat_approval" checked`) {
		t.Fatal("the consent page does not offer approving in the chat, off by default")
	}
}

// TestChatApprovalNonces: a grant that may approve in the chat approves a
// draft from its card, as the consenting person (the console's path: the
// message goes out, the audit row names the person); the nonce is good
// once (a second decision is refused), stale after the draft's text
// changed, and worthless for another draft, another token or another
// account; every refusal sends nothing. Reject works alike. A grant
// without the consent, or a static token, is pointed to the Drafts page.
func TestChatApprovalNonces(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	grant := w.chatGrant(t, true)

	a := w.card(t, grant, w.conv1)
	if a["nonce"] == nil || a["customer_last_message"] != "hello" {
		t.Fatalf("card of a grant that may approve in the chat: %v", a)
	}
	approve := func(token string, card map[string]any, id int64) map[string]any {
		return w.toolCall(t, token, "approve_draft", map[string]any{"draft_id": id, "nonce": card["nonce"]})
	}
	_, before := w.draftState(t, draftID(a), w.conv1)
	if res := approve(grant, a, draftID(a)); res["isError"] == true {
		t.Fatalf("approve: %s", resultText(res))
	}
	if status, after := w.draftState(t, draftID(a), w.conv1); status != "approved" || after != before+1 {
		t.Fatalf("after approve: %s, %d messages (was %d)", status, after, before)
	}
	rows, err := audit.List(context.Background(), dbtest.App(t), w.Account.ID, audit.Filter{Action: "draft.approved", Limit: 5})
	if err != nil || len(rows) != 1 || rows[0].ActorKind != "user" || *rows[0].ActorID != w.User.ID {
		t.Fatalf("draft.approved audit: %+v %v", rows, err)
	}
	// Replayed: refused, nothing more sent.
	if res := approve(grant, a, draftID(a)); res["isError"] != true || !strings.Contains(resultText(res), "already approved") {
		t.Fatalf("replayed nonce: %v", res)
	}

	refused := func(what string, res map[string]any, card map[string]any) {
		t.Helper()
		if res["isError"] != true {
			t.Fatalf("%s: allowed: %v", what, res)
		}
		if status, _ := w.draftState(t, draftID(card), w.conv1); status != "pending" {
			t.Fatalf("%s: the draft is %s", what, status)
		}
	}
	// Stale after an edit of the draft's text.
	b := w.card(t, grant, w.conv1)
	if err := dbtest.App(t).InTenant(context.Background(), w.Account.ID, func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `UPDATE drafts SET content = content || ' (edited)' WHERE id = $1`, draftID(b))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	refused("stale after an edit", approve(grant, b, draftID(b)), b)
	// Another draft's nonce.
	c, d := w.card(t, grant, w.conv1), w.card(t, grant, w.conv1)
	refused("another draft's nonce", approve(grant, c, draftID(d)), d)
	// Another token (a second grant of the same person and workspace).
	other := w.chatGrant(t, true)
	refused("another token", approve(other, c, draftID(c)), c)
	// Another account.
	x := newWorld(t)
	refused("another account", approve(x.chatGrant(t, true), c, draftID(c)), c)
	// Static tokens and grants without the consent: the Drafts page.
	_, static, err := identity.MCPTokenCreate(context.Background(), dbtest.App(t), tenancy.For(w.Account.ID), identity.MCPTokenInput{
		Name: "static", Scopes: []string{"conversations:read", "conversations:draft"}, ChatApproval: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for what, token := range map[string]string{"static token": static, "grant without the consent": w.chatGrant(t, false)} {
		res := approve(token, c, draftID(c))
		refused(what, res, c)
		if !strings.Contains(resultText(res), "Drafts page") {
			t.Errorf("%s: %s, want the Drafts page", what, resultText(res))
		}
	}
	staticCard := w.card(t, static, w.conv1)
	if staticCard["nonce"] != nil || !strings.Contains(fmt.Sprint(staticCard["approve_elsewhere"]), "/drafts") {
		t.Errorf("a static token's card: %v", staticCard)
	}
	// The good nonce still works, once, to reject.
	if res := w.toolCall(t, grant, "reject_draft", map[string]any{"draft_id": draftID(c), "nonce": c["nonce"], "reason": "wrong tone"}); res["isError"] == true {
		t.Fatalf("reject: %s", resultText(res))
	}
	if status, _ := w.draftState(t, draftID(c), w.conv1); status != "rejected" {
		t.Fatalf("after reject: %s", status)
	}
	tools := []string{}
	for _, x := range w.mcp(t, grant, "tools/list", map[string]any{}).JSON["result"].(map[string]any)["tools"].([]any) {
		tools = append(tools, x.(map[string]any)["name"].(string))
	}
	if !slices.Contains(tools, "approve_draft") {
		t.Errorf("the grant's tools/list lacks approve_draft: %v", tools)
	}
}
