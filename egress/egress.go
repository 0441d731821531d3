// Package egress is how the server reaches URLs that tenants or strangers
// chose (api-inbox webhooks, OAuth client metadata documents): an HTTP
// client that refuses internal addresses, so such a URL cannot become a way
// into the server's own network.
package egress

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrInternalAddress is a URL whose address is on the server's own network:
// loopback, private, link-local, CGNAT, multicast or unspecified.
var ErrInternalAddress = errors.New("the URL points at an internal address")

// PublicOnlyClient is an HTTP client that refuses to connect to internal
// addresses. The check runs on the address actually dialled (after DNS and
// on every redirect), so a name that resolves inward, or rebinds, is
// refused too. hint is appended to the refusal (what setting allows it).
func PublicOnlyClient(timeout time.Duration, hint string) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, Control: func(network, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return err
		}
		if Internal(ip) {
			return fmt.Errorf("%w (%s); %s", ErrInternalAddress, ip, hint)
		}
		return nil
	}}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = dialer.DialContext
	tr.Proxy = nil // a proxy would dial on our behalf, past the check
	return &http.Client{Timeout: timeout, Transport: tr}
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// Internal reports whether ip is on the server's own network.
func Internal(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() || cgnat.Contains(ip)
}
