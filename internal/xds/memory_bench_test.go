package xds

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/mapmesh/mapmesh/internal/appmesh"
	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
	"github.com/mapmesh/mapmesh/internal/memtest"
	"github.com/mapmesh/mapmesh/internal/store/boltstore"
)

// BenchmarkEndpointMemory reports the Go heap the xDS control plane holds
// per Cloud Map instance that is an endpoint (EDS) of a node's
// configuration (B/instance). The mesh: 10 Cloud Map services of 1,000
// instances each in an HTTP namespace (an address, a port and two
// attributes of their own), a virtual node per service discovering its
// instances through Cloud Map, a virtual service provided by each, and two
// Envoy client nodes whose backends are all 10 virtual services, so each
// client's snapshot holds 10 clusters and 10,000 endpoints.
//
// The instances are registered with no xDS server, and the store is
// reopened, so the Cloud Map and App Mesh views are loaded from disk and
// stay the same from then on. A node of another mesh (one endpoint) is
// built first, so that what the process's first build allocates once
// (state initialized on first use) is not counted: without it, the first
// run in a process read 88 B/instance more than the next ones. The heap is
// measured then, after the first client's snapshot is set, and after the
// second's, as when each client's first request arrives (Server.ensure,
// without gRPC). B/instance is the first client's cost: its built
// resources and snapshot, and the control plane's cache of the Cloud Map
// reads that every node shares. B/instance/extra-node is what each
// further node with the same backends adds. The time per op is the first
// client's build.
//
// Run it with -benchtime=1x (every iteration registers anew):
//
//	go test -run '^$' -bench EndpointMemory -benchtime 1x ./internal/xds/
//
// With MAPMESH_HEAP_PROFILE=file, the heap profile after both builds is
// written there (go tool pprof -sample_index=inuse_space).
func BenchmarkEndpointMemory(b *testing.B) {
	const (
		services, perService = 10, 1000
		account, region      = "111122223333", "eu-west-1"
	)
	for range b.N {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "mapmesh.db")
		ctx := awsapi.WithCaller(context.Background(), awsapi.Caller{Account: account, Region: region})
		st, cm, am := openMemBackends(b, path)
		clients := []string{"client-0", "client-1"}
		memMesh(ctx, b, cm, am, "mem", services, perService, clients)
		memMesh(ctx, b, cm, am, "warm", 1, 1, []string{"client"})
		am.Close()
		cm.Close()
		st.Close()

		st, cm, am = openMemBackends(b, path)
		xs, err := New(am, cm, Config{Account: account, Region: region})
		if err != nil {
			b.Fatal(err)
		}
		connect := func(mesh, name string, want int) {
			id := NodeID{Account: account, Region: region, Mesh: mesh, Kind: KindVirtualNode, Name: name}
			key := keyOf(id, false)
			xs.ensure(key, id, true, false, id.String())
			if n := endpointsOf(xs, key); n != want {
				b.Fatalf("snapshot of %s holds %d endpoints; want %d", key, n, want)
			}
		}
		// A node of another mesh and namespace first, so that what the
		// first build of the process initializes once (protobuf types,
		// the caches' own state) is not counted.
		connect("warm", "client", 1)
		heap := []uint64{memtest.HeapInUse()}
		for i, name := range clients {
			if i == 0 {
				b.StartTimer()
			}
			connect("mem", name, services*perService)
			b.StopTimer()
			heap = append(heap, memtest.HeapInUse())
		}
		b.ReportMetric(float64(int64(heap[1])-int64(heap[0]))/(services*perService), "B/instance")
		b.ReportMetric(float64(int64(heap[2])-int64(heap[1]))/(services*perService), "B/instance/extra-node")
		memtest.WriteHeapProfile(b)
		xs.Close()
		am.Close()
		cm.Close()
		st.Close()
	}
}

