package appmesh

import (
	"context"
	"sort"
)

func meshKey(name string) rkey { return rkey{kind: kindMesh, mesh: name, name: name} }

func (p *partition) meshData(k rkey, r *record, status string) *MeshData {
	spec := r.Mesh
	if spec == nil {
		spec = &MeshSpec{}
	}
	return &MeshData{MeshName: str(k.mesh), Metadata: p.meta(k, r), Spec: spec, Status: &MeshStatus{Status: str(status)}}
}

// sortedMeshes returns the partition's meshes as entries, by name.
func (p *partition) sortedMeshes() []*entry {
	var out []*entry
	for _, ms := range p.meshes {
		if ms.self != nil {
			out = append(out, ms.self)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key.name < out[j].key.name })
	return out
}

// createMesh commits a new mesh with spec.
func (b *Backend) createMesh(p *partition, t *txn, name string, spec *MeshSpec, tags []TagRef) (rkey, *record, error) {
	k := meshKey(name)
	if err := checkName(k); err != nil {
		return k, nil, err
	}
	if ms := p.meshes[name]; ms != nil && ms.self != nil {
		return k, nil, alreadyExists(p.key, k)
	}
	n := 0
	for _, ms := range p.meshes {
		if ms.self != nil {
			n++
		}
	}
	if n >= b.cfg.Quotas.MeshesPerAccount {
		return k, nil, limitExceeded("Account %s already has the maximum of %d meshes", p.key.account, b.cfg.Quotas.MeshesPerAccount)
	}
	if len(tags) > b.cfg.Quotas.TagsPerResource {
		return k, nil, tooManyTags(b.cfg.Quotas.TagsPerResource)
	}
	if err := checkTagKeys(tags); err != nil {
		return k, nil, err
	}
	if spec == nil {
		spec = &MeshSpec{}
	}
	r := b.newRecord(p, tags)
	r.Mesh = spec
	key := k.storeKey(p.key)
	t.cond(key, 0)
	t.cond(p.key.key(kindRev, allMeshes), p.allRev)
	t.put(p.key.key(kindRev, allMeshes), nil)
	t.put(key, r)
	return k, r, nil
}

// deleteMesh deletes an empty mesh.
func (b *Backend) deleteMesh(p *partition, t *txn, name string) (*entry, error) {
	ms, err := p.meshFor(name, nil)
	if err != nil {
		return nil, err
	}
	if n := ms.count(); n > 0 {
		return nil, resourceInUse("Mesh %s still contains %d resources (virtual services, routes, virtual routers, virtual nodes, virtual gateways or gateway routes); delete them first", name, n)
	}
	key := meshKey(name).storeKey(p.key)
	mk := p.key.key(kindRev, esc(name))
	t.cond(key, ms.self.modRev)
	t.cond(mk, ms.rev)
	t.cond(p.key.key(kindRev, allMeshes), p.allRev)
	t.put(p.key.key(kindRev, allMeshes), nil)
	t.del(mk)
	t.del(key)
	return ms.self, nil
}

// CreateMesh implements the operation of that name (2019-01-25).
func (b *Backend) CreateMesh(ctx context.Context, in *CreateMeshInput) (*CreateMeshOutput, error) {
	return write(b, ctx, "2019/CreateMesh", in.ClientToken, in, func(p *partition, t *txn) (*CreateMeshOutput, error) {
		k, r, err := b.createMesh(p, t, *in.MeshName, clone(in.Spec), in.Tags)
		if err != nil {
			return nil, err
		}
		return &CreateMeshOutput{Mesh: p.meshData(k, r, statusActive)}, nil
	})
}

// DescribeMesh implements the operation of that name (2019-01-25).
func (b *Backend) DescribeMesh(ctx context.Context, in *DescribeMeshInput) (*DescribeMeshOutput, error) {
	var out *DescribeMeshOutput
	err := b.read(ctx, func(p *partition) error {
		ms, err := p.meshFor(*in.MeshName, in.MeshOwner)
		if err != nil {
			return err
		}
		out = &DescribeMeshOutput{Mesh: p.meshData(ms.self.key, ms.self.rec, statusActive)}
		return nil
	})
	return out, err
}

// UpdateMesh implements the operation of that name (2019-01-25). Without a
// spec the mesh keeps its spec (and still gets a new version).
func (b *Backend) UpdateMesh(ctx context.Context, in *UpdateMeshInput) (*UpdateMeshOutput, error) {
	return write(b, ctx, "2019/UpdateMesh", in.ClientToken, in, func(p *partition, t *txn) (*UpdateMeshOutput, error) {
		ms, err := p.meshFor(*in.MeshName, nil)
		if err != nil {
			return nil, err
		}
		r := b.bumped(ms.self.rec)
		if in.Spec != nil {
			r.Mesh = clone(in.Spec)
		}
		key := ms.self.key.storeKey(p.key)
		t.cond(key, ms.self.modRev)
		t.put(key, r)
		return &UpdateMeshOutput{Mesh: p.meshData(ms.self.key, r, statusActive)}, nil
	})
}

// DeleteMesh implements the operation of that name (2019-01-25).
func (b *Backend) DeleteMesh(ctx context.Context, in *DeleteMeshInput) (*DeleteMeshOutput, error) {
	return write(b, ctx, "2019/DeleteMesh", nil, in, func(p *partition, t *txn) (*DeleteMeshOutput, error) {
		e, err := b.deleteMesh(p, t, *in.MeshName)
		if err != nil {
			return nil, err
		}
		return &DeleteMeshOutput{Mesh: p.meshData(e.key, e.rec, statusDeleted)}, nil
	})
}

// ListMeshes implements the operation of that name (2019-01-25).
func (b *Backend) ListMeshes(ctx context.Context, in *ListMeshesInput) (*ListMeshesOutput, error) {
	var out *ListMeshesOutput
	err := b.read(ctx, func(p *partition) error {
		refs, next, err := page(p.sortedMeshes(), in.Limit, in.NextToken, func(e *entry) MeshRef {
			m := p.meta(e.key, e.rec)
			return MeshRef{ARN: m.ARN, CreatedAt: m.CreatedAt, LastUpdatedAt: m.LastUpdatedAt, MeshName: str(e.key.mesh),
				MeshOwner: m.MeshOwner, ResourceOwner: m.ResourceOwner, Version: m.Version}
		})
		out = &ListMeshesOutput{Meshes: refs, NextToken: next}
		return err
	})
	return out, err
}
