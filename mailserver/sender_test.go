package mailserver

import (
	"net"
	"testing"
)

// The per-address limit counts an IPv4 host by its address and an IPv6
// host by its /64 (one host usually holds a whole /64, so counting single
// addresses would give it 2^64 budgets).
func TestSenderKey(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ addr, want string }{
		{"192.0.2.7:25", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:25", "192.0.2.7"},
		{"[2001:db8:1:2::1]:25", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff:ffff:ffff:ffff]:40000", "2001:db8:1:2::/64"},
		{"[2001:db8:1:3::1]:25", "2001:db8:1:3::/64"},
		{"[fe80::1%lo]:25", "fe80::/64"},
	} {
		a, err := net.ResolveTCPAddr("tcp", c.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := senderKey(a); got != c.want {
			t.Errorf("senderKey(%s) = %s, want %s", c.addr, got, c.want)
		}
	}
}
