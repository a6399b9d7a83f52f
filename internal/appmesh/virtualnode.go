package appmesh

import "context"

func vnKey(mesh, name string) rkey { return rkey{kind: kindVirtualNode, mesh: mesh, name: name} }

func (p *partition) vnData(k rkey, r *record, status string) *VirtualNodeData {
	return &VirtualNodeData{MeshName: str(k.mesh), VirtualNodeName: str(k.name), Metadata: p.meta(k, r),
		Spec: orEmpty(r.VirtualNode), Status: &VirtualNodeStatus{Status: str(status)}}
}

// unionMember returns the name that follows the first true in pairs of
// (set, name), or "".
func unionMember(pairs ...any) string {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i].(bool) {
			return pairs[i+1].(string)
		}
	}
	return ""
}

func orEmpty[T any](v *T) *T {
	if v == nil {
		return new(T)
	}
	return v
}

// checkVirtualNodeSpec enforces what the model cannot say: the backend
// quota, no duplicate backends or listener ports, and connection pools
// and timeouts of the listener's protocol.
func (b *Backend) checkVirtualNodeSpec(s *VirtualNodeSpec) error {
	if n := len(s.Backends); n > b.cfg.Quotas.BackendsPerVirtualNode {
		return limitExceeded("A virtual node can have at most %d backends; the spec has %d", b.cfg.Quotas.BackendsPerVirtualNode, n)
	}
	seen := map[string]bool{}
	for _, be := range s.Backends {
		if be.VirtualService == nil {
			continue
		}
		name := deref(be.VirtualService.VirtualServiceName)
		if seen[name] {
			return badRequest("Duplicate backend virtual service %s", name)
		}
		seen[name] = true
	}
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
			got := unionMember(cp.HTTP != nil, "http", cp.HTTP2 != nil, "http2", cp.GRPC != nil, "grpc", cp.TCP != nil, "tcp")
			if got != "" && got != proto {
				return badRequest("Listener %d (%s): the connection pool is for %s", i+1, proto, got)
			}
		}
		if to := l.Timeout; to != nil {
			got := unionMember(to.HTTP != nil, "http", to.HTTP2 != nil, "http2", to.GRPC != nil, "grpc", to.TCP != nil, "tcp")
			if got != "" && got != proto {
				return badRequest("Listener %d (%s): the timeout is for %s", i+1, proto, got)
			}
		}
	}
	return nil
}

// virtualNodeInUse fails when a route targets the node or a virtual
// service names it as its provider.
func virtualNodeInUse(ms *meshState, e *entry) error {
	name := e.key.name
	var err error
	ms.all(kindRoute, func(r *entry) {
		for _, wt := range routeTargets(r.rec.Route) {
			if deref(wt.VirtualNode) == name && err == nil {
				err = resourceInUse("VirtualNode %s is a target of Route %s of VirtualRouter %s; remove it from the route first", name, r.key.name, r.key.parent)
			}
		}
	})
	if err != nil {
		return err
	}
	ms.all(kindVirtualService, func(s *entry) {
		if pr := providerOf(s.rec); pr != nil && pr.VirtualNode != nil && deref(pr.VirtualNode.VirtualNodeName) == name && err == nil {
			err = resourceInUse("VirtualNode %s is the provider of VirtualService %s; change the provider first", name, s.key.name)
		}
	})
	return err
}

// CreateVirtualNode implements the operation of that name (2019-01-25).
func (b *Backend) CreateVirtualNode(ctx context.Context, in *CreateVirtualNodeInput) (*CreateVirtualNodeOutput, error) {
	return write(b, ctx, "2019/CreateVirtualNode", in.ClientToken, in, func(p *partition, t *txn) (*CreateVirtualNodeOutput, error) {
		k := vnKey(*in.MeshName, *in.VirtualNodeName)
		r, err := b.createIn(p, t, k, in.MeshOwner, in.Tags, func(ms *meshState, r *record) error {
			r.VirtualNode = clone(in.Spec)
			return b.checkVirtualNodeSpec(r.VirtualNode)
		})
		if err != nil {
			return nil, err
		}
		return &CreateVirtualNodeOutput{VirtualNode: p.vnData(k, r, statusActive)}, nil
	})
}

// DescribeVirtualNode implements the operation of that name (2019-01-25).
func (b *Backend) DescribeVirtualNode(ctx context.Context, in *DescribeVirtualNodeInput) (*DescribeVirtualNodeOutput, error) {
	var out *DescribeVirtualNodeOutput
	err := b.read(ctx, func(p *partition) error {
		_, e, err := p.find(vnKey(*in.MeshName, *in.VirtualNodeName), in.MeshOwner)
		if err == nil {
			out = &DescribeVirtualNodeOutput{VirtualNode: p.vnData(e.key, e.rec, statusActive)}
		}
		return err
	})
	return out, err
}

// UpdateVirtualNode implements the operation of that name (2019-01-25).
func (b *Backend) UpdateVirtualNode(ctx context.Context, in *UpdateVirtualNodeInput) (*UpdateVirtualNodeOutput, error) {
	return write(b, ctx, "2019/UpdateVirtualNode", in.ClientToken, in, func(p *partition, t *txn) (*UpdateVirtualNodeOutput, error) {
		k := vnKey(*in.MeshName, *in.VirtualNodeName)
		r, err := b.updateIn(p, t, k, in.MeshOwner, func(ms *meshState, old *entry, r *record) error {
			r.VirtualNode = clone(in.Spec)
			return b.checkVirtualNodeSpec(r.VirtualNode)
		})
		if err != nil {
			return nil, err
		}
		return &UpdateVirtualNodeOutput{VirtualNode: p.vnData(k, r, statusActive)}, nil
	})
}

// DeleteVirtualNode implements the operation of that name (2019-01-25).
func (b *Backend) DeleteVirtualNode(ctx context.Context, in *DeleteVirtualNodeInput) (*DeleteVirtualNodeOutput, error) {
	return write(b, ctx, "2019/DeleteVirtualNode", nil, in, func(p *partition, t *txn) (*DeleteVirtualNodeOutput, error) {
		e, err := b.deleteIn(p, t, vnKey(*in.MeshName, *in.VirtualNodeName), in.MeshOwner, virtualNodeInUse)
		if err != nil {
			return nil, err
		}
		return &DeleteVirtualNodeOutput{VirtualNode: p.vnData(e.key, e.rec, statusDeleted)}, nil
	})
}

// ListVirtualNodes implements the operation of that name (2019-01-25).
func (b *Backend) ListVirtualNodes(ctx context.Context, in *ListVirtualNodesInput) (*ListVirtualNodesOutput, error) {
	var out *ListVirtualNodesOutput
	err := b.read(ctx, func(p *partition) error {
		ms, err := p.meshFor(*in.MeshName, in.MeshOwner)
		if err != nil {
			return err
		}
		refs, next, err := page(ms.list(kindVirtualNode, ""), in.Limit, in.NextToken, func(e *entry) VirtualNodeRef {
			m := p.meta(e.key, e.rec)
			return VirtualNodeRef{ARN: m.ARN, CreatedAt: m.CreatedAt, LastUpdatedAt: m.LastUpdatedAt, MeshName: str(e.key.mesh),
				MeshOwner: m.MeshOwner, ResourceOwner: m.ResourceOwner, Version: m.Version, VirtualNodeName: str(e.key.name)}
		})
		out = &ListVirtualNodesOutput{VirtualNodes: refs, NextToken: next}
		return err
	})
	return out, err
}
