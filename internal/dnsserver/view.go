package dnsserver

import (
	"math/rand/v2"

	"github.com/miekg/dns"
)

// view is everything the server answers from: an immutable snapshot,
// replaced as a whole (Server.view is an atomic pointer). Nothing in a view
// is modified after it is published; a rebuild makes new zones and service
// nodes and shares the unchanged ones with the previous view.
type view struct {
	// rev is the store revision the view reflects.
	rev   int64
	zones map[string]*zone // by lowercase FQDN
}

// zone is one DNS namespace served authoritatively.
type zone struct {
	name string // lowercase FQDN: "example.local."
	// Which namespace serves the name (several may have it; see
	// builder.winner).
	account, region, nsID string
	// soa is the apex SOA as answered to an SOA query (TTL = the
	// namespace's SOA TTL); neg is the same record with the negative TTL
	// (min of its TTL and MINIMUM, RFC 2308) for the authority section.
	soa, neg *dns.SOA
	ns       []dns.RR // apex NS
	// apex holds the records at the apex besides SOA and NS: only the
	// self names have any (see self.go).
	apex *node
	// services are the services that have at least one record, by
	// lowercase relative name ("web", "_http._tcp").
	services map[string]*svcNode
	// ents are the empty non-terminals the service names make ("_tcp" for
	// "_http._tcp"), relative and lowercase.
	ents map[string]bool
}

// svcNode is what one service contributes to its zone.
type svcNode struct {
	id   string
	name string // lowercase relative name
	node *node  // at <service>.<zone>
	// targets are the SRV target names below the service, by lowercase
	// instance ID; tents are the empty non-terminals among them (instance
	// IDs with dots).
	targets map[string]*node
	tents   map[string]bool
	// sig identifies what the records depend on besides the instances
	// (names, record types and TTLs); cache holds each instance's records,
	// by instance ID, for the next build when sig has not changed.
	sig   string
	cache map[string]*instRecords
	// nextHealth is the earliest time (epoch ms) a pending health change
	// of an instance takes effect, or 0.
	nextHealth int64
}

// node is the records at one name.
type node struct {
	// cname, if set, answers every query type at the name (RFC 1034).
	cname *rrset
	sets  []*rrset
}

func (n *node) set(qtype uint16) *rrset {
	for _, s := range n.sets {
		if s.qtype == qtype {
			return s
		}
	}
	return nil
}

// rrset is one record group: every instance's record of one type at one
// name, from which each answer picks by routing policy and health.
type rrset struct {
	qtype uint16
	// max is how many records one answer carries: 8 (MULTIVALUE), 1
	// (WEIGHTED), or all (the records at an SRV target, which are not
	// routed).
	max     int
	entries []entry
	// healthy are the indexes of the entries healthy at build time.
	healthy []int32
	// validUntil is when (epoch ms) a pending health change of an entry
	// takes effect, making healthy stale; 0 when none is pending.
	validUntil int64
}

// entry is one record with the health of the instances behind it (more
// than one when instances share an address).
type entry struct {
	rr dns.RR // owner in lowercase
	// extra are the A/AAAA records at an SRV record's target.
	extra []dns.RR
	h     health   // the first instance's
	more  []health // the others', if any
}

// health is one instance's health as of the build, and its pending change.
type health struct {
	healthy bool
	// pendingAt (epoch ms) is when the status becomes pendingHealthy; 0
	// when no change is pending.
	pendingAt      int64
	pendingHealthy bool
}

// at returns the health at nowMs; nowMs < 0 means as of the build.
func (h health) at(nowMs int64) bool {
	if h.pendingAt != 0 && nowMs >= h.pendingAt {
		return h.pendingHealthy
	}
	return h.healthy
}

func (e *entry) each(f func(health)) {
	f(e.h)
	for _, h := range e.more {
		f(h)
	}
}

