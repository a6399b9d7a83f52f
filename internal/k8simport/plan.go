package k8simport

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/appmesh/types"
)

// ResourceType is an App Mesh resource type, as the API's documentation
// names it.
type ResourceType string

// The resource types, in the order an import makes them: each only refers
// to types before it (a virtual node's backends may name virtual services
// that do not exist yet).
const (
	TypeMesh           ResourceType = "mesh"
	TypeVirtualNode    ResourceType = "virtual node"
	TypeVirtualRouter  ResourceType = "virtual router"
	TypeRoute          ResourceType = "route"
	TypeVirtualService ResourceType = "virtual service"
	TypeVirtualGateway ResourceType = "virtual gateway"
	TypeGatewayRoute   ResourceType = "gateway route"
)

var typeOrder = []ResourceType{TypeMesh, TypeVirtualNode, TypeVirtualRouter, TypeRoute, TypeVirtualService, TypeVirtualGateway, TypeGatewayRoute}

// typeOfKind is the resource type each kind makes.
var typeOfKind = map[string]ResourceType{
	KindMesh: TypeMesh, KindVirtualNode: TypeVirtualNode, KindVirtualRouter: TypeVirtualRouter,
	KindVirtualService: TypeVirtualService, KindVirtualGateway: TypeVirtualGateway, KindGatewayRoute: TypeGatewayRoute,
}

// Resource is one App Mesh resource an import makes or updates.
type Resource struct {
	Type ResourceType
	// Mesh, Parent and Name are App Mesh names; Parent is the virtual
	// router of a route, the virtual gateway of a gateway route, else "".
	Mesh, Parent, Name string
	// Spec is the spec to have: *types.MeshSpec, *types.VirtualNodeSpec,
	// *types.VirtualRouterSpec, *types.RouteSpec, *types.VirtualServiceSpec,
	// *types.VirtualGatewaySpec or *types.GatewayRouteSpec.
	Spec any
	// From is the object it comes from, and where: "VirtualNode howto/blue
	// (app.yaml:12)".
	From string
}

// String names the resource: "virtual node color/blue_howto",
// "route color/color_howto/blue-route".
func (r *Resource) String() string {
	parts := []string{r.Mesh}
	if r.Type == TypeMesh {
		return string(r.Type) + " " + r.Mesh
	}
	if r.Parent != "" {
		parts = append(parts, r.Parent)
	}
	return string(r.Type) + " " + strings.Join(append(parts, r.Name), "/")
}

// Plan is an import: the resources to make or update, in dependency order,
// and notes on what was left out.
type Plan struct {
	Resources []Resource
	Notes     []string
}

// Options are what Build needs besides the objects.
type Options struct {
	// Mesh, if set, is the Kubernetes name of the Mesh of namespaced
	// objects that neither name one (spec.meshRef) nor are in a Namespace
	// of the input that a Mesh of the input selects.
	Mesh string
	// Exists reports whether a resource exists; Build calls it for the
	// meshes and referenced resources that are not in the input. Nil:
	// such references are errors.
	Exists func(ctx context.Context, typ ResourceType, mesh, parent, name string) (bool, error)
}

// Build turns objects into a plan, following the App Mesh controller's
// rules for names, mesh and gateway membership, and references (see the
// package documentation). Every problem found is reported, one per line,
// in the error.
func Build(ctx context.Context, objs []Object, opts Options) (*Plan, error) {
	b := &builder{opts: opts, objs: map[key]*Object{}, namespaces: map[string]*Object{},
		meshes: map[string]*meshInfo{}, info: map[key]*objInfo{}, exists: map[string]error{}}
	b.classify(objs)
	b.place(ctx)
	p := b.translate(ctx)
	if len(b.errs) > 0 {
		return nil, errors.New(strings.Join(b.errs, "\n"))
	}
	p.Notes = b.notes
	return p, nil
}

type builder struct {
	opts       Options
	order      []*Object       // the App Mesh objects, as read
	objs       map[key]*Object // the same, by key
	namespaces map[string]*Object
	meshes     map[string]*meshInfo // by Kubernetes name
	meshOrder  []string
	info       map[key]*objInfo
	exists     map[string]error // resources looked up on the server, by type/mesh/parent/name; nil: found
	errs       []string
	notes      []string
}

// meshInfo is a Mesh of the input.
type meshInfo struct {
	awsName  string
	selector *labelSelector
}

