package mcp_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// tokenState is the token's row as the token table shows it.
func tokenState(t *testing.T, w world, name string) identity.MCPToken {
	t.Helper()
	ts, err := identity.MCPTokenList(context.Background(), w.d.DB, w.Account.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range ts {
		if tk.Name == name {
			return tk
		}
	}
	t.Fatalf("no token %s", name)
	return identity.MCPToken{}
}

// TestAnomalySuspendOnInboxProbes: a token restricted to one inbox that
// names 5 other inboxes within 5 minutes is paused by the 5th refusal,
// which says so; its next call is refused naming the pause; the audit row
// (actor: the system) says why; the admin has an in-app notification; and
// Resume lifts it.
func TestAnomalySuspendOnInboxProbes(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, allScopes, []int64{w.inbox1}, func(in *identity.MCPTokenInput) { in.Name = "prober" })
	outside := []int64{w.inbox2}
	for i := range 5 {
		ib, err := w.d.InboxCreate(context.Background(), tenancy.For(w.Account.ID), desk.InboxInput{Name: fmt.Sprint("Other ", i), Channel: "api"})
		if err != nil {
			t.Fatal(err)
		}
		outside = append(outside, ib.ID)
	}
	// One inbox named twice is one probe: the fifth distinct inbox trips.
	for i, inbox := range []int64{outside[0], outside[1], outside[1], outside[2], outside[3], outside[4]} {
		text, isErr, _ := callTool(t, url, token, "list_conversations", map[string]any{"inbox_id": inbox})
		if !isErr || !strings.Contains(text, "not found") {
			t.Fatalf("probe %d: %v %s", i, isErr, text)
		}
		if paused := strings.Contains(text, "this token is now paused"); paused != (i == 5) {
			t.Fatalf("probe %d says paused = %v: %s", i, paused, text)
		}
	}
	tk := tokenState(t, w, "prober")
	if tk.PausedAt == nil || tk.PauseReason != "suspended: refused on 5 inboxes outside its list in 5 minutes" {
		t.Fatalf("token after 5 probes: %+v", tk)
	}
	text, isErr, _ := callTool(t, url, token, "get_conversation", map[string]any{"conversation_id": w.conv1})
	if !isErr || !strings.Contains(text, "this token is paused (suspended: refused on 5 inboxes") {
		t.Fatalf("call after the suspension: %v %s", isErr, text)
	}
	rows, err := audit.List(context.Background(), dbtest.App(t), w.Account.ID, audit.Filter{Action: "mcp.token.suspend", Limit: 10})
	if err != nil || len(rows) != 1 || rows[0].ActorKind != "system" || rows[0].TokenID == nil || *rows[0].TokenID != tk.ID ||
		len(rows[0].Reasons) != 1 || rows[0].Reasons[0] != tk.PauseReason {
		t.Fatalf("suspension audit rows: %+v %v", rows, err)
	}
	ns, _, err := w.d.NotificationList(context.Background(), w.Account.ID, w.User.ID, false, 10)
	if err != nil || len(ns) != 1 || ns[0].Kind != desk.NotifyTokenPaused || !strings.Contains(ns[0].Title, "prober") || !strings.Contains(ns[0].Title, "refused on 5 inboxes") {
		t.Fatalf("admin's notifications: %+v %v", ns, err)
	}
	if code, out := restCall(t, http.MethodPost, fmt.Sprintf("/api/v1/mcp/tokens/%d/resume", tk.ID), w.APIToken, nil); code != 200 || out["paused_at"] != nil {
		t.Fatalf("resume: %d %v", code, out)
	}
	if text, isErr, _ := callTool(t, url, token, "get_conversation", map[string]any{"conversation_id": w.conv1}); isErr {
		t.Fatalf("call after Resume: %s", text)
	}
	// Resumed, it starts afresh: one more probe is not a fifth.
	if text, _, _ := callTool(t, url, token, "list_conversations", map[string]any{"inbox_id": outside[5]}); strings.Contains(text, "paused") {
		t.Fatalf("the first probe after Resume paused the token: %s", text)
	}
}

