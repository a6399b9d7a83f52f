package k8simport

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// The translation of the controller's specs into the App Mesh API's: the
// controller's CRDs mirror the API's shapes, except for
//
//   - Kubernetes-only fields (selectors, meshRef, virtualGatewayRef,
//     backendGroups, awsName, meshOwner), which are used or reported and
//     left out;
//   - references by Kubernetes name (virtualNodeRef, virtualServiceRef,
//     virtualRouterRef) or ARN (virtualNodeARN, ...), which become the
//     referenced resource's App Mesh name;
//   - the Mesh's meshServiceDiscovery, which is the API's serviceDiscovery,
//     and a VirtualRouter's routes, which are Route resources of their own.
//
// Everything else is passed as it is and must then fit the API's shapes
// (fromJSON), so a field App Mesh does not have is an error, not a silent
// loss.

// translator turns one object's spec into API JSON, reporting to the
// builder.
type translator struct {
	b    *builder
	obj  *Object
	mesh string // App Mesh name of the object's mesh
}

func (t *translator) fail(path, format string, args ...any) {
	t.b.errorf("%s (%s): %s: %s", t.obj.ID(), t.obj.Source, path, fmt.Sprintf(format, args...))
}

func (t *translator) skip(path, why string) {
	t.b.notef("%s: %s skipped: %s", t.obj.ID(), path, why)
}

// specMap decodes the object's spec; a missing spec is empty.
func specMap(o *Object) (map[string]any, error) {
	m := map[string]any{}
	if len(o.Spec) == 0 || string(o.Spec) == "null" {
		return m, nil
	}
	d := json.NewDecoder(bytes.NewReader(o.Spec))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("spec: want an object: %v", err)
	}
	return m, nil
}

func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// Why each Kubernetes-only field is left out.
const (
	whyPodSelector   = "Kubernetes only (the pods whose Envoy the controller's injector configures)"
	whyBackendGroups = "BackendGroups are the controller's own (a set of virtual services it expands into backends); list the services in spec.backends"
	whyMeshSelector  = "Kubernetes only (which namespaces' resources belong to the mesh); used to place the input's resources"
	whyGWNamespace   = "Kubernetes only (which namespaces' gateway routes attach to the gateway); used to place the input's gateway routes"
	whyGWRouteSel    = "Kubernetes only (which gateway routes attach to the gateway); used to place the input's gateway routes"
	whyMeshOwner     = "mapmesh does not share meshes between accounts; the mesh is made in the caller's account"
)

// meshSpec translates a Mesh's spec.
func (t *translator) meshSpec(ctx context.Context, spec map[string]any) map[string]any {
	api := map[string]any{}
	for _, k := range sortedKeys(spec) {
		v := spec[k]
		switch k {
		case "awsName":
		case "namespaceSelector":
			t.skip("spec."+k, whyMeshSelector)
		case "meshOwner":
			t.skip("spec."+k, whyMeshOwner)
		case "egressFilter":
			api[k] = v
		case "meshServiceDiscovery":
			api["serviceDiscovery"] = v
		default:
			t.fail("spec."+k, "not a field of a Mesh (appmesh.k8s.aws/v1beta2)")
		}
	}
	return api
}

// virtualNode translates a VirtualNode's spec.
func (t *translator) virtualNode(ctx context.Context, spec map[string]any) map[string]any {
	api := map[string]any{}
	for _, k := range sortedKeys(spec) {
		v := spec[k]
		switch k {
		case "awsName", "meshRef":
		case "podSelector":
			t.skip("spec."+k, whyPodSelector)
		case "backendGroups":
			t.skip("spec."+k, whyBackendGroups)
		case "listeners", "backendDefaults", "logging":
			api[k] = v
		case "serviceDiscovery":
			api[k] = v
			if sd, ok := v.(map[string]any); ok {
				if dns, ok := sd["dns"].(map[string]any); ok {
					if h, _ := dns["hostname"].(string); isClusterName(h) {
						t.b.notef("%s: spec.serviceDiscovery.dns.hostname %s kept as is: it is a Kubernetes cluster DNS name, so only Envoys that use the cluster's DNS resolve it (mapmesh's DNS does not)", t.obj.ID(), h)
					}
				}
			}
		case "backends":
			l, ok := v.([]any)
			if !ok {
				t.fail("spec.backends", "want a list")
				continue
			}
			for i, b := range l {
				path := fmt.Sprintf("spec.backends[%d].virtualService", i)
				bm, _ := b.(map[string]any)
				vs, ok := bm["virtualService"].(map[string]any)
				if !ok || len(bm) != 1 {
					t.fail(fmt.Sprintf("spec.backends[%d]", i), "want {virtualService: {...}}")
					continue
				}
				t.ref(ctx, vs, path, KindVirtualService, "virtualServiceRef", "virtualServiceARN", "virtualServiceName")
			}
			api[k] = v
		default:
			t.fail("spec."+k, "not a field of a VirtualNode (appmesh.k8s.aws/v1beta2)")
		}
	}
	return api
}

