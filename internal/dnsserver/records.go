package dnsserver

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/mapmesh/mapmesh/internal/cloudmap"
)

// The pure part of the projection: Cloud Map read-model values in, immutable
// zone and service nodes out. builder.go decides what to rebuild and when.

// Instance attributes that make records (cloudmap-semantics.md section 7).
const (
	attrIPv4  = "AWS_INSTANCE_IPV4"
	attrIPv6  = "AWS_INSTANCE_IPV6"
	attrPort  = "AWS_INSTANCE_PORT"
	attrCNAME = "AWS_INSTANCE_CNAME"
	attrAlias = "AWS_ALIAS_DNS_NAME"
)

// SOA and NS contents. Route 53 puts its own name servers here; mapmesh has
// no delegation to offer, so the names are under .invalid (RFC 6761), which
// can never resolve or collide with a service name. The timers are Route 53's.
const (
	soaMname    = "ns1.mapmesh.invalid."
	soaRname    = "hostmaster.mapmesh.invalid."
	soaRefresh  = 7200
	soaRetry    = 900
	soaExpire   = 1209600
	soaMinimum  = 86400
	nsTTL       = 172800
	maxTTL      = 1<<31 - 1
	unroutedMax = 1 << 30
)

// zoneName returns the zone a namespace name makes (lowercase FQDN), or ""
// when the name is not a usable host-style domain name (private DNS
// namespace names may hold any printable ASCII).
func zoneName(ns string) string {
	n := strings.ToLower(strings.TrimSuffix(ns, "."))
	if !validName(n) {
		return ""
	}
	return n + "."
}

// relName returns a service's relative owner name (lowercase), or "" when
// the service name cannot be one.
func relName(svc string) string {
	n := strings.ToLower(svc)
	if !validName(n) {
		return ""
	}
	return n
}

// validName reports whether n (no final dot) is labels of 1 to 63 letters,
// digits, hyphens and underscores, 253 characters at most: names that need
// no escaping, so the wire form of a question matches them as they are.
func validName(n string) bool {
	if n == "" || len(n) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(n); i++ {
		switch c := n[i]; {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			label++
			if label > 63 {
				return false
			}
		default:
			return false
		}
	}
	return label > 0
}

func ttl(t int64) uint32 { return uint32(min(max(t, 0), maxTTL)) }

// newZone builds the zone of namespace ns with its services.
func newZone(name string, ns cloudmap.NamespaceInfo, services map[string]*svcNode, serial int64) *zone {
	soaTTL := ttl(ns.SOATTL)
	soa := &dns.SOA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: soaTTL},
		Ns: soaMname, Mbox: soaRname, Serial: uint32(serial), Refresh: soaRefresh, Retry: soaRetry,
		Expire: soaExpire, Minttl: soaMinimum}
	neg := *soa
	neg.Hdr.Ttl = min(soaTTL, soaMinimum) // RFC 2308 section 3
	z := &zone{name: name, account: ns.Account, region: ns.Region, nsID: ns.ID, soa: soa, neg: &neg,
		ns:       []dns.RR{&dns.NS{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: nsTTL}, Ns: soaMname}},
		services: make(map[string]*svcNode, len(services)), ents: map[string]bool{}}
	for _, sn := range services {
		z.services[sn.name] = sn
		for off, end := 0, false; ; {
			off, end = dns.NextLabel(sn.name, off)
			if end {
				break
			}
			z.ents[sn.name[off:]] = true
		}
	}
	return z
}

// instRecords are the records one instance contributes to its service.
// They depend only on the instance's attributes and the service's record
// configuration, so they are built once per registration (Revision) and
// reused by every later build of the service; they are never modified.
type instRecords struct {
	rev int64
	// addr are the records at the service name for an A (0) and an AAAA
	// (1) DnsRecord: the address, or a CNAME for an alias; keys merge
	// records with the same data.
	addr    [2]dns.RR
	addrKey [2]string
	cname   dns.RR
	srv     dns.RR
	srvKey  string
	// label is the SRV target's label(s) below the service; target holds
	// its A/AAAA records, which are also the SRV record's additional ones.
	label  string
	target *node
	extra  []dns.RR
}

