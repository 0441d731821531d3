package mcp

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"

	"github.com/deskwoot/deskwoot/desk"
)

// Customer text is untrusted input to the agent (DESIGN §15). Every tool
// result passes through markUntrusted, which wraps the text customers
// write in a boundary whose id is fresh for each response:
//
//	<untrusted-customer-text id="3f9c…">words</untrusted-customer-text id="3f9c…">
//
// The rules go by field name on the JSON of the result, so any tool that
// returns a contact, a subject or a customer's message is covered without
// knowing about it, replayed idempotent results included:
//   - the content and sender name of a message whose sender.kind is "contact";
//   - every "subject";
//   - name, email, phone and identifier of an object under "contact" or in
//     a "contacts" list, and every string inside its custom_attributes,
//     keys included (a key is as much the customer's text as a value);
//   - the text of every search highlight but an article's (title, body):
//     a highlight's match offsets count characters of the text inside the
//     boundary.
//
// Wrapped text is defanged first (neutralise, forged.go), so that it
// cannot close the boundary early or open a fake one.
//
// Text written by people and agents of the account (replies, notes, drafts,
// articles, team names) is not wrapped.

// BoundaryTag names the boundary around customer-written text.
const BoundaryTag = "untrusted-customer-text"

// MetaUntrustedMarker is the _meta key of a tool result that carries the
// response's boundary id, so that programs can unwrap exactly.
const MetaUntrustedMarker = "deskwoot/untrusted_text_marker"

type boundary struct {
	id   string
	used bool
}

func newBoundary() *boundary {
	var b [12]byte
	rand.Read(b[:])
	return &boundary{id: hex.EncodeToString(b[:])}
}

func (b *boundary) wrap(s string) string {
	if s == "" {
		return s
	}
	b.used = true
	return `<` + BoundaryTag + ` id="` + b.id + `">` + neutralise(s) + `</` + BoundaryTag + ` id="` + b.id + `">`
}

// mayHoldCustomerText is a cheap test that lets results without any of the
// fields the rules touch skip the walk.
func mayHoldCustomerText(js []byte) bool {
	return bytes.Contains(js, []byte(`"contact"`)) || bytes.Contains(js, []byte(`"contacts"`)) || bytes.Contains(js, []byte(`"subject"`)) ||
		bytes.Contains(js, []byte(`"highlights"`))
}

// markUntrusted returns the JSON of a tool result with customer text
// wrapped, and the boundary id ("" when nothing was wrapped). It never
// escapes <, > and & so the boundary reads as written.
func markUntrusted(js []byte) ([]byte, string, error) {
	if !mayHoldCustomerText(js) {
		return js, "", nil
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber() // ids stay exact
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, "", err
	}
	b := newBoundary()
	v = b.walk(v, false)
	if !b.used {
		return js, "", nil
	}
	out, err := encodeJSON(v)
	return out, b.id, err
}

// walk applies the rules to v; inContact says v is a contact object.
func (b *boundary) walk(v any, inContact bool) any {
	switch x := v.(type) {
	case map[string]any:
		if sender, ok := x["sender"].(map[string]any); ok && sender["kind"] == "contact" {
			if s, ok := x["content"].(string); ok {
				x["content"] = b.wrap(s)
			}
			if s, ok := sender["name"].(string); ok {
				sender["name"] = b.wrap(s)
			}
		}
		for k, val := range x {
			switch {
			case k == "subject":
				if s, ok := val.(string); ok {
					x[k] = b.wrap(s)
				}
			case inContact && (k == "name" || k == "email" || k == "phone" || k == "identifier"):
				if s, ok := val.(string); ok {
					x[k] = b.wrap(s)
				}
			case inContact && k == "custom_attributes":
				x[k] = b.strings(val)
			case k == "contact":
				x[k] = b.walk(val, true)
			case k == "contacts":
				if list, ok := val.([]any); ok {
					for i := range list {
						list[i] = b.walk(list[i], true)
					}
				}
			case k == "sender":
			case k == "highlights":
				if list, ok := val.([]any); ok {
					for _, h := range list {
						if hm, ok := h.(map[string]any); ok {
							b.highlight(hm)
						}
					}
				}
			default:
				x[k] = b.walk(val, false)
			}
		}
		return x
	case []any:
		for i := range x {
			x[i] = b.walk(x[i], false)
		}
		return x
	}
	return v
}

// customerHighlight says whether a highlight's field may hold customer
// text: all but an article's, which the account writes.
func customerHighlight(field string) bool { return field != "title" && field != "body" }

// highlight wraps a search highlight's text (a JSON object).
func (b *boundary) highlight(h map[string]any) {
	if f, _ := h["field"].(string); !customerHighlight(f) {
		return
	}
	if s, ok := h["text"].(string); ok {
		h["text"] = b.wrap(s)
	}
}

// strings wraps every string inside v (custom attributes), the keys of
// its objects included.
func (b *boundary) strings(v any) any {
	switch x := v.(type) {
	case string:
		return b.wrap(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[b.wrap(k)] = b.strings(val)
		}
		return out
	case []any:
		for i := range x {
			x[i] = b.strings(x[i])
		}
	}
	return v
}

func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// markTyped applies the same rules as markUntrusted to the results of the
// hottest reads before they are encoded, so that they are encoded once
// instead of encoded, decoded, walked and encoded again. It reports false
// for any other value, which takes the general path. TestMarkTypedMatches
// holds it to the general walk's output.
func markTyped(v any) (any, *boundary, bool) {
	b := newBoundary()
	switch x := v.(type) {
	case desk.ConversationView:
		x.Conversation = b.conversation(x.Conversation)
		msgs := make([]desk.Message, len(x.Messages))
		for i, m := range x.Messages {
			if m.Sender.Kind == "contact" {
				m.Content, m.Sender.Name = b.wrap(m.Content), b.wrap(m.Sender.Name)
			}
			msgs[i] = m
		}
		if x.Messages != nil {
			x.Messages = msgs
		}
		return x, b, true
	case conversationsOut:
		list := make([]desk.ConversationSummary, len(x.Conversations))
		for i, c := range x.Conversations {
			c.Subject, c.Contact.Name = b.wrap(c.Subject), b.wrap(c.Contact.Name)
			if c.Highlights != nil {
				hs := make([]desk.Highlight, len(c.Highlights))
				for j, h := range c.Highlights {
					if customerHighlight(h.Field) {
						h.Text = b.wrap(h.Text)
					}
					hs[j] = h
				}
				c.Highlights = hs
			}
			list[i] = c
		}
		if x.Conversations != nil {
			x.Conversations = list
		}
		return x, b, true
	}
	return v, nil, false
}

func (b *boundary) conversation(c desk.Conversation) desk.Conversation {
	c.Subject, c.Contact.Name = b.wrap(c.Subject), b.wrap(c.Contact.Name)
	if c.Contact.Email != nil {
		e := b.wrap(*c.Contact.Email)
		c.Contact.Email = &e
	}
	return c
}
