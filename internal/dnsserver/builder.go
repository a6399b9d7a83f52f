package dnsserver

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mapmesh/mapmesh/internal/cloudmap"
)

// Source is the Cloud Map read model the DNS view is built from;
// *cloudmap.Backend implements it. The builder calls Subscribe once, before
// it reads anything, and calls the read methods only from its own goroutine
// (never from inside a Subscribe or Namespaces callback).
type Source interface {
	Subscribe(fn func(rev int64, changes []cloudmap.Change))
	Namespaces(fn func(cloudmap.NamespaceInfo))
	Namespace(account, region, id string) (cloudmap.NamespaceInfo, bool)
	Services(account, region, nsID string) []cloudmap.ServiceInfo
	ServiceInfo(account, region, id string) (cloudmap.ServiceInfo, bool)
	Service(account, region, id string) (cloudmap.ServiceInfo, []cloudmap.InstanceInfo, bool)
}

var _ Source = (*cloudmap.Backend)(nil)

// key names a namespace or a service.
type key struct{ account, region, id string }

// nsState is a DNS namespace as the builder tracks it.
type nsState struct {
	info     cloudmap.NamespaceInfo
	zone     string              // lowercase FQDN
	services map[string]*svcNode // by service ID; only services with records
}

// builder keeps the view current. Subscribe's callback only records what
// changed and wakes run; run rebuilds the services and zones that changed,
// at most once per interval (so a burst of changes costs one rebuild), and
// publishes a new view.
type builder struct {
	src      Source
	now      func() time.Time
	log      *slog.Logger
	interval time.Duration
	publish  func(*view)

	mu         sync.Mutex // guards the pending fields and closed
	pendingAll bool
	pendingNS  map[key]bool
	pendingSvc map[key]bool
	pendingRev int64
	closed     bool
	wake       chan struct{} // capacity 1: a rebuild is wanted

	// Owned by the goroutine that rebuilds (New, then run).
	rev        int64
	namespaces map[key]*nsState
	svcNS      map[key]key      // built service -> its namespace
	byName     map[string][]key // zone name -> the namespaces with that name
	healthDue  map[key]int64    // service -> when a pending health change matures (epoch ms)
	zones      map[string]*zone // as last published

	rebuilds      atomic.Uint64
	serviceBuilds atomic.Uint64
}

func newBuilder(src Source, now func() time.Time, log *slog.Logger, interval time.Duration, publish func(*view)) *builder {
	b := &builder{src: src, now: now, log: log, interval: interval, publish: publish,
		pendingNS: map[key]bool{}, pendingSvc: map[key]bool{}, wake: make(chan struct{}, 1)}
	// Subscribe first, then read: a change made while the first build
	// reads is rebuilt again by run.
	src.Subscribe(b.notify)
	b.mu.Lock()
	b.pendingAll = true
	b.mu.Unlock()
	b.rebuild()
	return b
}

// notify is the Subscribe callback: it runs on the Cloud Map view's
// goroutine, so it only records what changed.
func (b *builder) notify(rev int64, changes []cloudmap.Change) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.pendingRev = max(b.pendingRev, rev)
	for _, c := range changes {
		switch {
		case c == (cloudmap.Change{}):
			b.pendingAll = true
		case c.ServiceID != "":
			b.pendingSvc[key{c.Account, c.Region, c.ServiceID}] = true
		default:
			b.pendingNS[key{c.Account, c.Region, c.NamespaceID}] = true
		}
	}
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Pacing of rebuilds (see run).
const (
	// burst is how many rebuilds may follow each other without waiting
	// for interval.
	burst = 4
	// maxPause bounds the pause that the cost of rebuilds imposes, so that
	// a change shows within about maxPause plus one rebuild.
	maxPause = 20 * time.Millisecond
)

