package conformance

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	am "github.com/aws/aws-sdk-go-v2/service/appmesh"
	amtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"

	"github.com/mapmesh/mapmesh/internal/server"
)

// TestAppMeshCrossVersion: resources made through the 2018-10-01 API (raw
// rest-json: no Go SDK speaks it) are read, updated and deleted through
// the 2019-01-25 SDK, and the other way round, as far as the older shape
// can express them (docs/appmesh.md).
func TestAppMeshCrossVersion(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c, account := h.meshAccount()
	m := h.rest2018(t, account, "PUT", "/meshes", `{"meshName":"m"}`)
	if dig(m, "status.status") != "ACTIVE" || dig(m, "metadata.meshOwner") != nil || dig(m, "spec") != nil {
		t.Errorf("2018 CreateMesh = %v; want ACTIVE with 2018 metadata and no spec", m)
	}
	mesh, err := c.DescribeMesh(bg, &am.DescribeMeshInput{MeshName: aws.String("m")})
	if err != nil {
		t.Fatalf("DescribeMesh of a 2018 mesh = %v", err)
	}
	if aws.ToString(mesh.Mesh.Metadata.Uid) != dig(m, "metadata.uid") || aws.ToString(mesh.Mesh.Metadata.MeshOwner) != account {
		t.Errorf("DescribeMesh of a 2018 mesh: metadata %+v; want the same uid and owner %s", mesh.Mesh.Metadata, account)
	}

	// 2018 node, router with serviceNames, route; read through 2019.
	h.rest2018(t, account, "PUT", "/meshes/m/virtualNodes", `{"virtualNodeName":"vn","spec":{"backends":["b.local"],
		"listeners":[{"portMapping":{"port":8080,"protocol":"http"},"healthCheck":{"healthyThreshold":2,"unhealthyThreshold":2,"intervalMillis":5000,"timeoutMillis":2000,"protocol":"http","path":"/"}}],
		"serviceDiscovery":{"dns":{"serviceName":"vn.m.local"}}}}`)
	vr := h.rest2018(t, account, "PUT", "/meshes/m/virtualRouters", `{"virtualRouterName":"vr","spec":{"serviceNames":["s2.local","s1.local"]}}`)
	if got := mustJSON(t, dig(vr, "spec.serviceNames")); got != `["s2.local","s1.local"]` {
		t.Errorf("2018 CreateVirtualRouter serviceNames = %s", got)
	}
	h.rest2018(t, account, "PUT", "/meshes/m/virtualRouter/vr/routes", `{"routeName":"r","spec":{"httpRoute":{"match":{"prefix":"/"},"action":{"weightedTargets":[{"virtualNode":"vn","weight":100}]}}}}`)

	vn, err := c.DescribeVirtualNode(bg, &am.DescribeVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("vn")})
	if err != nil {
		t.Fatal(err)
	}
	be, ok := vn.VirtualNode.Spec.Backends[0].(*amtypes.BackendMemberVirtualService)
	sd, ok2 := vn.VirtualNode.Spec.ServiceDiscovery.(*amtypes.ServiceDiscoveryMemberDns)
	if !ok || aws.ToString(be.Value.VirtualServiceName) != "b.local" || !ok2 || aws.ToString(sd.Value.Hostname) != "vn.m.local" ||
		aws.ToInt64(vn.VirtualNode.Spec.Listeners[0].HealthCheck.IntervalMillis) != 5000 {
		t.Errorf("2019 view of a 2018 node = %s", mustJSON(t, vn.VirtualNode.Spec))
	}
	svcs, err := c.ListVirtualServices(bg, &am.ListVirtualServicesInput{MeshName: aws.String("m")})
	if err != nil || len(svcs.VirtualServices) != 2 {
		t.Fatalf("ListVirtualServices = %+v, %v; want the router's two serviceNames", svcs, err)
	}
	s1, err := c.DescribeVirtualService(bg, &am.DescribeVirtualServiceInput{MeshName: aws.String("m"), VirtualServiceName: aws.String("s1.local")})
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(routerProvider("vr"), s1.VirtualService.Spec); d != "" {
		t.Errorf("implicit service s1.local (-want +got):\n%s", d)
	}
	rt, err := c.DescribeRoute(bg, &am.DescribeRouteInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr"), RouteName: aws.String("r")})
	if err != nil || rt.Route.Spec.HttpRoute == nil || aws.ToString(rt.Route.Spec.HttpRoute.Match.Prefix) != "/" {
		t.Fatalf("2019 view of a 2018 route = %+v, %v", rt, err)
	}

	// 2019 adds what 2018 cannot express; a 2018 update keeps it.
	spec := vn.VirtualNode.Spec
	spec.Listeners[0].Tls = &amtypes.ListenerTls{Mode: amtypes.ListenerTlsModeStrict, Certificate: &amtypes.ListenerTlsCertificateMemberFile{
		Value: amtypes.ListenerTlsFileCertificate{CertificateChain: aws.String("/c.pem"), PrivateKey: aws.String("/k.pem")}}}
	if _, err := c.UpdateVirtualNode(bg, &am.UpdateVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("vn"), Spec: spec}); err != nil {
		t.Fatal(err)
	}
	v18 := h.rest2018(t, account, "GET", "/meshes/m/virtualNodes/vn", "")
	if dig(v18, "spec.listeners.0.tls") != nil || dig(v18, "spec.backends.0") != "b.local" || dig(v18, "metadata.version") != json.Number("2") {
		t.Errorf("2018 view of an updated node = %v", v18)
	}
	h.rest2018(t, account, "PUT", "/meshes/m/virtualNodes/vn", `{"spec":{"backends":["b.local","c.local"],"listeners":[{"portMapping":{"port":8080,"protocol":"http"}}],
		"serviceDiscovery":{"dns":{"serviceName":"vn.m.local"}}}}`)
	vn, err = c.DescribeVirtualNode(bg, &am.DescribeVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("vn")})
	if err != nil {
		t.Fatal(err)
	}
	if vn.VirtualNode.Spec.Listeners[0].Tls == nil || len(vn.VirtualNode.Spec.Backends) != 2 || aws.ToInt64(vn.VirtualNode.Metadata.Version) != 3 {
		t.Errorf("after a 2018 update: %s v%d; want the TLS kept, 2 backends, version 3", mustJSON(t, vn.VirtualNode.Spec), aws.ToInt64(vn.VirtualNode.Metadata.Version))
	}

	// A 2019 gRPC route shows in 2018 with an empty spec.
	mkRouter(t, c, "m", "vr2")
	if _, err := c.CreateRoute(bg, &am.CreateRouteInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr2"), RouteName: aws.String("g"),
		Spec: &amtypes.RouteSpec{GrpcRoute: &amtypes.GrpcRoute{Match: &amtypes.GrpcRouteMatch{ServiceName: aws.String("s")},
			Action: &amtypes.GrpcRouteAction{WeightedTargets: []amtypes.WeightedTarget{{VirtualNode: aws.String("vn"), Weight: 1}}}}}}); err != nil {
		t.Fatal(err)
	}
	g18 := h.rest2018(t, account, "GET", "/meshes/m/virtualRouter/vr2/routes/g", "")
	if got := mustJSON(t, dig(g18, "spec")); got != "{}" {
		t.Errorf("2018 view of a gRPC route: spec = %s; want {}", got)
	}
	// A 2019 service provided by vr2 appears in its 2018 serviceNames.
	mkService(t, c, "m", "ga.local", routerProvider("vr2"))
	vr2 := h.rest2018(t, account, "GET", "/meshes/m/virtualRouters/vr2", "")
	if got := mustJSON(t, dig(vr2, "spec.serviceNames")); got != `["ga.local"]` {
		t.Errorf("2018 view of vr2: serviceNames = %s", got)
	}
	lr := h.rest2018(t, account, "GET", "/meshes/m/virtualRouters", "")
	if n := len(dig(lr, "virtualRouters").([]any)); n != 2 {
		t.Errorf("2018 ListVirtualRouters = %v", lr)
	}

	// 2018 router update drops s2.local (implicit: deleted) and adds s3.local.
	h.rest2018(t, account, "PUT", "/meshes/m/virtualRouters/vr", `{"spec":{"serviceNames":["s1.local","s3.local"]}}`)
	if _, err := c.DescribeVirtualService(bg, &am.DescribeVirtualServiceInput{MeshName: aws.String("m"), VirtualServiceName: aws.String("s2.local")}); err == nil {
		t.Error("s2.local survived its removal from the router's serviceNames")
	}
	if _, err := c.DescribeVirtualService(bg, &am.DescribeVirtualServiceInput{MeshName: aws.String("m"), VirtualServiceName: aws.String("s3.local")}); err != nil {
		t.Errorf("s3.local = %v", err)
	}
	// A name another provider has is a conflict.
	r := h.rest(t, account, "PUT", "/meshes/m/virtualRouters/vr", `{"spec":{"serviceNames":["ga.local"]}}`)
	if r.status != http.StatusConflict || r.header.Get("X-Amzn-Errortype") != "ConflictException" {
		t.Errorf("2018 router taking ga.local = %d %s; want 409 ConflictException", r.status, r.body)
	}

	// Deletes across versions: the 2018 router has a route (in use); once
	// 2019 deletes the route, 2018 deletes the router and its implicit
	// services go with it.
	r = h.rest(t, account, "DELETE", "/meshes/m/virtualRouters/vr", "")
	if r.status != http.StatusConflict || r.header.Get("X-Amzn-Errortype") != "ResourceInUseException" {
		t.Errorf("2018 DeleteVirtualRouter with a route = %d %s", r.status, r.body)
	}
	if _, err := c.DeleteRoute(bg, &am.DeleteRouteInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr"), RouteName: aws.String("r")}); err != nil {
		t.Fatal(err)
	}
	d := h.rest2018(t, account, "DELETE", "/meshes/m/virtualRouters/vr", "")
	if dig(d, "status.status") != "DELETED" || mustJSON(t, dig(d, "spec.serviceNames")) != `["s1.local","s3.local"]` {
		t.Errorf("2018 DeleteVirtualRouter = %v", d)
	}
	svcs, _ = c.ListVirtualServices(bg, &am.ListVirtualServicesInput{MeshName: aws.String("m")})
	if len(svcs.VirtualServices) != 1 || aws.ToString(svcs.VirtualServices[0].VirtualServiceName) != "ga.local" {
		t.Errorf("services after the 2018 router's delete = %+v; want ga.local", svcs.VirtualServices)
	}
	// 2018 cannot delete a mesh with 2019 resources in it; 2019 empties it
	// and 2018 deletes it.
	r = h.rest(t, account, "DELETE", "/meshes/m", "")
	if r.status != http.StatusConflict {
		t.Errorf("2018 DeleteMesh of a non-empty mesh = %d %s", r.status, r.body)
	}
	for _, call := range []func() error{
		func() error {
			_, err := c.DeleteVirtualService(bg, &am.DeleteVirtualServiceInput{MeshName: aws.String("m"), VirtualServiceName: aws.String("ga.local")})
			return err
		},
		func() error {
			_, err := c.DeleteRoute(bg, &am.DeleteRouteInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr2"), RouteName: aws.String("g")})
			return err
		},
		func() error {
			_, err := c.DeleteVirtualRouter(bg, &am.DeleteVirtualRouterInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("vr2")})
			return err
		},
	} {
		if err := call(); err != nil {
			t.Fatal(err)
		}
	}
	h.rest2018(t, account, "DELETE", "/meshes/m/virtualNodes/vn", "")
	d = h.rest2018(t, account, "DELETE", "/meshes/m", "")
	if dig(d, "status.status") != "DELETED" {
		t.Errorf("2018 DeleteMesh = %v", d)
	}
	if l, err := c.ListMeshes(bg, &am.ListMeshesInput{}); err != nil || len(l.Meshes) != 0 {
		t.Errorf("ListMeshes after = %+v, %v", l, err)
	}
}

