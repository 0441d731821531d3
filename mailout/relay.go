package mailout

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strings"
)

// Relay is the operator's SMTP relay (DESKWOOT_SMTP_RELAY_URL) and the
// From address of the mail Deskwoot sends people (DESKWOOT_MAIL_FROM).
// Its String never shows the password.
type Relay struct {
	// Host and Port are where to connect (Port 587 for smtp://, 465 for
	// smtps:// when the URL names none).
	Host, Port string
	// ImplicitTLS is smtps://: TLS from the first byte. smtp:// upgrades
	// with STARTTLS when the relay offers it.
	ImplicitTLS bool
	// Username and Password authenticate with AUTH PLAIN when set.
	Username, Password string
	From               *mail.Address

	redacted string
}

// ParseRelay reads the relay URL (smtp://user:pass@host:port or
// smtps://…) and the From address. Its errors never repeat the URL, which
// may carry a password.
func ParseRelay(rawURL, from string) (*Relay, error) {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil {
		return nil, errors.New("DESKWOOT_SMTP_RELAY_URL is not a URL; write it as smtp://user:password@host:587 or smtps://user:password@host:465 (percent-encode special characters in the password)")
	}
	r := &Relay{Host: u.Hostname(), Port: u.Port()}
	switch u.Scheme {
	case "smtp":
		if r.Port == "" {
			r.Port = "587"
		}
	case "smtps":
		r.ImplicitTLS = true
		if r.Port == "" {
			r.Port = "465"
		}
	default:
		return nil, errors.New("DESKWOOT_SMTP_RELAY_URL must start with smtp:// (STARTTLS when the relay offers it) or smtps:// (implicit TLS)")
	}
	if r.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("DESKWOOT_SMTP_RELAY_URL must be smtp://user:password@host:port with nothing after the port")
	}
	if u.User != nil {
		r.Username = u.User.Username()
		r.Password, _ = u.User.Password()
	}
	r.redacted = u.Redacted()
	if strings.TrimSpace(from) == "" {
		return nil, errors.New("DESKWOOT_MAIL_FROM is not set; give the address mail to people comes from, e.g. Deskwoot <desk@example.com>")
	}
	if r.From, err = mail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("DESKWOOT_MAIL_FROM %q is not an address such as Deskwoot <desk@example.com>", from)
	}
	return r, nil
}

// String is the relay URL with its password replaced by xxxxx, for logs.
func (r *Relay) String() string { return r.redacted }

// addr is the relay's host:port.
func (r *Relay) addr() string { return net.JoinHostPort(r.Host, r.Port) }

// domain is the From address's domain, which Message-IDs are made in.
func (r *Relay) domain() string {
	return r.From.Address[strings.LastIndexByte(r.From.Address, '@')+1:]
}

// loopback says the relay is on this machine, where a password may travel
// without TLS (a local MTA, deskwoot dev's mailbox).
func (r *Relay) loopback() bool {
	if r.Host == "localhost" {
		return true
	}
	ip := net.ParseIP(r.Host)
	return ip != nil && ip.IsLoopback()
}
