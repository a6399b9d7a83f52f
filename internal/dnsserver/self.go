package dnsserver

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// Self names: names the server answers with mapmesh's own addresses
// (Config.SelfNames, SelfAddrs), so that a client whose resolver sends
// those names to mapmesh can reach mapmesh's API by name. Each name is the
// apex of a zone of its own that holds only its A and AAAA records; they
// are fixed for the life of the server and answered ahead of every Cloud
// Map namespace.

// selfTTL is the TTL of the self names' records and of their negative
// answers.
const selfTTL = 60

// CheckSelfName reports whether name can be a self name: a host-style
// domain name (letters, digits, '-' and '_' in labels of 1 to 63
// characters, 253 in all), with or without the final dot.
func CheckSelfName(name string) error {
	if !validName(strings.TrimSuffix(name, ".")) {
		return fmt.Errorf("dnsserver: %q is not a host name (letters, digits, '-' and '_' in dot-separated labels of 1-63 characters)", name)
	}
	return nil
}

// newSelfView returns the view of the self names, each answered with the
// addresses (A for IPv4, AAAA for IPv6), or nil when there is no name or
// no address. Names that CheckSelfName refuses are left out.
func newSelfView(names []string, addrs []netip.Addr) *view {
	if len(names) == 0 || len(addrs) == 0 {
		return nil
	}
	v := &view{zones: map[string]*zone{}}
	for _, n := range names {
		if CheckSelfName(n) != nil {
			continue
		}
		name := strings.ToLower(strings.TrimSuffix(n, ".")) + "."
		hdr := func(t uint16) dns.RR_Header {
			return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: selfTTL}
		}
		soa := &dns.SOA{Hdr: hdr(dns.TypeSOA), Ns: soaMname, Mbox: soaRname, Serial: 1, Refresh: soaRefresh,
			Retry: soaRetry, Expire: soaExpire, Minttl: selfTTL}
		apex := &node{}
		for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
			sb := newSetBuilder(qtype, unroutedMax, len(addrs))
			for _, a := range addrs {
				if rr := addrRR(hdr(qtype), a.Unmap().String()); rr != nil {
					sb.add(rr.String(), rr, nil, health{healthy: true})
				}
			}
			apex.sets = sb.appendTo(apex.sets)
		}
		nsRR := &dns.NS{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: nsTTL}, Ns: soaMname}
		v.zones[name] = &zone{name: name, soa: soa, neg: soa, ns: []dns.RR{nsRR}, apex: apex,
			services: map[string]*svcNode{}, ents: map[string]bool{}}
	}
	if len(v.zones) == 0 {
		return nil
	}
	return v
}
