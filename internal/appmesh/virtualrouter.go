package appmesh

import "context"

func vrKey(mesh, name string) rkey { return rkey{kind: kindVirtualRouter, mesh: mesh, name: name} }

func (p *partition) vrData(k rkey, r *record, status string) *VirtualRouterData {
	return &VirtualRouterData{MeshName: str(k.mesh), VirtualRouterName: str(k.name), Metadata: p.meta(k, r),
		Spec: orEmpty(r.VirtualRouter), Status: &VirtualRouterStatus{Status: str(status)}}
}

func checkVirtualRouterSpec(s *VirtualRouterSpec) error {
	ports := map[int32]bool{}
	for _, l := range s.Listeners {
		if l.PortMapping == nil || l.PortMapping.Port == nil {
			continue
		}
		if ports[*l.PortMapping.Port] {
			return badRequest("Duplicate listener port %d", *l.PortMapping.Port)
		}
		ports[*l.PortMapping.Port] = true
	}
	return nil
}

// virtualRouterInUse fails when the router has routes or is the provider
// of a virtual service made through the 2019-01-25 API. The implicit
// services of its 2018-10-01 serviceNames go with it (see
// deleteImplicitServices).
func virtualRouterInUse(ms *meshState, e *entry) error {
	name := e.key.name
	if n := len(ms.items[scope(kindRoute, name)]); n > 0 {
		return resourceInUse("VirtualRouter %s has %d routes; delete them first", name, n)
	}
	var err error
	ms.all(kindVirtualService, func(s *entry) {
		if pr := providerOf(s.rec); pr != nil && pr.VirtualRouter != nil && deref(pr.VirtualRouter.VirtualRouterName) == name && !s.rec.Implicit && err == nil {
			err = resourceInUse("VirtualRouter %s is the provider of VirtualService %s; change the provider first", name, s.key.name)
		}
	})
	return err
}

// deleteImplicitServices deletes, in t, the implicit virtual services the
// router provides (its 2018-10-01 serviceNames), unless a gateway route
// targets one.
func (b *Backend) deleteImplicitServices(p *partition, t *txn, ms *meshState, router string) error {
	for _, s := range ms.list(kindVirtualService, "") {
		if pr := providerOf(s.rec); s.rec.Implicit && pr != nil && pr.VirtualRouter != nil && deref(pr.VirtualRouter.VirtualRouterName) == router {
			if err := virtualServiceInUse(ms, s); err != nil {
				return err
			}
			key := s.key.storeKey(p.key)
			t.cond(key, s.modRev)
			t.del(key)
		}
	}
	return nil
}

// CreateVirtualRouter implements the operation of that name (2019-01-25).
func (b *Backend) CreateVirtualRouter(ctx context.Context, in *CreateVirtualRouterInput) (*CreateVirtualRouterOutput, error) {
	return write(b, ctx, "2019/CreateVirtualRouter", in.ClientToken, in, func(p *partition, t *txn) (*CreateVirtualRouterOutput, error) {
		k := vrKey(*in.MeshName, *in.VirtualRouterName)
		r, err := b.createIn(p, t, k, in.MeshOwner, in.Tags, func(ms *meshState, r *record) error {
			r.VirtualRouter = clone(in.Spec)
			return checkVirtualRouterSpec(r.VirtualRouter)
		})
		if err != nil {
			return nil, err
		}
		return &CreateVirtualRouterOutput{VirtualRouter: p.vrData(k, r, statusActive)}, nil
	})
}

// DescribeVirtualRouter implements the operation of that name (2019-01-25).
func (b *Backend) DescribeVirtualRouter(ctx context.Context, in *DescribeVirtualRouterInput) (*DescribeVirtualRouterOutput, error) {
	var out *DescribeVirtualRouterOutput
	err := b.read(ctx, func(p *partition) error {
		_, e, err := p.find(vrKey(*in.MeshName, *in.VirtualRouterName), in.MeshOwner)
		if err == nil {
			out = &DescribeVirtualRouterOutput{VirtualRouter: p.vrData(e.key, e.rec, statusActive)}
		}
		return err
	})
	return out, err
}

// UpdateVirtualRouter implements the operation of that name (2019-01-25).
func (b *Backend) UpdateVirtualRouter(ctx context.Context, in *UpdateVirtualRouterInput) (*UpdateVirtualRouterOutput, error) {
	return write(b, ctx, "2019/UpdateVirtualRouter", in.ClientToken, in, func(p *partition, t *txn) (*UpdateVirtualRouterOutput, error) {
		k := vrKey(*in.MeshName, *in.VirtualRouterName)
		r, err := b.updateIn(p, t, k, in.MeshOwner, func(ms *meshState, old *entry, r *record) error {
			r.VirtualRouter = clone(in.Spec)
			return checkVirtualRouterSpec(r.VirtualRouter)
		})
		if err != nil {
			return nil, err
		}
		return &UpdateVirtualRouterOutput{VirtualRouter: p.vrData(k, r, statusActive)}, nil
	})
}

// deleteVirtualRouter deletes a router and its implicit services.
func (b *Backend) deleteVirtualRouter(p *partition, t *txn, mesh, name string, owner *string) (*entry, error) {
	return b.deleteIn(p, t, vrKey(mesh, name), owner, func(ms *meshState, e *entry) error {
		if err := virtualRouterInUse(ms, e); err != nil {
			return err
		}
		return b.deleteImplicitServices(p, t, ms, name)
	})
}

// DeleteVirtualRouter implements the operation of that name (2019-01-25).
func (b *Backend) DeleteVirtualRouter(ctx context.Context, in *DeleteVirtualRouterInput) (*DeleteVirtualRouterOutput, error) {
	return write(b, ctx, "2019/DeleteVirtualRouter", nil, in, func(p *partition, t *txn) (*DeleteVirtualRouterOutput, error) {
		e, err := b.deleteVirtualRouter(p, t, *in.MeshName, *in.VirtualRouterName, in.MeshOwner)
		if err != nil {
			return nil, err
		}
		return &DeleteVirtualRouterOutput{VirtualRouter: p.vrData(e.key, e.rec, statusDeleted)}, nil
	})
}

// ListVirtualRouters implements the operation of that name (2019-01-25).
func (b *Backend) ListVirtualRouters(ctx context.Context, in *ListVirtualRoutersInput) (*ListVirtualRoutersOutput, error) {
	var out *ListVirtualRoutersOutput
	err := b.read(ctx, func(p *partition) error {
		ms, err := p.meshFor(*in.MeshName, in.MeshOwner)
		if err != nil {
			return err
		}
		refs, next, err := page(ms.list(kindVirtualRouter, ""), in.Limit, in.NextToken, func(e *entry) VirtualRouterRef {
			m := p.meta(e.key, e.rec)
			return VirtualRouterRef{ARN: m.ARN, CreatedAt: m.CreatedAt, LastUpdatedAt: m.LastUpdatedAt, MeshName: str(e.key.mesh),
				MeshOwner: m.MeshOwner, ResourceOwner: m.ResourceOwner, Version: m.Version, VirtualRouterName: str(e.key.name)}
		})
		out = &ListVirtualRoutersOutput{VirtualRouters: refs, NextToken: next}
		return err
	})
	return out, err
}
