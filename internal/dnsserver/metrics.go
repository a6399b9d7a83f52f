package dnsserver

import (
	"sync/atomic"

	"github.com/miekg/dns"
)

// Metrics counts the queries the server answered, by query type and
// response code, for a metrics endpoint to read. The zero value is ready;
// all methods are safe for concurrent use.
type Metrics struct {
	counts [len(metricQtypes) + 1][len(metricRcodes) + 1]atomic.Uint64
}

// QueryCount is the number of queries of one type answered with one code.
type QueryCount struct {
	Qtype string // "A", "AAAA", "SRV", ... or "other"
	Rcode string // "NOERROR", "NXDOMAIN", ... or "other"
	Count uint64
}

// The types and codes counted apart; the rest count as "other".
var (
	metricQtypes = [...]uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypeCNAME, dns.TypeSOA, dns.TypeNS,
		dns.TypeANY, dns.TypeTXT, dns.TypePTR, dns.TypeHTTPS}
	metricRcodes = [...]int{dns.RcodeSuccess, dns.RcodeFormatError, dns.RcodeServerFailure, dns.RcodeNameError,
		dns.RcodeNotImplemented, dns.RcodeRefused, dns.RcodeBadVers}
)

// Observe counts one answered query.
func (m *Metrics) Observe(qtype uint16, rcode int) {
	qi, ri := len(metricQtypes), len(metricRcodes)
	for i, t := range metricQtypes {
		if t == qtype {
			qi = i
			break
		}
	}
	for i, c := range metricRcodes {
		if c == rcode {
			ri = i
			break
		}
	}
	m.counts[qi][ri].Add(1)
}

// Snapshot returns the non-zero counts.
func (m *Metrics) Snapshot() []QueryCount {
	var out []QueryCount
	for qi := range m.counts {
		for ri := range m.counts[qi] {
			n := m.counts[qi][ri].Load()
			if n == 0 {
				continue
			}
			qc := QueryCount{Qtype: "other", Rcode: "other", Count: n}
			if qi < len(metricQtypes) {
				qc.Qtype = dns.TypeToString[metricQtypes[qi]]
			}
			if ri < len(metricRcodes) {
				qc.Rcode = dns.RcodeToString[metricRcodes[ri]]
			}
			out = append(out, qc)
		}
	}
	return out
}
