package conformance

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	am "github.com/aws/aws-sdk-go-v2/service/appmesh"
	amtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"

	"github.com/mapmesh/mapmesh/internal/server"
)

var uidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// checkMeta checks the metadata AWS gives every resource: the ARN, a UUID
// uid, the version, both timestamps near now, and the owners.
func checkMeta(t *testing.T, what string, m *amtypes.ResourceMetadata, arn, account string, version int64, before time.Time) {
	t.Helper()
	if m == nil {
		t.Fatalf("%s: metadata = nil", what)
	}
	if got := aws.ToString(m.Arn); got != arn {
		t.Errorf("%s: arn = %q; want %q", what, got, arn)
	}
	if !uidRE.MatchString(aws.ToString(m.Uid)) {
		t.Errorf("%s: uid = %q; want a UUID", what, aws.ToString(m.Uid))
	}
	if aws.ToInt64(m.Version) != version {
		t.Errorf("%s: version = %d; want %d", what, aws.ToInt64(m.Version), version)
	}
	checkNear(t, what+": createdAt", m.CreatedAt, before, time.Now())
	checkNear(t, what+": lastUpdatedAt", m.LastUpdatedAt, before, time.Now())
	if m.LastUpdatedAt != nil && m.CreatedAt != nil && m.LastUpdatedAt.Before(*m.CreatedAt) {
		t.Errorf("%s: lastUpdatedAt %v before createdAt %v", what, m.LastUpdatedAt, m.CreatedAt)
	}
	if aws.ToString(m.MeshOwner) != account || aws.ToString(m.ResourceOwner) != account {
		t.Errorf("%s: meshOwner, resourceOwner = %q, %q; want %q", what, aws.ToString(m.MeshOwner), aws.ToString(m.ResourceOwner), account)
	}
}

func meshARN(account, mesh string) string {
	return "arn:aws:appmesh:" + defaultRegion + ":" + account + ":mesh/" + mesh
}

// TestAppMeshMesh: CreateMesh, DescribeMesh, UpdateMesh, ListMeshes,
// DeleteMesh, with metadata, versions, status and a new uid on re-create.
func TestAppMeshMesh(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c, account := h.meshAccount()
	before := time.Now()
	spec := &amtypes.MeshSpec{EgressFilter: &amtypes.EgressFilter{Type: amtypes.EgressFilterTypeAllowAll},
		ServiceDiscovery: &amtypes.MeshServiceDiscovery{IpPreference: amtypes.IpPreferenceIPv4Only}}
	out, err := c.CreateMesh(bg, &am.CreateMeshInput{MeshName: aws.String("m"), Spec: spec,
		Tags: []amtypes.TagRef{{Key: aws.String("team"), Value: aws.String("a")}}})
	if err != nil {
		t.Fatalf("CreateMesh = %v", err)
	}
	checkMeta(t, "CreateMesh", out.Mesh.Metadata, meshARN(account, "m"), account, 1, before)
	if out.Mesh.Status.Status != amtypes.MeshStatusCodeActive || aws.ToString(out.Mesh.MeshName) != "m" {
		t.Errorf("CreateMesh = %s %s; want m ACTIVE", aws.ToString(out.Mesh.MeshName), out.Mesh.Status.Status)
	}
	if d := diff(spec, out.Mesh.Spec); d != "" {
		t.Errorf("CreateMesh spec (-want +got):\n%s", d)
	}
	uid := aws.ToString(out.Mesh.Metadata.Uid)

	desc, err := c.DescribeMesh(bg, &am.DescribeMeshInput{MeshName: aws.String("m"), MeshOwner: aws.String(account)})
	if err != nil {
		t.Fatalf("DescribeMesh = %v", err)
	}
	if d := diff(out.Mesh, desc.Mesh); d != "" {
		t.Errorf("DescribeMesh differs from CreateMesh (-create +describe):\n%s", d)
	}

	upd, err := c.UpdateMesh(bg, &am.UpdateMeshInput{MeshName: aws.String("m"), Spec: &amtypes.MeshSpec{EgressFilter: &amtypes.EgressFilter{Type: amtypes.EgressFilterTypeDropAll}}})
	if err != nil {
		t.Fatalf("UpdateMesh = %v", err)
	}
	checkMeta(t, "UpdateMesh", upd.Mesh.Metadata, meshARN(account, "m"), account, 2, before)
	if upd.Mesh.Spec.EgressFilter.Type != amtypes.EgressFilterTypeDropAll || aws.ToString(upd.Mesh.Metadata.Uid) != uid {
		t.Errorf("UpdateMesh = %+v uid %s; want DROP_ALL and the same uid", upd.Mesh.Spec.EgressFilter, aws.ToString(upd.Mesh.Metadata.Uid))
	}
	if !upd.Mesh.Metadata.CreatedAt.Equal(*out.Mesh.Metadata.CreatedAt) {
		t.Errorf("UpdateMesh changed createdAt")
	}

	mkMesh(t, c, "a-first")
	list, err := c.ListMeshes(bg, &am.ListMeshesInput{})
	if err != nil {
		t.Fatalf("ListMeshes = %v", err)
	}
	if len(list.Meshes) != 2 || aws.ToString(list.Meshes[0].MeshName) != "a-first" || aws.ToString(list.Meshes[1].MeshName) != "m" || list.NextToken != nil {
		t.Fatalf("ListMeshes = %+v; want a-first, m", list.Meshes)
	}
	ref := list.Meshes[1]
	if aws.ToString(ref.Arn) != meshARN(account, "m") || aws.ToInt64(ref.Version) != 2 || aws.ToString(ref.MeshOwner) != account ||
		aws.ToString(ref.ResourceOwner) != account || ref.CreatedAt == nil || ref.LastUpdatedAt == nil {
		t.Errorf("ListMeshes[1] = %+v", ref)
	}

	del, err := c.DeleteMesh(bg, &am.DeleteMeshInput{MeshName: aws.String("m")})
	if err != nil {
		t.Fatalf("DeleteMesh = %v", err)
	}
	if del.Mesh.Status.Status != amtypes.MeshStatusCodeDeleted || aws.ToString(del.Mesh.Metadata.Uid) != uid {
		t.Errorf("DeleteMesh status = %s uid %s; want DELETED %s", del.Mesh.Status.Status, aws.ToString(del.Mesh.Metadata.Uid), uid)
	}
	_, err = c.DescribeMesh(bg, &am.DescribeMeshInput{MeshName: aws.String("m")})
	meshError(t, err, "NotFoundException")

	again := mkMesh(t, c, "m")
	if aws.ToString(again.Metadata.Uid) == uid || aws.ToInt64(again.Metadata.Version) != 1 {
		t.Errorf("re-created mesh: uid %s version %d; want a new uid and version 1", aws.ToString(again.Metadata.Uid), aws.ToInt64(again.Metadata.Version))
	}
	if again.Spec == nil || again.Spec.EgressFilter != nil {
		t.Errorf("mesh created without spec: spec = %+v; want {}", again.Spec)
	}
}

