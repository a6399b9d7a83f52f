package cloudmap

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/mapmesh/mapmesh/internal/store"
)

// view is the in-memory projection of every Cloud Map key in the store. It
// is built from one List and kept current by a Watch from the next revision;
// every read of the API answers from it, and every write reads it to decide,
// then commits with conditions on the revisions it read, so a stale view can
// only cause a retry, never a wrong write.
//
// Namespaces and services are updated in place, under mu. Instances are
// immutable once in the view (an update replaces them), so a reader may keep
// a pointer to one after releasing mu.
type view struct {
	log   *slog.Logger
	mu    sync.RWMutex // guards everything below
	parts map[partKey]*partition
	// subscribers are called after each applied batch, without mu (see
	// Backend.Subscribe).
	subscribers []func(rev int64, changes []Change)
	// written holds the records this process is about to commit, so that
	// applying their events needs no JSON decoding (see recordCache).
	written recordCache
}

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
	ops       map[string]*operation
	idem      map[string]*idemRecord
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
		ops:          map[string]*operation{},
		idem:         map[string]*idemRecord{},
	}
}

func newView(log *slog.Logger) *view {
	return &view{log: log, parts: map[partKey]*partition{}}
}

// part returns the partition for k, or nil. Called with mu held.
func (v *view) partLocked(k partKey) *partition { return v.parts[k] }

// mustPartLocked returns the partition for k, creating it. Called with mu held for writing.
func (v *view) mustPartLocked(k partKey) *partition {
	p := v.parts[k]
	if p == nil {
		p = newPartition(k)
		v.parts[k] = p
	}
	return p
}

// Load replaces the view with the store's contents at the List revision
// (projection.Folder).
func (v *view) Load(kvs []store.KV, rev int64) {
	// Apply parents before children so derived fields (an instance's
	// pre-encoded summary needs its service and namespace) are built once.
	order := map[string]int{kindNamespace: 0, kindService: 1, kindServiceRev: 2, kindInstance: 3, kindHealth: 4}
	sort.SliceStable(kvs, func(i, j int) bool {
		_, ki, _, _ := parseKey(kvs[i].Key)
		_, kj, _, _ := parseKey(kvs[j].Key)
		oi, ok := order[ki]
		if !ok {
			oi = 9
		}
		oj, ok := order[kj]
		if !ok {
			oj = 9
		}
		return oi < oj
	})
	v.mu.Lock()
	v.parts = map[partKey]*partition{}
	for _, kv := range kvs {
		v.applyLocked(store.Event{Type: store.EventPut, Rev: kv.ModRevision, KV: kv})
	}
	subs := v.subscribers
	v.mu.Unlock()
	for _, fn := range subs {
		fn(rev, []Change{{}})
	}
}

// Apply folds one transaction's events into the view (projection.Folder).
func (v *view) Apply(evs []store.Event) {
	v.mu.Lock()
	var changes []Change
	for _, ev := range evs {
		if c := v.applyLocked(ev); c != (Change{}) && !slices.Contains(changes, c) {
			changes = append(changes, c)
		}
	}
	rev := evs[len(evs)-1].Rev
	subs := v.subscribers
	v.mu.Unlock()
	if len(changes) > 0 {
		for _, fn := range subs {
			fn(rev, changes)
		}
	}
}

// applyLocked folds one event into the view and returns what it changed
// for subscribers (the zero Change for keys they do not care about).
func (v *view) applyLocked(ev store.Event) Change {
	pk, kind, rest, ok := parseKey(ev.KV.Key)
	if !ok {
		return Change{}
	}
	c := Change{Account: pk.account, Region: pk.region}
	switch kind {
	case kindNamespace:
		c.NamespaceID = rest[0]
	case kindService, kindInstance, kindHealth:
		c.ServiceID = rest[0]
		if p := v.parts[pk]; p != nil && p.services[rest[0]] != nil {
			c.NamespaceID = p.services[rest[0]].rec.NamespaceID // known before a deletion
		}
	default:
		c = Change{}
	}
	v.applyEventLocked(ev, pk, kind, rest)
	if c.ServiceID != "" && c.NamespaceID == "" {
		if s := v.parts[pk].services[c.ServiceID]; s != nil {
			c.NamespaceID = s.rec.NamespaceID // a new service
		}
	}
	return c
}

func (v *view) applyEventLocked(ev store.Event, pk partKey, kind string, rest []string) {
	log := v.log
	p := v.mustPartLocked(pk)
	del := ev.Type == store.EventDelete
	decode := func(dst any) bool {
		if v.written.take(ev.KV.Key, ev.KV.Value, dst) {
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
		rename := s.rec.Name != rec.Name || s.rec.NamespaceID != rec.NamespaceID
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
		if rename || len(set.list) > 0 && set.list[0].summary == nil {
			set.rebuildSummaries(s)
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
			if set.svc == nil && len(set.byID) == 0 {
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
		if del {
			set.remove(instID)
			return
		}
		in := &instance{modRev: ev.KV.ModRevision}
		if !decode(&in.rec) {
			return
		}
		set.put(in)
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
	case kindOperation:
		_, id, _ := strings.Cut(rest[0], "/")
		if old := p.ops[id]; old != nil && old.rec.Idem != "" {
			delete(p.idem, old.rec.Idem)
		}
		if del {
			delete(p.ops, id)
			return
		}
		op := &operation{modRev: ev.KV.ModRevision}
		if !decode(&op.rec) {
			return
		}
		p.ops[id] = op
		if op.rec.Idem != "" {
			p.idem[op.rec.Idem] = &idemRecord{V: 1, Hash: op.rec.Hash, Result: id, At: op.rec.CreateDate}
		}
	case kindIdempotency:
		if del {
			delete(p.idem, rest[0])
			return
		}
		if len(ev.KV.Value) == 0 {
			return // a lock (lockToken); the operation record holds the result
		}
		r := &idemRecord{}
		if !decode(r) {
			return
		}
		p.idem[rest[0]] = r
	case kindNamespaceName, kindServiceName:
		// Uniqueness indexes: the view derives them from the records.
	default:
		log.Warn("cloudmap: unknown key kind ignored", "key", ev.KV.Key)
	}
}

// String is for debugging.
func (p *partition) String() string {
	return fmt.Sprintf("partition %s/%s: %d namespaces, %d services, %d ops", p.key.account, p.key.region,
		len(p.namespaces), len(p.services), len(p.ops))
}
