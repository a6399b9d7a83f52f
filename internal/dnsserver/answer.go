package dnsserver

import (
	"net"
	"slices"
	"sync"

	"github.com/miekg/dns"
)

// Sizes of answers.
const (
	// maxUDPSize is the largest UDP answer sent, whatever the client
	// advertises (the DNS Flag Day 2020 value, which avoids IP
	// fragmentation); it is also the size advertised in our OPT record.
	maxUDPSize = 1232
	// maxChase bounds how many CNAMEs inside our zones an answer follows.
	maxChase = 8
)

var packBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// ServeDNS answers one query from the current view. It implements
// dns.Handler; the server calls it on a goroutine per UDP packet or TCP
// connection.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	_, udp := w.LocalAddr().(*net.UDPAddr)
	m, size := s.reply(req, udp)
	var qtype uint16
	if len(req.Question) == 1 {
		qtype = req.Question[0].Qtype
	}
	s.metrics.Observe(qtype, m.Rcode)
	bp := packBufs.Get().(*[]byte)
	out, err := m.PackBuffer(*bp)
	if err == nil && len(out) > size {
		truncate(m, size)
		out, err = m.PackBuffer(*bp)
	}
	if err != nil {
		s.log.Error("dnsserver: cannot pack answer", "err", err, "question", req.Question)
		m = new(dns.Msg).SetRcode(req, dns.RcodeServerFailure)
		out, err = m.PackBuffer(*bp)
	}
	if err == nil {
		_, _ = w.Write(out)
	}
	if cap(out) <= 64<<10 {
		*bp = out[:0]
		packBufs.Put(bp)
	}
}

// reply builds the answer to req, and returns the largest size it may
// take on the wire (the UDP limit when udp is set; see truncate).
func (s *Server) reply(req *dns.Msg, udp bool) (*dns.Msg, int) {
	m := new(dns.Msg)
	m.Id = req.Id
	m.Response = true
	m.Opcode = req.Opcode
	m.RecursionDesired = req.RecursionDesired
	m.CheckingDisabled = req.CheckingDisabled
	m.Compress = true
	if len(req.Question) > 0 {
		m.Question = req.Question[:1:1]
	}
	size := dns.MinMsgSize
	if !udp {
		size = dns.MaxMsgSize
	}
	var opt *dns.OPT
	if o := req.IsEdns0(); o != nil {
		opt = &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		opt.SetUDPSize(maxUDPSize)
		if o.Do() {
			opt.SetDo()
		}
		if o.Version() != 0 {
			m.Rcode = dns.RcodeBadVers
			m.Extra = []dns.RR{opt}
			return m, size
		}
		if udp {
			size = min(max(int(o.UDPSize()), dns.MinMsgSize), maxUDPSize)
		}
	}
	switch {
	case req.Opcode != dns.OpcodeQuery:
		m.Rcode = dns.RcodeNotImplemented
	case len(req.Question) != 1 || req.Response:
		m.Rcode = dns.RcodeFormatError
	default:
		s.answer(m, req.Question[0])
	}
	if opt != nil {
		m.Extra = append(m.Extra, opt)
	}
	return m, size
}

// truncate makes m fit size: the additional records go first (that needs
// no TC, RFC 2181 section 9); if the answer still does not fit, the records
// that do not are dropped and TC is set, so the client asks again over TCP.
func truncate(m *dns.Msg, size int) {
	var opt dns.RR
	if o := m.IsEdns0(); o != nil {
		opt = o
	}
	m.Extra = m.Extra[:0]
	if opt != nil {
		m.Extra = append(m.Extra, opt)
	}
	if m.Len() > size {
		m.Truncate(size)
	}
}

