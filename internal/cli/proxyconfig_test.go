package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	am "github.com/aws/aws-sdk-go-v2/service/appmesh"
	amtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	sdtypes "github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/mapmesh/mapmesh/internal/server"
	"github.com/mapmesh/mapmesh/internal/server/servertest"
	"github.com/mapmesh/mapmesh/internal/xds"
)

// run runs the command line with env as the environment and returns its
// exit status, stdout and stderr.
func run(env map[string]string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := Main(Env{Args: args, Getenv: func(k string) string { return env[k] }, Stdout: &out, Stderr: &errOut})
	return code, out.String(), errOut.String()
}

// shop makes, through the SDK with the given credentials, mesh "shop":
// router "web" (a route splitting 80/20 between web-v1 and web-v2 and a
// canary route), the Cloud Map service web.shop.local with custom health
// (web-1 and web-3 healthy, web-2 unhealthy) behind them, api (a Cloud
// Map service without health checks) behind a virtual node, and the node
// "front" that calls both.
func shop(t *testing.T, url, key, secret string) {
	t.Helper()
	ctx := context.Background()
	creds := credentials.NewStaticCredentialsProvider(key, secret, "")
	amc := am.New(am.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: creds})
	sdc := sd.New(sd.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: creds})
	check := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	op, err := sdc.CreateHttpNamespace(ctx, &sd.CreateHttpNamespaceInput{Name: aws.String("shop.local")})
	check(nil, err)
	got, err := sdc.GetOperation(ctx, &sd.GetOperationInput{OperationId: op.OperationId})
	check(nil, err)
	ns := got.Operation.Targets["NAMESPACE"]
	web, err := sdc.CreateService(ctx, &sd.CreateServiceInput{Name: aws.String("web"), NamespaceId: aws.String(ns),
		HealthCheckCustomConfig: &sdtypes.HealthCheckCustomConfig{}})
	check(nil, err)
	api, err := sdc.CreateService(ctx, &sd.CreateServiceInput{Name: aws.String("api"), NamespaceId: aws.String(ns)})
	check(nil, err)
	for i, v := range []string{"v1", "v1", "v2"} {
		check(sdc.RegisterInstance(ctx, &sd.RegisterInstanceInput{ServiceId: web.Service.Id, InstanceId: aws.String(fmt.Sprintf("web-%d", i+1)),
			Attributes: map[string]string{"AWS_INSTANCE_IPV4": fmt.Sprintf("10.0.2.%d", i+1), "AWS_INSTANCE_PORT": "9080", "version": v}}))
	}
	check(sdc.UpdateInstanceCustomHealthStatus(ctx, &sd.UpdateInstanceCustomHealthStatusInput{ServiceId: web.Service.Id,
		InstanceId: aws.String("web-2"), Status: sdtypes.CustomHealthStatusUnhealthy}))
	check(sdc.RegisterInstance(ctx, &sd.RegisterInstanceInput{ServiceId: api.Service.Id, InstanceId: aws.String("api-1"),
		Attributes: map[string]string{"AWS_INSTANCE_IPV4": "10.0.3.1", "AWS_INSTANCE_PORT": "7000"}}))

	mesh := aws.String("shop")
	check(amc.CreateMesh(ctx, &am.CreateMeshInput{MeshName: mesh}))
	http := func(port int32) []amtypes.Listener {
		return []amtypes.Listener{{PortMapping: &amtypes.PortMapping{Port: aws.Int32(port), Protocol: amtypes.PortProtocolHttp}}}
	}
	cloudMap := func(svc string, attrs ...string) amtypes.ServiceDiscovery {
		cm := amtypes.AwsCloudMapServiceDiscovery{NamespaceName: aws.String("shop.local"), ServiceName: aws.String(svc)}
		for i := 0; i+1 < len(attrs); i += 2 {
			cm.Attributes = append(cm.Attributes, amtypes.AwsCloudMapInstanceAttribute{Key: aws.String(attrs[i]), Value: aws.String(attrs[i+1])})
		}
		return &amtypes.ServiceDiscoveryMemberAwsCloudMap{Value: cm}
	}
	for _, v := range []string{"v1", "v2"} {
		check(amc.CreateVirtualNode(ctx, &am.CreateVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String("web-" + v),
			Spec: &amtypes.VirtualNodeSpec{Listeners: http(9080), ServiceDiscovery: cloudMap("web", "version", v)}}))
	}
	check(amc.CreateVirtualNode(ctx, &am.CreateVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String("api"),
		Spec: &amtypes.VirtualNodeSpec{Listeners: http(7000), ServiceDiscovery: cloudMap("api")}}))
	check(amc.CreateVirtualRouter(ctx, &am.CreateVirtualRouterInput{MeshName: mesh, VirtualRouterName: aws.String("web"), Spec: &amtypes.VirtualRouterSpec{
		Listeners: []amtypes.VirtualRouterListener{{PortMapping: &amtypes.PortMapping{Port: aws.Int32(80), Protocol: amtypes.PortProtocolHttp}}}}}))
	check(amc.CreateRoute(ctx, &am.CreateRouteInput{MeshName: mesh, VirtualRouterName: aws.String("web"), RouteName: aws.String("split"),
		Spec: &amtypes.RouteSpec{HttpRoute: &amtypes.HttpRoute{Match: &amtypes.HttpRouteMatch{Prefix: aws.String("/")},
			Action: &amtypes.HttpRouteAction{WeightedTargets: []amtypes.WeightedTarget{{VirtualNode: aws.String("web-v1"), Weight: 80}, {VirtualNode: aws.String("web-v2"), Weight: 20}}}}}}))
	check(amc.CreateRoute(ctx, &am.CreateRouteInput{MeshName: mesh, VirtualRouterName: aws.String("web"), RouteName: aws.String("canary"),
		Spec: &amtypes.RouteSpec{Priority: aws.Int32(1), HttpRoute: &amtypes.HttpRoute{
			Match:  &amtypes.HttpRouteMatch{Prefix: aws.String("/"), Headers: []amtypes.HttpRouteHeader{{Name: aws.String("x-canary"), Match: &amtypes.HeaderMatchMethodMemberExact{Value: "yes"}}}},
			Action: &amtypes.HttpRouteAction{WeightedTargets: []amtypes.WeightedTarget{{VirtualNode: aws.String("web-v2"), Weight: 1}}}}}}))
	check(amc.CreateVirtualService(ctx, &am.CreateVirtualServiceInput{MeshName: mesh, VirtualServiceName: aws.String("web.shop.local"), Spec: &amtypes.VirtualServiceSpec{
		Provider: &amtypes.VirtualServiceProviderMemberVirtualRouter{Value: amtypes.VirtualRouterServiceProvider{VirtualRouterName: aws.String("web")}}}}))
	check(amc.CreateVirtualService(ctx, &am.CreateVirtualServiceInput{MeshName: mesh, VirtualServiceName: aws.String("api.shop.local"), Spec: &amtypes.VirtualServiceSpec{
		Provider: &amtypes.VirtualServiceProviderMemberVirtualNode{Value: amtypes.VirtualNodeServiceProvider{VirtualNodeName: aws.String("api")}}}}))
	var backends []amtypes.Backend
	for _, vs := range []string{"web.shop.local", "api.shop.local"} {
		backends = append(backends, &amtypes.BackendMemberVirtualService{Value: amtypes.VirtualServiceBackend{VirtualServiceName: aws.String(vs)}})
	}
	check(amc.CreateVirtualNode(ctx, &am.CreateVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String("front"),
		Spec: &amtypes.VirtualNodeSpec{Listeners: http(8080), Backends: backends, ServiceDiscovery: cloudMap("front")}}))
	// Reads wait for the views: the server builds from what they say.
	check(amc.ListMeshes(ctx, &am.ListMeshesInput{}))
	check(sdc.ListInstances(ctx, &sd.ListInstancesInput{ServiceId: web.Service.Id}))
}

