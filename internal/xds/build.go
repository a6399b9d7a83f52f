package xds

import (
	"cmp"
	"fmt"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
	"slices"
	"sort"
	"strconv"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/proto"

	"github.com/mapmesh/mapmesh/internal/appmesh"
)

// Mesh is one App Mesh mesh indexed for Build. It is made once per change
// of the mesh and shared, read-only, by the builds of all its nodes.
type Mesh struct {
	Account, Region, Name string
	Spec                  *appmesh.MeshSpec

	nodes, routers, services, gateways map[string]*appmesh.Resource
	// routes and gatewayRoutes are by parent, sorted by name.
	routes, gatewayRoutes map[string][]*appmesh.Resource
}

// NewMesh indexes the contents of a mesh.
func NewMesh(mc appmesh.MeshContents) *Mesh {
	m := &Mesh{Account: mc.Mesh.Account, Region: mc.Mesh.Region, Name: mc.Mesh.Name, Spec: mc.Mesh.MeshSpec,
		nodes: map[string]*appmesh.Resource{}, routers: map[string]*appmesh.Resource{}, services: map[string]*appmesh.Resource{},
		gateways: map[string]*appmesh.Resource{}, routes: map[string][]*appmesh.Resource{}, gatewayRoutes: map[string][]*appmesh.Resource{}}
	index := func(dst map[string]*appmesh.Resource, rs []appmesh.Resource) {
		for i := range rs {
			dst[rs[i].Name] = &rs[i]
		}
	}
	index(m.nodes, mc.VirtualNodes)
	index(m.routers, mc.VirtualRouters)
	index(m.services, mc.VirtualServices)
	index(m.gateways, mc.VirtualGateways)
	for i := range mc.Routes {
		m.routes[mc.Routes[i].Parent] = append(m.routes[mc.Routes[i].Parent], &mc.Routes[i])
	}
	for i := range mc.GatewayRoutes {
		m.gatewayRoutes[mc.GatewayRoutes[i].Parent] = append(m.gatewayRoutes[mc.GatewayRoutes[i].Parent], &mc.GatewayRoutes[i])
	}
	return m
}

// Registry is the Cloud Map registry of a mesh's account and region, as
// Build reads it. Implementations must answer the same way for the whole of
// one Build.
type Registry interface {
	// Instances returns the instances of the service named service in the
	// namespace named namespace, and whether that service exists.
	Instances(namespace, service string) ([]Instance, bool)
	// DNSService tells whether hostname is <service>.<namespace> for a
	// service of a DNS namespace of the registry (private or public), and
	// which.
	DNSService(hostname string) (namespace, service string, ok bool)
}

// Instance is a registered Cloud Map instance.
type Instance struct {
	ID         string
	Attributes cloudmap.Attributes
	// Health is HEALTHY, UNHEALTHY or UNKNOWN (no health check).
	Health string
}

// Input is everything Build reads.
type Input struct {
	// Mesh is the node's mesh; nil when it does not exist.
	Mesh *Mesh
	// Registry is the Cloud Map registry of the mesh's account and region;
	// nil is an empty registry.
	Registry Registry
}

// Resources is the configuration of one node.
type Resources struct {
	// Listeners, Routes, Clusters and Endpoints are sorted by name.
	Listeners, Routes, Clusters, Endpoints []types.Resource
	// Deps names what the build read from the mesh: "mesh", and
	// "<kind>:<name>" for every virtual node, router (with its routes),
	// service and gateway (with its gateway routes) it looked up, found
	// or not. A change to anything else in the mesh cannot change the
	// result.
	Deps map[string]bool
	// Notes say what the build could not translate, one sentence each.
	Notes []string
}

// Build returns the configuration of node: a pure function of in and node.
// A node whose mesh or resource does not exist gets empty configuration.
// Every resource returned has passed its Envoy proto validation
// (ValidateAll); one that did not is left out with a note.
func Build(in Input, node Node) *Resources {
	b := &builder{mesh: in.Mesh, reg: in.Registry, node: node, deps: map[string]bool{"mesh": true},
		listeners: map[string]types.Resource{}, routes: map[string]types.Resource{}, clusters: map[string]types.Resource{},
		endpoints: map[string]types.Resource{}, clusterRefs: map[string]clusterRef{}}
	if b.reg == nil {
		b.reg = emptyRegistry{}
	}
	if b.mesh != nil {
		switch {
		case node.ID.Kind == KindVirtualNode && node.Proxyless:
			if vn := b.virtualNode(node.ID.Name); vn != nil {
				b.proxyless(vn)
			}
		case node.ID.Kind == KindVirtualNode:
			if vn := b.virtualNode(node.ID.Name); vn != nil {
				b.sidecar(vn)
			}
		case node.ID.Kind == KindVirtualGateway && !node.Proxyless:
			if vg := b.virtualGateway(node.ID.Name); vg != nil {
				b.gateway(vg)
			}
		}
		b.renderClusters()
	}
	res := &Resources{Deps: b.deps, Notes: b.notes}
	res.Listeners = b.sorted(b.listeners)
	res.Routes = b.sorted(b.routes)
	res.Clusters = b.sorted(b.clusters)
	res.Endpoints = b.sorted(b.endpoints)
	res.Notes = b.notes
	return res
}

type emptyRegistry struct{}

func (emptyRegistry) Instances(string, string) ([]Instance, bool)      { return nil, false }
func (emptyRegistry) DNSService(string) (string, string, bool)         { return "", "", false }
func (b *builder) sorted(m map[string]types.Resource) []types.Resource { return sortedResources(m, b) }

func sortedResources(m map[string]types.Resource, b *builder) []types.Resource {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]types.Resource, 0, len(names))
	for _, n := range names {
		r := m[n]
		if err := validate(r); err != nil {
			b.notef("%s %s failed Envoy validation and is left out: %v", kindName(r), n, err)
			continue
		}
		out = append(out, r)
	}
	return out
}

