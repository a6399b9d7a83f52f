package dnsserver

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"

	"github.com/mapmesh/mapmesh/internal/cloudmap"
)

// dnsCase is one query and the reply it must get, CoreDNS style
// (plugin/test.Case). Records are compared as sorted strings, since
// answers come in random order.
type dnsCase struct {
	name   string
	Qname  string
	Qtype  uint16
	Qclass uint16 // IN when 0
	Rcode  int
	// NotAuth: the reply must not have aa (REFUSED).
	NotAuth bool
	Answer  []dns.RR
	Ns      []dns.RR
	Extra   []dns.RR
}

// fixture builds the zone example.local (and a few others) that the case
// table below queries, and returns the SOA serial to expect.
func fixture(e *testEnv) {
	ctx := e.ctx
	e.httpNS(ctx, "httpns")
	ns := e.privateNS(ctx, "example.local", "vpc-1")

	web := e.service(ctx, ns, "web", svcOpts{records: []string{"A:60"}})
	e.register(ctx, web, "w1", "AWS_INSTANCE_IPV4=10.0.0.1")
	e.register(ctx, web, "w2", "AWS_INSTANCE_IPV4=10.0.0.2")

	both := e.service(ctx, ns, "both", svcOpts{records: []string{"A:30", "AAAA:30"}})
	e.register(ctx, both, "b1", "AWS_INSTANCE_IPV4=10.0.1.1", "AWS_INSTANCE_IPV6=fd00::1")

	api := e.service(ctx, ns, "api", svcOpts{records: []string{"SRV:10"}})
	e.register(ctx, api, "a1", "AWS_INSTANCE_IPV4=10.0.2.1", "AWS_INSTANCE_PORT=8080")
	e.register(ctx, api, "A2", "AWS_INSTANCE_IPV4=10.0.2.2", "AWS_INSTANCE_IPV6=fd00::2", "AWS_INSTANCE_PORT=8081")

	aSRV := e.service(ctx, ns, "mixed", svcOpts{records: []string{"A:20", "SRV:20"}})
	e.register(ctx, aSRV, "m1", "AWS_INSTANCE_IPV4=10.0.6.1", "AWS_INSTANCE_PORT=9000")

	h := e.service(ctx, ns, "_http._tcp", svcOpts{records: []string{"SRV:5"}})
	e.register(ctx, h, "h1", "AWS_INSTANCE_IPV4=10.0.3.1", "AWS_INSTANCE_PORT=80")

	www := e.service(ctx, ns, "www", svcOpts{policy: "WEIGHTED", records: []string{"CNAME:300"}})
	e.register(ctx, www, "c1", "AWS_INSTANCE_CNAME=Web.Example.Local")

	ext := e.service(ctx, ns, "ext", svcOpts{policy: "WEIGHTED", records: []string{"CNAME:300"}})
	e.register(ctx, ext, "e1", "AWS_INSTANCE_CNAME=elb.amazonaws.example.com")

	loop := e.service(ctx, ns, "loop", svcOpts{policy: "WEIGHTED", records: []string{"CNAME:1"}})
	e.register(ctx, loop, "l1", "AWS_INSTANCE_CNAME=loop.example.local")

	lb := e.service(ctx, ns, "lb", svcOpts{policy: "WEIGHTED", records: []string{"A:60"}})
	e.register(ctx, lb, "alias1", "AWS_ALIAS_DNS_NAME=my-elb-1.us-east-1.elb.amazonaws.com")

	e.service(ctx, ns, "empty", svcOpts{records: []string{"A:60"}})
	noDNS := e.service(ctx, ns, "nodns", svcOpts{})
	e.register(ctx, noDNS, "n1", "AWS_INSTANCE_IPV4=10.9.9.9")

	hc := e.service(ctx, ns, "hc", svcOpts{records: []string{"A:60"}, custom: true})
	e.register(ctx, hc, "ok", "AWS_INSTANCE_IPV4=10.0.4.1")
	e.register(ctx, hc, "bad", "AWS_INSTANCE_IPV4=10.0.4.2", "AWS_INIT_HEALTH_STATUS=UNHEALTHY")

	down := e.service(ctx, ns, "down", svcOpts{records: []string{"A:60"}, custom: true})
	e.register(ctx, down, "d1", "AWS_INSTANCE_IPV4=10.0.5.1", "AWS_INIT_HEALTH_STATUS=UNHEALTHY")
	e.register(ctx, down, "d2", "AWS_INSTANCE_IPV4=10.0.5.2")
	e.setCustomHealth(ctx, down, "d2", "UNHEALTHY")

	wt := e.service(ctx, ns, "wt", svcOpts{policy: "WEIGHTED", records: []string{"A:60"}, custom: true})
	e.register(ctx, wt, "t1", "AWS_INSTANCE_IPV4=10.0.7.1")
	e.register(ctx, wt, "t2", "AWS_INSTANCE_IPV4=10.0.7.2", "AWS_INIT_HEALTH_STATUS=UNHEALTHY")

	// The same address twice makes one record.
	dup := e.service(ctx, ns, "dup", svcOpts{records: []string{"A:60"}})
	e.register(ctx, dup, "x1", "AWS_INSTANCE_IPV4=10.0.8.1")
	e.register(ctx, dup, "x2", "AWS_INSTANCE_IPV4=10.0.8.1")
	e.sync()
}

