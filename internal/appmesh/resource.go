package appmesh

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
)

// record is one resource as stored: the GA (2019-01-25) spec is the domain
// model, and the 2018-10-01 API is a view of it (see v2018.go). Exactly one
// spec field is set, the one of the key's kind.
type record struct {
	V       int    `json:"v"`
	UID     string `json:"uid"`
	Version int64  `json:"version"`
	// CreatedAt and UpdatedAt are epoch milliseconds.
	CreatedAt int64 `json:"createdAt"`
	UpdatedAt int64 `json:"updatedAt"`
	// Owner is the resourceOwner: the account that created the resource.
	Owner string   `json:"owner"`
	Tags  []TagRef `json:"tags,omitempty"`

	Mesh           *MeshSpec           `json:"mesh,omitempty"`
	VirtualNode    *VirtualNodeSpec    `json:"virtualNode,omitempty"`
	VirtualRouter  *VirtualRouterSpec  `json:"virtualRouter,omitempty"`
	Route          *RouteSpec          `json:"route,omitempty"`
	VirtualService *VirtualServiceSpec `json:"virtualService,omitempty"`
	VirtualGateway *VirtualGatewaySpec `json:"virtualGateway,omitempty"`
	GatewayRoute   *GatewayRouteSpec   `json:"gatewayRoute,omitempty"`

	// ServiceNames is the order in which a virtual router's serviceNames
	// were last given through the 2018-10-01 API; the names themselves are
	// the virtual services the router provides.
	ServiceNames []string `json:"serviceNames,omitempty"`
	// Implicit marks a virtual service that exists because a virtual
	// router named it in its 2018-10-01 serviceNames; it goes away with
	// that name or that router.
	Implicit bool `json:"implicit,omitempty"`
}

const (
	statusActive  = "ACTIVE"
	statusDeleted = "DELETED"
)

// newRecord returns the record of a resource created now by p's account.
func (b *Backend) newRecord(p *partition, tags []TagRef) *record {
	now := b.now().UnixMilli()
	return &record{V: 1, UID: newUID(), Version: 1, CreatedAt: now, UpdatedAt: now, Owner: p.key.account, Tags: slices.Clone(tags)}
}

// bumped returns a copy of r as an update leaves it: version + 1, updated
// now. The copy shares r's specs, which are never modified in place.
func (b *Backend) bumped(r *record) *record {
	n := *r
	n.Version++
	n.UpdatedAt = max(b.now().UnixMilli(), r.UpdatedAt)
	return &n
}

// clone deep-copies a spec (through JSON, its wire form).
func clone[T any](v *T) *T {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("appmesh: clone %T: %v", v, err))
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic(fmt.Sprintf("appmesh: clone %T: %v", v, err))
	}
	return out
}

func (p *partition) meta(k rkey, r *record) *ResourceMetadata {
	v := r.Version
	return &ResourceMetadata{ARN: str(k.arn(p.key)), CreatedAt: timeOf(r.CreatedAt), LastUpdatedAt: timeOf(r.UpdatedAt),
		MeshOwner: str(p.key.account), ResourceOwner: str(r.Owner), UID: str(r.UID), Version: &v}
}

// meshFor returns the mesh a request names, checking meshOwner: mapmesh
// does not share meshes between accounts, so naming another account's mesh
// is ForbiddenException.
func (p *partition) meshFor(name string, owner *string) (*meshState, error) {
	if owner != nil && *owner != p.key.account {
		return nil, forbidden("Mesh %s of account %s is not shared with account %s", name, *owner, p.key.account)
	}
	ms := p.meshes[name]
	if ms == nil || ms.self == nil {
		return nil, notFound(p.key, meshKey(name))
	}
	return ms, nil
}

// find returns the resource k in the mesh, checking the mesh, the owner
// and the parent first.
func (p *partition) find(k rkey, owner *string) (*meshState, *entry, error) {
	ms, err := p.meshFor(k.mesh, owner)
	if err != nil {
		return nil, nil, err
	}
	if k.kind == kindMesh {
		return ms, ms.self, nil
	}
	if k.parent != "" {
		if ms.get(parentKind[k.kind], "", k.parent) == nil {
			return nil, nil, notFound(p.key, rkey{kind: parentKind[k.kind], mesh: k.mesh, name: k.parent})
		}
	}
	e := ms.get(k.kind, k.parent, k.name)
	if e == nil {
		return nil, nil, notFound(p.key, k)
	}
	return ms, e, nil
}

// meshWrite makes t depend on the mesh and its contents as read: it
// commits only if the mesh record and the mesh's rev marker are unchanged,
// and it moves the marker.
func (t *txn) meshWrite(p *partition, ms *meshState, mesh string) {
	t.cond(meshKey(mesh).storeKey(p.key), ms.self.modRev)
	mk := p.key.key(kindRev, esc(mesh))
	t.cond(mk, ms.rev)
	t.put(mk, nil)
}

// quotaOf returns the quota of the scope of kind k.
func (b *Backend) quotaOf(kind string) int {
	q := b.cfg.Quotas
	switch kind {
	case kindVirtualNode:
		return q.VirtualNodesPerMesh
	case kindVirtualRouter:
		return q.VirtualRoutersPerMesh
	case kindVirtualService:
		return q.VirtualServicesPerMesh
	case kindVirtualGateway:
		return q.VirtualGatewaysPerMesh
	case kindRoute:
		return q.RoutesPerVirtualRouter
	case kindGatewayRoute:
		return q.GatewayRoutesPerVirtualGateway
	}
	return q.MeshesPerAccount
}

