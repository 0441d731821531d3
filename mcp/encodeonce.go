package mcp

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
)

// A read's result is large (a conversation with its messages: ~5 KB of
// JSON, twice, as structured content and as its text fallback), and
// mcp-go encodes it three times over: CallToolResult.MarshalJSON marshals
// a map holding the text, escaped as a string, and the structured
// content, a json.RawMessage that encoding/json re-reads to compact it;
// then the envelope's encoder compacts that whole output once more. That
// was a quarter of the server's processor time per get_conversation.
//
// So for the result of a single tools/call, the door hands mcp-go a
// stand-in whose text and structured content are two unguessable tokens,
// and its answer writer puts in their place the bytes encoding/json would
// have written for the real ones: the result's JSON escaped once as a
// string, and once as it stands with <, > and & escaped, which is all that
// compacting an encoder's output changes. The answer is byte for byte the
// one mcp-go would give (TestEncodeOnceIsMCPGoBytes); the rest of it — the
// envelope, _meta, isError, the framing — stays mcp-go's own. Deleting this
// file's use in wrap changes nothing but the cost.

// splice is a result the door encoded itself, waiting for mcp-go's answer
// to carry its stand-in.
type splice struct {
	textToken, structuredToken []byte // as they appear in mcp-go's JSON, quoted
	text, structured           []byte // what goes in their place
}

// encodeOnce returns the stand-in of res, and keeps res's encoding in
// splice, when res is what structured builds: one text content that is
// the JSON of the structured content. Any other result is returned as is.
func encodeOnce(res *mcpgo.CallToolResult) (*mcpgo.CallToolResult, *splice) {
	if res == nil || len(res.Content) != 1 {
		return res, nil
	}
	raw, isRaw := res.StructuredContent.(json.RawMessage)
	tc, isText := res.Content[0].(mcpgo.TextContent)
	if !isRaw || !isText || len(raw) == 0 || tc.Text != string(raw) {
		return res, nil
	}
	text, err := json.Marshal(tc.Text) // a string, escaped as MarshalJSON's map escapes it
	if err != nil {
		return res, nil
	}
	var structured bytes.Buffer
	json.HTMLEscape(&structured, raw) // what compacting raw with HTML escaping leaves
	var b [16]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	sp := &splice{textToken: []byte(`"` + token + `-text"`), structuredToken: []byte(`"` + token + `-structured"`),
		text: text, structured: structured.Bytes()}
	standIn := *res
	tc.Text = token + "-text"
	standIn.Content = []mcpgo.Content{tc}
	standIn.StructuredContent = json.RawMessage(sp.structuredToken)
	return &standIn, sp
}

// write writes b, mcp-go's answer, with the stand-in's tokens replaced by
// the result's encoding. It reports false, having written nothing, when b
// does not carry the stand-in (mcp-go answered with something else, an
// error or a notification).
func (sp *splice) write(w io.Writer, b []byte) (bool, error) {
	t := bytes.Index(b, sp.textToken)
	s := bytes.Index(b, sp.structuredToken)
	if t < 0 && s < 0 {
		return false, nil
	}
	if t < 0 || s < 0 {
		// One token without the other: mcp-go split its answer, which
		// it never does; the result cannot be put together.
		slog.Error("mcp: answer carries half of a result's stand-in; the client gets the stand-in")
		return false, nil
	}
	type piece struct {
		at    int
		token []byte
		value []byte
	}
	first, second := piece{t, sp.textToken, sp.text}, piece{s, sp.structuredToken, sp.structured}
	if s < t {
		first, second = second, first
	}
	for _, part := range [][]byte{b[:first.at], first.value, b[first.at+len(first.token) : second.at], second.value, b[second.at+len(second.token):]} {
		if _, err := w.Write(part); err != nil {
			return true, err
		}
	}
	return true, nil
}
