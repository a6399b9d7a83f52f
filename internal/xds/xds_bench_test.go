package xds_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/mapmesh/mapmesh/internal/appmesh"
	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
	"github.com/mapmesh/mapmesh/internal/store/boltstore"
	"github.com/mapmesh/mapmesh/internal/xds"
)

// stack runs what server.Run runs, in process: the store, Cloud Map, App
// Mesh, the API on an httptest server, and xDS on a free port, logging to
// log (nil: nowhere). The benchmark needs the xds.Server itself, to see
// ACKs as they arrive; the NACK tests, to read its counters.
func stack(b testing.TB, log *slog.Logger) (*mesh, *xds.Server) {
	b.Helper()
	api, xs := stackWith(b, xds.Config{Logger: log})
	return newMeshAt(b, api.URL, api.Listener.Addr().String(), xs.Addr().String()), xs
}

// stackWith is stack with the xDS server configured by cfg (Account and
// Region default to the server's), and no mesh made: it returns the API
// server (not authenticated: a request acts in the account its 12-digit
// access key names, see awsapi.Mux) and the xDS server.
func stackWith(b testing.TB, cfg xds.Config) (*httptest.Server, *xds.Server) {
	b.Helper()
	ctx := context.Background()
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "mapmesh.db"), boltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	cm, err := cloudmap.New(ctx, st, cloudmap.Config{})
	if err != nil {
		b.Fatal(err)
	}
	amb, err := appmesh.New(ctx, st, appmesh.Config{})
	if err != nil {
		b.Fatal(err)
	}
	mux := awsapi.NewMux(awsapi.MuxConfig{DefaultRegion: "us-east-1"})
	mux.HandleJSON(cm.API())
	for _, s := range amb.API() {
		mux.HandleREST(s)
	}
	hs := httptest.NewServer(mux)
	if cfg.Account == "" {
		cfg.Account, cfg.Region = awsapi.DefaultAccount, "us-east-1"
	}
	xs, err := xds.New(amb, cm, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := xs.Listen("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		hs.Close()
		xs.Close()
		amb.Close()
		cm.Close()
		st.Close()
	})
	return hs, xs
}

