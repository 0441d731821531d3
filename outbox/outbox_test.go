package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/outbox"
	"github.com/deskwoot/deskwoot/tenancy"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

var queueSeq atomic.Int64

// rig is one tenant with a desk whose outbox runs workers on a queue of
// its own, so that other tests' (and other packages') workers never take
// its jobs.
type rig struct {
	dbtest.Tenant
	d  *desk.Desk
	ob *outbox.Outbox
}

// newRig delivers to loopback receivers (the test's own servers).
func newRig(t testing.TB, cfg outbox.Config) rig {
	t.Helper()
	cfg.AllowPrivateTargets = true
	return startRig(t, cfg)
}

func startRig(t testing.TB, cfg outbox.Config) rig {
	t.Helper()
	r := rig{Tenant: dbtest.NewTenant(t), d: &desk.Desk{DB: dbtest.App(t)}}
	cfg.DB, cfg.Desk = r.d.DB, r.d
	cfg.Queue = fmt.Sprintf("test_%d_%d", os.Getpid(), queueSeq.Add(1))
	ob, err := outbox.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.d.Outbox, r.ob = ob, ob
	ctx, cancel := context.WithCancel(context.Background())
	if err := ob.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		<-ob.Stopped()
	})
	return r
}

// conversation makes an inbox with the settings and a customer conversation in it.
func (r rig) conversation(t testing.TB, channel string, settings map[string]any) (inboxID, convID int64) {
	t.Helper()
	ctx := context.Background()
	ib, err := r.d.InboxCreate(ctx, tenancy.For(r.Account.ID), desk.InboxInput{Name: "Support", Channel: channel, Settings: settings})
	if err != nil {
		t.Fatal(err)
	}
	if channel == "email" {
		res, err := r.d.IncomingEmail(ctx, r.Account.ID, ib.ID, desk.IncomingEmail{From: "Ann <ann@customer.test>",
			Subject: "Refund", MessageID: dbtest.Unique("cust") + "@customer.test", Text: "Where is my refund?"})
		if err != nil {
			t.Fatal(err)
		}
		return ib.ID, res.ConversationID
	}
	res, err := r.d.IncomingMessage(ctx, r.Account.ID, ib.ID, desk.IncomingInput{
		Contact: desk.IncomingContact{Email: "ann@customer.test", Name: "Ann"}, Content: "Where is my refund?"})
	if err != nil {
		t.Fatal(err)
	}
	return ib.ID, res.ConversationID
}

func (r rig) reply(t testing.TB, convID int64, content string) desk.Message {
	t.Helper()
	m, err := r.d.MessageCreate(context.Background(), r.Account.ID, convID, content, false,
		desk.Author{Kind: "user", UserID: r.User.ID, Name: "Agent Smith"})
	if err != nil {
		t.Fatal(err)
	}
	if m.DeliveryStatus == nil || *m.DeliveryStatus != "pending" {
		t.Fatalf("a new reply has delivery status %v, want pending", m.DeliveryStatus)
	}
	return m
}

