package console

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mapmesh/mapmesh/internal/appmesh"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
)

// fakeInstances is an instanceSource: services by "namespace/service",
// names as written (the registry's case folding is tested end to end).
type fakeInstances map[string][]cloudmap.InstanceInfo

func (f fakeInstances) instances(ns, svc string) ([]cloudmap.InstanceInfo, bool) {
	insts, ok := f[ns+"/"+svc]
	return insts, ok
}

func (fakeInstances) now() int64 { return 0 }

// resource decodes a spec (wire form) into a Resource of kind.
func resource(t *testing.T, kind, parent, name, spec string) appmesh.Resource {
	t.Helper()
	r := appmesh.Resource{Kind: kind, Parent: parent, Name: name}
	var dst any
	switch kind {
	case "virtualNode":
		r.VirtualNode = &appmesh.VirtualNodeSpec{}
		dst = r.VirtualNode
	case "virtualRouter":
		r.VirtualRouter = &appmesh.VirtualRouterSpec{}
		dst = r.VirtualRouter
	case "route":
		r.Route = &appmesh.RouteSpec{}
		dst = r.Route
	case "virtualService":
		r.VirtualService = &appmesh.VirtualServiceSpec{}
		dst = r.VirtualService
	case "virtualGateway":
		r.VirtualGateway = &appmesh.VirtualGatewaySpec{}
		dst = r.VirtualGateway
	case "gatewayRoute":
		r.GatewayRoute = &appmesh.GatewayRouteSpec{}
		dst = r.GatewayRoute
	}
	if err := json.Unmarshal([]byte(spec), dst); err != nil {
		t.Fatalf("%s %s: %v", kind, name, err)
	}
	return r
}

