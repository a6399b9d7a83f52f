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
// It reports false for anything else.
func ParseNodeID(id, account, region string) (NodeID, bool) {
	rest := id
	if strings.HasPrefix(id, "arn:") {
		// arn:partition:service:region:account:resource
		parts := strings.SplitN(id, ":", 6)
		if len(parts) != 6 || !strings.HasPrefix(parts[2], "appmesh") || parts[3] == "" || parts[4] == "" {
			return NodeID{}, false
		}
		region, account, rest = parts[3], parts[4], parts[5]
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 || parts[0] != "mesh" || parts[1] == "" || parts[3] == "" {
		return NodeID{}, false
	}
	if parts[2] != KindVirtualNode && parts[2] != KindVirtualGateway {
		return NodeID{}, false
	}
	return NodeID{Account: account, Region: region, Mesh: parts[1], Kind: parts[2], Name: parts[3]}, true
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