// memMesh makes Cloud Map namespace <mesh>.local with services svc-00...
// of perService instances each, and App Mesh mesh <mesh> with a virtual
// node discovering each service's instances, a virtual service
// svc-NN.<mesh>.local provided by each, and the virtual nodes clients,
// whose backends are all those virtual services.
func memMesh(ctx context.Context, b *testing.B, cm *cloudmap.Backend, am *appmesh.Backend, mesh string, services, perService int, clients []string) {
	b.Helper()
	nsName := mesh + ".local"
	ns, err := cm.CreateHttpNamespace(ctx, &cloudmap.CreateHttpNamespaceInput{Name: &nsName})
	if err != nil {
		b.Fatal(err)
	}
	op, err := cm.GetOperation(ctx, &cloudmap.GetOperationInput{OperationID: ns.OperationID})
	if err != nil {
		b.Fatal(err)
	}
	nsID := op.Operation.Targets["NAMESPACE"]
	if _, err := am.CreateMesh(ctx, &appmesh.CreateMeshInput{MeshName: &mesh}); err != nil {
		b.Fatal(err)
	}
	var backends []appmesh.VirtualNodeBackend
	var wg sync.WaitGroup
	for s := range services {
		name := fmt.Sprintf("svc-%02d", s)
		svc, err := cm.CreateService(ctx, &cloudmap.CreateServiceInput{Name: &name, NamespaceID: &nsID})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := am.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: &mesh, VirtualNodeName: &name,
			Spec: &appmesh.VirtualNodeSpec{
				Listeners: []appmesh.Listener{{PortMapping: &appmesh.PortMapping{Port: new(int32(8080)), Protocol: new("http")}}},
				ServiceDiscovery: &appmesh.ServiceDiscovery{AwsCloudMap: &appmesh.AwsCloudMapServiceDiscovery{
					NamespaceName: &nsName, ServiceName: &name}}}}); err != nil {
			b.Fatal(err)
		}
		vs := name + "." + nsName
		if _, err := am.CreateVirtualService(ctx, &appmesh.CreateVirtualServiceInput{MeshName: &mesh, VirtualServiceName: &vs,
			Spec: &appmesh.VirtualServiceSpec{Provider: &appmesh.VirtualServiceProvider{
				VirtualNode: &appmesh.VirtualNodeServiceProvider{VirtualNodeName: &name}}}}); err != nil {
			b.Fatal(err)
		}
		backends = append(backends, appmesh.VirtualNodeBackend{VirtualService: &appmesh.VirtualServiceBackend{VirtualServiceName: &vs}})
		wg.Go(func() {
			for i := range perService {
				id := fmt.Sprintf("%08x-%04x-task", s, i)
				if _, err := cm.RegisterInstance(ctx, &cloudmap.RegisterInstanceInput{ServiceID: svc.Service.ID, InstanceID: &id,
					Attributes: map[string]string{"AWS_INSTANCE_IPV4": fmt.Sprintf("10.%d.%d.%d", s, i/250, i%250),
						"AWS_INSTANCE_PORT": "8080", "stage": "prod", "version": "v42"}}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	for _, name := range clients {
		if _, err := am.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: &mesh, VirtualNodeName: &name,
			Spec: &appmesh.VirtualNodeSpec{Backends: backends}}); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// endpointsOf counts the endpoints in the snapshot of node key.
func endpointsOf(s *Server, key string) int {
	snap, err := s.envoy.GetSnapshot(key)
	if err != nil {
		return 0
	}
	n := 0
	for _, r := range snap.GetResources(resource.EndpointType) {
		for _, l := range r.(*endpoint.ClusterLoadAssignment).GetEndpoints() {
			n += len(l.GetLbEndpoints())
		}
	}
	return n
}

// openMemBackends opens the store at path, and the Cloud Map (its instance
// quotas out of the way) and App Mesh backends on it.
func openMemBackends(b *testing.B, path string) (*boltstore.Store, *cloudmap.Backend, *appmesh.Backend) {
	b.Helper()
	st, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	cm, err := cloudmap.New(context.Background(), st, cloudmap.Config{
		Quotas: cloudmap.Quotas{InstancesPerNamespace: 1 << 30, InstancesPerService: 1 << 30}})
	if err != nil {
		b.Fatal(err)
	}
	am, err := appmesh.New(context.Background(), st, appmesh.Config{})
	if err != nil {
		b.Fatal(err)
	}
	return st, cm, am
}
