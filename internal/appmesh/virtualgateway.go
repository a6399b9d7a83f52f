package appmesh

import "context"

func vgKey(mesh, name string) rkey { return rkey{kind: kindVirtualGateway, mesh: mesh, name: name} }

func (p *partition) vgData(k rkey, r *record, status string) *VirtualGatewayData {
	return &VirtualGatewayData{MeshName: str(k.mesh), VirtualGatewayName: str(k.name), Metadata: p.meta(k, r),
		Spec: orEmpty(r.VirtualGateway), Status: &VirtualGatewayStatus{Status: str(status)}}
}

// checkVirtualGatewaySpec rejects duplicate listener ports and connection
// pools of another protocol than their listener's.
func checkVirtualGatewaySpec(s *VirtualGatewaySpec) error {
	ports := map[int32]bool{}
	for i, l := range s.Listeners {
		if l.PortMapping == nil || l.PortMapping.Port == nil {
			continue
		}
		port, proto := *l.PortMapping.Port, deref(l.PortMapping.Protocol)
		if ports[port] {
			return badRequest("Duplicate listener port %d", port)
		}
		ports[port] = true
		if cp := l.ConnectionPool; cp != nil {
			got := unionMember(cp.HTTP != nil, "http", cp.HTTP2 != nil, "http2", cp.GRPC != nil, "grpc")
			if got != "" && got != proto {
				return badRequest("Listener %d (%s): the connection pool is for %s", i+1, proto, got)
			}
		}
	}
	return nil
}

// virtualGatewayInUse fails when the gateway has gateway routes.
func virtualGatewayInUse(ms *meshState, e *entry) error {
	if n := len(ms.items[scope(kindGatewayRoute, e.key.name)]); n > 0 {
		return resourceInUse("VirtualGateway %s has %d gateway routes; delete them first", e.key.name, n)
	}
	return nil
}

// CreateVirtualGateway implements the operation of that name (2019-01-25).
func (b *Backend) CreateVirtualGateway(ctx context.Context, in *CreateVirtualGatewayInput) (*CreateVirtualGatewayOutput, error) {
	return write(b, ctx, "2019/CreateVirtualGateway", in.ClientToken, in, func(p *partition, t *txn) (*CreateVirtualGatewayOutput, error) {
		k := vgKey(*in.MeshName, *in.VirtualGatewayName)
		r, err := b.createIn(p, t, k, in.MeshOwner, in.Tags, func(ms *meshState, r *record) error {
			r.VirtualGateway = clone(in.Spec)
			return checkVirtualGatewaySpec(r.VirtualGateway)
		})
		if err != nil {
			return nil, err
		}
		return &CreateVirtualGatewayOutput{VirtualGateway: p.vgData(k, r, statusActive)}, nil
	})
}

// DescribeVirtualGateway implements the operation of that name (2019-01-25).
func (b *Backend) DescribeVirtualGateway(ctx context.Context, in *DescribeVirtualGatewayInput) (*DescribeVirtualGatewayOutput, error) {
	var out *DescribeVirtualGatewayOutput
	err := b.read(ctx, func(p *partition) error {
		_, e, err := p.find(vgKey(*in.MeshName, *in.VirtualGatewayName), in.MeshOwner)
		if err == nil {
			out = &DescribeVirtualGatewayOutput{VirtualGateway: p.vgData(e.key, e.rec, statusActive)}
		}
		return err
	})
	return out, err
}

// UpdateVirtualGateway implements the operation of that name (2019-01-25).
func (b *Backend) UpdateVirtualGateway(ctx context.Context, in *UpdateVirtualGatewayInput) (*UpdateVirtualGatewayOutput, error) {
	return write(b, ctx, "2019/UpdateVirtualGateway", in.ClientToken, in, func(p *partition, t *txn) (*UpdateVirtualGatewayOutput, error) {
		k := vgKey(*in.MeshName, *in.VirtualGatewayName)
		r, err := b.updateIn(p, t, k, in.MeshOwner, func(ms *meshState, old *entry, r *record) error {
			r.VirtualGateway = clone(in.Spec)
			return checkVirtualGatewaySpec(r.VirtualGateway)
		})
		if err != nil {
			return nil, err
		}
		return &UpdateVirtualGatewayOutput{VirtualGateway: p.vgData(k, r, statusActive)}, nil
	})
}

// DeleteVirtualGateway implements the operation of that name (2019-01-25).
func (b *Backend) DeleteVirtualGateway(ctx context.Context, in *DeleteVirtualGatewayInput) (*DeleteVirtualGatewayOutput, error) {
	return write(b, ctx, "2019/DeleteVirtualGateway", nil, in, func(p *partition, t *txn) (*DeleteVirtualGatewayOutput, error) {
		e, err := b.deleteIn(p, t, vgKey(*in.MeshName, *in.VirtualGatewayName), in.MeshOwner, virtualGatewayInUse)
		if err != nil {
			return nil, err
		}
		return &DeleteVirtualGatewayOutput{VirtualGateway: p.vgData(e.key, e.rec, statusDeleted)}, nil
	})
}

// ListVirtualGateways implements the operation of that name (2019-01-25).
func (b *Backend) ListVirtualGateways(ctx context.Context, in *ListVirtualGatewaysInput) (*ListVirtualGatewaysOutput, error) {
	var out *ListVirtualGatewaysOutput
	err := b.read(ctx, func(p *partition) error {
		ms, err := p.meshFor(*in.MeshName, in.MeshOwner)
		if err != nil {
			return err
		}
		refs, next, err := page(ms.list(kindVirtualGateway, ""), in.Limit, in.NextToken, func(e *entry) VirtualGatewayRef {
			m := p.meta(e.key, e.rec)
			return VirtualGatewayRef{ARN: m.ARN, CreatedAt: m.CreatedAt, LastUpdatedAt: m.LastUpdatedAt, MeshName: str(e.key.mesh),
				MeshOwner: m.MeshOwner, ResourceOwner: m.ResourceOwner, Version: m.Version, VirtualGatewayName: str(e.key.name)}
		})
		out = &ListVirtualGatewaysOutput{VirtualGateways: refs, NextToken: next}
		return err
	})
	return out, err
}