// objInfo is where a namespaced object lands in App Mesh.
type objInfo struct {
	spec    map[string]any
	mesh    string // App Mesh name of its mesh; "" when it could not be placed
	awsName string
	// A VirtualGateway's selectors; a GatewayRoute's gateway (App Mesh name).
	nsSelector, routeSelector *labelSelector
	gateway                   string
}

func (b *builder) errorf(format string, args ...any) {
	b.errs = append(b.errs, fmt.Sprintf(format, args...))
}
func (b *builder) notef(format string, args ...any) {
	b.notes = append(b.notes, fmt.Sprintf(format, args...))
}

// classify sorts the objects into App Mesh ones, Namespaces and the rest.
func (b *builder) classify(objs []Object) {
	for i := range objs {
		o := &objs[i]
		group, _, _ := strings.Cut(o.APIVersion, "/")
		switch {
		case o.Kind == kindNamespace && o.APIVersion == "v1":
			b.namespaces[o.Name] = o
		case group == Group && typeOfKind[o.Kind] != "":
			if o.APIVersion != APIVersion {
				b.errorf("%s (%s): apiVersion %s is not supported; the controller's current API is %s", o.ID(), o.Source, o.APIVersion, APIVersion)
				continue
			}
			if prev, dup := b.objs[o.key()]; dup {
				b.errorf("%s (%s): the same object is also at %s", o.ID(), o.Source, prev.Source)
				continue
			}
			b.objs[o.key()] = o
			b.order = append(b.order, o)
		case group == Group:
			b.notef("ignored %s (%s): the controller's %s has no App Mesh resource of its own", o.ID(), o.Source, o.Kind)
		default:
			b.notef("ignored %s (%s): not an App Mesh controller kind", o.ID(), o.Source)
		}
	}
}

// place finds every object's App Mesh name and mesh, and every gateway
// route's gateway.
func (b *builder) place(ctx context.Context) {
	for _, o := range b.order {
		spec, err := specMap(o)
		if err != nil {
			b.errorf("%s (%s): %v", o.ID(), o.Source, err)
			spec = map[string]any{}
		}
		in := &objInfo{spec: spec, awsName: defaultName(o.Kind, o.Namespace, o.Name)}
		if n, ok := spec["awsName"]; ok {
			if s, _ := n.(string); s != "" {
				in.awsName = s
			} else {
				b.errorf("%s (%s): spec.awsName: want a name", o.ID(), o.Source)
			}
		}
		b.info[o.key()] = in
		if o.Kind == KindMesh {
			sel, err := parseSelector(spec["namespaceSelector"], "spec.namespaceSelector")
			if err != nil {
				b.errorf("%s (%s): %v", o.ID(), o.Source, err)
			}
			b.meshes[o.Name] = &meshInfo{awsName: in.awsName, selector: sel}
			b.meshOrder = append(b.meshOrder, o.Name)
			in.mesh = in.awsName
		}
		if o.Kind == KindVirtualGateway {
			var err error
			if in.nsSelector, err = parseSelector(spec["namespaceSelector"], "spec.namespaceSelector"); err != nil {
				b.errorf("%s (%s): %v", o.ID(), o.Source, err)
			}
			if in.routeSelector, err = parseSelector(spec["gatewayRouteSelector"], "spec.gatewayRouteSelector"); err != nil {
				b.errorf("%s (%s): %v", o.ID(), o.Source, err)
			}
		}
	}
	for _, o := range b.order {
		if o.Kind != KindMesh {
			b.info[o.key()].mesh = b.meshOf(ctx, o)
		}
	}
	for _, o := range b.order {
		if o.Kind == KindGatewayRoute {
			b.info[o.key()].gateway = b.gatewayOf(ctx, o)
		}
	}
}

// defaultName is the App Mesh name the controller gives an object without
// spec.awsName (its webhooks' defaultingAWSName).
func defaultName(kind, namespace, name string) string {
	switch kind {
	case KindMesh:
		return name
	case KindVirtualService:
		return name + "." + namespace
	}
	return name + "_" + namespace
}

