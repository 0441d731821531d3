package mcp_test

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/desk"
)

// TestLongPollWakesOnCommit: a poll waiting for events returns as soon as
// another connection commits one.
func TestLongPollWakesOnCommit(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, allScopes, nil)
	_, _, sc := callTool(t, url, token, "poll_events", map[string]any{})
	cursor := sc["next_cursor"].(string)

	type result struct {
		events []any
		cursor string
		took   time.Duration
	}
	got := make(chan result, 1)
	go func() {
		start := time.Now()
		_, _, sc := callTool(t, url, token, "poll_events", map[string]any{"cursor": cursor, "wait_seconds": 20})
		got <- result{sc["events"].([]any), sc["next_cursor"].(string), time.Since(start)}
	}()
	time.Sleep(300 * time.Millisecond)
	committed := time.Now()
	if _, err := w.d.IncomingMessage(context.Background(), w.Account.ID, w.inbox1, desk.IncomingInput{
		Contact: desk.IncomingContact{Email: "ann@example.com"}, Content: "Any news?", SourceID: "wake-1"}); err != nil {
		t.Fatal(err)
	}
	// Events from the world's own setup may still be on their way (a feed
	// releases an event once every older transaction in the cluster has
	// ended), so the poll may wake for those first; keep polling until the
	// new message arrives.
	deadline := time.After(15 * time.Second)
	for {
		select {
		case r := <-got:
			if len(r.events) == 0 {
				t.Fatalf("long-poll returned no events after %s", r.took)
			}
			if lag := time.Since(committed); lag > 5*time.Second {
				t.Fatalf("long-poll woke %s after the commit", lag)
			}
			for _, e := range r.events {
				if m := e.(map[string]any); m["type"] == "message.created" && m["data"].(map[string]any)["type"] == "incoming" &&
					int64(m["conversation_id"].(float64)) == w.conv1 && r.took > 0 {
					return
				}
			}
			cursor = r.cursor
			go func() {
				start := time.Now()
				_, _, sc := callTool(t, url, token, "poll_events", map[string]any{"cursor": cursor, "wait_seconds": 20})
				got <- result{sc["events"].([]any), sc["next_cursor"].(string), time.Since(start)}
			}()
		case <-deadline:
			t.Fatal("long-poll did not deliver the message within 15s of the commit")
		}
	}
}

// TestEventsRespectInboxesAndScopes: a token restricted to inbox 1 never
// sees events of inbox 2; without contacts:read it sees no contact events.
func TestEventsRespectInboxesAndScopes(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t) // its setup made events in both inboxes
	types := func(events []any) []string {
		var out []string
		for _, e := range events {
			out = append(out, e.(map[string]any)["type"].(string))
		}
		sort.Strings(out)
		return out
	}
	// backfill returns released events; the world's setup may still be
	// waiting for older transactions elsewhere in the cluster to end.
	backfill := func(token string, want int) []any {
		var events []any
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			text, isErr, sc := callTool(t, url, token, "poll_events", map[string]any{"backfill": 100})
			if isErr {
				t.Fatal(text)
			}
			if events = sc["events"].([]any); len(events) >= want {
				break
			}
		}
		return events
	}
	restricted := w.token(t, allScopes, []int64{w.inbox1})
	events := backfill(restricted, 3)
	for _, e := range events {
		m := e.(map[string]any)
		if inbox, ok := m["inbox_id"]; ok && int64(inbox.(float64)) != w.inbox1 {
			t.Errorf("restricted token saw an event of inbox %v: %v", inbox, m)
		}
		if c, ok := m["contact_id"]; ok && int64(c.(float64)) == w.contact2 {
			t.Errorf("restricted token saw an event of a contact outside its inboxes: %v", m)
		}
	}
	if got := strings.Join(types(events), ","); got != "contact.created,conversation.created,message.created" {
		t.Errorf("restricted token's events: %s", got)
	}
	noContacts := w.token(t, []string{"events:read"}, nil)
	if got := strings.Join(types(backfill(noContacts, 4)), ","); got != "conversation.created,conversation.created,message.created,message.created" {
		t.Errorf("events without contacts:read: %s", got)
	}
	// A forged cursor is a clear tool error.
	text, isErr, _ := callTool(t, url, noContacts, "poll_events", map[string]any{"cursor": "bogus"})
	if !isErr || !strings.Contains(text, "cursor") {
		t.Errorf("forged cursor: %v %q", isErr, text)
	}
}
