package k8simport

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	"github.com/google/go-cmp/cmp"
)

// existing is an Options.Exists that knows the resources listed as
// "type mesh/parent/name" ("mesh m//m" for a mesh).
func existing(names ...string) func(context.Context, ResourceType, string, string, string) (bool, error) {
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	return func(_ context.Context, typ ResourceType, mesh, parent, name string) (bool, error) {
		return set[fmt.Sprintf("%s %s/%s/%s", typ, mesh, parent, name)], nil
	}
}

func build(t *testing.T, manifests string, opts Options) (*Plan, error) {
	t.Helper()
	objs, err := Parse("x.yaml", []byte(manifests))
	if err != nil {
		t.Fatal(err)
	}
	return Build(context.Background(), objs, opts)
}

func TestBuildColorApp(t *testing.T) {
	objs, err := ReadPath("testdata/colorapp")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Build(context.Background(), objs, Options{Exists: existing()})
	if err != nil {
		t.Fatalf("Build = %v", err)
	}
	var got []string
	for _, r := range p.Resources {
		got = append(got, r.String())
	}
	want := []string{
		"mesh color-mesh",
		"virtual node color-mesh/front_color-app",
		"virtual node color-mesh/red_color-app",
		"virtual node color-mesh/blue_color-app",
		"virtual node color-mesh/green-node", // spec.awsName
		"virtual router color-mesh/color_color-app",
		"route color-mesh/color_color-app/by-header",
		"route color-mesh/color_color-app/split",
		"virtual service color-mesh/color.color-app.svc.cluster.local", // spec.awsName
		"virtual service color-mesh/red.color-app",
		"virtual gateway color-mesh/ingress_color-app",
		"gateway route color-mesh/ingress_color-app/to-color_color-app",
		"gateway route color-mesh/ingress_color-app/to-red_color-app",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("resources (-want +got):\n%s", d)
	}
	spec := func(name string) any {
		for _, r := range p.Resources {
			if r.String() == name {
				return toJSON(r.Spec)
			}
		}
		t.Fatalf("no %s", name)
		return nil
	}
	for _, tc := range []struct {
		resource, want string
	}{
		{"virtual node color-mesh/front_color-app", "map[backends:[map[virtualService:map[virtualServiceName:color.color-app.svc.cluster.local]]] listeners:[map[portMapping:map[port:8080 protocol:http]]] serviceDiscovery:map[dns:map[hostname:front.color-app.svc.cluster.local]]]"},
		{"route color-mesh/color_color-app/by-header", "map[httpRoute:map[action:map[weightedTargets:[map[virtualNode:green-node weight:1]]] match:map[headers:[map[match:map[exact:green] name:color_header]] prefix:/]] priority:10]"},
		{"virtual service color-mesh/red.color-app", "map[provider:map[virtualNode:map[virtualNodeName:red_color-app]]]"},
		{"virtual service color-mesh/color.color-app.svc.cluster.local", "map[provider:map[virtualRouter:map[virtualRouterName:color_color-app]]]"},
		{"gateway route color-mesh/ingress_color-app/to-red_color-app", "map[httpRoute:map[action:map[target:map[virtualService:map[virtualServiceName:red.color-app]]] match:map[prefix:/red]] priority:5]"},
		{"mesh color-mesh", "map[egressFilter:map[type:DROP_ALL]]"},
	} {
		if got := fmt.Sprint(spec(tc.resource)); got != tc.want {
			t.Errorf("%s spec = %s; want %s", tc.resource, got, tc.want)
		}
	}
	notes := strings.Join(p.Notes, "\n")
	for _, n := range []string{
		"ignored Deployment color-app/front (testdata/colorapp/workloads.yaml:2): not an App Mesh controller kind",
		"VirtualNode color-app/red: spec.podSelector skipped: Kubernetes only",
		"Mesh color-mesh: spec.namespaceSelector skipped",
		"VirtualGateway color-app/ingress: spec.namespaceSelector skipped",
		"VirtualNode color-app/blue: spec.serviceDiscovery.dns.hostname color-blue.color-app.svc.cluster.local kept as is",
	} {
		if !strings.Contains(notes, n) {
			t.Errorf("notes lack %q:\n%s", n, notes)
		}
	}
}