// buildService returns what service info contributes to zone zoneName, or
// nil when it has no records (no DNS records configured, or no instances).
// nowMs is the time health is evaluated at. prev is the service's previous
// node, or nil: its per-instance records are reused for instances not
// registered again since.
func buildService(zoneName string, info cloudmap.ServiceInfo, insts []cloudmap.InstanceInfo, nowMs int64, prev *svcNode) *svcNode {
	rel := relName(info.Name)
	if rel == "" || info.Type == "HTTP" || len(info.DNSRecords) == 0 || len(insts) == 0 {
		return nil
	}
	owner := rel + "." + zoneName
	sig := owner
	for _, r := range info.DNSRecords {
		sig += " " + r.Type + "/" + strconv.FormatInt(r.TTL, 10)
	}
	var cache map[string]*instRecords
	if prev != nil && prev.sig == sig {
		cache = prev.cache
	}
	routed := maxPick
	if info.RoutingPolicy == "WEIGHTED" {
		routed = 1
	}
	sn := &svcNode{id: info.ID, name: rel, sig: sig, node: &node{}, cache: make(map[string]*instRecords, len(insts))}
	recs := make([]*instRecords, len(insts))
	for i := range insts {
		in := &insts[i]
		ir := cache[in.ID]
		if ir == nil || ir.rev != in.Revision {
			ir = newInstRecords(info, owner, in)
		}
		sn.cache[in.ID] = ir
		recs[i] = ir
	}
	hs := make([]health, len(insts))
	for i := range insts {
		hs[i] = instanceHealth(&insts[i], nowMs)
	}
	for _, rec := range info.DNSRecords {
		switch rec.Type {
		case "A", "AAAA":
			qtype, k := dns.TypeA, 0
			if rec.Type == "AAAA" {
				qtype, k = dns.TypeAAAA, 1
			}
			sb := newSetBuilder(qtype, routed, len(recs))
			for i, ir := range recs {
				if ir.addr[k] != nil {
					sb.add(ir.addrKey[k], ir.addr[k], nil, hs[i])
				}
			}
			sn.node.sets = sb.appendTo(sn.node.sets)
		case "CNAME":
			sb := newSetBuilder(dns.TypeCNAME, routed, len(recs))
			for i, ir := range recs {
				if ir.cname != nil {
					sb.add(ir.cname.(*dns.CNAME).Target, ir.cname, nil, hs[i])
				}
			}
			sn.node.cname = sb.done()
		case "SRV":
			sb := newSetBuilder(dns.TypeSRV, routed, len(recs))
			sn.targets = make(map[string]*node, len(recs))
			for i, ir := range recs {
				if ir.srv == nil {
					continue
				}
				sb.add(ir.srvKey, ir.srv, ir.extra, hs[i])
				target := ir.target
				if old := sn.targets[ir.label]; old != nil {
					target = mergeNodes(old, target) // IDs equal but for case
				}
				sn.targets[ir.label] = target
				if strings.IndexByte(ir.label, '.') >= 0 {
					for off, end := 0, false; ; {
						if off, end = dns.NextLabel(ir.label, off); end {
							break
						}
						if sn.tents == nil {
							sn.tents = map[string]bool{}
						}
						sn.tents[ir.label[off:]] = true
					}
				}
			}
			sn.node.sets = sb.appendTo(sn.node.sets)
		}
	}
	if sn.node.cname == nil && len(sn.node.sets) == 0 {
		return nil
	}
	for _, s := range append(slices.Clip(sn.node.sets), sn.node.cname) {
		if s != nil && s.validUntil != 0 && (sn.nextHealth == 0 || s.validUntil < sn.nextHealth) {
			sn.nextHealth = s.validUntil
		}
	}
	return sn
}

// newInstRecords builds the records of instance in for a service with
// owner name owner.
func newInstRecords(info cloudmap.ServiceInfo, owner string, in *cloudmap.InstanceInfo) *instRecords {
	ir := &instRecords{rev: in.Revision}
	a := in.Attributes
	for _, rec := range info.DNSRecords {
		t := ttl(rec.TTL)
		hdr := func(name string, typ uint16) dns.RR_Header {
			return dns.RR_Header{Name: name, Rrtype: typ, Class: dns.ClassINET, Ttl: t}
		}
		switch rec.Type {
		case "A", "AAAA":
			qtype, attr, k := dns.TypeA, attrIPv4, 0
			if rec.Type == "AAAA" {
				qtype, attr, k = dns.TypeAAAA, attrIPv6, 1
			}
			if alias := a.Value(attrAlias); alias != "" {
				target := dns.Fqdn(strings.ToLower(alias))
				ir.addr[k], ir.addrKey[k] = &dns.CNAME{Hdr: hdr(owner, dns.TypeCNAME), Target: target}, "alias "+target
			} else if v := a.Value(attr); v != "" {
				if rr := addrRR(hdr(owner, qtype), v); rr != nil {
					ir.addr[k], ir.addrKey[k] = rr, v
				}
			}
		case "CNAME":
			if v := a.Value(attrCNAME); v != "" {
				ir.cname = &dns.CNAME{Hdr: hdr(owner, dns.TypeCNAME), Target: dns.Fqdn(strings.ToLower(v))}
			}
		case "SRV":
			port, err := strconv.ParseUint(a.Value(attrPort), 10, 16)
			label := strings.ToLower(in.ID)
			if err != nil || relName(label) == "" {
				continue
			}
			target := label + "." + owner
			n := &node{}
			if rr := addrRR(hdr(target, dns.TypeA), a.Value(attrIPv4)); rr != nil {
				n.sets = append(n.sets, unrouted(rr))
				ir.extra = append(ir.extra, rr)
			}
			if rr := addrRR(hdr(target, dns.TypeAAAA), a.Value(attrIPv6)); rr != nil {
				n.sets = append(n.sets, unrouted(rr))
				ir.extra = append(ir.extra, rr)
			}
			if len(n.sets) == 0 {
				continue
			}
			ir.label, ir.target = label, n
			ir.srv = &dns.SRV{Hdr: hdr(owner, dns.TypeSRV), Priority: 1, Weight: 1, Port: uint16(port), Target: target}
			ir.srvKey = strconv.FormatUint(port, 10) + " " + target
		}
	}
	return ir
}