// healthyAt reports whether an instance behind e is healthy at nowMs (< 0:
// as of the build).
func (e *entry) healthyAt(nowMs int64) bool {
	if e.h.at(nowMs) {
		return true
	}
	for _, h := range e.more {
		if h.at(nowMs) {
			return true
		}
	}
	return false
}

// maxPick bounds the records of a MULTIVALUE answer (Route 53: up to eight).
const maxPick = 8

// pick chooses the entries of one answer, in random order: up to s.max
// healthy ones chosen at random, or, when none is healthy, up to s.max of
// all. now returns the time in epoch ms; it is only called when a health
// change may have taken effect since the build. The result is appended to
// dst.
func (s *rrset) pick(dst []*entry, now func() int64) []*entry {
	n := len(s.entries)
	if n == 0 {
		return dst
	}
	healthy := s.healthy
	if s.validUntil != 0 {
		if t := now(); t >= s.validUntil {
			healthy = make([]int32, 0, n)
			for i := range s.entries {
				if s.entries[i].healthyAt(t) {
					healthy = append(healthy, int32(i))
				}
			}
		}
	}
	k := s.max
	if len(healthy) > 0 {
		if k > len(healthy) {
			k = len(healthy)
		}
		var idx [maxPick]int
		for _, j := range sample(idx[:0], len(healthy), k) {
			dst = append(dst, &s.entries[healthy[j]])
		}
		return dst
	}
	if k > n {
		k = n
	}
	if k > maxPick { // only unrouted sets have more; they have no health
		for i := range s.entries {
			dst = append(dst, &s.entries[i])
		}
		return dst
	}
	var idx [maxPick]int
	for _, j := range sample(idx[:0], n, k) {
		dst = append(dst, &s.entries[j])
	}
	return dst
}

// sample appends k distinct indexes below n (k <= maxPick) in random order
// to dst. It does not allocate when dst has room.
func sample(dst []int, n, k int) []int {
	if k >= n && n <= maxPick {
		for i := range n {
			dst = append(dst, i)
		}
		rand.Shuffle(len(dst), func(i, j int) { dst[i], dst[j] = dst[j], dst[i] })
		return dst
	}
	if k > maxPick {
		for i := range k {
			dst = append(dst, i)
		}
		return dst
	}
	for len(dst) < k {
		j := rand.IntN(n)
		dup := false
		for _, d := range dst {
			if d == j {
				dup = true
				break
			}
		}
		if !dup {
			dst = append(dst, j)
		}
	}
	return dst
}

// lookup is what the view holds for one name.
type lookup struct {
	zone *zone // nil: outside every zone
	// node is the name's records; nil with exists set is an empty
	// non-terminal or the apex, nil without exists is NXDOMAIN. At the
	// apex it holds the records besides SOA and NS, if any.
	node   *node
	apex   bool
	exists bool
}

// find resolves a lowercase FQDN in the view.
func (v *view) find(name string) lookup {
	z := v.zoneOf(name)
	if z == nil {
		return lookup{}
	}
	if len(name) == len(z.name) {
		return lookup{zone: z, node: z.apex, apex: true, exists: true}
	}
	rel := name[:len(name)-len(z.name)-1] // without the dot before the zone
	// The longest service name that is a suffix of rel and holds the
	// rest of rel answers.
	for off, end := 0, false; !end; off, end = dns.NextLabel(rel, off) {
		sn := z.services[rel[off:]]
		if sn == nil {
			continue
		}
		if off == 0 {
			return lookup{zone: z, node: sn.node, exists: true}
		}
		prefix := rel[:off-1]
		if n := sn.targets[prefix]; n != nil {
			return lookup{zone: z, node: n, exists: true}
		}
		if sn.tents[prefix] {
			return lookup{zone: z, exists: true}
		}
	}
	if z.ents[rel] {
		return lookup{zone: z, exists: true}
	}
	return lookup{zone: z}
}

// zoneOf returns the deepest zone that name (a lowercase FQDN) is in.
func (v *view) zoneOf(name string) *zone {
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		if z := v.zones[name[off:]]; z != nil {
			return z
		}
	}
	return nil
}
