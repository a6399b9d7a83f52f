package dnsserver

import (
	"fmt"
	"testing"

	"github.com/mapmesh/mapmesh/internal/cloudmap"
)

// BenchmarkBuildService measures building one service of 1,000 SRV
// instances: from nothing, and again after one instance changed (what a
// rebuild during a burst of registrations costs).
func BenchmarkBuildService(b *testing.B) {
	info := cloudmap.ServiceInfo{ID: "srv-x", Name: "svc", Type: "DNS_HTTP", RoutingPolicy: "MULTIVALUE",
		DNSRecords: []cloudmap.DNSRecordInfo{{Type: "SRV", TTL: 60}}}
	insts := make([]cloudmap.InstanceInfo, 1000)
	for i := range insts {
		insts[i] = cloudmap.InstanceInfo{ID: fmt.Sprintf("i-%d", i), Revision: int64(i + 1), Attributes: cloudmap.EncodeAttributes(map[string]string{
			"AWS_INSTANCE_IPV4": fmt.Sprintf("10.0.%d.%d", i/256, i%256), "AWS_INSTANCE_PORT": "8080"})}
	}
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if buildService("example.local.", info, insts, 0, nil) == nil {
				b.Fatal("no node")
			}
		}
	})
	b.Run("one-changed", func(b *testing.B) {
		prev := buildService("example.local.", info, insts, 0, nil)
		insts[500].Revision = 5000
		b.ReportAllocs()
		for b.Loop() {
			if buildService("example.local.", info, insts, 0, prev) == nil {
				b.Fatal("no node")
			}
		}
	})
}
