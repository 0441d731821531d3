package mcp_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/mcp"
)

// TestDraftCardWithTheOfficialSDK: the official Go SDK client reads the
// draft card (an mcp-app page), drafts a reply whose result carries the
// card's data in _meta, and calls the card's approve_draft with its nonce,
// as a host relays the card's button: the draft is approved by the grant's
// consenting person. (The grant is made one that may approve in the chat
// in the database; oauth's TestMCPSDKClientEndToEnd ticks the consent that
// makes one in Chromium.)
func TestDraftCardWithTheOfficialSDK(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	ctx := context.Background()
	token := w.token(t, []string{"conversations:read", "conversations:draft"}, nil, func(in *identity.MCPTokenInput) { in.CreatedBy = w.User.ID })
	if err := dbtest.App(t).InTenant(ctx, w.Account.ID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE mcp_tokens SET chat_approval = true`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "deskwoot-test", Version: "1"}, nil).Connect(ctx,
		&sdk.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: bearer{token}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if ext := cs.InitializeResult().Capabilities.Extensions; ext == nil || ext[mcp.AppsExtension] == nil {
		t.Errorf("server capabilities lack %s: %+v", mcp.AppsExtension, cs.InitializeResult().Capabilities)
	}
	rr, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: mcp.DraftCardURI})
	if err != nil || len(rr.Contents) != 1 || rr.Contents[0].MIMEType != mcp.AppMIMEType || !strings.Contains(rr.Contents[0].Text, "approve_draft") {
		t.Fatalf("resources/read of the card: %+v %v", rr, err)
	}
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "draft_reply", Arguments: map[string]any{
		"conversation_id": w.conv1, "content": "Refund sent today.", "idempotency_key": dbtest.Unique("k")}})
	if err != nil || res.IsError {
		t.Fatalf("draft_reply: %+v %v", res, err)
	}
	card, _ := res.Meta[mcp.MetaDraftCard].(map[string]any)
	nonce, _ := card["nonce"].(string)
	if nonce == "" || card["content"] != "Refund sent today." {
		t.Fatalf("the drafted result's card: %v", res.Meta)
	}
	approved, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "approve_draft", Arguments: map[string]any{"draft_id": card["draft_id"], "nonce": nonce}})
	if err != nil || approved.IsError {
		t.Fatalf("approve_draft: %+v %v", approved, err)
	}
	draft, _ := approved.StructuredContent.(map[string]any)["draft"].(map[string]any)
	if draft["status"] != "approved" || draft["decided_by"] != float64(w.User.ID) {
		t.Fatalf("approved draft: %v", approved.StructuredContent)
	}
}
