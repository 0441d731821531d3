package mcp_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// toolSchemas lists the tools with their input schema properties.
func toolSchemas(t *testing.T, url, token string) map[string]map[string]any {
	t.Helper()
	r := rpc(t, url, token, "tools/list", map[string]any{})
	res, _ := r.Body["result"].(map[string]any)
	tools, _ := res["tools"].([]any)
	out := map[string]map[string]any{}
	for _, x := range tools {
		m := x.(map[string]any)
		props, _ := m["inputSchema"].(map[string]any)["properties"].(map[string]any)
		out[m["name"].(string)] = props
	}
	return out
}

// Every text argument of every tool goes through the input layer: a NUL
// character, a text longer than its declared maxLength, or a NUL inside a
// custom attribute is a tool error naming the argument, never "internal
// error", and nothing is written.
func TestEveryTextArgumentIsChecked(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, allScopes, nil)
	schemas := toolSchemas(t, url, token)
	if len(schemas) < 20 {
		t.Fatalf("tools/list shows %d tools", len(schemas))
	}
	before := counts(t, w.Account.ID)
	probes := 0
	for tool, props := range schemas {
		for name, p := range props {
			schema := p.(map[string]any)
			var bad []any
			switch schema["type"] {
			case "string":
				bad = append(bad, "a\x00b")
				if max, ok := schema["maxLength"].(float64); ok {
					bad = append(bad, strings.Repeat("é", int(max)+1))
				}
			case "array":
				bad = append(bad, []any{"a\x00b"})
			case "object":
				bad = append(bad, map[string]any{"k": "a\x00b"}, map[string]any{"k\x00": "v"})
			default:
				continue
			}
			for _, v := range bad {
				args := argsFor(w, tool)
				args[name] = v
				text, isErr, _ := callTool(t, url, token, tool, args)
				probes++
				if !isErr || !strings.Contains(text, name) || strings.Contains(text, "internal") {
					t.Errorf("%s with %s=%q: isError=%v %q, want a tool error naming %s", tool, name, fmt.Sprint(v), isErr, text, name)
				}
			}
		}
	}
	if probes < 40 {
		t.Errorf("only %d probes; the schemas lost their text arguments?", probes)
	}
	if after := counts(t, w.Account.ID); !sameCounts(before, after) {
		t.Errorf("rejected calls wrote rows: %v -> %v", before, after)
	}
}

// A long-poll that started before its token was revoked answers with the
// revocation, not with the event that woke it.
func TestLongPollEndsAtRevocation(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	ctx := context.Background()
	tok, raw, err := identity.MCPTokenCreate(ctx, w.d.DB, tenancy.For(w.Account.ID), identity.MCPTokenInput{Name: "poller", Scopes: allScopes, RateLimitPerMinute: 60000}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, _, sc := callTool(t, url, raw, "poll_events", map[string]any{})
	cursor := sc["next_cursor"].(string)
	type answer struct {
		text  string
		isErr bool
		sc    map[string]any
	}
	got := make(chan answer, 1)
	go func() {
		text, isErr, sc := callTool(t, url, raw, "poll_events", map[string]any{"cursor": cursor, "wait_seconds": 20})
		got <- answer{text, isErr, sc}
	}()
	time.Sleep(500 * time.Millisecond)
	if err := identity.MCPTokenRevoke(ctx, w.d.DB, tenancy.For(w.Account.ID), tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.d.IncomingMessage(ctx, w.Account.ID, w.inbox1, desk.IncomingInput{
		Contact: desk.IncomingContact{Email: "ann@example.com"}, Content: "after the revocation", SourceID: "revoked-wake"}); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-got:
		if !a.isErr || !strings.Contains(a.text, "revoked") {
			t.Fatalf("poll after revocation answered isError=%v %q %v", a.isErr, a.text, a.sc)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("the long-poll did not answer")
	}
}

// A token limited to inbox 1 learns one thing from a taken email: that it
// is taken. The answer is the same whether the contact holding it is in the
// token's inboxes or not, names no contact, and writes nothing.
func TestRestrictedTokenLearnsOnlyThatAnEmailIsTaken(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t) // ann@example.com is in inbox 1, bob@example.com only in inbox 2
	token := w.token(t, []string{"contacts:read", "contacts:write"}, []int64{w.inbox1})
	before := counts(t, w.Account.ID)
	answer := func(tool string, args map[string]any) string {
		text, isErr, _ := callTool(t, url, token, tool, args)
		if !isErr {
			t.Fatalf("%s %v succeeded: %s", tool, args, text)
		}
		return text
	}
	for _, c := range []struct{ tool, field string }{{"create_contact", ""}, {"update_contact", ""}} {
		args := func(email string) map[string]any {
			if c.tool == "create_contact" {
				return map[string]any{"email": email, "inbox_id": w.inbox1, "idempotency_key": email + c.tool}
			}
			return map[string]any{"contact_id": w.contact1, "email": email}
		}
		var outside, inside string
		if c.tool == "create_contact" {
			inside = answer(c.tool, args("ANN@example.com"))
		} else {
			// contact1 has ann's email; a second in-scope contact holds the other.
			ct, err := w.d.IncomingMessage(context.Background(), w.Account.ID, w.inbox1, desk.IncomingInput{
				Contact: desk.IncomingContact{Email: "cid@example.com"}, Content: "hi", SourceID: "cid"})
			if err != nil {
				t.Fatal(err)
			}
			_ = ct
			inside = answer(c.tool, args("CID@example.com"))
		}
		outside = answer(c.tool, args("BOB@example.com"))
		wantIn := "a contact with email ANN@example.com already exists"
		if c.tool == "update_contact" {
			wantIn = "a contact with email CID@example.com already exists"
		}
		if inside != wantIn || outside != "a contact with email BOB@example.com already exists" {
			t.Errorf("%s: inside %q, outside %q; want the same sentence naming only the email sent", c.tool, inside, outside)
		}
		for _, leak := range []string{fmt.Sprint(w.contact2), fmt.Sprint(w.inbox2), "bob\"", "search_contacts"} {
			if strings.Contains(outside, leak) {
				t.Errorf("%s: answer %q carries %q", c.tool, outside, leak)
			}
		}
	}
	after := counts(t, w.Account.ID)
	after["messages"], after["conversations"], after["contacts"] = before["messages"], before["conversations"], after["contacts"]-1
	if !sameCounts(before, after) {
		t.Errorf("refused writes changed rows: %v -> %v", before, after)
	}
}
