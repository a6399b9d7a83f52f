package appmesh

import (
	"context"
	"strings"
)

func grKey(mesh, gateway, name string) rkey {
	return rkey{kind: kindGatewayRoute, mesh: mesh, parent: gateway, name: name}
}

func (p *partition) grData(k rkey, r *record, status string) *GatewayRouteData {
	return &GatewayRouteData{MeshName: str(k.mesh), VirtualGatewayName: str(k.parent), GatewayRouteName: str(k.name),
		Metadata: p.meta(k, r), Spec: orEmpty(r.GatewayRoute), Status: &GatewayRouteStatus{Status: str(status)}}
}

// gatewayRouteTarget returns the name of the virtual service a gateway
// route sends to.
func gatewayRouteTarget(s *GatewayRouteSpec) string {
	var t *GatewayRouteTarget
	switch {
	case s == nil:
	case s.HTTPRoute != nil && s.HTTPRoute.Action != nil:
		t = s.HTTPRoute.Action.Target
	case s.HTTP2Route != nil && s.HTTP2Route.Action != nil:
		t = s.HTTP2Route.Action.Target
	case s.GRPCRoute != nil && s.GRPCRoute.Action != nil:
		t = s.GRPCRoute.Action.Target
	}
	if t == nil || t.VirtualService == nil {
		return ""
	}
	return deref(t.VirtualService.VirtualServiceName)
}

// checkGatewayRouteSpec enforces what the model cannot say: exactly one
// kind of route, prefixes that start with '/' and are not reserved, and a
// target that exists in the mesh.
func checkGatewayRouteSpec(p *partition, ms *meshState, mesh string, s *GatewayRouteSpec) error {
	n := 0
	for _, set := range []bool{s.HTTPRoute != nil, s.HTTP2Route != nil, s.GRPCRoute != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return badRequest("A gateway route spec must have exactly one of httpRoute, http2Route and grpcRoute; it has %d", n)
	}
	for _, h := range []*HTTPGatewayRoute{s.HTTPRoute, s.HTTP2Route} {
		if h == nil || h.Match == nil || h.Match.Prefix == nil {
			continue
		}
		pre := *h.Match.Prefix
		if !strings.HasPrefix(pre, "/") {
			return badRequest("The gateway route prefix %q must start with /", pre)
		}
		if l := strings.ToLower(pre); strings.HasPrefix(l, "/aws-appmesh") || strings.HasPrefix(l, "/aws-app-mesh") {
			return badRequest("The gateway route prefix %q is reserved", pre)
		}
	}
	if g := s.GRPCRoute; g != nil && g.Match != nil && strings.HasPrefix(strings.ToLower(deref(g.Match.ServiceName)), "aws.appmesh") {
		return badRequest("The gRPC service name %q is reserved", deref(g.Match.ServiceName))
	}
	target := gatewayRouteTarget(s)
	if ms.get(kindVirtualService, "", target) == nil {
		return notFound(p.key, vsKey(mesh, target))
	}
	return nil
}

// CreateGatewayRoute implements the operation of that name (2019-01-25).
func (b *Backend) CreateGatewayRoute(ctx context.Context, in *CreateGatewayRouteInput) (*CreateGatewayRouteOutput, error) {
	return write(b, ctx, "2019/CreateGatewayRoute", in.ClientToken, in, func(p *partition, t *txn) (*CreateGatewayRouteOutput, error) {
		k := grKey(*in.MeshName, *in.VirtualGatewayName, *in.GatewayRouteName)
		r, err := b.createIn(p, t, k, in.MeshOwner, in.Tags, func(ms *meshState, r *record) error {
			r.GatewayRoute = clone(in.Spec)
			return checkGatewayRouteSpec(p, ms, k.mesh, r.GatewayRoute)
		})
		if err != nil {
			return nil, err
		}
		return &CreateGatewayRouteOutput{GatewayRoute: p.grData(k, r, statusActive)}, nil
	})
}

// DescribeGatewayRoute implements the operation of that name (2019-01-25).
func (b *Backend) DescribeGatewayRoute(ctx context.Context, in *DescribeGatewayRouteInput) (*DescribeGatewayRouteOutput, error) {
	var out *DescribeGatewayRouteOutput
	err := b.read(ctx, func(p *partition) error {
		_, e, err := p.find(grKey(*in.MeshName, *in.VirtualGatewayName, *in.GatewayRouteName), in.MeshOwner)
		if err == nil {
			out = &DescribeGatewayRouteOutput{GatewayRoute: p.grData(e.key, e.rec, statusActive)}
		}
		return err
	})
	return out, err
}

// UpdateGatewayRoute implements the operation of that name (2019-01-25).
func (b *Backend) UpdateGatewayRoute(ctx context.Context, in *UpdateGatewayRouteInput) (*UpdateGatewayRouteOutput, error) {
	return write(b, ctx, "2019/UpdateGatewayRoute", in.ClientToken, in, func(p *partition, t *txn) (*UpdateGatewayRouteOutput, error) {
		k := grKey(*in.MeshName, *in.VirtualGatewayName, *in.GatewayRouteName)
		r, err := b.updateIn(p, t, k, in.MeshOwner, func(ms *meshState, old *entry, r *record) error {
			r.GatewayRoute = clone(in.Spec)
			return checkGatewayRouteSpec(p, ms, k.mesh, r.GatewayRoute)
		})
		if err != nil {
			return nil, err
		}
		return &UpdateGatewayRouteOutput{GatewayRoute: p.grData(k, r, statusActive)}, nil
	})
}

// DeleteGatewayRoute implements the operation of that name (2019-01-25).
func (b *Backend) DeleteGatewayRoute(ctx context.Context, in *DeleteGatewayRouteInput) (*DeleteGatewayRouteOutput, error) {
	return write(b, ctx, "2019/DeleteGatewayRoute", nil, in, func(p *partition, t *txn) (*DeleteGatewayRouteOutput, error) {
		e, err := b.deleteIn(p, t, grKey(*in.MeshName, *in.VirtualGatewayName, *in.GatewayRouteName), in.MeshOwner, nil)
		if err != nil {
			return nil, err
		}
		return &DeleteGatewayRouteOutput{GatewayRoute: p.grData(e.key, e.rec, statusDeleted)}, nil
	})
}

// ListGatewayRoutes implements the operation of that name (2019-01-25).
func (b *Backend) ListGatewayRoutes(ctx context.Context, in *ListGatewayRoutesInput) (*ListGatewayRoutesOutput, error) {
	var out *ListGatewayRoutesOutput
	err := b.read(ctx, func(p *partition) error {
		ms, err := p.meshFor(*in.MeshName, in.MeshOwner)
		if err != nil {
			return err
		}
		if ms.get(kindVirtualGateway, "", *in.VirtualGatewayName) == nil {
			return notFound(p.key, vgKey(*in.MeshName, *in.VirtualGatewayName))
		}
		refs, next, err := page(ms.list(kindGatewayRoute, *in.VirtualGatewayName), in.Limit, in.NextToken, func(e *entry) GatewayRouteRef {
			m := p.meta(e.key, e.rec)
			return GatewayRouteRef{ARN: m.ARN, CreatedAt: m.CreatedAt, LastUpdatedAt: m.LastUpdatedAt, MeshName: str(e.key.mesh),
				MeshOwner: m.MeshOwner, ResourceOwner: m.ResourceOwner, Version: m.Version, GatewayRouteName: str(e.key.name),
				VirtualGatewayName: str(e.key.parent)}
		})
		out = &ListGatewayRoutesOutput{GatewayRoutes: refs, NextToken: next}
		return err
	})
	return out, err
}
