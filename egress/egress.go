// Package egress is how the server connects to destinations that tenants
// or strangers chose (api-inbox webhooks, email inboxes' SMTP relays, OAuth
// client metadata documents, and any later one): one Dialer that refuses
// every special-purpose address, so such a setting cannot become a way
// into the server's own network, and whose failures all read alike, so it
// cannot become a scanner of it either.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// DefaultConnectTimeout bounds DNS and the TCP handshake of one connection
// when Dialer.Timeout is zero.
const DefaultConnectTimeout = 5 * time.Second

// ErrInternalAddress is the cause of a refused connection: the address is
// in a special-purpose block (loopback, private, link-local, benchmarking,
// translation, documentation, ...; see SpecialPurpose). It is for logs
// and errors.Is; what a tenant sees is DialError's text, which is the same
// for a refused address and a closed port.
var ErrInternalAddress = errors.New("the destination is an internal address")

// Dialer connects to tenant-chosen destinations. The check runs on every
// address actually dialled (after DNS, on every redirect and every
// happy-eyeballs try), so a name that resolves inward, or rebinds, is
// refused too. The zero value refuses special-purpose addresses with
// DefaultConnectTimeout.
type Dialer struct {
	// AllowPrivate lets connections reach special-purpose addresses: the
	// operator's switch (DESKWOOT_WEBHOOK_ALLOW_PRIVATE) for development
	// and tests that deliver to loopback.
	AllowPrivate bool
	// Timeout bounds connecting (DNS and the TCP handshake).
	Timeout time.Duration
	// Hint is added to the logged cause of a refusal: which setting allows
	// the address. Tenants never see it.
	Hint string
}

// DialError is any failure to connect through a Dialer: a refused address,
// a closed port, a timeout, a name that does not resolve. Its text names
// only the address asked for, identical for all of them, so that a tenant
// cannot tell an internal address from a closed port; Unwrap gives the
// cause, for the server's log.
type DialError struct {
	Addr string // host:port as asked for
	Err  error
}

func (e *DialError) Error() string { return "could not connect to " + e.Addr }
func (e *DialError) Unwrap() error { return e.Err }

// DialContext connects like net.Dialer.DialContext, refusing special-purpose
// addresses unless AllowPrivate. Every error is a *DialError.
func (d Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	nd := net.Dialer{Timeout: d.Timeout, Control: d.control}
	if nd.Timeout <= 0 {
		nd.Timeout = DefaultConnectTimeout
	}
	conn, err := nd.DialContext(ctx, network, address)
	if err != nil {
		return nil, &DialError{Addr: address, Err: err}
	}
	return conn, nil
}

// control runs on the resolved address just before each connect.
func (d Dialer) control(_, address string, _ syscall.RawConn) error {
	if d.AllowPrivate {
		return nil
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return err
	}
	if b, ok := SpecialPurpose(ip); ok {
		hint := ""
		if d.Hint != "" {
			hint = "; " + d.Hint
		}
		return fmt.Errorf("%w: %s is in %s %s (%s)%s", ErrInternalAddress, ip, b.Prefix, b.Name, b.RFC, hint)
	}
	return nil
}

// HTTPClient is an HTTP client whose every connection goes through d, with
// timeout bounding a whole request (connect, TLS, answer and body). It uses
// no proxy: a proxy would dial on the client's behalf, past the check.
func (d Dialer) HTTPClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = d.DialContext
	tr.Proxy = nil
	return &http.Client{Timeout: timeout, Transport: tr}
}

// PublicOnlyClient is Dialer{Hint: hint}.HTTPClient(timeout): an HTTP client
// that refuses special-purpose addresses.
func PublicOnlyClient(timeout time.Duration, hint string) *http.Client {
	return Dialer{Hint: hint}.HTTPClient(timeout)
}

// Internal reports whether ip is in a special-purpose block (SpecialPurpose).
func Internal(ip netip.Addr) bool {
	_, ok := SpecialPurpose(ip)
	return ok
}
