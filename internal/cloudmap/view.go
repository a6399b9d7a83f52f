package cloudmap

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"

	"github.com/mapmesh/mapmesh/internal/store"
	"github.com/mapmesh/mapmesh/internal/store/projection"
)

// domain folds Cloud Map's store keys into the partitions of a
// projection.View (projection.Domain): the in-memory state every read of
// the API answers from, and every write decides on, then commits with
// conditions on the revisions it read, so a stale view can only cause a
// retry, never a wrong write.
//
// Namespaces and services are updated in place, under the view's lock.
// Instances are immutable once in the view (an update replaces them), so a
// reader may keep a pointer to one after releasing the lock.
type domain struct {
	log *slog.Logger
	// written holds the records this process is about to commit, so that
	// applying their events needs no JSON decoding (see recordCache).
	written recordCache
	// adding counts the instances this process is adding (see
	// reservations), for exact quotas.
	adding reservations
	// probed counts, by account, the instances of services with a
	// HealthCheckConfig: those the health checker probes (for the quota
	// on them). Kept by Apply, under the view's write lock.
	probed map[string]int
	// legacy holds the operation and idempotency records found under
	// keyRoot, for migrateOps.
	legacyMu sync.Mutex
	legacy   []store.KV
	// answers keeps encoded DiscoverInstances answers (answerCache).
	answers answerCache
}

// view is the projection of every Cloud Map key.
type view = projection.View[partKey, partition, Change]

var _ projection.Domain[partKey, partition, Change] = (*domain)(nil)

// recordCache maps a key to the record a writer is committing under it,
// with the exact bytes. When the event for that key arrives with those
// bytes, the view takes the record instead of decoding the bytes again.
// Entries of transactions that fail are dropped by the writer.
type recordCache struct {
	mu sync.Mutex // guards m
	m  map[string]cachedRecord
}

type cachedRecord struct {
	value []byte
	rec   any // a pointer to the record
}

func (c *recordCache) add(key string, value []byte, rec any) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]cachedRecord{}
	}
	c.m[key] = cachedRecord{value, rec}
	c.mu.Unlock()
}

func (c *recordCache) reset() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}

func (c *recordCache) drop(keys []string) {
	c.mu.Lock()
	for _, k := range keys {
		delete(c.m, k)
	}
	c.mu.Unlock()
}

// take copies the cached record for key into dst (a pointer of the same
// type) if it was cached with exactly these bytes.
func (c *recordCache) take(key string, value []byte, dst any) bool {
	c.mu.Lock()
	r, ok := c.m[key]
	if ok && bytes.Equal(r.value, value) {
		delete(c.m, key)
	} else {
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		return false
	}
	dv, rv := reflect.ValueOf(dst).Elem(), reflect.ValueOf(r.rec).Elem()
	if dv.Type() != rv.Type() {
		return false
	}
	dv.Set(rv)
	return true
}

// partition is the state of one account and region.
type partition struct {
	key          partKey
	namespaces   map[string]*namespace // by ID
	nsByHTTPName map[string]*namespace
	services     map[string]*service // by ID
	// svcByName indexes services by namespace ID + "/" + name key.
	svcByName map[string]*service
	// instances holds the instance sets by service ID; a set may exist
	// before its service is seen (store order) and outlive it briefly.
	instances map[string]*instanceSet
	// nsAllRev is the ModRevision of the partition's nsrev/_all marker.
	nsAllRev int64
}

func newPartition(k partKey) *partition {
	return &partition{
		key:          k,
		namespaces:   map[string]*namespace{},
		nsByHTTPName: map[string]*namespace{},
		services:     map[string]*service{},
		svcByName:    map[string]*service{},
		instances:    map[string]*instanceSet{},
	}
}

// Split returns the partition of a store key and the rest of the key.
func (d *domain) Split(key string) (partKey, string, bool) {
	s, ok := strings.CutPrefix(key, keyRoot)
	if !ok {
		return partKey{}, "", false
	}
	account, s, ok1 := strings.Cut(s, "/")
	region, rest, ok2 := strings.Cut(s, "/")
	if !ok1 || !ok2 {
		return partKey{}, "", false
	}
	return partKey{account: account, region: region}, rest, true
}

