package mailserver_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/mailserver"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

type world struct {
	dbtest.Tenant
	d       *desk.Desk
	inbox   int64
	address string
	smtp    string // listener address
}

func newWorld(t *testing.T, maxBytes int64) world {
	t.Helper()
	w := world{Tenant: dbtest.NewTenant(t), d: &desk.Desk{DB: dbtest.App(t)}}
	w.address = dbtest.Unique("help") + "@In.Acme.test"
	ib, err := w.d.InboxCreate(context.Background(), w.Account.ID, desk.InboxInput{Name: "Email", Channel: "email",
		Settings: map[string]any{"from_address": "support@acme.test", "inbound_address": w.address}})
	if err != nil {
		t.Fatal(err)
	}
	w.inbox = ib.ID
	srv := mailserver.New(mailserver.Config{Desk: w.d, MaxBytes: maxBytes})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	w.smtp = ln.Addr().String()
	return w
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

func TestInboundAddressIsUniqueAcrossAccounts(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0)
	other := dbtest.NewTenant(t)
	_, err := w.d.InboxCreate(context.Background(), other.Account.ID, desk.InboxInput{Name: "Thief", Channel: "email",
		Settings: map[string]any{"inbound_address": strings.ToUpper(w.address)}})
	if !errors.Is(err, desk.ErrConflict) {
		t.Fatalf("taking another account's inbound address: %v, want a conflict", err)
	}
	acct, inbox, err := w.d.EmailInbox(context.Background(), w.address)
	if err != nil || acct != w.Account.ID || inbox != w.inbox {
		t.Fatalf("the address still routes to %d/%d (%v), want %d/%d", acct, inbox, err, w.Account.ID, w.inbox)
	}
}