// benchClients is the list of client counts BenchmarkRouteUpdateAck runs:
// $XDS_BENCH_CLIENTS (comma-separated), else 100. test/bench/xds.sh runs
// 100 and 1000.
func benchClients() []int {
	v := os.Getenv("XDS_BENCH_CLIENTS")
	if v == "" {
		return []int{100}
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

// BenchmarkRouteUpdateAck measures the time from UpdateRoute returning
// (the App Mesh API over HTTP) until N proxyless gRPC clients, each with
// its own xDS client and ADS stream, all running in this process and all
// the same virtual node, have ACKed the new routes. It reports the
// median, 99th percentile and maximum over the iterations. Like the
// mapmesh binary, it runs with GOGC=400 unless GOGC is set.
func BenchmarkRouteUpdateAck(b *testing.B) {
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	for _, n := range benchClients() {
		b.Run("clients="+strconv.Itoa(n), func(b *testing.B) {
			m, xs := stack(b, nil)
			m.register("b1", "v1")
			m.register("b2", "v2")
			m.greeterMesh(80, 20)
			start := time.Now()
			ccs := make([]*grpc.ClientConn, n)
			var wg sync.WaitGroup
			sem := make(chan struct{}, 32)
			for i := range n {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					ccs[i] = dial(b, m.xdsAddr, "mesh/e2e/virtualNode/client", "greeter.e2e.local")
					ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					defer cancel()
					if _, err := healthpb.NewHealthClient(ccs[i]).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
						b.Error(err)
					}
				}()
			}
			wg.Wait()
			if b.Failed() {
				b.FailNow()
			}
			b.Logf("%d clients connected and made a call in %v", n, time.Since(start).Round(time.Millisecond))
			var lats []time.Duration
			w := int32(80) // the route starts at 80/20
			for b.Loop() {
				v0 := maxAcked(xs)
				m.updateRoute(100-w, w)
				t0 := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				if err := xs.WaitAcked(ctx, resource.RouteType, v0+1, n); err != nil {
					b.Fatal(err)
				}
				cancel()
				lats = append(lats, time.Since(t0))
				w = 100 - w
			}
			b.Logf("latencies in order: %v", lats)
			slices.Sort(lats)
			pct := func(p float64) float64 {
				i := int(p * float64(len(lats)-1))
				return float64(lats[i].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.5), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(pct(1), "max-ms")
		})
	}
}

func maxAcked(xs *xds.Server) int64 {
	var v int64
	for _, c := range xs.Clients() {
		if a, err := strconv.ParseInt(c.Resources["routes"].Acked, 10, 64); err == nil && a > v {
			v = a
		}
	}
	return v
}

// BenchmarkBuildMesh500 measures building the configuration of every node
// of a mesh of 500 virtual nodes (each with 5 backends among 100 virtual
// services, each service a router with two routes over two nodes; Cloud
// Map endpoints, 10 per service): one op indexes the mesh and builds all
// 500 nodes.
func BenchmarkBuildMesh500(b *testing.B) {
	mc, reg := mesh500()
	for _, proxyless := range []bool{false, true} {
		name := "envoy"
		if proxyless {
			name = "proxyless"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			resources := 0
			for b.Loop() {
				m := xds.NewMesh(mc)
				resources = 0
				for _, vn := range mc.VirtualNodes {
					r := xds.Build(xds.Input{Mesh: m, Registry: reg}, xds.Node{ID: xds.NodeID{Account: "123456789012", Region: "us-east-1",
						Mesh: "big", Kind: xds.KindVirtualNode, Name: vn.Name}, Proxyless: proxyless})
					resources += len(r.Listeners) + len(r.Routes) + len(r.Clusters) + len(r.Endpoints)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/500, "µs/node")
			b.ReportMetric(float64(resources), "resources/mesh")
		})
	}
}

type benchRegistry map[string][]xds.Instance

func (r benchRegistry) Instances(ns, svc string) ([]xds.Instance, bool) {
	in, ok := r[ns+"/"+svc]
	return slices.Clone(in), ok
}

func (benchRegistry) DNSService(string) (string, string, bool) { return "", "", false }

func mesh500() (appmesh.MeshContents, benchRegistry) {
	res := func(kind, parent, name string) appmesh.Resource {
		return appmesh.Resource{Account: "123456789012", Region: "us-east-1", Mesh: "big", Kind: kind, Parent: parent, Name: name}
	}
	s := func(v string) *string { return &v }
	i32 := func(v int32) *int32 { return &v }
	mc := appmesh.MeshContents{Mesh: res("mesh", "", "big")}
	mc.Mesh.MeshSpec = &appmesh.MeshSpec{}
	reg := benchRegistry{}
	for i := range 500 {
		r := res("virtualNode", "", fmt.Sprintf("vn-%03d", i))
		spec := &appmesh.VirtualNodeSpec{
			Listeners: []appmesh.Listener{{PortMapping: &appmesh.PortMapping{Port: i32(8080), Protocol: s("http")},
				OutlierDetection: &appmesh.OutlierDetection{MaxServerErrors: new(int64(5))}}},
			ServiceDiscovery: &appmesh.ServiceDiscovery{AwsCloudMap: &appmesh.AwsCloudMapServiceDiscovery{NamespaceName: s("bench.local"),
				ServiceName: s(fmt.Sprintf("svc-%02d", i%50)), Attributes: []appmesh.AwsCloudMapInstanceAttribute{{Key: s("node"), Value: s(r.Name)}}}},
		}
		for k := range 5 {
			spec.Backends = append(spec.Backends, appmesh.VirtualNodeBackend{VirtualService: &appmesh.VirtualServiceBackend{
				VirtualServiceName: s(fmt.Sprintf("vs-%02d.big.local", (i+k*7)%100))}})
		}
		r.VirtualNode = spec
		mc.VirtualNodes = append(mc.VirtualNodes, r)
		for j := range 10 {
			key := fmt.Sprintf("bench.local/svc-%02d", i%50)
			reg[key] = append(reg[key], xds.Instance{ID: fmt.Sprintf("%s-%d", r.Name, j), Health: "HEALTHY",
				Attributes: cloudmap.EncodeAttributes(map[string]string{"AWS_INSTANCE_IPV4": fmt.Sprintf("10.%d.%d.%d", i/250, i%250, j), "node": r.Name})})
		}
	}
	for j := range 100 {
		vr := fmt.Sprintf("vr-%02d", j)
		r := res("virtualRouter", "", vr)
		r.VirtualRouter = &appmesh.VirtualRouterSpec{Listeners: []appmesh.VirtualRouterListener{{PortMapping: &appmesh.PortMapping{Port: i32(8080), Protocol: s("http")}}}}
		mc.VirtualRouters = append(mc.VirtualRouters, r)
		a, c := fmt.Sprintf("vn-%03d", 2*j), fmt.Sprintf("vn-%03d", 2*j+1)
		for _, rt := range []struct {
			name, prefix string
			targets      []appmesh.WeightedTarget
		}{
			{"api", "/api", []appmesh.WeightedTarget{{VirtualNode: s(a), Weight: i32(50)}, {VirtualNode: s(c), Weight: i32(50)}}},
			{"all", "/", []appmesh.WeightedTarget{{VirtualNode: s(a), Weight: i32(100)}}},
		} {
			x := res("route", vr, rt.name)
			x.Route = &appmesh.RouteSpec{HTTPRoute: &appmesh.HTTPRoute{Match: &appmesh.HTTPRouteMatch{Prefix: s(rt.prefix)},
				Action: &appmesh.HTTPRouteAction{WeightedTargets: rt.targets}}}
			mc.Routes = append(mc.Routes, x)
		}
		vs := res("virtualService", "", fmt.Sprintf("vs-%02d.big.local", j))
		vs.VirtualService = &appmesh.VirtualServiceSpec{Provider: &appmesh.VirtualServiceProvider{VirtualRouter: &appmesh.VirtualRouterServiceProvider{VirtualRouterName: s(vr)}}}
		mc.VirtualServices = append(mc.VirtualServices, vs)
	}
	return mc, reg
}