// config is a proxy-config JSON output, its resources decoded.
type config struct {
	Node, ARN, Message string
	Found, Connected   bool
	Versions           map[string]string
	Notes              []string
	listeners          []*listener.Listener
	routes             []*route.RouteConfiguration
	clusters           []*cluster.Cluster
	endpoints          []*endpoint.ClusterLoadAssignment
}

func parseConfig(t *testing.T, out string) config {
	t.Helper()
	var body proxyConfigBody
	if err := json.Unmarshal([]byte(out), &body); err != nil {
		t.Fatalf("proxy-config output is not JSON: %v\n%s", err, out)
	}
	c := config{Node: body.Node, ARN: body.ARN, Message: body.Message, Found: body.Found, Connected: body.Connected,
		Versions: body.Versions, Notes: body.Notes}
	var err error
	if c.listeners, err = decodeAll(body.Listeners, func() *listener.Listener { return &listener.Listener{} }); err != nil {
		t.Fatal(err)
	}
	if c.routes, err = decodeAll(body.Routes, func() *route.RouteConfiguration { return &route.RouteConfiguration{} }); err != nil {
		t.Fatal(err)
	}
	if c.clusters, err = decodeAll(body.Clusters, func() *cluster.Cluster { return &cluster.Cluster{} }); err != nil {
		t.Fatal(err)
	}
	if c.endpoints, err = decodeAll(body.Endpoints, func() *endpoint.ClusterLoadAssignment { return &endpoint.ClusterLoadAssignment{} }); err != nil {
		t.Fatal(err)
	}
	return c
}