// builder holds one Build's state.
type builder struct {
	mesh  *Mesh
	reg   Registry
	node  Node
	deps  map[string]bool
	notes []string

	listeners, routes, clusters, endpoints map[string]types.Resource
	// clusterRefs are the upstream clusters routes use, rendered last.
	clusterRefs map[string]clusterRef
}

func (b *builder) notef(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	if !slices.Contains(b.notes, n) {
		b.notes = append(b.notes, n)
	}
}

func (b *builder) virtualNode(name string) *appmesh.Resource {
	b.deps["virtualNode:"+name] = true
	return b.mesh.nodes[name]
}

func (b *builder) virtualRouter(name string) *appmesh.Resource {
	b.deps["virtualRouter:"+name] = true
	return b.mesh.routers[name]
}

func (b *builder) virtualService(name string) *appmesh.Resource {
	b.deps["virtualService:"+name] = true
	return b.mesh.services[name]
}

func (b *builder) virtualGateway(name string) *appmesh.Resource {
	b.deps["virtualGateway:"+name] = true
	return b.mesh.gateways[name]
}

// DepOf returns the dependency name (see Resources.Deps) that a change to
// a resource of kind, parent and name touches.
func DepOf(kind, parent, name string) string {
	switch kind {
	case "mesh":
		return "mesh"
	case "route":
		return "virtualRouter:" + parent
	case "gatewayRoute":
		return "virtualGateway:" + parent
	}
	return kind + ":" + name
}

// portProto is a listener port and its protocol (http, http2, grpc, tcp).
type portProto struct {
	port  uint32
	proto string
}

func (pp portProto) String() string { return pp.proto + "_" + strconv.Itoa(int(pp.port)) }

func isHTTP(proto string) bool { return proto == "http" || proto == "http2" || proto == "grpc" }

// nodeListeners returns the port mappings of a virtual node's listeners.
func nodeListeners(vn *appmesh.Resource) []portProto {
	var out []portProto
	if vn.VirtualNode == nil {
		return nil
	}
	for _, l := range vn.VirtualNode.Listeners {
		if pp, ok := portMapping(l.PortMapping); ok {
			out = append(out, pp)
		}
	}
	return out
}

func portMapping(pm *appmesh.PortMapping) (portProto, bool) {
	if pm == nil || pm.Port == nil || pm.Protocol == nil || *pm.Port <= 0 {
		return portProto{}, false
	}
	return portProto{uint32(*pm.Port), *pm.Protocol}, true
}

// nodeListener returns the listener of vn on port, or nil.
func nodeListener(vn *appmesh.Resource, port uint32) *appmesh.Listener {
	if vn.VirtualNode == nil {
		return nil
	}
	for i, l := range vn.VirtualNode.Listeners {
		if pp, ok := portMapping(l.PortMapping); ok && pp.port == port {
			return &vn.VirtualNode.Listeners[i]
		}
	}
	return nil
}

// routerListeners returns the ports a virtual router listens on. A router
// made through the 2018-10-01 API has no listeners: its ports are inferred
// from the first listener of every virtual node its routes target.
func (b *builder) routerListeners(vr *appmesh.Resource) []portProto {
	var out []portProto
	if vr.VirtualRouter != nil {
		for _, l := range vr.VirtualRouter.Listeners {
			if pp, ok := portMapping(l.PortMapping); ok {
				out = append(out, pp)
			}
		}
	}
	if len(out) > 0 {
		return out
	}
	seen := map[uint32]bool{}
	for _, r := range b.mesh.routes[vr.Name] {
		for _, t := range weightedTargets(r.Route) {
			vn := b.virtualNode(deref(t.VirtualNode))
			if vn == nil {
				continue
			}
			if ls := nodeListeners(vn); len(ls) > 0 && !seen[ls[0].port] {
				seen[ls[0].port] = true
				out = append(out, ls[0])
			}
		}
	}
	slices.SortFunc(out, func(a, c portProto) int { return cmp.Compare(a.port, c.port) })
	return out
}

// serviceListeners returns the ports a virtual service answers on: its
// router's listeners or its virtual node's.
func (b *builder) serviceListeners(vs *appmesh.Resource) []portProto {
	p := provider(vs)
	switch {
	case p == nil:
		return nil
	case p.VirtualRouter != nil:
		if vr := b.virtualRouter(deref(p.VirtualRouter.VirtualRouterName)); vr != nil {
			return b.routerListeners(vr)
		}
	case p.VirtualNode != nil:
		if vn := b.virtualNode(deref(p.VirtualNode.VirtualNodeName)); vn != nil {
			return nodeListeners(vn)
		}
	}
	return nil
}

func provider(vs *appmesh.Resource) *appmesh.VirtualServiceProvider {
	if vs == nil || vs.VirtualService == nil {
		return nil
	}
	return vs.VirtualService.Provider
}

func weightedTargets(r *appmesh.RouteSpec) []appmesh.WeightedTarget {
	switch {
	case r == nil:
	case r.HTTPRoute != nil && r.HTTPRoute.Action != nil:
		return r.HTTPRoute.Action.WeightedTargets
	case r.HTTP2Route != nil && r.HTTP2Route.Action != nil:
		return r.HTTP2Route.Action.WeightedTargets
	case r.GRPCRoute != nil && r.GRPCRoute.Action != nil:
		return r.GRPCRoute.Action.WeightedTargets
	case r.TCPRoute != nil && r.TCPRoute.Action != nil:
		return r.TCPRoute.Action.WeightedTargets
	}
	return nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func kindName(r types.Resource) string {
	return string(proto.MessageName(r).Name())
}
