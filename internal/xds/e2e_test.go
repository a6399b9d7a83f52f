package xds_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	am "github.com/aws/aws-sdk-go-v2/service/appmesh"
	amtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	sdtypes "github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	grpcxds "google.golang.org/grpc/xds" // registers the xds resolver and balancers: tests only, never the server binary

	"github.com/mapmesh/mapmesh/internal/server"
	"github.com/mapmesh/mapmesh/internal/server/servertest"
	"github.com/mapmesh/mapmesh/internal/xds"
)

// mesh is a running mapmesh with SDK clients, a Cloud Map HTTP namespace
// and service, and real gRPC backends registered in it.
type mesh struct {
	t testing.TB
	// root is the test that owns the mesh; backends stop when it ends.
	root    testing.TB
	url     string // the API
	xdsAddr string
	am      *am.Client
	sd      *sd.Client
	nsName  string
	svcID   string
	mu      sync.Mutex // guards backends
	backend map[string]*backend
}

// backend is a gRPC server (the standard health service) that counts the
// RPCs it answers.
type backend struct {
	addr  *net.TCPAddr
	count atomic.Int64
	gs    *grpc.Server
}

func startBackend(t testing.TB) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{addr: ln.Addr().(*net.TCPAddr)}
	b.gs = grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		b.count.Add(1)
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(b.gs, health.NewServer())
	go func() { _ = b.gs.Serve(ln) }()
	t.Cleanup(b.gs.Stop)
	return b
}

func httpClient(addr string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}}}
}

// newMesh starts mapmesh and creates Cloud Map namespace ns.local with the
// service "greeter" (custom health), and App Mesh mesh "e2e".
func newMesh(t testing.TB) *mesh {
	t.Helper()
	srv := servertest.Start(t, server.Config{})
	return newMeshAt(t, srv.URL, srv.Addr, srv.XDSAddr)
}

// newMeshAt is newMesh for a server already running: its API URL and
// address, and its xDS address.
func newMeshAt(t testing.TB, url, apiAddr, xdsAddr string) *mesh {
	t.Helper()
	return newMeshAs(t, url, apiAddr, xdsAddr, "AKIDEXAMPLE")
}

// newMeshAs is newMeshAt with the API called with access key accessKey:
// a 12-digit one makes the mesh in that account (the API's caller, with no
// --auth), any other in the default account.
func newMeshAs(t testing.TB, url, apiAddr, xdsAddr, accessKey string) *mesh {
	t.Helper()
	creds := credentials.NewStaticCredentialsProvider(accessKey, "secret", "")
	hc := httpClient(apiAddr)
	t.Cleanup(hc.CloseIdleConnections)
	m := &mesh{t: t, root: t, url: url, xdsAddr: xdsAddr, backend: map[string]*backend{}, nsName: "e2e.local",
		am: am.New(am.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: creds, HTTPClient: hc}),
		sd: sd.New(sd.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: creds, HTTPClient: hc})}
	ctx := context.Background()
	op, err := m.sd.CreateHttpNamespace(ctx, &sd.CreateHttpNamespaceInput{Name: aws.String(m.nsName)})
	m.check(err)
	got, err := m.sd.GetOperation(ctx, &sd.GetOperationInput{OperationId: op.OperationId})
	m.check(err)
	svc, err := m.sd.CreateService(ctx, &sd.CreateServiceInput{Name: aws.String("greeter"), NamespaceId: aws.String(got.Operation.Targets["NAMESPACE"]),
		HealthCheckCustomConfig: &sdtypes.HealthCheckCustomConfig{}})
	m.check(err)
	m.svcID = *svc.Service.Id
	_, err = m.am.CreateMesh(ctx, &am.CreateMeshInput{MeshName: aws.String("e2e")})
	m.check(err)
	return m
}

func (m *mesh) check(err error) {
	m.t.Helper()
	if err != nil {
		m.t.Fatal(err)
	}
}

