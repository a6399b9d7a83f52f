package appmesh

// The read model other projections use: the xDS control plane learns what
// changed through Subscribe and reads whole meshes with Meshes and Mesh,
// from the in-memory view as it is (no store access). Specs are the GA
// (2019-01-25) shapes whatever API version wrote them.

// Change names one resource that an applied transaction created, updated
// or deleted. A Change with every field empty means anything may have
// changed (the view was reloaded): read everything again.
type Change struct {
	Account, Region string
	Mesh            string
	// Kind is "mesh", "virtualNode", "virtualRouter", "route",
	// "virtualService", "virtualGateway" or "gatewayRoute".
	Kind string
	// Parent is the virtual router of a route or the virtual gateway of a
	// gateway route.
	Parent, Name string
}

// Subscribe registers fn to be called after every batch of changes the view
// applies, with the store revision the view now reflects. fn runs on the
// view's goroutine with no lock held; it must be quick and may call Meshes
// and Mesh. Subscribe first, then read: no change is missed.
func (b *Backend) Subscribe(fn func(rev int64, changes []Change)) {
	b.view.Subscribe(fn)
}

// Resource is one App Mesh resource as projections see it. Exactly the
// spec of its Kind is set; specs are shared with the view and must not be
// modified.
type Resource struct {
	Account, Region, Mesh string
	Kind, Parent, Name    string
	ARN, UID              string
	Version               int64
	// Revision is the store revision of the resource's last change.
	Revision int64

	MeshSpec       *MeshSpec
	VirtualNode    *VirtualNodeSpec
	VirtualRouter  *VirtualRouterSpec
	Route          *RouteSpec
	VirtualService *VirtualServiceSpec
	VirtualGateway *VirtualGatewaySpec
	GatewayRoute   *GatewayRouteSpec
}

// MeshContents is a mesh and everything in it, each list sorted by name
// (routes and gateway routes by parent, then name).
type MeshContents struct {
	Mesh            Resource
	VirtualNodes    []Resource
	VirtualRouters  []Resource
	Routes          []Resource
	VirtualServices []Resource
	VirtualGateways []Resource
	GatewayRoutes   []Resource
}

// Meshes calls fn for every mesh of every account and region.
func (b *Backend) Meshes(fn func(account, region, mesh string)) {
	b.view.Range(func(pk partKey, p *partition) bool {
		for name, ms := range p.meshes {
			if ms.self != nil {
				fn(pk.account, pk.region, name)
			}
		}
		return true
	})
}

// Mesh returns one mesh and its contents.
func (b *Backend) Mesh(account, region, name string) (out MeshContents, ok bool) {
	b.view.Peek(partKey{account, region}, func(p *partition) {
		if p == nil || p.meshes[name] == nil || p.meshes[name].self == nil {
			return
		}
		out, ok = p.meshContents(name), true
	})
	return out, ok
}

// meshContents collects a mesh and everything in it.
func (p *partition) meshContents(name string) MeshContents {
	ms := p.meshes[name]
	out := MeshContents{Mesh: p.resource(ms.self)}
	for _, l := range []struct {
		kind string
		dst  *[]Resource
	}{{kindVirtualNode, &out.VirtualNodes}, {kindVirtualRouter, &out.VirtualRouters}, {kindVirtualService, &out.VirtualServices},
		{kindVirtualGateway, &out.VirtualGateways}} {
		for _, e := range ms.list(l.kind, "") {
			*l.dst = append(*l.dst, p.resource(e))
		}
	}
	for _, vr := range ms.list(kindVirtualRouter, "") {
		for _, e := range ms.list(kindRoute, vr.key.name) {
			out.Routes = append(out.Routes, p.resource(e))
		}
	}
	for _, vg := range ms.list(kindVirtualGateway, "") {
		for _, e := range ms.list(kindGatewayRoute, vg.key.name) {
			out.GatewayRoutes = append(out.GatewayRoutes, p.resource(e))
		}
	}
	return out
}

func (p *partition) resource(e *entry) Resource {
	r := e.rec
	return Resource{Account: p.key.account, Region: p.key.region, Mesh: e.key.mesh, Kind: e.key.kind, Parent: e.key.parent,
		Name: e.key.name, ARN: e.key.arn(p.key), UID: r.UID, Version: r.Version, Revision: e.modRev,
		MeshSpec: r.Mesh, VirtualNode: r.VirtualNode, VirtualRouter: r.VirtualRouter, Route: r.Route,
		VirtualService: r.VirtualService, VirtualGateway: r.VirtualGateway, GatewayRoute: r.GatewayRoute}
}

// Revision returns the store revision the view reflects (its lag behind
// the store is a metric).
func (b *Backend) Revision() int64 { return b.view.Follower().Rev() }
