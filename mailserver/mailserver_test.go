package mailserver_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/mailserver"
	"github.com/deskwoot/deskwoot/tenancy"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// inboundDomain is the test server's DESKWOOT_INBOUND_DOMAIN.
const inboundDomain = "In.Deskwoot.test"

type world struct {
	dbtest.Tenant
	d       *desk.Desk
	clock   *clock
	inbox   int64
	address string // the receiving address Deskwoot assigned
	smtp    string // listener address
}

// clock is the desk's injected clock, moved by tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newWorld(t *testing.T, maxBytes int64) world {
	t.Helper()
	return newWorldWith(t, mailserver.Config{MaxBytes: maxBytes})
}

// newWorldWith starts a listener with cfg; the desk and the clock (of the
// desk and the limits) are the world's.
func newWorldWith(t *testing.T, cfg mailserver.Config) world {
	t.Helper()
	c := &clock{t: time.Now()}
	w := world{Tenant: dbtest.NewTenant(t), clock: c, d: &desk.Desk{DB: dbtest.App(t), InboundDomain: inboundDomain, Now: c.Now}}
	w.inbox, w.address = w.emailInbox(t, w.Account.ID)
	cfg.Desk, cfg.Now = w.d, c.Now
	srv := mailserver.New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	w.smtp = ln.Addr().String()
	return w
}

// emailInbox creates an email inbox in acct and returns it with the
// receiving address Deskwoot assigned.
func (w world) emailInbox(t *testing.T, acct int64) (int64, string) {
	t.Helper()
	ib, err := w.d.InboxCreate(context.Background(), tenancy.For(acct), desk.InboxInput{Name: "Email", Channel: "email",
		Settings: map[string]any{"from_address": "support@acme.test"}})
	if err != nil {
		t.Fatal(err)
	}
	if ib.InboundAddress == nil || !strings.HasSuffix(*ib.InboundAddress, "@"+strings.ToLower(inboundDomain)) {
		t.Fatalf("a new email inbox has receiving address %v, want one under %s", ib.InboundAddress, inboundDomain)
	}
	return ib.ID, *ib.InboundAddress
}

