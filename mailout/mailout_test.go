package mailout_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/rivertype"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/devmail"
	"github.com/deskwoot/deskwoot/mailout"
	"github.com/deskwoot/deskwoot/outbox"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

var queueSeq atomic.Int64

// fastRetry retries failed jobs after 50ms, so that a test sees River's
// retries without waiting for its real backoff.
type fastRetry struct{}

func (fastRetry) NextRetry(*rivertype.JobRow) time.Time { return time.Now().Add(50 * time.Millisecond) }

// lockedBuffer collects a logger's output from the workers' goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// rig is one tenant whose people mail goes through relay, worked by an
// outbox on queues of its own (other tests' and packages' workers never
// take its jobs).
type rig struct {
	dbtest.Tenant
	d    *desk.Desk
	m    *mailout.Mailer
	logs *lockedBuffer
}

func newRig(t *testing.T, relay *mailout.Relay, tlsCfg *tls.Config, maxAttempts int) rig {
	t.Helper()
	r := rig{Tenant: dbtest.NewTenant(t), d: &desk.Desk{DB: dbtest.App(t)}, logs: &lockedBuffer{}}
	n := queueSeq.Add(1)
	m, err := mailout.New(mailout.Config{DB: r.d.DB, Desk: r.d, Relay: relay, TLS: tlsCfg, MaxAttempts: maxAttempts,
		Queue: fmt.Sprintf("test_mail_%d_%d", os.Getpid(), n), Timeout: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	r.d.Mail, r.m = m, m
	ob, err := outbox.New(outbox.Config{DB: r.d.DB, Desk: r.d, Queue: fmt.Sprintf("test_outbox_%d_%d", os.Getpid(), n),
		Also: []outbox.JobKinds{m}, RetryPolicy: fastRetry{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := ob.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-ob.Stopped() })
	return r
}

// enqueue writes a mail and its job in one transaction, as desk does.
func (r rig) enqueue(t *testing.T, to, subject, body string) int64 {
	t.Helper()
	ctx := context.Background()
	var id int64
	err := r.d.DB.InTenant(ctx, r.Account.ID, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO people_mail (account_id, kind, to_address, subject, body, message_token)
			VALUES ($1, 'invitation', $2, $3, $4, $5) RETURNING id`, r.Account.ID, to, subject, body, rand.Text()).Scan(&id); err != nil {
			return err
		}
		return r.m.EnqueueMail(ctx, tx, r.Account.ID, id)
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// row reads a mail's state as the database keeps it.
func (r rig) row(t *testing.T, id int64) (status, lastError string, body *string) {
	t.Helper()
	ctx := context.Background()
	err := r.d.DB.InTenant(ctx, r.Account.ID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT status, last_error, body FROM people_mail WHERE id = $1`, id).Scan(&status, &lastError, &body)
	})
	if err != nil {
		t.Fatal(err)
	}
	return status, lastError, body
}

// waitStatus waits for a mail to leave pending.
func (r rig) waitStatus(t *testing.T, id int64, want string) (lastError string, body *string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, le, b := r.row(t, id)
		if st == want {
			return le, b
		}
		if time.Now().After(deadline) {
			t.Fatalf("mail %d is %s (last error %q), want %s", id, st, le, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func relayFor(t *testing.T, url string) *mailout.Relay {
	t.Helper()
	r, err := mailout.ParseRelay(url, "Deskwoot <desk@deskwoot.test>")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMailGoesThroughTheRelayOnceWithARandomMessageID(t *testing.T) {
	t.Parallel()
	box, err := devmail.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	r := newRig(t, relayFor(t, box.RelayURL()), nil, 0)
	link := "http://desk.test/invite/" + strings.Repeat("abcdefghij", 8) // longer than a quoted-printable line
	id := r.enqueue(t, "ann@customer.test", "You are invited to Acme", "Join here:\n"+link+"\n")
	m, ok := box.Wait(10*time.Second, func(m devmail.Mail) bool { return m.Subject == "You are invited to Acme" })
	if !ok {
		t.Fatal("no mail reached the relay")
	}
	if !strings.Contains(m.Body, link) || len(m.To) != 1 || m.To[0] != "ann@customer.test" || m.From != "desk@deskwoot.test" {
		t.Fatalf("mail = from %s to %v, body %q", m.From, m.To, m.Body)
	}
	// The Message-ID is deskwoot-mail-<26 base32 characters: 130 random bits>@the From domain.
	tok, ok := strings.CutPrefix(m.MessageID, "deskwoot-mail-")
	if !ok || !strings.HasSuffix(tok, "@deskwoot.test") || len(strings.TrimSuffix(tok, "@deskwoot.test")) != 26 {
		t.Fatalf("Message-ID = %q", m.MessageID)
	}
	_, body := r.waitStatus(t, id, desk.MailSent)
	if body != nil {
		t.Fatalf("the body (with its link) is still stored after sending: %q", *body)
	}
	// A second job for the same mail (a repeat) sends nothing.
	ctx := context.Background()
	if err := r.d.DB.InTenant(ctx, r.Account.ID, func(tx pgx.Tx) error { return r.m.EnqueueMail(ctx, tx, r.Account.ID, id) }); err != nil {
		t.Fatal(err)
	}
	second := r.enqueue(t, "bob@customer.test", "Second", "x")
	r.waitStatus(t, second, desk.MailSent) // the queue has moved past the repeat
	n := 0
	for _, m := range box.Mails() {
		if m.Subject == "You are invited to Acme" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the mail was sent %d times, want once", n)
	}
}

// relayServer is a relay with STARTTLS or implicit TLS and AUTH PLAIN,
// which first answers some mails with a temporary or permanent failure.
type relayServer struct {
	srv      *smtp.Server
	addr     string
	mu       sync.Mutex
	received []string
	tlsSeen  []bool
	failNext []int // SMTP codes to answer DATA with, in turn
}

func (s *relayServer) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &relaySession{s: s, c: c}, nil
}

type relaySession struct {
	s      *relayServer
	c      *smtp.Conn
	authed bool
}

func (ss *relaySession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (ss *relaySession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "relayuser" || pass != "s3cret p@ss" {
			return errors.New("bad credentials")
		}
		ss.authed = true
		return nil
	}), nil
}
func (ss *relaySession) Mail(string, *smtp.MailOptions) error {
	if !ss.authed {
		return &smtp.SMTPError{Code: 530, Message: "authenticate first"}
	}
	return nil
}
func (ss *relaySession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (ss *relaySession) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if len(ss.s.failNext) > 0 {
		code := ss.s.failNext[0]
		ss.s.failNext = ss.s.failNext[1:]
		return &smtp.SMTPError{Code: code, Message: "not now"}
	}
	_, isTLS := ss.c.TLSConnectionState()
	ss.s.received = append(ss.s.received, string(b))
	ss.s.tlsSeen = append(ss.s.tlsSeen, isTLS)
	return nil
}
func (ss *relaySession) Reset()        {}
func (ss *relaySession) Logout() error { return nil }

// selfSigned is a certificate for localhost and the pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func startRelay(t *testing.T, implicit bool, failNext ...int) (*relayServer, *tls.Config) {
	t.Helper()
	cert, pool := selfSigned(t)
	s := &relayServer{failNext: failNext}
	s.srv = smtp.NewServer(s)
	s.srv.Domain = "localhost"
	s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicit {
		ln = tls.NewListener(ln, s.srv.TLSConfig)
	}
	s.addr = ln.Addr().String()
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s, &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

func (s *relayServer) got() ([]string, []bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.received...), append([]bool(nil), s.tlsSeen...)
}

func TestMailUsesSTARTTLSAndAuthAndRetriesATemporaryFailure(t *testing.T) {
	t.Parallel()
	relay, tlsCfg := startRelay(t, false, 451)
	_, port, _ := net.SplitHostPort(relay.addr)
	r := newRig(t, relayFor(t, "smtp://relayuser:s3cret%20p%40ss@localhost:"+port), tlsCfg, 0)
	id := r.enqueue(t, "ann@customer.test", "Reset your password", "a link")
	r.waitStatus(t, id, desk.MailSent)
	got, tlsSeen := relay.got()
	if len(got) != 1 || !tlsSeen[0] {
		t.Fatalf("relay got %d mails (over TLS: %v), want 1 over STARTTLS after one retry", len(got), tlsSeen)
	}
	logs := r.logs.String()
	if strings.Contains(logs, "s3cret") || !strings.Contains(logs, "relayuser:xxxxx@localhost") {
		t.Fatalf("the logs show the relay's password, or not the redacted relay:\n%s", logs)
	}
}

func TestMailOverImplicitTLS(t *testing.T) {
	t.Parallel()
	relay, tlsCfg := startRelay(t, true)
	_, port, _ := net.SplitHostPort(relay.addr)
	r := newRig(t, relayFor(t, "smtps://relayuser:s3cret%20p%40ss@localhost:"+port), tlsCfg, 0)
	id := r.enqueue(t, "ann@customer.test", "Hello", "body")
	r.waitStatus(t, id, desk.MailSent)
	if got, tlsSeen := relay.got(); len(got) != 1 || !tlsSeen[0] {
		t.Fatalf("relay got %d mails (over TLS: %v), want 1", len(got), tlsSeen)
	}
}

func TestMailRefusedPermanentlyIsFailedAndWiped(t *testing.T) {
	t.Parallel()
	relay, tlsCfg := startRelay(t, false, 550)
	_, port, _ := net.SplitHostPort(relay.addr)
	r := newRig(t, relayFor(t, "smtp://relayuser:s3cret%20p%40ss@localhost:"+port), tlsCfg, 0)
	id := r.enqueue(t, "nobody@customer.test", "Hello", "a single-use link")
	lastErr, body := r.waitStatus(t, id, desk.MailFailed)
	if body != nil || !strings.Contains(lastErr, "550") {
		t.Fatalf("failed mail: last error %q, body kept: %v", lastErr, body != nil)
	}
	if got, _ := relay.got(); len(got) != 0 {
		t.Fatalf("relay accepted %d mails", len(got))
	}
}

func TestMailGivesUpAfterTheLastAttempt(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every attempt fails to connect
	r := newRig(t, relayFor(t, "smtp://u:pw@"+addr), nil, 3)
	id := r.enqueue(t, "ann@customer.test", "Hello", "a link")
	lastErr, body := r.waitStatus(t, id, desk.MailFailed)
	if body != nil || !strings.Contains(lastErr, "could not connect to the mail relay") {
		t.Fatalf("last error %q, body kept %v", lastErr, body != nil)
	}
	if strings.Contains(r.logs.String(), ":pw@") {
		t.Fatal("the logs show the relay's password")
	}
}

func TestParseRelay(t *testing.T) {
	t.Parallel()
	r, err := mailout.ParseRelay("smtp://me:pa%3Ass@mail.example.com", "Desk <desk@example.com>")
	if err != nil {
		t.Fatal(err)
	}
	if r.Port != "587" || r.ImplicitTLS || r.Password != "pa:ss" || strings.Contains(r.String(), "pa") && strings.Contains(r.String(), "ss@") {
		t.Fatalf("relay = %+v, shown as %s", r, r)
	}
	if r, _ := mailout.ParseRelay("smtps://mail.example.com", "desk@example.com"); r == nil || r.Port != "465" || !r.ImplicitTLS {
		t.Fatalf("smtps relay = %+v", r)
	}
	for _, bad := range []struct{ url, from string }{
		{"http://me:secretword@mail.example.com", "desk@example.com"},
		{"smtp://me:secretword@", "desk@example.com"},
		{"smtp://me:secretword@mail.example.com/path", "desk@example.com"},
		{"smtp://me:secret word@mail example.com:x", "desk@example.com"},
		{"smtp://me:secretword@mail.example.com", ""},
		{"smtp://me:secretword@mail.example.com", "not an address"},
	} {
		if _, err := mailout.ParseRelay(bad.url, bad.from); err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseRelay(%q, %q) = %v; want an error that does not repeat the password", bad.url, bad.from, err)
		}
	}
}

// nonLoopbackIP is an address of this machine that is not loopback.
func nonLoopbackIP(t *testing.T) string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	t.Skip("this machine has no non-loopback IPv4 address")
	return ""
}