// meshOf returns the App Mesh name of o's mesh: the Mesh its spec.meshRef
// names, else the one Mesh of the input whose namespaceSelector selects
// o's Namespace (as the controller's webhook designates it), else
// Options.Mesh. A Mesh not in the input keeps its Kubernetes name and
// must exist.
func (b *builder) meshOf(ctx context.Context, o *Object) string {
	in := b.info[o.key()]
	k8sName := ""
	if ref, ok := in.spec["meshRef"]; ok {
		m, _ := ref.(map[string]any)
		k8sName, _ = m["name"].(string)
		if k8sName == "" {
			b.errorf("%s (%s): spec.meshRef: want {name: MESH}", o.ID(), o.Source)
			return ""
		}
	} else if ns := b.namespaces[o.Namespace]; ns != nil {
		var cands []string
		for _, m := range b.meshOrder {
			if b.meshes[m].selector.matches(ns.Labels, false) {
				cands = append(cands, m)
			}
		}
		switch {
		case len(cands) == 1:
			k8sName = cands[0]
		case len(cands) > 1:
			b.errorf("%s (%s): the namespaceSelector of several Meshes selects Namespace %s: %s; want one", o.ID(), o.Source, o.Namespace, strings.Join(cands, ", "))
			return ""
		case b.opts.Mesh == "":
			b.errorf("%s (%s): no Mesh of the input selects Namespace %s (labels %s); set spec.meshRef, or give the mesh with --mesh", o.ID(), o.Source, o.Namespace, labelString(ns.Labels))
			return ""
		}
	}
	if k8sName == "" && b.opts.Mesh != "" {
		k8sName = b.opts.Mesh
	}
	if k8sName == "" {
		b.errorf("%s (%s): its mesh is unknown: spec.meshRef is not set and the input has no Namespace %s for a Mesh's namespaceSelector to select; add the Namespace (with its labels), set spec.meshRef, or give the mesh with --mesh", o.ID(), o.Source, o.Namespace)
		return ""
	}
	if m := b.meshes[k8sName]; m != nil {
		return m.awsName
	}
	if err := b.lookup(ctx, TypeMesh, k8sName, "", k8sName); err != nil {
		b.errorf("%s (%s): Mesh %s is not in the input, and %v", o.ID(), o.Source, k8sName, err)
		return ""
	}
	return k8sName
}

// gatewayOf returns the App Mesh name of the virtual gateway of gateway
// route o: the VirtualGateway its spec.virtualGatewayRef names, else the
// one VirtualGateway of the input whose namespaceSelector selects o's
// Namespace and whose gatewayRouteSelector selects o (as the controller's
// webhook designates it).
func (b *builder) gatewayOf(ctx context.Context, o *Object) string {
	in := b.info[o.key()]
	if in.mesh == "" {
		return ""
	}
	var gw key
	if ref, ok := in.spec["virtualGatewayRef"]; ok {
		m, _ := ref.(map[string]any)
		name, _ := m["name"].(string)
		ns, _ := m["namespace"].(string)
		if name == "" {
			b.errorf("%s (%s): spec.virtualGatewayRef: want {name: GATEWAY, namespace: NAMESPACE}", o.ID(), o.Source)
			return ""
		}
		if ns == "" {
			ns = o.Namespace
		}
		gw = key{KindVirtualGateway, ns, name}
	} else {
		ns := b.namespaces[o.Namespace]
		if ns == nil {
			b.errorf("%s (%s): its virtual gateway is unknown: spec.virtualGatewayRef is not set and the input has no Namespace %s for a VirtualGateway's namespaceSelector to select; add the Namespace (with its labels) or set spec.virtualGatewayRef", o.ID(), o.Source, o.Namespace)
			return ""
		}
		var cands []*Object
		for _, g := range b.order {
			gi := b.info[g.key()]
			if g.Kind == KindVirtualGateway && gi.nsSelector.matches(ns.Labels, false) && gi.routeSelector.matches(o.Labels, true) {
				cands = append(cands, g)
			}
		}
		if len(cands) != 1 {
			var names []string
			for _, c := range cands {
				names = append(names, c.Namespace+"/"+c.Name)
			}
			b.errorf("%s (%s): want exactly one VirtualGateway of the input whose namespaceSelector selects Namespace %s (labels %s) and whose gatewayRouteSelector selects the route (labels %s); found %d%s",
				o.ID(), o.Source, o.Namespace, labelString(ns.Labels), labelString(o.Labels), len(cands), prefixed(": ", strings.Join(names, ", ")))
			return ""
		}
		gw = cands[0].key()
	}
	name, err := b.resolve(ctx, o, in.mesh, gw)
	if err != nil {
		b.errorf("%s (%s): %v", o.ID(), o.Source, err)
		return ""
	}
	return name
}

