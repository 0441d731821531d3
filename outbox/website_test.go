package outbox_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/outbox"
	"github.com/deskwoot/deskwoot/tenancy"
)

// mailSpy is a relay-less mail queue that records what desk enqueued.
type mailSpy struct {
	mu  sync.Mutex
	ids []int64
}

func (m *mailSpy) EnqueueMail(_ context.Context, _ pgx.Tx, _, mailID int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ids = append(m.ids, mailID)
	return nil
}
func (m *mailSpy) EnqueueResetRequest(context.Context, string) error { return nil }
func (m *mailSpy) EnqueueDigest(context.Context, pgx.Tx, int64, int64, time.Time) error {
	return nil
}

// websiteVisitor makes a website inbox and a visitor who wrote, and left
// an email when email is not "".
func (r rig) websiteVisitor(t *testing.T, email string) (desk.Visitor, int64) {
	t.Helper()
	ctx := context.Background()
	ib, err := r.d.InboxCreate(ctx, tenancy.For(r.Account.ID), desk.InboxInput{Name: "Website chat", Channel: "website",
		Settings: map[string]any{"allowed_origins": []any{"https://shop.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	v, m, err := r.d.WidgetMessageCreate(ctx, desk.Visitor{AccountID: r.Account.ID, InboxID: ib.ID}, "Is anyone there?")
	if err != nil {
		t.Fatal(err)
	}
	if email != "" {
		if err := r.d.WidgetNotifyEmail(ctx, v, email); err != nil {
			t.Fatal(err)
		}
	}
	var conv int64
	r.d.DB.InTenant(ctx, r.Account.ID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT conversation_id FROM messages WHERE id = $1`, m.ID).Scan(&conv)
	})
	return v, conv
}

// TestWebsiteRepliesNeedNoWebhook: a website reply is sent by storing it
// (the widget streams it): no webhook, no failure. Unseen after the
// delay, it is mailed to the address the visitor left; seen, it is not;
// without a relay the message says email is not configured.
func TestWebsiteRepliesNeedNoWebhook(t *testing.T) {
	t.Parallel()
	spy := &mailSpy{}
	r := newRig(t, outbox.Config{UnseenAfter: 300 * time.Millisecond})
	r.d.Mail = spy
	_, conv := r.websiteVisitor(t, "visitor@example.com")
	unseen := r.reply(t, conv, "We are here!")
	// A scheduled job waits for River's leader to promote it; in a full
	// test run the leader may be another package's client that just
	// stopped, until a new one is elected: a wait, not a speed test.
	waitFor(t, time.Minute, "the unseen reply to be emailed", func() bool {
		s, _ := r.status(t, unseen.ID)
		return s == "emailed"
	})
	var kind, to, body string
	r.d.DB.InTenant(context.Background(), r.Account.ID, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT kind, to_address, body FROM people_mail ORDER BY id DESC LIMIT 1`).Scan(&kind, &to, &body)
	})
	if kind != "widget_reply" || to != "visitor@example.com" || !strings.Contains(body, "We are here!") || len(spy.ids) != 1 {
		t.Fatalf("mail: %q %q %q, enqueued %v", kind, to, body, spy.ids)
	}

	// Seen in the widget before the delay: never mailed.
	v, conv2 := r.websiteVisitor(t, "other@example.com")
	seen := r.reply(t, conv2, "Seen in time")
	if err := r.d.WidgetSeen(context.Background(), v, []int64{seen.ID}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if s, _ := r.status(t, seen.ID); s != "delivered" {
		t.Fatalf("seen reply is %q, want delivered", s)
	}
	if len(spy.ids) != 1 {
		t.Fatalf("a seen reply was mailed: %v", spy.ids)
	}
}

func TestWebsiteUnseenWithoutRelaySaysSo(t *testing.T) {
	t.Parallel()
	r := newRig(t, outbox.Config{UnseenAfter: 300 * time.Millisecond})
	_, conv := r.websiteVisitor(t, "visitor@example.com")
	m := r.reply(t, conv, "Hello?")
	waitFor(t, time.Minute, "the reply to say email is not configured", func() bool { // see TestWebsiteRepliesNeedNoWebhook
		s, e := r.status(t, m.ID)
		return s == "sent" && strings.Contains(e, "email is not configured")
	})
}
