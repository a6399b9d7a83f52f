package xds

import (
	"strconv"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"

	"github.com/mapmesh/mapmesh/internal/appmesh"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
)

// The control loop. The views' Subscribe callbacks only record what
// changed and wake run, which drops the cached inputs those changes touch,
// rebuilds the nodes whose builds read them (Resources.Deps and the Cloud
// Map reads), and sets a new snapshot only for nodes whose configuration
// changed, each changed resource type versioned by the store revision.

func (s *Server) onAppMesh(rev int64, changes []appmesh.Change) {
	if s.ctx.Err() != nil {
		return // closed
	}
	s.pendMu.Lock()
	s.amPending = append(s.amPending, changes...)
	s.rev = max(s.rev, rev)
	s.pendMu.Unlock()
	s.wake()
}

func (s *Server) onCloudMap(rev int64, changes []cloudmap.Change) {
	if s.ctx.Err() != nil {
		return // closed
	}
	s.pendMu.Lock()
	s.cmPending = append(s.cmPending, changes...)
	s.rev = max(s.rev, rev)
	s.pendMu.Unlock()
	s.wake()
}

func (s *Server) run() {
	defer close(s.done)
	s.buildMu.Lock()
	s.timer = time.NewTimer(time.Hour)
	s.timer.Stop()
	timer := s.timer
	s.buildMu.Unlock()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.kick:
		case <-timer.C:
		}
		s.process()
	}
}

// process applies the pending changes.
func (s *Server) process() {
	s.pendMu.Lock()
	am, cm, closed, rev := s.amPending, s.cmPending, s.closed, s.rev
	s.amPending, s.cmPending, s.closed = nil, nil, nil
	s.pendMu.Unlock()

	s.buildMu.Lock()
	defer s.buildMu.Unlock()
	for _, key := range closed {
		if s.nodes[key] != nil && s.clients.streamsOf(key) == 0 {
			delete(s.nodes, key)
			s.active.Delete(key)
			s.cacheOf(key).ClearSnapshot(key)
		}
	}
	affected := map[*nodeState]bool{}
	for _, c := range am {
		s.applyAppMesh(c, affected)
	}
	for _, c := range cm {
		s.applyCloudMap(c, affected)
	}
	now := time.Now().UnixMilli()
	next := int64(0)
	for _, n := range s.nodes {
		if n.healthAt > 0 && n.healthAt <= now {
			affected[n] = true
		}
	}
	for n := range affected {
		s.rebuildLocked(n, rev)
	}
	for _, n := range s.nodes {
		if n.healthAt > 0 && (next == 0 || n.healthAt < next) {
			next = n.healthAt
		}
	}
	if next > 0 {
		s.timer.Reset(time.Duration(next-now+1) * time.Millisecond)
	}
}

func (s *Server) applyAppMesh(c appmesh.Change, affected map[*nodeState]bool) {
	if c == (appmesh.Change{}) {
		clear(s.meshes)
		for _, n := range s.nodes {
			affected[n] = true
		}
		return
	}
	delete(s.meshes, meshKey{c.Account, c.Region, c.Mesh})
	dep := DepOf(c.Kind, c.Parent, c.Name)
	for _, n := range s.nodes {
		if n.known && n.id.Account == c.Account && n.id.Region == c.Region && n.id.Mesh == c.Mesh && (n.res == nil || n.res.Deps[dep]) {
			affected[n] = true
		}
	}
}

func (s *Server) applyCloudMap(c cloudmap.Change, affected map[*nodeState]bool) {
	if c == (cloudmap.Change{}) {
		clear(s.cmParts)
		for _, n := range s.nodes {
			affected[n] = true
		}
		return
	}
	pk := partKey{c.Account, c.Region}
	p := s.cmParts[pk]
	var deps []string
	switch {
	case p == nil:
		return // nothing of this partition was read
	case c.ServiceID == "":
		delete(s.cmParts, pk)
		deps = []string{depNamespaces}
	default:
		deps = []string{depService + c.ServiceID}
		delete(p.services, c.ServiceID)
		nsID, known := p.known[c.ServiceID]
		if !known {
			nsID = c.NamespaceID
		}
		// A service that appears or goes changes the names of its
		// namespace; an instance or health change does not. Its
		// instances are read again when a build needs them: this runs on
		// the Cloud Map view's goroutine, where copying a large service on
		// every registration would slow every write.
		_, ok := s.cm.ServiceInfo(c.Account, c.Region, c.ServiceID)
		if !known || !ok {
			delete(p.serviceIDs, nsID)
			delete(p.known, c.ServiceID)
			deps = append(deps, depNames+nsID)
			if nsID == "" {
				clear(p.serviceIDs)
				deps = append(deps, depNamespaces)
			}
		}
	}
	for _, n := range s.nodes {
		if !n.known || n.id.Account != c.Account || n.id.Region != c.Region {
			continue
		}
		for _, d := range deps {
			if n.cmDeps[d] {
				affected[n] = true
			}
		}
	}
}

