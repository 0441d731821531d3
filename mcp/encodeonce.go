package mcp

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"sync"

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
	// buf holds what goes in their place: the text's JSON string up to
	// textEnd, then the structured content. It comes from, and goes back
	// to, encodeBuffers.
	buf     *bytes.Buffer
	textEnd int
}

// encodeBuffers recycles the buffers of splices (a result's encoding,
// written out once).
var encodeBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer keeps the odd huge result's buffer out of the pool.
const maxPooledBuffer = 64 << 10

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
	buf := encodeBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	// The text as a JSON string, escaped as MarshalJSON's map escapes it
	// (an Encoder escapes <, > and & as json.Marshal does), without the
	// Encoder's newline; then raw as compacting it with HTML escaping
	// leaves it.
	if err := json.NewEncoder(buf).Encode(tc.Text); err != nil {
		encodeBuffers.Put(buf)
		return res, nil
	}
	buf.Truncate(buf.Len() - 1)
	textEnd := buf.Len()
	json.HTMLEscape(buf, raw)
	sp := &splice{buf: buf, textEnd: textEnd}
	sp.textToken, sp.structuredToken = newTokens()
	standIn := *res
	tc.Text = string(sp.textToken[1 : len(sp.textToken)-1])
	standIn.Content = []mcpgo.Content{tc}
	standIn.StructuredContent = json.RawMessage(sp.structuredToken)
	return &standIn, sp
}

// newTokens are two quoted JSON strings no text can hold by chance or
// design: 128 random bits, fresh for each result (customer text may reach
// the stand-in's _meta, in a draft card).
func newTokens() (text, structured []byte) {
	var random [16]byte
	rand.Read(random[:])
	const n = 2 * len(random)
	b := make([]byte, 0, 2*(n+2)+len("-text-structured"))
	b = append(b, '"')
	b = hex.AppendEncode(b, random[:])
	b = append(b, `-text"`...)
	text = b[:len(b):len(b)]
	b = append(b, '"')
	b = append(b, text[1:n+1]...)
	b = append(b, `-structured"`...)
	return text, b[len(text):]
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
	encoded := sp.buf.Bytes()
	type piece struct {
		at    int
		token []byte
		value []byte
	}
	first, second := piece{t, sp.textToken, encoded[:sp.textEnd]}, piece{s, sp.structuredToken, encoded[sp.textEnd:]}
	if s < t {
		first, second = second, first
	}
	var err error
	for _, part := range [][]byte{b[:first.at], first.value, b[first.at+len(first.token) : second.at], second.value, b[second.at+len(second.token):]} {
		if _, err = w.Write(part); err != nil {
			break
		}
	}
	if sp.buf.Cap() <= maxPooledBuffer {
		encodeBuffers.Put(sp.buf)
	}
	sp.buf = nil
	return true, err
}
