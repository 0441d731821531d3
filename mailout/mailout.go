// Package mailout sends the mail Deskwoot writes to people (invitations,
// password resets, notifications) through the operator's relay
// (DESKWOOT_SMTP_RELAY_URL, from DESKWOOT_MAIL_FROM).
//
// desk writes each mail as a people_mail row in the transaction that causes
// it and calls EnqueueMail there, so the job commits with the invitation
// (or reset, or notification) or not at all. The job runs on the outbox's
// River client (outbox.Config.Also), on a queue of its own, with River's
// retries and backoff.
//
// Never twice: the worker sends only a mail still pending and marks it
// sent (wiping its body, which may carry a single-use link) right after
// the relay accepted it. A crash between the relay's acceptance and that
// mark sends the mail again on the retry, with the same Message-ID (drawn
// at enqueue), so the receiving side can drop the repeat: delivery is at
// least once, and exactly once unless a worker dies in that moment.
//
// The relay is the operator's own choice, so it is not subject to the
// egress guard that fences tenants' endpoints. Its password never reaches
// a log: the relay is logged as its redacted URL, and a password is sent
// only over TLS (or to a relay on loopback).
package mailout

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/signup"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Defaults for Config's zero values.
const (
	DefaultQueue          = "people_mail"
	DefaultWorkers        = 2
	DefaultMaxAttempts    = 8
	DefaultConnectTimeout = 5 * time.Second
	DefaultTimeout        = 30 * time.Second
)

// SendArgs is the send_people_mail job: which mail of which account. It
// carries ids only; the mail itself (and any link in it) stays in the
// account's people_mail row.
type SendArgs struct {
	AccountID int64 `json:"account_id"`
	MailID    int64 `json:"mail_id"`
}

// Kind is the River job kind.
func (SendArgs) Kind() string { return "send_people_mail" }

// ResetRequestArgs is the password_reset_request job: someone asked for a
// reset link for Email. The request itself looks nothing up, so that its
// answer and its cost are the same for every address; this job does
// (desk.PasswordResetStart) and mails a link only to someone who signs in
// with it.
type ResetRequestArgs struct {
	Email string `json:"email"`
}

// Kind is the River job kind.
func (ResetRequestArgs) Kind() string { return "password_reset_request" }

// SignupArgs is the signup_confirm job: mail the link of an
// email-confirmed signup request (signup.Confirmer.Mail). It carries the
// request's id only; the link is drawn when the mail is written.
type SignupArgs struct {
	RequestID int64 `json:"request_id"`
}

// Kind is the River job kind.
func (SignupArgs) Kind() string { return "signup_confirm" }

// DigestArgs is the draft_digest job: a person's batched mail about the
// drafts that wait for their approval (desk.DigestSend).
type DigestArgs struct {
	AccountID int64 `json:"account_id"`
	UserID    int64 `json:"user_id"`
}

// Kind is the River job kind.
func (DigestArgs) Kind() string { return "draft_digest" }

// Config configures a Mailer.
type Config struct {
	DB    *tenancy.DB
	Desk  *desk.Desk
	Relay *Relay
	// Signup writes the mail of email-confirmed signups (nil: the server
	// runs open signup and enqueues none).
	Signup *signup.Confirmer
	// Queue is the River queue of the mail jobs (DefaultQueue when empty);
	// Workers how many one replica sends at once.
	Queue   string
	Workers int
	// MaxAttempts bounds the tries of one mail; after the last it is
	// marked failed and its body wiped.
	MaxAttempts int
	// ConnectTimeout bounds the TCP handshake, Timeout a whole attempt.
	ConnectTimeout time.Duration
	Timeout        time.Duration
	// TLS is the TLS configuration for the relay (tests trust their own
	// certificate); nil verifies the relay's certificate for its host.
	TLS    *tls.Config
	Logger *slog.Logger
	// Now is the clock of the Date header; time.Now when nil.
	Now func() time.Time
}

// Mailer enqueues mail jobs and works them. It implements desk.MailQueue
// and outbox.JobKinds.
type Mailer struct {
	cfg    Config
	insert *river.Client[pgx.Tx]
}

var _ desk.MailQueue = (*Mailer)(nil)

