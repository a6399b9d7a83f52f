package boltstore

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mapmesh/mapmesh/internal/store"
)

// bulkLoad creates a store file at path holding, for each prefix, n[prefix]
// keys prefix+%07d with values of valueLen bytes, at revision 1: what a
// store that wrote them long ago has in bbolt. It is much faster than
// writing them through Txn.
func bulkLoad(tb testing.TB, path string, n map[string]int, valueLen int) {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if _, err := initDB(db); err != nil {
		tb.Fatal(err)
	}
	value := encodeValue(1, 1, make([]byte, valueLen))
	const perTx = 100_000
	for prefix, count := range n {
		for i := 0; i < count; i += perTx {
			err := db.Update(func(tx *bolt.Tx) error {
				b := tx.Bucket(kvBucket)
				b.FillPercent = 1 // appending in key order
				for j := i; j < min(i+perTx, count); j++ {
					if err := b.Put(fmt.Appendf(nil, "%s%07d", prefix, j), value); err != nil {
						return err
					}
				}
				return tx.Bucket(metaBucket).Put(revKey, encodeRev(1))
			})
			if err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := db.Sync(); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkListPage reads a page of 100 keys from a prefix of a thousand
// keys and from one of a million, from either end and from the middle:
// the time must not depend on the prefix's size. Recent writes wait in the
// overlay (no checkpoint), interleaved with and hiding bbolt's keys, so
// the merge is part of it.
func BenchmarkListPage(b *testing.B) {
	path := filepath.Join(b.TempDir(), "mapmesh.db")
	sizes := []int{1_000, 1_000_000}
	n := map[string]int{}
	for _, size := range sizes {
		n[fmt.Sprintf("/p%d/", size)] = size
	}
	start := time.Now()
	bulkLoad(b, path, n, benchValueLen)
	b.Logf("loaded %v keys in %v", n, time.Since(start))
	s := openTest(b, path, Options{CheckpointInterval: time.Hour, CheckpointKeys: 1 << 30})
	ctx := context.Background()
	// The same overlay around each place a page is read from, in both
	// prefixes: every 10th key rewritten, the next one deleted, and a new
	// key after it.
	value := make([]byte, benchValueLen)
	for prefix, size := range n {
		var ops []store.Op
		for _, anchor := range []int{0, size / 2, size - 300} {
			for i := max(0, anchor-300); i < min(size, anchor+300); i += 10 {
				ops = append(ops, store.Put(fmt.Sprintf("%s%07d", prefix, i), value),
					store.Delete(fmt.Sprintf("%s%07d", prefix, i+1)),
					store.Put(fmt.Sprintf("%s%07da", prefix, i+1), value))
			}
		}
		if _, err := s.Txn(ctx, nil, ops); err != nil {
			b.Fatal(err)
		}
	}
	for _, size := range sizes {
		prefix := fmt.Sprintf("/p%d/", size)
		for _, reverse := range []bool{false, true} {
			for _, at := range []string{"end", "middle"} {
				dir := "forward"
				if reverse {
					dir = "reverse"
				}
				b.Run(fmt.Sprintf("keys=%d/%s/from=%s", size, dir, at), func(b *testing.B) {
					opts := store.PageOptions{Limit: 100, Reverse: reverse}
					if at == "middle" {
						opts.After = fmt.Sprintf("%s%07d", prefix, size/2)
					}
					b.ReportAllocs()
					for b.Loop() {
						page, err := s.ListPage(ctx, prefix, opts)
						if err != nil || len(page.KVs) != 100 || !page.More {
							b.Fatalf("ListPage(%q) = %d keys, More %v, %v; want 100, true", prefix, len(page.KVs), page.More, err)
						}
					}
				})
			}
		}
	}
}

// benchValueLen is the value size of the read benchmarks: about a Cloud
// Map operation record.
const benchValueLen = 256

// BenchmarkScanVsList reads 300,000 keys with List and with Scan. Besides
// the bytes allocated (B/op, about the same: both copy every value), it
// reports held-B/op: the heap the caller holds once it has seen the last
// key (List: every key at once; Scan: one).
func BenchmarkScanVsList(b *testing.B) {
	const keys = 300_000
	path := filepath.Join(b.TempDir(), "mapmesh.db")
	bulkLoad(b, path, map[string]int{"/ops/": keys}, benchValueLen)
	s := openTest(b, path, Options{})
	ctx := context.Background()
	// heldSince returns the heap in use beyond base, after a collection.
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	heldSince := func(base uint64) uint64 { return max(heap(), base) - base }
	b.Run("List", func(b *testing.B) {
		var held uint64
		b.ReportAllocs()
		for b.Loop() {
			base := heap()
			kvs, _, err := s.List(ctx, "/ops/")
			if err != nil || len(kvs) != keys {
				b.Fatalf("List = %d keys, %v; want %d", len(kvs), err, keys)
			}
			held = max(held, heldSince(base))
			runtime.KeepAlive(kvs)
		}
		b.ReportMetric(float64(held), "held-B/op")
	})
	b.Run("Scan", func(b *testing.B) {
		var held uint64
		b.ReportAllocs()
		for b.Loop() {
			base := heap()
			n := 0
			_, err := s.Scan(ctx, "/ops/", func(kv store.KV) error {
				if n++; n == keys {
					held = max(held, heldSince(base))
				}
				return nil
			})
			if err != nil || n != keys {
				b.Fatalf("Scan = %d keys, %v; want %d", n, err, keys)
			}
		}
		b.ReportMetric(float64(held), "held-B/op")
	})
}
