package k8simport

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	"github.com/aws/aws-sdk-go-v2/service/appmesh/types"
)

// Client is the part of the App Mesh API an import calls. *appmesh.Client
// is one; calls come from Build's Exists and Apply's goroutine, one at a
// time.
type Client interface {
	DescribeMesh(context.Context, *appmesh.DescribeMeshInput, ...func(*appmesh.Options)) (*appmesh.DescribeMeshOutput, error)
	CreateMesh(context.Context, *appmesh.CreateMeshInput, ...func(*appmesh.Options)) (*appmesh.CreateMeshOutput, error)
	UpdateMesh(context.Context, *appmesh.UpdateMeshInput, ...func(*appmesh.Options)) (*appmesh.UpdateMeshOutput, error)
	DescribeVirtualNode(context.Context, *appmesh.DescribeVirtualNodeInput, ...func(*appmesh.Options)) (*appmesh.DescribeVirtualNodeOutput, error)
	CreateVirtualNode(context.Context, *appmesh.CreateVirtualNodeInput, ...func(*appmesh.Options)) (*appmesh.CreateVirtualNodeOutput, error)
	UpdateVirtualNode(context.Context, *appmesh.UpdateVirtualNodeInput, ...func(*appmesh.Options)) (*appmesh.UpdateVirtualNodeOutput, error)
	DescribeVirtualRouter(context.Context, *appmesh.DescribeVirtualRouterInput, ...func(*appmesh.Options)) (*appmesh.DescribeVirtualRouterOutput, error)
	CreateVirtualRouter(context.Context, *appmesh.CreateVirtualRouterInput, ...func(*appmesh.Options)) (*appmesh.CreateVirtualRouterOutput, error)
	UpdateVirtualRouter(context.Context, *appmesh.UpdateVirtualRouterInput, ...func(*appmesh.Options)) (*appmesh.UpdateVirtualRouterOutput, error)
	DescribeRoute(context.Context, *appmesh.DescribeRouteInput, ...func(*appmesh.Options)) (*appmesh.DescribeRouteOutput, error)
	CreateRoute(context.Context, *appmesh.CreateRouteInput, ...func(*appmesh.Options)) (*appmesh.CreateRouteOutput, error)
	UpdateRoute(context.Context, *appmesh.UpdateRouteInput, ...func(*appmesh.Options)) (*appmesh.UpdateRouteOutput, error)
	ListRoutes(context.Context, *appmesh.ListRoutesInput, ...func(*appmesh.Options)) (*appmesh.ListRoutesOutput, error)
	DescribeVirtualService(context.Context, *appmesh.DescribeVirtualServiceInput, ...func(*appmesh.Options)) (*appmesh.DescribeVirtualServiceOutput, error)
	CreateVirtualService(context.Context, *appmesh.CreateVirtualServiceInput, ...func(*appmesh.Options)) (*appmesh.CreateVirtualServiceOutput, error)
	UpdateVirtualService(context.Context, *appmesh.UpdateVirtualServiceInput, ...func(*appmesh.Options)) (*appmesh.UpdateVirtualServiceOutput, error)
	DescribeVirtualGateway(context.Context, *appmesh.DescribeVirtualGatewayInput, ...func(*appmesh.Options)) (*appmesh.DescribeVirtualGatewayOutput, error)
	CreateVirtualGateway(context.Context, *appmesh.CreateVirtualGatewayInput, ...func(*appmesh.Options)) (*appmesh.CreateVirtualGatewayOutput, error)
	UpdateVirtualGateway(context.Context, *appmesh.UpdateVirtualGatewayInput, ...func(*appmesh.Options)) (*appmesh.UpdateVirtualGatewayOutput, error)
	DescribeGatewayRoute(context.Context, *appmesh.DescribeGatewayRouteInput, ...func(*appmesh.Options)) (*appmesh.DescribeGatewayRouteOutput, error)
	CreateGatewayRoute(context.Context, *appmesh.CreateGatewayRouteInput, ...func(*appmesh.Options)) (*appmesh.CreateGatewayRouteOutput, error)
	UpdateGatewayRoute(context.Context, *appmesh.UpdateGatewayRouteInput, ...func(*appmesh.Options)) (*appmesh.UpdateGatewayRouteOutput, error)
}

var _ Client = (*appmesh.Client)(nil)

// resourceOps are the calls that read, make and change one type of
// resource. describe returns found false when the resource does not exist.
type resourceOps struct {
	describe func(ctx context.Context, c Client, r *Resource) (spec any, version int64, found bool, err error)
	create   func(ctx context.Context, c Client, r *Resource) (version int64, err error)
	update   func(ctx context.Context, c Client, r *Resource) (version int64, err error)
}