// register starts a backend and registers it as instance id with the
// given version attribute.
func (m *mesh) register(id, version string) *backend {
	m.t.Helper()
	b := startBackend(m.root)
	_, err := m.sd.RegisterInstance(context.Background(), &sd.RegisterInstanceInput{ServiceId: &m.svcID, InstanceId: aws.String(id),
		Attributes: map[string]string{"AWS_INSTANCE_IPV4": "127.0.0.1", "AWS_INSTANCE_PORT": strconv.Itoa(b.addr.Port), "version": version}})
	m.check(err)
	m.mu.Lock()
	m.backend[id] = b
	m.mu.Unlock()
	return b
}

// greeterMesh makes virtual nodes greeter-v1 and greeter-v2 (Cloud Map
// instances with version v1 and v2), a router sending gRPC health checks
// to them by weight, the virtual service greeter.e2e.local, and the
// client node "client" that calls it.
func (m *mesh) greeterMesh(w1, w2 int32) {
	m.t.Helper()
	ctx := context.Background()
	for _, v := range []string{"v1", "v2"} {
		_, err := m.am.CreateVirtualNode(ctx, &am.CreateVirtualNodeInput{MeshName: aws.String("e2e"), VirtualNodeName: aws.String("greeter-" + v),
			Spec: &amtypes.VirtualNodeSpec{
				Listeners: []amtypes.Listener{{PortMapping: &amtypes.PortMapping{Port: aws.Int32(50051), Protocol: amtypes.PortProtocolGrpc}}},
				ServiceDiscovery: &amtypes.ServiceDiscoveryMemberAwsCloudMap{Value: amtypes.AwsCloudMapServiceDiscovery{
					NamespaceName: aws.String(m.nsName), ServiceName: aws.String("greeter"),
					Attributes: []amtypes.AwsCloudMapInstanceAttribute{{Key: aws.String("version"), Value: aws.String(v)}}}}}})
		m.check(err)
	}
	_, err := m.am.CreateVirtualRouter(ctx, &am.CreateVirtualRouterInput{MeshName: aws.String("e2e"), VirtualRouterName: aws.String("greeter"),
		Spec: &amtypes.VirtualRouterSpec{Listeners: []amtypes.VirtualRouterListener{{PortMapping: &amtypes.PortMapping{Port: aws.Int32(50051), Protocol: amtypes.PortProtocolGrpc}}}}})
	m.check(err)
	_, err = m.am.CreateRoute(ctx, &am.CreateRouteInput{MeshName: aws.String("e2e"), VirtualRouterName: aws.String("greeter"), RouteName: aws.String("split"),
		Spec: routeSpec(w1, w2)})
	m.check(err)
	_, err = m.am.CreateVirtualService(ctx, &am.CreateVirtualServiceInput{MeshName: aws.String("e2e"), VirtualServiceName: aws.String("greeter.e2e.local"),
		Spec: &amtypes.VirtualServiceSpec{Provider: &amtypes.VirtualServiceProviderMemberVirtualRouter{Value: amtypes.VirtualRouterServiceProvider{VirtualRouterName: aws.String("greeter")}}}})
	m.check(err)
	_, err = m.am.CreateVirtualNode(ctx, &am.CreateVirtualNodeInput{MeshName: aws.String("e2e"), VirtualNodeName: aws.String("client"),
		Spec: &amtypes.VirtualNodeSpec{Backends: []amtypes.Backend{&amtypes.BackendMemberVirtualService{Value: amtypes.VirtualServiceBackend{
			VirtualServiceName: aws.String("greeter.e2e.local")}}}}})
	m.check(err)
}

// sync returns once both read models reflect every write made so far:
// writes return when committed, and a read through the API waits for its
// view (the xDS server would otherwise build from a view a moment behind,
// then push again when it catches up).
func (m *mesh) sync() {
	m.t.Helper()
	_, err := m.am.ListMeshes(context.Background(), &am.ListMeshesInput{})
	m.check(err)
	_, err = m.sd.ListInstances(context.Background(), &sd.ListInstancesInput{ServiceId: &m.svcID})
	m.check(err)
}

