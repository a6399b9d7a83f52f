package appmesh

import (
	"encoding/json"
	"log/slog"
	"net/url"
	"slices"
	"sort"
	"sync"

	"github.com/mapmesh/mapmesh/internal/store"
)

// view is the in-memory projection of every App Mesh key in the store. It
// is built from one List and kept current by a Watch from the next
// revision; every read answers from it, and every write decides on it, then
// commits with conditions on the revisions it read, so a stale view can only
// cause a retry, never a wrong write. Records are immutable once in the
// view (a write replaces them), so a reader may keep one after releasing mu.
type view struct {
	log   *slog.Logger
	mu    sync.RWMutex // guards everything below
	parts map[partKey]*partition
	// subscribers are called after each applied batch, without mu (see
	// Backend.Subscribe).
	subscribers []func(rev int64, changes []Change)
}

// partition is the state of one account and region.
type partition struct {
	key    partKey
	meshes map[string]*meshState
	idem   map[string]*idemEntry
	// allRev is the ModRevision of the rev/* marker.
	allRev int64
}

type idemEntry struct {
	rec    idemRecord
	modRev int64
}

// meshState is a mesh and everything in it.
type meshState struct {
	// self is the mesh itself; nil while only its contents are known (the
	// events of one transaction come in no particular order).
	self *entry
	// rev is the ModRevision of the mesh's rev marker (0: none).
	rev int64
	// items holds the mesh's resources by scope (see scope), then name.
	items map[string]map[string]*entry
}

// entry is one resource as the view holds it.
type entry struct {
	key    rkey
	rec    *record
	modRev int64
}

// scope names a set of sibling resources: the virtual nodes of a mesh
// ("virtualNode"), the routes of a router ("route\x00router"), ...
func scope(kind, parent string) string {
	if parent == "" {
		return kind
	}
	return kind + "\x00" + parent
}

func newPartition(k partKey) *partition {
	return &partition{key: k, meshes: map[string]*meshState{}, idem: map[string]*idemEntry{}}
}

func newView(log *slog.Logger) *view {
	return &view{log: log, parts: map[partKey]*partition{}}
}

// get returns the resource of kind in scope parent, or nil.
func (ms *meshState) get(kind, parent, name string) *entry {
	return ms.items[scope(kind, parent)][name]
}

// list returns the resources of kind under parent, sorted by name.
func (ms *meshState) list(kind, parent string) []*entry {
	m := ms.items[scope(kind, parent)]
	out := make([]*entry, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key.name < out[j].key.name })
	return out
}

// all calls fn for every resource of kind in the mesh, whatever its parent.
func (ms *meshState) all(kind string, fn func(e *entry)) {
	for _, m := range ms.items {
		for _, e := range m {
			if e.key.kind == kind {
				fn(e)
			}
		}
	}
}

// count returns the number of resources in the mesh.
func (ms *meshState) count() int {
	n := 0
	for _, m := range ms.items {
		n += len(m)
	}
	return n
}

// Load replaces the view with the store's contents at the List revision
// (projection.Folder).
func (v *view) Load(kvs []store.KV, rev int64) {
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
	if len(evs) == 0 {
		return
	}
	v.mu.Lock()
	var changes []Change
	for _, ev := range evs {
		if c, ok := v.applyLocked(ev); ok && !slices.Contains(changes, c) {
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

// applyLocked folds one event into the view and reports the resource it
// changed, if any.
func (v *view) applyLocked(ev store.Event) (Change, bool) {
	log := v.log
	pk, k, rest, ok := parseKey(ev.KV.Key)
	if !ok {
		log.Warn("appmesh: unknown key ignored", "key", ev.KV.Key)
		return Change{}, false
	}
	p := v.parts[pk]
	if p == nil {
		p = newPartition(pk)
		v.parts[pk] = p
	}
	del := ev.Type == store.EventDelete
	switch k.kind {
	case kindIdem:
		if del {
			delete(p.idem, rest)
			return Change{}, false
		}
		e := &idemEntry{modRev: ev.KV.ModRevision}
		if err := json.Unmarshal(ev.KV.Value, &e.rec); err != nil {
			log.Error("appmesh: undecodable record ignored", "key", ev.KV.Key, "err", err)
			return Change{}, false
		}
		p.idem[rest] = e
		return Change{}, false
	case kindRev:
		rev := ev.KV.ModRevision
		if del {
			rev = 0
		}
		if rest == allMeshes {
			p.allRev = rev
			return Change{}, false
		}
		mesh, err := url.PathUnescape(rest)
		if err != nil {
			return Change{}, false
		}
		ms := p.meshStateLocked(mesh)
		ms.rev = rev
		p.dropIfEmptyLocked(mesh)
		return Change{}, false
	}
	c := Change{Account: pk.account, Region: pk.region, Mesh: k.mesh, Kind: k.kind, Parent: k.parent, Name: k.name}
	ms := p.meshStateLocked(k.mesh)
	var e *entry
	if !del {
		rec := &record{}
		if err := json.Unmarshal(ev.KV.Value, rec); err != nil {
			log.Error("appmesh: undecodable record ignored", "key", ev.KV.Key, "err", err)
			return Change{}, false
		}
		e = &entry{key: k, rec: rec, modRev: ev.KV.ModRevision}
	}
	if k.kind == kindMesh {
		ms.self = e
		p.dropIfEmptyLocked(k.mesh)
		return c, true
	}
	sc := scope(k.kind, k.parent)
	if del {
		delete(ms.items[sc], k.name)
		if len(ms.items[sc]) == 0 {
			delete(ms.items, sc)
		}
		p.dropIfEmptyLocked(k.mesh)
		return c, true
	}
	if ms.items[sc] == nil {
		ms.items[sc] = map[string]*entry{}
	}
	ms.items[sc][k.name] = e
	return c, true
}

func (p *partition) meshStateLocked(mesh string) *meshState {
	ms := p.meshes[mesh]
	if ms == nil {
		ms = &meshState{items: map[string]map[string]*entry{}}
		p.meshes[mesh] = ms
	}
	return ms
}

func (p *partition) dropIfEmptyLocked(mesh string) {
	if ms := p.meshes[mesh]; ms != nil && ms.self == nil && ms.rev == 0 && len(ms.items) == 0 {
		delete(p.meshes, mesh)
	}
}
