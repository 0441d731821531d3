package server_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/localpg"
	"github.com/deskwoot/deskwoot/migrations"
	"github.com/deskwoot/deskwoot/outbox"
	"github.com/deskwoot/deskwoot/tenancy"
)

// outcome is one request of the load while PostgreSQL goes away and comes
// back.
type outcome struct {
	what        string
	start, end  time.Time
	status      int
	toolErr     string
	err         error
	acked       int64 // the message id a 2xx acknowledged
	rateLimited bool
}

// TestPostgresRestart stops PostgreSQL (a private cluster of the test's
// own) under load and starts it again. While it is away, every answer is a
// quick 503 (/readyz, REST, MCP), never a 500 or a hang; afterwards serve
// recovers by itself, every acknowledged write is there, the outbox
// delivers every acknowledged reply, the events listener reconnects, and
// the feed holds every acknowledged message, without a gap.
func TestPostgresRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("stops and starts a PostgreSQL cluster")
	}
	ctx := context.Background()
	c, err := localpg.Start(ctx, localpg.Options{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after the replicas' own cleanup, so they stop on a live database
		c.Stop()
		os.RemoveAll(c.Dir)
	})
	if _, err := migrations.Run(ctx, c.OwnerURL, migrations.Options{}); err != nil {
		t.Fatal(err)
	}
	f := startFleet(t, c.AppURL, 2)
	a, b := f.urls[0], f.urls[1]
	w := newWorkspace(t, a)
	_, tok := w.token(t, 60000)
	cursor := mustTool(t, a, tok, "poll_events", nil)["next_cursor"].(string)
	session, err := identity.SessionCreate(ctx, f.apps[0].DB, tenancy.For(w.accountID), w.userID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if status, err := page(a+"/conversations", session); err != nil || status != 200 {
		t.Fatalf("console page: %d %v", status, err)
	}

	// The load: customer messages and human replies over REST, and MCP
	// reads, on both replicas, until stopped.
	var mu sync.Mutex
	var outcomes []outcome
	record := func(o outcome) {
		mu.Lock()
		outcomes = append(outcomes, o)
		mu.Unlock()
	}
	stopLoad := make(chan struct{})
	var load sync.WaitGroup
	var seq atomic.Int64
	worker := func(g int, kind string) {
		defer load.Done()
		for i := 0; ; i++ {
			select {
			case <-stopLoad:
				return
			default:
			}
			base := f.urls[(g+i)%2]
			o := outcome{what: kind, start: time.Now()}
			switch kind {
			case "incoming":
				var out map[string]any
				o.status, out, o.err = call("POST", fmt.Sprintf("%s/api/v1/inboxes/%d/messages", base, w.inbox), w.admin,
					map[string]any{"contact": map[string]any{"email": fmt.Sprintf("c%d@customer.test", g)}, "content": "still there?",
						"source_id": fmt.Sprintf("load-%d", seq.Add(1))})
				if id, ok := out["message_id"].(float64); ok && o.status/100 == 2 {
					o.acked = int64(id)
				}
			case "reply":
				var out map[string]any
				o.status, out, o.err = call("POST", fmt.Sprintf("%s/api/v1/conversations/%d/messages", base, w.conv), w.admin,
					map[string]any{"content": "We are on it."})
				if m, ok := out["message"].(map[string]any); ok && o.status == 201 {
					o.acked = int64(m["id"].(float64))
				}
			case "mcp":
				var res map[string]any
				o.status, res, o.err = tool(base, tok, "list_conversations", map[string]any{"limit": 5})
				if res["isError"] == true {
					o.toolErr = toolText(res)
				}
			}
			o.end = time.Now()
			record(o)
			time.Sleep(20 * time.Millisecond)
		}
	}
	for g, kind := range []string{"incoming", "incoming", "reply", "mcp", "mcp"} {
		load.Add(1)
		go worker(g, kind)
	}

	time.Sleep(700 * time.Millisecond)
	// A long-poll in flight across the outage, for an event that only
	// comes after it: it waits through, and resumes where it was.
	_, mid := pollAll(t, a, tok, cursor)
	type polled struct {
		status int
		res    map[string]any
		err    error
	}
	inFlight := make(chan polled, 1)
	go func() {
		status, res, err := tool(a, tok, "poll_events", map[string]any{"cursor": mid, "wait_seconds": 25, "types": []string{"contact.created"}})
		inFlight <- polled{status, res, err}
	}()
	time.Sleep(200 * time.Millisecond)
	if err := c.Halt("fast"); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	// While it is away: /readyz and a console page on both replicas say
	// 503, quickly.
	for time.Since(down) < 1500*time.Millisecond {
		for _, u := range f.urls {
			start := time.Now()
			status, _, err := call("GET", u+"/readyz", "", nil)
			if err != nil || status != 503 || time.Since(start) > 2500*time.Millisecond {
				t.Errorf("/readyz with the database away: HTTP %d %v after %v, want a quick 503", status, err, time.Since(start))
			}
			start = time.Now()
			if status, err := page(u+"/conversations", session); err != nil || status != 503 || time.Since(start) > 2500*time.Millisecond {
				t.Errorf("console page with the database away: HTTP %d %v after %v, want a quick 503", status, err, time.Since(start))
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	// Recovery: the first successful REST and MCP calls after PostgreSQL
	// is back, probed every 10 ms.
	var restBack, mcpBack time.Duration
	for restBack == 0 || mcpBack == 0 {
		if time.Since(up) > 20*time.Second {
			t.Fatalf("serve did not recover within 20 s (REST %v, MCP %v)", restBack, mcpBack)
		}
		if restBack == 0 {
			if status, _, _ := call("GET", b+"/api/v1/conversations?limit=1", w.admin, nil); status == 200 {
				restBack = time.Since(up)
			}
		}
		if mcpBack == 0 {
			if status, res, _ := tool(b, tok, "list_labels", nil); status == 200 && res["isError"] != true {
				mcpBack = time.Since(up)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The baseline, in the same run: a brand-new connection's first query
	// right after the restart (what any client needs at least).
	coldStart := time.Now()
	if conn, err := pgx.Connect(ctx, c.AppURL); err == nil {
		conn.Exec(ctx, "SELECT 1")
		conn.Close(ctx)
	}
	cold := time.Since(coldStart)
	fresh := mustCall(t, 201, "POST", fmt.Sprintf("%s/api/v1/inboxes/%d/messages", b, w.inbox), w.admin,
		map[string]any{"contact": map[string]any{"email": "fresh@customer.test"}, "content": "new here", "source_id": "fresh"})
	select {
	case p := <-inFlight:
		sc, _ := p.res["structuredContent"].(map[string]any)
		evs, _ := sc["events"].([]any)
		if p.err != nil || p.status != 200 || len(evs) != 1 || evs[0].(map[string]any)["contact_id"] != fresh["contact_id"] {
			t.Errorf("the long-poll across the outage: HTTP %d %v %s %v, want the new contact's event", p.status, p.err, toolText(p.res), evs)
		}
	case <-time.After(20 * time.Second):
		t.Error("the long-poll across the outage did not return")
	}
	time.Sleep(time.Second)
	close(stopLoad)
	load.Wait()

	// Every answer was a success or a quick 503 (an MCP call that got past
	// authentication may answer the same as a tool error).
	var acked []int64
	var ok, unavailable int
	var okTimes []time.Duration
	var slowest time.Duration
	for _, o := range outcomes {
		d := o.end.Sub(o.start)
		switch {
		case o.err != nil:
			t.Errorf("%s: %v after %v", o.what, o.err, d)
		case o.status/100 == 2 && o.toolErr == "":
			ok++
			okTimes = append(okTimes, d)
			if o.acked != 0 {
				acked = append(acked, o.acked)
			}
		case o.status == 503 || (o.status == 200 && o.toolErr == "the database is unavailable for a moment; try again shortly"):
			unavailable++
			slowest = max(slowest, d)
			if d > 3*time.Second {
				t.Errorf("%s: 503 after %v, want a quick answer", o.what, d)
			}
		default:
			t.Errorf("%s: HTTP %d %q, want success or 503", o.what, o.status, o.toolErr)
		}
	}
	if unavailable == 0 {
		t.Error("no request met the outage; the test proves nothing")
	}
	slices.Sort(okTimes)
	median := okTimes[len(okTimes)/2]
	t.Logf("PostgreSQL restart: REST back %v and MCP back %v after PostgreSQL was up (%.1fx and %.1fx a fresh connection's first query, %v); "+
		"%d requests succeeded (median %v), %d answered 503 (slowest %v, %.1fx the median success)",
		restBack.Round(time.Millisecond), mcpBack.Round(time.Millisecond), float64(restBack)/float64(cold), float64(mcpBack)/float64(cold),
		cold.Round(time.Millisecond), ok, median.Round(time.Millisecond), unavailable, slowest.Round(time.Millisecond), float64(slowest)/float64(median))

	// No acknowledged write was lost, and the feed holds every one of them:
	// the events listener is back and the feed has no gap.
	for _, app := range f.apps {
		waitUntil(t, 10*time.Second, "the events listener to reconnect", func() bool { return app.Hub.Listening() && app.Hub.Connects() >= 2 })
	}
	events, last := pollAll(t, a, tok, cursor)
	seen := messageIDs(events)
	for _, id := range acked {
		if !seen[id] {
			t.Errorf("acknowledged message %d is not in the events feed", id)
		}
	}
	// The outbox resumes: every acknowledged reply is delivered.
	var replies []int64
	for _, o := range outcomes {
		if o.what == "reply" && o.acked != 0 {
			replies = append(replies, o.acked)
		}
	}
	waitUntil(t, 30*time.Second, fmt.Sprintf("delivery of %d acknowledged replies", len(replies)), func() bool {
		for _, id := range replies {
			if w.rx.count(outbox.IdempotencyKey(id)) == 0 {
				return false
			}
		}
		return true
	})
	// A long-poll on one replica wakes on the other's commit again.
	done := make(chan int, 1)
	go func() {
		_, res, _ := tool(a, tok, "poll_events", map[string]any{"cursor": last, "wait_seconds": 10})
		sc, _ := res["structuredContent"].(map[string]any)
		evs, _ := sc["events"].([]any)
		done <- len(evs)
	}()
	time.Sleep(300 * time.Millisecond)
	mustCall(t, 201, "POST", fmt.Sprintf("%s/api/v1/inboxes/%d/messages", b, w.inbox), w.admin,
		map[string]any{"contact": map[string]any{"email": "late@customer.test"}, "content": "after the restart", "source_id": "after"})
	if n := <-done; n == 0 {
		t.Error("a long-poll after the restart did not wake on the other replica's commit")
	}
	mustCall(t, 200, "GET", a+"/readyz", "", nil)
	if status, err := page(b+"/conversations", session); err != nil || status != 200 {
		t.Errorf("console page after the restart: %d %v", status, err)
	}
}
