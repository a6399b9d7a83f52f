package dnsserver

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// discard is a dns.ResponseWriter that drops what is written.
type discard struct {
	dns.ResponseWriter
	n int
}

var benchUDPAddr net.Addr = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}

func (d *discard) LocalAddr() net.Addr         { return benchUDPAddr }
func (d *discard) Write(b []byte) (int, error) { d.n += len(b); return len(b), nil }

// BenchmarkServeDNS measures the query path without sockets: the handler
// the dns.Server calls for each UDP packet.
func BenchmarkServeDNS(b *testing.B) {
	e := newEnv(b, envOptions{noListen: true})
	fixture(e)
	for _, q := range []struct {
		name, qname string
		qtype       uint16
	}{
		{"A", "web.example.local.", dns.TypeA},
		{"A-mixed-case", "Web.Example.Local.", dns.TypeA},
		{"SRV", "api.example.local.", dns.TypeSRV},
		{"NXDOMAIN", "nothere.example.local.", dns.TypeA},
		{"REFUSED", "example.com.", dns.TypeA},
	} {
		b.Run(q.name, func(b *testing.B) {
			req := new(dns.Msg)
			req.SetQuestion(q.qname, q.qtype)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := &discard{}
				for pb.Next() {
					e.srv.ServeDNS(w, req)
				}
			})
		})
	}
}
