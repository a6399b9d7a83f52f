package conformance

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	am "github.com/aws/aws-sdk-go-v2/service/appmesh"
	amtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"

	"github.com/mapmesh/mapmesh/internal/appmesh"
	"github.com/mapmesh/mapmesh/internal/server"
)

// meshOps are the 38 operations of App Mesh 2019-01-25.
var meshOps = []string{
	"CreateGatewayRoute", "CreateMesh", "CreateRoute", "CreateVirtualGateway", "CreateVirtualNode", "CreateVirtualRouter", "CreateVirtualService",
	"DeleteGatewayRoute", "DeleteMesh", "DeleteRoute", "DeleteVirtualGateway", "DeleteVirtualNode", "DeleteVirtualRouter", "DeleteVirtualService",
	"DescribeGatewayRoute", "DescribeMesh", "DescribeRoute", "DescribeVirtualGateway", "DescribeVirtualNode", "DescribeVirtualRouter", "DescribeVirtualService",
	"ListGatewayRoutes", "ListMeshes", "ListRoutes", "ListTagsForResource", "ListVirtualGateways", "ListVirtualNodes", "ListVirtualRouters", "ListVirtualServices",
	"TagResource", "UntagResource",
	"UpdateGatewayRoute", "UpdateMesh", "UpdateRoute", "UpdateVirtualGateway", "UpdateVirtualNode", "UpdateVirtualRouter", "UpdateVirtualService",
}

// Why mapmesh never returns some modeled errors, and where the others that
// no SDK call can provoke are produced.
const (
	neverForbiddenNoOwner = "never: mapmesh has no IAM policies, and the operation takes no meshOwner or ARN that could name " +
		"another account's resource (operations that do answer ForbiddenException for another account's mesh)"
	neverNotFoundNoParent = "never: the operation names no existing resource (a mesh has no parent, and listing meshes needs none)"
	neverLimitUpdate      = "never: no quota depends on this update (weighted targets per route, 10, is the model's list bound: BadRequestException)"
	neverInUseLeaf        = "never: nothing in App Mesh refers to this kind of resource, so deleting it never breaks a reference"
	unitThrottle          = "internal/appmesh TestStoreFaults: returned when a write loses the compare-and-swap race 64 times in a row " +
		"(many writers in one mesh); a fake store that always conflicts produces it"
	unitUnavailable = "internal/appmesh TestStoreFaults: returned when the store is closed (shutdown) or the request's context ends; " +
		"a closed store produces it"
	unitInternal = "internal/appmesh TestStoreFaults and internal/awsapi TestRESTGolden (rest_internal_error): any other " +
		"failure, shown as a 500 whose text the client never sees"
)

// meshErrorMatrix maps every modeled error of every 2019-01-25 operation to
// the tests that produce it ("TestAppMeshModeledErrors/<op>/<code>" is the
// case below), or after "never: " why mapmesh never returns it, or after
// "internal/appmesh " the unit test that does.
var meshErrorMatrix = func() map[string]map[string]string {
	m := map[string]map[string]string{}
	for _, op := range meshOps {
		row := map[string]string{}
		for _, code := range appmesh.ModeledErrors(op) {
			key := "TestAppMeshModeledErrors/" + op + "/" + code
			switch code {
			case "TooManyRequestsException":
				row[code] = unitThrottle
			case "ServiceUnavailableException":
				row[code] = unitUnavailable
			case "InternalServerErrorException":
				row[code] = unitInternal
			default:
				row[code] = key
			}
		}
		m[op] = row
	}
	for _, op := range []string{"CreateMesh", "UpdateMesh", "DeleteMesh", "ListMeshes"} {
		m[op]["ForbiddenException"] = neverForbiddenNoOwner
	}
	m["CreateMesh"]["NotFoundException"] = neverNotFoundNoParent
	m["ListMeshes"]["NotFoundException"] = neverNotFoundNoParent
	for _, op := range []string{"UpdateRoute", "UpdateVirtualRouter", "UpdateVirtualService", "UpdateVirtualGateway", "UpdateGatewayRoute"} {
		m[op]["LimitExceededException"] = neverLimitUpdate
	}
	m["DeleteRoute"]["ResourceInUseException"] = neverInUseLeaf
	m["DeleteGatewayRoute"]["ResourceInUseException"] = neverInUseLeaf
	m["CreateMesh"]["ConflictException"] += ", TestAppMeshIdempotency"
	m["CreateVirtualNode"]["LimitExceededException"] += ", TestAppMeshQuotas"
	m["ListVirtualNodes"]["BadRequestException"] += ", TestAppMeshPagination"
	m["DeleteVirtualService"]["ResourceInUseException"] += ", TestAppMeshGateway"
	m["DeleteVirtualRouter"]["ResourceInUseException"] += ", TestAppMeshVirtualService"
	for _, op := range []string{"CreateMesh", "CreateVirtualNode", "CreateVirtualRouter", "CreateRoute", "CreateVirtualService",
		"CreateVirtualGateway", "CreateGatewayRoute"} {
		m[op]["BadRequestException"] += ", TestAppMeshNames"
	}
	return m
}()

