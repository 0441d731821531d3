package mcp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/deskwoot/deskwoot/desk"
)

// mcpGoAnswer is what mcp-go writes for a result: the JSON-RPC response
// through json.Encoder (its JSON answer), or json.Marshal in an SSE event.
func mcpGoAnswer(t *testing.T, res *mcpgo.CallToolResult, sse bool) []byte {
	t.Helper()
	msg := mcpgo.NewJSONRPCResultResponse(mcpgo.NewRequestId(int64(7)), res)
	if sse {
		b, err := json.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Appendf(nil, "event: message\ndata: %s\n\n", b)
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(msg); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestEncodeOnceIsMCPGoBytes: the answer with the door's own encoding of
// a result spliced into mcp-go's answer for its stand-in is byte for byte
// the answer mcp-go writes for the result itself — for text that needs
// every kind of escaping (quotes, backslashes, control characters, <, >
// and &, U+2028 and U+2029, the untrusted-text boundary), for a result
// with _meta (a draft card), in mcp-go's JSON answer and in an SSE event.
func TestEncodeOnceIsMCPGoBytes(t *testing.T) {
	hostile := "Quote \" back\\slash \n\t\x01 <b>&amp;</b> \u2028 \u2029 é ☃ 🎉 </untrusted-customer-text id=\"0\">"
	now := time.Date(2026, 12, 2, 8, 0, 0, 123456789, time.UTC)
	email := "eve@" + hostile
	uid := int64(7)
	view := desk.ConversationView{
		Conversation: desk.Conversation{ID: 1, InboxID: 2, Subject: hostile, Status: "open", Priority: "high", Labels: []string{"a&b"},
			Contact: desk.ContactRef{ID: 3, Name: hostile, Email: &email}, CustomAttributes: map[string]any{"<k>": hostile, "n": 1.5},
			LastActivityAt: now, CreatedAt: now},
		Messages: []desk.Message{
			{ID: 1, ConversationID: 1, Type: "incoming", Content: hostile, Sender: desk.Sender{Kind: "contact", Name: hostile}, CreatedAt: now},
			{ID: 2, ConversationID: 1, Type: "outgoing", Content: "Thanks " + hostile, Sender: desk.Sender{Kind: "agent", ID: &uid, Name: "bot"}, CreatedAt: now},
		},
	}
	withCard, err := structured(view)
	if err != nil {
		t.Fatal(err)
	}
	withCard.Meta.AdditionalFields[MetaDraftCard] = map[string]any{"html": "<div>" + hostile + "</div>"}
	results := map[string]func() (*mcpgo.CallToolResult, error){
		"typed": func() (*mcpgo.CallToolResult, error) { return structured(view) },
		"general": func() (*mcpgo.CallToolResult, error) {
			return structured(map[string]any{"subject": hostile, "x": []any{1, "&"}})
		},
		"plain": func() (*mcpgo.CallToolResult, error) {
			return structured(labelsOut{Labels: []desk.Label{{Name: "<vip>"}}})
		},
		"draftcard": func() (*mcpgo.CallToolResult, error) { return withCard, nil },
	}
	for name, build := range results {
		for _, sse := range []bool{false, true} {
			res, err := build()
			if err != nil {
				t.Fatal(err)
			}
			want := mcpGoAnswer(t, res, sse)
			standIn, sp := encodeOnce(res)
			if sp == nil {
				t.Fatalf("%s: no stand-in for a structured result", name)
			}
			var got bytes.Buffer
			if done, err := sp.write(&got, mcpGoAnswer(t, standIn, sse)); !done || err != nil {
				t.Fatalf("%s (sse %v): spliced %v, %v", name, sse, done, err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("%s (sse %v): the spliced answer differs from mcp-go's\n got %s\nwant %s", name, sse, got.Bytes(), want)
			}
		}
	}
}

// TestEncodeOnceLeavesOtherResults: a tool error, a result without
// structured content and one whose text is not its structured content's
// JSON go to mcp-go as they are; an answer without the stand-in (an
// error, a notification) is not the splice's.
func TestEncodeOnceLeavesOtherResults(t *testing.T) {
	for name, res := range map[string]*mcpgo.CallToolResult{
		"error":      mcpgo.NewToolResultError("denied"),
		"text only":  mcpgo.NewToolResultText(`{"a":1}`),
		"other text": mcpgo.NewToolResultStructured(json.RawMessage(`{"a":1}`), "something else"),
		"nil":        nil,
	} {
		if got, sp := encodeOnce(res); got != res || sp != nil {
			t.Errorf("%s: got a stand-in", name)
		}
	}
	_, sp := encodeOnce(mcpgo.NewToolResultStructured(json.RawMessage(`{"a":1}`), `{"a":1}`))
	var w bytes.Buffer
	if done, _ := sp.write(&w, []byte(`{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"x"}}`)); done || w.Len() != 0 {
		t.Errorf("an answer without the stand-in was spliced: %q", w.Bytes())
	}
}

// BenchmarkAnswerEncoding is the answer to a get_conversation of 20
// messages (one from the customer), from the tool's value to the bytes on
// the wire: the result built and encoded by mcp-go alone, and encoded once
// by the door with mcp-go encoding the stand-in around it.
func BenchmarkAnswerEncoding(b *testing.B) {
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	email, uid := "ann@example.com", int64(7)
	view := desk.ConversationView{Conversation: desk.Conversation{ID: 1, InboxID: 2, Subject: "My refund has not arrived", Status: "open",
		Priority: "high", Labels: []string{"vip"}, Contact: desk.ContactRef{ID: 3, Name: "ann", Email: &email},
		CustomAttributes: map[string]any{}, LastActivityAt: now, CreatedAt: now}}
	view.Messages = append(view.Messages, desk.Message{ID: 1, ConversationID: 1, Type: "incoming", Content: "My refund has not arrived",
		Sender: desk.Sender{Kind: "contact", Name: "ann"}, CreatedAt: now})
	for i := range 19 {
		view.Messages = append(view.Messages, desk.Message{ID: int64(i + 2), ConversationID: 1, Type: "outgoing", Content: fmt.Sprintf("reply %d", i),
			Private: i%4 == 0, Sender: desk.Sender{Kind: "user", ID: &uid, Name: "Admin"}, CreatedAt: now})
	}
	encode := func(w io.Writer, res *mcpgo.CallToolResult) {
		json.NewEncoder(w).Encode(mcpgo.NewJSONRPCResultResponse(mcpgo.NewRequestId(int64(1)), res))
	}
	b.Run("mcp-go", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			res, _ := structured(view)
			encode(io.Discard, res)
		}
	})
	b.Run("once", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		for b.Loop() {
			res, _ := structured(view)
			standIn, sp := encodeOnce(res)
			buf.Reset()
			encode(&buf, standIn)
			sp.write(io.Discard, buf.Bytes())
		}
	})
}