func routeSpec(w1, w2 int32) *amtypes.RouteSpec {
	return &amtypes.RouteSpec{GrpcRoute: &amtypes.GrpcRoute{
		Match: &amtypes.GrpcRouteMatch{ServiceName: aws.String("grpc.health.v1.Health")},
		Action: &amtypes.GrpcRouteAction{WeightedTargets: []amtypes.WeightedTarget{
			{VirtualNode: aws.String("greeter-v1"), Weight: w1}, {VirtualNode: aws.String("greeter-v2"), Weight: w2}}}}}
}

func (m *mesh) updateRoute(w1, w2 int32) *am.UpdateRouteOutput {
	m.t.Helper()
	out, err := m.am.UpdateRoute(context.Background(), &am.UpdateRouteInput{MeshName: aws.String("e2e"), VirtualRouterName: aws.String("greeter"),
		RouteName: aws.String("split"), Spec: routeSpec(w1, w2)})
	m.check(err)
	return out
}

// bootstrap is a gRPC xDS bootstrap naming mapmesh and the node.
func bootstrap(xdsAddr, node string) []byte {
	b, _ := json.Marshal(map[string]any{
		"xds_servers": []any{map[string]any{"server_uri": xdsAddr, "channel_creds": []any{map[string]any{"type": "insecure"}},
			"server_features": []string{"xds_v3"}}},
		"node": map[string]any{"id": node, "locality": map[string]string{"region": "us-east-1"}},
	})
	return b
}

// dial returns a proxyless gRPC client of target with its own xDS client.
func dial(t testing.TB, xdsAddr, node, target string) *grpc.ClientConn {
	t.Helper()
	r, err := grpcxds.NewXDSResolverWithConfigForTesting(bootstrap(xdsAddr, node))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient("xds:///"+target, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(r))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// calls makes n health checks through cc and returns how many each
// backend answered (failed calls count under "error").
func (m *mesh) calls(cc *grpc.ClientConn, n int) map[string]int {
	m.t.Helper()
	m.mu.Lock()
	before := map[string]int64{}
	for id, b := range m.backend {
		before[id] = b.count.Load()
	}
	m.mu.Unlock()
	c := healthpb.NewHealthClient(cc)
	out := map[string]int{}
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := c.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			if out["error"] == 0 {
				m.t.Logf("call failed: %v", err)
			}
			out["error"]++
		}
		cancel()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, b := range m.backend {
		if d := int(b.count.Load() - before[id]); d > 0 {
			out[id] = d
		}
	}
	return out
}

