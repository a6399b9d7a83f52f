package dnsserver

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// recorder is a dns.ResponseWriter that keeps what is written; the
// methods the server does not use panic through the nil embedded
// interface.
type recorder struct {
	dns.ResponseWriter
	udp bool
	out [][]byte
}

func (r *recorder) LocalAddr() net.Addr {
	if r.udp {
		return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
	}
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.out = append(r.out, append([]byte(nil), b...))
	return len(b), nil
}

func (r *recorder) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = r.Write(b)
	return err
}

// FuzzServeDNS feeds arbitrary messages to the query path: it must never
// panic, and must always write exactly one well-formed reply that fits the
// transport.
func FuzzServeDNS(f *testing.F) {
	e := newEnv(f, envOptions{noListen: true})
	fixture(e)
	for _, q := range []struct {
		name  string
		qtype uint16
		edns  uint16
	}{
		{"web.example.local.", dns.TypeA, 0}, {"WEB.example.local.", dns.TypeAAAA, 1232},
		{"api.example.local.", dns.TypeSRV, 4096}, {"www.example.local.", dns.TypeA, 0},
		{"example.local.", dns.TypeSOA, 0}, {"example.local.", dns.TypeANY, 512}, {"nothere.example.local.", dns.TypeA, 0},
		{"_tcp.example.local.", dns.TypeSRV, 0}, {"loop.example.local.", dns.TypeA, 0}, {"example.com.", dns.TypeA, 0},
		{"a1.api.example.local.", dns.TypeA, 0}, {"lb.example.local.", dns.TypeAAAA, 0},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		if q.edns != 0 {
			m.SetEdns0(q.edns, true)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req := new(dns.Msg)
		if err := req.Unpack(b); err != nil {
			return // the dns.Server answers these itself (FORMERR) or drops them
		}
		for _, udp := range []bool{true, false} {
			w := &recorder{udp: udp}
			e.srv.ServeDNS(w, req)
			if len(w.out) != 1 {
				t.Fatalf("udp=%v: %d replies written; want 1", udp, len(w.out))
			}
			out := w.out[0]
			rep := new(dns.Msg)
			if err := rep.Unpack(out); err != nil {
				t.Fatalf("udp=%v: reply does not parse: %v\nquery: %v", udp, err, req)
			}
			if rep.Id != req.Id || !rep.Response {
				t.Fatalf("udp=%v: reply id %d response %v; want id %d, response", udp, rep.Id, rep.Response, req.Id)
			}
			limit := dns.MaxMsgSize
			if udp {
				limit = dns.MinMsgSize
				if o := req.IsEdns0(); o != nil {
					limit = min(max(int(o.UDPSize()), dns.MinMsgSize), maxUDPSize)
				}
			}
			if len(out) > limit {
				t.Fatalf("udp=%v: reply of %d bytes; limit %d", udp, len(out), limit)
			}
			if len(req.Question) == 1 && (len(rep.Question) != 1 || rep.Question[0] != req.Question[0]) {
				t.Fatalf("udp=%v: question %v not echoed: %v", udp, req.Question, rep.Question)
			}
		}
	})
}