const meshNS = `
apiVersion: v1
kind: Namespace
metadata: {name: ns, labels: {mesh: m}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {name: m}
spec: {namespaceSelector: {matchLabels: {mesh: m}}}
`

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		opts     Options
		want     string
	}{
		{"missing reference", meshNS + `---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: s, namespace: ns}
spec: {provider: {virtualNode: {virtualNodeRef: {name: nope}}}}
`, Options{Exists: existing()}, "VirtualService ns/s (x.yaml:11): spec.provider.virtualNode.virtualNodeRef: VirtualNode ns/nope is not in the input, and there is no virtual node m/nope_ns"},
		{"missing backend", meshNS + `---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: node, namespace: ns}
spec: {backends: [{virtualService: {virtualServiceRef: {name: db, namespace: data}}}]}
`, Options{Exists: existing()}, "VirtualNode ns/node (x.yaml:11): spec.backends[0].virtualService.virtualServiceRef: VirtualService data/db is not in the input, and there is no virtual service m/db.data"},
		{"no namespace, no meshRef", `
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: node, namespace: elsewhere}
`, Options{}, "VirtualNode elsewhere/node (x.yaml:2): its mesh is unknown: spec.meshRef is not set and the input has no Namespace elsewhere"},
		{"no mesh selects the namespace", meshNS + `---
apiVersion: v1
kind: Namespace
metadata: {name: other, labels: {team: x}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: node, namespace: other}
`, Options{}, "VirtualNode other/node (x.yaml:15): no Mesh of the input selects Namespace other (labels team=x)"},
		{"two meshes select the namespace", meshNS + `---
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {name: m2}
spec: {namespaceSelector: {}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: node, namespace: ns}
`, Options{}, "the namespaceSelector of several Meshes selects Namespace ns: m, m2; want one"},
		{"mesh not in the input or on the server", `
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: node, namespace: ns}
spec: {meshRef: {name: gone, uid: 123}}
`, Options{Exists: existing()}, "VirtualNode ns/node (x.yaml:2): Mesh gone is not in the input, and there is no mesh gone"},
		{"unknown spec field", meshNS + `---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: node, namespace: ns}
spec: {listners: []}
`, Options{}, "VirtualNode ns/node (x.yaml:11): spec.listners: not a field of a VirtualNode (appmesh.k8s.aws/v1beta2)"},
		{"field App Mesh does not have", meshNS + `---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualGateway
metadata: {name: g, namespace: ns}
spec:
  listeners:
    - portMapping: {port: 80, protocol: http}
      tls:
        mode: STRICT
        certificate: {sds: {secretName: s}}
        validation: {trust: {acm: {certificateAuthorityARNs: [a]}}}
`, Options{}, "VirtualGateway ns/g (x.yaml:11): spec.listeners[0].tls.validation.trust.acm: App Mesh has no such member here (want one of file, sds)"},
		{"ARN of another mesh", meshNS + `---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: s, namespace: ns}
spec: {provider: {virtualNode: {virtualNodeARN: "arn:aws:appmesh:us-east-1:123456789012:mesh/other/virtualNode/node"}}}
`, Options{}, `names a VirtualNode of mesh other, not of this object's mesh m`},
		{"ref and ARN", meshNS + `---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: s, namespace: ns}
spec: {provider: {virtualNode: {virtualNodeRef: {name: node}, virtualNodeARN: "arn:aws:appmesh:us-east-1:1:mesh/m/virtualNode/node"}}}
`, Options{}, "spec.provider.virtualNode: virtualNodeRef and virtualNodeARN are both set; want one"},
		{"v1beta1", `
apiVersion: appmesh.k8s.aws/v1beta1
kind: Mesh
metadata: {name: m}
`, Options{}, "Mesh m (x.yaml:2): apiVersion appmesh.k8s.aws/v1beta1 is not supported; the controller's current API is appmesh.k8s.aws/v1beta2"},
		{"the same object twice", meshNS + `---
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {name: m}
`, Options{}, "Mesh m (x.yaml:11): the same object is also at x.yaml:6"},
		{"two objects, one App Mesh name", meshNS + `---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: a, namespace: ns}
spec: {awsName: same}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: b, namespace: ns}
spec: {awsName: same}
`, Options{}, "VirtualNode ns/b (x.yaml:16): virtual node m/same is also made by VirtualNode ns/a (x.yaml:11)"},
		{"no gateway for a gateway route", meshNS + `---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualGateway
metadata: {name: g, namespace: ns}
spec: {namespaceSelector: {matchLabels: {gw: g}}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: GatewayRoute
metadata: {name: r, namespace: ns}
`, Options{}, "GatewayRoute ns/r (x.yaml:16): want exactly one VirtualGateway of the input whose namespaceSelector selects Namespace ns (labels mesh=m) and whose gatewayRouteSelector selects the route (labels none); found 0"},
		{"a reference into another mesh", meshNS + `---
apiVersion: v1
kind: Namespace
metadata: {name: ns2, labels: {mesh: m2}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {name: m2}
spec: {namespaceSelector: {matchLabels: {mesh: m2}}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: node, namespace: ns2}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: s, namespace: ns}
spec: {provider: {virtualNode: {virtualNodeRef: {name: node, namespace: ns2}}}}
`, Options{}, "VirtualNode ns2/node is in mesh m2, not in VirtualService ns/s's mesh m"},
		{"route without a name", meshNS + `---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: r, namespace: ns}
spec: {routes: [{httpRoute: {}}]}
`, Options{}, "VirtualRouter ns/r (x.yaml:11): spec.routes[0].name: a route needs a name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := build(t, tc.in, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build = %v; want an error with %q", err, tc.want)
			}
			if p != nil {
				t.Errorf("Build returned a plan with its error")
			}
		})
	}
}

