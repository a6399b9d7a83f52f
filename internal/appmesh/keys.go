package appmesh

import (
	"net/url"
	"strings"
)

// Store key layout. Everything of one account and region lives under
// /appmesh/<account>/<region>/, with every name path-escaped (so a name
// never contains '/'):
//
//	mesh/<mesh>                                mesh record
//	virtualNode/<mesh>/<name>                  virtual node record
//	virtualRouter/<mesh>/<name>                virtual router record
//	route/<mesh>/<virtualRouter>/<name>        route record
//	virtualService/<mesh>/<name>               virtual service record
//	virtualGateway/<mesh>/<name>               virtual gateway record
//	gatewayRoute/<mesh>/<virtualGateway>/<name> gateway route record
//	rev/<mesh>                                 marker of the mesh's contents: written by every write in the mesh
//	rev/*                                      marker of the set of meshes: written by every mesh create and delete
//	idem/<hash of op and clientToken>          idempotency record (request hash, time, response)
//
// Records are JSON with a schema version (record.V). The markers carry no
// data: every write under a mesh puts its marker with a condition on the
// revision it read, so the writes of one mesh are serialised, and a
// decision that depends on the whole mesh (a reference check, a quota, an
// empty mesh) can never be invalidated by a write it did not see.
const keyRoot = "/appmesh/"

// The kinds of resources, as they appear in keys and ARNs.
const (
	kindMesh           = "mesh"
	kindVirtualNode    = "virtualNode"
	kindVirtualRouter  = "virtualRouter"
	kindRoute          = "route"
	kindVirtualService = "virtualService"
	kindVirtualGateway = "virtualGateway"
	kindGatewayRoute   = "gatewayRoute"
	kindRev            = "rev"
	kindIdem           = "idem"
)

// allMeshes is the rev marker of the whole partition; a path-escaped mesh
// name is never "*".
const allMeshes = "*"

// parentKind is the kind of the parent of the kinds that have one.
var parentKind = map[string]string{kindRoute: kindVirtualRouter, kindGatewayRoute: kindVirtualGateway}

// partKey names the state of one account and region.
type partKey struct{ account, region string }

func (p partKey) prefix() string { return keyRoot + p.account + "/" + p.region + "/" }

func (p partKey) key(kind string, parts ...string) string {
	var b strings.Builder
	b.WriteString(p.prefix())
	b.WriteString(kind)
	for _, s := range parts {
		b.WriteByte('/')
		b.WriteString(s)
	}
	return b.String()
}

// rkey names one resource within a partition.
type rkey struct {
	kind, mesh string // a mesh's key has its name in both mesh and name
	// parent is the virtual router of a route or the virtual gateway of a
	// gateway route; empty otherwise.
	parent string
	name   string
}

func esc(s string) string { return url.PathEscape(s) }

// storeKey is where the resource's record lives.
func (k rkey) storeKey(p partKey) string {
	switch {
	case k.kind == kindMesh:
		return p.key(kindMesh, esc(k.mesh))
	case k.parent != "":
		return p.key(k.kind, esc(k.mesh), esc(k.parent), esc(k.name))
	}
	return p.key(k.kind, esc(k.mesh), esc(k.name))
}

// arn is the resource's ARN; the account is the mesh owner's.
func (k rkey) arn(p partKey) string {
	s := "arn:aws:appmesh:" + p.region + ":" + p.account + ":mesh/" + k.mesh
	switch k.kind {
	case kindMesh:
		return s
	case kindRoute, kindGatewayRoute:
		return s + "/" + parentKind[k.kind] + "/" + k.parent + "/" + k.kind + "/" + k.name
	}
	return s + "/" + k.kind + "/" + k.name
}

// parseRest splits what follows a partition's prefix in a store key into
// what it names: a resource (kind is a resource kind), a marker (kindRev,
// rest = mesh or allMeshes) or an idempotency record (kindIdem, rest = its
// id).
func parseRest(s string) (k rkey, rest string, ok bool) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 {
		return k, "", false
	}
	k.kind = parts[0]
	names := make([]string, 0, 3)
	for _, n := range parts[1:] {
		u, err := url.PathUnescape(n)
		if err != nil {
			return k, "", false
		}
		names = append(names, u)
	}
	switch k.kind {
	case kindRev, kindIdem:
		if len(parts) != 2 {
			return k, "", false
		}
		return k, parts[1], true
	case kindMesh:
		if len(names) != 1 {
			return k, "", false
		}
		k.mesh, k.name = names[0], names[0]
	case kindRoute, kindGatewayRoute:
		if len(names) != 3 {
			return k, "", false
		}
		k.mesh, k.parent, k.name = names[0], names[1], names[2]
	case kindVirtualNode, kindVirtualRouter, kindVirtualService, kindVirtualGateway:
		if len(names) != 2 {
			return k, "", false
		}
		k.mesh, k.name = names[0], names[1]
	default:
		return k, "", false
	}
	return k, "", true
}

// parseARN reads an App Mesh resource ARN:
// arn:aws:appmesh:REGION:ACCOUNT:mesh/M[/KIND/NAME[/KIND/NAME]].
func parseARN(arn string) (p partKey, k rkey, ok bool) {
	f := strings.SplitN(arn, ":", 6)
	if len(f) != 6 || f[0] != "arn" || f[2] != "appmesh" || f[3] == "" || f[4] == "" {
		return p, k, false
	}
	p = partKey{account: f[4], region: f[3]}
	parts := strings.Split(f[5], "/")
	if len(parts) < 2 || parts[0] != kindMesh || parts[1] == "" {
		return p, k, false
	}
	k.mesh = parts[1]
	switch len(parts) {
	case 2:
		k.kind, k.name = kindMesh, k.mesh
		return p, k, true
	case 4:
		switch parts[2] {
		case kindVirtualNode, kindVirtualRouter, kindVirtualService, kindVirtualGateway:
			k.kind, k.name = parts[2], parts[3]
			return p, k, k.name != ""
		}
	case 6:
		if (parts[2] == kindVirtualRouter && parts[4] == kindRoute) || (parts[2] == kindVirtualGateway && parts[4] == kindGatewayRoute) {
			k.kind, k.parent, k.name = parts[4], parts[3], parts[5]
			return p, k, k.parent != "" && k.name != ""
		}
	}
	return p, k, false
}