// ops is the table of calls, by type.
var ops = map[ResourceType]resourceOps{
	TypeMesh: {
		describe: func(ctx context.Context, c Client, r *Resource) (any, int64, bool, error) {
			out, err := c.DescribeMesh(ctx, &appmesh.DescribeMeshInput{MeshName: &r.Mesh})
			if err != nil {
				return notFound(err)
			}
			return out.Mesh.Spec, *out.Mesh.Metadata.Version, true, nil
		},
		create: func(ctx context.Context, c Client, r *Resource) (int64, error) {
			out, err := c.CreateMesh(ctx, &appmesh.CreateMeshInput{MeshName: &r.Mesh, Spec: r.Spec.(*types.MeshSpec)})
			if err != nil {
				return 0, err
			}
			return *out.Mesh.Metadata.Version, nil
		},
		update: func(ctx context.Context, c Client, r *Resource) (int64, error) {
			out, err := c.UpdateMesh(ctx, &appmesh.UpdateMeshInput{MeshName: &r.Mesh, Spec: r.Spec.(*types.MeshSpec)})
			if err != nil {
				return 0, err
			}
			return *out.Mesh.Metadata.Version, nil
		},
	},
	TypeVirtualNode: {
		describe: func(ctx context.Context, c Client, r *Resource) (any, int64, bool, error) {
			out, err := c.DescribeVirtualNode(ctx, &appmesh.DescribeVirtualNodeInput{MeshName: &r.Mesh, VirtualNodeName: &r.Name})
			if err != nil {
				return notFound(err)
			}
			return out.VirtualNode.Spec, *out.VirtualNode.Metadata.Version, true, nil
		},
		create: func(ctx context.Context, c Client, r *Resource) (int64, error) {
			out, err := c.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: &r.Mesh, VirtualNodeName: &r.Name, Spec: r.Spec.(*types.VirtualNodeSpec)})
			if err != nil {
				return 0, err
			}
			return *out.VirtualNode.Metadata.Version, nil
		},
		update: func(ctx context.Context, c Client, r *Resource) (int64, error) {
			out, err := c.UpdateVirtualNode(ctx, &appmesh.UpdateVirtualNodeInput{MeshName: &r.Mesh, VirtualNodeName: &r.Name, Spec: r.Spec.(*types.VirtualNodeSpec)})
			if err != nil {
				return 0, err
			}
			return *out.VirtualNode.Metadata.Version, nil
		},
	},
	TypeVirtualRouter: {
		describe: func(ctx context.Context, c Client, r *Resource) (any, int64, bool, error) {
			out, err := c.DescribeVirtualRouter(ctx, &appmesh.DescribeVirtualRouterInput{MeshName: &r.Mesh, VirtualRouterName: &r.Name})
			if err != nil {
				return notFound(err)
			}
			return out.VirtualRouter.Spec, *out.VirtualRouter.Metadata.Version, true, nil
		},
		create: func(ctx context.Context, c Client, r *Resource) (int64, error) {
			out, err := c.CreateVirtualRouter(ctx, &appmesh.CreateVirtualRouterInput{MeshName: &r.Mesh, VirtualRouterName: &r.Name, Spec: r.Spec.(*types.VirtualRouterSpec)})
			if err != nil {
				return 0, err
			}
			return *out.VirtualRouter.Metadata.Version, nil
		},
		update: func(ctx context.Context, c Client, r *Resource) (int64, error) {
			out, err := c.UpdateVirtualRouter(ctx, &appmesh.UpdateVirtualRouterInput{MeshName: &r.Mesh, VirtualRouterName: &r.Name, Spec: r.Spec.(*types.VirtualRouterSpec)})
			if err != nil {
				return 0, err
			}
			return *out.VirtualRouter.Metadata.Version, nil
		},
	},
	TypeRoute: {
		describe: func(ctx context.Context, c Client, r *Resource) (any, int64, bool, error) {
			out, err := c.DescribeRoute(ctx, &appmesh.DescribeRouteInput{MeshName: &r.Mesh, VirtualRouterName: &r.Parent, RouteName: &r.Name})
			if err != nil {
				return notFound(err)
			}
			return out.Route.Spec, *out.Route.Metadata.Version, true, nil
		},
		create: func(ctx context.Context, c Client, r *Resource) (int64, error) {
			out, err := c.CreateRoute(ctx, &appmesh.CreateRouteInput{MeshName: &r.Mesh, VirtualRouterName: &r.Parent, RouteName: &r.Name, Spec: r.Spec.(*types.RouteSpec)})
			if err != nil {
				return 0, err
			}
			return *out.Route.Metadata.Version, nil
		},
		update: func(ctx context.Context, c Client, r *Resource) (int64, error) {
			out, err := c.UpdateRoute(ctx, &appmesh.UpdateRouteInput{MeshName: &r.Mesh, VirtualRouterName: &r.Parent, RouteName: &r.Name, Spec: r.Spec.(*types.RouteSpec)})
			if err != nil {
				return 0, err
			}
			return *out.Route.Metadata.Version, nil
		},
	},
	TypeVirtualService: {
		describe: func(ctx context.Context, c Client, r *Resource) (any, int64, bool, error) {
			out, err := c.DescribeVirtualService(ctx, &appmesh.DescribeVirtualServiceInput{MeshName: &r.Mesh, VirtualServiceName: &r.Name})
			if err != nil {
				return notFound(err)
			}
			return out.VirtualService.Spec, *out.VirtualService.Metadata.Version, true, nil
		},
		create: func(ctx context.Context, c Client, r *Resource) (int64, error) {
			out, err := c.CreateVirtualService(ctx, &appmesh.CreateVirtualServiceInput{MeshName: &r.Mesh, VirtualServiceName: &r.Name, Spec: r.Spec.(*types.VirtualServiceSpec)})
			if err != nil {
				return 0, err
			}
			return *out.VirtualService.Metadata.Version, nil
		},
		update: func(ctx context.Context, c Client, r *Resource) (int64, error) {
			out, err := c.UpdateVirtualService(ctx, &appmesh.UpdateVirtualServiceInput{MeshName: &r.Mesh, VirtualServiceName: &r.Name, Spec: r.Spec.(*types.VirtualServiceSpec)})
			if err != nil {
				return 0, err
			}
			return *out.VirtualService.Metadata.Version, nil
		},
	},
	TypeVirtualGateway: {
		describe: func(ctx context.Context, c Client, r *Resource) (any, int64, bool, error) {
			out, err := c.DescribeVirtualGateway(ctx, &appmesh.DescribeVirtualGatewayInput{MeshName: &r.Mesh, VirtualGatewayName: &r.Name})
			if err != nil {
				return notFound(err)
			}
			return out.VirtualGateway.Spec, *out.VirtualGateway.Metadata.Version, true, nil
		},
		create: func(ctx context.Context, c Client, r *Resource) (int64, error) {
			out, err := c.CreateVirtualGateway(ctx, &appmesh.CreateVirtualGatewayInput{MeshName: &r.Mesh, VirtualGatewayName: &r.Name, Spec: r.Spec.(*types.VirtualGatewaySpec)})
			if err != nil {
				return 0, err
			}
			return *out.VirtualGateway.Metadata.Version, nil
		},
		update: func(ctx context.Context, c Client, r *Resource) (int64, error) {
			out, err := c.UpdateVirtualGateway(ctx, &appmesh.UpdateVirtualGatewayInput{MeshName: &r.Mesh, VirtualGatewayName: &r.Name, Spec: r.Spec.(*types.VirtualGatewaySpec)})
			if err != nil {
				return 0, err
			}
			return *out.VirtualGateway.Metadata.Version, nil
		},
	},
	TypeGatewayRoute: {
		describe: func(ctx context.Context, c Client, r *Resource) (any, int64, bool, error) {
			out, err := c.DescribeGatewayRoute(ctx, &appmesh.DescribeGatewayRouteInput{MeshName: &r.Mesh, VirtualGatewayName: &r.Parent, GatewayRouteName: &r.Name})
			if err != nil {
				return notFound(err)
			}
			return out.GatewayRoute.Spec, *out.GatewayRoute.Metadata.Version, true, nil
		},
		create: func(ctx context.Context, c Client, r *Resource) (int64, error) {
			out, err := c.CreateGatewayRoute(ctx, &appmesh.CreateGatewayRouteInput{MeshName: &r.Mesh, VirtualGatewayName: &r.Parent, GatewayRouteName: &r.Name, Spec: r.Spec.(*types.GatewayRouteSpec)})
			if err != nil {
				return 0, err
			}
			return *out.GatewayRoute.Metadata.Version, nil
		},
		update: func(ctx context.Context, c Client, r *Resource) (int64, error) {
			out, err := c.UpdateGatewayRoute(ctx, &appmesh.UpdateGatewayRouteInput{MeshName: &r.Mesh, VirtualGatewayName: &r.Parent, GatewayRouteName: &r.Name, Spec: r.Spec.(*types.GatewayRouteSpec)})
			if err != nil {
				return 0, err
			}
			return *out.GatewayRoute.Metadata.Version, nil
		},
	},
}