// send delivers raw mail over SMTP to rcpt.
func (w world) send(t *testing.T, rcpt, raw string) error {
	t.Helper()
	c, err := smtp.Dial(w.smtp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.SendMail("ann@customer.test", []string{rcpt}, strings.NewReader(strings.ReplaceAll(raw, "\n", "\r\n")))
}

type row struct {
	conv    int64
	content string
	source  string
	status  string
	subject string
}

func (w world) messages(t *testing.T) []row {
	t.Helper()
	var out []row
	err := w.d.DB.InTenant(context.Background(), w.Account.ID, func(tx pgx.Tx) error {
		rows, _ := tx.Query(context.Background(), `SELECT m.conversation_id, m.content, coalesce(m.source_id, ''), c.status, c.subject
			FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.inbox_id = $1 ORDER BY m.id`, w.inbox)
		var err error
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			return x, r.Scan(&x.conv, &x.content, &x.source, &x.status, &x.subject)
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mailText(id, inReplyTo, subject, body string) string {
	h := fmt.Sprintf("From: Ann Customer <ann@customer.test>\nTo: help\nSubject: %s\nMessage-ID: <%s>\n", subject, id)
	if inReplyTo != "" {
		h += fmt.Sprintf("In-Reply-To: <%s>\nReferences: <%s>\n", inReplyTo, inReplyTo)
	}
	return h + "MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=b1\n\n" +
		"--b1\nContent-Type: text/plain; charset=utf-8\n\n" + body + "\n" +
		"--b1\nContent-Type: text/html; charset=utf-8\n\n<p>HTML version</p>\n--b1--\n"
}

func TestInboundMailCreatesThenContinuesAConversation(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0)
	first := dbtest.Unique("m1") + "@customer.test"
	if err := w.send(t, strings.ToLower(w.address), mailText(first, "", "Broken login", "I cannot log in.")); err != nil {
		t.Fatal(err)
	}
	ms := w.messages(t)
	if len(ms) != 1 || ms[0].content != "I cannot log in." || ms[0].source != first || ms[0].subject != "Broken login" {
		t.Fatalf("after the first mail: %+v", ms)
	}
	// The same mail again (a relay's retry): one message.
	if err := w.send(t, w.address, mailText(first, "", "Broken login", "I cannot log in.")); err != nil {
		t.Fatal(err)
	}
	if n := len(w.messages(t)); n != 1 {
		t.Fatalf("the same Message-ID twice made %d messages", n)
	}
	// Resolve the conversation; a reply to the thread reopens and continues it.
	err := w.d.DB.InTenant(context.Background(), w.Account.ID, func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `UPDATE conversations SET status = 'resolved' WHERE id = $1`, ms[0].conv)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	second := dbtest.Unique("m2") + "@customer.test"
	if err := w.send(t, w.address, mailText(second, first, "Re: Broken login", "Still broken.")); err != nil {
		t.Fatal(err)
	}
	ms = w.messages(t)
	if len(ms) != 2 || ms[1].conv != ms[0].conv || ms[1].content != "Still broken." || ms[1].status != "open" {
		t.Fatalf("the reply did not continue the conversation: %+v", ms)
	}
	// A new mail without threading headers starts a new conversation.
	if err := w.send(t, w.address, mailText(dbtest.Unique("m3")+"@customer.test", "", "Invoice", "Where is my invoice?")); err != nil {
		t.Fatal(err)
	}
	ms = w.messages(t)
	if len(ms) != 3 || ms[2].conv == ms[0].conv || ms[2].subject != "Invoice" {
		t.Fatalf("an unthreaded mail: %+v", ms)
	}
}

func TestHTMLOnlyMailIsReducedToText(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0)
	raw := "From: ann@customer.test\nSubject: Hi\nMessage-ID: <" + dbtest.Unique("h") + "@customer.test>\nMIME-Version: 1.0\n" +
		"Content-Type: text/html; charset=utf-8\n\n<html><head><style>p{color:red}</style></head><body><p>Hello &amp; welcome</p><p>Line<br>two</p><script>alert(1)</script></body></html>\n"
	if err := w.send(t, w.address, raw); err != nil {
		t.Fatal(err)
	}
	ms := w.messages(t)
	if len(ms) != 1 || ms[0].content != "Hello & welcome\n\nLine\ntwo" {
		t.Fatalf("html mail became %q", ms[0].content)
	}
}

func TestUnknownRecipientIsRefusedAtRCPT(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0)
	c, err := smtp.Dial(w.smtp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("ann@customer.test", nil); err != nil {
		t.Fatal(err)
	}
	err = c.Rcpt("nobody-"+w.address, nil)
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 550 {
		t.Fatalf("RCPT to an unknown address: %v, want 550", err)
	}
	if err := c.Rcpt(w.address, nil); err != nil {
		t.Fatalf("RCPT to the inbox after a refusal: %v", err)
	}
}

func TestOversizedMailIsRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 4096)
	big := mailText(dbtest.Unique("big")+"@customer.test", "", "Big", strings.Repeat("x", 8000))
	// A client that declares the size (SIZE extension) is refused at MAIL.
	c, err := smtp.Dial(w.smtp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Mail("ann@customer.test", &smtp.MailOptions{Size: int64(len(big))})
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 552 {
		t.Fatalf("MAIL with SIZE=%d: %v, want 552", len(big), err)
	}
	// One that does not is cut off at the limit.
	if err := w.send(t, w.address, big); err == nil {
		t.Fatal("an oversized mail was accepted")
	}
	if n := len(w.messages(t)); n != 0 {
		t.Fatalf("%d messages from a refused mail", n)
	}
}

// rcpt is the listener's answer to RCPT TO addr (nil when accepted).
func (w world) rcpt(t *testing.T, addr string) error {
	t.Helper()
	c, err := smtp.Dial(w.smtp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("ann@customer.test", nil); err != nil {
		t.Fatal(err)
	}
	return c.Rcpt(addr, nil)
}

func refused550(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se) && se.Code == 550
}

// countIn counts the messages of an account (all its inboxes).
func countIn(t *testing.T, d *desk.Desk, acct int64) int {
	t.Helper()
	var n int
	err := d.DB.InTenant(context.Background(), acct, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT count(*) FROM messages`).Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Two workspaces never share a receiving address, cannot choose one, and
// mail to one's address never reaches the other: through the real listener.
func TestReceivingAddressesAreAssignedAndNeverShared(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := newWorld(t, 0)
	b := a // same listener and desk, another workspace
	b.Tenant = dbtest.NewTenant(t)
	b.inbox, b.address = b.emailInbox(t, b.Account.ID)
	if strings.EqualFold(a.address, b.address) {
		t.Fatalf("two workspaces got the same receiving address %s", a.address)
	}
	local := strings.Split(a.address, "@")[0]
	if len(local) < 32 {
		t.Fatalf("receiving address %s: the local part is too short to be unguessable", a.address)
	}
	// Many more inboxes: every address distinct.
	seen := map[string]bool{a.address: true, b.address: true}
	for i := 0; i < 20; i++ {
		_, addr := b.emailInbox(t, []int64{a.Account.ID, b.Account.ID}[i%2])
		if seen[addr] {
			t.Fatalf("receiving address %s issued twice", addr)
		}
		seen[addr] = true
	}

	// B cannot claim A's address, in settings or on update; nothing changes.
	for _, claim := range []any{a.address, strings.ToUpper(a.address), nil} {
		_, err := b.d.InboxCreate(ctx, tenancy.For(b.Account.ID), desk.InboxInput{Name: "Thief", Channel: "email",
			Settings: map[string]any{"inbound_address": claim}})
		if !errors.Is(err, desk.ErrInvalid) || !strings.Contains(err.Error(), "assigned by Deskwoot") {
			t.Fatalf("creating an inbox with inbound_address %v: %v, want the assigned-address refusal", claim, err)
		}
		_, err = b.d.InboxUpdate(ctx, tenancy.For(b.Account.ID), b.inbox, desk.InboxPatch{Settings: map[string]any{"inbound_address": claim}})
		if !errors.Is(err, desk.ErrInvalid) || !strings.Contains(err.Error(), b.address) {
			t.Fatalf("updating inbound_address to %v: %v, want a refusal naming %s", claim, err, b.address)
		}
	}
	for _, w := range []world{a, b} {
		acct, inbox, err := w.d.EmailInbox(ctx, strings.ToUpper(w.address))
		if err != nil || acct != w.Account.ID || inbox != w.inbox {
			t.Fatalf("%s routes to %d/%d (%v), want %d/%d", w.address, acct, inbox, err, w.Account.ID, w.inbox)
		}
	}

	// Mail to A's address lands in A only; B's in B only.
	before := countIn(t, b.d, b.Account.ID)
	if err := a.send(t, a.address, mailText(dbtest.Unique("a")+"@customer.test", "", "For A", "Hello A")); err != nil {
		t.Fatal(err)
	}
	if n := len(a.messages(t)); n != 1 {
		t.Fatalf("A has %d messages, want 1", n)
	}
	if n := countIn(t, b.d, b.Account.ID); n != before {
		t.Fatalf("A's mail reached B (%d messages, had %d)", n, before)
	}
	if err := b.send(t, b.address, mailText(dbtest.Unique("b")+"@customer.test", "", "For B", "Hello B")); err != nil {
		t.Fatal(err)
	}
	if got := b.messages(t); len(got) != 1 || got[0].content != "Hello B" {
		t.Fatalf("B's inbox: %+v", got)
	}
	if n := len(a.messages(t)); n != 1 {
		t.Fatalf("B's mail reached A (%d messages)", n)
	}

	// The same local part under another domain, a guessed one, and a
	// tenant's own address are all refused at RCPT.
	for _, addr := range []string{local + "@example.com", strings.Repeat("0", 32) + "@" + inboundDomain, "support@acme.test"} {
		if err := a.rcpt(t, addr); !refused550(err) {
			t.Fatalf("RCPT %s: %v, want 550", addr, err)
		}
	}
}

// Mail forwarded by the tenant's own mailbox: the customer in From, the
// tenant's public address in To, a rewritten (SRS) envelope sender, and our
// address only in the envelope RCPT. It lands as the customer's and threads.
func TestForwardedMailLandsAndThreads(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0)
	forward := func(id, inReplyTo, subject, body string) error {
		raw := strings.Replace(mailText(id, inReplyTo, subject, body), "To: help\n", "To: Acme Support <support@acme.test>\nX-Forwarded-To: "+w.address+"\n", 1)
		c, err := smtp.Dial(w.smtp)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.SendMail("SRS0=x1=AB=customer.test=ann@acme.test", []string{w.address}, strings.NewReader(strings.ReplaceAll(raw, "\n", "\r\n")))
	}
	first := dbtest.Unique("f1") + "@customer.test"
	if err := forward(first, "", "Order 1042", "Where is my order?"); err != nil {
		t.Fatal(err)
	}
	second := dbtest.Unique("f2") + "@customer.test"
	if err := forward(second, first, "Re: Order 1042", "Any news?"); err != nil {
		t.Fatal(err)
	}
	ms := w.messages(t)
	if len(ms) != 2 || ms[0].conv != ms[1].conv || ms[0].subject != "Order 1042" || ms[1].content != "Any news?" {
		t.Fatalf("forwarded mail: %+v", ms)
	}
	var email string
	err := w.d.DB.InTenant(context.Background(), w.Account.ID, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT ct.email FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE c.id = $1`, ms[0].conv).Scan(&email)
	})
	if err != nil || email != "ann@customer.test" {
		t.Fatalf("the conversation's contact is %q (%v), want the original sender ann@customer.test", email, err)
	}
}

