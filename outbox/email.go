package outbox

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/deskwoot/deskwoot/desk"
)

// EmailMessageID is the Message-ID (without angle brackets) of an outgoing
// message sent from domain with the job's token: the same on every retry,
// so a repeat after a crash is recognisably the same mail, and replies to
// it thread back into its conversation; random (the token has 130 bits), so
// no one can name it in References without having been sent the mail.
// Jobs enqueued before tokens existed have none and keep the message-id
// form they were first tried with.
func EmailMessageID(token string, messageID int64, domain string) string {
	if token == "" {
		return "deskwoot-message-" + strconv.FormatInt(messageID, 10) + "@" + domain
	}
	return "deskwoot-" + token + "@" + domain
}

// maxReferences bounds the References header: the first message of the
// thread and the most recent ones (RFC 5322 §3.6.4 allows trimming).
const maxReferences = 20

// composeEmail builds the RFC 5322 message of an outgoing reply.
func composeEmail(dl desk.Delivery, to string, msgID string, now time.Time) ([]byte, error) {
	var h mail.Header
	h.SetDate(now)
	h.SetAddressList("From", []*mail.Address{{Name: dl.InboxName, Address: dl.Email.FromAddress}})
	h.SetAddressList("To", []*mail.Address{{Name: dl.Contact.Name, Address: to}})
	subject := dl.Conversation.Subject
	if subject == "" {
		subject = "Message from " + dl.InboxName
	}
	if len(dl.Thread) > 0 && !strings.HasPrefix(strings.ToLower(subject), "re:") {
		subject = "Re: " + subject
	}
	h.SetSubject(subject)
	h.SetMessageID(msgID)
	if n := len(dl.Thread); n > 0 {
		h.SetMsgIDList("In-Reply-To", dl.Thread[n-1:])
		refs := dl.Thread
		if n > maxReferences {
			refs = append([]string{dl.Thread[0]}, dl.Thread[n-maxReferences+1:]...)
		}
		h.SetMsgIDList("References", refs)
	}
	h.Set("Auto-Submitted", "auto-generated") // replies come from the help desk, not a person's mail client
	h.Set("Content-Type", "text/plain; charset=utf-8")
	var buf bytes.Buffer
	w, err := mail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write([]byte(dl.Message.Content)); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// sendEmail delivers through the inbox's SMTP relay. A 5xx reply is
// permanent; 4xx replies and network errors are retried.
func (o *Outbox) sendEmail(ctx context.Context, dl desk.Delivery, token string) (string, error) {
	s := dl.Email
	if s.SMTPHost == "" || s.FromAddress == "" {
		return "", permanent("email inbox %q needs smtp_host and from_address in its settings to send replies", dl.InboxName)
	}
	if dl.Contact.Email == nil || *dl.Contact.Email == "" {
		return "", permanent("contact %d has no email address to send to", dl.Contact.ID)
	}
	to := *dl.Contact.Email
	domain := s.FromAddress[strings.LastIndexByte(s.FromAddress, '@')+1:]
	msgID := EmailMessageID(token, dl.Message.ID, domain)
	raw, err := composeEmail(dl, to, msgID, dl.Message.CreatedAt)
	if err != nil {
		return "", permanent("compose mail: %v", err)
	}
	port := s.SMTPPort
	if port == 0 {
		port = 25
		if s.SMTPStartTLS {
			port = 587
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.cfg.SMTPTimeout)
	defer cancel()
	addr := net.JoinHostPort(s.SMTPHost, strconv.Itoa(port))
	conn, err := o.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", connectError{what: "the SMTP server", addr: addr, fix: "check smtp_host and smtp_port", err: err}
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	var c *smtp.Client
	if s.SMTPStartTLS {
		c, err = smtp.NewClientStartTLS(conn, &tls.Config{ServerName: s.SMTPHost})
		if err != nil {
			conn.Close()
			return "", smtpError("STARTTLS with "+addr, err)
		}
	} else {
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	c.CommandTimeout, c.SubmissionTimeout = o.cfg.SMTPTimeout, o.cfg.SMTPTimeout
	if err := c.Hello(domain); err != nil {
		return "", smtpError("HELO", err)
	}
	if s.SMTPUsername != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.SMTPUsername, s.SMTPPassword)); err != nil {
			return "", smtpError("AUTH", err)
		}
	}
	if err := c.SendMail(s.FromAddress, []string{to}, bytes.NewReader(raw)); err != nil {
		return "", smtpError("send", err)
	}
	c.Quit()
	return msgID, nil
}

// smtpError makes a 5xx reply permanent and leaves everything else to retry.
func smtpError(step string, err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code >= 500 {
		return permanent("SMTP relay refused (%s): %d %s", step, se.Code, se.Message)
	}
	return fmt.Errorf("SMTP %s: %w", step, err)
}
