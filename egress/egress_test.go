package egress

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
)

// last is the highest address of p.
func last(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := range b {
		hostBits := max(0, min(8, (i+1)*8-p.Bits()))
		b[i] |= byte(1<<hostBits - 1)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// TestEverySpecialPurposeBlockIsRefused walks the registry table: the first,
// the last and a middle address of every block are refused.
func TestEverySpecialPurposeBlockIsRefused(t *testing.T) {
	t.Parallel()
	for _, b := range specialPurpose {
		first, end := b.Prefix.Masked().Addr(), last(b.Prefix)
		mid := first
		for range min(8, b.Prefix.Addr().BitLen()-b.Prefix.Bits()) {
			mid = mid.Next()
		}
		for _, ip := range []netip.Addr{first, mid, end} {
			if !b.Prefix.Contains(ip) {
				t.Fatalf("%s: test address %s is outside it", b.Prefix, ip)
			}
			if got, ok := SpecialPurpose(ip); !ok {
				t.Errorf("%s (%s, %s): %s is allowed", b.Prefix, b.Name, b.RFC, ip)
			} else if got.Prefix.Bits() < b.Prefix.Bits() {
				t.Errorf("%s: %s reported in the wider %s", b.Prefix, ip, got.Prefix)
			}
		}
		if b.RFC == "" || b.Name == "" {
			t.Errorf("%s has no name or RFC", b.Prefix)
		}
	}
}

// TestSpecialPurposeAddresses: the addresses the red team used and their
// public neighbours.
func TestSpecialPurposeAddresses(t *testing.T) {
	t.Parallel()
	for addr, refused := range map[string]bool{
		"127.0.0.1":                  true,
		"0.0.0.0":                    true,
		"10.1.2.3":                   true,
		"169.254.169.254":            true, // cloud metadata
		"100.100.100.200":            true, // CGNAT-range metadata
		"198.18.0.1":                 true, // benchmarking, RFC 2544
		"198.19.255.255":             true,
		"192.0.0.171":                true,
		"240.0.0.1":                  true,
		"224.0.0.251":                true,
		"255.255.255.255":            true,
		"::1":                        true,
		"::":                         true,
		"::127.0.0.1":                true, // IPv4-compatible (::/96)
		"::ffff:127.0.0.1":           true, // IPv4-mapped loopback
		"::ffff:10.0.0.1":            true,
		"64:ff9b::a00:1":             true, // NAT64 of 10.0.0.1
		"64:ff9b::808:808":           true, // NAT64 of a public address: refused whole
		"64:ff9b:1::1":               true,
		"2002:7f00:1::1":             true, // 6to4 of 127.0.0.1
		"2001::1":                    true, // Teredo
		"2001:db8::1":                true,
		"3fff::1":                    true,
		"5f00::1":                    true,
		"fc00::1":                    true,
		"fd12:3456::1":               true,
		"fe80::1":                    true,
		"fe80::1%eth0":               true,
		"fec0::1":                    true,
		"ff02::1":                    true,
		"100::1":                     true,
		"4000::1":                    true, // reserved by the IETF, outside 2000::/3
		"8.8.8.8":                    false,
		"1.1.1.1":                    false,
		"198.17.255.255":             false,
		"198.20.0.0":                 false,
		"100.63.255.255":             false,
		"100.128.0.0":                false,
		"::ffff:8.8.8.8":             false,
		"2606:4700:4700::1111":       false,
		"2001:4860:4860::8888":       false,
		"2001:200::1":                false, // just past 2001::/23
		"2a00:1450:4001:82a::200e":   false,
		"2620:4f:8001::1":            false,
		"3fff:1000::1":               false, // just past 3fff::/20
		"2003:e0:1234::1":            false,
		"2400:cb00:2048:1::c629:d7a": false,
	} {
		_, got := SpecialPurpose(netip.MustParseAddr(addr))
		if got != refused {
			t.Errorf("%s: refused %v, want %v", addr, got, refused)
		}
	}
	if _, ok := SpecialPurpose(netip.Addr{}); !ok {
		t.Error("the invalid address is allowed")
	}
}

// TestRefusalReadsLikeAClosedPort: a refused address and a closed port give
// the same error text; only the cause (for the log) tells them apart.
func TestRefusalReadsLikeAClosedPort(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := ln.Addr().String()
	defer ln.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	ctx := context.Background()
	_, refused := Dialer{Hint: "set X"}.DialContext(ctx, "tcp", closedAddr)
	_, closedPort := Dialer{AllowPrivate: true}.DialContext(ctx, "tcp", closedAddr)
	if refused == nil || closedPort == nil {
		t.Fatalf("dials succeeded: %v, %v", refused, closedPort)
	}
	if refused.Error() != closedPort.Error() || refused.Error() != "could not connect to "+closedAddr {
		t.Errorf("refused address says %q, closed port says %q: want the same text", refused, closedPort)
	}
	if !errors.Is(refused, ErrInternalAddress) || errors.Is(closedPort, ErrInternalAddress) {
		t.Errorf("causes: refused %v, closed %v", errors.Unwrap(refused), errors.Unwrap(closedPort))
	}
	// An open port on an internal address is refused too, by name as well.
	for _, addr := range []string{open, "localhost:" + portOf(open), "0.0.0.0:" + portOf(open)} {
		if c, err := (Dialer{}).DialContext(ctx, "tcp", addr); err == nil {
			c.Close()
			t.Errorf("%s: connected", addr)
		} else if !errors.Is(err, ErrInternalAddress) || err.Error() != "could not connect to "+addr {
			t.Errorf("%s: %v (cause %v)", addr, err, errors.Unwrap(err))
		}
	}
	if c, err := (Dialer{AllowPrivate: true}).DialContext(ctx, "tcp", open); err != nil {
		t.Errorf("with private addresses allowed: %v", err)
	} else {
		c.Close()
	}
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