// checkQuota fails with LimitExceededException when the scope of k has no
// room for n more resources.
func (b *Backend) checkQuota(p *partition, ms *meshState, k rkey, n int) error {
	limit := b.quotaOf(k.kind)
	have := len(ms.items[scope(k.kind, k.parent)])
	if have+n <= limit {
		return nil
	}
	if k.parent != "" {
		return limitExceeded("%s %s in mesh %s already has the maximum of %d %ss", displayKind(parentKind[k.kind]), k.parent, k.mesh, limit, displayKind(k.kind))
	}
	return limitExceeded("Mesh %s already has the maximum of %d %ss for account %s", k.mesh, limit, displayKind(k.kind), p.key.account)
}

// maxNameLen bounds every resource name: the models' ResourceName bound,
// which the models leave off virtual service names (DNS names are at most
// 253 characters anyway).
const maxNameLen = 255

// checkName refuses the name of a resource about to be created, with
// BadRequestException, unless it is 1 to 255 ASCII letters, digits, hyphens
// and underscores, as AWS documents App Mesh names; virtual service names
// are DNS names and may also have dots. Above all this keeps '/' out: the
// name is a segment of the resource's ARN and of Envoy node IDs
// (mesh/M/virtualNode/N), so a mesh named "a/virtualNode/b" would have the
// ARN of virtual node b of mesh a. Every create checks here (createMesh,
// createIn, and the services a 2018 router's serviceNames create); names
// already stored are not checked again.
func checkName(k rkey) error {
	dots := k.kind == kindVirtualService
	ok := len(k.name) >= 1 && len(k.name) <= maxNameLen
	for i := 0; ok && i < len(k.name); i++ {
		switch c := k.name[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		case c == '.' && dots:
		default:
			ok = false
		}
	}
	switch {
	case ok:
		return nil
	case dots:
		return badRequest("VirtualService name %.64q is not valid: a virtual service name is 1 to %d letters, numbers, hyphens, underscores and dots", k.name, maxNameLen)
	}
	return badRequest("%s name %.64q is not valid: a name is 1 to %d letters, numbers, hyphens and underscores", displayKind(k.kind), k.name, maxNameLen)
}

// createIn commits the new resource k with record r (whose spec setSpec
// fills in and checks): the name must be valid (checkName), the mesh and
// parent must exist, the name must be free, the quota must allow it.
func (b *Backend) createIn(p *partition, t *txn, k rkey, owner *string, tags []TagRef, setSpec func(ms *meshState, r *record) error) (*record, error) {
	if err := checkName(k); err != nil {
		return nil, err
	}
	ms, err := p.meshFor(k.mesh, owner)
	if err != nil {
		return nil, err
	}
	if k.parent != "" && ms.get(parentKind[k.kind], "", k.parent) == nil {
		return nil, notFound(p.key, rkey{kind: parentKind[k.kind], mesh: k.mesh, name: k.parent})
	}
	if ms.get(k.kind, k.parent, k.name) != nil {
		return nil, alreadyExists(p.key, k)
	}
	if err := b.checkQuota(p, ms, k, 1); err != nil {
		return nil, err
	}
	if len(tags) > b.cfg.Quotas.TagsPerResource {
		return nil, tooManyTags(b.cfg.Quotas.TagsPerResource)
	}
	if err := checkTagKeys(tags); err != nil {
		return nil, err
	}
	r := b.newRecord(p, tags)
	if err := setSpec(ms, r); err != nil {
		return nil, err
	}
	t.meshWrite(p, ms, k.mesh)
	key := k.storeKey(p.key)
	t.cond(key, 0)
	t.put(key, r)
	return r, nil
}

// updateIn commits a new version of the resource k, whose spec setSpec
// fills in (from the old entry) and checks.
func (b *Backend) updateIn(p *partition, t *txn, k rkey, owner *string, setSpec func(ms *meshState, old *entry, r *record) error) (*record, error) {
	ms, e, err := p.find(k, owner)
	if err != nil {
		return nil, err
	}
	r := b.bumped(e.rec)
	if err := setSpec(ms, e, r); err != nil {
		return nil, err
	}
	t.meshWrite(p, ms, k.mesh)
	key := k.storeKey(p.key)
	t.cond(key, e.modRev)
	t.put(key, r)
	return r, nil
}

// deleteIn deletes the resource k once inUse (if any) finds nothing that
// refers to it, and returns it.
func (b *Backend) deleteIn(p *partition, t *txn, k rkey, owner *string, inUse func(ms *meshState, e *entry) error) (*entry, error) {
	ms, e, err := p.find(k, owner)
	if err != nil {
		return nil, err
	}
	if inUse != nil {
		if err := inUse(ms, e); err != nil {
			return nil, err
		}
	}
	t.meshWrite(p, ms, k.mesh)
	key := k.storeKey(p.key)
	t.cond(key, e.modRev)
	t.del(key)
	return e, nil
}

// requestHash identifies a request for idempotency: its body members and
// its URI, query string and header members, under op.
func requestHash(op string, in any) string {
	b, _ := json.Marshal(in)
	parts := []string{op, string(b)}
	v := reflect.ValueOf(in)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() == reflect.Struct {
		for i := 0; i < v.NumField(); i++ {
			if loc := v.Type().Field(i).Tag.Get("location"); loc != "" {
				f := v.Field(i)
				if f.Kind() == reflect.Pointer && !f.IsNil() {
					parts = append(parts, loc+":"+v.Type().Field(i).Name+"="+fmt.Sprint(f.Elem().Interface()))
				}
			}
		}
	}
	return hashID(parts...)
}
