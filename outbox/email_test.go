package outbox_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/outbox"
	"github.com/deskwoot/deskwoot/tenancy"
)

// sink is an SMTP relay on loopback that keeps what it is given.
type sink struct {
	mu   sync.Mutex
	mail []sunk
	addr *net.TCPAddr
}

type sunk struct {
	from string
	to   []string
	data []byte
}

type sinkSession struct {
	s    *sink
	from string
	to   []string
}

func (ss *sinkSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *sinkSession) Logout() error { return nil }
func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}
func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}
func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	ss.s.mail = append(ss.s.mail, sunk{ss.from, ss.to, b})
	ss.s.mu.Unlock()
	return nil
}

func startSink(t testing.TB) *sink {
	t.Helper()
	s := &sink{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }))
	srv.Domain = "relay.test"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().(*net.TCPAddr)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *sink) got() []sunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sunk(nil), s.mail...)
}

func header(t *testing.T, raw []byte) (mail.Header, string) {
	t.Helper()
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	p, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(p.Body)
	return mr.Header, string(body)
}

func TestEmailRepliesThreadThroughTheRelay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRig(t, outbox.Config{})
	relay := startSink(t)
	inbox, conv := r.conversation(t, "email", map[string]any{
		"smtp_host": "127.0.0.1", "smtp_port": relay.addr.Port, "from_address": "support@acme.test"})
	v, err := r.d.ConversationGet(ctx, tenancy.For(r.Account.ID), conv, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	first := v.Messages[0]
	customerID := sourceID(t, r, first.ID)

	m1 := r.reply(t, conv, "We sent your refund — ünïcode too.")
	waitFor(t, 15*time.Second, "first mail", func() bool { return len(relay.got()) == 1 })
	got := relay.got()[0]
	if got.from != "support@acme.test" || !slices.Equal(got.to, []string{"ann@customer.test"}) {
		t.Fatalf("envelope %s -> %v", got.from, got.to)
	}
	h, body := header(t, got.data)
	id1, _ := h.MessageID()
	irt, _ := h.MsgIDList("In-Reply-To")
	refs, _ := h.MsgIDList("References")
	subj, _ := h.Subject()
	if !randomMessageID(id1, "acme.test") || !slices.Equal(irt, []string{customerID}) || !slices.Equal(refs, []string{customerID}) ||
		subj != "Re: Refund" || strings.TrimSpace(body) != "We sent your refund — ünïcode too." {
		t.Fatalf("first reply: Message-ID %q In-Reply-To %v References %v Subject %q body %q", id1, irt, refs, subj, body)
	}
	waitFor(t, 5*time.Second, "sent", func() bool { s, _ := r.status(t, m1.ID); return s == "sent" })
	if got := sourceID(t, r, m1.ID); got != id1 {
		t.Fatalf("reply recorded with Message-ID %q, sent with %q", got, id1)
	}

	// The customer answers the reply; the answer threads into the conversation.
	res, err := r.d.IncomingEmail(ctx, r.Account.ID, inbox, desk.IncomingEmail{From: "ann@customer.test", Subject: "Re: Refund",
		MessageID: dbtest.Unique("cust2") + "@customer.test", InReplyTo: []string{id1}, References: []string{customerID, id1}, Text: "Thanks!"})
	if err != nil || res.ConversationID != conv || !res.Created {
		t.Fatalf("customer's answer: %+v %v; want it in conversation %d", res, err, conv)
	}
	answerID := sourceID(t, r, res.MessageID)

	r.reply(t, conv, "You're welcome.")
	waitFor(t, 15*time.Second, "second mail", func() bool { return len(relay.got()) == 2 })
	h, _ = header(t, relay.got()[1].data)
	id2, _ := h.MessageID()
	irt, _ = h.MsgIDList("In-Reply-To")
	refs, _ = h.MsgIDList("References")
	if !randomMessageID(id2, "acme.test") || id2 == id1 || !slices.Equal(irt, []string{answerID}) ||
		!slices.Equal(refs, []string{customerID, id1, answerID}) {
		t.Fatalf("second reply: Message-ID %q In-Reply-To %v References %v", id2, irt, refs)
	}
}

func TestEmailRelayRefusalFails(t *testing.T) {
	t.Parallel()
	r := newRig(t, outbox.Config{})
	// A relay that refuses every recipient with 550.
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return refuser{}, nil }))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, conv := r.conversation(t, "email", map[string]any{"smtp_host": "127.0.0.1", "smtp_port": ln.Addr().(*net.TCPAddr).Port,
		"from_address": "support@acme.test"})
	m := r.reply(t, conv, "bounce")
	waitFor(t, 10*time.Second, "failure", func() bool { s, _ := r.status(t, m.ID); return s == "failed" })
	if _, e := r.status(t, m.ID); !strings.Contains(e, "550") {
		t.Fatalf("delivery_error %q, want the relay's 550", e)
	}
}

type refuser struct{}