// meshFixture is a mesh with one resource of every kind: node vn, router
// vr with route r to vn, service vs.local provided by vn, gateway gw with
// gateway route gr to vs.local.
type meshFixture struct {
	c       *am.Client
	account string
}

func newMeshFixture(t *testing.T, h *harness) meshFixture {
	c, account := h.meshAccount()
	mkMesh(t, c, "m")
	mkNode(t, c, "m", "vn")
	mkRouter(t, c, "m", "vr")
	mkRoute(t, c, "m", "vr", "r", "vn")
	mkService(t, c, "m", "vs.local", nodeProvider("vn"))
	mkGateway(t, c, "m", "gw")
	mkGatewayRoute(t, c, "m", "gw", "gr", "vs.local")
	return meshFixture{c: c, account: account}
}

func (f meshFixture) arn(rest string) *string {
	return aws.String(meshARN(f.account, "m") + rest)
}

// A variant of a request: "bad" breaks a model constraint (a name of 256
// characters, a limit out of range), "missing" names a resource that does
// not exist, "other" names another account's mesh.
type variant string

// name returns real, or what the variant puts in its place.
func (v variant) name(real string) *string {
	switch v {
	case "bad":
		return aws.String(strings.Repeat("x", 256))
	case "missing":
		return aws.String("nope")
	}
	return aws.String(real)
}

func (v variant) owner() *string {
	switch v {
	case "other":
		return aws.String("999999999999")
	case "bad":
		return aws.String("1234") // AccountId is 12 characters
	}
	return nil
}