// status reads a message's delivery status and last error.
func (r rig) status(t testing.TB, msgID int64) (status, lastErr string) {
	t.Helper()
	err := r.d.DB.InTenant(context.Background(), r.Account.ID, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT coalesce(delivery_status, ''), coalesce(delivery_error, '') FROM messages WHERE id = $1`,
			msgID).Scan(&status, &lastErr)
	})
	if err != nil {
		t.Fatal(err)
	}
	return status, lastErr
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// receiver is a webhook endpoint that records every request and answers
// from a script (then 200).
type receiver struct {
	mu       sync.Mutex
	script   []int
	requests []received
	srv      *http.Server
	ln       net.Listener
}

type received struct {
	header http.Header
	body   []byte
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	rc.mu.Lock()
	rc.requests = append(rc.requests, received{req.Header.Clone(), body})
	code := http.StatusOK
	if len(rc.script) > 0 {
		code, rc.script = rc.script[0], rc.script[1:]
	}
	rc.mu.Unlock()
	w.WriteHeader(code)
	fmt.Fprintf(w, "answer %d", code)
}

func (rc *receiver) got() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.requests...)
}

// startReceiver listens on addr ("127.0.0.1:0" for any port).
func startReceiver(t testing.TB, addr string, script ...int) *receiver {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{script: script, ln: ln}
	rc.srv = &http.Server{Handler: rc}
	go rc.srv.Serve(ln)
	t.Cleanup(func() { rc.srv.Close() })
	return rc
}

func (rc *receiver) url() string { return "http://" + rc.ln.Addr().String() + "/hooks/deskwoot" }

// downAddr is a loopback address where nothing listens (yet).
func downAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

const secret = "whsec_test_0123456789"

func TestReplyWhileReceiverIsDownIsRetriedAndDeliveredOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t, outbox.Config{})
	addr := downAddr(t)
	_, conv := r.conversation(t, "api", map[string]any{"webhook_url": "http://" + addr + "/hook", "webhook_secret": secret})
	m := r.reply(t, conv, "Your refund was sent today.")

	// The first attempt finds nobody listening and records why.
	waitFor(t, 10*time.Second, "the first failed attempt", func() bool {
		_, e := r.status(t, m.ID)
		return e != ""
	})
	if s, e := r.status(t, m.ID); s != "pending" || e != "attempt 1 of 8: could not connect to the webhook at "+addr+"; check webhook_url; retrying" {
		t.Fatalf("after the failed attempt: %s %q, want pending with the connection error", s, e)
	}
	rc := startReceiver(t, addr)
	waitFor(t, 15*time.Second, "delivery", func() bool { s, _ := r.status(t, m.ID); return s == "sent" })
	time.Sleep(1500 * time.Millisecond) // a second delivery would have arrived by now
	got := rc.got()
	if len(got) != 1 {
		t.Fatalf("receiver saw %d requests, want 1", len(got))
	}
	h, body := got[0].header, got[0].body
	if k := h.Get("Idempotency-Key"); k != outbox.IdempotencyKey(m.ID) {
		t.Errorf("Idempotency-Key %q, want %q", k, outbox.IdempotencyKey(m.ID))
	}
	if err := outbox.VerifySignature(secret, h.Get("X-Deskwoot-Timestamp"), body, h.Get("X-Deskwoot-Signature")); err != nil {
		t.Errorf("receiver cannot verify the signature: %v", err)
	}
	var p struct {
		Event        string         `json:"event"`
		Message      desk.Message   `json:"message"`
		Conversation map[string]any `json:"conversation"`
		Contact      desk.Contact   `json:"contact"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Event != "message.created" || p.Message.ID != m.ID || p.Message.Content != "Your refund was sent today." ||
		p.Conversation["id"] != float64(conv) || p.Contact.Email == nil || *p.Contact.Email != "ann@customer.test" {
		t.Errorf("payload: %s", body)
	}
	// The human view shows the outcome.
	v, err := r.d.ConversationGet(context.Background(), tenancy.For(r.Account.ID), conv, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	last, _ := json.Marshal(v.Messages[len(v.Messages)-1])
	if !strings.Contains(string(last), `"delivery_status":"sent"`) || strings.Contains(string(last), "delivery_error") {
		t.Errorf("conversation view of the reply: %s", last)
	}
}

func TestReceiverAnswering500Then200GetsOneSentWithTheSameKey(t *testing.T) {
	t.Parallel()
	r := newRig(t, outbox.Config{})
	rc := startReceiver(t, "127.0.0.1:0", http.StatusInternalServerError)
	_, conv := r.conversation(t, "api", map[string]any{"webhook_url": rc.url(), "webhook_secret": secret})
	m := r.reply(t, conv, "Retry me.")
	waitFor(t, 15*time.Second, "delivery", func() bool { s, _ := r.status(t, m.ID); return s == "sent" })
	time.Sleep(1500 * time.Millisecond)
	got := rc.got()
	if len(got) != 2 {
		t.Fatalf("receiver saw %d requests, want 2 (500, then 200)", len(got))
	}
	for _, g := range got {
		if k := g.header.Get("Idempotency-Key"); k != outbox.IdempotencyKey(m.ID) {
			t.Errorf("Idempotency-Key %q, want the same stable %q on every try", k, outbox.IdempotencyKey(m.ID))
		}
		if err := outbox.VerifySignature(secret, g.header.Get("X-Deskwoot-Timestamp"), g.body, g.header.Get("X-Deskwoot-Signature")); err != nil {
			t.Errorf("signature: %v", err)
		}
	}
	if s, e := r.status(t, m.ID); s != "sent" || e != "" {
		t.Fatalf("status %s %q, want sent with the error cleared", s, e)
	}
}

func TestReceiverAnswering400FailsAtOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t, outbox.Config{})
	rc := startReceiver(t, "127.0.0.1:0", http.StatusBadRequest, http.StatusBadRequest)
	_, conv := r.conversation(t, "api", map[string]any{"webhook_url": rc.url()})
	m := r.reply(t, conv, "You will not take this.")
	waitFor(t, 10*time.Second, "failure", func() bool { s, _ := r.status(t, m.ID); return s == "failed" })
	time.Sleep(1500 * time.Millisecond)
	if n := len(rc.got()); n != 1 {
		t.Fatalf("receiver saw %d requests, want 1 (a 400 is not retried)", n)
	}
	if _, e := r.status(t, m.ID); !strings.Contains(e, "400") || !strings.Contains(e, "answer 400") {
		t.Fatalf("delivery_error %q, want the 400 and the receiver's answer", e)
	}
	if got := rc.got()[0].header.Get("X-Deskwoot-Signature"); got != "" {
		t.Errorf("signed without a secret: %q", got)
	}
}

