package console

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mapmesh/mapmesh/internal/appmesh"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
)

// Graph is a mesh as the traffic crosses it, left to right: virtual
// gateways and their gateway routes, virtual services, the routers that
// provide them and their routes, the virtual nodes the routes send to by
// weight, each node's service discovery (a Cloud Map service with its
// attribute filter, or a DNS name), and the Cloud Map instances that
// become the node's endpoints.
type Graph struct {
	Mesh string `json:"mesh"`
	// Columns lists the node kinds left to right, as Nodes use them.
	Columns []string    `json:"columns"`
	Nodes   []GraphNode `json:"nodes"`
	Edges   []GraphEdge `json:"edges"`
}

// Kinds of graph node, in column order.
const (
	kindGateway      = "virtualGateway"
	kindGatewayRoute = "gatewayRoute"
	kindService      = "virtualService"
	kindRouter       = "virtualRouter"
	kindRoute        = "route"
	kindNode         = "virtualNode"
	kindCloudMap     = "cloudMapService"
	kindDNS          = "dns"
	kindEndpoint     = "endpoint"
)

var columns = []string{kindGateway, kindGatewayRoute, kindService, kindRouter, kindRoute, kindNode, kindCloudMap, kindEndpoint}

// column of each kind (DNS names share the Cloud Map column).
var columnOf = map[string]int{kindGateway: 0, kindGatewayRoute: 1, kindService: 2, kindRouter: 3, kindRoute: 4, kindNode: 5,
	kindCloudMap: 6, kindDNS: 6, kindEndpoint: 7}