// meshOpCalls makes each operation once against a fixture, in a variant.
var meshOpCalls = map[string]func(f meshFixture, v variant) error{
	"CreateGatewayRoute": func(f meshFixture, v variant) error {
		_, err := f.c.CreateGatewayRoute(bg, &am.CreateGatewayRouteInput{MeshName: aws.String("m"), VirtualGatewayName: v.name("gw"),
			GatewayRouteName: aws.String("gr2"), MeshOwner: v.owner(), Spec: gatewayRouteSpec("/2", "vs.local")})
		return err
	},
	"CreateMesh": func(f meshFixture, v variant) error {
		_, err := f.c.CreateMesh(bg, &am.CreateMeshInput{MeshName: v.name("m2")})
		return err
	},
	"CreateRoute": func(f meshFixture, v variant) error {
		_, err := f.c.CreateRoute(bg, &am.CreateRouteInput{MeshName: aws.String("m"), VirtualRouterName: v.name("vr"), RouteName: aws.String("r2"),
			MeshOwner: v.owner(), Spec: httpRouteSpec("/2", map[string]int32{"vn": 1})})
		return err
	},
	"CreateVirtualGateway": func(f meshFixture, v variant) error {
		_, err := f.c.CreateVirtualGateway(bg, &am.CreateVirtualGatewayInput{MeshName: v.name("m"), VirtualGatewayName: aws.String("gw2"),
			MeshOwner: v.owner(), Spec: gatewaySpec(1)})
		return err
	},
	"CreateVirtualNode": func(f meshFixture, v variant) error {
		_, err := f.c.CreateVirtualNode(bg, &am.CreateVirtualNodeInput{MeshName: v.name("m"), VirtualNodeName: aws.String("vn2"),
			MeshOwner: v.owner(), Spec: nodeSpec(1)})
		return err
	},
	"CreateVirtualRouter": func(f meshFixture, v variant) error {
		_, err := f.c.CreateVirtualRouter(bg, &am.CreateVirtualRouterInput{MeshName: v.name("m"), VirtualRouterName: aws.String("vr2"),
			MeshOwner: v.owner(), Spec: routerSpec(1)})
		return err
	},
	"CreateVirtualService": func(f meshFixture, v variant) error {
		_, err := f.c.CreateVirtualService(bg, &am.CreateVirtualServiceInput{MeshName: v.name("m"), VirtualServiceName: aws.String("vs2.local"),
			MeshOwner: v.owner(), Spec: &amtypes.VirtualServiceSpec{}})
		return err
	},
	"DeleteGatewayRoute": func(f meshFixture, v variant) error {
		_, err := f.c.DeleteGatewayRoute(bg, &am.DeleteGatewayRouteInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw"),
			GatewayRouteName: v.name("gr"), MeshOwner: v.owner()})
		return err
	},
	"DeleteMesh": func(f meshFixture, v variant) error {
		_, err := f.c.DeleteMesh(bg, &am.DeleteMeshInput{MeshName: v.name("m")})
		return err
	},
	"DeleteRoute": func(f meshFixture, v variant) error {
		_, err := f.c.DeleteRoute(bg, &am.DeleteRouteInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr"), RouteName: v.name("r"), MeshOwner: v.owner()})
		return err
	},
	"DeleteVirtualGateway": func(f meshFixture, v variant) error {
		_, err := f.c.DeleteVirtualGateway(bg, &am.DeleteVirtualGatewayInput{MeshName: aws.String("m"), VirtualGatewayName: v.name("gw"), MeshOwner: v.owner()})
		return err
	},
	"DeleteVirtualNode": func(f meshFixture, v variant) error {
		_, err := f.c.DeleteVirtualNode(bg, &am.DeleteVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: v.name("vn"), MeshOwner: v.owner()})
		return err
	},
	"DeleteVirtualRouter": func(f meshFixture, v variant) error {
		_, err := f.c.DeleteVirtualRouter(bg, &am.DeleteVirtualRouterInput{MeshName: aws.String("m"), VirtualRouterName: v.name("vr"), MeshOwner: v.owner()})
		return err
	},
	"DeleteVirtualService": func(f meshFixture, v variant) error {
		_, err := f.c.DeleteVirtualService(bg, &am.DeleteVirtualServiceInput{MeshName: aws.String("m"), VirtualServiceName: v.name("vs.local"), MeshOwner: v.owner()})
		return err
	},
	"DescribeGatewayRoute": func(f meshFixture, v variant) error {
		_, err := f.c.DescribeGatewayRoute(bg, &am.DescribeGatewayRouteInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw"),
			GatewayRouteName: v.name("gr"), MeshOwner: v.owner()})
		return err
	},
	"DescribeMesh": func(f meshFixture, v variant) error {
		_, err := f.c.DescribeMesh(bg, &am.DescribeMeshInput{MeshName: v.name("m"), MeshOwner: v.owner()})
		return err
	},
	"DescribeRoute": func(f meshFixture, v variant) error {
		_, err := f.c.DescribeRoute(bg, &am.DescribeRouteInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr"), RouteName: v.name("r"), MeshOwner: v.owner()})
		return err
	},
	"DescribeVirtualGateway": func(f meshFixture, v variant) error {
		_, err := f.c.DescribeVirtualGateway(bg, &am.DescribeVirtualGatewayInput{MeshName: aws.String("m"), VirtualGatewayName: v.name("gw"), MeshOwner: v.owner()})
		return err
	},
	"DescribeVirtualNode": func(f meshFixture, v variant) error {
		_, err := f.c.DescribeVirtualNode(bg, &am.DescribeVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: v.name("vn"), MeshOwner: v.owner()})
		return err
	},
	"DescribeVirtualRouter": func(f meshFixture, v variant) error {
		_, err := f.c.DescribeVirtualRouter(bg, &am.DescribeVirtualRouterInput{MeshName: aws.String("m"), VirtualRouterName: v.name("vr"), MeshOwner: v.owner()})
		return err
	},
	"DescribeVirtualService": func(f meshFixture, v variant) error {
		_, err := f.c.DescribeVirtualService(bg, &am.DescribeVirtualServiceInput{MeshName: aws.String("m"), VirtualServiceName: v.name("vs.local"), MeshOwner: v.owner()})
		return err
	},
	"ListGatewayRoutes": func(f meshFixture, v variant) error {
		_, err := f.c.ListGatewayRoutes(bg, &am.ListGatewayRoutesInput{MeshName: aws.String("m"), VirtualGatewayName: v.name("gw"), MeshOwner: v.owner()})
		return err
	},
	"ListMeshes": func(f meshFixture, v variant) error {
		in := &am.ListMeshesInput{}
		if v == "bad" {
			in.Limit = aws.Int32(101)
		}
		_, err := f.c.ListMeshes(bg, in)
		return err
	},
	"ListRoutes": func(f meshFixture, v variant) error {
		_, err := f.c.ListRoutes(bg, &am.ListRoutesInput{MeshName: aws.String("m"), VirtualRouterName: v.name("vr"), MeshOwner: v.owner()})
		return err
	},
	"ListTagsForResource": func(f meshFixture, v variant) error {
		in := &am.ListTagsForResourceInput{ResourceArn: f.arnFor(v, "/virtualNode/vn")}
		if v == "bad" {
			in.Limit = aws.Int32(51)
		}
		_, err := f.c.ListTagsForResource(bg, in)
		return err
	},
	"ListVirtualGateways": func(f meshFixture, v variant) error {
		_, err := f.c.ListVirtualGateways(bg, &am.ListVirtualGatewaysInput{MeshName: v.name("m"), MeshOwner: v.owner()})
		return err
	},
	"ListVirtualNodes": func(f meshFixture, v variant) error {
		_, err := f.c.ListVirtualNodes(bg, &am.ListVirtualNodesInput{MeshName: v.name("m"), MeshOwner: v.owner()})
		return err
	},
	"ListVirtualRouters": func(f meshFixture, v variant) error {
		_, err := f.c.ListVirtualRouters(bg, &am.ListVirtualRoutersInput{MeshName: v.name("m"), MeshOwner: v.owner()})
		return err
	},
	"ListVirtualServices": func(f meshFixture, v variant) error {
		_, err := f.c.ListVirtualServices(bg, &am.ListVirtualServicesInput{MeshName: v.name("m"), MeshOwner: v.owner()})
		return err
	},
	"TagResource": func(f meshFixture, v variant) error {
		tags := []amtypes.TagRef{{Key: aws.String("k"), Value: aws.String("v")}}
		if v == "bad" {
			tags[0].Key = aws.String(strings.Repeat("k", 129))
		}
		_, err := f.c.TagResource(bg, &am.TagResourceInput{ResourceArn: f.arnFor(v, "/virtualRouter/vr/route/r"), Tags: tags})
		return err
	},
	"UntagResource": func(f meshFixture, v variant) error {
		keys := []string{"k"}
		if v == "bad" {
			keys = make([]string, 51)
			for i := range keys {
				keys[i] = fmt.Sprint(i)
			}
		}
		_, err := f.c.UntagResource(bg, &am.UntagResourceInput{ResourceArn: f.arnFor(v, "/virtualGateway/gw/gatewayRoute/gr"), TagKeys: keys})
		return err
	},
	"UpdateGatewayRoute": func(f meshFixture, v variant) error {
		_, err := f.c.UpdateGatewayRoute(bg, &am.UpdateGatewayRouteInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw"),
			GatewayRouteName: v.name("gr"), MeshOwner: v.owner(), Spec: gatewayRouteSpec("/u", "vs.local"), ClientToken: aws.String("t-" + string(v))})
		return err
	},
	"UpdateMesh": func(f meshFixture, v variant) error {
		_, err := f.c.UpdateMesh(bg, &am.UpdateMeshInput{MeshName: v.name("m"), ClientToken: aws.String("t-" + string(v))})
		return err
	},
	"UpdateRoute": func(f meshFixture, v variant) error {
		_, err := f.c.UpdateRoute(bg, &am.UpdateRouteInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr"), RouteName: v.name("r"),
			MeshOwner: v.owner(), Spec: httpRouteSpec("/u", map[string]int32{"vn": 1}), ClientToken: aws.String("t-" + string(v))})
		return err
	},
	"UpdateVirtualGateway": func(f meshFixture, v variant) error {
		_, err := f.c.UpdateVirtualGateway(bg, &am.UpdateVirtualGatewayInput{MeshName: aws.String("m"), VirtualGatewayName: v.name("gw"),
			MeshOwner: v.owner(), Spec: gatewaySpec(2), ClientToken: aws.String("t-" + string(v))})
		return err
	},
	"UpdateVirtualNode": func(f meshFixture, v variant) error {
		_, err := f.c.UpdateVirtualNode(bg, &am.UpdateVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: v.name("vn"),
			MeshOwner: v.owner(), Spec: nodeSpec(2), ClientToken: aws.String("t-" + string(v))})
		return err
	},
	"UpdateVirtualRouter": func(f meshFixture, v variant) error {
		_, err := f.c.UpdateVirtualRouter(bg, &am.UpdateVirtualRouterInput{MeshName: aws.String("m"), VirtualRouterName: v.name("vr"),
			MeshOwner: v.owner(), Spec: routerSpec(2), ClientToken: aws.String("t-" + string(v))})
		return err
	},
	"UpdateVirtualService": func(f meshFixture, v variant) error {
		_, err := f.c.UpdateVirtualService(bg, &am.UpdateVirtualServiceInput{MeshName: aws.String("m"), VirtualServiceName: v.name("vs.local"),
			MeshOwner: v.owner(), Spec: &amtypes.VirtualServiceSpec{}, ClientToken: aws.String("t-" + string(v))})
		return err
	},
}

