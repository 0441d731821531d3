package mcp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
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