// A rotated-out address keeps receiving for the grace period, then is
// refused at RCPT; the new one receives at once.
func TestRotatedAddressWorksThroughGraceThenIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, 0)
	w.d.InboundRotationGrace = 72 * time.Hour
	old := w.address
	ib, err := w.d.InboxInboundRotate(ctx, tenancy.For(w.Account.ID), w.inbox)
	if err != nil {
		t.Fatal(err)
	}
	if ib.InboundAddress == nil || *ib.InboundAddress == old {
		t.Fatalf("after rotation the address is %v (was %s)", ib.InboundAddress, old)
	}
	next := *ib.InboundAddress
	if len(ib.PreviousInboundAddresses) != 1 || ib.PreviousInboundAddresses[0].Address != old ||
		!ib.PreviousInboundAddresses[0].AcceptedUntil.Equal(w.clock.Now().Add(72*time.Hour).UTC().Truncate(time.Microsecond)) ||
		!strings.Contains(ib.ForwardingInstructions, old) {
		t.Fatalf("after rotation: previous %+v, instructions %q", ib.PreviousInboundAddresses, ib.ForwardingInstructions)
	}
	if err := w.send(t, next, mailText(dbtest.Unique("n")+"@customer.test", "", "New", "to the new address")); err != nil {
		t.Fatalf("mail to the new address: %v", err)
	}
	w.clock.Add(71 * time.Hour)
	if err := w.send(t, old, mailText(dbtest.Unique("o")+"@customer.test", "", "Old", "to the old address in grace")); err != nil {
		t.Fatalf("mail to the old address within the grace period: %v", err)
	}
	w.clock.Add(2 * time.Hour)
	if err := w.rcpt(t, old); !refused550(err) {
		t.Fatalf("RCPT to the old address after the grace period: %v, want 550", err)
	}
	if err := w.rcpt(t, next); err != nil {
		t.Fatalf("RCPT to the new address: %v", err)
	}
	if n := len(w.messages(t)); n != 2 {
		t.Fatalf("%d messages, want 2", n)
	}
	list, err := w.d.InboxList(ctx, tenancy.For(w.Account.ID), desk.Scope{}, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range list {
		if x.ID == w.inbox && (x.InboundAddress == nil || *x.InboundAddress != next || len(x.PreviousInboundAddresses) != 0) {
			t.Fatalf("after the grace period the inbox shows %v and previous %+v", x.InboundAddress, x.PreviousInboundAddresses)
		}
	}
	// An api inbox has no address to rotate.
	api, err := w.d.InboxCreate(ctx, tenancy.For(w.Account.ID), desk.InboxInput{Name: "API", Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.d.InboxInboundRotate(ctx, tenancy.For(w.Account.ID), api.ID); !errors.Is(err, desk.ErrInvalid) {
		t.Fatalf("rotating an api inbox: %v, want invalid", err)
	}
	// Another account cannot rotate it.
	other := dbtest.NewTenant(t)
	if _, err := w.d.InboxInboundRotate(ctx, tenancy.For(other.Account.ID), w.inbox); !errors.Is(err, desk.ErrNotFound) {
		t.Fatalf("rotating another account's inbox: %v, want not found", err)
	}
}