// arnFor returns the fixture's ARN of rest, or in the variant an ARN that
// breaks the model (a resource that does not exist, another account's).
func (f meshFixture) arnFor(v variant, rest string) *string {
	switch v {
	case "missing":
		return f.arn("/virtualNode/nope")
	case "other":
		return aws.String("arn:aws:appmesh:" + defaultRegion + ":999999999999:mesh/m" + rest)
	}
	return f.arn(rest)
}

// meshSpecialCases produce the errors that need more than a variant.
var meshSpecialCases = map[string]func(t *testing.T, f meshFixture) error{
	"CreateGatewayRoute/ConflictException": func(t *testing.T, f meshFixture) error {
		_, err := f.c.CreateGatewayRoute(bg, &am.CreateGatewayRouteInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw"),
			GatewayRouteName: aws.String("gr"), Spec: gatewayRouteSpec("/", "vs.local")})
		return err
	},
	"CreateMesh/ConflictException": func(t *testing.T, f meshFixture) error {
		_, err := f.c.CreateMesh(bg, &am.CreateMeshInput{MeshName: aws.String("m")})
		return err
	},
	"CreateRoute/ConflictException": func(t *testing.T, f meshFixture) error {
		_, err := f.c.CreateRoute(bg, &am.CreateRouteInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr"), RouteName: aws.String("r"),
			Spec: httpRouteSpec("/", map[string]int32{"vn": 1})})
		return err
	},
	"CreateVirtualGateway/ConflictException": func(t *testing.T, f meshFixture) error {
		_, err := f.c.CreateVirtualGateway(bg, &am.CreateVirtualGatewayInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw"), Spec: gatewaySpec(1)})
		return err
	},
	"CreateVirtualNode/ConflictException": func(t *testing.T, f meshFixture) error {
		_, err := f.c.CreateVirtualNode(bg, &am.CreateVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("vn"), Spec: nodeSpec(1)})
		return err
	},
	"CreateVirtualRouter/ConflictException": func(t *testing.T, f meshFixture) error {
		_, err := f.c.CreateVirtualRouter(bg, &am.CreateVirtualRouterInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr"), Spec: routerSpec(1)})
		return err
	},
	"CreateVirtualService/ConflictException": func(t *testing.T, f meshFixture) error {
		_, err := f.c.CreateVirtualService(bg, &am.CreateVirtualServiceInput{MeshName: aws.String("m"), VirtualServiceName: aws.String("vs.local"), Spec: &amtypes.VirtualServiceSpec{}})
		return err
	},
	// The quotas of smallMeshQuotas: 2 meshes, 2 nodes, routers and
	// services per mesh, 1 gateway per mesh, 1 route per router, 1
	// gateway route per gateway, 2 backends per node, 3 tags.
	"CreateMesh/LimitExceededException": func(t *testing.T, f meshFixture) error {
		mkMesh(t, f.c, "m2")
		_, err := f.c.CreateMesh(bg, &am.CreateMeshInput{MeshName: aws.String("m3")})
		return err
	},
	"CreateVirtualNode/LimitExceededException": func(t *testing.T, f meshFixture) error {
		mkNode(t, f.c, "m", "vn2")
		_, err := f.c.CreateVirtualNode(bg, &am.CreateVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("vn3"), Spec: nodeSpec(1)})
		return err
	},
	"CreateVirtualRouter/LimitExceededException": func(t *testing.T, f meshFixture) error {
		mkRouter(t, f.c, "m", "vr2")
		_, err := f.c.CreateVirtualRouter(bg, &am.CreateVirtualRouterInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr3"), Spec: routerSpec(1)})
		return err
	},
	"CreateVirtualService/LimitExceededException": func(t *testing.T, f meshFixture) error {
		mkService(t, f.c, "m", "vs2.local", nil)
		_, err := f.c.CreateVirtualService(bg, &am.CreateVirtualServiceInput{MeshName: aws.String("m"), VirtualServiceName: aws.String("vs3.local"), Spec: &amtypes.VirtualServiceSpec{}})
		return err
	},
	"CreateVirtualGateway/LimitExceededException": func(t *testing.T, f meshFixture) error {
		_, err := f.c.CreateVirtualGateway(bg, &am.CreateVirtualGatewayInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw2"), Spec: gatewaySpec(1)})
		return err
	},
	"CreateRoute/LimitExceededException": func(t *testing.T, f meshFixture) error {
		_, err := f.c.CreateRoute(bg, &am.CreateRouteInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr"), RouteName: aws.String("r2"),
			Spec: httpRouteSpec("/2", map[string]int32{"vn": 1})})
		return err
	},
	"CreateGatewayRoute/LimitExceededException": func(t *testing.T, f meshFixture) error {
		_, err := f.c.CreateGatewayRoute(bg, &am.CreateGatewayRouteInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw"),
			GatewayRouteName: aws.String("gr2"), Spec: gatewayRouteSpec("/2", "vs.local")})
		return err
	},
	"UpdateVirtualNode/LimitExceededException": func(t *testing.T, f meshFixture) error {
		_, err := f.c.UpdateVirtualNode(bg, &am.UpdateVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("vn"), Spec: nodeSpec(1, "a", "b", "c")})
		return err
	},
	"TagResource/TooManyTagsException": func(t *testing.T, f meshFixture) error {
		var tags []amtypes.TagRef
		for i := range 4 {
			tags = append(tags, amtypes.TagRef{Key: aws.String(fmt.Sprint(i)), Value: aws.String("v")})
		}
		_, err := f.c.TagResource(bg, &am.TagResourceInput{ResourceArn: f.arn(""), Tags: tags})
		return err
	},
	"DeleteMesh/ResourceInUseException": func(t *testing.T, f meshFixture) error {
		_, err := f.c.DeleteMesh(bg, &am.DeleteMeshInput{MeshName: aws.String("m")})
		return err
	},
	"DeleteVirtualNode/ResourceInUseException": func(t *testing.T, f meshFixture) error {
		_, err := f.c.DeleteVirtualNode(bg, &am.DeleteVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("vn")})
		return err
	},
	"DeleteVirtualRouter/ResourceInUseException": func(t *testing.T, f meshFixture) error {
		_, err := f.c.DeleteVirtualRouter(bg, &am.DeleteVirtualRouterInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr")})
		return err
	},
	"DeleteVirtualService/ResourceInUseException": func(t *testing.T, f meshFixture) error {
		_, err := f.c.DeleteVirtualService(bg, &am.DeleteVirtualServiceInput{MeshName: aws.String("m"), VirtualServiceName: aws.String("vs.local")})
		return err
	},
	"DeleteVirtualGateway/ResourceInUseException": func(t *testing.T, f meshFixture) error {
		_, err := f.c.DeleteVirtualGateway(bg, &am.DeleteVirtualGatewayInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw")})
		return err
	},
}

// TestAppMeshModeledErrors produces every modeled error that an SDK call
// can provoke, for every operation: the error decodes into the SDK's typed
// error, with the model's HTTP status and a request ID. Updates reach
// ConflictException by reusing a clientToken with a different request.
func TestAppMeshModeledErrors(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{AppMeshQuotas: smallMeshQuotas})
	for _, op := range meshOps {
		for _, code := range appmesh.ModeledErrors(op) {
			if !strings.HasPrefix(meshErrorMatrix[op][code], "TestAppMeshModeledErrors/") {
				continue
			}
			t.Run(op+"/"+code, func(t *testing.T) {
				t.Parallel()
				f := newMeshFixture(t, h)
				var err error
				switch {
				case meshSpecialCases[op+"/"+code] != nil:
					err = meshSpecialCases[op+"/"+code](t, f)
				case code == "BadRequestException":
					err = meshOpCalls[op](f, "bad")
				case code == "NotFoundException":
					err = meshOpCalls[op](f, "missing")
				case code == "ForbiddenException":
					err = meshOpCalls[op](f, "other")
				case code == "ConflictException" && strings.HasPrefix(op, "Update"):
					if err := meshOpCalls[op](f, "ok"); err != nil {
						t.Fatalf("%s = %v", op, err)
					}
					err = reuseToken(f, op)
				default:
					t.Fatalf("no way to produce %s/%s", op, code)
				}
				meshError(t, err, code)
			})
		}
	}
}