// notFound turns NotFoundException into found false, and passes any other
// error on.
func notFound(err error) (any, int64, bool, error) {
	var nf *types.NotFoundException
	if errors.As(err, &nf) {
		return nil, 0, false, nil
	}
	return nil, 0, false, err
}

// Exists reports whether a resource exists; it is Options.Exists for c.
func Exists(c Client) func(ctx context.Context, typ ResourceType, mesh, parent, name string) (bool, error) {
	return func(ctx context.Context, typ ResourceType, mesh, parent, name string) (bool, error) {
		_, _, found, err := ops[typ].describe(ctx, c, &Resource{Type: typ, Mesh: mesh, Parent: parent, Name: name})
		return found, err
	}
}

// Action is what an import does to a resource.
type Action string

// The actions.
const (
	Created   Action = "created"
	Updated   Action = "updated"
	Unchanged Action = "unchanged"
)

// Result is what Apply did, or with dryRun would do, to one resource.
type Result struct {
	Resource *Resource
	Action   Action
	// Version is the resource's version afterwards (with dryRun: now; 0
	// for a resource to create).
	Version int64
	// Changes are, for an update, the spec's members that change:
	// "spec.listeners[0].portMapping.port: 8080 -> 9090".
	Changes []string
}

// Apply makes each resource of p that does not exist and updates each
// whose spec differs, in p's order, through c, and calls report with each
// outcome. A resource whose spec is already p's is left alone, so its
// version does not move. With dryRun it only reads. It stops at the first
// call that fails. It returns notes on what it saw but left alone: routes
// of an imported virtual router that the router's manifest does not list.
func Apply(ctx context.Context, c Client, p *Plan, dryRun bool, report func(Result)) ([]string, error) {
	routes := map[string]map[string]bool{} // router -> its routes in p
	for i := range p.Resources {
		r := &p.Resources[i]
		op := ops[r.Type]
		actual, version, found, err := op.describe(ctx, c, r)
		if err != nil {
			return nil, fmt.Errorf("%s (from %s): reading it: %w", r.String(), r.From, err)
		}
		res := Result{Resource: r, Version: version}
		switch {
		case !found:
			res.Action = Created
			if !dryRun {
				if res.Version, err = op.create(ctx, c, r); err != nil {
					return nil, fmt.Errorf("%s (from %s): creating it: %w", r.String(), r.From, err)
				}
			}
		default:
			want, have := toJSON(r.Spec), toJSON(actual)
			if reflect.DeepEqual(want, have) {
				res.Action = Unchanged
				break
			}
			res.Action = Updated
			res.Changes = diff("spec", have, want)
			if !dryRun {
				if res.Version, err = op.update(ctx, c, r); err != nil {
					return nil, fmt.Errorf("%s (from %s): updating it: %w", r.String(), r.From, err)
				}
			}
		}
		report(res)
		switch r.Type {
		case TypeVirtualRouter:
			if routes[r.Mesh+"/"+r.Name] == nil {
				routes[r.Mesh+"/"+r.Name] = map[string]bool{}
			}
		case TypeRoute:
			routes[r.Mesh+"/"+r.Parent][r.Name] = true
		}
	}
	var notes []string
	for _, router := range sortedKeys(routes) {
		mesh, name, _ := strings.Cut(router, "/")
		pg := appmesh.NewListRoutesPaginator(c, &appmesh.ListRoutesInput{MeshName: &mesh, VirtualRouterName: &name})
		for pg.HasMorePages() {
			out, err := pg.NextPage(ctx)
			if err != nil {
				if _, _, _, nerr := notFound(err); nerr == nil {
					break // dry run: the router is not made yet
				}
				return notes, fmt.Errorf("virtual router %s: listing its routes: %w", router, err)
			}
			for _, rt := range out.Routes {
				if !routes[router][*rt.RouteName] {
					notes = append(notes, fmt.Sprintf("route %s/%s is not in the virtual router's manifest; left in place (the controller would delete it)", router, *rt.RouteName))
				}
			}
		}
	}
	return notes, nil
}

