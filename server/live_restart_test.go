package server_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/localpg"
	"github.com/deskwoot/deskwoot/migrations"
	"github.com/deskwoot/deskwoot/tenancy"
)

// TestLiveSurvivesPostgresRestart: a console tab's GET /live stays open
// while PostgreSQL stops and starts again (a private cluster of the
// test's own), and goes on from its cursor: a customer message committed
// on the other replica after the restart arrives on the same stream.
func TestLiveSurvivesPostgresRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("stops and starts a PostgreSQL cluster")
	}
	ctx := context.Background()
	c, err := localpg.Start(ctx, localpg.Options{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Stop()
		os.RemoveAll(c.Dir)
	})
	if _, err := migrations.Run(ctx, c.OwnerURL, migrations.Options{}); err != nil {
		t.Fatal(err)
	}
	f := startFleet(t, c.AppURL, 2)
	a, b := f.urls[0], f.urls[1]
	w := newWorkspace(t, a)
	session, err := identity.SessionCreate(ctx, f.apps[0].DB, tenancy.For(w.accountID), w.userID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, a+"/live", nil)
	req.AddCookie(&http.Cookie{Name: "deskwoot_session", Value: session})
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /live: %v %v", res, err)
	}
	defer res.Body.Close()
	frames := make(chan string, 100)
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "data: ") || strings.HasPrefix(line, "event: ") {
				frames <- line
			}
		}
	}()
	message := func(base, text string) int {
		status, _, _ := call("POST", fmt.Sprintf("%s/api/v1/inboxes/%d/messages", base, w.inbox), w.admin,
			map[string]any{"contact": map[string]any{"email": "cat@customer.test"}, "content": text, "source_id": text})
		return status
	}
	arrives := func(what string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case f := <-frames:
				if strings.Contains(f, `"type":"message.created"`) && strings.Contains(f, fmt.Sprintf(`"conversation_id":%d`, w.conv)) {
					return
				}
				if strings.HasPrefix(f, "event: end") {
					t.Fatalf("%s: the stream ended", what)
				}
			case <-closed:
				t.Fatalf("%s: the stream closed", what)
			case <-deadline:
				t.Fatalf("%s: no message.created on the stream", what)
			}
		}
	}
	if st := message(b, "before the restart"); st != 201 {
		t.Fatalf("message before the restart: %d", st)
	}
	arrives("before the restart")

	if err := c.Halt("fast"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // the stream's polls fail meanwhile
	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for message(b, "after the restart") != 201 {
		if time.Now().After(deadline) {
			t.Fatal("REST did not recover within 20 s of the restart")
		}
		time.Sleep(100 * time.Millisecond)
	}
	arrives("after the restart, on the stream opened before it")
}