// run rebuilds until ctx ends, pacing rebuilds like a token bucket: one
// rebuild per interval on average, up to burst of them at once, so a change
// after a quiet spell (or a writer slower than one change per interval) is
// rebuilt at once, while a burst of changes waits for the next rebuild,
// which takes them all. Rebuilds are also spaced by four times what they
// take on average (up to maxPause), so that rebuilding very large services
// takes at most about a quarter of a CPU. A timer rebuilds the services
// whose pending health changes mature.
func (b *builder) run(ctx context.Context) {
	health := time.NewTimer(time.Hour)
	health.Stop()
	pause := time.NewTimer(time.Hour)
	pause.Stop()
	var last time.Time
	var cost time.Duration
	credit, stamp := burst*b.interval, time.Now()
	refill := func() {
		now := time.Now()
		credit, stamp = min(burst*b.interval, credit+now.Sub(stamp)), now
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.wake:
		case <-health.C:
		}
		refill()
		wait := b.interval - credit
		if w := min(4*cost, maxPause) - time.Since(last); w > wait {
			wait = w
		}
		if wait > 0 {
			pause.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-pause.C:
			}
			refill()
		}
		credit -= b.interval
		last = time.Now()
		b.rebuild()
		cost = (3*cost + time.Since(last)) / 4 // a moving average: one slow rebuild (descheduled) does not stall the next
		if next := b.nextHealth(); next != 0 {
			// On the injected clock, so that a test clock works too.
			health.Reset(time.Duration(next-b.now().UnixMilli()) * time.Millisecond)
		} else {
			health.Stop()
		}
	}
}

func (b *builder) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
}

// nextHealth returns the earliest pending health change (epoch ms), or 0.
func (b *builder) nextHealth() int64 {
	var next int64
	for _, t := range b.healthDue {
		if next == 0 || t < next {
			next = t
		}
	}
	return next
}

// rebuild applies the pending changes and publishes a new view.
func (b *builder) rebuild() {
	b.mu.Lock()
	all, nsKeys, svcKeys, rev := b.pendingAll, b.pendingNS, b.pendingSvc, b.pendingRev
	b.pendingAll, b.pendingNS, b.pendingSvc = false, map[key]bool{}, map[key]bool{}
	b.mu.Unlock()
	b.rebuilds.Add(1)
	b.rev = max(b.rev, rev)
	nowMs := b.now().UnixMilli()
	dirty := map[string]bool{}
	if all {
		for name := range b.zones {
			dirty[name] = true
		}
		b.namespaces, b.svcNS, b.byName, b.healthDue = map[key]*nsState{}, map[key]key{}, map[string][]key{}, map[key]int64{}
		var infos []cloudmap.NamespaceInfo
		b.src.Namespaces(func(ns cloudmap.NamespaceInfo) { infos = append(infos, ns) })
		for _, ns := range infos {
			b.updateNamespace(key{ns.Account, ns.Region, ns.ID}, ns, true, nowMs, dirty)
		}
	} else {
		for k := range nsKeys {
			ns, ok := b.src.Namespace(k.account, k.region, k.id)
			b.updateNamespace(k, ns, ok, nowMs, dirty)
		}
		for k, t := range b.healthDue {
			if t <= nowMs {
				svcKeys[k] = true
			}
		}
		for k := range svcKeys {
			b.updateService(k, nowMs, dirty)
		}
	}
	zones := b.zones
	if len(dirty) > 0 {
		zones = maps.Clone(b.zones)
		if zones == nil {
			zones = map[string]*zone{}
		}
		for name := range dirty {
			if z := b.buildZone(name); z != nil {
				zones[name] = z
			} else {
				delete(zones, name)
			}
		}
	}
	b.zones = zones
	b.publish(&view{rev: b.rev, zones: zones})
}

