package dnsserver

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

func TestSelfNames(t *testing.T) {
	e := newEnv(t, envOptions{
		selfNames: []string{"mapmesh.internal", "Data-Mapmesh.Internal.", "bad*name"},
		selfAddrs: []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("fd00::5")},
	})
	// A namespace with the self name, and one above it with a service
	// named like the other self name: the self names win.
	ctx := e.ctx
	ns := e.privateNS(ctx, "mapmesh.internal", "vpc-1")
	e.register(ctx, e.service(ctx, ns, "web", svcOpts{records: []string{"A:60"}}), "w1", "AWS_INSTANCE_IPV4=10.1.0.1")
	up := e.privateNS(ctx, "internal", "vpc-1")
	e.register(ctx, e.service(ctx, up, "data-mapmesh", svcOpts{records: []string{"A:60"}}), "d1", "AWS_INSTANCE_IPV4=10.1.0.2")
	e.register(ctx, e.service(ctx, up, "other", svcOpts{records: []string{"A:60"}}), "o1", "AWS_INSTANCE_IPV4=10.1.0.3")
	e.sync()

	soa := rr("mapmesh.internal. 60 IN SOA ns1.mapmesh.invalid. hostmaster.mapmesh.invalid. 1 7200 900 1209600 60")
	dataSOA := rr("data-mapmesh.internal. 60 IN SOA ns1.mapmesh.invalid. hostmaster.mapmesh.invalid. 1 7200 900 1209600 60")
	cases := []dnsCase{
		{name: "A", Qname: "mapmesh.internal.", Qtype: dns.TypeA, Answer: []dns.RR{rr("mapmesh.internal. 60 IN A 10.0.0.5")}},
		{name: "AAAA", Qname: "mapmesh.internal.", Qtype: dns.TypeAAAA, Answer: []dns.RR{rr("mapmesh.internal. 60 IN AAAA fd00::5")}},
		{name: "data- name, any case", Qname: "DATA-mapmesh.internal.", Qtype: dns.TypeA,
			Answer: []dns.RR{rr("DATA-mapmesh.internal. 60 IN A 10.0.0.5")}},
		{name: "SOA", Qname: "data-mapmesh.internal.", Qtype: dns.TypeSOA, Answer: []dns.RR{dataSOA}},
		{name: "NS", Qname: "mapmesh.internal.", Qtype: dns.TypeNS, Answer: []dns.RR{rr("mapmesh.internal. 172800 IN NS ns1.mapmesh.invalid.")}},
		{name: "ANY", Qname: "mapmesh.internal.", Qtype: dns.TypeANY, Answer: []dns.RR{soa,
			rr("mapmesh.internal. 172800 IN NS ns1.mapmesh.invalid."), rr("mapmesh.internal. 60 IN A 10.0.0.5"),
			rr("mapmesh.internal. 60 IN AAAA fd00::5")}},
		{name: "NODATA", Qname: "mapmesh.internal.", Qtype: dns.TypeTXT, Ns: []dns.RR{soa}},
		{name: "nothing below a self name", Qname: "web.mapmesh.internal.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		{name: "the namespace above still answers", Qname: "other.internal.", Qtype: dns.TypeA,
			Answer: []dns.RR{rr("other.internal. 60 IN A 10.1.0.3")}},
		{name: "a bad name is left out", Qname: "bad*name.", Qtype: dns.TypeA, Rcode: dns.RcodeRefused, NotAuth: true},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tc := range cases {
			t.Run(network+"/"+tc.name, func(t *testing.T) {
				e.t = t
				check(t, e, network, tc)
			})
		}
	}
}

func TestSelfNamesIPv4Only(t *testing.T) {
	e := newEnv(t, envOptions{selfNames: []string{"api.mapmesh.test"}, selfAddrs: []netip.Addr{netip.MustParseAddr("::ffff:127.0.0.1")}})
	soa := rr("api.mapmesh.test. 60 IN SOA ns1.mapmesh.invalid. hostmaster.mapmesh.invalid. 1 7200 900 1209600 60")
	for _, tc := range []dnsCase{
		{name: "A of a mapped address", Qname: "api.mapmesh.test.", Qtype: dns.TypeA, Answer: []dns.RR{rr("api.mapmesh.test. 60 IN A 127.0.0.1")}},
		{name: "no AAAA", Qname: "api.mapmesh.test.", Qtype: dns.TypeAAAA, Ns: []dns.RR{soa}},
		{name: "a parent is not served", Qname: "mapmesh.test.", Qtype: dns.TypeA, Rcode: dns.RcodeRefused, NotAuth: true},
	} {
		t.Run(tc.name, func(t *testing.T) { check(t, e, "udp", tc) })
	}
}

func TestCheckSelfName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"mapmesh.internal", true}, {"mapmesh.internal.", true}, {"data-mapmesh", true}, {"x_y.z", true},
		{"", false}, {"a..b", false}, {"a b", false}, {".", false}, {string(make([]byte, 64)) + ".x", false},
	} {
		if err := CheckSelfName(tc.name); (err == nil) != tc.ok {
			t.Errorf("CheckSelfName(%q) = %v; want ok %v", tc.name, err, tc.ok)
		}
	}
}