func TestCases(t *testing.T) {
	e := newEnv(t, envOptions{})
	fixture(e)
	serial := e.srv.Stats().Revision
	soa := fmt.Sprintf("example.local. 15 IN SOA ns1.mapmesh.invalid. hostmaster.mapmesh.invalid. %d 7200 900 1209600 86400", serial)
	soaNeg := rr(soa)
	soaUpper := rr(strings.Replace(soa, "example.local.", "EXAMPLE.local.", 1))
	cases := []dnsCase{
		{name: "A, MULTIVALUE", Qname: "web.example.local.", Qtype: dns.TypeA,
			Answer: []dns.RR{rr("web.example.local. 60 IN A 10.0.0.1"), rr("web.example.local. 60 IN A 10.0.0.2")}},
		{name: "case echoed", Qname: "WeB.EXAMPLE.local.", Qtype: dns.TypeA,
			Answer: []dns.RR{rr("WeB.EXAMPLE.local. 60 IN A 10.0.0.1"), rr("WeB.EXAMPLE.local. 60 IN A 10.0.0.2")}},
		{name: "NODATA: no AAAA", Qname: "web.example.local.", Qtype: dns.TypeAAAA, Ns: []dns.RR{soaNeg}},
		{name: "NODATA keeps the question's case", Qname: "web.EXAMPLE.local.", Qtype: dns.TypeTXT, Ns: []dns.RR{soaUpper}},
		{name: "NXDOMAIN: no such name", Qname: "nothere.example.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soaNeg}},
		{name: "NXDOMAIN: service without instances", Qname: "empty.example.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soaNeg}},
		{name: "NXDOMAIN: service without DnsConfig", Qname: "nodns.example.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soaNeg}},
		{name: "NXDOMAIN below a name", Qname: "x.web.example.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soaNeg}},
		{name: "A and AAAA: A", Qname: "both.example.local.", Qtype: dns.TypeA, Answer: []dns.RR{rr("both.example.local. 30 IN A 10.0.1.1")}},
		{name: "A and AAAA: AAAA", Qname: "both.example.local.", Qtype: dns.TypeAAAA, Answer: []dns.RR{rr("both.example.local. 30 IN AAAA fd00::1")}},
		{name: "SRV with targets in additional", Qname: "api.example.local.", Qtype: dns.TypeSRV,
			Answer: []dns.RR{rr("api.example.local. 10 IN SRV 1 1 8080 a1.api.example.local."), rr("api.example.local. 10 IN SRV 1 1 8081 a2.api.example.local.")},
			Extra:  []dns.RR{rr("a1.api.example.local. 10 IN A 10.0.2.1"), rr("a2.api.example.local. 10 IN A 10.0.2.2"), rr("a2.api.example.local. 10 IN AAAA fd00::2")}},
		{name: "SRV service has no A", Qname: "api.example.local.", Qtype: dns.TypeA, Ns: []dns.RR{soaNeg}},
		{name: "SRV target A", Qname: "a1.api.example.local.", Qtype: dns.TypeA, Answer: []dns.RR{rr("a1.api.example.local. 10 IN A 10.0.2.1")}},
		{name: "SRV target AAAA", Qname: "A2.api.example.local.", Qtype: dns.TypeAAAA, Answer: []dns.RR{rr("A2.api.example.local. 10 IN AAAA fd00::2")}},
		{name: "SRV target without AAAA", Qname: "a1.api.example.local.", Qtype: dns.TypeAAAA, Ns: []dns.RR{soaNeg}},
		{name: "SRV target absent", Qname: "a3.api.example.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soaNeg}},
		{name: "A+SRV: A", Qname: "mixed.example.local.", Qtype: dns.TypeA, Answer: []dns.RR{rr("mixed.example.local. 20 IN A 10.0.6.1")}},
		{name: "A+SRV: SRV", Qname: "mixed.example.local.", Qtype: dns.TypeSRV,
			Answer: []dns.RR{rr("mixed.example.local. 20 IN SRV 1 1 9000 m1.mixed.example.local.")},
			Extra:  []dns.RR{rr("m1.mixed.example.local. 20 IN A 10.0.6.1")}},
		{name: "SRV under _proto", Qname: "_http._tcp.example.local.", Qtype: dns.TypeSRV,
			Answer: []dns.RR{rr("_http._tcp.example.local. 5 IN SRV 1 1 80 h1._http._tcp.example.local.")},
			Extra:  []dns.RR{rr("h1._http._tcp.example.local. 5 IN A 10.0.3.1")}},
		{name: "empty non-terminal is NODATA", Qname: "_tcp.example.local.", Qtype: dns.TypeSRV, Ns: []dns.RR{soaNeg}},
		{name: "CNAME followed inside the zone", Qname: "www.example.local.", Qtype: dns.TypeA,
			Answer: []dns.RR{rr("www.example.local. 300 IN CNAME web.example.local."), rr("web.example.local. 60 IN A 10.0.0.1"), rr("web.example.local. 60 IN A 10.0.0.2")}},
		{name: "CNAME asked for", Qname: "www.example.local.", Qtype: dns.TypeCNAME,
			Answer: []dns.RR{rr("www.example.local. 300 IN CNAME web.example.local.")}},
		{name: "CNAME for any type, target without it", Qname: "www.example.local.", Qtype: dns.TypeTXT,
			Answer: []dns.RR{rr("www.example.local. 300 IN CNAME web.example.local.")}, Ns: []dns.RR{soaNeg}},
		{name: "CNAME out of the zone", Qname: "EXT.example.local.", Qtype: dns.TypeAAAA,
			Answer: []dns.RR{rr("EXT.example.local. 300 IN CNAME elb.amazonaws.example.com.")}},
		{name: "CNAME loop stops", Qname: "loop.example.local.", Qtype: dns.TypeA,
			Answer: []dns.RR{rr("loop.example.local. 1 IN CNAME loop.example.local.")}},
		{name: "alias answered as CNAME", Qname: "lb.example.local.", Qtype: dns.TypeA,
			Answer: []dns.RR{rr("lb.example.local. 60 IN CNAME my-elb-1.us-east-1.elb.amazonaws.com.")}},
		{name: "SOA at the apex", Qname: "example.local.", Qtype: dns.TypeSOA, Answer: []dns.RR{soaNeg}},
		{name: "NS at the apex", Qname: "Example.Local.", Qtype: dns.TypeNS,
			Answer: []dns.RR{rr("Example.Local. 172800 IN NS ns1.mapmesh.invalid.")}},
		{name: "A at the apex", Qname: "example.local.", Qtype: dns.TypeA, Ns: []dns.RR{soaNeg}},
		{name: "healthy only", Qname: "hc.example.local.", Qtype: dns.TypeA, Answer: []dns.RR{rr("hc.example.local. 60 IN A 10.0.4.1")}},
		{name: "none healthy: all", Qname: "down.example.local.", Qtype: dns.TypeA,
			Answer: []dns.RR{rr("down.example.local. 60 IN A 10.0.5.1"), rr("down.example.local. 60 IN A 10.0.5.2")}},
		{name: "WEIGHTED: the healthy one", Qname: "wt.example.local.", Qtype: dns.TypeA, Answer: []dns.RR{rr("wt.example.local. 60 IN A 10.0.7.1")}},
		{name: "one address, one record", Qname: "dup.example.local.", Qtype: dns.TypeA, Answer: []dns.RR{rr("dup.example.local. 60 IN A 10.0.8.1")}},
		{name: "ANY", Qname: "both.example.local.", Qtype: dns.TypeANY,
			Answer: []dns.RR{rr("both.example.local. 30 IN A 10.0.1.1"), rr("both.example.local. 30 IN AAAA fd00::1")}},
		{name: "outside every zone", Qname: "example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeRefused, NotAuth: true},
		{name: "a parent of a zone", Qname: "local.", Qtype: dns.TypeSOA, Rcode: dns.RcodeRefused, NotAuth: true},
		{name: "HTTP namespace not served", Qname: "httpns.", Qtype: dns.TypeSOA, Rcode: dns.RcodeRefused, NotAuth: true},
		{name: "CHAOS class", Qname: "version.bind.", Qtype: dns.TypeTXT, Qclass: dns.ClassCHAOS, Rcode: dns.RcodeRefused, NotAuth: true},
		{name: "no zone transfer", Qname: "example.local.", Qtype: dns.TypeAXFR, Rcode: dns.RcodeRefused, NotAuth: true},
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

// check runs one case.
func check(t *testing.T, e *testEnv, network string, tc dnsCase) {
	t.Helper()
	r := e.query(network, tc.Qname, tc.Qtype, func(m *dns.Msg) {
		if tc.Qclass != 0 {
			m.Question[0].Qclass = tc.Qclass
		}
	})
	q := fmt.Sprintf("%s %s over %s", tc.Qname, dns.TypeToString[tc.Qtype], network)
	if r.Rcode != tc.Rcode {
		t.Errorf("%s: rcode %s; want %s", q, dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.Rcode])
	}
	if r.Authoritative == tc.NotAuth {
		t.Errorf("%s: aa = %v; want %v", q, r.Authoritative, !tc.NotAuth)
	}
	if r.Truncated {
		t.Errorf("%s: TC set", q)
	}
	if len(r.Question) != 1 || r.Question[0].Name != tc.Qname {
		t.Errorf("%s: question %v; want it echoed", q, r.Question)
	}
	for _, sec := range []struct {
		name      string
		got, want []dns.RR
	}{{"answer", r.Answer, tc.Answer}, {"authority", r.Ns, tc.Ns}, {"additional", r.Extra, tc.Extra}} {
		if d := cmp.Diff(rrStrings(sec.want), rrStrings(sec.got)); d != "" {
			t.Errorf("%s: %s section (-want +got):\n%s", q, sec.name, d)
		}
	}
}

func TestEDNS0(t *testing.T) {
	e := newEnv(t, envOptions{})
	fixture(e)
	for _, network := range []string{"udp", "tcp"} {
		r := e.query(network, "web.example.local.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(4096, true) })
		opt := r.IsEdns0()
		if opt == nil {
			t.Fatalf("%s: no OPT in the reply to an EDNS0 query", network)
		}
		if opt.UDPSize() != maxUDPSize || !opt.Do() || opt.Version() != 0 {
			t.Errorf("%s: OPT size %d do %v version %d; want %d true 0", network, opt.UDPSize(), opt.Do(), opt.Version(), maxUDPSize)
		}
		if len(r.Answer) != 2 || r.Rcode != dns.RcodeSuccess {
			t.Errorf("%s: %d answers, rcode %s; want 2, NOERROR", network, len(r.Answer), dns.RcodeToString[r.Rcode])
		}
		r = e.query(network, "web.example.local.", dns.TypeA)
		if r.IsEdns0() != nil {
			t.Errorf("%s: OPT in the reply to a query without EDNS0", network)
		}
		r = e.query(network, "web.example.local.", dns.TypeA, func(m *dns.Msg) {
			m.SetEdns0(1232, false)
			m.IsEdns0().SetVersion(1)
		})
		if r.Rcode != dns.RcodeBadVers || len(r.Answer) != 0 || r.IsEdns0() == nil {
			t.Errorf("%s: EDNS version 1: rcode %s, %d answers, OPT %v; want BADVERS, none, an OPT", network, dns.RcodeToString[r.Rcode], len(r.Answer), r.IsEdns0())
		}
	}
}

// TestTruncation: an SRV answer too large for UDP has TC set over UDP and
// comes whole over TCP; additional records that do not fit are dropped
// without TC.
func TestTruncation(t *testing.T) {
	e := newEnv(t, envOptions{})
	// Long names: 8 SRV records (about 1,150 bytes) fit in 1,232 bytes,
	// with their 16 additional records they do not.
	ns := e.privateNS(e.ctx, "a-rather-long-namespace-name-for-truncation.big.local", "vpc-1")
	svc := e.service(e.ctx, ns, "srv", svcOpts{records: []string{"SRV:60"}})
	for i := range 8 {
		id := fmt.Sprintf("%s-%d", strings.Repeat("x", 60), i)
		e.register(e.ctx, svc, id, fmt.Sprintf("AWS_INSTANCE_IPV4=10.1.0.%d", i+1), "AWS_INSTANCE_IPV6=fd00::1:"+fmt.Sprint(i+1), "AWS_INSTANCE_PORT=80")
	}
	e.sync()
	r := e.query("udp", "srv.a-rather-long-namespace-name-for-truncation.big.local.", dns.TypeSRV)
	if !r.Truncated || len(r.Answer) == 8 {
		t.Errorf("UDP 512: TC %v with %d answers; want TC and fewer than 8", r.Truncated, len(r.Answer))
	}
	r = e.query("tcp", "srv.a-rather-long-namespace-name-for-truncation.big.local.", dns.TypeSRV)
	if r.Truncated || len(r.Answer) != 8 || len(r.Extra) != 16 {
		t.Errorf("TCP: TC %v, %d answers, %d additional; want no TC, 8, 16", r.Truncated, len(r.Answer), len(r.Extra))
	}
	r = e.query("udp", "srv.a-rather-long-namespace-name-for-truncation.big.local.", dns.TypeSRV, func(m *dns.Msg) { m.SetEdns0(1232, false) })
	if r.Truncated || len(r.Answer) != 8 || len(r.Extra) > 1 {
		t.Errorf("UDP 1232: TC %v, %d answers, %d additional; want no TC, 8 answers, only the OPT in additional", r.Truncated, len(r.Answer), len(r.Extra))
	}
	if r.IsEdns0() == nil {
		t.Errorf("UDP 1232: the OPT record was dropped with the additional records")
	}
}

func TestListenPortTaken(t *testing.T) {
	e := newEnv(t, envOptions{})
	// The TCP port is taken (by the server itself): the second server fails.
	s2 := New(e.cm, Config{})
	defer s2.Close()
	err := s2.Listen(e.addr)
	if err == nil || !strings.Contains(err.Error(), e.addr) {
		t.Fatalf("Listen(%s) on a taken port = %v; want an error naming the address", e.addr, err)
	}
	// Only TCP taken.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = s2.Listen(ln.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "tcp") {
		t.Fatalf("Listen(%s) with the TCP port taken = %v; want a tcp error", ln.Addr(), err)
	}
}

// TestTCPBounds: DNS over TCP serves at most MaxTCPConnections at once;
// a connection that sends nothing, or a query one byte at a time, is
// closed after tcpReadTimeout; a query waiting for a slot is then answered,
// and UDP answers all along.
func TestTCPBounds(t *testing.T) {
	e := newEnv(t, envOptions{maxTCP: 2})
	fixture(e)
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	if r := e.query("udp", "web.example.local.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Errorf("UDP query beside full TCP slots: rcode %s; want NOERROR", dns.RcodeToString[r.Rcode])
	}
	start := time.Now()
	if r := e.query("tcp", "web.example.local.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Errorf("TCP query after the slots freed: rcode %s; want NOERROR", dns.RcodeToString[r.Rcode])
	}
	if waited := time.Since(start); waited < tcpReadTimeout/2 || waited > tcpReadTimeout+5*time.Second {
		t.Errorf("TCP query behind 2 idle connections (MaxTCPConnections 2) answered after %v; want about tcpReadTimeout %v", waited, tcpReadTimeout)
	}
	for _, c := range held {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Errorf("idle TCP connection: Read = %v; want it closed by the server", err)
		}
	}

	// A query sent one byte every 300ms never arrives whole in time.
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q := new(dns.Msg)
	q.SetQuestion("web.example.local.", dns.TypeA)
	wire, _ := q.Pack()
	wire = append([]byte{0, byte(len(wire))}, wire...)
	go func() {
		for _, b := range wire {
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(300 * time.Millisecond)
		}
	}()
	start = time.Now()
	_ = c.SetReadDeadline(start.Add(tcpReadTimeout + 10*time.Second))
	_, err = c.Read(make([]byte, 512))
	if isTimeout(err) || err == nil || time.Since(start) > tcpReadTimeout+5*time.Second {
		t.Errorf("TCP query one byte every 300ms: Read = %v after %v; want the connection closed within about %v", err, time.Since(start), tcpReadTimeout)
	}
}

// TestDeadlineConn: a write to a client that does not read gives up after
// tcpWriteTimeout.
func TestDeadlineConn(t *testing.T) {
	server, client := net.Pipe() // synchronous: a write waits for a read
	defer client.Close()
	defer server.Close()
	start := time.Now()
	_, err := deadlineConn{server}.Write([]byte("answer"))
	if !isTimeout(err) || time.Since(start) > tcpWriteTimeout+5*time.Second {
		t.Errorf("Write to a client that does not read = %v after %v; want a timeout after %v", err, time.Since(start), tcpWriteTimeout)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, envOptions{})
	fixture(e)
	e.query("udp", "web.example.local.", dns.TypeA)
	e.query("tcp", "web.example.local.", dns.TypeA)
	e.query("udp", "nothere.example.local.", dns.TypeSRV)
	e.query("udp", "example.com.", dns.TypeA)
	got := map[string]uint64{}
	for _, c := range e.srv.Metrics().Snapshot() {
		got[c.Qtype+"/"+c.Rcode] = c.Count
	}
	want := map[string]uint64{"A/NOERROR": 2, "SRV/NXDOMAIN": 1, "A/REFUSED": 1}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Metrics (-want +got):\n%s", d)
	}
}

// TestConcurrentQueries: queries on many goroutines, over both transports,
// while the view is being replaced; run with -race.
func TestConcurrentQueries(t *testing.T) {
	e := newEnv(t, envOptions{})
	fixture(e)
	svc := e.service(e.ctx, e.privateNS(e.ctx, "churn.local", "vpc-1"), "c", svcOpts{records: []string{"SRV:5"}})
	e.sync() // the zone exists from here on
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprintf("i%d", i%20)
			attrs := map[string]string{"AWS_INSTANCE_IPV4": fmt.Sprintf("10.9.0.%d", i%250+1), "AWS_INSTANCE_PORT": "80"}
			if _, err := e.cm.RegisterInstance(e.ctx, &cloudmap.RegisterInstanceInput{ServiceID: &svc, InstanceID: &id, Attributes: attrs}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	names := []struct {
		name  string
		qtype uint16
	}{{"web.example.local.", dns.TypeA}, {"WEB.example.local.", dns.TypeA}, {"api.example.local.", dns.TypeSRV},
		{"nothere.example.local.", dns.TypeA}, {"Www.Example.Local.", dns.TypeA}, {"c.churn.local.", dns.TypeSRV}}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			network := []string{"udp", "tcp"}[g%2]
			c := &dns.Client{Net: network, Timeout: 5 * time.Second}
			for i := range 100 {
				q := names[(g+i)%len(names)]
				m := new(dns.Msg)
				m.SetQuestion(q.name, q.qtype)
				r, _, err := c.Exchange(m, e.addr)
				if err != nil {
					errs <- err
					return
				}
				if !r.Authoritative {
					errs <- fmt.Errorf("%s %s: no aa", q.name, dns.TypeToString[q.qtype])
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	close(stop)
	<-done
}