// TestAppMeshVirtualNode: the five virtual node operations.
func TestAppMeshVirtualNode(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c, account := h.meshAccount()
	mkMesh(t, c, "m")
	before := time.Now()
	spec := nodeSpec(9080, "b.local", "a.local")
	spec.Listeners[0].HealthCheck = &amtypes.HealthCheckPolicy{HealthyThreshold: aws.Int32(2), UnhealthyThreshold: aws.Int32(3),
		IntervalMillis: aws.Int64(5000), TimeoutMillis: aws.Int64(2000), Protocol: amtypes.PortProtocolHttp, Path: aws.String("/ping")}
	spec.Listeners[0].Timeout = &amtypes.ListenerTimeoutMemberHttp{Value: amtypes.HttpTimeout{PerRequest: &amtypes.Duration{Unit: amtypes.DurationUnitS, Value: aws.Int64(15)}}}
	spec.Logging = &amtypes.Logging{AccessLog: &amtypes.AccessLogMemberFile{Value: amtypes.FileAccessLog{Path: aws.String("/dev/stdout")}}}
	out, err := c.CreateVirtualNode(bg, &am.CreateVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("vn"), Spec: spec})
	if err != nil {
		t.Fatalf("CreateVirtualNode = %v", err)
	}
	arn := meshARN(account, "m") + "/virtualNode/vn"
	checkMeta(t, "CreateVirtualNode", out.VirtualNode.Metadata, arn, account, 1, before)
	if d := diff(spec, out.VirtualNode.Spec); d != "" {
		t.Errorf("CreateVirtualNode spec (-want +got):\n%s", d)
	}
	desc, err := c.DescribeVirtualNode(bg, &am.DescribeVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("vn")})
	if err != nil {
		t.Fatalf("DescribeVirtualNode = %v", err)
	}
	if d := diff(out.VirtualNode, desc.VirtualNode); d != "" {
		t.Errorf("DescribeVirtualNode (-create +describe):\n%s", d)
	}
	cm := &amtypes.VirtualNodeSpec{ServiceDiscovery: &amtypes.ServiceDiscoveryMemberAwsCloudMap{Value: amtypes.AwsCloudMapServiceDiscovery{
		NamespaceName: aws.String("ns.local"), ServiceName: aws.String("svc"),
		Attributes: []amtypes.AwsCloudMapInstanceAttribute{{Key: aws.String("stage"), Value: aws.String("prod")}}}}}
	upd, err := c.UpdateVirtualNode(bg, &am.UpdateVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("vn"), Spec: cm})
	if err != nil {
		t.Fatalf("UpdateVirtualNode = %v", err)
	}
	checkMeta(t, "UpdateVirtualNode", upd.VirtualNode.Metadata, arn, account, 2, before)
	if d := diff(cm, upd.VirtualNode.Spec); d != "" {
		t.Errorf("UpdateVirtualNode spec (-want +got):\n%s", d)
	}
	mkNode(t, c, "m", "other")
	list, err := c.ListVirtualNodes(bg, &am.ListVirtualNodesInput{MeshName: aws.String("m")})
	if err != nil {
		t.Fatalf("ListVirtualNodes = %v", err)
	}
	if len(list.VirtualNodes) != 2 || aws.ToString(list.VirtualNodes[1].VirtualNodeName) != "vn" || aws.ToString(list.VirtualNodes[1].Arn) != arn ||
		aws.ToInt64(list.VirtualNodes[1].Version) != 2 || aws.ToString(list.VirtualNodes[1].MeshName) != "m" {
		t.Errorf("ListVirtualNodes = %+v", list.VirtualNodes)
	}
	del, err := c.DeleteVirtualNode(bg, &am.DeleteVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("vn")})
	if err != nil {
		t.Fatalf("DeleteVirtualNode = %v", err)
	}
	if del.VirtualNode.Status.Status != amtypes.VirtualNodeStatusCodeDeleted || aws.ToInt64(del.VirtualNode.Metadata.Version) != 2 {
		t.Errorf("DeleteVirtualNode = %s v%d; want DELETED v2", del.VirtualNode.Status.Status, aws.ToInt64(del.VirtualNode.Metadata.Version))
	}
	again := mkNode(t, c, "m", "vn")
	if aws.ToString(again.Metadata.Uid) == aws.ToString(out.VirtualNode.Metadata.Uid) {
		t.Error("a re-created virtual node kept the old uid")
	}
}