// GraphNode is a resource, a Cloud Map service or an endpoint.
type GraphNode struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Label  string `json:"label"`
	Detail string `json:"detail,omitempty"`
	// Missing is set for a name that something refers to but that does
	// not exist.
	Missing bool `json:"missing,omitempty"`
	// Endpoints only: the instance, its health, and whether xDS leaves it
	// out (UNHEALTHY, or no address of the family the mesh prefers).
	Instance string `json:"instance,omitempty"`
	Health   string `json:"health,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Excluded bool   `json:"excluded,omitempty"`
}

// GraphEdge goes from a node to the next one the traffic reaches. Route
// edges carry the target's weight and its share of the route's weights
// (percent).
type GraphEdge struct {
	From   string  `json:"from"`
	To     string  `json:"to"`
	Weight *int32  `json:"weight,omitempty"`
	Share  float64 `json:"share,omitempty"`
}

// instanceSource reads Cloud Map services by namespace and service name.
type instanceSource interface {
	// instances returns the instances of a service (ok false when the
	// namespace or the service does not exist) and their health now.
	instances(namespace, service string) (insts []cloudmap.InstanceInfo, ok bool)
	now() int64
}

// registry is an instanceSource on the Cloud Map view, in one account and
// region. It looks namespaces and services up by name the way xDS does:
// case-insensitively, a trailing dot ignored.
type registry struct {
	cm              CloudMap
	account, region string
	nowMs           int64
	namespaces      map[string]string // lowerTrim(name) -> ID; nil until read
}

func (r *registry) now() int64 { return r.nowMs }

func (r *registry) instances(namespace, service string) ([]cloudmap.InstanceInfo, bool) {
	if r.namespaces == nil {
		r.namespaces = map[string]string{}
		r.cm.Namespaces(func(ns cloudmap.NamespaceInfo) {
			if ns.Account == r.account && ns.Region == r.region {
				r.namespaces[lowerTrim(ns.Name)] = ns.ID
			}
		})
	}
	nsID, ok := r.namespaces[lowerTrim(namespace)]
	if !ok {
		return nil, false
	}
	for _, s := range r.cm.Services(r.account, r.region, nsID) {
		if strings.EqualFold(s.Name, lowerTrim(service)) {
			_, insts, ok := r.cm.Service(r.account, r.region, s.ID)
			return insts, ok
		}
	}
	return nil, false
}

// graphBuilder collects nodes (once each) and edges.
type graphBuilder struct {
	nodes map[string]*GraphNode
	edges []GraphEdge
}

func (g *graphBuilder) node(n GraphNode) string {
	if old, ok := g.nodes[n.ID]; ok {
		if old.Missing && !n.Missing {
			*old = n
		}
		return n.ID
	}
	g.nodes[n.ID] = &n
	return n.ID
}

// ref returns the ID of a resource of the mesh, adding a Missing node when
// the mesh has none of that name.
func (g *graphBuilder) ref(kind, prefix, name string) string {
	id := prefix + name
	if _, ok := g.nodes[id]; !ok {
		g.nodes[id] = &GraphNode{ID: id, Kind: kind, Label: name, Missing: true, Detail: "not found"}
	}
	return id
}

func (g *graphBuilder) edge(from, to string) {
	g.edges = append(g.edges, GraphEdge{From: from, To: to})
}

// buildGraph lays out a mesh's traffic path, reading the Cloud Map
// services its virtual nodes discover from reg.
func buildGraph(m *appmesh.MeshContents, reg instanceSource) Graph {
	g := &graphBuilder{nodes: map[string]*GraphNode{}}
	// Resources first, so that references find them.
	for _, r := range m.VirtualGateways {
		g.node(GraphNode{ID: "vg:" + r.Name, Kind: kindGateway, Label: r.Name, Detail: gatewayListeners(r.VirtualGateway)})
	}
	for _, r := range m.GatewayRoutes {
		g.node(GraphNode{ID: "gr:" + r.Parent + "/" + r.Name, Kind: kindGatewayRoute, Label: r.Name, Detail: gatewayRouteMatch(r.GatewayRoute)})
	}
	for _, r := range m.VirtualServices {
		g.node(GraphNode{ID: "vs:" + r.Name, Kind: kindService, Label: r.Name})
	}
	for _, r := range m.VirtualRouters {
		g.node(GraphNode{ID: "vr:" + r.Name, Kind: kindRouter, Label: r.Name, Detail: routerListeners(r.VirtualRouter)})
	}
	for _, r := range m.Routes {
		g.node(GraphNode{ID: "rt:" + r.Parent + "/" + r.Name, Kind: kindRoute, Label: r.Name, Detail: routeMatch(r.Route)})
	}
	for _, r := range m.VirtualNodes {
		g.node(GraphNode{ID: "vn:" + r.Name, Kind: kindNode, Label: r.Name, Detail: nodeListeners(r.VirtualNode)})
	}

	for _, r := range m.GatewayRoutes {
		from := "gr:" + r.Parent + "/" + r.Name
		g.edge(g.ref(kindGateway, "vg:", r.Parent), from)
		if vs := gatewayRouteTarget(r.GatewayRoute); vs != "" {
			g.edge(from, g.ref(kindService, "vs:", vs))
		}
	}
	for _, r := range m.VirtualServices {
		if r.VirtualService == nil || r.VirtualService.Provider == nil {
			continue
		}
		switch p := r.VirtualService.Provider; {
		case p.VirtualRouter != nil && p.VirtualRouter.VirtualRouterName != nil:
			g.edge("vs:"+r.Name, g.ref(kindRouter, "vr:", *p.VirtualRouter.VirtualRouterName))
		case p.VirtualNode != nil && p.VirtualNode.VirtualNodeName != nil:
			g.edge("vs:"+r.Name, g.ref(kindNode, "vn:", *p.VirtualNode.VirtualNodeName))
		}
	}
	for _, r := range m.Routes {
		id := "rt:" + r.Parent + "/" + r.Name
		g.edge(g.ref(kindRouter, "vr:", r.Parent), id)
		targets := weightedTargets(r.Route)
		var total int64
		for _, t := range targets {
			total += int64(deref(t.Weight))
		}
		for _, t := range targets {
			e := GraphEdge{From: id, To: g.ref(kindNode, "vn:", deref(t.VirtualNode)), Weight: t.Weight}
			if total > 0 {
				e.Share = float64(deref(t.Weight)) * 100 / float64(total)
			}
			g.edges = append(g.edges, e)
		}
	}
	for _, r := range m.VirtualNodes {
		g.discovery(m.Mesh.MeshSpec, r, reg)
	}

	out := Graph{Mesh: m.Mesh.Name, Columns: columns, Nodes: make([]GraphNode, 0, len(g.nodes)), Edges: g.edges}
	for _, n := range g.nodes {
		out.Nodes = append(out.Nodes, *n)
	}
	slices.SortFunc(out.Nodes, func(a, b GraphNode) int {
		return cmp.Or(cmp.Compare(columnOf[a.Kind], columnOf[b.Kind]), strings.Compare(a.ID, b.ID))
	})
	return out
}

// discovery adds a virtual node's service discovery and, for Cloud Map,
// the instances that match its attributes.
func (g *graphBuilder) discovery(mesh *appmesh.MeshSpec, r appmesh.Resource, reg instanceSource) {
	if r.VirtualNode == nil || r.VirtualNode.ServiceDiscovery == nil {
		return
	}
	vn := "vn:" + r.Name
	sd := r.VirtualNode.ServiceDiscovery
	switch {
	case sd.AwsCloudMap != nil:
		cm := sd.AwsCloudMap
		ns, svc := deref(cm.NamespaceName), deref(cm.ServiceName)
		var filter []string
		for _, a := range cm.Attributes {
			filter = append(filter, deref(a.Key)+"="+deref(a.Value))
		}
		slices.Sort(filter)
		id := "cm:" + lowerTrim(ns) + "/" + lowerTrim(svc)
		if len(filter) > 0 {
			id += "?" + strings.Join(filter, "&")
		}
		insts, ok := reg.instances(ns, svc)
		g.node(GraphNode{ID: id, Kind: kindCloudMap, Label: svc + "." + ns, Detail: strings.Join(filter, " "), Missing: !ok})
		g.edge(vn, id)
		port := firstListenerPort(r.VirtualNode)
		pref := ipPreference(mesh, sd)
		slices.SortFunc(insts, func(a, b cloudmap.InstanceInfo) int { return strings.Compare(a.ID, b.ID) })
	next:
		for i := range insts {
			in := &insts[i]
			for _, a := range cm.Attributes {
				if in.Attributes.Value(deref(a.Key)) != deref(a.Value) {
					continue next
				}
			}
			health := in.HealthAt(reg.now())
			addr := in.Attributes.Address(pref)
			p := in.Attributes.Value("AWS_INSTANCE_PORT")
			if p == "" && port > 0 {
				p = strconv.Itoa(int(port))
			}
			label := addr
			if strings.Contains(addr, ":") {
				label = "[" + addr + "]"
			}
			if p != "" {
				label += ":" + p
			}
			n := GraphNode{ID: "ep:" + id + "#" + in.ID, Kind: kindEndpoint, Label: label, Instance: in.ID, Health: health,
				Excluded: health == "UNHEALTHY" || addr == ""}
			switch {
			case health == "UNHEALTHY":
				n.Reason = in.HealthReason()
			case addr == "":
				n.Label, n.Reason = in.ID, "no "+strings.TrimSuffix(strings.TrimSuffix(pref, "_ONLY"), "_PREFERRED")+" address"
			}
			g.edge(id, g.node(n))
		}
	case sd.DNS != nil:
		host := deref(sd.DNS.Hostname)
		g.edge(vn, g.node(GraphNode{ID: "dns:" + lowerTrim(host), Kind: kindDNS, Label: host, Detail: "DNS"}))
	}
}

// weightedTargets returns a route's targets, whatever its protocol.
func weightedTargets(r *appmesh.RouteSpec) []appmesh.WeightedTarget {
	switch {
	case r == nil:
		return nil
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

// routeMatch describes what a route matches, briefly.
func routeMatch(r *appmesh.RouteSpec) string {
	if r == nil {
		return ""
	}
	var s string
	httpMatch := func(proto string, h *appmesh.HTTPRoute) string {
		s := proto
		if m := h.Match; m != nil {
			switch {
			case m.Prefix != nil:
				s += " " + *m.Prefix
			case m.Path != nil && m.Path.Exact != nil:
				s += " =" + *m.Path.Exact
			case m.Path != nil && m.Path.Regex != nil:
				s += " ~" + *m.Path.Regex
			}
			if m.Method != nil {
				s += " " + *m.Method
			}
			if len(m.Headers) > 0 {
				s += fmt.Sprintf(" +%d headers", len(m.Headers))
			}
		}
		return s
	}
	switch {
	case r.HTTPRoute != nil:
		s = httpMatch("http", r.HTTPRoute)
	case r.HTTP2Route != nil:
		s = httpMatch("http2", r.HTTP2Route)
	case r.GRPCRoute != nil:
		s = "grpc"
		if m := r.GRPCRoute.Match; m != nil && m.ServiceName != nil {
			s += " " + *m.ServiceName
			if m.MethodName != nil {
				s += "/" + *m.MethodName
			}
		}
	case r.TCPRoute != nil:
		s = "tcp"
	}
	if r.Priority != nil {
		s += " (priority " + strconv.Itoa(int(*r.Priority)) + ")"
	}
	return s
}

func gatewayRouteMatch(r *appmesh.GatewayRouteSpec) string {
	switch {
	case r == nil:
		return ""
	case r.HTTPRoute != nil && r.HTTPRoute.Match != nil && r.HTTPRoute.Match.Prefix != nil:
		return "http " + *r.HTTPRoute.Match.Prefix
	case r.HTTP2Route != nil && r.HTTP2Route.Match != nil && r.HTTP2Route.Match.Prefix != nil:
		return "http2 " + *r.HTTP2Route.Match.Prefix
	case r.HTTPRoute != nil:
		return "http"
	case r.HTTP2Route != nil:
		return "http2"
	case r.GRPCRoute != nil:
		if m := r.GRPCRoute.Match; m != nil && m.ServiceName != nil {
			return "grpc " + *m.ServiceName
		}
		return "grpc"
	}
	return ""
}

// gatewayRouteTarget returns the virtual service a gateway route sends to.
func gatewayRouteTarget(r *appmesh.GatewayRouteSpec) string {
	var t *appmesh.GatewayRouteTarget
	switch {
	case r == nil:
	case r.HTTPRoute != nil && r.HTTPRoute.Action != nil:
		t = r.HTTPRoute.Action.Target
	case r.HTTP2Route != nil && r.HTTP2Route.Action != nil:
		t = r.HTTP2Route.Action.Target
	case r.GRPCRoute != nil && r.GRPCRoute.Action != nil:
		t = r.GRPCRoute.Action.Target
	}
	if t == nil || t.VirtualService == nil {
		return ""
	}
	return deref(t.VirtualService.VirtualServiceName)
}

func nodeListeners(n *appmesh.VirtualNodeSpec) string {
	if n == nil {
		return ""
	}
	var out []string
	for _, l := range n.Listeners {
		if pm := l.PortMapping; pm != nil {
			out = append(out, deref(pm.Protocol)+":"+strconv.Itoa(int(deref(pm.Port))))
		}
	}
	return strings.Join(out, " ")
}

func routerListeners(r *appmesh.VirtualRouterSpec) string {
	if r == nil {
		return ""
	}
	var out []string
	for _, l := range r.Listeners {
		if pm := l.PortMapping; pm != nil {
			out = append(out, deref(pm.Protocol)+":"+strconv.Itoa(int(deref(pm.Port))))
		}
	}
	return strings.Join(out, " ")
}

func gatewayListeners(g *appmesh.VirtualGatewaySpec) string {
	if g == nil {
		return ""
	}
	var out []string
	for _, l := range g.Listeners {
		if pm := l.PortMapping; pm != nil {
			out = append(out, deref(pm.Protocol)+":"+strconv.Itoa(int(deref(pm.Port))))
		}
	}
	return strings.Join(out, " ")
}

func firstListenerPort(n *appmesh.VirtualNodeSpec) int32 {
	for _, l := range n.Listeners {
		if l.PortMapping != nil && l.PortMapping.Port != nil {
			return *l.PortMapping.Port
		}
	}
	return 0
}

// ipPreference and address choose an instance's address as xDS does
// (internal/xds/clusters.go): the node's preference, else the mesh's, else
// IPv4 first.
func ipPreference(m *appmesh.MeshSpec, sd *appmesh.ServiceDiscovery) string {
	switch {
	case sd != nil && sd.AwsCloudMap != nil && sd.AwsCloudMap.IPPreference != nil:
		return *sd.AwsCloudMap.IPPreference
	case m != nil && m.ServiceDiscovery != nil && m.ServiceDiscovery.IPPreference != nil:
		return *m.ServiceDiscovery.IPPreference
	}
	return "IPv4_PREFERRED"
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
