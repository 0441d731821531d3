package server_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/outbox"
)

// TestReplicas runs three replicas on one database (a scratch database of
// its own, so that no other package's outbox workers take its jobs) and
// checks what DESIGN §11 promises of them: revocation on one reaches the
// others' next request, a long-poll on one wakes on another's commit,
// idempotent retries raced across all three post and deliver once, and the
// per-token rate limit holds for the three together.
func TestReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three replicas")
	}
	ownerURL, appURL := dbtest.Scratch(t, "replicas")
	f := startFleet(t, appURL, 3)
	w := newWorkspace(t, f.urls[0])

	t.Run("revocation reaches every replica", func(t *testing.T) {
		id, raw := w.token(t, 60000)
		for _, u := range f.urls {
			// Twice: the second call is served from the replica's cache
			// of principals, which the revocation must not get past.
			mustTool(t, u, raw, "list_labels", nil)
			mustTool(t, u, raw, "list_labels", nil)
		}
		mustCall(t, 200, "DELETE", fmt.Sprintf("%s/api/v1/mcp/tokens/%d", f.urls[0], id), w.admin, nil)
		for _, u := range f.urls {
			if status, _, err := tool(u, raw, "list_labels", nil); err != nil || status != 401 {
				t.Errorf("revoked token on a replica: HTTP %d %v, want 401", status, err)
			}
		}
	})

	// The window is closed: callers hammer every replica with a cached
	// token while it is revoked; no call sent after the revocation
	// committed may succeed, and every call that succeeded is audited. Each
	// caller has an address of its own, as six agents would: the refusals
	// must not trip the per-address throttle of failed authentications,
	// which would answer 429 before looking at the token at all.
	t.Run("no call sent after a revocation commits succeeds", func(t *testing.T) {
		id, raw := w.token(t, 60000)
		for _, u := range f.urls {
			mustTool(t, u, raw, "list_labels", nil)
		}
		var revokedAt atomic.Int64 // unix nanos once the DELETE has answered
		var late, allowed, refused atomic.Int64
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for g := 0; g < 6; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					sent := time.Now().UnixNano()
					status, res, err := toolFrom(fmt.Sprintf("192.0.2.%d", g+1), f.urls[(g+i)%len(f.urls)], raw, "list_labels", nil)
					switch {
					case err == nil && status == 200 && res["isError"] != true:
						allowed.Add(1)
						if r := revokedAt.Load(); r != 0 && sent > r {
							late.Add(1)
						}
					case err == nil && status == 401:
						refused.Add(1)
					default:
						t.Errorf("call: HTTP %d %v %s", status, err, toolText(res))
						return
					}
				}
			}()
		}
		time.Sleep(300 * time.Millisecond)
		mustCall(t, 200, "DELETE", fmt.Sprintf("%s/api/v1/mcp/tokens/%d", f.urls[1], id), w.admin, nil)
		revokedAt.Store(time.Now().UnixNano())
		time.Sleep(300 * time.Millisecond)
		close(stop)
		wg.Wait()
		t.Logf("%d calls answered before the revocation, %d refused after it", allowed.Load(), refused.Load())
		if late.Load() != 0 {
			t.Fatalf("%d calls sent after the revocation committed were answered", late.Load())
		}
		if refused.Load() == 0 || allowed.Load() == 0 {
			t.Fatalf("the race did not happen: %d allowed, %d refused", allowed.Load(), refused.Load())
		}
		var audited int64
		owner, err := pgx.Connect(context.Background(), ownerURL)
		if err != nil {
			t.Fatal(err)
		}
		defer owner.Close(context.Background())
		// Every table forces RLS, on its owner too: name the tenant.
		if _, err := owner.Exec(context.Background(), `SELECT set_config('deskwoot.account_id', $1::bigint::text, false)`, w.accountID); err != nil {
			t.Fatal(err)
		}
		if err := owner.QueryRow(context.Background(), `SELECT count(*) FROM audit_log
			WHERE token_id = $1 AND action = 'list_labels' AND decision = 'allow'`, id).Scan(&audited); err != nil {
			t.Fatal(err)
		}
		if audited != allowed.Load()+int64(len(f.urls)) {
			t.Fatalf("%d allowed calls (and %d warm-ups) but %d audit rows", allowed.Load(), len(f.urls), audited)
		}
	})

	t.Run("switching MCP off reaches every replica", func(t *testing.T) {
		_, raw := w.token(t, 60000)
		for _, u := range f.urls {
			mustTool(t, u, raw, "list_labels", nil)
			mustTool(t, u, raw, "list_labels", nil)
		}
		mustCall(t, 200, "PUT", f.urls[2]+"/api/v1/settings/mcp", w.admin, map[string]any{"enabled": false})
		defer mustCall(t, 200, "PUT", f.urls[2]+"/api/v1/settings/mcp", w.admin, map[string]any{"enabled": true})
		for _, u := range f.urls {
			if status, _, err := tool(u, raw, "list_labels", nil); err != nil || status != 403 {
				t.Errorf("MCP switched off, a replica answered HTTP %d %v, want 403", status, err)
			}
		}
	})

	// Issue 24's switches, each flipped through replica A's REST API while
	// replica B keeps the token's principal in memory: B's very next call
	// obeys the change (the guard's stamp, no cache to expire), and the
	// change back.
	t.Run("the switches reach the other replica's next call", func(t *testing.T) {
		a, b := f.urls[0], f.urls[1]
		id, raw := w.token(t, 60000)
		mustTool(t, b, raw, "list_labels", nil)
		mustTool(t, b, raw, "list_labels", nil) // served from B's memory of the principal
		settings := func(body map[string]any) func() {
			return func() { mustCall(t, 200, "PUT", a+"/api/v1/settings/mcp", w.admin, body) }
		}
		token := func(action string) func() {
			return func() {
				mustCall(t, 200, "POST", fmt.Sprintf("%s/api/v1/mcp/tokens/%d/%s", a, id, action), w.admin, nil)
			}
		}
		// call makes one call on B and says whether it was allowed, and
		// the refusal's text.
		call := func(name string, args map[string]any) (bool, string) {
			t.Helper()
			status, res, err := tool(b, raw, name, args)
			if err != nil || status != 200 || res == nil {
				t.Fatalf("%s on B: HTTP %d %v", name, status, err)
			}
			return res["isError"] != true, toolText(res)
		}
		steps := []struct {
			name   string
			change func()
			// note and labels say whether add_private_note (a write) and
			// list_labels (a read) are allowed after the change; refusal
			// is what the note's refusal says.
			note, labels bool
			refusal      string
		}{
			{"agents paused", settings(map[string]any{"agents_paused": true}), false, true, "the workspace paused its AI agents"},
			{"agents resumed", settings(map[string]any{"agents_paused": false}), true, true, ""},
			{"the note switched off", settings(map[string]any{"disabled_tools": []string{"add_private_note"}}), false, true, "is switched off for this workspace"},
			{"the note switched on", settings(map[string]any{"disabled_tools": []string{}}), true, true, ""},
			{"token paused", token("pause"), false, false, "this token is paused (paused by an admin)"},
			{"token resumed", token("resume"), true, true, ""},
		}
		for _, st := range steps {
			st.change()
			// The note first: the very next call after each change is one
			// the change decides.
			ok, text := call("add_private_note", map[string]any{"conversation_id": w.conv, "content": "Noted.", "idempotency_key": dbtest.Unique("k")})
			if ok != st.note || !ok && !strings.Contains(text, st.refusal) {
				t.Errorf("%s: add_private_note on B allowed = %v (%s), want %v saying %q", st.name, ok, text, st.note, st.refusal)
			}
			if ok, text := call("list_labels", nil); ok != st.labels {
				t.Errorf("%s: list_labels on B allowed = %v (%s), want %v", st.name, ok, text, st.labels)
			}
			if st.labels { // a paused token's tools/list is beside the point
				if listed := slices.Contains(toolNames(t, b, raw), "add_private_note"); listed != (st.name != "the note switched off") {
					t.Errorf("%s: B's tools/list shows add_private_note = %v", st.name, listed)
				}
			}
		}
	})

	t.Run("a long-poll on one replica wakes on another's commit", func(t *testing.T) {
		_, raw := w.token(t, 60000)
		cursor := mustTool(t, f.urls[1], raw, "poll_events", nil)["next_cursor"].(string)
		type polled struct {
			sc  map[string]any
			at  time.Time
			err string
		}
		done := make(chan polled, 1)
		go func() {
			status, res, err := tool(f.urls[1], raw, "poll_events", map[string]any{"cursor": cursor, "wait_seconds": 15})
			p := polled{at: time.Now()}
			if err != nil || status != 200 || res["isError"] == true {
				p.err = fmt.Sprintf("HTTP %d %v %s", status, err, toolText(res))
			} else {
				p.sc, _ = res["structuredContent"].(map[string]any)
			}
			done <- p
		}()
		time.Sleep(500 * time.Millisecond) // the poll is waiting by now
		out := mustCall(t, 201, "POST", fmt.Sprintf("%s/api/v1/inboxes/%d/messages", f.urls[2], w.inbox), w.admin,
			map[string]any{"contact": map[string]any{"email": "dog@customer.test"}, "content": "Hello?", "source_id": "wake-1"})
		committed := time.Now()
		p := <-done
		if p.err != "" {
			t.Fatal(p.err)
		}
		evs, _ := p.sc["events"].([]any)
		var ids []map[string]any
		for _, e := range evs {
			ids = append(ids, e.(map[string]any))
		}
		if !messageIDs(ids)[int64(out["message_id"].(float64))] {
			t.Fatalf("the long-poll returned %v, not the new message", evs)
		}
		t.Logf("long-poll on replica 2 woke %v after replica 3's commit", p.at.Sub(committed).Round(time.Millisecond))
	})

	t.Run("idempotent retries raced over three replicas post and deliver once", func(t *testing.T) {
		_, raw := w.token(t, 60000)
		args := map[string]any{"conversation_id": w.conv, "content": "Your order ships today.", "idempotency_key": "race-1"}
		var wg sync.WaitGroup
		ids := make([]int64, 9)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, res, err := tool(f.urls[i%3], raw, "reply_to_conversation", args)
				if err != nil || status != 200 || res["isError"] == true {
					t.Errorf("retry %d: HTTP %d %v %s", i, status, err, toolText(res))
					return
				}
				msg := res["structuredContent"].(map[string]any)["message"].(map[string]any)
				ids[i] = int64(msg["id"].(float64))
			}()
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("racing retries returned different messages: %v", ids)
			}
		}
		view := mustCall(t, 200, "GET", fmt.Sprintf("%s/api/v1/conversations/%d", f.urls[0], w.conv), w.admin, nil)
		n := 0
		for _, m := range view["messages"].([]any) {
			if m.(map[string]any)["content"] == "Your order ships today." {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d messages posted, want 1", n)
		}
		key := outbox.IdempotencyKey(ids[0])
		waitUntil(t, 20*time.Second, "the delivery", func() bool { return w.rx.count(key) > 0 })
		time.Sleep(time.Second) // a second delivery would have come by now
		if got := w.rx.count(key); got != 1 {
			t.Fatalf("the receiver got %d deliveries, want 1", got)
		}
	})

	t.Run("the rate limit holds across replicas", func(t *testing.T) {
		const limit = 60
		_, raw := w.token(t, limit)
		var allowed, limited, other atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for g := 0; g < 12; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 15; i++ { // 180 calls, 60 on each replica
					status, res, err := tool(f.urls[(g+i)%3], raw, "list_labels", nil)
					switch {
					case err == nil && status == 200 && res["isError"] != true:
						allowed.Add(1)
					case err == nil && status == 200 && isRateLimited(res):
						limited.Add(1)
					default:
						other.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		// The bucket refills one call a second: a burst taking elapsed
		// may see that many more.
		refill := int64(elapsed / time.Second)
		t.Logf("rate limit %d/min over 3 replicas: %d of 180 calls allowed in %v (accuracy %.3f; refill allowance %d), %d refused",
			limit, allowed.Load(), elapsed.Round(time.Millisecond), float64(allowed.Load())/limit, refill, limited.Load())
		if other.Load() != 0 {
			t.Fatalf("%d calls failed otherwise", other.Load())
		}
		if a := allowed.Load(); a < limit || a > limit+refill+1 {
			t.Fatalf("%d calls allowed across three replicas, want %d (+%d refilled)", a, limit, refill)
		}
	})
}