// resources returns the configuration as xds.Check reads it.
func (c config) resources() *xds.Resources {
	r := &xds.Resources{}
	for _, l := range c.listeners {
		r.Listeners = append(r.Listeners, l)
	}
	for _, x := range c.routes {
		r.Routes = append(r.Routes, x)
	}
	for _, x := range c.clusters {
		r.Clusters = append(r.Clusters, x)
	}
	for _, x := range c.endpoints {
		r.Endpoints = append(r.Endpoints, x)
	}
	return r
}

// canonical renders resources as Envoy JSON for comparing: typed configs
// unpacked and keys sorted, so two encodings of one configuration compare
// equal, in sorted order (an ADS response's order is the cache's).
func canonical(t *testing.T, rs []types.Resource) []string {
	t.Helper()
	var out []string
	for _, r := range rs {
		b, err := protojson.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	slices.Sort(out)
	return out
}

// adsFetch is an Envoy-shaped ADS client for node: CDS, EDS, LDS, RDS in
// Envoy's order, each ACKed. It returns what it was served and the version
// of each type.
func adsFetch(t *testing.T, xdsAddr, node string) (*xds.Resources, map[string]string) {
	t.Helper()
	cc, err := grpc.NewClient(xdsAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	st, err := discovery.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	n := &core.Node{Id: node, Cluster: node, UserAgentName: "envoy"}
	ask := func(typeURL, version, nonce string, names ...string) {
		t.Helper()
		if err := st.Send(&discovery.DiscoveryRequest{Node: n, TypeUrl: typeURL, VersionInfo: version, ResponseNonce: nonce, ResourceNames: names}); err != nil {
			t.Fatal(err)
		}
	}
	recv := func(typeURL string) *discovery.DiscoveryResponse {
		t.Helper()
		r, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if r.TypeUrl != typeURL {
			t.Fatalf("got %s; want %s", r.TypeUrl, typeURL)
		}
		return r
	}
	unpack := func(as []*anypb.Any) []types.Resource {
		var out []types.Resource
		for _, a := range as {
			m, err := a.UnmarshalNew()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
		return out
	}
	res, versions := &xds.Resources{}, map[string]string{}
	ask(resource.ClusterType, "", "")
	cds := recv(resource.ClusterType)
	res.Clusters, versions["clusters"] = unpack(cds.Resources), cds.VersionInfo
	var eds []string
	for _, c := range res.Clusters {
		if c.(*cluster.Cluster).GetType() == cluster.Cluster_EDS {
			eds = append(eds, c.(*cluster.Cluster).Name)
		}
	}
	ask(resource.EndpointType, "", "", eds...)
	ask(resource.ClusterType, cds.VersionInfo, cds.Nonce)
	e := recv(resource.EndpointType)
	res.Endpoints, versions["endpoints"] = unpack(e.Resources), e.VersionInfo
	ask(resource.EndpointType, e.VersionInfo, e.Nonce, eds...)
	ask(resource.ListenerType, "", "")
	lds := recv(resource.ListenerType)
	res.Listeners, versions["listeners"] = unpack(lds.Resources), lds.VersionInfo
	rds := []string{"rds_egress_http_7000", "rds_egress_http_80", "rds_ingress_http_8080"}
	ask(resource.RouteType, "", "", rds...)
	ask(resource.ListenerType, lds.VersionInfo, lds.Nonce)
	r := recv(resource.RouteType)
	res.Routes, versions["routes"] = unpack(r.Resources), r.VersionInfo
	ask(resource.RouteType, r.VersionInfo, r.Nonce, rds...)
	return res, versions
}

// TestProxyConfigJSON: proxy-config's JSON is Envoy's resources, valid and
// consistent, and the same that an ADS client of the node is served,
// before it connects (built now) and after (its snapshot, with versions).
func TestProxyConfigJSON(t *testing.T) {
	srv := servertest.Start(t, server.Config{})
	shop(t, srv.URL, "AKIDEXAMPLE", "secret")
	env := map[string]string{}

	code, out, errOut := run(env, "proxy-config", "--endpoint", srv.URL, "mesh/shop/virtualNode/front")
	if code != exitOK || errOut != "" {
		t.Fatalf("proxy-config = %d, stderr %q; want 0 and nothing", code, errOut)
	}
	before := parseConfig(t, out)
	if !before.Found || before.Connected || before.Node != "mesh/shop/virtualNode/front" ||
		before.ARN != "arn:aws:appmesh:us-east-1:123456789012:mesh/shop/virtualNode/front" {
		t.Errorf("proxy-config node = %q %q found %v connected %v; want front of the default account, found, not connected",
			before.Node, before.ARN, before.Found, before.Connected)
	}
	for _, rs := range [][]types.Resource{before.resources().Listeners, before.resources().Routes, before.resources().Clusters, before.resources().Endpoints} {
		for _, r := range rs {
			if err := r.(interface{ ValidateAll() error }).ValidateAll(); err != nil {
				t.Errorf("%s does not validate: %v", proto.MessageName(r), err)
			}
		}
	}
	if err := xds.Check(before.resources()); err != nil {
		t.Errorf("xds.Check(proxy-config output) = %v; want nil", err)
	}
	if len(before.listeners) != 2 || len(before.routes) != 3 || len(before.clusters) != 5 || len(before.endpoints) != 3 {
		t.Errorf("proxy-config: %d listeners, %d routes, %d clusters, %d endpoints; want 2, 3, 5, 3",
			len(before.listeners), len(before.routes), len(before.clusters), len(before.endpoints))
	}

	served, versions := adsFetch(t, srv.XDSAddr, "mesh/shop/virtualNode/front")
	code, out, _ = run(env, "proxy-config", "--endpoint", srv.URL, "mesh/shop/virtualNode/front", "all")
	if code != exitOK {
		t.Fatalf("proxy-config = %d", code)
	}
	after := parseConfig(t, out)
	if !after.Connected || !reflect.DeepEqual(after.Versions, versions) {
		t.Errorf("proxy-config of the connected node: connected %v, versions %v; want true, %v (what the stream was sent)", after.Connected, after.Versions, versions)
	}
	for _, c := range []struct {
		what string
		a, b *xds.Resources
	}{{"built before the node connected", before.resources(), served}, {"snapshot of the connected node", after.resources(), served}} {
		for i, pair := range [][2][]types.Resource{{c.a.Listeners, c.b.Listeners}, {c.a.Routes, c.b.Routes}, {c.a.Clusters, c.b.Clusters}, {c.a.Endpoints, c.b.Endpoints}} {
			if got, want := canonical(t, pair[0]), canonical(t, pair[1]); !slices.Equal(got, want) {
				t.Errorf("proxy-config %s, %s, differs from what the ADS stream was served:\n got %v\nwant %v",
					c.what, []string{"listeners", "routes", "clusters", "endpoints"}[i], got, want)
			}
		}
	}

	// One type only.
	code, out, _ = run(env, "proxy-config", "mesh/shop/virtualNode/front", "clusters", "--endpoint", srv.URL)
	if code != exitOK {
		t.Fatalf("proxy-config ... clusters = %d", code)
	}
	var only map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &only); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"listeners", "routes", "endpoints"} {
		if _, ok := only[k]; ok {
			t.Errorf("proxy-config ... clusters has %s", k)
		}
	}
	if _, ok := only["clusters"]; !ok {
		t.Error("proxy-config ... clusters has no clusters")
	}
}

// TestProxyConfigTable: the table lists listeners with their ports and
// direction, routes with domains, matches and weighted clusters, clusters
// with their endpoints and health.
func TestProxyConfigTable(t *testing.T) {
	srv := servertest.Start(t, server.Config{})
	shop(t, srv.URL, "AKIDEXAMPLE", "secret")
	code, out, errOut := run(nil, "proxy-config", "--endpoint", srv.URL, "--format", "table", "arn:aws:appmesh:us-east-1:123456789012:mesh/shop/virtualNode/front")
	if code != exitOK || errOut != "" {
		t.Fatalf("proxy-config --format table = %d, stderr %q", code, errOut)
	}
	lines := strings.Split(out, "\n")
	has := func(fields ...string) bool {
		return slices.ContainsFunc(lines, func(l string) bool {
			for _, f := range fields {
				if !strings.Contains(l, f) {
					return false
				}
			}
			return true
		})
	}
	for _, want := range [][]string{
		{"NODE mesh/shop/virtualNode/front", "not connected"},
		{"lds_ingress_0.0.0.0_15000", "0.0.0.0:15000", "INBOUND", "port 8080", "http → rds_ingress_http_8080"},
		{"lds_egress_0.0.0.0_15001", "0.0.0.0:15001", "OUTBOUND", "egress_http_80", "port 80", "http → rds_egress_http_80"},
		{"egress_http_7000", "port 7000", "http → rds_egress_http_7000"},
		{"egress_amazonaws", "tls sni *.amazonaws.com", "tcp → cds_egress_shop_amazonaws"},
		{"rds_egress_http_80", "web.shop.local", "web.shop.local,web.shop.local:80", "prefix / headers x-canary", "cds_egress_shop_web-v2_http_9080"},
		{"prefix /", "cds_egress_shop_web-v1_http_9080 80%, cds_egress_shop_web-v2_http_9080 20%"},
		{"rds_ingress_http_8080", "prefix /", "cds_ingress_shop_front_http_8080"},
		{"cds_egress_shop_web-v1_http_9080", "EDS", "10.0.2.1:9080 HEALTHY"},
		{"cds_egress_shop_web-v2_http_9080", "EDS", "10.0.2.3:9080 HEALTHY"},
		{"cds_egress_shop_api_http_7000", "EDS", "10.0.3.1:7000 UNKNOWN"},
		{"cds_ingress_shop_front_http_8080", "STATIC", "127.0.0.1:8080"},
		{"cds_egress_shop_amazonaws", "ORIGINAL_DST"},
	} {
		if !has(want...) {
			t.Errorf("table has no line with %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "10.0.2.2") {
		t.Errorf("table lists web-2, which is UNHEALTHY:\n%s", out)
	}
	code, out, _ = run(nil, "proxy-config", "--endpoint", srv.URL, "--format", "table", "mesh/shop/virtualNode/front", "endpoints")
	if code != exitOK {
		t.Fatalf("proxy-config --format table ... endpoints = %d", code)
	}
	lines = strings.Split(out, "\n")
	if !has("cds_egress_shop_web-v1_http_9080", "us-east-1", "10.0.2.1:9080", "HEALTHY", "1") || has("LISTENER") || has("ROUTE CONFIG") {
		t.Errorf("endpoints table:\n%s", out)
	}
}

// TestProxyConfigUnknownNode: a node that names nothing gets the empty
// configuration mapmesh serves it, and a message saying why; a NODE that
// is no node id is a usage error.
func TestProxyConfigUnknownNode(t *testing.T) {
	srv := servertest.Start(t, server.Config{})
	shop(t, srv.URL, "AKIDEXAMPLE", "secret")
	for _, tc := range []struct{ node, msg string }{
		{"mesh/shop/virtualNode/nope", "mesh shop (account 123456789012, us-east-1) has no virtual node nope: mapmesh serves this node an empty configuration"},
		{"mesh/shop/virtualGateway/front", "has no virtual gateway front"},
		{"mesh/nope/virtualNode/front", "account 123456789012 has no mesh nope in us-east-1"},
		{"arn:aws:appmesh:eu-west-1:123456789012:mesh/shop/virtualNode/front", "account 123456789012 has no mesh shop in eu-west-1"},
	} {
		for _, format := range []string{"json", "table"} {
			code, out, errOut := run(nil, "proxy-config", "--endpoint", srv.URL, "--format", format, tc.node)
			if code != exitOK || !strings.Contains(errOut, tc.msg) {
				t.Errorf("proxy-config --format %s %s = %d, stderr %q; want 0 and %q", format, tc.node, code, errOut, tc.msg)
			}
			if format == "json" {
				c := parseConfig(t, out)
				if c.Found || len(c.listeners)+len(c.routes)+len(c.clusters)+len(c.endpoints) != 0 || !strings.Contains(c.Message, tc.msg) {
					t.Errorf("proxy-config %s = %+v; want not found, empty, with the message", tc.node, c)
				}
			} else if strings.Count(out, "(none)") != 3 {
				t.Errorf("proxy-config --format table %s:\n%s\nwant three empty sections", tc.node, out)
			}
		}
	}
	for _, args := range [][]string{
		{"front"}, {"mesh/shop/virtualRouter/web"}, {"mesh/shop/virtualNode/front", "secrets"}, {"--format", "yaml", "mesh/shop/virtualNode/front"}, {},
	} {
		if code, _, errOut := run(nil, append([]string{"proxy-config", "--endpoint", srv.URL}, args...)...); code != exitUsage {
			t.Errorf("proxy-config %q = %d (%s); want %d", args, code, errOut, exitUsage)
		}
	}
}

// TestProxyConfigSigV4: with --auth sigv4 the endpoint answers admin
// identities only, signed as proxy-config signs; a short-form node is in
// the signer's account, an ARN names any.
func TestProxyConfigSigV4(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(creds, []byte(`[team]
aws_access_key_id = AKIATEAM
aws_secret_access_key = team-secret
aws_account_id = 111111111111

[ops]
aws_access_key_id = AKIAOPS
aws_secret_access_key = ops-secret
aws_account_id = 999999999999
mapmesh_admin = true
`), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, server.Config{Auth: server.AuthSigV4, CredentialsFile: creds})
	shop(t, srv.URL, "AKIATEAM", "team-secret")
	team := map[string]string{"AWS_ACCESS_KEY_ID": "AKIATEAM", "AWS_SECRET_ACCESS_KEY": "team-secret", "AWS_REGION": "us-east-1"}
	ops := map[string]string{"AWS_ACCESS_KEY_ID": "AKIAOPS", "AWS_SECRET_ACCESS_KEY": "ops-secret", "AWS_REGION": "us-east-1"}
	wrong := map[string]string{"AWS_ACCESS_KEY_ID": "AKIAOPS", "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
	arn := "arn:aws:appmesh:us-east-1:111111111111:mesh/shop/virtualNode/front"
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"unsigned", nil, "403 Forbidden: MissingAuthenticationTokenException"},
		{"not an admin", team, "403 Forbidden: AccessDeniedException: This endpoint needs an admin identity"},
		{"wrong secret", wrong, "InvalidSignatureException"},
	} {
		code, out, errOut := run(tc.env, "proxy-config", "--endpoint", srv.URL, arn)
		if code != exitError || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: proxy-config = %d, stdout %q, stderr %q; want %d and %q", tc.name, code, out, errOut, exitError, tc.want)
		}
	}
	code, out, errOut := run(ops, "proxy-config", "--endpoint", srv.URL, arn)
	if code != exitOK || errOut != "" {
		t.Fatalf("admin: proxy-config = %d, stderr %q", code, errOut)
	}
	if c := parseConfig(t, out); !c.Found || len(c.listeners) != 2 {
		t.Errorf("admin: proxy-config of the team's node: found %v, %d listeners; want found, 2", c.Found, len(c.listeners))
	}
	code, _, errOut = run(ops, "proxy-config", "--endpoint", srv.URL, "mesh/shop/virtualNode/front")
	if code != exitOK || !strings.Contains(errOut, "account 999999999999 has no mesh shop in us-east-1") {
		t.Errorf("admin: proxy-config of a short form = %d, stderr %q; want 0 and the admin's own account, which has no mesh shop", code, errOut)
	}
}