// reuseToken sends op with the clientToken of its "ok" variant but another
// request.
func reuseToken(f meshFixture, op string) error {
	tok := aws.String("t-ok")
	switch op {
	case "UpdateGatewayRoute":
		_, err := f.c.UpdateGatewayRoute(bg, &am.UpdateGatewayRouteInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw"),
			GatewayRouteName: aws.String("gr"), Spec: gatewayRouteSpec("/other", "vs.local"), ClientToken: tok})
		return err
	case "UpdateMesh":
		_, err := f.c.UpdateMesh(bg, &am.UpdateMeshInput{MeshName: aws.String("m"), ClientToken: tok,
			Spec: &amtypes.MeshSpec{EgressFilter: &amtypes.EgressFilter{Type: amtypes.EgressFilterTypeAllowAll}}})
		return err
	case "UpdateRoute":
		_, err := f.c.UpdateRoute(bg, &am.UpdateRouteInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr"), RouteName: aws.String("r"),
			Spec: httpRouteSpec("/other", map[string]int32{"vn": 1}), ClientToken: tok})
		return err
	case "UpdateVirtualGateway":
		_, err := f.c.UpdateVirtualGateway(bg, &am.UpdateVirtualGatewayInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw"), Spec: gatewaySpec(3), ClientToken: tok})
		return err
	case "UpdateVirtualNode":
		_, err := f.c.UpdateVirtualNode(bg, &am.UpdateVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("vn"), Spec: nodeSpec(3), ClientToken: tok})
		return err
	case "UpdateVirtualRouter":
		_, err := f.c.UpdateVirtualRouter(bg, &am.UpdateVirtualRouterInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr"), Spec: routerSpec(3), ClientToken: tok})
		return err
	case "UpdateVirtualService":
		_, err := f.c.UpdateVirtualService(bg, &am.UpdateVirtualServiceInput{MeshName: aws.String("m"), VirtualServiceName: aws.String("vs.local"),
			Spec: nodeProvider("vn"), ClientToken: tok})
		return err
	}
	return fmt.Errorf("reuseToken: no case for %s", op)
}