// New builds the mailer. Its workers run once it is passed to the outbox
// (outbox.Config.Also) and the outbox starts.
func New(cfg Config) (*Mailer, error) {
	if cfg.Relay == nil {
		return nil, errors.New("mailout: no relay; leave desk.Desk.Mail nil to run without mail")
	}
	if cfg.Queue == "" {
		cfg.Queue = DefaultQueue
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// An insert-only client: the outbox's client, which has the workers,
	// fetches the jobs from the same tables.
	insert, err := river.NewClient(riverpgxv5.New(cfg.DB.Pool), &river.Config{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, fmt.Errorf("mailout: %w", err)
	}
	return &Mailer{cfg: cfg, insert: insert}, nil
}

// Relay is the relay the mailer sends through.
func (m *Mailer) Relay() *Relay { return m.cfg.Relay }

// EnqueueMail inserts the job that sends a people_mail row, in the
// caller's transaction.
func (m *Mailer) EnqueueMail(ctx context.Context, tx pgx.Tx, accountID, mailID int64) error {
	_, err := m.insert.InsertTx(ctx, tx, SendArgs{AccountID: accountID, MailID: mailID},
		&river.InsertOpts{Queue: m.cfg.Queue, MaxAttempts: m.cfg.MaxAttempts})
	if err != nil {
		return fmt.Errorf("mailout: enqueue mail %d: %w", mailID, err)
	}
	return nil
}

// EnqueueResetRequest enqueues a password reset request (see
// ResetRequestArgs); the doors throttle requests per address and email.
func (m *Mailer) EnqueueResetRequest(ctx context.Context, email string) error {
	_, err := m.insert.Insert(ctx, ResetRequestArgs{Email: email}, &river.InsertOpts{Queue: m.cfg.Queue, MaxAttempts: 5})
	if err != nil {
		return fmt.Errorf("mailout: enqueue reset request: %w", err)
	}
	return nil
}

// EnqueueSignup inserts, in the caller's transaction, the job that mails
// a signup request's link.
func (m *Mailer) EnqueueSignup(ctx context.Context, tx pgx.Tx, requestID int64) error {
	_, err := m.insert.InsertTx(ctx, tx, SignupArgs{RequestID: requestID},
		&river.InsertOpts{Queue: m.cfg.Queue, MaxAttempts: m.cfg.MaxAttempts})
	if err != nil {
		return fmt.Errorf("mailout: enqueue signup mail: %w", err)
	}
	return nil
}

// EnqueueDigest inserts, in the caller's transaction, the job that sends
// a person's draft digest at at.
func (m *Mailer) EnqueueDigest(ctx context.Context, tx pgx.Tx, accountID, userID int64, at time.Time) error {
	_, err := m.insert.InsertTx(ctx, tx, DigestArgs{AccountID: accountID, UserID: userID},
		&river.InsertOpts{Queue: m.cfg.Queue, MaxAttempts: m.cfg.MaxAttempts, ScheduledAt: at})
	if err != nil {
		return fmt.Errorf("mailout: enqueue digest: %w", err)
	}
	return nil
}

// Queue is the mail jobs' queue and how many one replica works at once.
func (m *Mailer) Queue() (string, int) { return m.cfg.Queue, m.cfg.Workers }

// AddWorkers registers the mail worker on the outbox's River client.
func (m *Mailer) AddWorkers(ws *river.Workers) {
	river.AddWorker(ws, &sendWorker{m: m})
	river.AddWorker(ws, &resetWorker{m: m})
	river.AddWorker(ws, &digestWorker{m: m})
	river.AddWorker(ws, &signupWorker{m: m})
}

type signupWorker struct {
	river.WorkerDefaults[SignupArgs]
	m *Mailer
}

// Timeout bounds one attempt, as for any mail.
func (w *signupWorker) Timeout(*river.Job[SignupArgs]) time.Duration {
	return w.m.cfg.Timeout + 10*time.Second
}

// Work writes a signup request's mail with a fresh link and sends it.
// The mail lives only in this attempt (a retry draws a new link, which
// replaces the old), so nothing holding the link is left behind.
func (w *signupWorker) Work(ctx context.Context, job *river.Job[SignupArgs]) error {
	su, log := w.m.cfg.Signup, w.m.cfg.Logger
	if su == nil {
		// A replica in open mode (a rollout between modes): leave the job
		// to a confirm-mode replica, with River's retries.
		return errors.New("signup mail enqueued, but this replica runs open signup (DESKWOOT_SIGNUP)")
	}
	sm, ok, err := su.Mail(ctx, job.Args.RequestID, w.m.cfg.Now())
	switch {
	case errors.Is(err, tenancy.ErrUnavailable):
		return river.JobSnooze(time.Second)
	case err != nil:
		return err
	case !ok:
		return nil // used or expired meanwhile
	}
	err = w.m.send(ctx, desk.Mail{Kind: "signup", To: sm.To, Subject: sm.Subject, Body: sm.Body, MessageToken: sm.MessageToken, Status: desk.MailPending})
	if err == nil {
		log.Info("mailout: mail sent", "signup_request_id", job.Args.RequestID, "kind", "signup", "relay", w.m.cfg.Relay.String())
		return nil
	}
	var perm permanentError
	final := errors.As(err, &perm) || job.Attempt >= job.MaxAttempts
	log.Warn("mailout: mail not sent", "signup_request_id", job.Args.RequestID, "kind", "signup", "attempt", job.Attempt,
		"final", final, "relay", w.m.cfg.Relay.String(), "err", err)
	if final {
		return river.JobCancel(err)
	}
	return err
}

type digestWorker struct {
	river.WorkerDefaults[DigestArgs]
	m *Mailer
}

// Work writes the person's digest mail (which has a job of its own).
func (w *digestWorker) Work(ctx context.Context, job *river.Job[DigestArgs]) error {
	err := w.m.cfg.Desk.DigestSend(ctx, job.Args.AccountID, job.Args.UserID, w.m.cfg.Now())
	if errors.Is(err, tenancy.ErrUnavailable) {
		return river.JobSnooze(time.Second)
	}
	return err
}

type resetWorker struct {
	river.WorkerDefaults[ResetRequestArgs]
	m *Mailer
}

// Work looks the address up and, for someone who signs in with it, writes
// and mails a reset link (the mail has a job of its own).
func (w *resetWorker) Work(ctx context.Context, job *river.Job[ResetRequestArgs]) error {
	err := w.m.cfg.Desk.PasswordResetStart(ctx, job.Args.Email, w.m.cfg.Now())
	if errors.Is(err, tenancy.ErrUnavailable) {
		return river.JobSnooze(time.Second)
	}
	return err
}

type sendWorker struct {
	river.WorkerDefaults[SendArgs]
	m *Mailer
}

// Timeout bounds one attempt: the relay's, plus room to record it.
func (w *sendWorker) Timeout(*river.Job[SendArgs]) time.Duration {
	return w.m.cfg.Timeout + 10*time.Second
}

// Work sends one mail and records the outcome. Only a pending mail is
// sent, so a job that runs again after the mail was recorded sent sends
// nothing. A failure retries with River's backoff until the last attempt,
// when (as for a permanent failure) the mail is marked failed.
func (w *sendWorker) Work(ctx context.Context, job *river.Job[SendArgs]) error {
	acct, id := job.Args.AccountID, job.Args.MailID
	d, log := w.m.cfg.Desk, w.m.cfg.Logger
	ml, err := d.MailLoad(ctx, acct, id)
	switch {
	case errors.Is(err, desk.ErrNotFound):
		return river.JobCancel(fmt.Errorf("mail %d of account %d is gone", id, acct))
	case errors.Is(err, tenancy.ErrUnavailable):
		return river.JobSnooze(time.Second) // the database is away: no attempt spent
	case err != nil:
		return err
	}
	if ml.Status != desk.MailPending {
		return nil // sent (a repeat of the job) or given up on
	}
	err = w.m.send(ctx, ml)
	if err == nil {
		if err := d.MailRecord(ctx, acct, id, desk.MailSent, ""); err != nil {
			// Sent but not recorded: the retry sends again, with the same Message-ID.
			log.Error("mailout: mail sent but not recorded; it may be sent again", "account_id", acct, "mail_id", id, "err", err)
			return err
		}
		log.Info("mailout: mail sent", "account_id", acct, "mail_id", id, "kind", ml.Kind, "relay", w.m.cfg.Relay.String())
		return nil
	}
	var perm permanentError
	final := errors.As(err, &perm) || job.Attempt >= job.MaxAttempts
	status, text := desk.MailPending, fmt.Sprintf("attempt %d of %d: %v; retrying", job.Attempt, job.MaxAttempts, err)
	if final {
		status, text = desk.MailFailed, err.Error()
	}
	if rerr := d.MailRecord(ctx, acct, id, status, text); rerr != nil {
		log.Error("mailout: record mail failure", "account_id", acct, "mail_id", id, "err", rerr)
	}
	log.Warn("mailout: mail not sent", "account_id", acct, "mail_id", id, "kind", ml.Kind, "attempt", job.Attempt,
		"final", final, "relay", w.m.cfg.Relay.String(), "err", err)
	if final {
		return river.JobCancel(err)
	}
	return err
}

// permanentError is a failure no retry can fix (a 5xx reply from the
// relay, a relay that would need the password sent in the clear).
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// MessageID is the Message-ID of a mail (without angle brackets): random
// (the token drawn at enqueue has 130 bits) and the same on every retry.
func MessageID(token, domain string) string { return "deskwoot-mail-" + token + "@" + domain }

// compose builds the RFC 5322 message: plain text, quoted-printable (long
// links survive any relay's line limits), marked auto-generated.
func compose(r *Relay, ml desk.Mail, now time.Time) ([]byte, error) {
	var h mail.Header
	h.SetDate(now)
	h.SetAddressList("From", []*mail.Address{{Name: r.From.Name, Address: r.From.Address}})
	h.SetAddressList("To", []*mail.Address{{Address: ml.To}})
	h.SetSubject(ml.Subject)
	h.SetMessageID(MessageID(ml.MessageToken, r.domain()))
	h.Set("Auto-Submitted", "auto-generated")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	var buf bytes.Buffer
	w, err := mail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(w, ml.Body); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// send hands one mail to the relay.
func (m *Mailer) send(ctx context.Context, ml desk.Mail) error {
	r := m.cfg.Relay
	raw, err := compose(r, ml, m.cfg.Now())
	if err != nil {
		return permanentError{fmt.Errorf("compose mail: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	c, err := m.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if r.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", r.Username, r.Password)); err != nil {
			return smtpError("AUTH", err)
		}
	}
	if err := c.SendMail(r.From.Address, []string{ml.To}, bytes.NewReader(raw)); err != nil {
		return smtpError("send", err)
	}
	c.Quit()
	return nil
}

// connect opens an SMTP session with the relay: TLS from the start for
// smtps://; for smtp://, STARTTLS when the relay offers it (go-smtp
// upgrades only a fresh session, so an offer seen on a first look is
// taken on a second connection). A password never travels in the clear,
// except to a relay on loopback.
func (m *Mailer) connect(ctx context.Context) (*smtp.Client, error) {
	r := m.cfg.Relay
	tlsCfg := m.cfg.TLS
	if tlsCfg == nil {
		tlsCfg = &tls.Config{ServerName: r.Host}
	}
	if r.ImplicitTLS {
		conn, err := m.dial(ctx)
		if err != nil {
			return nil, err
		}
		return m.client(tls.Client(conn, tlsCfg)), nil
	}
	conn, err := m.dial(ctx)
	if err != nil {
		return nil, err
	}
	c := m.client(conn)
	if err := c.Hello("localhost"); err != nil {
		c.Close()
		return nil, smtpError("EHLO", err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		if r.Username != "" && !r.loopback() {
			c.Close()
			return nil, permanentError{fmt.Errorf("the relay %s offers no STARTTLS, so its password would travel in the clear; use smtps:// or a relay that offers STARTTLS", r)}
		}
		return c, nil
	}
	c.Quit()
	if conn, err = m.dial(ctx); err != nil {
		return nil, err
	}
	c, err = smtp.NewClientStartTLS(conn, tlsCfg)
	if err != nil {
		conn.Close()
		return nil, smtpError("STARTTLS", err)
	}
	m.limit(c)
	return c, nil
}

// dial connects to the relay within the connect timeout; the connection's
// deadline is the attempt's.
func (m *Mailer) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: m.cfg.ConnectTimeout}
	conn, err := d.DialContext(ctx, "tcp", m.cfg.Relay.addr())
	if err != nil {
		return nil, fmt.Errorf("could not connect to the mail relay %s: %w", m.cfg.Relay.addr(), err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	return conn, nil
}

func (m *Mailer) client(conn net.Conn) *smtp.Client {
	c := smtp.NewClient(conn)
	m.limit(c)
	return c
}

func (m *Mailer) limit(c *smtp.Client) {
	c.CommandTimeout, c.SubmissionTimeout = m.cfg.Timeout, m.cfg.Timeout
}

// smtpError makes a 5xx reply permanent and leaves everything else to
// retry.
func smtpError(step string, err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code >= 500 {
		return permanentError{fmt.Errorf("the mail relay refused (%s): %d %s", step, se.Code, se.Message)}
	}
	return fmt.Errorf("SMTP %s: %w", step, err)
}
