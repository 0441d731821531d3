package mcp_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/tenancy"
)

// BenchmarkRefusedCall measures what the anomaly suspend adds to a call's
// server time (the time in the server's handler, timed around it), side
// by side: the same refused get_conversation (a token without
// conversations:read) in an account with the default limits (20 refusals,
// 5 inboxes: the refusal is counted in the round trip that records it) and
// in one with both limits 0 (recorded alone, as before the feature), in
// alternating blocks. Each block stays under the limit (the token is
// resumed between blocks, untimed), as a well-behaved token does. An
// allowed call pays nothing for it. Reported: server-µs of each and their
// ratio (target ≤ 1.10).
func BenchmarkRefusedCall(b *testing.B) {
	endpoint(b)
	ctx := context.Background()
	var serverNanos atomic.Int64
	timed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		app.Handler.ServeHTTP(w, r)
		serverNanos.Add(int64(time.Since(start)))
	}))
	defer timed.Close()
	url := timed.URL + "/api/mcp"
	type side struct {
		w     world
		token string
		id    int64
		us    float64
		calls int
	}
	mk := func(limits bool) *side {
		w := newWorld(b)
		if !limits {
			off := 0
			if _, err := w.d.DB.MCPSwitchesSet(ctx, tenancy.For(w.Account.ID), tenancy.MCPSwitchesChange{SuspendAfterDenials: &off, SuspendAfterInboxProbe: &off}); err != nil {
				b.Fatal(err)
			}
		}
		token := w.token(b, []string{"helpcenter:read"}, nil)
		ts, err := w.d.DB.MCPTokenList(ctx, w.Account.ID)
		if err != nil {
			b.Fatal(err)
		}
		return &side{w: w, token: token, id: ts[0].ID}
	}
	counted, uncounted := mk(true), mk(false)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	const block = 15 // under the default 20
	run := func(s *side) {
		body := callBody("get_conversation", map[string]any{"conversation_id": s.w.conv1})
		before := serverNanos.Load()
		for range block {
			if err := refusedCall(client, url, s.token, body); err != nil {
				b.Fatal(err)
			}
		}
		s.us += float64(serverNanos.Load()-before) / 1e3
		s.calls += block
		b.StopTimer()
		if _, err := s.w.d.DB.MCPTokenResume(ctx, tenancy.For(s.w.Account.ID), s.id); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	for range 3 { // warm both
		run(counted)
		run(uncounted)
	}
	counted.us, counted.calls, uncounted.us, uncounted.calls = 0, 0, 0, 0
	for b.Loop() {
		run(counted)
		run(uncounted)
	}
	c, u := counted.us/float64(counted.calls), uncounted.us/float64(uncounted.calls)
	b.ReportMetric(c, "counted-server-µs")
	b.ReportMetric(u, "uncounted-server-µs")
	b.ReportMetric(c/u, "ratio")
}

// refusedCall posts one tools/call that must come back refused.
func refusedCall(client *http.Client, url, token, body string) error {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Contains(raw, []byte(`"isError":true`)) || bytes.Contains(raw, []byte("paused")) {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, raw)
	}
	return nil
}