// TestBuildGraph: gateways lead to virtual services; a service provided by
// a node skips the router columns; references to missing resources and
// Cloud Map services are shown as missing; DNS discovery ends at the name;
// endpoints take the instance's port, else the listener's, and the address
// family the node prefers.
func TestBuildGraph(t *testing.T) {
	m := appmesh.MeshContents{
		Mesh: appmesh.Resource{Kind: "mesh", Name: "m", MeshSpec: &appmesh.MeshSpec{}},
		VirtualGateways: []appmesh.Resource{resource(t, "virtualGateway", "", "edge",
			`{"listeners": [{"portMapping": {"port": 443, "protocol": "http"}}]}`)},
		GatewayRoutes: []appmesh.Resource{resource(t, "gatewayRoute", "edge", "to-api",
			`{"httpRoute": {"match": {"prefix": "/api"}, "action": {"target": {"virtualService": {"virtualServiceName": "api.m"}}}}}`)},
		VirtualServices: []appmesh.Resource{
			resource(t, "virtualService", "", "api.m", `{"provider": {"virtualNode": {"virtualNodeName": "api"}}}`),
			resource(t, "virtualService", "", "lost.m", `{"provider": {"virtualRouter": {"virtualRouterName": "gone"}}}`),
			resource(t, "virtualService", "", "db.m", `{"provider": {"virtualRouter": {"virtualRouterName": "db"}}}`),
		},
		VirtualRouters: []appmesh.Resource{resource(t, "virtualRouter", "", "db", `{}`)},
		Routes: []appmesh.Resource{resource(t, "route", "db", "all",
			`{"tcpRoute": {"action": {"weightedTargets": [{"virtualNode": "db", "weight": 0}, {"virtualNode": "ghost", "weight": 0}]}}}`)},
		VirtualNodes: []appmesh.Resource{
			resource(t, "virtualNode", "", "api", `{"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
				"serviceDiscovery": {"awsCloudMap": {"namespaceName": "ns", "serviceName": "api", "ipPreference": "IPv6_PREFERRED"}}}`),
			resource(t, "virtualNode", "", "db", `{"listeners": [{"portMapping": {"port": 5432, "protocol": "tcp"}}],
				"serviceDiscovery": {"dns": {"hostname": "db.example.com"}}}`),
			resource(t, "virtualNode", "", "cache", `{"serviceDiscovery": {"awsCloudMap": {"namespaceName": "ns", "serviceName": "nothing"}}}`),
		},
	}
	reg := fakeInstances{"ns/api": {
		{ID: "api-1", Attributes: cloudmap.EncodeAttributes(map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_IPV6": "fd00::1"})},
		{ID: "api-2", Attributes: cloudmap.EncodeAttributes(map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.2", "AWS_INSTANCE_PORT": "9000"})},
		{ID: "api-3", Attributes: cloudmap.EncodeAttributes(map[string]string{"AWS_INSTANCE_CNAME": "api.example.com"})},
	}}
	g := buildGraph(&m, reg)
	var nodes, edges []string
	for _, n := range g.Nodes {
		s := fmt.Sprintf("%s %s", n.ID, n.Label)
		if n.Missing {
			s += " missing"
		}
		if n.Excluded {
			s += " excluded: " + n.Reason
		}
		nodes = append(nodes, s)
	}
	for _, e := range g.Edges {
		s := e.From + " -> " + e.To
		if e.Weight != nil {
			s += fmt.Sprintf(" %d %.0f%%", *e.Weight, e.Share)
		}
		edges = append(edges, s)
	}
	slices.Sort(edges)
	wantNodes := []string{
		"vg:edge edge",
		"gr:edge/to-api to-api",
		"vs:api.m api.m",
		"vs:db.m db.m",
		"vs:lost.m lost.m",
		"vr:db db",
		"vr:gone gone missing",
		"rt:db/all all",
		"vn:api api",
		"vn:cache cache",
		"vn:db db",
		"vn:ghost ghost missing",
		"cm:ns/api api.ns",
		"cm:ns/nothing nothing.ns missing",
		"dns:db.example.com db.example.com",
		"ep:cm:ns/api#api-1 [fd00::1]:8080",
		"ep:cm:ns/api#api-2 10.0.0.2:9000",
		"ep:cm:ns/api#api-3 api-3 excluded: no IPv6 address",
	}
	wantEdges := []string{
		"cm:ns/api -> ep:cm:ns/api#api-1",
		"cm:ns/api -> ep:cm:ns/api#api-2",
		"cm:ns/api -> ep:cm:ns/api#api-3",
		"gr:edge/to-api -> vs:api.m",
		"rt:db/all -> vn:db 0 0%",
		"rt:db/all -> vn:ghost 0 0%",
		"vg:edge -> gr:edge/to-api",
		"vn:api -> cm:ns/api",
		"vn:cache -> cm:ns/nothing",
		"vn:db -> dns:db.example.com",
		"vr:db -> rt:db/all",
		"vs:api.m -> vn:api",
		"vs:db.m -> vr:db",
		"vs:lost.m -> vr:gone",
	}
	if diff := cmp.Diff(wantNodes, nodes); diff != "" {
		t.Errorf("buildGraph nodes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantEdges, edges); diff != "" {
		t.Errorf("buildGraph edges (-want +got):\n%s", diff)
	}
	if got := strings.Join(g.Columns, " "); got != "virtualGateway gatewayRoute virtualService virtualRouter route virtualNode cloudMapService endpoint" {
		t.Errorf("buildGraph columns = %s", got)
	}
}

// TestRouteMatch: routes are described by protocol and match.
func TestRouteMatch(t *testing.T) {
	for _, tc := range []struct{ spec, want string }{
		{`{"httpRoute": {"match": {"prefix": "/"}}}`, "http /"},
		{`{"http2Route": {"match": {"path": {"exact": "/x"}, "method": "POST", "headers": [{"name": "a"}]}}, "priority": 3}`,
			"http2 =/x POST +1 headers (priority 3)"},
		{`{"grpcRoute": {"match": {"serviceName": "pkg.Svc", "methodName": "Get"}}}`, "grpc pkg.Svc/Get"},
		{`{"tcpRoute": {}}`, "tcp"},
	} {
		var r appmesh.RouteSpec
		if err := json.Unmarshal([]byte(tc.spec), &r); err != nil {
			t.Fatal(err)
		}
		if got := routeMatch(&r); got != tc.want {
			t.Errorf("routeMatch(%s) = %q; want %q", tc.spec, got, tc.want)
		}
	}
}
