package appmesh

import (
	"context"
	"strings"
)

func routeKey(mesh, router, name string) rkey {
	return rkey{kind: kindRoute, mesh: mesh, parent: router, name: name}
}

func (p *partition) routeData(k rkey, r *record, status string) *RouteData {
	return &RouteData{MeshName: str(k.mesh), VirtualRouterName: str(k.parent), RouteName: str(k.name), Metadata: p.meta(k, r),
		Spec: orEmpty(r.Route), Status: &RouteStatus{Status: str(status)}}
}

// routeTargets returns the weighted targets of a route, whatever its kind.
func routeTargets(s *RouteSpec) []WeightedTarget {
	switch {
	case s == nil:
		return nil
	case s.HTTPRoute != nil && s.HTTPRoute.Action != nil:
		return s.HTTPRoute.Action.WeightedTargets
	case s.HTTP2Route != nil && s.HTTP2Route.Action != nil:
		return s.HTTP2Route.Action.WeightedTargets
	case s.GRPCRoute != nil && s.GRPCRoute.Action != nil:
		return s.GRPCRoute.Action.WeightedTargets
	case s.TCPRoute != nil && s.TCPRoute.Action != nil:
		return s.TCPRoute.Action.WeightedTargets
	}
	return nil
}

// checkRouteSpec enforces what the model cannot say: exactly one kind of
// route, HTTP prefixes that start with '/', gRPC method names only with a
// service name, and targets that exist in the mesh.
func checkRouteSpec(p *partition, ms *meshState, mesh string, s *RouteSpec) error {
	n := 0
	for _, set := range []bool{s.HTTPRoute != nil, s.HTTP2Route != nil, s.GRPCRoute != nil, s.TCPRoute != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return badRequest("A route spec must have exactly one of httpRoute, http2Route, grpcRoute and tcpRoute; it has %d", n)
	}
	for _, h := range []*HTTPRoute{s.HTTPRoute, s.HTTP2Route} {
		if h == nil || h.Match == nil {
			continue
		}
		if h.Match.Prefix != nil && !strings.HasPrefix(*h.Match.Prefix, "/") {
			return badRequest("The route prefix %q must start with /", *h.Match.Prefix)
		}
		if h.Match.Prefix == nil && h.Match.Path == nil {
			return badRequest("An HTTP route match needs a prefix or a path")
		}
	}
	if g := s.GRPCRoute; g != nil && g.Match != nil && g.Match.MethodName != nil && g.Match.ServiceName == nil {
		return badRequest("A gRPC route match with a methodName needs a serviceName")
	}
	for _, wt := range routeTargets(s) {
		if ms.get(kindVirtualNode, "", deref(wt.VirtualNode)) == nil {
			return notFound(p.key, vnKey(mesh, deref(wt.VirtualNode)))
		}
	}
	return nil
}

// CreateRoute implements the operation of that name (2019-01-25).
func (b *Backend) CreateRoute(ctx context.Context, in *CreateRouteInput) (*CreateRouteOutput, error) {
	return write(b, ctx, "2019/CreateRoute", in.ClientToken, in, func(p *partition, t *txn) (*CreateRouteOutput, error) {
		k := routeKey(*in.MeshName, *in.VirtualRouterName, *in.RouteName)
		r, err := b.createIn(p, t, k, in.MeshOwner, in.Tags, func(ms *meshState, r *record) error {
			r.Route = clone(in.Spec)
			return checkRouteSpec(p, ms, k.mesh, r.Route)
		})
		if err != nil {
			return nil, err
		}
		return &CreateRouteOutput{Route: p.routeData(k, r, statusActive)}, nil
	})
}

// DescribeRoute implements the operation of that name (2019-01-25).
func (b *Backend) DescribeRoute(ctx context.Context, in *DescribeRouteInput) (*DescribeRouteOutput, error) {
	var out *DescribeRouteOutput
	err := b.read(ctx, func(p *partition) error {
		_, e, err := p.find(routeKey(*in.MeshName, *in.VirtualRouterName, *in.RouteName), in.MeshOwner)
		if err == nil {
			out = &DescribeRouteOutput{Route: p.routeData(e.key, e.rec, statusActive)}
		}
		return err
	})
	return out, err
}

// UpdateRoute implements the operation of that name (2019-01-25).
func (b *Backend) UpdateRoute(ctx context.Context, in *UpdateRouteInput) (*UpdateRouteOutput, error) {
	return write(b, ctx, "2019/UpdateRoute", in.ClientToken, in, func(p *partition, t *txn) (*UpdateRouteOutput, error) {
		k := routeKey(*in.MeshName, *in.VirtualRouterName, *in.RouteName)
		r, err := b.updateIn(p, t, k, in.MeshOwner, func(ms *meshState, old *entry, r *record) error {
			r.Route = clone(in.Spec)
			return checkRouteSpec(p, ms, k.mesh, r.Route)
		})
		if err != nil {
			return nil, err
		}
		return &UpdateRouteOutput{Route: p.routeData(k, r, statusActive)}, nil
	})
}

// DeleteRoute implements the operation of that name (2019-01-25).
func (b *Backend) DeleteRoute(ctx context.Context, in *DeleteRouteInput) (*DeleteRouteOutput, error) {
	return write(b, ctx, "2019/DeleteRoute", nil, in, func(p *partition, t *txn) (*DeleteRouteOutput, error) {
		e, err := b.deleteIn(p, t, routeKey(*in.MeshName, *in.VirtualRouterName, *in.RouteName), in.MeshOwner, nil)
		if err != nil {
			return nil, err
		}
		return &DeleteRouteOutput{Route: p.routeData(e.key, e.rec, statusDeleted)}, nil
	})
}

// ListRoutes implements the operation of that name (2019-01-25).
func (b *Backend) ListRoutes(ctx context.Context, in *ListRoutesInput) (*ListRoutesOutput, error) {
	var out *ListRoutesOutput
	err := b.read(ctx, func(p *partition) error {
		ms, err := p.meshFor(*in.MeshName, in.MeshOwner)
		if err != nil {
			return err
		}
		if ms.get(kindVirtualRouter, "", *in.VirtualRouterName) == nil {
			return notFound(p.key, vrKey(*in.MeshName, *in.VirtualRouterName))
		}
		refs, next, err := page(ms.list(kindRoute, *in.VirtualRouterName), in.Limit, in.NextToken, func(e *entry) RouteRef {
			m := p.meta(e.key, e.rec)
			return RouteRef{ARN: m.ARN, CreatedAt: m.CreatedAt, LastUpdatedAt: m.LastUpdatedAt, MeshName: str(e.key.mesh),
				MeshOwner: m.MeshOwner, ResourceOwner: m.ResourceOwner, Version: m.Version, RouteName: str(e.key.name),
				VirtualRouterName: str(e.key.parent)}
		})
		out = &ListRoutesOutput{Routes: refs, NextToken: next}
		return err
	})
	return out, err
}