// resolve returns the App Mesh name of the object k, referred to by from,
// whose mesh is mesh. An object not in the input gets the controller's
// default name and must exist in mesh.
func (b *builder) resolve(ctx context.Context, from *Object, mesh string, k key) (string, error) {
	typ := typeOfKind[k.kind]
	if o := b.objs[k]; o != nil {
		in := b.info[k]
		if in.mesh != "" && in.mesh != mesh {
			return "", fmt.Errorf("%s is in mesh %s, not in %s's mesh %s", o.ID(), in.mesh, from.ID(), mesh)
		}
		return in.awsName, nil
	}
	id := fmt.Sprintf("%s %s/%s", k.kind, k.namespace, k.name)
	name := defaultName(k.kind, k.namespace, k.name)
	if err := b.lookup(ctx, typ, mesh, "", name); err != nil {
		return "", fmt.Errorf("%s is not in the input, and %v", id, err)
	}
	return name, nil
}

// lookup checks, once, that a resource not in the input exists.
func (b *builder) lookup(ctx context.Context, typ ResourceType, mesh, parent, name string) error {
	k := strings.Join([]string{string(typ), mesh, parent, name}, "/")
	if err, done := b.exists[k]; done {
		return err
	}
	r := Resource{Type: typ, Mesh: mesh, Parent: parent, Name: name}
	var err error
	if b.opts.Exists == nil {
		err = fmt.Errorf("it cannot be looked up")
	} else if ok, lerr := b.opts.Exists(ctx, typ, mesh, parent, name); lerr != nil {
		err = fmt.Errorf("looking for %s failed: %v", r.String(), lerr)
	} else if !ok {
		err = fmt.Errorf("there is no %s", r.String())
	}
	b.exists[k] = err
	return err
}

// translate builds the resources.
func (b *builder) translate(ctx context.Context) *Plan {
	byType := map[ResourceType][]Resource{}
	seen := map[string]string{}
	add := func(r Resource, api map[string]any, path string) {
		if err := fromJSON(api, r.Spec, path); err != nil {
			b.errorf("%s: %v", r.From, err)
			return
		}
		if prev, dup := seen[r.String()]; dup {
			b.errorf("%s: %s is also made by %s (their App Mesh names are the same)", r.From, r.String(), prev)
			return
		}
		seen[r.String()] = r.From
		byType[r.Type] = append(byType[r.Type], r)
	}
	for _, o := range b.order {
		in := b.info[o.key()]
		if in.mesh == "" || (o.Kind == KindGatewayRoute && in.gateway == "") {
			continue // already reported
		}
		t := &translator{b: b, obj: o, mesh: in.mesh}
		from := fmt.Sprintf("%s (%s)", o.ID(), o.Source)
		r := Resource{Type: typeOfKind[o.Kind], Mesh: in.mesh, Name: in.awsName, From: from}
		switch o.Kind {
		case KindMesh:
			r.Spec = &types.MeshSpec{}
			add(r, t.meshSpec(ctx, in.spec), "spec")
		case KindVirtualNode:
			r.Spec = &types.VirtualNodeSpec{}
			add(r, t.virtualNode(ctx, in.spec), "spec")
		case KindVirtualRouter:
			api, routes := t.virtualRouter(ctx, in.spec)
			r.Spec = &types.VirtualRouterSpec{}
			add(r, api, "spec")
			for _, rt := range routes {
				add(Resource{Type: TypeRoute, Mesh: in.mesh, Parent: in.awsName, Name: rt.name, Spec: &types.RouteSpec{}, From: from}, rt.spec, rt.path)
			}
		case KindVirtualService:
			r.Spec = &types.VirtualServiceSpec{}
			add(r, t.virtualService(ctx, in.spec), "spec")
		case KindVirtualGateway:
			r.Spec = &types.VirtualGatewaySpec{}
			add(r, t.virtualGateway(ctx, in.spec), "spec")
		case KindGatewayRoute:
			r.Parent = in.gateway
			r.Spec = &types.GatewayRouteSpec{}
			add(r, t.gatewayRoute(ctx, in.spec), "spec")
		}
	}
	p := &Plan{}
	for _, typ := range typeOrder {
		p.Resources = append(p.Resources, byType[typ]...)
	}
	return p
}

func labelString(l map[string]string) string {
	if len(l) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + l[k]
	}
	return strings.Join(keys, ",")
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}