// TestWebhookToAnInternalAddressFailsLikeAClosedPort: under production
// defaults (no DESKWOOT_WEBHOOK_ALLOW_PRIVATE) a webhook to a live loopback
// receiver gets no request, and its delivery_error reads exactly like the
// one of a webhook to a closed port, so the error maps nothing.
func TestWebhookToAnInternalAddressFailsLikeAClosedPort(t *testing.T) {
	t.Parallel()
	prod := startRig(t, outbox.Config{MaxAttempts: 1})
	rc := startReceiver(t, "127.0.0.1:0", http.StatusOK)
	_, conv := prod.conversation(t, "api", map[string]any{"webhook_url": rc.url()})
	m := prod.reply(t, conv, "Hello from the inside?")

	dev := newRig(t, outbox.Config{MaxAttempts: 1})
	closed := downAddr(t)
	_, devConv := dev.conversation(t, "api", map[string]any{"webhook_url": "http://" + closed + "/hooks/deskwoot"})
	devM := dev.reply(t, devConv, "Anyone?")

	waitFor(t, 10*time.Second, "failures", func() bool {
		s1, _ := prod.status(t, m.ID)
		s2, _ := dev.status(t, devM.ID)
		return s1 == "failed" && s2 == "failed"
	})
	_, refused := prod.status(t, m.ID)
	_, closedPort := dev.status(t, devM.ID)
	refused = strings.ReplaceAll(refused, rc.ln.Addr().String(), "HOST:PORT")
	closedPort = strings.ReplaceAll(closedPort, closed, "HOST:PORT")
	if want := "gave up after 1 attempts: could not connect to the webhook at HOST:PORT; check webhook_url"; refused != want || closedPort != want {
		t.Fatalf("internal address: %q\nclosed port:      %q\nwant both %q", refused, closedPort, want)
	}
	if n := len(rc.got()); n != 0 {
		t.Fatalf("an internal receiver got %d requests", n)
	}
}

func TestDeliveryGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	r := newRig(t, outbox.Config{MaxAttempts: 2})
	rc := startReceiver(t, "127.0.0.1:0", 503, 503, 503)
	_, conv := r.conversation(t, "api", map[string]any{"webhook_url": rc.url()})
	m := r.reply(t, conv, "Nobody home.")
	waitFor(t, 15*time.Second, "failure", func() bool { s, _ := r.status(t, m.ID); return s == "failed" })
	if _, e := r.status(t, m.ID); !strings.Contains(e, "gave up after 2 attempts") || !strings.Contains(e, "503") {
		t.Fatalf("delivery_error %q", e)
	}
	if n := len(rc.got()); n != 2 {
		t.Fatalf("receiver saw %d requests, want 2", n)
	}
}

func TestNotesAreNotDeliveredAndMissingWebhookFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRig(t, outbox.Config{})
	_, conv := r.conversation(t, "api", nil)
	note, err := r.d.MessageCreate(ctx, r.Account.ID, conv, "internal only", true, desk.Author{Kind: "user", UserID: r.User.ID, Name: "A"})
	if err != nil {
		t.Fatal(err)
	}
	m := r.reply(t, conv, "Hello")
	waitFor(t, 10*time.Second, "failure", func() bool { s, _ := r.status(t, m.ID); return s == "failed" })
	if _, e := r.status(t, m.ID); !strings.Contains(e, "no webhook_url") {
		t.Fatalf("delivery_error %q, want it to say the inbox has no webhook_url", e)
	}
	var jobs int
	if err := dbtest.Owner(t).QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'deliver_message' AND (args->>'message_id')::bigint = $1`,
		note.ID).Scan(&jobs); err != nil {
		t.Fatal(err)
	}
	if s, _ := r.status(t, note.ID); jobs != 0 || s != "" {
		t.Fatalf("a private note got %d delivery jobs and status %q", jobs, s)
	}
}

func TestRolledBackReplyEnqueuesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRig(t, outbox.Config{})
	_, conv := r.conversation(t, "api", nil)
	var id int64
	err := r.d.DB.InTenant(ctx, r.Account.ID, func(tx pgx.Tx) error {
		m, err := r.d.MessageInsert(ctx, tx, r.Account.ID, conv, "never", false, desk.Author{Kind: "user", UserID: r.User.ID, Name: "A"})
		id = m.ID
		if err != nil {
			return err
		}
		return fmt.Errorf("roll back")
	})
	if err == nil || id == 0 {
		t.Fatalf("insert: id %d, err %v", id, err)
	}
	var jobs int
	dbtest.Owner(t).QueryRow(ctx, `SELECT count(*) FROM river_job WHERE (args->>'message_id')::bigint = $1`, id).Scan(&jobs)
	if jobs != 0 {
		t.Fatalf("%d jobs for a rolled-back message", jobs)
	}
}

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	body := []byte(`{"event":"message.created"}`)
	sig := outbox.Sign("s3cret", "1700000000", body)
	if !strings.HasPrefix(sig, "sha256=") || len(sig) != 7+64 {
		t.Fatalf("signature %q", sig)
	}
	if err := outbox.VerifySignature("s3cret", "1700000000", body, sig); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string][4]string{
		"other secret":    {"other", "1700000000", string(body), sig},
		"other timestamp": {"s3cret", "1700000001", string(body), sig},
		"other body":      {"s3cret", "1700000000", `{"event":"x"}`, sig},
		"no prefix":       {"s3cret", "1700000000", string(body), strings.TrimPrefix(sig, "sha256=")},
		"empty secret":    {"", "1700000000", string(body), outbox.Sign("", "1700000000", body)},
	} {
		if err := outbox.VerifySignature(c[0], c[1], []byte(c[2]), c[3]); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}