// TestAppMeshRESTWire: rest-json details the SDK hides: the error header and
// body, malformed JSON, unknown routes, and the 2018 API's 2018 errors.
func TestAppMeshRESTWire(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	account := newAccount()
	r := h.rest(t, account, "GET", "/v20190125/meshes/none", "")
	if r.status != 404 || r.header.Get("X-Amzn-Errortype") != "NotFoundException" || r.header.Get("Content-Type") != "application/json" ||
		r.message(t) == "" || !requestIDRE.MatchString(r.header.Get("X-Amzn-Requestid")) {
		t.Errorf("GET missing mesh = %d %v %s", r.status, r.header, r.body)
	}
	r = h.rest(t, account, "PUT", "/v20190125/meshes", `{"meshName":`)
	if r.status != 400 || r.header.Get("X-Amzn-Errortype") != "BadRequestException" {
		t.Errorf("malformed JSON = %d %s; want 400 BadRequestException", r.status, r.body)
	}
	r = h.rest(t, account, "PUT", "/v20190125/meshes", `{"meshName":7}`)
	if r.status != 400 || r.header.Get("X-Amzn-Errortype") != "BadRequestException" {
		t.Errorf("wrong JSON type = %d %s; want 400 BadRequestException", r.status, r.body)
	}
	r = h.rest(t, account, "GET", "/v20190125/meshes?limit=abc", "")
	if r.status != 400 || r.header.Get("X-Amzn-Errortype") != "BadRequestException" {
		t.Errorf("limit=abc = %d %s; want 400 BadRequestException", r.status, r.body)
	}
	r = h.rest(t, account, "PUT", "/meshes", `{}`)
	if r.status != 400 || r.header.Get("X-Amzn-Errortype") != "BadRequestException" || r.message(t) != "1 validation error detected: Value null at 'meshName' failed to satisfy constraint: Member must not be null" {
		t.Errorf("2018 CreateMesh without a name = %d %s", r.status, r.body)
	}
	r = h.rest(t, account, "GET", "/v20190125/nothing", "")
	if r.status != 404 {
		t.Errorf("unknown path = %d %s; want 404", r.status, r.body)
	}
	// A mesh name with a slash is refused (it would make ARNs ambiguous);
	// in a path, an escaped slash stays inside its label.
	r = h.rest(t, account, "PUT", "/v20190125/meshes", `{"meshName":"a/b"}`)
	if r.status != 400 || r.header.Get("X-Amzn-Errortype") != "BadRequestException" {
		t.Errorf("create a/b = %d %s; want 400 BadRequestException", r.status, r.body)
	}
	r = h.rest(t, account, "GET", "/v20190125/meshes/a%2Fb", "")
	if r.status != 404 || r.header.Get("X-Amzn-Errortype") != "NotFoundException" || !strings.Contains(r.message(t), "a/b") {
		t.Errorf("GET a%%2Fb = %d %s; want 404 NotFoundException naming mesh a/b", r.status, r.body)
	}
	// Cloud Map keeps answering on the same port.
	if r := h.call(t, "ListNamespaces", "{}"); r.status != 200 {
		t.Errorf("Cloud Map ListNamespaces beside App Mesh = %d %s", r.status, r.body)
	}
}
