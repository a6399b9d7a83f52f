package appmesh

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
)

// The 2018-10-01 API is a view of the GA (2019-01-25) domain model:
//
//   - a 2018 mesh is a GA mesh without spec (created with an empty one);
//   - a 2018 virtual node's backends ["svc.local"] are GA backends
//     [{virtualService: {virtualServiceName: "svc.local"}}], its
//     serviceDiscovery.dns.serviceName is GA dns.hostname, and its listeners
//     are GA listeners with only portMapping and healthCheck;
//   - a 2018 virtual router's serviceNames are the virtual services whose
//     provider is the router: naming one that does not exist creates it
//     (an "implicit" virtual service), dropping an implicit one deletes it,
//     dropping one made through the GA API clears its provider;
//   - a 2018 route is a GA httpRoute with only match.prefix and
//     weightedTargets {virtualNode, weight}.
//
// Reading GA data through 2018 drops what 2018 cannot express (GA-only
// fields, routes of other kinds show an empty spec). A 2018 update keeps
// the GA-only fields of what it replaces wherever it can tell they belong
// together: backend client policies by service name, listener TLS,
// timeouts, pools and outlier detection by port, the node's backend
// defaults, logging and Cloud Map discovery, the router's listeners, and
// a route's retry policy, timeout, priority, match conditions and target
// ports. docs/appmesh.md has the full table.

// convert copies the members two shapes share, through their JSON form.
func convert[T any](v any) *T {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("appmesh: convert %T: %v", v, err))
	}
	out := new(T)
	_ = json.Unmarshal(b, out) // members of another shape are skipped
	return out
}

func (p *partition) meta2018(k rkey, r *record) *ResourceMetadata2018 {
	v := r.Version
	return &ResourceMetadata2018{ARN: str(k.arn(p.key)), CreatedAt: timeOf(r.CreatedAt), LastUpdatedAt: timeOf(r.UpdatedAt),
		UID: str(r.UID), Version: &v}
}

// ---- virtual node ----

// vnSpecFrom2018 maps a 2018 virtual node spec onto the GA model, keeping
// the GA-only parts of old (the spec it replaces, if any).
func vnSpecFrom2018(s *VirtualNodeSpec2018, old *VirtualNodeSpec) *VirtualNodeSpec {
	out := &VirtualNodeSpec{}
	if old == nil {
		old = &VirtualNodeSpec{}
	}
	out.BackendDefaults, out.Logging = clone(old.BackendDefaults), clone(old.Logging)
	for _, name := range s.Backends {
		vs := &VirtualServiceBackend{VirtualServiceName: str(name)}
		for _, ob := range old.Backends {
			if ob.VirtualService != nil && deref(ob.VirtualService.VirtualServiceName) == name {
				vs.ClientPolicy = clone(ob.VirtualService.ClientPolicy)
			}
		}
		out.Backends = append(out.Backends, VirtualNodeBackend{VirtualService: vs})
	}
	for _, l := range s.Listeners {
		gl := *convert[Listener](l)
		for _, ol := range old.Listeners {
			if gl.PortMapping != nil && ol.PortMapping != nil && deref32(gl.PortMapping.Port) == deref32(ol.PortMapping.Port) {
				gl.ConnectionPool, gl.OutlierDetection = clone(ol.ConnectionPool), clone(ol.OutlierDetection)
				gl.Timeout, gl.TLS = clone(ol.Timeout), clone(ol.TLS)
			}
		}
		out.Listeners = append(out.Listeners, gl)
	}
	switch {
	case s.ServiceDiscovery != nil && s.ServiceDiscovery.DNS != nil:
		dns := &DNSServiceDiscovery{Hostname: s.ServiceDiscovery.DNS.ServiceName}
		if od := old.ServiceDiscovery; od != nil && od.DNS != nil {
			dns.IPPreference, dns.ResponseType = od.DNS.IPPreference, od.DNS.ResponseType
		}
		out.ServiceDiscovery = &ServiceDiscovery{DNS: dns}
	case old.ServiceDiscovery != nil && old.ServiceDiscovery.AwsCloudMap != nil:
		out.ServiceDiscovery = clone(old.ServiceDiscovery)
	}
	return out
}