// isClusterName reports whether h is a name of Kubernetes' cluster DNS.
func isClusterName(h string) bool {
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	return strings.HasSuffix(h, ".svc.cluster.local") || strings.HasSuffix(h, ".svc")
}

// virtualRouter translates a VirtualRouter's spec, and returns its routes
// (name -> API route spec) in their order.
func (t *translator) virtualRouter(ctx context.Context, spec map[string]any) (map[string]any, []namedSpec) {
	api := map[string]any{}
	var routes []namedSpec
	for _, k := range sortedKeys(spec) {
		v := spec[k]
		switch k {
		case "awsName", "meshRef":
		case "listeners":
			api[k] = v
		case "routes":
			l, ok := v.([]any)
			if !ok {
				t.fail("spec.routes", "want a list")
				continue
			}
			seen := map[string]bool{}
			for i, r := range l {
				path := fmt.Sprintf("spec.routes[%d]", i)
				rm, ok := r.(map[string]any)
				if !ok {
					t.fail(path, "want an object")
					continue
				}
				name, _ := rm["name"].(string)
				if name == "" {
					t.fail(path+".name", "a route needs a name")
					continue
				}
				if seen[name] {
					t.fail(path+".name", "route %q twice", name)
					continue
				}
				seen[name] = true
				routes = append(routes, namedSpec{name: name, path: path, spec: t.route(ctx, rm, path)})
			}
		default:
			t.fail("spec."+k, "not a field of a VirtualRouter (appmesh.k8s.aws/v1beta2)")
		}
	}
	return api, routes
}

// namedSpec is a route of a VirtualRouter.
type namedSpec struct {
	name, path string
	spec       map[string]any
}

func (t *translator) route(ctx context.Context, rm map[string]any, path string) map[string]any {
	api := map[string]any{}
	for _, k := range sortedKeys(rm) {
		v := rm[k]
		switch k {
		case "name":
		case "priority":
			api[k] = v
		case "httpRoute", "http2Route", "grpcRoute", "tcpRoute":
			r, _ := v.(map[string]any)
			action, _ := r["action"].(map[string]any)
			targets, _ := action["weightedTargets"].([]any)
			for i, wt := range targets {
				if m, ok := wt.(map[string]any); ok {
					t.ref(ctx, m, fmt.Sprintf("%s.%s.action.weightedTargets[%d]", path, k, i), KindVirtualNode, "virtualNodeRef", "virtualNodeARN", "virtualNode")
				}
			}
			api[k] = v
		default:
			t.fail(path+"."+k, "not a field of a route")
		}
	}
	return api
}

// virtualService translates a VirtualService's spec.
func (t *translator) virtualService(ctx context.Context, spec map[string]any) map[string]any {
	api := map[string]any{}
	for _, k := range sortedKeys(spec) {
		v := spec[k]
		switch k {
		case "awsName", "meshRef":
		case "provider":
			p, _ := v.(map[string]any)
			if vn, ok := p["virtualNode"].(map[string]any); ok {
				t.ref(ctx, vn, "spec.provider.virtualNode", KindVirtualNode, "virtualNodeRef", "virtualNodeARN", "virtualNodeName")
			}
			if vr, ok := p["virtualRouter"].(map[string]any); ok {
				t.ref(ctx, vr, "spec.provider.virtualRouter", KindVirtualRouter, "virtualRouterRef", "virtualRouterARN", "virtualRouterName")
			}
			api[k] = v
		default:
			t.fail("spec."+k, "not a field of a VirtualService (appmesh.k8s.aws/v1beta2)")
		}
	}
	return api
}

