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
	"github.com/mapmesh/mapmesh/internal/store/boltstore"
)

// BenchmarkSyncService: what one change to a service with 1,000 checked
// instances costs the sync loop when nothing about its checks changed (a
// health write of its own, or a re-registration with the same attributes).
func BenchmarkSyncService(b *testing.B) {
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "mapmesh.db"), boltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	q := cloudmap.DefaultQuotas
	q.HealthCheckedInstancesPerAccount = 1 << 20 // above the default cap of 200
	cm, err := cloudmap.New(context.Background(), st, cloudmap.Config{Quotas: q})
	if err != nil {
		b.Fatal(err)
	}
	defer cm.Close()
	ctx := awsapi.WithCaller(context.Background(), awsapi.Caller{Account: testAccount, Region: testRegion})
	if _, err := cm.CreatePublicDnsNamespace(ctx, &cloudmap.CreatePublicDnsNamespaceInput{Name: str("example.com")}); err != nil {
		b.Fatal(err)
	}
	ns, err := cm.ListNamespaces(ctx, &cloudmap.ListNamespacesInput{})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := cm.CreateService(ctx, &cloudmap.CreateServiceInput{Name: str("web"), NamespaceID: ns.Namespaces[0].ID,
		DNSConfig:         &cloudmap.DNSConfig{DNSRecords: []cloudmap.DNSRecord{{Type: str("A"), TTL: new(int64(60))}}},
		HealthCheckConfig: &cloudmap.HealthCheckConfig{Type: str("TCP")}})
	if err != nil {
		b.Fatal(err)
	}
	const n = 1000
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				id := fmt.Sprint("i-", i)
				if _, err := cm.RegisterInstance(ctx, &cloudmap.RegisterInstanceInput{ServiceID: svc.Service.ID, InstanceID: &id,
					Attributes: map[string]string{"AWS_INSTANCE_IPV4": fmt.Sprintf("10.0.%d.%d", i/250, i%250), "AWS_INSTANCE_PORT": "80"}}); err != nil {
					panic(err)
				}
			}
		})
	}
	wg.Wait()
	never := func(ctx context.Context, _ target) error { <-ctx.Done(); return ctx.Err() }
	c, err := Start(cm, Config{Interval: time.Hour, probe: never})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	k := svcKey{testAccount, testRegion, *svc.Service.ID}
	for c.Stats().Checks < n {
		time.Sleep(time.Millisecond)
	}
	b.ReportAllocs()
	for b.Loop() {
		c.syncService(k, false)
	}
}