// TestAppMeshNames: a name with '/' would make ARNs ambiguous (a mesh
// "m/virtualNode/vn" would have the ARN of node vn of mesh m), so every
// create refuses it with BadRequestException (400), in both API versions,
// and nothing is created; names of letters, digits, hyphens and
// underscores, and virtual service names with dots, are accepted.
func TestAppMeshNames(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	f := newMeshFixture(t, h)
	c, m := f.c, aws.String("m")
	slash := aws.String("x/y")
	creates := []struct {
		kind string
		call func() error
	}{
		{"mesh", func() error {
			_, err := c.CreateMesh(bg, &am.CreateMeshInput{MeshName: aws.String("m/virtualNode/vn")})
			return err
		}},
		{"virtual node", func() error {
			_, err := c.CreateVirtualNode(bg, &am.CreateVirtualNodeInput{MeshName: m, VirtualNodeName: slash, Spec: nodeSpec(8080)})
			return err
		}},
		{"virtual router", func() error {
			_, err := c.CreateVirtualRouter(bg, &am.CreateVirtualRouterInput{MeshName: m, VirtualRouterName: slash, Spec: routerSpec(8080)})
			return err
		}},
		{"route", func() error {
			_, err := c.CreateRoute(bg, &am.CreateRouteInput{MeshName: m, VirtualRouterName: aws.String("vr"), RouteName: slash,
				Spec: httpRouteSpec("/x", map[string]int32{"vn": 1})})
			return err
		}},
		{"virtual service", func() error {
			_, err := c.CreateVirtualService(bg, &am.CreateVirtualServiceInput{MeshName: m, VirtualServiceName: aws.String("web/shop.local"),
				Spec: nodeProvider("vn")})
			return err
		}},
		{"virtual gateway", func() error {
			_, err := c.CreateVirtualGateway(bg, &am.CreateVirtualGatewayInput{MeshName: m, VirtualGatewayName: slash, Spec: gatewaySpec(8081)})
			return err
		}},
		{"gateway route", func() error {
			_, err := c.CreateGatewayRoute(bg, &am.CreateGatewayRouteInput{MeshName: m, VirtualGatewayName: aws.String("gw"), GatewayRouteName: slash,
				Spec: gatewayRouteSpec("/x", "vs.local")})
			return err
		}},
	}
	for _, tc := range creates {
		t.Run("2019 "+tc.kind, func(t *testing.T) {
			meshError(t, tc.call(), "BadRequestException")
		})
	}

	spec2018 := `{"backends":[],"listeners":[{"portMapping":{"port":8080,"protocol":"http"}}],"serviceDiscovery":{"dns":{"serviceName":"x.m.local"}}}`
	route2018 := `{"httpRoute":{"match":{"prefix":"/"},"action":{"weightedTargets":[{"virtualNode":"vn","weight":1}]}}}`
	for _, tc := range []struct{ kind, path, body string }{
		{"mesh", "/meshes", `{"meshName":"m/virtualNode/vn"}`},
		{"virtual node", "/meshes/m/virtualNodes", `{"virtualNodeName":"x/y","spec":` + spec2018 + `}`},
		{"virtual router", "/meshes/m/virtualRouters", `{"virtualRouterName":"x/y","spec":{"serviceNames":["x.local"]}}`},
		{"virtual service of a router", "/meshes/m/virtualRouters", `{"virtualRouterName":"vr18","spec":{"serviceNames":["web/shop.local"]}}`},
		{"virtual service of a router update", "/meshes/m/virtualRouters/vr", `{"spec":{"serviceNames":["web/shop.local"]}}`},
		{"route", "/meshes/m/virtualRouter/vr/routes", `{"routeName":"x/y","spec":` + route2018 + `}`},
	} {
		t.Run("2018 "+tc.kind, func(t *testing.T) {
			r := h.rest(t, f.account, "PUT", tc.path, tc.body)
			if r.status != 400 || r.header.Get("X-Amzn-Errortype") != "BadRequestException" || !strings.Contains(r.message(t), "is not valid") {
				t.Errorf("2018 PUT %s %s = %d %s; want 400 BadRequestException", tc.path, tc.body, r.status, r.body)
			}
		})
	}

	// Nothing was created: the mesh still holds only the fixture.
	var got []string
	meshes, err := c.ListMeshes(bg, &am.ListMeshesInput{})
	for _, x := range meshes.Meshes {
		got = append(got, "mesh "+aws.ToString(x.MeshName))
	}
	nodes, err2 := c.ListVirtualNodes(bg, &am.ListVirtualNodesInput{MeshName: m})
	for _, x := range nodes.VirtualNodes {
		got = append(got, "node "+aws.ToString(x.VirtualNodeName))
	}
	routers, err3 := c.ListVirtualRouters(bg, &am.ListVirtualRoutersInput{MeshName: m})
	for _, x := range routers.VirtualRouters {
		got = append(got, "router "+aws.ToString(x.VirtualRouterName))
	}
	svcs, err4 := c.ListVirtualServices(bg, &am.ListVirtualServicesInput{MeshName: m})
	for _, x := range svcs.VirtualServices {
		got = append(got, "service "+aws.ToString(x.VirtualServiceName))
	}
	if err := errors.Join(err, err2, err3, err4); err != nil {
		t.Fatal(err)
	}
	if want := []string{"mesh m", "node vn", "router vr", "service vs.local"}; !slices.Equal(got, want) {
		t.Errorf("after the refused creates: %q; want %q", got, want)
	}

	// Accepted: underscores and hyphens (the App Mesh controller's
	// name_namespace), and DNS names for virtual services.
	mkNode(t, c, "m", "colorteller-white_default")
	mkService(t, c, "m", "web.shop-1.svc.cluster.local", nodeProvider("colorteller-white_default"))
	h.rest2018(t, f.account, "PUT", "/meshes/m/virtualRouters", `{"virtualRouterName":"vr_2018","spec":{"serviceNames":["api.shop.local"]}}`)
}