// unrouted returns a set of one record that every answer carries.
func unrouted(rr dns.RR) *rrset {
	return &rrset{qtype: rr.Header().Rrtype, max: unroutedMax, entries: []entry{{rr: rr, h: health{healthy: true}}}, healthy: []int32{0}}
}

// mergeNodes returns a node with the records of a and b (two instances
// whose IDs differ only in case share an SRV target name).
func mergeNodes(a, b *node) *node {
	out := &node{}
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		sb := newSetBuilder(qtype, unroutedMax, 2)
		for _, n := range []*node{a, b} {
			if s := n.set(qtype); s != nil {
				for _, e := range s.entries {
					sb.add(e.rr.String(), e.rr, nil, e.h)
				}
			}
		}
		out.sets = sb.appendTo(out.sets)
	}
	return out
}

// instanceHealth is the health of one instance at nowMs, with a pending
// custom status: UNKNOWN (no health check) counts as healthy.
func instanceHealth(in *cloudmap.InstanceInfo, nowMs int64) health {
	h := health{healthy: in.HealthAt(nowMs) != "UNHEALTHY"}
	if at := in.HealthChangesAt(); at > nowMs {
		h.pendingAt = at
		h.pendingHealthy = in.HealthAt(at) != "UNHEALTHY"
	}
	return h
}

// addrRR returns an A or AAAA record (by hdr.Rrtype) for addr, or nil when
// addr is not an address of that family.
func addrRR(hdr dns.RR_Header, addr string) dns.RR {
	if addr == "" {
		return nil
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return nil
	}
	switch {
	case hdr.Rrtype == dns.TypeA && ip.Is4():
		b := ip.As4()
		return &dns.A{Hdr: hdr, A: b[:]}
	case hdr.Rrtype == dns.TypeAAAA && ip.Is6() && !ip.Is4In6():
		b := ip.As16()
		return &dns.AAAA{Hdr: hdr, AAAA: b[:]}
	}
	return nil
}

// setBuilder collects one rrset, merging records with the same data (two
// instances with one address make one record, healthy if either is).
type setBuilder struct {
	set   *rrset
	index map[string]int32
}

func newSetBuilder(qtype uint16, max, n int) *setBuilder {
	return &setBuilder{set: &rrset{qtype: qtype, max: max, entries: make([]entry, 0, n)}, index: make(map[string]int32, n)}
}

func (sb *setBuilder) add(key string, rr dns.RR, extra []dns.RR, h health) {
	if i, ok := sb.index[key]; ok {
		e := &sb.set.entries[i]
		e.more = append(e.more, h)
		return
	}
	sb.index[key] = int32(len(sb.set.entries))
	sb.set.entries = append(sb.set.entries, entry{rr: rr, extra: extra, h: h})
}

// done finishes the set: nil when it has no records.
func (sb *setBuilder) done() *rrset {
	s := sb.set
	if len(s.entries) == 0 {
		return nil
	}
	s.healthy = make([]int32, 0, len(s.entries))
	for i := range s.entries {
		e := &s.entries[i]
		if e.healthyAt(-1) {
			s.healthy = append(s.healthy, int32(i))
		}
		e.each(func(h health) {
			if h.pendingAt != 0 && (s.validUntil == 0 || h.pendingAt < s.validUntil) {
				s.validUntil = h.pendingAt
			}
		})
	}
	return s
}

func (sb *setBuilder) appendTo(sets []*rrset) []*rrset {
	if s := sb.done(); s != nil {
		sets = append(sets, s)
	}
	return sets
}