func TestMailNeverSendsThePasswordInTheClear(t *testing.T) {
	t.Parallel()
	ip := nonLoopbackIP(t)
	// A relay that offers no STARTTLS, reached at a non-loopback address.
	s := &relayServer{}
	s.srv = smtp.NewServer(s)
	s.srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Skip("cannot listen on", ip, err)
	}
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	r := newRig(t, relayFor(t, "smtp://relayuser:s3cret%20p%40ss@"+ln.Addr().String()), nil, 0)
	id := r.enqueue(t, "ann@customer.test", "Hello", "a link")
	lastErr, _ := r.waitStatus(t, id, desk.MailFailed)
	if !strings.Contains(lastErr, "offers no STARTTLS") || strings.Contains(lastErr, "s3cret") {
		t.Fatalf("last error = %q", lastErr)
	}
	if got, _ := s.got(); len(got) != 0 {
		t.Fatal("the relay received the mail over a connection that sent the password in the clear")
	}
}

// BenchmarkPasswordForgot measures what a "forgot password" request costs
// the door after its throttle, for an address someone signs in with and
// for one nobody does: the same enqueue, so the same time within noise.
func BenchmarkPasswordForgot(b *testing.B) {
	tn := dbtest.NewTenant(b)
	d := &desk.Desk{DB: dbtest.App(b)}
	m, err := mailout.New(mailout.Config{DB: d.DB, Desk: d, Relay: &mailout.Relay{Host: "127.0.0.1", Port: "1"},
		Queue: fmt.Sprintf("bench_mail_%d", os.Getpid())}) // never worked: only enqueued
	if err != nil {
		b.Fatal(err)
	}
	d.Mail = m
	for _, c := range []struct{ name, email string }{{"known", tn.User.Email}, {"unknown", "nobody-" + tn.User.Email}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if err := d.PasswordForgot(context.Background(), c.email); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
