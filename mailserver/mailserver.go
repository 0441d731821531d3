// Package mailserver is the inbound SMTP listener of `deskwoot serve`
// (DESKWOOT_SMTP_ADDR): it accepts mail for the inbound addresses of email
// inboxes, parses it, and hands it to desk.IncomingEmail. Unknown
// recipients are refused at RCPT, before any data is taken. Mail is
// limited per connecting address and per inbox: past a limit the answer
// is a temporary 451, which the sending server retries later.
package mailserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/throttle"
)

// DefaultMaxBytes bounds one message (10 MiB).
const DefaultMaxBytes = 10 << 20

// Config configures the listener.
type Config struct {
	Desk *desk.Desk
	// Domain is the name the server greets with (EHLO); "localhost" when empty.
	Domain string
	// MaxBytes bounds a message (DefaultMaxBytes when 0); larger ones are
	// refused with 552.
	MaxBytes int64
	// MaxRecipients bounds RCPT commands per message (50 when 0).
	MaxRecipients int
	// MailsPerAddress is how many mails one connecting address may send a
	// minute (DESKWOOT_SMTP_MAILS_PER_ADDRESS, DefaultMailsPerAddress when
	// 0), counted at MAIL; MailsPerInbox is how many one inbox may receive
	// a minute from all senders together (DESKWOOT_SMTP_MAILS_PER_INBOX,
	// DefaultMailsPerInbox when 0), counted at RCPT. A third of a minute's
	// worth may come at once.
	MailsPerAddress, MailsPerInbox int
	// Now is the limits' clock (time.Now when nil).
	Now    func() time.Time
	Logger *slog.Logger
}

// Default inbound limits. Mail to a help desk is written by people: a
// customer's address or a workspace's forwarding relay sends a few mails a
// minute, so 30 a minute per address (10 at once) never holds back real
// mail, while a flood (300 mails in a second from one address) is slowed
// to a trickle. One inbox takes 120 a minute (40 at once, about 170,000 a
// day), far above a busy support mailbox, so that a flood spread over many
// addresses fills one inbox's budget and not the server. Past a limit the
// sender's server keeps the mail and retries: mail is delayed, never lost.
const (
	DefaultMailsPerAddress = 30
	DefaultMailsPerInbox   = 120
)

// Server is the SMTP listener.
type Server struct {
	cfg  Config
	smtp *smtp.Server
	// perAddress and perInbox are the limits' buckets, in this process's
	// memory (N replicas allow up to N times a limit); idle buckets are
	// forgotten, so memory follows the senders of the last minutes.
	perAddress, perInbox *throttle.Throttle
}

// New builds a server; Serve runs it on a listener.
func New(cfg Config) *Server {
	if cfg.Domain == "" {
		cfg.Domain = "localhost"
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxRecipients <= 0 {
		cfg.MaxRecipients = 50
	}
	if cfg.MailsPerAddress <= 0 {
		cfg.MailsPerAddress = DefaultMailsPerAddress
	}
	if cfg.MailsPerInbox <= 0 {
		cfg.MailsPerInbox = DefaultMailsPerInbox
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, perAddress: perMinute(cfg.MailsPerAddress), perInbox: perMinute(cfg.MailsPerInbox)}
	srv := smtp.NewServer(s)
	srv.Domain = cfg.Domain
	srv.MaxMessageBytes = cfg.MaxBytes
	srv.MaxRecipients = cfg.MaxRecipients
	srv.ReadTimeout = 60 * time.Second
	srv.WriteTimeout = 60 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	s.smtp = srv
	return s
}

// Serve accepts connections on l until Close.
func (s *Server) Serve(l net.Listener) error {
	err := s.smtp.Serve(l)
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops accepting and closes open sessions.
func (s *Server) Close() error { return s.smtp.Close() }

// perMinute is a bucket of n mails a minute, a third of them at once.
func perMinute(n int) *throttle.Throttle {
	return throttle.New(time.Minute/time.Duration(n), max(1, n/3))
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: s, sender: senderKey(c.Conn().RemoteAddr())}, nil
}

// senderKey is "one address" for the per-address limit: the peer's IP;
// IPv6 counts by its /64, which one host usually holds whole.
func senderKey(a net.Addr) string {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return a.String()
	}
	ip := ap.Addr().Unmap().WithZone("")
	if ip.Is6() {
		return netip.PrefixFrom(ip, 64).Masked().String()
	}
	return ip.String()
}

// tooMany is the answer past a limit: 451 4.7.1, temporary, so the
// sending server keeps the mail and retries after wait.
func tooMany(what string, wait time.Duration) error {
	secs := int64((wait + time.Second - 1) / time.Second)
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1},
		Message: what + "; try again in " + strconv.FormatInt(secs, 10) + " seconds"}
}

type recipient struct {
	address       string
	acct, inboxID int64
}

type session struct {
	s      *Server
	sender string // the connecting address, as the per-address limit counts it
	from   string
	rcpts  []recipient
}

func (ss *session) Reset() { ss.from, ss.rcpts = "", nil }

func (ss *session) Logout() error { return nil }

// Mail spends one of the connecting address's mails, before anything is
// looked up.
func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if wait := ss.s.perAddress.Take(ss.sender, ss.s.cfg.Now()); wait > 0 {
		ss.s.cfg.Logger.Debug("smtp: mail deferred: per-address limit", "sender", ss.sender)
		return tooMany("Too many mails from "+ss.sender, wait)
	}
	ss.from = from
	return nil
}

// Rcpt accepts only addresses an email inbox receives on, and spends one
// of that inbox's mails: a full inbox defers its recipient alone, so the
// same mail still reaches the others.
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	acct, inboxID, err := ss.s.cfg.Desk.EmailInbox(ctx, to)
	if errors.Is(err, desk.ErrNotFound) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such mailbox here"}
	}
	if err != nil {
		ss.s.cfg.Logger.Error("smtp: recipient look-up", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure; try again later"}
	}
	for _, r := range ss.rcpts {
		if r.inboxID == inboxID && r.acct == acct {
			return nil // the same inbox twice takes the mail once
		}
	}
	if wait := ss.s.perInbox.Take(strconv.FormatInt(acct, 10)+"/"+strconv.FormatInt(inboxID, 10), ss.s.cfg.Now()); wait > 0 {
		ss.s.cfg.Logger.Debug("smtp: mail deferred: per-inbox limit", "account_id", acct, "inbox_id", inboxID)
		return tooMany("Too many mails for "+to+" right now", wait)
	}
	ss.rcpts = append(ss.rcpts, recipient{address: to, acct: acct, inboxID: inboxID})
	return nil
}

// Data parses the mail and records it in every recipient inbox. A database
// failure answers 451, so the sending relay retries; the Message-ID makes
// the retry land once.
func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r) // bounded by MaxMessageBytes: larger data fails with 552
	if err != nil {
		return err
	}
	in, err := Parse(bytes.NewReader(raw))
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Cannot parse message: " + err.Error()}
	}
	if in.From == "" {
		in.From = ss.from
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, rc := range ss.rcpts {
		_, err := ss.s.cfg.Desk.IncomingEmail(ctx, rc.acct, rc.inboxID, in)
		if errors.Is(err, desk.ErrInvalid) {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: fault.From(err).Sentence}
		}
		if err != nil {
			ss.s.cfg.Logger.Error("smtp: record incoming mail", "account_id", rc.acct, "inbox_id", rc.inboxID, "err", err)
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: fmt.Sprintf("Temporary failure for %s; try again later", rc.address)}
		}
	}
	return nil
}
