// Package devmail is the local mailbox of `deskwoot dev`: an SMTP server on
// loopback that the people mailer (package mailout) uses as its relay, and
// that keeps every mail in memory, and the /dev/mail page that lists them,
// so that a newcomer sees what Deskwoot would send (invitations, reset
// links, notifications) without a mail account. Only `deskwoot dev` starts
// it; `deskwoot serve` never mounts the page. Tests use it as their real
// SMTP listener.
package devmail

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"
)

// Keep is how many mails the box keeps (the oldest go first).
const Keep = 200

// Mail is one received mail, decoded.
type Mail struct {
	Received  time.Time
	From      string
	To        []string
	Subject   string
	MessageID string
	// Body is the text/plain body, transfer encoding undone.
	Body string
	// Raw is the message as received.
	Raw []byte
}

// Box is a running mailbox.
type Box struct {
	srv  *smtp.Server
	addr string

	mu     sync.Mutex
	mails  []Mail
	notify chan struct{}
}

// Start listens on addr (a loopback address such as 127.0.0.1:0) and
// serves until Close.
func Start(addr string) (*Box, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	b := &Box{addr: ln.Addr().String(), notify: make(chan struct{})}
	srv := smtp.NewServer(backend{b})
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.MaxMessageBytes = 1 << 20
	srv.MaxRecipients = 10
	b.srv = srv
	go srv.Serve(ln)
	return b, nil
}

// RelayURL is the box as DESKWOOT_SMTP_RELAY_URL.
func (b *Box) RelayURL() string { return "smtp://" + b.addr }

// Close stops the server.
func (b *Box) Close() error { return b.srv.Close() }

// Mails returns the mails received, newest first.
func (b *Box) Mails() []Mail {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Mail, len(b.mails))
	for i, m := range b.mails {
		out[len(b.mails)-1-i] = m
	}
	return out
}

// Wait returns the first mail (oldest first) to match, waiting up to
// timeout for it to arrive.
func (b *Box) Wait(timeout time.Duration, match func(Mail) bool) (Mail, bool) {
	deadline := time.After(timeout)
	for {
		b.mu.Lock()
		for _, m := range b.mails {
			if match(m) {
				b.mu.Unlock()
				return m, true
			}
		}
		ch := b.notify
		b.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			return Mail{}, false
		}
	}
}

func (b *Box) add(m Mail) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mails = append(b.mails, m)
	if len(b.mails) > Keep {
		b.mails = b.mails[len(b.mails)-Keep:]
	}
	close(b.notify)
	b.notify = make(chan struct{})
}

type backend struct{ b *Box }

func (be backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{b: be.b}, nil }

type session struct {
	b    *Box
	from string
	to   []string
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = append(s.to, to); return nil }

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := decode(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Cannot parse message"}
	}
	m.Received, m.From, m.To = time.Now(), s.from, s.to
	s.b.add(m)
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// decode reads a mail's subject, Message-ID and text body.
func decode(raw []byte) (Mail, error) {
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		return Mail{}, err
	}
	m := Mail{Raw: raw}
	m.Subject, _ = mr.Header.Subject()
	m.MessageID, _ = mr.Header.MessageID()
	var body strings.Builder
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Mail{}, err
		}
		if h, ok := p.Header.(*mail.InlineHeader); ok {
			if ct, _, _ := h.ContentType(); ct == "" || ct == "text/plain" {
				b, err := io.ReadAll(io.LimitReader(p.Body, 1<<20))
				if err != nil {
					return Mail{}, err
				}
				body.Write(b)
			}
		}
	}
	m.Body = body.String()
	return m, nil
}
