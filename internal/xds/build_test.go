package xds

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/mapmesh/mapmesh/internal/appmesh"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current Build output")

const (
	testAccount = "111122223333"
	testRegion  = "eu-west-1"
)

// fixture is a mesh written as App Mesh JSON specs, a Cloud Map registry,
// and the nodes to render.
type fixture struct {
	mesh          string
	nodes         map[string]string
	routers       map[string]string
	routes        map[string]string // "router/route"
	services      map[string]string
	gateways      map[string]string
	gatewayRoutes map[string]string // "gateway/route"
	registry      staticRegistry
	render        []Node
}

// staticRegistry is a Registry from literals: instances by
// "namespace/service", and the DNS namespaces.
type staticRegistry struct {
	instances map[string][]Instance
	dns       []string
}

func (r staticRegistry) Instances(ns, svc string) ([]Instance, bool) {
	in, ok := r.instances[ns+"/"+svc]
	return slices.Clone(in), ok
}

func (r staticRegistry) DNSService(host string) (string, string, bool) {
	for _, ns := range r.dns {
		if svc, ok := strings.CutSuffix(host, "."+ns); ok && !strings.Contains(svc, ".") {
			return ns, svc, true
		}
	}
	return "", "", false
}

func decode[T any](t *testing.T, what, s string) *T {
	t.Helper()
	v := new(T)
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// contents turns a fixture into the read model's MeshContents.
func (f fixture) contents(t *testing.T) appmesh.MeshContents {
	t.Helper()
	res := func(kind, parent, name string) appmesh.Resource {
		return appmesh.Resource{Account: testAccount, Region: testRegion, Mesh: "shop", Kind: kind, Parent: parent, Name: name}
	}
	mc := appmesh.MeshContents{Mesh: res("mesh", "", "shop")}
	mc.Mesh.MeshSpec = decode[appmesh.MeshSpec](t, "mesh", f.mesh)
	for _, n := range sortedKeys(f.nodes) {
		r := res("virtualNode", "", n)
		r.VirtualNode = decode[appmesh.VirtualNodeSpec](t, n, f.nodes[n])
		mc.VirtualNodes = append(mc.VirtualNodes, r)
	}
	for _, n := range sortedKeys(f.routers) {
		r := res("virtualRouter", "", n)
		r.VirtualRouter = decode[appmesh.VirtualRouterSpec](t, n, f.routers[n])
		mc.VirtualRouters = append(mc.VirtualRouters, r)
	}
	for _, n := range sortedKeys(f.routes) {
		parent, name, _ := strings.Cut(n, "/")
		r := res("route", parent, name)
		r.Route = decode[appmesh.RouteSpec](t, n, f.routes[n])
		mc.Routes = append(mc.Routes, r)
	}
	for _, n := range sortedKeys(f.services) {
		r := res("virtualService", "", n)
		r.VirtualService = decode[appmesh.VirtualServiceSpec](t, n, f.services[n])
		mc.VirtualServices = append(mc.VirtualServices, r)
	}
	for _, n := range sortedKeys(f.gateways) {
		r := res("virtualGateway", "", n)
		r.VirtualGateway = decode[appmesh.VirtualGatewaySpec](t, n, f.gateways[n])
		mc.VirtualGateways = append(mc.VirtualGateways, r)
	}
	for _, n := range sortedKeys(f.gatewayRoutes) {
		parent, name, _ := strings.Cut(n, "/")
		r := res("gatewayRoute", parent, name)
		r.GatewayRoute = decode[appmesh.GatewayRouteSpec](t, n, f.gatewayRoutes[n])
		mc.GatewayRoutes = append(mc.GatewayRoutes, r)
	}
	return mc
}

func vnode(name string) Node {
	return Node{ID: NodeID{Account: testAccount, Region: testRegion, Mesh: "shop", Kind: KindVirtualNode, Name: name}}
}

func grpcNode(name string) Node {
	n := vnode(name)
	n.Proxyless = true
	return n
}

func gatewayNode(name string) Node {
	return Node{ID: NodeID{Account: testAccount, Region: testRegion, Mesh: "shop", Kind: KindVirtualGateway, Name: name}}
}

// golden renders a build as indented JSON: each resource in protojson
// (re-indented, so protojson's unstable spacing never shows).
func golden(t *testing.T, node Node, r *Resources) map[string]any {
	t.Helper()
	list := func(rs []types.Resource) []json.RawMessage {
		out := []json.RawMessage{}
		for _, x := range rs {
			b, err := protojson.Marshal(x)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
		return out
	}
	kind := "envoy"
	if node.Proxyless {
		kind = "proxyless gRPC"
	}
	notes := r.Notes
	if notes == nil {
		notes = []string{}
	}
	return map[string]any{"node": node.ID.String(), "rendering": kind, "listeners": list(r.Listeners), "routes": list(r.Routes),
		"clusters": list(r.Clusters), "endpoints": list(r.Endpoints), "notes": notes}
}

// TestGolden builds a representative set of meshes for Envoy and for gRPC,
// checks every resource passed Envoy's validation and that the resources
// reference each other exactly, and compares them with
// testdata/<case>.golden (go test -run TestGolden -update rewrites them).
func TestGolden(t *testing.T) {
	for name, f := range fixtures {
		t.Run(name, func(t *testing.T) {
			mesh := NewMesh(f.contents(t))
			var out []map[string]any
			for _, node := range f.render {
				r := Build(Input{Mesh: mesh, Registry: f.registry}, node)
				for _, n := range r.Notes {
					if strings.Contains(n, "validation") {
						t.Errorf("Build(%s): %s", node.ID, n)
					}
				}
				for _, rs := range [][]types.Resource{r.Listeners, r.Routes, r.Clusters, r.Endpoints} {
					for _, x := range rs {
						if err := validate(x); err != nil {
							t.Errorf("Build(%s): %s does not validate: %v", node.ID, kindName(x), err)
						}
					}
				}
				if err := Check(r); err != nil {
					t.Errorf("Check(Build(%s)) = %v; want nil", node.ID, err)
				}
				out = append(out, golden(t, node, r))
			}
			got, err := json.MarshalIndent(out, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Build output differs from %s (-want +got):\n%s", path, cmp.Diff(string(want), string(got)))
			}
		})
	}
}

// TestBuildIsPure: the same input gives the same output.
func TestBuildIsPure(t *testing.T) {
	for name, f := range fixtures {
		mesh := NewMesh(f.contents(t))
		for _, node := range f.render {
			a := golden(t, node, Build(Input{Mesh: mesh, Registry: f.registry}, node))
			b := golden(t, node, Build(Input{Mesh: mesh, Registry: f.registry}, node))
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			if !bytes.Equal(ja, jb) {
				t.Errorf("%s: Build(%s) differs between two runs", name, node.ID)
			}
		}
	}
}

// TestUnknownNode: a node of a missing mesh or resource gets nothing.
func TestUnknownNode(t *testing.T) {
	mesh := NewMesh(fixtures["http_routes"].contents(t))
	for _, tc := range []struct {
		name string
		in   Input
		node Node
	}{
		{"no mesh", Input{}, vnode("front")},
		{"no node", Input{Mesh: mesh}, vnode("nope")},
		{"no gateway", Input{Mesh: mesh}, gatewayNode("nope")},
		{"proxyless gateway", Input{Mesh: mesh}, Node{ID: gatewayNode("nope").ID, Proxyless: true}},
	} {
		r := Build(tc.in, tc.node)
		if n := len(r.Listeners) + len(r.Routes) + len(r.Clusters) + len(r.Endpoints); n != 0 {
			t.Errorf("%s: Build(%s) has %d resources; want 0", tc.name, tc.node.ID, n)
		}
	}
}

func TestParseNodeID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want NodeID
		ok   bool
	}{
		{"mesh/m/virtualNode/front", NodeID{"123456789012", "us-east-1", "m", KindVirtualNode, "front"}, true},
		{"mesh/m/virtualGateway/gw", NodeID{"123456789012", "us-east-1", "m", KindVirtualGateway, "gw"}, true},
		{"arn:aws:appmesh:eu-west-1:111122223333:mesh/m/virtualNode/front", NodeID{"111122223333", "eu-west-1", "m", KindVirtualNode, "front"}, true},
		{"arn:aws-cn:appmesh-preview:cn-north-1:111122223333:mesh/m/virtualGateway/g", NodeID{"111122223333", "cn-north-1", "m", KindVirtualGateway, "g"}, true},
		{"mesh/m@111122223333/virtualNode/front", NodeID{"111122223333", "us-east-1", "m", KindVirtualNode, "front"}, true},
		{"arn:aws:appmesh:eu-west-1:111122223333:mesh/m@111122223333/virtualGateway/g", NodeID{"111122223333", "eu-west-1", "m", KindVirtualGateway, "g"}, true},
		{"arn:aws:appmesh:eu-west-1:111122223333:mesh/m@222222222222/virtualNode/front", NodeID{}, false},
		{"mesh/m@shop/virtualNode/front", NodeID{}, false},
		{"mesh/@111122223333/virtualNode/front", NodeID{}, false},
		{"arn:aws:ecs:eu-west-1:111122223333:mesh/m/virtualNode/front", NodeID{}, false},
		{"mesh/m/virtualRouter/r", NodeID{}, false},
		{"mesh/m/virtualNode", NodeID{}, false},
		{"mesh//virtualNode/x", NodeID{}, false},
		{"front", NodeID{}, false},
		{"", NodeID{}, false},
	} {
		got, ok := ParseNodeID(tc.in, "123456789012", "us-east-1")
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseNodeID(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
