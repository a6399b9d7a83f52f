package appmesh

import (
	"encoding/json"
	"log/slog"
	"net/url"
	"sort"
	"strings"

	"github.com/mapmesh/mapmesh/internal/store"
	"github.com/mapmesh/mapmesh/internal/store/projection"
)

// domain folds App Mesh's store keys into the partitions of a
// projection.View (projection.Domain): the in-memory state every read
// answers from and every write decides on, then commits with conditions on
// the revisions it read, so a stale view can only cause a retry, never a
// wrong write. Records are immutable once in the view (a write replaces
// them), so a reader may keep one after releasing the view's lock.
type domain struct {
	log *slog.Logger
}

// view is the projection of every App Mesh key.
type view = projection.View[partKey, partition, Change]

var _ projection.Domain[partKey, partition, Change] = (*domain)(nil)

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

// Apply folds one event into partition p and reports the resource it
// changed, if any.
func (d *domain) Apply(p *partition, restKey string, ev store.Event) (Change, bool) {
	log := d.log
	k, rest, ok := parseRest(restKey)
	if !ok {
		log.Warn("appmesh: unknown key ignored", "key", ev.KV.Key)
		return Change{}, false
	}
	pk := p.key
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