// virtualGateway translates a VirtualGateway's spec.
func (t *translator) virtualGateway(ctx context.Context, spec map[string]any) map[string]any {
	api := map[string]any{}
	for _, k := range sortedKeys(spec) {
		v := spec[k]
		switch k {
		case "awsName", "meshRef":
		case "podSelector":
			t.skip("spec."+k, whyPodSelector)
		case "namespaceSelector":
			t.skip("spec."+k, whyGWNamespace)
		case "gatewayRouteSelector":
			t.skip("spec."+k, whyGWRouteSel)
		case "listeners", "logging", "backendDefaults":
			api[k] = v
		default:
			t.fail("spec."+k, "not a field of a VirtualGateway (appmesh.k8s.aws/v1beta2)")
		}
	}
	return api
}

// gatewayRoute translates a GatewayRoute's spec.
func (t *translator) gatewayRoute(ctx context.Context, spec map[string]any) map[string]any {
	api := map[string]any{}
	for _, k := range sortedKeys(spec) {
		v := spec[k]
		switch k {
		case "awsName", "meshRef", "virtualGatewayRef":
		case "priority":
			api[k] = v
		case "httpRoute", "http2Route", "grpcRoute":
			r, _ := v.(map[string]any)
			action, _ := r["action"].(map[string]any)
			target, _ := action["target"].(map[string]any)
			if vs, ok := target["virtualService"].(map[string]any); ok {
				t.ref(ctx, vs, "spec."+k+".action.target.virtualService", KindVirtualService, "virtualServiceRef", "virtualServiceARN", "virtualServiceName")
			}
			api[k] = v
		default:
			t.fail("spec."+k, "not a field of a GatewayRoute (appmesh.k8s.aws/v1beta2)")
		}
	}
	return api
}

// ref replaces m[refKey] (a reference by Kubernetes name) or m[arnKey]
// (by ARN), exactly one of which must be set, with m[nameKey]: the App
// Mesh name of the resource of kind it names.
func (t *translator) ref(ctx context.Context, m map[string]any, path, kind, refKey, arnKey, nameKey string) {
	ref, hasRef := m[refKey]
	arn, hasARN := m[arnKey]
	delete(m, refKey)
	delete(m, arnKey)
	switch {
	case hasRef && hasARN:
		t.fail(path, "%s and %s are both set; want one", refKey, arnKey)
	case !hasRef && !hasARN:
		t.fail(path, "want %s or %s", refKey, arnKey)
	case hasARN:
		s, _ := arn.(string)
		name, err := parseARN(s, kind, t.mesh)
		if err != nil {
			t.fail(path+"."+arnKey, "%v", err)
			return
		}
		m[nameKey] = name
	default:
		r, ok := ref.(map[string]any)
		name, _ := r["name"].(string)
		ns, _ := r["namespace"].(string)
		if !ok || name == "" {
			t.fail(path+"."+refKey, "want {name: NAME, namespace: NAMESPACE}")
			return
		}
		if ns == "" {
			ns = t.obj.Namespace // as the controller does
		}
		awsName, err := t.b.resolve(ctx, t.obj, t.mesh, key{kind, ns, name})
		if err != nil {
			t.fail(path+"."+refKey, "%v", err)
			return
		}
		m[nameKey] = awsName
	}
}

// parseARN returns the name of an App Mesh resource of kind in mesh from
// its ARN (arn:aws:appmesh:REGION:ACCOUNT:mesh/MESH/virtualNode/NAME).
func parseARN(arn, kind, mesh string) (string, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "appmesh" {
		return "", fmt.Errorf("%q is not an App Mesh ARN", arn)
	}
	res := strings.Split(parts[5], "/")
	want := strings.ToLower(kind[:1]) + kind[1:] // virtualNode
	if len(res) != 4 || res[0] != "mesh" || res[2] != want {
		return "", fmt.Errorf("%q is not the ARN of a %s (arn:aws:appmesh:REGION:ACCOUNT:mesh/MESH/%s/NAME)", arn, kind, want)
	}
	if res[1] != mesh {
		return "", fmt.Errorf("%q names a %s of mesh %s, not of this object's mesh %s", arn, kind, res[1], mesh)
	}
	return res[3], nil
}
