// Package memtest measures the Go heap for the memory benchmarks of the
// projections (BenchmarkInstanceMemory and its kin), so that each reports
// per-instance bytes the same way.
package memtest

import (
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
)

// HeapInUse is the live heap after a full collection.
func HeapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// WriteHeapProfile writes the heap profile to $MAPMESH_HEAP_PROFILE, if
// set: what the bytes are.
func WriteHeapProfile(tb testing.TB) {
	path := os.Getenv("MAPMESH_HEAP_PROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		tb.Fatal(err)
	}
}