// TestAppMeshRouterAndRoutes: the virtual router and route operations,
// with every kind of route.
func TestAppMeshRouterAndRoutes(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c, account := h.meshAccount()
	mkMesh(t, c, "m")
	mkNode(t, c, "m", "v1")
	mkNode(t, c, "m", "v2")
	before := time.Now()
	vr, err := c.CreateVirtualRouter(bg, &am.CreateVirtualRouterInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr"), Spec: routerSpec(8080)})
	if err != nil {
		t.Fatalf("CreateVirtualRouter = %v", err)
	}
	vrARN := meshARN(account, "m") + "/virtualRouter/vr"
	checkMeta(t, "CreateVirtualRouter", vr.VirtualRouter.Metadata, vrARN, account, 1, before)
	if _, err := c.DescribeVirtualRouter(bg, &am.DescribeVirtualRouterInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr")}); err != nil {
		t.Fatalf("DescribeVirtualRouter = %v", err)
	}
	two := &amtypes.VirtualRouterSpec{Listeners: append(routerSpec(8080).Listeners, amtypes.VirtualRouterListener{PortMapping: &amtypes.PortMapping{Port: aws.Int32(9090), Protocol: amtypes.PortProtocolGrpc}})}
	vru, err := c.UpdateVirtualRouter(bg, &am.UpdateVirtualRouterInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr"), Spec: two})
	if err != nil {
		t.Fatalf("UpdateVirtualRouter = %v", err)
	}
	if d := diff(two, vru.VirtualRouter.Spec); d != "" || aws.ToInt64(vru.VirtualRouter.Metadata.Version) != 2 {
		t.Errorf("UpdateVirtualRouter v%d (-want +got):\n%s", aws.ToInt64(vru.VirtualRouter.Metadata.Version), d)
	}
	if l, err := c.ListVirtualRouters(bg, &am.ListVirtualRoutersInput{MeshName: aws.String("m")}); err != nil || len(l.VirtualRouters) != 1 || aws.ToString(l.VirtualRouters[0].Arn) != vrARN {
		t.Fatalf("ListVirtualRouters = %+v, %v", l, err)
	}

	specs := map[string]*amtypes.RouteSpec{
		"http": {Priority: aws.Int32(10), HttpRoute: &amtypes.HttpRoute{
			Match: &amtypes.HttpRouteMatch{Prefix: aws.String("/api"), Method: amtypes.HttpMethodGet,
				Headers: []amtypes.HttpRouteHeader{{Name: aws.String("x-canary"), Match: &amtypes.HeaderMatchMethodMemberExact{Value: "1"}}}},
			Action:      &amtypes.HttpRouteAction{WeightedTargets: []amtypes.WeightedTarget{{VirtualNode: aws.String("v1"), Weight: 80}, {VirtualNode: aws.String("v2"), Weight: 20}}},
			RetryPolicy: &amtypes.HttpRetryPolicy{MaxRetries: aws.Int64(2), PerRetryTimeout: &amtypes.Duration{Unit: amtypes.DurationUnitMs, Value: aws.Int64(500)}, HttpRetryEvents: []string{"server-error"}},
			Timeout:     &amtypes.HttpTimeout{PerRequest: &amtypes.Duration{Unit: amtypes.DurationUnitS, Value: aws.Int64(5)}},
		}},
		"http2": {Http2Route: &amtypes.HttpRoute{Match: &amtypes.HttpRouteMatch{Path: &amtypes.HttpPathMatch{Exact: aws.String("/x")}, Scheme: amtypes.HttpSchemeHttps},
			Action: &amtypes.HttpRouteAction{WeightedTargets: []amtypes.WeightedTarget{{VirtualNode: aws.String("v1"), Weight: 1}}}}},
		"grpc": {GrpcRoute: &amtypes.GrpcRoute{Match: &amtypes.GrpcRouteMatch{ServiceName: aws.String("pkg.Svc"), MethodName: aws.String("Get"), Port: aws.Int32(9090)},
			Action:      &amtypes.GrpcRouteAction{WeightedTargets: []amtypes.WeightedTarget{{VirtualNode: aws.String("v2"), Weight: 100, Port: aws.Int32(8080)}}},
			RetryPolicy: &amtypes.GrpcRetryPolicy{MaxRetries: aws.Int64(1), PerRetryTimeout: &amtypes.Duration{Unit: amtypes.DurationUnitS, Value: aws.Int64(1)}, GrpcRetryEvents: []amtypes.GrpcRetryPolicyEvent{amtypes.GrpcRetryPolicyEventUnavailable}}}},
		"tcp": {TcpRoute: &amtypes.TcpRoute{Action: &amtypes.TcpRouteAction{WeightedTargets: []amtypes.WeightedTarget{{VirtualNode: aws.String("v1"), Weight: 50}}},
			Timeout: &amtypes.TcpTimeout{Idle: &amtypes.Duration{Unit: amtypes.DurationUnitS, Value: aws.Int64(0)}}}},
	}
	for _, name := range []string{"grpc", "http", "http2", "tcp"} {
		out, err := c.CreateRoute(bg, &am.CreateRouteInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr"), RouteName: aws.String(name), Spec: specs[name]})
		if err != nil {
			t.Fatalf("CreateRoute(%s) = %v", name, err)
		}
		checkMeta(t, "CreateRoute "+name, out.Route.Metadata, vrARN+"/route/"+name, account, 1, before)
		if d := diff(specs[name], out.Route.Spec); d != "" {
			t.Errorf("CreateRoute(%s) spec (-want +got):\n%s", name, d)
		}
		desc, err := c.DescribeRoute(bg, &am.DescribeRouteInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr"), RouteName: aws.String(name)})
		if err != nil {
			t.Fatalf("DescribeRoute(%s) = %v", name, err)
		}
		if d := diff(out.Route, desc.Route); d != "" {
			t.Errorf("DescribeRoute(%s) (-create +describe):\n%s", name, d)
		}
	}
	upd, err := c.UpdateRoute(bg, &am.UpdateRouteInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr"), RouteName: aws.String("http"),
		Spec: httpRouteSpec("/", map[string]int32{"v2": 100})})
	if err != nil {
		t.Fatalf("UpdateRoute = %v", err)
	}
	if aws.ToInt64(upd.Route.Metadata.Version) != 2 || aws.ToString(upd.Route.Spec.HttpRoute.Action.WeightedTargets[0].VirtualNode) != "v2" {
		t.Errorf("UpdateRoute = %+v", upd.Route)
	}
	l, err := c.ListRoutes(bg, &am.ListRoutesInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr"), Limit: aws.Int32(3)})
	if err != nil || len(l.Routes) != 3 || l.NextToken == nil {
		t.Fatalf("ListRoutes(limit 3) = %+v, %v; want 3 and a nextToken", l, err)
	}
	l2, err := c.ListRoutes(bg, &am.ListRoutesInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr"), NextToken: l.NextToken})
	if err != nil || len(l2.Routes) != 1 || aws.ToString(l2.Routes[0].RouteName) != "tcp" || aws.ToString(l2.Routes[0].VirtualRouterName) != "vr" {
		t.Fatalf("ListRoutes page 2 = %+v, %v; want tcp", l2, err)
	}
	for _, name := range []string{"grpc", "http", "http2", "tcp"} {
		del, err := c.DeleteRoute(bg, &am.DeleteRouteInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr"), RouteName: aws.String(name)})
		if err != nil || del.Route.Status.Status != amtypes.RouteStatusCodeDeleted {
			t.Fatalf("DeleteRoute(%s) = %+v, %v", name, del, err)
		}
	}
	del, err := c.DeleteVirtualRouter(bg, &am.DeleteVirtualRouterInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr")})
	if err != nil || del.VirtualRouter.Status.Status != amtypes.VirtualRouterStatusCodeDeleted {
		t.Fatalf("DeleteVirtualRouter = %+v, %v", del, err)
	}
}

// TestAppMeshVirtualService: providers node, router and none.
func TestAppMeshVirtualService(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c, account := h.meshAccount()
	mkMesh(t, c, "m")
	mkNode(t, c, "m", "vn")
	mkRouter(t, c, "m", "vr")
	before := time.Now()
	out, err := c.CreateVirtualService(bg, &am.CreateVirtualServiceInput{MeshName: aws.String("m"), VirtualServiceName: aws.String("svc.m.local"), Spec: nodeProvider("vn")})
	if err != nil {
		t.Fatalf("CreateVirtualService = %v", err)
	}
	arn := meshARN(account, "m") + "/virtualService/svc.m.local"
	checkMeta(t, "CreateVirtualService", out.VirtualService.Metadata, arn, account, 1, before)
	if d := diff(nodeProvider("vn"), out.VirtualService.Spec); d != "" {
		t.Errorf("spec (-want +got):\n%s", d)
	}
	if _, err := c.DescribeVirtualService(bg, &am.DescribeVirtualServiceInput{MeshName: aws.String("m"), VirtualServiceName: aws.String("svc.m.local")}); err != nil {
		t.Fatalf("DescribeVirtualService = %v", err)
	}
	upd, err := c.UpdateVirtualService(bg, &am.UpdateVirtualServiceInput{MeshName: aws.String("m"), VirtualServiceName: aws.String("svc.m.local"), Spec: routerProvider("vr")})
	if err != nil || aws.ToInt64(upd.VirtualService.Metadata.Version) != 2 {
		t.Fatalf("UpdateVirtualService = %+v, %v", upd, err)
	}
	if d := diff(routerProvider("vr"), upd.VirtualService.Spec); d != "" {
		t.Errorf("updated spec (-want +got):\n%s", d)
	}
	mkService(t, c, "m", "none.m.local", nil)
	l, err := c.ListVirtualServices(bg, &am.ListVirtualServicesInput{MeshName: aws.String("m")})
	if err != nil || len(l.VirtualServices) != 2 || aws.ToString(l.VirtualServices[1].Arn) != arn {
		t.Fatalf("ListVirtualServices = %+v, %v", l, err)
	}
	// The router provides the service: deleting it is refused until the
	// service changes provider.
	_, err = c.DeleteVirtualRouter(bg, &am.DeleteVirtualRouterInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr")})
	meshError(t, err, "ResourceInUseException")
	del, err := c.DeleteVirtualService(bg, &am.DeleteVirtualServiceInput{MeshName: aws.String("m"), VirtualServiceName: aws.String("svc.m.local")})
	if err != nil || del.VirtualService.Status.Status != amtypes.VirtualServiceStatusCodeDeleted {
		t.Fatalf("DeleteVirtualService = %+v, %v", del, err)
	}
	if _, err := c.DeleteVirtualRouter(bg, &am.DeleteVirtualRouterInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr")}); err != nil {
		t.Fatalf("DeleteVirtualRouter after its service = %v", err)
	}
}

// TestAppMeshGateway: the virtual gateway and gateway route operations.
func TestAppMeshGateway(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c, account := h.meshAccount()
	mkMesh(t, c, "m")
	mkService(t, c, "m", "a.local", nil)
	mkService(t, c, "m", "b.local", nil)
	before := time.Now()
	vg, err := c.CreateVirtualGateway(bg, &am.CreateVirtualGatewayInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw"), Spec: gatewaySpec(8443)})
	if err != nil {
		t.Fatalf("CreateVirtualGateway = %v", err)
	}
	gwARN := meshARN(account, "m") + "/virtualGateway/gw"
	checkMeta(t, "CreateVirtualGateway", vg.VirtualGateway.Metadata, gwARN, account, 1, before)
	if _, err := c.DescribeVirtualGateway(bg, &am.DescribeVirtualGatewayInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw")}); err != nil {
		t.Fatalf("DescribeVirtualGateway = %v", err)
	}
	if u, err := c.UpdateVirtualGateway(bg, &am.UpdateVirtualGatewayInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw"), Spec: gatewaySpec(9443)}); err != nil ||
		aws.ToInt32(u.VirtualGateway.Spec.Listeners[0].PortMapping.Port) != 9443 || aws.ToInt64(u.VirtualGateway.Metadata.Version) != 2 {
		t.Fatalf("UpdateVirtualGateway = %+v, %v", u, err)
	}
	if l, err := c.ListVirtualGateways(bg, &am.ListVirtualGatewaysInput{MeshName: aws.String("m")}); err != nil || len(l.VirtualGateways) != 1 || aws.ToString(l.VirtualGateways[0].Arn) != gwARN {
		t.Fatalf("ListVirtualGateways = %+v, %v", l, err)
	}
	gr, err := c.CreateGatewayRoute(bg, &am.CreateGatewayRouteInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw"), GatewayRouteName: aws.String("gr"),
		Spec: gatewayRouteSpec("/a", "a.local")})
	if err != nil {
		t.Fatalf("CreateGatewayRoute = %v", err)
	}
	checkMeta(t, "CreateGatewayRoute", gr.GatewayRoute.Metadata, gwARN+"/gatewayRoute/gr", account, 1, before)
	if d := diff(gatewayRouteSpec("/a", "a.local"), gr.GatewayRoute.Spec); d != "" {
		t.Errorf("gateway route spec (-want +got):\n%s", d)
	}
	if _, err := c.DescribeGatewayRoute(bg, &am.DescribeGatewayRouteInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw"), GatewayRouteName: aws.String("gr")}); err != nil {
		t.Fatalf("DescribeGatewayRoute = %v", err)
	}
	// The gateway route holds its target and its gateway.
	_, err = c.DeleteVirtualService(bg, &am.DeleteVirtualServiceInput{MeshName: aws.String("m"), VirtualServiceName: aws.String("a.local")})
	meshError(t, err, "ResourceInUseException")
	_, err = c.DeleteVirtualGateway(bg, &am.DeleteVirtualGatewayInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw")})
	meshError(t, err, "ResourceInUseException")
	if u, err := c.UpdateGatewayRoute(bg, &am.UpdateGatewayRouteInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw"), GatewayRouteName: aws.String("gr"),
		Spec: gatewayRouteSpec("/b", "b.local")}); err != nil || aws.ToInt64(u.GatewayRoute.Metadata.Version) != 2 {
		t.Fatalf("UpdateGatewayRoute = %+v, %v", u, err)
	}
	if _, err := c.DeleteVirtualService(bg, &am.DeleteVirtualServiceInput{MeshName: aws.String("m"), VirtualServiceName: aws.String("a.local")}); err != nil {
		t.Fatalf("DeleteVirtualService once no gateway route targets it = %v", err)
	}
	if l, err := c.ListGatewayRoutes(bg, &am.ListGatewayRoutesInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw")}); err != nil || len(l.GatewayRoutes) != 1 ||
		aws.ToString(l.GatewayRoutes[0].VirtualGatewayName) != "gw" {
		t.Fatalf("ListGatewayRoutes = %+v, %v", l, err)
	}
	if d, err := c.DeleteGatewayRoute(bg, &am.DeleteGatewayRouteInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw"), GatewayRouteName: aws.String("gr")}); err != nil ||
		d.GatewayRoute.Status.Status != amtypes.GatewayRouteStatusCodeDeleted {
		t.Fatalf("DeleteGatewayRoute = %+v, %v", d, err)
	}
	if d, err := c.DeleteVirtualGateway(bg, &am.DeleteVirtualGatewayInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw")}); err != nil ||
		d.VirtualGateway.Status.Status != amtypes.VirtualGatewayStatusCodeDeleted {
		t.Fatalf("DeleteVirtualGateway = %+v, %v", d, err)
	}
}

// TestAppMeshTags: tags on create, TagResource, UntagResource and
// ListTagsForResource with pagination, on every kind of resource.
func TestAppMeshTags(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c, account := h.meshAccount()
	mkMesh(t, c, "m")
	mkNode(t, c, "m", "vn")
	mkRouter(t, c, "m", "vr")
	mkRoute(t, c, "m", "vr", "r", "vn")
	mkService(t, c, "m", "s.local", nil)
	mkGateway(t, c, "m", "gw")
	mkGatewayRoute(t, c, "m", "gw", "gr", "s.local")
	base := meshARN(account, "m")
	for _, arn := range []string{base, base + "/virtualNode/vn", base + "/virtualRouter/vr", base + "/virtualRouter/vr/route/r",
		base + "/virtualService/s.local", base + "/virtualGateway/gw", base + "/virtualGateway/gw/gatewayRoute/gr"} {
		var tags []amtypes.TagRef
		for i := range 5 {
			tags = append(tags, amtypes.TagRef{Key: aws.String(fmt.Sprintf("k%d", i)), Value: aws.String("v")})
		}
		if _, err := c.TagResource(bg, &am.TagResourceInput{ResourceArn: aws.String(arn), Tags: tags}); err != nil {
			t.Fatalf("TagResource(%s) = %v", arn, err)
		}
		if _, err := c.TagResource(bg, &am.TagResourceInput{ResourceArn: aws.String(arn), Tags: []amtypes.TagRef{{Key: aws.String("k0"), Value: aws.String("new")}}}); err != nil {
			t.Fatalf("TagResource(%s) again = %v", arn, err)
		}
		if _, err := c.UntagResource(bg, &am.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"k4", "absent"}}); err != nil {
			t.Fatalf("UntagResource(%s) = %v", arn, err)
		}
		var got []string
		p := am.NewListTagsForResourcePaginator(c, &am.ListTagsForResourceInput{ResourceArn: aws.String(arn), Limit: aws.Int32(3)})
		for p.HasMorePages() {
			out, err := p.NextPage(bg)
			if err != nil {
				t.Fatalf("ListTagsForResource(%s) = %v", arn, err)
			}
			for _, tg := range out.Tags {
				got = append(got, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
			}
		}
		if want := "k0=new k1=v k2=v k3=v"; strings.Join(got, " ") != want {
			t.Errorf("tags of %s = %v; want %s", arn, got, want)
		}
	}
	// Tags do not change a resource's version.
	d, err := c.DescribeMesh(bg, &am.DescribeMeshInput{MeshName: aws.String("m")})
	if err != nil || aws.ToInt64(d.Mesh.Metadata.Version) != 1 {
		t.Errorf("DescribeMesh after tagging = v%d, %v; want v1", aws.ToInt64(d.Mesh.Metadata.Version), err)
	}
	// Tags given at creation.
	if _, err := c.CreateVirtualNode(bg, &am.CreateVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("tagged"), Spec: nodeSpec(1),
		Tags: []amtypes.TagRef{{Key: aws.String("a"), Value: aws.String("b")}}}); err != nil {
		t.Fatal(err)
	}
	out, err := c.ListTagsForResource(bg, &am.ListTagsForResourceInput{ResourceArn: aws.String(base + "/virtualNode/tagged")})
	if err != nil || len(out.Tags) != 1 || aws.ToString(out.Tags[0].Value) != "b" {
		t.Errorf("ListTagsForResource(tagged) = %+v, %v", out, err)
	}
}

// TestAppMeshIdempotency: a clientToken reused with the same request gets
// the original response; with a different request, ConflictException.
func TestAppMeshIdempotency(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c, _ := h.meshAccount()
	in := &am.CreateMeshInput{MeshName: aws.String("m"), ClientToken: aws.String("tok-1")}
	first, err := c.CreateMesh(bg, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.CreateMesh(bg, in)
	if err != nil {
		t.Fatalf("CreateMesh with the same token and request = %v; want the original response", err)
	}
	if d := diff(first.Mesh, again.Mesh); d != "" {
		t.Errorf("replayed CreateMesh (-first +again):\n%s", d)
	}
	_, err = c.CreateMesh(bg, &am.CreateMeshInput{MeshName: aws.String("other"), ClientToken: aws.String("tok-1")})
	meshError(t, err, "ConflictException")
	// Without a token the SDK makes one per call: a second create of the
	// same name is a name conflict.
	_, err = c.CreateMesh(bg, &am.CreateMeshInput{MeshName: aws.String("m")})
	meshError(t, err, "ConflictException")

	mkNode(t, c, "m", "vn")
	up := &am.UpdateVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("vn"), Spec: nodeSpec(1), ClientToken: aws.String("u")}
	u1, err := c.UpdateVirtualNode(bg, up)
	if err != nil {
		t.Fatal(err)
	}
	u2, err := c.UpdateVirtualNode(bg, up)
	if err != nil || aws.ToInt64(u2.VirtualNode.Metadata.Version) != aws.ToInt64(u1.VirtualNode.Metadata.Version) {
		t.Fatalf("replayed UpdateVirtualNode = %+v, %v; want version %d again", u2, err, aws.ToInt64(u1.VirtualNode.Metadata.Version))
	}
	up.Spec = nodeSpec(2)
	_, err = c.UpdateVirtualNode(bg, up)
	meshError(t, err, "ConflictException")
}

// TestAppMeshPagination: limit 1..100, opaque nextToken, garbled tokens.
func TestAppMeshPagination(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c, _ := h.meshAccount()
	mkMesh(t, c, "m")
	for i := range 7 {
		mkNode(t, c, "m", fmt.Sprintf("n%02d", i))
	}
	var got []string
	p := am.NewListVirtualNodesPaginator(c, &am.ListVirtualNodesInput{MeshName: aws.String("m"), Limit: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(bg)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, n := range out.VirtualNodes {
			got = append(got, aws.ToString(n.VirtualNodeName))
		}
	}
	if pages != 4 || strings.Join(got, ",") != "n00,n01,n02,n03,n04,n05,n06" {
		t.Errorf("paged ListVirtualNodes = %d pages %v", pages, got)
	}
	for _, limit := range []int32{0, 101} {
		_, err := c.ListVirtualNodes(bg, &am.ListVirtualNodesInput{MeshName: aws.String("m"), Limit: aws.Int32(limit)})
		meshError(t, err, "BadRequestException")
	}
	_, err := c.ListVirtualNodes(bg, &am.ListVirtualNodesInput{MeshName: aws.String("m"), NextToken: aws.String("garbled!")})
	meshError(t, err, "BadRequestException")
}

// TestAppMeshQuotas: the configured quotas give LimitExceededException.
func TestAppMeshQuotas(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{AppMeshQuotas: smallMeshQuotas})
	c, _ := h.meshAccount()
	mkMesh(t, c, "m")
	mkMesh(t, c, "m2")
	_, err := c.CreateMesh(bg, &am.CreateMeshInput{MeshName: aws.String("m3")})
	meshError(t, err, "LimitExceededException")
	mkNode(t, c, "m", "a")
	mkNode(t, c, "m", "b")
	_, err = c.CreateVirtualNode(bg, &am.CreateVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("c"), Spec: nodeSpec(1)})
	meshError(t, err, "LimitExceededException")
	// Another mesh has its own.
	mkNode(t, c, "m2", "c")
	_, err = c.UpdateVirtualNode(bg, &am.UpdateVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("a"), Spec: nodeSpec(1, "x", "y", "z")})
	meshError(t, err, "LimitExceededException")
}

// TestAppMeshConcurrency: racing writes in one mesh never break a quota or
// a reference, because every write in a mesh is one compare-and-swap
// transaction on the mesh's state.
func TestAppMeshConcurrency(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{AppMeshQuotas: smallMeshQuotas})
	c, _ := h.meshAccount()
	mkMesh(t, c, "m")
	// 12 creates race for 2 places.
	errs := make(chan error, 12)
	for i := range 12 {
		go func() {
			_, err := c.CreateVirtualNode(bg, &am.CreateVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String(fmt.Sprintf("n%d", i)), Spec: nodeSpec(1)})
			errs <- err
		}()
	}
	ok := 0
	for range 12 {
		if err := <-errs; err == nil {
			ok++
		} else {
			meshError(t, err, "LimitExceededException")
		}
	}
	l, err := c.ListVirtualNodes(bg, &am.ListVirtualNodesInput{MeshName: aws.String("m")})
	if err != nil || ok != 2 || len(l.VirtualNodes) != 2 {
		t.Fatalf("12 racing creates with a quota of 2: %d succeeded, %d listed (%v)", ok, len(l.VirtualNodes), err)
	}
	// A delete of a node races a route that targets it: never both.
	node := aws.ToString(l.VirtualNodes[0].VirtualNodeName)
	mkRouter(t, c, "m", "vr")
	for round := range 10 {
		name := fmt.Sprintf("r%d", round)
		done := make(chan error, 2)
		go func() {
			_, err := c.CreateRoute(bg, &am.CreateRouteInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr"), RouteName: aws.String(name),
				Spec: httpRouteSpec("/", map[string]int32{node: 1})})
			done <- err
		}()
		go func() {
			_, err := c.DeleteVirtualNode(bg, &am.DeleteVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String(node)})
			done <- err
		}()
		e1, e2 := <-done, <-done
		if e1 == nil && e2 == nil {
			t.Fatalf("round %d: the route to %s and the delete of %s both succeeded", round, node, node)
		}
		if e1 != nil && e2 != nil {
			t.Fatalf("round %d: both failed: %v; %v", round, e1, e2)
		}
		// Put things back for the next round.
		if _, err := c.DeleteRoute(bg, &am.DeleteRouteInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr"), RouteName: aws.String(name)}); err != nil {
			mkNode(t, c, "m", node) // the delete won
		}
	}
}