// NewPartition returns an empty partition.
func (d *domain) NewPartition(k partKey) *partition { return newPartition(k) }

// LoadRank orders a load: parents before children, so derived fields (an
// instance's pre-encoded summary needs its service and namespace) are
// built once.
func (d *domain) LoadRank(rest string) int {
	kind, _, _ := strings.Cut(rest, "/")
	switch kind {
	case kindNamespace:
		return 0
	case kindService:
		return 1
	case kindServiceRev:
		return 2
	case kindInstance:
		return 3
	case kindHealth:
		return 4
	}
	return 9
}

// Reload forgets what a reload makes stale: cached records whose events
// will not come, reservations the loaded instances now count.
func (d *domain) Reload(rev int64) {
	d.written.reset()
	d.answers.reset()
	d.adding.reload(rev)
	d.probed = nil
}

// countProbed adds n to the account's count of probed instances.
func (d *domain) countProbed(account string, n int) {
	if n == 0 {
		return
	}
	if d.probed == nil {
		d.probed = map[string]int{}
	}
	if d.probed[account] += n; d.probed[account] <= 0 {
		delete(d.probed, account)
	}
}

// Apply folds one event into partition p and returns what it changed for
// subscribers (ok false for keys they do not care about).
func (d *domain) Apply(p *partition, restKey string, ev store.Event) (Change, bool) {
	kind, rest, ok := parseRest(restKey)
	if !ok {
		d.log.Warn("cloudmap: unknown key ignored", "key", ev.KV.Key)
		return Change{}, false
	}
	c := Change{Account: p.key.account, Region: p.key.region}
	care := true
	switch kind {
	case kindNamespace:
		c.NamespaceID = rest[0]
	case kindService, kindInstance, kindHealth:
		c.ServiceID = rest[0]
		if s := p.services[rest[0]]; s != nil {
			c.NamespaceID = s.rec.NamespaceID // known before a deletion
		}
	default:
		care = false
	}
	d.applyEvent(p, ev, kind, rest)
	switch kind {
	case kindService, kindServiceRev, kindInstance, kindHealth:
		if s := p.services[rest[0]]; s != nil {
			s.gen++ // its cached answers are stale
		}
	}
	if c.ServiceID != "" && c.NamespaceID == "" {
		if s := p.services[c.ServiceID]; s != nil {
			c.NamespaceID = s.rec.NamespaceID // a new service
		}
	}
	return c, care
}

