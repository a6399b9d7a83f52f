package xds

import (
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// Kinds of node an App Mesh Envoy can be.
const (
	KindVirtualNode    = "virtualNode"
	KindVirtualGateway = "virtualGateway"
)

// NodeID is the App Mesh resource a client serves as.
type NodeID struct {
	Account, Region string
	Mesh            string
	// Kind is KindVirtualNode or KindVirtualGateway.
	Kind string
	Name string
}

// Node is a client as Build sees it: which resource, and which rendering.
type Node struct {
	ID NodeID
	// Proxyless selects the rendering for gRPC's xDS client instead of
	// Envoy's.
	Proxyless bool
}

// String returns the short form mesh/<mesh>/<kind>/<name>.
func (id NodeID) String() string {
	return "mesh/" + id.Mesh + "/" + id.Kind + "/" + id.Name
}

// ParseNodeID reads a node id the way App Mesh's Envoy agent writes it: a
// full ARN (arn:<partition>:appmesh:<region>:<account>:mesh/M/<kind>/N) or
// the short form mesh/M/<kind>/N, which takes the given account and region.
// The App Mesh controller for Kubernetes names a mesh of another account
// M@<owner account> (mesh/M@111122223333/virtualNode/N): the mesh is then
// the owner's. It reports false for anything else.
func ParseNodeID(id, account, region string) (NodeID, bool) {
	rest, arn := id, false
	if strings.HasPrefix(id, "arn:") {
		// arn:partition:service:region:account:resource
		parts := strings.SplitN(id, ":", 6)
		if len(parts) != 6 || !strings.HasPrefix(parts[2], "appmesh") || parts[3] == "" || parts[4] == "" {
			return NodeID{}, false
		}
		region, account, rest, arn = parts[3], parts[4], parts[5], true
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 || parts[0] != "mesh" || parts[1] == "" || parts[3] == "" {
		return NodeID{}, false
	}
	if parts[2] != KindVirtualNode && parts[2] != KindVirtualGateway {
		return NodeID{}, false
	}
	mesh := parts[1]
	if m, owner, ok := strings.Cut(mesh, "@"); ok {
		if m == "" || !isAccountID(owner) || (arn && owner != account) {
			return NodeID{}, false
		}
		mesh, account = m, owner
	}
	return NodeID{Account: account, Region: region, Mesh: mesh, Kind: parts[2], Name: parts[3]}, true
}

// isAccountID reports whether s is a 12-digit AWS account ID.
func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isProxyless tells a gRPC xDS client (grpc-go sends the user agent
// "gRPC Go", grpc-java "gRPC Java", C-core "gRPC C-core", ...) from Envoy.
func isProxyless(n *core.Node) bool {
	return strings.HasPrefix(n.GetUserAgentName(), "gRPC")
}

// Keys of nodes that name no App Mesh resource: they share one empty
// snapshot per rendering.
const (
	unknownKey          = "unknown"
	proxylessSuffix     = "#proxyless"
	unknownProxylessKey = unknownKey + proxylessSuffix
)

// keyOf returns the snapshot key of a node id: the account, region and
// resource, and the rendering. Replicas of one virtual node share a key,
// whether they name it by ARN or by short form.
func keyOf(id NodeID, proxyless bool) string {
	k := id.Account + "/" + id.Region + "/" + id.String()
	if proxyless {
		k += proxylessSuffix
	}
	return k
}
