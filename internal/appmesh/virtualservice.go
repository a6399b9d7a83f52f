package appmesh

import "context"

func vsKey(mesh, name string) rkey { return rkey{kind: kindVirtualService, mesh: mesh, name: name} }

func (p *partition) vsData(k rkey, r *record, status string) *VirtualServiceData {
	return &VirtualServiceData{MeshName: str(k.mesh), VirtualServiceName: str(k.name), Metadata: p.meta(k, r),
		Spec: orEmpty(r.VirtualService), Status: &VirtualServiceStatus{Status: str(status)}}
}

// providerOf returns the provider of a virtual service record, or nil.
func providerOf(r *record) *VirtualServiceProvider {
	if r.VirtualService == nil {
		return nil
	}
	return r.VirtualService.Provider
}

// checkVirtualServiceSpec requires the provider to exist in the mesh.
func checkVirtualServiceSpec(p *partition, ms *meshState, mesh string, s *VirtualServiceSpec) error {
	pr := s.Provider
	switch {
	case pr == nil:
	case pr.VirtualNode != nil:
		if n := deref(pr.VirtualNode.VirtualNodeName); ms.get(kindVirtualNode, "", n) == nil {
			return notFound(p.key, vnKey(mesh, n))
		}
	case pr.VirtualRouter != nil:
		if n := deref(pr.VirtualRouter.VirtualRouterName); ms.get(kindVirtualRouter, "", n) == nil {
			return notFound(p.key, vrKey(mesh, n))
		}
	}
	return nil
}

// virtualServiceInUse fails when a gateway route targets the service.
func virtualServiceInUse(ms *meshState, e *entry) error {
	var err error
	ms.all(kindGatewayRoute, func(g *entry) {
		if gatewayRouteTarget(g.rec.GatewayRoute) == e.key.name && err == nil {
			err = resourceInUse("VirtualService %s is the target of GatewayRoute %s of VirtualGateway %s; change the gateway route first", e.key.name, g.key.name, g.key.parent)
		}
	})
	return err
}

// CreateVirtualService implements the operation of that name (2019-01-25).
func (b *Backend) CreateVirtualService(ctx context.Context, in *CreateVirtualServiceInput) (*CreateVirtualServiceOutput, error) {
	return write(b, ctx, "2019/CreateVirtualService", in.ClientToken, in, func(p *partition, t *txn) (*CreateVirtualServiceOutput, error) {
		k := vsKey(*in.MeshName, *in.VirtualServiceName)
		r, err := b.createIn(p, t, k, in.MeshOwner, in.Tags, func(ms *meshState, r *record) error {
			r.VirtualService = clone(in.Spec)
			return checkVirtualServiceSpec(p, ms, k.mesh, r.VirtualService)
		})
		if err != nil {
			return nil, err
		}
		return &CreateVirtualServiceOutput{VirtualService: p.vsData(k, r, statusActive)}, nil
	})
}

// DescribeVirtualService implements the operation of that name (2019-01-25).
func (b *Backend) DescribeVirtualService(ctx context.Context, in *DescribeVirtualServiceInput) (*DescribeVirtualServiceOutput, error) {
	var out *DescribeVirtualServiceOutput
	err := b.read(ctx, func(p *partition) error {
		_, e, err := p.find(vsKey(*in.MeshName, *in.VirtualServiceName), in.MeshOwner)
		if err == nil {
			out = &DescribeVirtualServiceOutput{VirtualService: p.vsData(e.key, e.rec, statusActive)}
		}
		return err
	})
	return out, err
}

// UpdateVirtualService implements the operation of that name (2019-01-25).
// An implicit service (of a 2018-10-01 router) updated here becomes an
// ordinary one.
func (b *Backend) UpdateVirtualService(ctx context.Context, in *UpdateVirtualServiceInput) (*UpdateVirtualServiceOutput, error) {
	return write(b, ctx, "2019/UpdateVirtualService", in.ClientToken, in, func(p *partition, t *txn) (*UpdateVirtualServiceOutput, error) {
		k := vsKey(*in.MeshName, *in.VirtualServiceName)
		r, err := b.updateIn(p, t, k, in.MeshOwner, func(ms *meshState, old *entry, r *record) error {
			r.VirtualService = clone(in.Spec)
			r.Implicit = false
			return checkVirtualServiceSpec(p, ms, k.mesh, r.VirtualService)
		})
		if err != nil {
			return nil, err
		}
		return &UpdateVirtualServiceOutput{VirtualService: p.vsData(k, r, statusActive)}, nil
	})
}

// DeleteVirtualService implements the operation of that name (2019-01-25).
func (b *Backend) DeleteVirtualService(ctx context.Context, in *DeleteVirtualServiceInput) (*DeleteVirtualServiceOutput, error) {
	return write(b, ctx, "2019/DeleteVirtualService", nil, in, func(p *partition, t *txn) (*DeleteVirtualServiceOutput, error) {
		e, err := b.deleteIn(p, t, vsKey(*in.MeshName, *in.VirtualServiceName), in.MeshOwner, virtualServiceInUse)
		if err != nil {
			return nil, err
		}
		return &DeleteVirtualServiceOutput{VirtualService: p.vsData(e.key, e.rec, statusDeleted)}, nil
	})
}

// ListVirtualServices implements the operation of that name (2019-01-25).
func (b *Backend) ListVirtualServices(ctx context.Context, in *ListVirtualServicesInput) (*ListVirtualServicesOutput, error) {
	var out *ListVirtualServicesOutput
	err := b.read(ctx, func(p *partition) error {
		ms, err := p.meshFor(*in.MeshName, in.MeshOwner)
		if err != nil {
			return err
		}
		refs, next, err := page(ms.list(kindVirtualService, ""), in.Limit, in.NextToken, func(e *entry) VirtualServiceRef {
			m := p.meta(e.key, e.rec)
			return VirtualServiceRef{ARN: m.ARN, CreatedAt: m.CreatedAt, LastUpdatedAt: m.LastUpdatedAt, MeshName: str(e.key.mesh),
				MeshOwner: m.MeshOwner, ResourceOwner: m.ResourceOwner, Version: m.Version, VirtualServiceName: str(e.key.name)}
		})
		out = &ListVirtualServicesOutput{VirtualServices: refs, NextToken: next}
		return err
	})
	return out, err
}