// TestAnomalySuspendOnDenialsAndItsLimits: suspend_after_denials counts
// the policy's refusals of any kind; 0 turns the limits off; refusals by
// an admin's switch (agents paused) never count.
func TestAnomalySuspendOnDenialsAndItsLimits(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, []string{"conversations:read"}, nil, func(in *identity.MCPTokenInput) { in.Name = "denied" })
	put := func(body map[string]any) {
		t.Helper()
		if code, out := restCall(t, http.MethodPut, "/api/v1/settings/mcp", w.APIToken, body); code != 200 {
			t.Fatalf("PUT %v: %d %v", body, code, out)
		}
	}
	reply := func() string {
		text, isErr, _ := callTool(t, url, token, "add_private_note", argsFor(w, "add_private_note"))
		if !isErr {
			t.Fatal("a note without the scope was allowed")
		}
		return text
	}
	put(map[string]any{"suspend_after_denials": 0, "suspend_after_inbox_probes": 0})
	for range 25 {
		reply()
	}
	if tk := tokenState(t, w, "denied"); tk.PausedAt != nil {
		t.Fatalf("paused with the limits off: %+v", tk)
	}
	put(map[string]any{"suspend_after_denials": 3, "agents_paused": true})
	for range 5 {
		if text := reply(); !strings.Contains(text, "paused its AI agents") {
			t.Fatalf("with agents paused: %s", text)
		}
	}
	if tk := tokenState(t, w, "denied"); tk.PausedAt != nil {
		t.Fatalf("refusals of the workspace's pause counted: %+v", tk)
	}
	put(map[string]any{"agents_paused": false})
	reply()
	reply()
	if text := reply(); !strings.Contains(text, "lacks scope conversations:note") || !strings.Contains(text, "this token is now paused (suspended: refused 3 times in 5 minutes)") {
		t.Fatalf("third refusal: %s", text)
	}
}

