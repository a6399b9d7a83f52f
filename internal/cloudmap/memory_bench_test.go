package cloudmap

import (
	"fmt"
	"sync"
	"testing"

	"github.com/mapmesh/mapmesh/internal/memtest"
)

// BenchmarkInstanceMemory reports the Go heap the Cloud Map view holds per
// registered instance (B/instance), for instances as clients register them:
// an address, a port and two attributes of their own, and the
// CreatorRequestId the SDKs fill in. Registrations go through
// RegisterInstance, so whatever a registration leaves in memory counts; the
// heap is measured after a restart (the view loaded from disk, the store's
// bounded write buffers and history empty), against the same services
// without instances. Run it with -benchtime=1x: every iteration registers
// anew.
func BenchmarkInstanceMemory(b *testing.B) {
	const services, perService = 20, 1000
	for range b.N {
		b.StopTimer()
		e := newEnv(b, Config{Quotas: Quotas{InstancesPerNamespace: 1 << 30, InstancesPerService: 1 << 30}})
		var ids []string
		for s := range services {
			_, id := e.httpService(fmt.Sprintf("mem-%d", s), "api", s%2 == 0)
			ids = append(ids, id)
		}
		e.restart()
		before := memtest.HeapInUse()
		b.StartTimer()
		var wg sync.WaitGroup
		for s, svcID := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perService {
					id, tok := fmt.Sprintf("%08x-%04x-task", s, i), fmt.Sprintf("%08x-aaaa-bbbb-cccc-%012x", s, i)
					_, err := e.b.RegisterInstance(e.ctx, &RegisterInstanceInput{ServiceID: &svcID, InstanceID: &id, CreatorRequestID: &tok,
						Attributes: map[string]string{"AWS_INSTANCE_IPV4": fmt.Sprintf("10.%d.%d.%d", s, i/250, i%250),
							"AWS_INSTANCE_PORT": "8080", "stage": "prod", "version": "v42"}})
					if err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		e.restart()
		after := memtest.HeapInUse()
		b.ReportMetric(float64(after-before)/(services*perService), "B/instance")
		memtest.WriteHeapProfile(b)
		e.close()
	}
}
