package healthcheck

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
	"github.com/mapmesh/mapmesh/internal/memtest"
	"github.com/mapmesh/mapmesh/internal/store/boltstore"
)

// BenchmarkInstanceMemory reports the Go heap the Checker holds per
// health-checked instance (B/instance): each instance's check, its target
// and Host header, its place in the schedule and the per-service maps, for
// 10 services of 1,000 instances each in a public DNS namespace, with an
// HTTP HealthCheckConfig (ResourcePath /health); each instance has an
// address, port 8080 and two attributes of its own.
//
// The instances are registered through the Cloud Map backend with no
// Checker, and the backend is reopened, so its view is loaded from disk and
// stays the same from then on. The heap is measured then, and again once
// the Checker, started on it, checks every instance, as when the server
// starts; the difference is the Checker's alone. The interval is an hour,
// so the first probes are spread over an hour and almost none runs while
// the benchmark measures: it counts the checks as scheduled, not probes in
// flight (their goroutines and connections last a probe's time, whatever
// the number of instances). The time per op is the start, until every
// instance is checked.
//
// Run it with -benchtime=1x (every iteration registers anew):
//
//	go test -run '^$' -bench InstanceMemory -benchtime 1x ./internal/healthcheck/
//
// With MAPMESH_HEAP_PROFILE=file, the heap profile with the Checker
// running is written there (go tool pprof -sample_index=inuse_space).
func BenchmarkInstanceMemory(b *testing.B) {
	const services, perService = 10, 1000
	for range b.N {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "mapmesh.db")
		ctx := awsapi.WithCaller(context.Background(), awsapi.Caller{Account: testAccount, Region: testRegion})
		st, cm := openMemBackend(b, path)
		ns, err := cm.CreatePublicDnsNamespace(ctx, &cloudmap.CreatePublicDnsNamespaceInput{Name: str("mem.example.com")})
		if err != nil {
			b.Fatal(err)
		}
		op, err := cm.GetOperation(ctx, &cloudmap.GetOperationInput{OperationID: ns.OperationID})
		if err != nil {
			b.Fatal(err)
		}
		nsID := op.Operation.Targets["NAMESPACE"]
		var wg sync.WaitGroup
		for s := range services {
			svc, err := cm.CreateService(ctx, &cloudmap.CreateServiceInput{Name: str(fmt.Sprintf("svc-%02d", s)), NamespaceID: &nsID,
				DNSConfig:         &cloudmap.DNSConfig{DNSRecords: []cloudmap.DNSRecord{{Type: str("A"), TTL: new(int64(60))}}},
				HealthCheckConfig: &cloudmap.HealthCheckConfig{Type: str("HTTP"), ResourcePath: str("/health")}})
			if err != nil {
				b.Fatal(err)
			}
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
		wg.Wait()
		if b.Failed() {
			b.FailNow()
		}
		cm.Close()
		st.Close()

		st, cm = openMemBackend(b, path)
		pass := func(context.Context, target) error { return nil }
		before := memtest.HeapInUse()
		b.StartTimer()
		c, err := Start(cm, Config{Interval: time.Hour, probe: pass})
		if err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for c.Stats().Checks < services*perService {
			if time.Now().After(deadline) {
				b.Fatalf("%d checks after 10s; want %d", c.Stats().Checks, services*perService)
			}
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		after := memtest.HeapInUse()
		b.ReportMetric(float64(int64(after)-int64(before))/(services*perService), "B/instance")
		memtest.WriteHeapProfile(b)
		c.Close()
		cm.Close()
		st.Close()
	}
}

// openMemBackend opens the store at path and a Cloud Map backend on it
// whose instance quotas (health-checked ones too) do not limit the
// benchmark.
func openMemBackend(b *testing.B, path string) (*boltstore.Store, *cloudmap.Backend) {
	b.Helper()
	st, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	cm, err := cloudmap.New(context.Background(), st, cloudmap.Config{
		Quotas: cloudmap.Quotas{InstancesPerNamespace: 1 << 30, InstancesPerService: 1 << 30, HealthCheckedInstancesPerAccount: 1 << 30}})
	if err != nil {
		b.Fatal(err)
	}
	return st, cm
}