// eventually sends batches of 20 calls until one satisfies ok (or 15 s
// pass), then checks that 100 more do too.
func (m *mesh) eventually(cc *grpc.ClientConn, what string, ok func(map[string]int) bool) {
	m.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := m.calls(cc, 20)
		if ok(got) {
			break
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("%s: last batch of 20 calls went %v", what, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := m.calls(cc, 100); !ok(got) {
		m.t.Fatalf("%s: after it held once, 100 calls went %v", what, got)
	}
}

func only(ids ...string) func(map[string]int) bool {
	return func(got map[string]int) bool {
		n := 0
		for _, id := range ids {
			if got[id] == 0 {
				return false
			}
			n += got[id]
		}
		return n == 100 || n == 20
	}
}

// TestProxylessGRPC drives real grpc-go xDS clients through mapmesh: the
// mesh's weighted route splits traffic, UpdateRoute moves it, and Cloud Map
// registrations, deregistrations and custom health decide the endpoints.
func TestProxylessGRPC(t *testing.T) {
	m := newMesh(t)
	m.register("b1", "v1")
	m.register("b2", "v2")
	m.greeterMesh(80, 20)
	cc := dial(t, m.xdsAddr, "mesh/e2e/virtualNode/client", "greeter.e2e.local")

	t.Run("weighted 80/20", func(t *testing.T) {
		m.t = t
		const n = 1000
		got := m.calls(cc, n)
		// Binomial(1000, 0.8): standard deviation 12.6; allow 5 of them.
		if got["error"] > 0 || got["b1"] < 737 || got["b1"] > 863 || got["b1"]+got["b2"] != n {
			t.Fatalf("%d calls with an 80/20 route went %v; want b1 within 800±63, b2 the rest", n, got)
		}
		t.Logf("80/20 route: %d calls went %v", n, got)
	})
	t.Run("UpdateRoute 0/100", func(t *testing.T) {
		m.t = t
		m.updateRoute(0, 100)
		m.eventually(cc, "after UpdateRoute to 0/100", only("b2"))
	})
	t.Run("new instance", func(t *testing.T) {
		m.t = t
		m.register("b3", "v2")
		m.eventually(cc, "after registering b3", only("b2", "b3"))
	})
	t.Run("unhealthy instance", func(t *testing.T) {
		m.t = t
		_, err := m.sd.UpdateInstanceCustomHealthStatus(context.Background(), &sd.UpdateInstanceCustomHealthStatusInput{
			ServiceId: &m.svcID, InstanceId: aws.String("b2"), Status: sdtypes.CustomHealthStatusUnhealthy})
		m.check(err)
		m.eventually(cc, "after b2 turned UNHEALTHY", only("b3"))
		_, err = m.sd.UpdateInstanceCustomHealthStatus(context.Background(), &sd.UpdateInstanceCustomHealthStatusInput{
			ServiceId: &m.svcID, InstanceId: aws.String("b2"), Status: sdtypes.CustomHealthStatusHealthy})
		m.check(err)
		m.eventually(cc, "after b2 turned HEALTHY again", only("b2", "b3"))
	})
	t.Run("deregistered instance", func(t *testing.T) {
		m.t = t
		_, err := m.sd.DeregisterInstance(context.Background(), &sd.DeregisterInstanceInput{ServiceId: &m.svcID, InstanceId: aws.String("b3")})
		m.check(err)
		m.eventually(cc, "after deregistering b3", only("b2"))
	})
	t.Run("admin endpoint", func(t *testing.T) {
		m.t = t
		body := httpGetJSON(t, m.url+"/_mapmesh/xds/clients")
		if !body.Enabled || len(body.Clients) != 1 {
			t.Fatalf("GET /_mapmesh/xds/clients = %+v; want one client", body)
		}
		c := body.Clients[0]
		if c.NodeID != "mesh/e2e/virtualNode/client" || !c.Proxyless || c.Key != "123456789012/us-east-1/mesh/e2e/virtualNode/client#proxyless" {
			t.Errorf("client = %+v; want the proxyless node mesh/e2e/virtualNode/client", c)
		}
		for _, typ := range []string{"listeners", "routes", "clusters", "endpoints"} {
			rs := c.Resources[typ]
			if rs.Acked == "" || rs.Acked != rs.Sent || rs.LastNACK != nil {
				t.Errorf("client's %s = %+v; want the last version sent acked, no NACK", typ, rs)
			}
		}
	})
}

// TestProxylessUnknownTarget: a target the node has no backend for fails
// fast (the listener does not exist), and the other targets still work.
func TestProxylessUnknownTarget(t *testing.T) {
	m := newMesh(t)
	m.register("b1", "v1")
	m.greeterMesh(100, 0)
	// One xDS client for both channels: its LDS subscription names a
	// listener that does not exist and one that does.
	r, err := grpcxds.NewXDSResolverWithConfigForTesting(bootstrap(m.xdsAddr, "mesh/e2e/virtualNode/client"))
	m.check(err)
	bad, err := grpc.NewClient("xds:///nope.e2e.local", grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(r))
	m.check(err)
	defer bad.Close()
	good, err := grpc.NewClient("xds:///greeter.e2e.local:50051", grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(r))
	m.check(err)
	defer good.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(bad).Check(ctx, &healthpb.HealthCheckRequest{}); err == nil {
		t.Fatal("a call to a virtual service the node has no backend for succeeded")
	}
	if got := m.calls(good, 10); got["b1"] != 10 {
		t.Fatalf("10 calls to greeter.e2e.local:50051 went %v; want all to b1", got)
	}
}

type clientsBody struct {
	Enabled bool
	Clients []xds.Client
}

func httpGetJSON(t testing.TB, url string) clientsBody {
	t.Helper()
	var body clientsBody
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body
}