// ensure makes sure a node key has a snapshot before its first watch: a
// stream's first request arrives here before the cache sees it.
func (s *Server) ensure(key string, id NodeID, known, proxyless bool, rawID string) {
	if _, ok := s.active.Load(key); ok {
		return
	}
	s.buildMu.Lock()
	defer s.buildMu.Unlock()
	if s.nodes[key] != nil {
		return
	}
	n := &nodeState{key: key, id: id, known: known, proxyless: proxyless}
	s.nodes[key] = n
	s.active.Store(key, true)
	if !known {
		s.log.Warn("xds: node id names no App Mesh virtual node or virtual gateway (mesh/<mesh>/virtualNode/<name>, mesh/<mesh>/virtualGateway/<name> or an ARN); serving it empty configuration",
			"node", rawID)
	}
	s.pendMu.Lock()
	rev := s.rev
	s.pendMu.Unlock()
	s.rebuildLocked(n, rev)
	if n.healthAt > 0 {
		s.wake() // arm the health timer
	}
}

func (s *Server) cacheOf(key string) cache.SnapshotCache {
	if len(key) > len(proxylessSuffix) && key[len(key)-len(proxylessSuffix):] == proxylessSuffix {
		return s.grpc
	}
	return s.envoy
}

// mesh returns the indexed mesh, reading it from the view when not cached.
func (s *Server) mesh(k meshKey) *Mesh {
	m, ok := s.meshes[k]
	if !ok {
		if mc, found := s.am.Mesh(k.account, k.region, k.mesh); found {
			m = NewMesh(mc)
		}
		s.meshes[k] = m
	}
	return m
}

var resourceTypes = [4]types.ResponseType{types.Listener, types.Route, types.Cluster, types.Endpoint}

// rebuildLocked builds a node's configuration and, if anything changed,
// sets its snapshot. Each resource type that changed takes the version
// rev; the others keep theirs, so clients are sent only what changed.
func (s *Server) rebuildLocked(n *nodeState, rev int64) {
	var res *Resources
	if !n.known {
		res = &Resources{}
	} else {
		pk := partKey{n.id.Account, n.id.Region}
		p := s.cmParts[pk]
		if p == nil {
			p = newCMPartition()
			s.cmParts[pk] = p
		}
		reg := &registryView{cm: s.cm, pk: pk, p: p, now: time.Now().UnixMilli(), deps: map[string]bool{}}
		res = Build(Input{Mesh: s.mesh(meshKey{n.id.Account, n.id.Region, n.id.Mesh}), Registry: reg}, Node{ID: n.id, Proxyless: n.proxyless})
		n.cmDeps, n.healthAt = reg.deps, reg.healthAt
		if len(res.Listeners) == 0 && len(res.Clusters) == 0 && !n.warned {
			n.warned = true
			s.log.Warn("xds: node has no configuration (its mesh or resource does not exist, or it has no listeners and no backends)",
				"node", n.id.String(), "account", n.id.Account, "region", n.id.Region)
		}
	}
	v := strconv.FormatInt(rev, 10)
	changed := n.res == nil
	old := n.res
	n.res = res
	for i, typ := range resourceTypes {
		if old == nil || !sameResources(byType(old, typ), byType(res, typ)) {
			n.versions[i] = v
			changed = true
		}
	}
	if !changed {
		return
	}
	if len(res.Notes) > 0 && (old == nil || !sameNotes(old.Notes, res.Notes)) {
		s.log.Info("xds: configuration built with notes", "node", n.key, "notes", res.Notes)
	}
	snap := &cache.Snapshot{}
	for i, typ := range resourceTypes {
		snap.Resources[typ] = cache.NewResources(n.versions[i], byType(res, typ))
	}
	if err := s.cacheOf(n.key).SetSnapshot(s.ctx, n.key, snap); err != nil {
		s.log.Warn("xds: set snapshot", "node", n.key, "err", err)
	}
}

func byType(r *Resources, t types.ResponseType) []types.Resource {
	switch t {
	case types.Listener:
		return r.Listeners
	case types.Route:
		return r.Routes
	case types.Cluster:
		return r.Clusters
	}
	return r.Endpoints
}

func sameResources(a, b []types.Resource) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func sameNotes(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
