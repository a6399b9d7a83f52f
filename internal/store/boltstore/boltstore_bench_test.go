package boltstore

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/mapmesh/mapmesh/internal/store"
	"github.com/mapmesh/mapmesh/internal/store/storetest"
)

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store {
		return openTest(b, filepath.Join(b.TempDir(), "mapmesh.db"), Options{})
	})
}

// BenchmarkGroupCommit reports how many transactions share one commit (one
// fsync) as the number of concurrent writers grows.
func BenchmarkGroupCommit(b *testing.B) {
	procs := runtime.GOMAXPROCS(0)
	for _, want := range []int{1, 8, 64} {
		// RunParallel runs a multiple of GOMAXPROCS goroutines.
		p := max(1, want/procs)
		b.Run(fmt.Sprintf("writers=%d", p*procs), func(b *testing.B) {
			s := openTest(b, filepath.Join(b.TempDir(), "mapmesh.db"), Options{})
			value := make([]byte, 256)
			ctx := context.Background()
			b.SetParallelism(p)
			commits0, applied0 := s.commits.Load(), s.applied.Load()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					if _, err := s.Txn(ctx, nil, []store.Op{store.Put(fmt.Sprintf("/g/%d", i%1024), value)}); err != nil {
						b.Errorf("Txn error = %v", err)
						return
					}
				}
			})
			commits, applied := s.commits.Load()-commits0, s.applied.Load()-applied0
			if commits > 0 {
				b.ReportMetric(float64(applied)/float64(commits), "txn/commit")
			}
			b.ReportMetric(float64(applied)/b.Elapsed().Seconds(), "txn/s")
		})
	}
}
