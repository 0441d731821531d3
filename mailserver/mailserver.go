// Package mailserver is the inbound SMTP listener of `deskwoot serve`
// (DESKWOOT_SMTP_ADDR): it accepts mail for the inbound addresses of email
// inboxes, parses it, and hands it to desk.IncomingEmail. Unknown
// recipients are refused at RCPT, before any data is taken.
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
	"time"

	"github.com/emersion/go-smtp"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/fault"
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
	Logger        *slog.Logger
}

// Server is the SMTP listener.
type Server struct {
	cfg  Config
	smtp *smtp.Server
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
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg}
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

// NewSession implements smtp.Backend.
func (s *Server) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &session{s: s}, nil
}

type recipient struct {
	address       string
	acct, inboxID int64
}

type session struct {
	s     *Server
	from  string
	rcpts []recipient
}

func (ss *session) Reset() { ss.from, ss.rcpts = "", nil }

func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}

// Rcpt accepts only addresses an email inbox receives on.
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