// TestAppMeshErrorMatrixComplete fails when meshErrorMatrix misses an
// (operation, modeled error) pair of the model or names a test that does
// not exist.
func TestAppMeshErrorMatrixComplete(t *testing.T) {
	t.Parallel()
	if len(meshOps) != 38 || len(meshOpCalls) != 38 {
		t.Errorf("meshOps lists %d and meshOpCalls %d; the API has 38", len(meshOps), len(meshOpCalls))
	}
	tests := testFunctions(t)
	n, never := 0, 0
	for _, op := range meshOps {
		modeled := appmesh.ModeledErrors(op)
		if len(modeled) == 0 {
			t.Errorf("appmesh.ModeledErrors(%q) is empty", op)
		}
		for code, entry := range meshErrorMatrix[op] {
			n++
			if !slices.Contains(modeled, code) {
				t.Errorf("meshErrorMatrix[%s] has %s, which the model does not declare", op, code)
			}
			switch {
			case strings.HasPrefix(entry, "never: "):
				never++
			case strings.HasPrefix(entry, "internal/appmesh "):
			default:
				for _, ref := range strings.Split(entry, ", ") {
					top, _, _ := strings.Cut(ref, "/")
					if !tests[top] {
						t.Errorf("meshErrorMatrix[%s][%s] names %s, which is not a test of this package", op, code, top)
					}
				}
			}
		}
		for _, code := range modeled {
			if _, ok := meshErrorMatrix[op][code]; !ok {
				t.Errorf("meshErrorMatrix[%s] misses %s", op, code)
			}
		}
	}
	for key := range meshSpecialCases {
		op, code, _ := strings.Cut(key, "/")
		if !strings.HasPrefix(meshErrorMatrix[op][code], "TestAppMeshModeledErrors/") {
			t.Errorf("meshSpecialCases has %s, which the matrix does not assign to TestAppMeshModeledErrors", key)
		}
	}
	t.Logf("%d (operation, error) pairs: %d never returned by mapmesh", n, never)
}