// TestAnomalySuspendCountsTheLastFiveMinutes: refusals and probed inboxes
// older than five minutes no longer count, and an inbox named again counts
// once, at its latest time.
func TestAnomalySuspendCountsTheLastFiveMinutes(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, []string{"conversations:read"}, []int64{w.inbox1}, func(in *identity.MCPTokenInput) { in.Name = "window" })
	if code, out := restCall(t, http.MethodPut, "/api/v1/settings/mcp", w.APIToken, map[string]any{"suspend_after_denials": 3, "suspend_after_inbox_probes": 2}); code != 200 {
		t.Fatalf("PUT: %d %v", code, out)
	}
	other, err := w.d.InboxCreate(context.Background(), tenancy.For(w.Account.ID), desk.InboxInput{Name: "Other", Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	// age moves everything counted so far six minutes into the past.
	age := func() {
		t.Helper()
		b := &pgx.Batch{}
		b.Queue(`UPDATE mcp_token_refusals SET
			refused_at = ARRAY(SELECT at - interval '6 minutes' FROM unnest(refused_at) at),
			probed_at = ARRAY(SELECT at - interval '6 minutes' FROM unnest(probed_at) at)`)
		if err := w.d.DB.Batch(context.Background(), w.Account.ID, b); err != nil {
			t.Fatal(err)
		}
	}
	refuse := func(tool string, args map[string]any) string {
		t.Helper()
		text, isErr, _ := callTool(t, url, token, tool, args)
		if !isErr {
			t.Fatalf("%s %v was allowed", tool, args)
		}
		return text
	}
	probe := func(inbox int64) string {
		return refuse("list_conversations", map[string]any{"inbox_id": inbox})
	}
	note := func() string { return refuse("add_private_note", argsFor(w, "add_private_note")) }

	probe(w.inbox2) // 1 refusal, 1 inbox
	note()          // 2 refusals
	age()
	if text := note(); strings.Contains(text, "paused") { // 1 refusal in the window
		t.Fatalf("refusals past the window counted: %s", text)
	}
	if text := probe(other.ID); strings.Contains(text, "paused") { // 2 refusals, 1 inbox in the window
		t.Fatalf("an inbox past the window counted: %s", text)
	}
	if text := note(); !strings.Contains(text, "this token is now paused (suspended: refused 3 times in 5 minutes)") {
		t.Fatalf("third refusal in the window: %s", text)
	}
	tk := tokenState(t, w, "window")
	if code, out := restCall(t, http.MethodPost, fmt.Sprintf("/api/v1/mcp/tokens/%d/resume", tk.ID), w.APIToken, nil); code != 200 {
		t.Fatalf("resume: %d %v", code, out)
	}
	if code, out := restCall(t, http.MethodPut, "/api/v1/settings/mcp", w.APIToken, map[string]any{"suspend_after_denials": 0}); code != 200 {
		t.Fatalf("PUT: %d %v", code, out)
	}
	probe(w.inbox2)
	age()
	if text := probe(other.ID); strings.Contains(text, "paused") {
		t.Fatalf("a probe past the window counted: %s", text)
	}
	if text := probe(other.ID); strings.Contains(text, "paused") {
		t.Fatalf("an inbox named twice counted twice: %s", text)
	}
	if text := probe(w.inbox2); !strings.Contains(text, "this token is now paused (suspended: refused on 2 inboxes outside its list in 5 minutes)") {
		t.Fatalf("second inbox in the window: %s", text)
	}
}

// TestPausedTokenEndsItsLongPoll: a poll_events long-poll of a token
// paused while it waits ends at once, naming the pause.
func TestPausedTokenEndsItsLongPoll(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	token := w.token(t, allScopes, nil, func(in *identity.MCPTokenInput) { in.Name = "poller" })
	tk := tokenState(t, w, "poller")
	type answer struct {
		text  string
		isErr bool
		took  time.Duration
	}
	done := make(chan answer, 1)
	go func() {
		start := time.Now()
		text, isErr, _ := callTool(t, url, token, "poll_events", map[string]any{"wait_seconds": 20})
		done <- answer{text, isErr, time.Since(start)}
	}()
	time.Sleep(700 * time.Millisecond)
	if code, out := restCall(t, http.MethodPost, fmt.Sprintf("/api/v1/mcp/tokens/%d/pause", tk.ID), w.APIToken, nil); code != 200 {
		t.Fatalf("pause: %d %v", code, out)
	}
	select {
	case a := <-done:
		if !a.isErr || !strings.Contains(a.text, "paused while the poll waited") || a.took > 10*time.Second {
			t.Fatalf("the long-poll ended with %v %q after %v", a.isErr, a.text, a.took)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the long-poll of a paused token did not end")
	}
}

// TestRefusalCountedInItsOwnRoundTrip pins that the anomaly suspend costs
// a refused call no round trip: the refusal is counted in the transaction
// that records it, so a refused call takes as many round trips in a
// workspace that counts refusals as in one with both limits 0. The server
// is this test's own, so that no other test's queries are counted.
func TestRefusalCountedInItsOwnRoundTrip(t *testing.T) {
	app, url := countedServer(t)
	trips := func(w world) []int64 {
		t.Helper()
		token := w.token(t, []string{"helpcenter:read"}, nil)
		var got []int64
		for range 3 { // the first authenticates; the others carry the guard
			before := app.DB.RoundTrips()
			if text, isErr, _ := callTool(t, url, token, "get_conversation", map[string]any{"conversation_id": w.conv1}); !isErr {
				t.Fatalf("a call without conversations:read was allowed: %s", text)
			}
			got = append(got, app.DB.RoundTrips()-before)
		}
		return got
	}
	counting, quiet := newWorld(t), newWorld(t)
	quiet.noSuspend(t)
	if c, q := trips(counting), trips(quiet); fmt.Sprint(c) != fmt.Sprint(q) {
		t.Errorf("round trips of 3 refused calls: %v counting refusals, %v with the limits off", c, q)
	}
	if tk := tokenState(t, counting, "bot"); tk.PausedAt != nil {
		t.Fatalf("3 refusals paused the token: %+v", tk)
	}
}