// answer fills m with the answer to q from the current view.
func (s *Server) answer(m *dns.Msg, q dns.Question) {
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		m.Rcode = dns.RcodeRefused
		return
	}
	v := s.view.Load()
	lname := lower(q.Name)
	l := s.find(v, lname)
	if l.zone == nil {
		m.Rcode = dns.RcodeRefused
		return
	}
	if q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR {
		m.Rcode = dns.RcodeRefused // no zone transfers, as on Route 53
		return
	}
	m.Authoritative = true
	// owner is the name being answered, in the question's case (0x20):
	// first the question, then the CNAME targets followed.
	owner := q.Name
	now := func() int64 { return s.now().UnixMilli() }
	var buf [maxPick]*entry
	var seen [maxChase + 1]string // the names answered, to stop at a CNAME loop
	seen[0] = lname
	for hop := 0; ; hop++ {
		var target string // a CNAME to follow
		switch {
		case l.apex:
			switch q.Qtype {
			case dns.TypeSOA:
				m.Answer = append(m.Answer, withOwner(l.zone.soa, owner))
			case dns.TypeNS:
				for _, rr := range l.zone.ns {
					m.Answer = append(m.Answer, withOwner(rr, owner))
				}
			case dns.TypeANY:
				m.Answer = append(m.Answer, withOwner(l.zone.soa, owner))
				for _, rr := range l.zone.ns {
					m.Answer = append(m.Answer, withOwner(rr, owner))
				}
				if l.node != nil {
					for _, set := range l.node.sets {
						for _, e := range set.pick(buf[:0], now) {
							m.Answer = append(m.Answer, withOwner(e.rr, owner))
						}
					}
				}
			default:
				var set *rrset
				if l.node != nil {
					set = l.node.set(q.Qtype)
				}
				if set == nil {
					m.Ns = append(m.Ns, negSOA(l.zone, owner))
					break
				}
				for _, e := range set.pick(buf[:0], now) {
					m.Answer = append(m.Answer, withOwner(e.rr, owner))
				}
			}
		case l.node == nil && l.exists: // empty non-terminal: NODATA
			m.Ns = append(m.Ns, negSOA(l.zone, owner))
		case l.node == nil:
			m.Rcode = dns.RcodeNameError
			m.Ns = append(m.Ns, negSOA(l.zone, owner))
		case l.node.cname != nil:
			e := l.node.cname.pick(buf[:0], now)[0]
			m.Answer = append(m.Answer, withOwner(e.rr, owner))
			if q.Qtype != dns.TypeCNAME && q.Qtype != dns.TypeANY {
				target = e.rr.(*dns.CNAME).Target
			}
		case q.Qtype == dns.TypeANY: // every record set at the name (RFC 8482 allows less)
			for _, set := range l.node.sets {
				for _, e := range set.pick(buf[:0], now) {
					m.Answer = append(m.Answer, withOwner(e.rr, owner))
				}
			}
		default:
			set := l.node.set(q.Qtype)
			if set == nil {
				m.Ns = append(m.Ns, negSOA(l.zone, owner))
				break
			}
			for _, e := range set.pick(buf[:0], now) {
				m.Answer = append(m.Answer, withOwner(e.rr, owner))
				m.Extra = append(m.Extra, e.extra...)
				if c, ok := e.rr.(*dns.CNAME); ok { // an alias
					target = c.Target
				}
			}
		}
		if target == "" || hop >= maxChase || slices.Contains(seen[:hop+1], target) {
			return
		}
		seen[hop+1] = target
		// Follow a CNAME that stays inside our zones (RFC 1034 4.3.2);
		// the answer's code is then the target's (RFC 6604).
		if l = s.find(v, target); l.zone == nil {
			return
		}
		owner = target
	}
}

// find resolves a lowercase FQDN: in the self names first, then in v.
func (s *Server) find(v *view, name string) lookup {
	if s.self != nil {
		if l := s.self.find(name); l.zone != nil {
			return l
		}
	}
	return v.find(name)
}

// negSOA returns the SOA for the authority section of a negative answer
// about owner, with the negative TTL, in owner's case.
func negSOA(z *zone, owner string) dns.RR {
	return withOwner(z.neg, owner[len(owner)-len(z.name):])
}

// withOwner returns rr with owner name owner: rr itself when its owner is
// already that (the shared record), else a copy. Only the types the view
// holds are copied; the copy shares rr's data, which is never modified.
func withOwner(rr dns.RR, owner string) dns.RR {
	if rr.Header().Name == owner {
		return rr
	}
	switch r := rr.(type) {
	case *dns.A:
		c := *r
		c.Hdr.Name = owner
		return &c
	case *dns.AAAA:
		c := *r
		c.Hdr.Name = owner
		return &c
	case *dns.SRV:
		c := *r
		c.Hdr.Name = owner
		return &c
	case *dns.CNAME:
		c := *r
		c.Hdr.Name = owner
		return &c
	case *dns.SOA:
		c := *r
		c.Hdr.Name = owner
		return &c
	case *dns.NS:
		c := *r
		c.Hdr.Name = owner
		return &c
	}
	c := dns.Copy(rr)
	c.Header().Name = owner
	return c
}

// lower returns s in lower case (ASCII), without allocating when it is
// already.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
