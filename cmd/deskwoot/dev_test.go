package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/devreceiver"
	"github.com/deskwoot/deskwoot/server"
)

// call sends a JSON request with the bearer token and decodes the answer.
func call(t *testing.T, method, url, token string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// TestDevDemoWorks is `make dev` as a newcomer meets it: the banner prints
// the admin's and the agent's logins and the customer's curl; the message
// the curl sends arrives; a reply on the demo's Website chat reaches the
// built-in receiver (signature checked) and is recorded as sent, as are
// the seeded replies, so nothing waits for a webhook that does not exist;
// a second start shows the same logins.
func TestDevDemoWorks(t *testing.T) {
	_, appURL := dbtest.Scratch(t, "devdemo")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	cfg := server.Config{AppDatabaseURL: appURL, Addr: addr, PublicURL: base, AllowPrivateWebhooks: true,
		IdempotencyTTL: 24 * time.Hour, EventRetention: 720 * time.Hour}
	dir := t.TempDir()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	var banner strings.Builder
	srv, ws, err := devApp(ctx, cfg, dir, &banner)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{ws.AdminEmail, ws.AdminPassword, ws.AgentEmail, ws.AgentPassword, ws.MCPToken,
		fmt.Sprintf("%s/api/v1/inboxes/%d/messages", base, ws.ChatInboxID), base + devreceiver.PagePath,
		"Settings → Connectors", "mcp-remote", "openclaw mcp add deskwoot", "POST /api/v1/login"} {
		if want == "" || !strings.Contains(banner.String(), want) {
			t.Fatalf("the banner lacks %q:\n%s", want, banner.String())
		}
	}
	if ws.AgentEmail == ws.AdminEmail || ws.AgentPassword == "" {
		t.Fatalf("no separate agent login: %+v", ws)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, addr) }()
	defer func() { stop(); <-done }()
	for i := 0; ; i++ {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if i > 100 {
			t.Fatal("the dev server did not answer /healthz")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The customer's curl, then a reply in the console's name.
	var in struct {
		ConversationID int64 `json:"conversation_id"`
	}
	if c := call(t, http.MethodPost, fmt.Sprintf("%s/api/v1/inboxes/%d/messages", base, ws.ChatInboxID), ws.AdminAPIToken,
		map[string]any{"contact": map[string]string{"email": "pat@example.com", "name": "Pat Lee"}, "content": "Hi! I was charged twice."}, &in); c != http.StatusCreated {
		t.Fatalf("the customer's message got %d", c)
	}
	var created struct {
		Message struct {
			ID int64 `json:"id"`
		} `json:"message"`
	}
	if c := call(t, http.MethodPost, fmt.Sprintf("%s/api/v1/conversations/%d/messages", base, in.ConversationID), ws.AgentAPIToken,
		map[string]any{"content": "Sorry, Pat: the second charge is refunded."}, &created); c != http.StatusCreated || created.Message.ID == 0 {
		t.Fatalf("the agent's reply got %d, %+v", c, created)
	}
	reply := created.Message

	// The reply, and the seeded replies before it, at the receiver.
	var got *devreceiver.Delivery
	var all []devreceiver.Delivery
	posted := time.Now()
	deadline := posted.Add(90 * time.Second)
	for got == nil || len(all) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the reply and the seeded replies did not reach the receiver in %v: %d deliveries, the reply's: %v", time.Since(posted), len(all), got)
		}
		time.Sleep(100 * time.Millisecond)
		var page struct{ Deliveries []devreceiver.Delivery }
		if c := call(t, http.MethodGet, base+devreceiver.PagePath+"?format=json", "", nil, &page); c != http.StatusOK {
			t.Fatalf("the receiver page got %d", c)
		}
		all = page.Deliveries
		for i := range all {
			if all[i].MessageID == reply.ID {
				got = &all[i]
			}
		}
	}
	t.Logf("the reply reached the receiver %v after it was posted, with %d deliveries", time.Since(posted).Round(time.Millisecond), len(all))
	if got.Content != "Sorry, Pat: the second charge is refunded." || got.ConversationID != in.ConversationID || got.Contact != "Pat Lee" {
		t.Fatalf("the reply reached the receiver as %+v", got)
	}

	// Recorded as sent on the message; every outgoing message of the demo's
	// chat leaves pending once the outbox has worked it.
	var conv struct {
		Messages []struct {
			ID             int64   `json:"id"`
			DeliveryStatus *string `json:"delivery_status"`
		} `json:"messages"`
	}
	for {
		call(t, http.MethodGet, fmt.Sprintf("%s/api/v1/conversations/%d", base, in.ConversationID), ws.AdminAPIToken, nil, &conv)
		sent := false
		for _, m := range conv.Messages {
			sent = sent || m.ID == reply.ID && m.DeliveryStatus != nil && *m.DeliveryStatus == "sent"
		}
		if sent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reply is not recorded as sent: %+v", conv)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A second start with the kept data shows the same logins.
	var again strings.Builder
	if _, ws2, err := devApp(ctx, cfg, dir, &again); err != nil || ws2.AdminPassword != ws.AdminPassword ||
		!strings.Contains(again.String(), ws.AgentPassword) || !strings.Contains(again.String(), "earlier run") {
		t.Fatalf("second start: %v\n%s", err, again.String())
	}
}