// diff lists the members that differ between two toJSON values, by path.
func diff(path string, have, want any) []string {
	hm, hok := have.(map[string]any)
	wm, wok := want.(map[string]any)
	if hok && wok {
		keys := map[string]bool{}
		for k := range hm {
			keys[k] = true
		}
		for k := range wm {
			keys[k] = true
		}
		var out []string
		for _, k := range sortedKeys(keys) {
			out = append(out, diff(path+"."+k, hm[k], wm[k])...)
		}
		return out
	}
	hl, hok := have.([]any)
	wl, wok := want.([]any)
	if hok && wok && len(hl) == len(wl) {
		var out []string
		for i := range hl {
			out = append(out, diff(fmt.Sprintf("%s[%d]", path, i), hl[i], wl[i])...)
		}
		return out
	}
	if reflect.DeepEqual(have, want) {
		return nil
	}
	return []string{fmt.Sprintf("%s: %s -> %s", path, short(have), short(want))}
}

// short renders a toJSON value on one line.
func short(v any) string {
	switch v := v.(type) {
	case nil:
		return "(unset)"
	case string:
		return v
	case map[string]any:
		return "{" + strings.Join(sortedKeys(v), ", ") + "}"
	case []any:
		return fmt.Sprintf("[%d items]", len(v))
	}
	return fmt.Sprint(v)
}
