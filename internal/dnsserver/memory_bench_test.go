package dnsserver

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mapmesh/mapmesh/internal/cloudmap"
	"github.com/mapmesh/mapmesh/internal/memtest"
	"github.com/mapmesh/mapmesh/internal/store/boltstore"
)

// BenchmarkInstanceMemory reports the Go heap the DNS projection holds per
// registered instance (B/instance): the view's zones and service nodes, the
// records and the per-instance record cache the builder keeps, for 10
// services of 1,000 instances each in a private DNS namespace. Each
// instance has an address, a port and two attributes of its own; the
// services have an A record ("records=A"), or an A and an SRV record
// ("records=A+SRV", where every instance also gets an SRV record and a
// target name with its A record).
//
// The instances are registered through the Cloud Map backend with no DNS
// server, and the backend is reopened, so its view is loaded from disk and
// stays the same from then on. The heap is measured then, and again once
// New has built the DNS view from it (New builds the first view before it
// returns, as when the server starts); the difference is the DNS
// projection's alone. A view kept current by rebuilds holds the same
// structures (a rebuild replaces a service's node and reuses its
// instances' cached records). The time per op is that first build.
//
// Run it with -benchtime=1x (every iteration registers anew):
//
//	go test -run '^$' -bench InstanceMemory -benchtime 1x ./internal/dnsserver/
//
// With MAPMESH_HEAP_PROFILE=file, the heap profile after the build is
// written there (go tool pprof -sample_index=inuse_space).
func BenchmarkInstanceMemory(b *testing.B) {
	for _, records := range []string{"A", "A+SRV"} {
		b.Run("records="+records, func(b *testing.B) {
			var recs []string
			for _, r := range strings.Split(records, "+") {
				recs = append(recs, r+":60")
			}
			for range b.N {
				benchInstanceMemory(b, recs)
			}
		})
	}
}

func benchInstanceMemory(b *testing.B, records []string) {
	const services, perService = 10, 1000
	b.StopTimer()
	path := filepath.Join(b.TempDir(), "mapmesh.db")
	st, cm := openMemBackend(b, path)
	e := &testEnv{t: b, st: st, cm: cm, ctx: as(testAccount, testRegion)}
	nsID := e.privateNS(e.ctx, "mem.local", "vpc-0123456789abcdef0")
	var wg sync.WaitGroup
	for s := range services {
		svcID := e.service(e.ctx, nsID, fmt.Sprintf("svc-%02d", s), svcOpts{records: records})
		wg.Go(func() {
			for i := range perService {
				id := fmt.Sprintf("%08x-%04x-task", s, i)
				if _, err := cm.RegisterInstance(e.ctx, &cloudmap.RegisterInstanceInput{ServiceID: &svcID, InstanceID: &id,
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
	defer st.Close()
	defer cm.Close()

	before := memtest.HeapInUse()
	b.StartTimer()
	srv := New(cm, Config{})
	b.StopTimer()
	defer srv.Close()
	n := 0
	if z := srv.view.Load().zones["mem.local."]; z != nil {
		for _, sn := range z.services {
			n += len(sn.cache)
		}
	}
	if n != services*perService {
		b.Fatalf("DNS view holds records of %d instances; want %d", n, services*perService)
	}
	after := memtest.HeapInUse()
	b.ReportMetric(float64(int64(after)-int64(before))/(services*perService), "B/instance")
	memtest.WriteHeapProfile(b)
}

// openMemBackend opens the store at path and a Cloud Map backend on it
// whose instance quotas do not limit the benchmark.
func openMemBackend(b *testing.B, path string) (*boltstore.Store, *cloudmap.Backend) {
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
	return st, cm
}
