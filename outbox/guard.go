package outbox

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// errPrivateTarget is a webhook whose address is on the server's own
// network: loopback, private, link-local, CGNAT or unspecified.
var errPrivateTarget = errors.New("webhook_url points at an internal address")

// publicOnlyClient is an HTTP client that refuses to connect to internal
// addresses. The check runs on the address actually dialled (after DNS and
// on every redirect), so a name that resolves inward, or rebinds, is
// refused too. An admin-set webhook URL must not become a way to reach the
// server's own network.
func publicOnlyClient(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, Control: func(network, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return err
		}
		if internal(ip) {
			return fmt.Errorf("%w (%s); set DESKWOOT_WEBHOOK_ALLOW_PRIVATE=true to deliver to internal receivers", errPrivateTarget, ip)
		}
		return nil
	}}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = dialer.DialContext
	tr.Proxy = nil // a proxy would dial on our behalf, past the check
	return &http.Client{Timeout: timeout, Transport: tr}
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func internal(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() || cgnat.Contains(ip)
}
