package mcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// TestOfficialGoSDKClient drives /api/mcp with the official MCP Go SDK
// client, in both the 2025-11-25 handshake and the stateless 2026-07-28
// protocol.
func TestOfficialGoSDKClient(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, []string{"conversations:read", "helpcenter:read"}, nil)
	for _, version := range []string{"2025-11-25", ""} {
		t.Run("protocol "+version, func(t *testing.T) {
			ctx := context.Background()
			client := sdk.NewClient(&sdk.Implementation{Name: "deskwoot-test", Version: "1"}, nil)
			cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{
				Endpoint:   url,
				HTTPClient: &http.Client{Transport: bearer{token}},
			}, &sdk.ClientSessionOptions{ProtocolVersion: version})
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			if version != "" && cs.InitializeResult().ProtocolVersion != version {
				t.Errorf("negotiated %s, want %s", cs.InitializeResult().ProtocolVersion, version)
			}
			lt, err := cs.ListTools(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tl := range lt.Tools {
				names = append(names, tl.Name)
				if tl.Annotations == nil || !tl.Annotations.ReadOnlyHint || tl.OutputSchema == nil || tl.Title == "" {
					t.Errorf("tool %s lacks annotations, title or output schema", tl.Name)
				}
			}
			slices.Sort(names)
			want := []string{"get_article", "get_conversation", "list_conversations", "list_inboxes", "list_labels", "list_team", "search_conversations", "search_help_center"}
			if !slices.Equal(names, want) {
				t.Fatalf("tools: %v, want %v", names, want)
			}
			res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "get_conversation", Arguments: map[string]any{"conversation_id": w.conv1}})
			if err != nil || res.IsError {
				t.Fatalf("get_conversation: %v %+v", err, res)
			}
			var view struct {
				Conversation struct {
					ID      int64 `json:"id"`
					Contact struct {
						Name string `json:"name"`
					} `json:"contact"`
				} `json:"conversation"`
				Messages []struct {
					Type    string `json:"type"`
					Content string `json:"content"`
				} `json:"messages"`
			}
			raw, _ := json.Marshal(res.StructuredContent)
			json.Unmarshal(raw, &view)
			if view.Conversation.ID != w.conv1 || len(view.Messages) != 1 || view.Messages[0].Type != "incoming" {
				t.Fatalf("structured content: %s", raw)
			}
			// A tool outside the token's scopes is a tool error with the reason.
			res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "search_contacts", Arguments: map[string]any{"query": "ann"}})
			if err != nil || !res.IsError || !strings.Contains(res.Content[0].(*sdk.TextContent).Text, "token lacks scope contacts:read") {
				t.Fatalf("search_contacts without scope: %v %+v", err, res)
			}
		})
	}
}

// TestAgentWorkflowWithOfficialClient: a real MCP client reads a
// conversation, replies, notes, labels and resolves it; the REST view and
// the audit log show exactly those actions.
func TestAgentWorkflowWithOfficialClient(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	ctx := context.Background()
	if _, err := w.d.LabelCreate(ctx, tenancy.For(w.Account.ID), "refund", "", ""); err != nil {
		t.Fatal(err)
	}
	token := w.token(t, allScopes, nil, func(in *identity.MCPTokenInput) { in.Name = "triage-bot" })
	client := sdk.NewClient(&sdk.Implementation{Name: "deskwoot-e2e", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: bearer{token}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	auditBefore := len(auditRows(t, w.Account.ID))
	steps := []struct {
		tool string
		args map[string]any
	}{
		{"get_conversation", map[string]any{"conversation_id": w.conv1}},
		{"reply_to_conversation", map[string]any{"conversation_id": w.conv1, "content": "We have sent your refund.", "idempotency_key": "e2e-reply"}},
		{"add_private_note", map[string]any{"conversation_id": w.conv1, "content": "Refunded via the billing tool.", "idempotency_key": "e2e-note"}},
		{"update_conversation", map[string]any{"conversation_id": w.conv1, "add_labels": []any{"refund"}}},
		{"update_conversation", map[string]any{"conversation_id": w.conv1, "status": "resolved"}},
	}
	for _, s := range steps {
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: s.tool, Arguments: s.args})
		if err != nil || res.IsError {
			t.Fatalf("%s: %v %+v", s.tool, err, res)
		}
	}
	status, body := restCall(t, "GET", fmt.Sprintf("/api/v1/conversations/%d", w.conv1), w.APIToken, nil)
	if status != 200 {
		t.Fatalf("REST view: %d", status)
	}
	conv := body["conversation"].(map[string]any)
	if conv["status"] != "resolved" || fmt.Sprint(conv["labels"]) != "[refund]" {
		t.Errorf("REST conversation: %v", conv)
	}
	msgs := body["messages"].([]any)
	if len(msgs) != 3 {
		t.Fatalf("REST messages: %v", msgs)
	}
	reply, note := msgs[1].(map[string]any), msgs[2].(map[string]any)
	// The outbox carries it on: pending, then sent or (this inbox has no
	// webhook) failed with the reason.
	if reply["type"] != "outgoing" || reply["sender"].(map[string]any)["name"] != "triage-bot" || reply["delivery_status"] == nil {
		t.Errorf("reply as humans see it: %v", reply)
	}
	if note["type"] != "note" || note["private"] != true {
		t.Errorf("note as humans see it: %v", note)
	}
	rows := auditRows(t, w.Account.ID)
	if len(rows)-auditBefore != len(steps) {
		t.Fatalf("%d actions wrote %d audit rows", len(steps), len(rows)-auditBefore)
	}
	for i, s := range steps {
		if got := rows[len(steps)-1-i]; got.action != s.tool || got.decision != "allow" {
			t.Errorf("audit row %d: %+v, want %s allow", i, got, s.tool)
		}
	}
}