// vnSpecTo2018 is the 2018 view of a GA virtual node spec.
func vnSpecTo2018(s *VirtualNodeSpec) *VirtualNodeSpec2018 {
	out := &VirtualNodeSpec2018{}
	if s == nil {
		return out
	}
	for _, be := range s.Backends {
		if be.VirtualService != nil {
			out.Backends = append(out.Backends, deref(be.VirtualService.VirtualServiceName))
		}
	}
	for _, l := range s.Listeners {
		out.Listeners = append(out.Listeners, *convert[Listener2018](l))
	}
	if sd := s.ServiceDiscovery; sd != nil && sd.DNS != nil {
		out.ServiceDiscovery = &ServiceDiscovery2018{DNS: &DNSServiceDiscovery2018{ServiceName: sd.DNS.Hostname}}
	}
	return out
}

func deref32(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func (p *partition) vnData2018(k rkey, r *record, status string) *VirtualNodeData2018 {
	return &VirtualNodeData2018{MeshName: str(k.mesh), VirtualNodeName: str(k.name), Metadata: p.meta2018(k, r),
		Spec: vnSpecTo2018(r.VirtualNode), Status: &VirtualNodeStatus2018{Status: str(status)}}
}

// ---- virtual router ----

// serviceNamesOf returns the names of the virtual services the router
// provides, in the order 2018 last gave them, then by name.
func serviceNamesOf(ms *meshState, router *entry) []string {
	var provided []string
	ms.all(kindVirtualService, func(s *entry) {
		if pr := providerOf(s.rec); pr != nil && pr.VirtualRouter != nil && deref(pr.VirtualRouter.VirtualRouterName) == router.key.name {
			provided = append(provided, s.key.name)
		}
	})
	sort.Strings(provided)
	var out []string
	for _, n := range router.rec.ServiceNames {
		if slices.Contains(provided, n) {
			out = append(out, n)
		}
	}
	for _, n := range provided {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func (p *partition) vrData2018(ms *meshState, e *entry, r *record, status string, names []string) *VirtualRouterData2018 {
	if names == nil && ms != nil {
		names = serviceNamesOf(ms, &entry{key: e.key, rec: r})
	}
	return &VirtualRouterData2018{MeshName: str(e.key.mesh), VirtualRouterName: str(e.key.name), Metadata: p.meta2018(e.key, r),
		Spec: &VirtualRouterSpec2018{ServiceNames: names}, Status: &VirtualRouterStatus2018{Status: str(status)}}
}

// setServiceNames makes, in t, the virtual services the router provides
// exactly names: missing ones are created as implicit services, implicit
// ones no longer named are deleted, and GA-made ones no longer named lose
// their provider.
func (b *Backend) setServiceNames(p *partition, t *txn, ms *meshState, mesh, router string, names []string) error {
	seen := map[string]bool{}
	var create []string
	for _, n := range names {
		if seen[n] {
			return badRequest("Duplicate service name %s", n)
		}
		seen[n] = true
		e := ms.get(kindVirtualService, "", n)
		if e == nil {
			if err := checkName(vsKey(mesh, n)); err != nil {
				return err
			}
			create = append(create, n)
			continue
		}
		if pr := providerOf(e.rec); pr == nil || pr.VirtualRouter == nil || deref(pr.VirtualRouter.VirtualRouterName) != router {
			return conflict(fmt.Sprintf("VirtualService %s already exists in mesh %s with another provider", n, mesh))
		}
	}
	if err := b.checkQuota(p, ms, vsKey(mesh, ""), len(create)); err != nil {
		return err
	}
	for _, n := range create {
		r := b.newRecord(p, nil)
		r.Implicit = true
		r.VirtualService = &VirtualServiceSpec{Provider: &VirtualServiceProvider{VirtualRouter: &VirtualRouterServiceProvider{VirtualRouterName: str(router)}}}
		key := vsKey(mesh, n).storeKey(p.key)
		t.cond(key, 0)
		t.put(key, r)
	}
	var err error
	ms.all(kindVirtualService, func(s *entry) {
		pr := providerOf(s.rec)
		if err != nil || seen[s.key.name] || pr == nil || pr.VirtualRouter == nil || deref(pr.VirtualRouter.VirtualRouterName) != router {
			return
		}
		key := s.key.storeKey(p.key)
		t.cond(key, s.modRev)
		if s.rec.Implicit {
			if err = virtualServiceInUse(ms, s); err == nil {
				t.del(key)
			}
			return
		}
		r := b.bumped(s.rec)
		r.VirtualService = &VirtualServiceSpec{}
		t.put(key, r)
	})
	return err
}

// ---- route ----

// routeSpecFrom2018 maps a 2018 route spec onto the GA model, keeping the
// GA-only parts of old (the spec it replaces, if any).
func routeSpecFrom2018(s *RouteSpec2018, old *RouteSpec) *RouteSpec {
	out := convert[RouteSpec](s)
	if old == nil {
		return out
	}
	out.Priority = old.Priority
	nh, oh := out.HTTPRoute, old.HTTPRoute
	if nh == nil || oh == nil {
		return out
	}
	nh.RetryPolicy, nh.Timeout = clone(oh.RetryPolicy), clone(oh.Timeout)
	if nh.Match != nil && oh.Match != nil {
		m := clone(oh.Match)
		m.Prefix = nh.Match.Prefix
		if m.Prefix != nil {
			m.Path = nil
		}
		nh.Match = m
	}
	if nh.Action != nil && oh.Action != nil {
		for i, wt := range nh.Action.WeightedTargets {
			for _, ot := range oh.Action.WeightedTargets {
				if deref(ot.VirtualNode) == deref(wt.VirtualNode) {
					nh.Action.WeightedTargets[i].Port = ot.Port
				}
			}
		}
	}
	return out
}

func (p *partition) routeData2018(k rkey, r *record, status string) *RouteData2018 {
	return &RouteData2018{MeshName: str(k.mesh), VirtualRouterName: str(k.parent), RouteName: str(k.name), Metadata: p.meta2018(k, r),
		Spec: convert[RouteSpec2018](orEmpty(r.Route)), Status: &RouteStatus2018{Status: str(status)}}
}

// ---- operations ----

func (p *partition) meshData2018(k rkey, r *record, status string) *MeshData2018 {
	return &MeshData2018{MeshName: str(k.mesh), Metadata: p.meta2018(k, r), Status: &MeshStatus2018{Status: str(status)}}
}

// CreateMesh2018 implements CreateMesh (2018-10-01).
func (b *Backend) CreateMesh2018(ctx context.Context, in *CreateMeshInput2018) (*CreateMeshOutput2018, error) {
	return write(b, ctx, "2018/CreateMesh", in.ClientToken, in, func(p *partition, t *txn) (*CreateMeshOutput2018, error) {
		k, r, err := b.createMesh(p, t, *in.MeshName, nil, nil)
		if err != nil {
			return nil, err
		}
		return &CreateMeshOutput2018{Mesh: p.meshData2018(k, r, statusActive)}, nil
	})
}

// DescribeMesh2018 implements DescribeMesh (2018-10-01).
func (b *Backend) DescribeMesh2018(ctx context.Context, in *DescribeMeshInput2018) (*DescribeMeshOutput2018, error) {
	var out *DescribeMeshOutput2018
	err := b.read(ctx, func(p *partition) error {
		ms, err := p.meshFor(*in.MeshName, nil)
		if err == nil {
			out = &DescribeMeshOutput2018{Mesh: p.meshData2018(ms.self.key, ms.self.rec, statusActive)}
		}
		return err
	})
	return out, err
}

// DeleteMesh2018 implements DeleteMesh (2018-10-01).
func (b *Backend) DeleteMesh2018(ctx context.Context, in *DeleteMeshInput2018) (*DeleteMeshOutput2018, error) {
	return write(b, ctx, "2018/DeleteMesh", nil, in, func(p *partition, t *txn) (*DeleteMeshOutput2018, error) {
		e, err := b.deleteMesh(p, t, *in.MeshName)
		if err != nil {
			return nil, err
		}
		return &DeleteMeshOutput2018{Mesh: p.meshData2018(e.key, e.rec, statusDeleted)}, nil
	})
}

// ListMeshes2018 implements ListMeshes (2018-10-01).
func (b *Backend) ListMeshes2018(ctx context.Context, in *ListMeshesInput2018) (*ListMeshesOutput2018, error) {
	var out *ListMeshesOutput2018
	err := b.read(ctx, func(p *partition) error {
		refs, next, err := page(p.sortedMeshes(), in.Limit, in.NextToken, func(e *entry) MeshRef2018 {
			return MeshRef2018{ARN: str(e.key.arn(p.key)), MeshName: str(e.key.mesh)}
		})
		out = &ListMeshesOutput2018{Meshes: refs, NextToken: next}
		return err
	})
	return out, err
}

// CreateVirtualNode2018 implements CreateVirtualNode (2018-10-01).
func (b *Backend) CreateVirtualNode2018(ctx context.Context, in *CreateVirtualNodeInput2018) (*CreateVirtualNodeOutput2018, error) {
	return write(b, ctx, "2018/CreateVirtualNode", in.ClientToken, in, func(p *partition, t *txn) (*CreateVirtualNodeOutput2018, error) {
		k := vnKey(*in.MeshName, *in.VirtualNodeName)
		r, err := b.createIn(p, t, k, nil, nil, func(ms *meshState, r *record) error {
			r.VirtualNode = vnSpecFrom2018(in.Spec, nil)
			return b.checkVirtualNodeSpec(r.VirtualNode)
		})
		if err != nil {
			return nil, err
		}
		return &CreateVirtualNodeOutput2018{VirtualNode: p.vnData2018(k, r, statusActive)}, nil
	})
}

// DescribeVirtualNode2018 implements DescribeVirtualNode (2018-10-01).
func (b *Backend) DescribeVirtualNode2018(ctx context.Context, in *DescribeVirtualNodeInput2018) (*DescribeVirtualNodeOutput2018, error) {
	var out *DescribeVirtualNodeOutput2018
	err := b.read(ctx, func(p *partition) error {
		_, e, err := p.find(vnKey(*in.MeshName, *in.VirtualNodeName), nil)
		if err == nil {
			out = &DescribeVirtualNodeOutput2018{VirtualNode: p.vnData2018(e.key, e.rec, statusActive)}
		}
		return err
	})
	return out, err
}

// UpdateVirtualNode2018 implements UpdateVirtualNode (2018-10-01).
func (b *Backend) UpdateVirtualNode2018(ctx context.Context, in *UpdateVirtualNodeInput2018) (*UpdateVirtualNodeOutput2018, error) {
	return write(b, ctx, "2018/UpdateVirtualNode", in.ClientToken, in, func(p *partition, t *txn) (*UpdateVirtualNodeOutput2018, error) {
		k := vnKey(*in.MeshName, *in.VirtualNodeName)
		r, err := b.updateIn(p, t, k, nil, func(ms *meshState, old *entry, r *record) error {
			r.VirtualNode = vnSpecFrom2018(in.Spec, old.rec.VirtualNode)
			return b.checkVirtualNodeSpec(r.VirtualNode)
		})
		if err != nil {
			return nil, err
		}
		return &UpdateVirtualNodeOutput2018{VirtualNode: p.vnData2018(k, r, statusActive)}, nil
	})
}

// DeleteVirtualNode2018 implements DeleteVirtualNode (2018-10-01).
func (b *Backend) DeleteVirtualNode2018(ctx context.Context, in *DeleteVirtualNodeInput2018) (*DeleteVirtualNodeOutput2018, error) {
	return write(b, ctx, "2018/DeleteVirtualNode", nil, in, func(p *partition, t *txn) (*DeleteVirtualNodeOutput2018, error) {
		e, err := b.deleteIn(p, t, vnKey(*in.MeshName, *in.VirtualNodeName), nil, virtualNodeInUse)
		if err != nil {
			return nil, err
		}
		return &DeleteVirtualNodeOutput2018{VirtualNode: p.vnData2018(e.key, e.rec, statusDeleted)}, nil
	})
}

// ListVirtualNodes2018 implements ListVirtualNodes (2018-10-01).
func (b *Backend) ListVirtualNodes2018(ctx context.Context, in *ListVirtualNodesInput2018) (*ListVirtualNodesOutput2018, error) {
	var out *ListVirtualNodesOutput2018
	err := b.read(ctx, func(p *partition) error {
		ms, err := p.meshFor(*in.MeshName, nil)
		if err != nil {
			return err
		}
		refs, next, err := page(ms.list(kindVirtualNode, ""), in.Limit, in.NextToken, func(e *entry) VirtualNodeRef2018 {
			return VirtualNodeRef2018{ARN: str(e.key.arn(p.key)), MeshName: str(e.key.mesh), VirtualNodeName: str(e.key.name)}
		})
		out = &ListVirtualNodesOutput2018{VirtualNodes: refs, NextToken: next}
		return err
	})
	return out, err
}

// CreateVirtualRouter2018 implements CreateVirtualRouter (2018-10-01): the
// router and the implicit virtual services of its serviceNames, in one
// transaction.
func (b *Backend) CreateVirtualRouter2018(ctx context.Context, in *CreateVirtualRouterInput2018) (*CreateVirtualRouterOutput2018, error) {
	return write(b, ctx, "2018/CreateVirtualRouter", in.ClientToken, in, func(p *partition, t *txn) (*CreateVirtualRouterOutput2018, error) {
		k := vrKey(*in.MeshName, *in.VirtualRouterName)
		names := in.Spec.ServiceNames
		var ms *meshState
		r, err := b.createIn(p, t, k, nil, nil, func(m *meshState, r *record) error {
			ms = m
			r.VirtualRouter = &VirtualRouterSpec{}
			r.ServiceNames = slices.Clone(names)
			return b.setServiceNames(p, t, m, k.mesh, k.name, names)
		})
		if err != nil {
			return nil, err
		}
		return &CreateVirtualRouterOutput2018{VirtualRouter: p.vrData2018(ms, &entry{key: k}, r, statusActive, nonNil(names))}, nil
	})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// DescribeVirtualRouter2018 implements DescribeVirtualRouter (2018-10-01).
func (b *Backend) DescribeVirtualRouter2018(ctx context.Context, in *DescribeVirtualRouterInput2018) (*DescribeVirtualRouterOutput2018, error) {
	var out *DescribeVirtualRouterOutput2018
	err := b.read(ctx, func(p *partition) error {
		ms, e, err := p.find(vrKey(*in.MeshName, *in.VirtualRouterName), nil)
		if err == nil {
			out = &DescribeVirtualRouterOutput2018{VirtualRouter: p.vrData2018(ms, e, e.rec, statusActive, nil)}
		}
		return err
	})
	return out, err
}

// UpdateVirtualRouter2018 implements UpdateVirtualRouter (2018-10-01).
func (b *Backend) UpdateVirtualRouter2018(ctx context.Context, in *UpdateVirtualRouterInput2018) (*UpdateVirtualRouterOutput2018, error) {
	return write(b, ctx, "2018/UpdateVirtualRouter", in.ClientToken, in, func(p *partition, t *txn) (*UpdateVirtualRouterOutput2018, error) {
		k := vrKey(*in.MeshName, *in.VirtualRouterName)
		names := in.Spec.ServiceNames
		var ms *meshState
		r, err := b.updateIn(p, t, k, nil, func(m *meshState, old *entry, r *record) error {
			ms = m
			r.ServiceNames = slices.Clone(names)
			return b.setServiceNames(p, t, m, k.mesh, k.name, names)
		})
		if err != nil {
			return nil, err
		}
		return &UpdateVirtualRouterOutput2018{VirtualRouter: p.vrData2018(ms, &entry{key: k}, r, statusActive, nonNil(names))}, nil
	})
}

// DeleteVirtualRouter2018 implements DeleteVirtualRouter (2018-10-01).
func (b *Backend) DeleteVirtualRouter2018(ctx context.Context, in *DeleteVirtualRouterInput2018) (*DeleteVirtualRouterOutput2018, error) {
	return write(b, ctx, "2018/DeleteVirtualRouter", nil, in, func(p *partition, t *txn) (*DeleteVirtualRouterOutput2018, error) {
		ms, _ := p.meshFor(*in.MeshName, nil)
		var names []string
		if ms != nil {
			if e := ms.get(kindVirtualRouter, "", *in.VirtualRouterName); e != nil {
				names = serviceNamesOf(ms, e)
			}
		}
		e, err := b.deleteVirtualRouter(p, t, *in.MeshName, *in.VirtualRouterName, nil)
		if err != nil {
			return nil, err
		}
		return &DeleteVirtualRouterOutput2018{VirtualRouter: p.vrData2018(nil, e, e.rec, statusDeleted, nonNil(names))}, nil
	})
}

// ListVirtualRouters2018 implements ListVirtualRouters (2018-10-01).
func (b *Backend) ListVirtualRouters2018(ctx context.Context, in *ListVirtualRoutersInput2018) (*ListVirtualRoutersOutput2018, error) {
	var out *ListVirtualRoutersOutput2018
	err := b.read(ctx, func(p *partition) error {
		ms, err := p.meshFor(*in.MeshName, nil)
		if err != nil {
			return err
		}
		refs, next, err := page(ms.list(kindVirtualRouter, ""), in.Limit, in.NextToken, func(e *entry) VirtualRouterRef2018 {
			return VirtualRouterRef2018{ARN: str(e.key.arn(p.key)), MeshName: str(e.key.mesh), VirtualRouterName: str(e.key.name)}
		})
		out = &ListVirtualRoutersOutput2018{VirtualRouters: refs, NextToken: next}
		return err
	})
	return out, err
}

// CreateRoute2018 implements CreateRoute (2018-10-01).
func (b *Backend) CreateRoute2018(ctx context.Context, in *CreateRouteInput2018) (*CreateRouteOutput2018, error) {
	return write(b, ctx, "2018/CreateRoute", in.ClientToken, in, func(p *partition, t *txn) (*CreateRouteOutput2018, error) {
		k := routeKey(*in.MeshName, *in.VirtualRouterName, *in.RouteName)
		r, err := b.createIn(p, t, k, nil, nil, func(ms *meshState, r *record) error {
			r.Route = routeSpecFrom2018(in.Spec, nil)
			return checkRouteSpec(p, ms, k.mesh, r.Route)
		})
		if err != nil {
			return nil, err
		}
		return &CreateRouteOutput2018{Route: p.routeData2018(k, r, statusActive)}, nil
	})
}

// DescribeRoute2018 implements DescribeRoute (2018-10-01).
func (b *Backend) DescribeRoute2018(ctx context.Context, in *DescribeRouteInput2018) (*DescribeRouteOutput2018, error) {
	var out *DescribeRouteOutput2018
	err := b.read(ctx, func(p *partition) error {
		_, e, err := p.find(routeKey(*in.MeshName, *in.VirtualRouterName, *in.RouteName), nil)
		if err == nil {
			out = &DescribeRouteOutput2018{Route: p.routeData2018(e.key, e.rec, statusActive)}
		}
		return err
	})
	return out, err
}

// UpdateRoute2018 implements UpdateRoute (2018-10-01).
func (b *Backend) UpdateRoute2018(ctx context.Context, in *UpdateRouteInput2018) (*UpdateRouteOutput2018, error) {
	return write(b, ctx, "2018/UpdateRoute", in.ClientToken, in, func(p *partition, t *txn) (*UpdateRouteOutput2018, error) {
		k := routeKey(*in.MeshName, *in.VirtualRouterName, *in.RouteName)
		r, err := b.updateIn(p, t, k, nil, func(ms *meshState, old *entry, r *record) error {
			r.Route = routeSpecFrom2018(in.Spec, old.rec.Route)
			return checkRouteSpec(p, ms, k.mesh, r.Route)
		})
		if err != nil {
			return nil, err
		}
		return &UpdateRouteOutput2018{Route: p.routeData2018(k, r, statusActive)}, nil
	})
}

// DeleteRoute2018 implements DeleteRoute (2018-10-01).
func (b *Backend) DeleteRoute2018(ctx context.Context, in *DeleteRouteInput2018) (*DeleteRouteOutput2018, error) {
	return write(b, ctx, "2018/DeleteRoute", nil, in, func(p *partition, t *txn) (*DeleteRouteOutput2018, error) {
		e, err := b.deleteIn(p, t, routeKey(*in.MeshName, *in.VirtualRouterName, *in.RouteName), nil, nil)
		if err != nil {
			return nil, err
		}
		return &DeleteRouteOutput2018{Route: p.routeData2018(e.key, e.rec, statusDeleted)}, nil
	})
}

// ListRoutes2018 implements ListRoutes (2018-10-01).
func (b *Backend) ListRoutes2018(ctx context.Context, in *ListRoutesInput2018) (*ListRoutesOutput2018, error) {
	var out *ListRoutesOutput2018
	err := b.read(ctx, func(p *partition) error {
		ms, err := p.meshFor(*in.MeshName, nil)
		if err != nil {
			return err
		}
		if ms.get(kindVirtualRouter, "", *in.VirtualRouterName) == nil {
			return notFound(p.key, vrKey(*in.MeshName, *in.VirtualRouterName))
		}
		refs, next, err := page(ms.list(kindRoute, *in.VirtualRouterName), in.Limit, in.NextToken, func(e *entry) RouteRef2018 {
			return RouteRef2018{ARN: str(e.key.arn(p.key)), MeshName: str(e.key.mesh), RouteName: str(e.key.name), VirtualRouterName: str(e.key.parent)}
		})
		out = &ListRoutesOutput2018{Routes: refs, NextToken: next}
		return err
	})
	return out, err
}