func (refuser) Reset()                               {}
func (refuser) Logout() error                        { return nil }
func (refuser) Mail(string, *smtp.MailOptions) error { return nil }
func (refuser) Data(io.Reader) error                 { return nil }
func (refuser) Rcpt(to string, _ *smtp.RcptOptions) error {
	return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user " + to}
}

// sourceID is the Message-ID a message was received or sent with.
func sourceID(t *testing.T, r rig, msgID int64) string {
	t.Helper()
	var s string
	err := r.d.DB.InTenant(context.Background(), r.Account.ID, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT coalesce(source_id, '') FROM messages WHERE id = $1`, msgID).Scan(&s)
	})
	if err != nil || s == "" {
		t.Fatalf("source id of message %d: %q %v", msgID, s, err)
	}
	return s
}

// randomMessageID reports whether id is a Message-ID of the outbox's random
// form at domain: "deskwoot-", 26 base32 characters (130 random bits).
var randomForm = regexp.MustCompile(`^deskwoot-[A-Z2-7]{26}@`)

func randomMessageID(id, domain string) bool {
	return randomForm.MatchString(id) && strings.HasSuffix(id, "@"+domain)
}

// flaky is a relay that answers the end of the first DATA with 451 (try
// again later) and takes every later mail; it keeps every DATA it read.
type flaky struct {
	sink
	refused bool
}

type flakySession struct {
	sinkSession
	f *flaky
}

func (fs *flakySession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	fs.f.mu.Lock()
	defer fs.f.mu.Unlock()
	fs.f.mail = append(fs.f.mail, sunk{fs.from, fs.to, b})
	if !fs.f.refused {
		fs.f.refused = true
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	return nil
}

// TestEmailMessageIDIsRandomAndTheSameOnEveryRetry: a mail the relay put
// off (451) is sent again with the Message-ID of the first try; that id has
// 130 random bits (no counter a stranger could name in References), differs
// between messages, and is what the reply is recorded with.
func TestEmailMessageIDIsRandomAndTheSameOnEveryRetry(t *testing.T) {
	t.Parallel()
	r := newRig(t, outbox.Config{})
	f := &flaky{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &flakySession{sinkSession: sinkSession{s: &f.sink}, f: f}, nil
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, conv := r.conversation(t, "email", map[string]any{"smtp_host": "127.0.0.1", "smtp_port": ln.Addr().(*net.TCPAddr).Port,
		"from_address": "support@acme.test"})
	m1 := r.reply(t, conv, "First.")
	waitFor(t, 15*time.Second, "the retried mail", func() bool { s, _ := r.status(t, m1.ID); return s == "sent" })
	m2 := r.reply(t, conv, "Second.")
	waitFor(t, 15*time.Second, "the second reply", func() bool { s, _ := r.status(t, m2.ID); return s == "sent" })

	got := f.got()
	if len(got) != 3 {
		t.Fatalf("relay read %d mails, want 3 (first reply twice, second once)", len(got))
	}
	var ids []string
	for _, g := range got {
		h, _ := header(t, g.data)
		id, _ := h.MessageID()
		ids = append(ids, id)
	}
	if ids[0] != ids[1] {
		t.Errorf("the retry sent Message-ID %q, the first try %q: want the same", ids[1], ids[0])
	}
	for _, id := range ids {
		if !randomMessageID(id, "acme.test") || strings.Contains(id, strconv.FormatInt(m1.ID, 10)+"@") {
			t.Errorf("Message-ID %q is not 130 random bits at acme.test", id)
		}
	}
	if ids[2] == ids[0] {
		t.Errorf("two messages share Message-ID %q", ids[0])
	}
	if src := sourceID(t, r, m1.ID); src != ids[0] {
		t.Errorf("reply recorded with Message-ID %q, sent with %q", src, ids[0])
	}
}

// TestSMTPRelayOnLocalhostIsRefusedUnderProductionDefaults: an email inbox
// whose relay is the server's own localhost gets no connection; the reply
// fails with the text a closed port gives (see also the unit-level
// TestSMTPToInternalAddressesFailsLikeAClosedPort).
func TestSMTPRelayOnLocalhostIsRefusedUnderProductionDefaults(t *testing.T) {
	t.Parallel()
	r := startRig(t, outbox.Config{MaxAttempts: 1})
	relay := startSink(t)
	_, conv := r.conversation(t, "email", map[string]any{"smtp_host": "localhost", "smtp_port": relay.addr.Port, "from_address": "support@acme.test"})
	m := r.reply(t, conv, "Hello, port scanner?")
	waitFor(t, 10*time.Second, "failure", func() bool { s, _ := r.status(t, m.ID); return s == "failed" })
	want := "gave up after 1 attempts: could not connect to the SMTP server at localhost:" + strconv.Itoa(relay.addr.Port) + "; check smtp_host and smtp_port"
	if _, e := r.status(t, m.ID); e != want {
		t.Fatalf("delivery_error %q, want %q", e, want)
	}
	if n := len(relay.got()); n != 0 {
		t.Fatalf("the relay on localhost took %d mails", n)
	}
}