// updateNamespace applies namespace k as the read model now has it (ok
// false: deleted).
func (b *builder) updateNamespace(k key, ns cloudmap.NamespaceInfo, ok bool, nowMs int64, dirty map[string]bool) {
	name := ""
	if ok && (ns.Type == "DNS_PRIVATE" || ns.Type == "DNS_PUBLIC") {
		name = zoneName(ns.Name)
		if name == "" {
			b.log.Warn("dnsserver: namespace name is not a domain name; not served", "namespace", ns.ID, "name", ns.Name)
		}
	}
	old := b.namespaces[k]
	if old != nil && old.zone != name {
		b.removeNamespace(k, old)
		dirty[old.zone] = true
		old = nil
	}
	if name == "" {
		return
	}
	b.rev = max(b.rev, ns.Revision)
	dirty[name] = true
	if old != nil {
		old.info = ns
		return
	}
	st := &nsState{info: ns, zone: name, services: map[string]*svcNode{}}
	b.namespaces[k] = st
	b.byName[name] = append(b.byName[name], k)
	for _, svc := range b.src.Services(k.account, k.region, k.id) {
		b.updateService(key{k.account, k.region, svc.ID}, nowMs, dirty)
	}
}

func (b *builder) removeNamespace(k key, st *nsState) {
	for id := range st.services {
		sk := key{k.account, k.region, id}
		delete(b.svcNS, sk)
		delete(b.healthDue, sk)
	}
	delete(b.namespaces, k)
	rest := slices.DeleteFunc(b.byName[st.zone], func(x key) bool { return x == k })
	if len(rest) == 0 {
		delete(b.byName, st.zone)
	} else {
		b.byName[st.zone] = rest
	}
}

// updateService rebuilds service k from the read model.
func (b *builder) updateService(k key, nowMs int64, dirty map[string]bool) {
	var prev *svcNode
	if nk, ok := b.svcNS[k]; ok {
		if st := b.namespaces[nk]; st != nil {
			prev = st.services[k.id]
			delete(st.services, k.id)
			dirty[st.zone] = true
		}
		delete(b.svcNS, k)
		delete(b.healthDue, k)
	}
	// Decide from the service alone, then copy its instances only when its
	// namespace is served.
	head, ok := b.src.ServiceInfo(k.account, k.region, k.id)
	if !ok || b.namespaces[key{k.account, k.region, head.NamespaceID}] == nil {
		return // gone, or in an HTTP namespace or one not served
	}
	info, insts, ok := b.src.Service(k.account, k.region, k.id)
	if !ok {
		return
	}
	nk := key{k.account, k.region, info.NamespaceID}
	st := b.namespaces[nk]
	if st == nil {
		return
	}
	b.serviceBuilds.Add(1)
	b.rev = max(b.rev, info.InstancesRevision)
	sn := buildService(st.zone, info, insts, nowMs, prev)
	if sn == nil {
		return
	}
	st.services[k.id] = sn
	b.svcNS[k] = nk
	dirty[st.zone] = true
	if sn.nextHealth != 0 {
		b.healthDue[k] = sn.nextHealth
	}
}

// buildZone builds the zone called name from the namespace that wins it,
// or returns nil when no namespace has the name.
func (b *builder) buildZone(name string) *zone {
	k, ok := b.winner(name)
	if !ok {
		return nil
	}
	st := b.namespaces[k]
	return newZone(name, st.info, st.services, b.rev)
}

// winner picks, among the DNS namespaces named name (in several accounts,
// regions or VPCs, or a public and a private one), the one whose records
// are served: the first created; ties by account, region and ID. Answers
// never mix records of two namespaces.
func (b *builder) winner(name string) (key, bool) {
	cands := b.byName[name]
	if len(cands) == 0 {
		return key{}, false
	}
	return slices.MinFunc(cands, func(x, y key) int {
		a, c := b.namespaces[x].info, b.namespaces[y].info
		return cmp.Or(cmp.Compare(a.CreateDate, c.CreateDate), cmp.Compare(x.account, y.account),
			cmp.Compare(x.region, y.region), cmp.Compare(x.id, y.id))
	}), true
}
