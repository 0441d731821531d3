package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/dbtest"
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
// the admin's and the agent's logins and the test page of the demo's
// Website chat; that page, on another origin, embeds the widget, whose API
// admits it; a visitor's message arrives; a reply in the console's name is
// recorded as sent with no webhook (the widget streams it), as are the
// seeded replies; a second start shows the same logins.
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
	srv, site, ws, err := devApp(ctx, cfg, dir, &banner)
	if err != nil {
		t.Fatal(err)
	}
	if site == nil {
		t.Fatalf("no test page:\n%s", banner.String())
	}
	defer site.Close()
	for _, want := range []string{ws.AdminEmail, ws.AdminPassword, ws.AgentEmail, ws.AgentPassword, ws.MCPToken, site.URL(),
		fmt.Sprintf("%s/api/v1/inboxes/%d/messages", base, ws.ChatInboxID),
		"Settings → Connectors", "mcp-remote", "openclaw mcp add deskwoot", "POST /api/v1/login"} {
		if want == "" || !strings.Contains(banner.String(), want) {
			t.Fatalf("the banner lacks %q:\n%s", want, banner.String())
		}
	}
	if ws.AgentEmail == ws.AdminEmail || ws.AgentPassword == "" || site.Origin() == base {
		t.Fatalf("no separate agent login, or the page is on the server's origin: %+v %s", ws, site.Origin())
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

	// The test page embeds the snippet; the widget's API admits its origin.
	res, err := http.Get(site.URL())
	if err != nil {
		t.Fatal(err)
	}
	pageBody, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(`<script src="` + regexp.QuoteMeta(base) + `/widget.js" data-deskwoot-inbox="(wi_[A-Z0-9]+)" async></script>`).FindSubmatch(pageBody)
	if m == nil {
		t.Fatalf("the test page lacks the snippet:\n%s", pageBody)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/widget/v1/"+string(m[1])+"/messages", strings.NewReader(`{"content":"Hi! I was charged twice."}`))
	req.Header.Set("Origin", site.Origin())
	req.Header.Set("Content-Type", "application/json")
	res, err = http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("the visitor's message: %v %v", err, res)
	}
	var visitor struct {
		Message struct {
			ID int64 `json:"id"`
		} `json:"message"`
	}
	json.NewDecoder(res.Body).Decode(&visitor)
	res.Body.Close()

	// The conversation it landed in, as the console's REST sees it.
	var list struct {
		Conversations []struct {
			ID int64 `json:"id"`
		} `json:"conversations"`
	}
	call(t, http.MethodGet, fmt.Sprintf("%s/api/v1/conversations?inbox_id=%d&limit=1", base, ws.ChatInboxID), ws.AdminAPIToken, nil, &list)
	if len(list.Conversations) == 0 {
		t.Fatal("the visitor's conversation is not in the inbox")
	}
	in := struct{ ConversationID int64 }{list.Conversations[0].ID}
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
	posted := time.Now()
	deadline := posted.Add(90 * time.Second)

	// Recorded as sent on the message, with no webhook: the widget streams
	// it.
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
	_, site2, ws2, err := devApp(ctx, cfg, dir, &again)
	if site2 != nil {
		site2.Close()
	}
	if err != nil || site2 == nil || ws2.AdminPassword != ws.AdminPassword ||
		!strings.Contains(again.String(), ws.AgentPassword) || !strings.Contains(again.String(), "earlier run") {
		t.Fatalf("second start: %v\n%s", err, again.String())
	}
}