// TestBuildPlacement: spec.meshRef (objects exported from a cluster) and
// Options.Mesh place objects without Namespaces; references to objects
// not in the input use the controller's default names when those exist.
func TestBuildPlacement(t *testing.T) {
	in := `
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: s, namespace: ns}
spec:
  meshRef: {name: exported, uid: 0e5d}
  provider: {virtualRouter: {virtualRouterRef: {name: r}}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: node, namespace: ns}
spec:
  backends:
    - virtualService: {virtualServiceARN: "arn:aws:appmesh:us-east-1:123456789012:mesh/flagged/virtualService/db"}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: GatewayRoute
metadata: {name: gr, namespace: ns}
spec:
  meshRef: {name: exported}
  virtualGatewayRef: {name: gw, namespace: edge}
  grpcRoute:
    match: {serviceName: svc}
    action: {target: {virtualService: {virtualServiceRef: {name: s}}}}
`
	p, err := build(t, in, Options{Mesh: "flagged", Exists: existing(
		"mesh exported//exported", "mesh flagged//flagged", "virtual router exported//r_ns", "virtual gateway exported//gw_edge")})
	if err != nil {
		t.Fatalf("Build = %v", err)
	}
	var got []string
	for _, r := range p.Resources {
		got = append(got, fmt.Sprintf("%s %v", r.String(), toJSON(r.Spec)))
	}
	want := []string{
		"virtual node flagged/node_ns map[backends:[map[virtualService:map[virtualServiceName:db]]]]",
		"virtual service exported/s.ns map[provider:map[virtualRouter:map[virtualRouterName:r_ns]]]",
		"gateway route exported/gw_edge/gr_ns map[grpcRoute:map[action:map[target:map[virtualService:map[virtualServiceName:s.ns]]] match:map[serviceName:svc]]]",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("resources (-want +got):\n%s", d)
	}
	if _, ok := p.Resources[2].Spec.(*types.GatewayRouteSpec); !ok {
		t.Errorf("gateway route spec is %T", p.Resources[2].Spec)
	}
}
