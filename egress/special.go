package egress

import "net/netip"

// Block is one special-purpose address block: refused as a destination.
type Block struct {
	Prefix netip.Prefix
	Name   string
	RFC    string
}

func block(prefix, name, rfc string) Block {
	return Block{Prefix: netip.MustParsePrefix(prefix), Name: name, RFC: rfc}
}

// specialPurpose lists every entry of the IANA IPv4 and IPv6 Special-Purpose
// Address Registries (iana-ipv4-special-registry, iana-ipv6-special-registry,
// as of 2025), and the few other blocks that are no public unicast
// destination (multicast, IPv4-compatible and site-local IPv6). Every one is
// refused, even those the registry marks globally reachable (anycast
// services no webhook or relay lives on): a destination a tenant chose has
// no business in any of them. Translation prefixes (NAT64, 6to4, Teredo)
// are refused whole, because the IPv4 address they carry may be internal.
//
// IPv4-mapped IPv6 addresses (::ffff:0:0/96, RFC 4291) are not listed: they
// are judged as the IPv4 address they carry, which is where they connect.
var specialPurpose = []Block{
	// IPv4 Special-Purpose Address Registry.
	block("0.0.0.0/8", "\"This network\"", "RFC 791 §3.2"),
	block("0.0.0.0/32", "\"This host on this network\"", "RFC 1122 §3.2.1.3"),
	block("10.0.0.0/8", "Private-Use", "RFC 1918"),
	block("100.64.0.0/10", "Shared Address Space", "RFC 6598"),
	block("127.0.0.0/8", "Loopback", "RFC 1122 §3.2.1.3"),
	block("169.254.0.0/16", "Link Local", "RFC 3927"),
	block("172.16.0.0/12", "Private-Use", "RFC 1918"),
	block("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890 §2.1"),
	block("192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335"),
	block("192.0.0.8/32", "IPv4 dummy address", "RFC 7600"),
	block("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723"),
	block("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155"),
	block("192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 §2.2"),
	block("192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 §2.2"),
	block("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737"),
	block("192.31.196.0/24", "AS112-v4", "RFC 7535"),
	block("192.52.193.0/24", "AMT", "RFC 7450"),
	block("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526"),
	block("192.168.0.0/16", "Private-Use", "RFC 1918"),
	block("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534"),
	block("198.18.0.0/15", "Benchmarking", "RFC 2544"),
	block("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737"),
	block("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737"),
	block("240.0.0.0/4", "Reserved", "RFC 1112 §4"),
	block("255.255.255.255/32", "Limited Broadcast", "RFC 8190, RFC 919 §7"),
	// IPv4 multicast (IANA IPv4 Multicast Address Space Registry).
	block("224.0.0.0/4", "Multicast", "RFC 5771"),

	// IPv6 Special-Purpose Address Registry.
	block("::1/128", "Loopback Address", "RFC 4291"),
	block("::/128", "Unspecified Address", "RFC 4291"),
	block("64:ff9b::/96", "IPv4-IPv6 Translation (NAT64)", "RFC 6052"),
	block("64:ff9b:1::/48", "IPv4-IPv6 Translation (local-use NAT64)", "RFC 8215"),
	block("100::/64", "Discard-Only Address Block", "RFC 6666"),
	block("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780"),
	block("2001::/23", "IETF Protocol Assignments", "RFC 2928"),
	block("2001::/32", "TEREDO", "RFC 4380, RFC 8190"),
	block("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723"),
	block("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155"),
	block("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665"),
	block("2001:2::/48", "Benchmarking", "RFC 5180"),
	block("2001:3::/32", "AMT", "RFC 7450"),
	block("2001:4:112::/48", "AS112-v6", "RFC 7535"),
	block("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843"),
	block("2001:20::/28", "ORCHIDv2", "RFC 7343"),
	block("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374"),
	block("2001:db8::/32", "Documentation", "RFC 3849"),
	block("2002::/16", "6to4", "RFC 3056"),
	block("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534"),
	block("3fff::/20", "Documentation", "RFC 9637"),
	block("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602"),
	block("fc00::/7", "Unique-Local", "RFC 4193, RFC 8190"),
	block("fe80::/10", "Link-Local Unicast", "RFC 4291"),
	// Not in the registry, but no public unicast destination either.
	block("::/96", "IPv4-compatible IPv6 address (deprecated)", "RFC 4291 §2.5.5.1"),
	block("fec0::/10", "Site-local (deprecated)", "RFC 3879"),
	block("ff00::/8", "Multicast", "RFC 4291 §2.7"),
}

// globalUnicast is the only IPv6 space IANA allocates for public unicast
// (IANA IPv6 Address Space registry; RFC 4291 §2.4): everything outside it
// is reserved by the IETF, so an IPv6 destination must also be in it.
var globalUnicast = netip.MustParsePrefix("2000::/3")

var outsideGlobalUnicast = Block{Prefix: globalUnicast, Name: "outside the IPv6 global unicast space", RFC: "RFC 4291 §2.4"}

// SpecialPurpose returns the most specific special-purpose block ip is in,
// and false for an address that may be connected to. An invalid address is
// refused.
func SpecialPurpose(ip netip.Addr) (Block, bool) {
	if !ip.IsValid() {
		return Block{Name: "invalid address"}, true
	}
	ip = ip.WithZone("").Unmap() // a zone would make Contains false
	found := -1
	for i, b := range specialPurpose {
		if b.Prefix.Contains(ip) && (found < 0 || b.Prefix.Bits() > specialPurpose[found].Prefix.Bits()) {
			found = i
		}
	}
	if found >= 0 {
		return specialPurpose[found], true
	}
	if ip.Is6() && !globalUnicast.Contains(ip) {
		return outsideGlobalUnicast, true
	}
	return Block{}, false
}