func (d *domain) applyEvent(p *partition, ev store.Event, kind string, rest []string) {
	log := d.log
	del := ev.Type == store.EventDelete
	decode := func(dst any) bool {
		if d.written.take(ev.KV.Key, ev.KV.Value, dst) {
			return true
		}
		if err := json.Unmarshal(ev.KV.Value, dst); err != nil {
			log.Error("cloudmap: undecodable record ignored", "key", ev.KV.Key, "err", err)
			return false
		}
		return true
	}
	switch kind {
	case kindNamespace:
		id := rest[0]
		ns := p.namespaces[id]
		if ns != nil {
			delete(p.nsByHTTPName, ns.rec.HTTPName)
		}
		if del {
			delete(p.namespaces, id)
			return
		}
		var rec nsRecord
		if !decode(&rec) {
			return
		}
		if ns == nil {
			ns = &namespace{services: map[string]*service{}}
			for _, s := range p.services {
				if s.rec.NamespaceID == id {
					ns.services[s.rec.ID] = s
					s.ns = ns
				}
			}
			p.namespaces[id] = ns
		}
		ns.rec, ns.modRev = rec, ev.KV.ModRevision
		p.nsByHTTPName[rec.HTTPName] = ns
	case kindNamespaceRev:
		if rest[0] == allNamespaces {
			p.nsAllRev = ev.KV.ModRevision
			if del {
				p.nsAllRev = 0
			}
			return
		}
		if ns := p.namespaces[rest[0]]; ns != nil {
			ns.markerRev = ev.KV.ModRevision
			if del {
				ns.markerRev = 0
			}
		}
	case kindService:
		id := rest[0]
		s := p.services[id]
		if s != nil {
			delete(p.svcByName, s.nameKey())
		}
		if del {
			if s != nil && s.ns != nil {
				delete(s.ns.services, id)
			}
			delete(p.services, id)
			if set := p.instances[id]; set != nil && set.svc == s {
				if s.rec.HealthCheck != nil {
					d.countProbed(p.key.account, -len(set.list))
				}
				set.svc = nil
			}
			return
		}
		var rec svcRecord
		if !decode(&rec) {
			return
		}
		if s == nil {
			s = &service{createRev: ev.KV.CreateRevision}
			p.services[id] = s
		}
		wasProbed := s.set != nil && s.rec.HealthCheck != nil
		s.rec, s.modRev = rec, ev.KV.ModRevision
		s.ns = p.namespaces[rec.NamespaceID]
		if s.ns != nil {
			s.ns.services[id] = s
		}
		set := p.instances[id]
		if set == nil {
			set = newInstanceSet()
			p.instances[id] = set
		}
		s.set = set
		set.svc = s
		if probed := rec.HealthCheck != nil; probed != wasProbed {
			n := len(set.list)
			if !probed {
				n = -n
			}
			d.countProbed(p.key.account, n)
		}
		p.svcByName[s.nameKey()] = s
	case kindServiceRev:
		set := p.instances[rest[0]]
		if set == nil {
			set = newInstanceSet()
			p.instances[rest[0]] = set
		}
		if del {
			set.rev = 0
			if set.svc == nil && len(set.list) == 0 {
				delete(p.instances, rest[0])
			}
			return
		}
		set.rev = ev.KV.ModRevision
	case kindInstance:
		svcID, instID := rest[0], rest[1]
		set := p.instances[svcID]
		if set == nil {
			set = newInstanceSet()
			p.instances[svcID] = set
		}
		probed := set.svc != nil && set.svc.rec.HealthCheck != nil
		if del {
			if probed && set.get(instID) != nil {
				d.countProbed(p.key.account, -1)
			}
			set.remove(instID)
			return
		}
		var in *instance
		var rec instRecord
		if d.written.take(ev.KV.Key, ev.KV.Value, &rec) {
			in = instanceOf(&rec, p.key.account, ev.KV.ModRevision)
		} else {
			var err error
			if in, err = decodeInstance(ev.KV.Value, p.key.account, ev.KV.ModRevision); err != nil {
				log.Error("cloudmap: undecodable record ignored", "key", ev.KV.Key, "err", err)
				return
			}
		}
		if probed && set.get(instID) == nil {
			d.countProbed(p.key.account, 1)
		}
		set.put(in)
		d.adding.arrived(ev.KV.Key)
	case kindHealth:
		set := p.instances[rest[0]]
		if set == nil {
			set = newInstanceSet()
			p.instances[rest[0]] = set
		}
		if del {
			delete(set.health, rest[1])
			return
		}
		h := &healthRecord{}
		if !decode(h) {
			return
		}
		h.modRev = ev.KV.ModRevision
		set.health[rest[1]] = h
	case kindOperation, kindIdempotency:
		// Written under this root before operations moved to opsRoot:
		// migrateOps moves them.
		if !del {
			d.legacyMu.Lock()
			d.legacy = append(d.legacy, ev.KV)
			d.legacyMu.Unlock()
		}
	case kindNamespaceName, kindServiceName:
		// Uniqueness indexes: the view derives them from the records.
	default:
		log.Warn("cloudmap: unknown key kind ignored", "key", ev.KV.Key)
	}
}

// String is for debugging.
func (p *partition) String() string {
	return fmt.Sprintf("partition %s/%s: %d namespaces, %d services", p.key.account, p.key.region,
		len(p.namespaces), len(p.services))
}
