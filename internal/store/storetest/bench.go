package storetest

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mapmesh/mapmesh/internal/store"
)

// benchValue is the size of the values the benchmarks write: about a Cloud
// Map instance record.
const benchValue = 256

// Bench runs the benchmark set. open must return a new store whose key space
// is empty; Bench closes it when each benchmark ends.
//
// Txn benchmarks report txn/s besides ns/op, so that the serial and the
// parallel figures compare directly: a backend that commits concurrent
// transactions together (group commit) shows a parallel rate well above the
// serial one.
func Bench(b *testing.B, open func(b *testing.B) store.Store) {
	run := func(name string, fn func(b *testing.B, s store.Store)) {
		b.Run(name, func(b *testing.B) {
			s := open(b)
			b.Cleanup(func() { _ = s.Close() })
			fn(b, s)
		})
	}
	run("Get", benchGet)
	run("List1000", benchList1000)
	for _, keys := range []int{1_000, 20_000} {
		for _, reverse := range []bool{false, true} {
			dir := "forward"
			if reverse {
				dir = "reverse"
			}
			run(fmt.Sprintf("ListPage100/keys=%d/%s", keys, dir), func(b *testing.B, s store.Store) {
				benchListPage(b, s, keys, reverse)
			})
		}
	}
	run("Scan20000", benchScan20000)
	run("TxnPut", benchTxnPut)
	for _, writers := range []int{8, 64} {
		run(fmt.Sprintf("TxnPutParallel/writers=%d", writers), func(b *testing.B, s store.Store) {
			benchTxnPutParallel(b, s, writers)
		})
	}
	run("TxnCASParallel/writers=8", benchTxnCASParallel)
	for _, watchers := range []int{1, 100} {
		run(fmt.Sprintf("WatchFanout/watchers=%d", watchers), func(b *testing.B, s store.Store) {
			benchWatchFanout(b, s, watchers)
		})
	}
}

func benchGet(b *testing.B, s store.Store) {
	ctx := context.Background()
	mustPut(b, s, "/bench/get", string(make([]byte, benchValue)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(ctx, "/bench/get"); err != nil {
			b.Fatalf("Get error = %v", err)
		}
	}
}

func benchList1000(b *testing.B, s store.Store) {
	ctx := context.Background()
	value := make([]byte, benchValue)
	// 100 ops per transaction stays within every backend's limits.
	for i := 0; i < 1000; i += 100 {
		ops := make([]store.Op, 100)
		for j := range ops {
			ops[j] = store.Put(fmt.Sprintf("/bench/list/%04d", i+j), value)
		}
		mustTxn(b, s, nil, ops...)
	}
	mustPut(b, s, "/bench/other", "x") // outside the prefix
	b.ReportAllocs()
	for b.Loop() {
		kvs, _, err := s.List(ctx, "/bench/list/")
		if err != nil || len(kvs) != 1000 {
			b.Fatalf("List = %d keys, %v; want 1000", len(kvs), err)
		}
	}
}

func benchTxnPut(b *testing.B, s store.Store) {
	ctx := context.Background()
	value := make([]byte, benchValue)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		key := fmt.Sprintf("/bench/txn/%04d", i%1024)
		i++
		if _, err := s.Txn(ctx, nil, []store.Op{store.Put(key, value)}); err != nil {
			b.Fatalf("Txn error = %v", err)
		}
	}
	reportRate(b)
}

// benchTxnPutParallel has writers goroutines (rounded up to a multiple of
// GOMAXPROCS) write disjoint keys at once.
func benchTxnPutParallel(b *testing.B, s store.Store, writers int) {
	ctx := context.Background()
	value := make([]byte, benchValue)
	var id atomic.Int64
	b.SetParallelism((writers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := id.Add(1)
		for i := 0; pb.Next(); i++ {
			key := fmt.Sprintf("/bench/txn/%d/%04d", w, i%1024)
			if _, err := s.Txn(ctx, nil, []store.Op{store.Put(key, value)}); err != nil {
				b.Errorf("Txn error = %v", err)
				return
			}
		}
	})
	reportRate(b)
}

// benchTxnCASParallel has 8 writers (rounded up to a multiple of GOMAXPROCS)
// each update its own key under a ModRevision condition, the shape of a domain
// write.
func benchTxnCASParallel(b *testing.B, s store.Store) {
	ctx := context.Background()
	value := make([]byte, benchValue)
	var id atomic.Int64
	b.SetParallelism((8 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		key := fmt.Sprintf("/bench/cas/%d", id.Add(1))
		var mod int64
		for pb.Next() {
			res, err := s.Txn(ctx, []store.Cond{{Key: key, ModRevision: mod}}, []store.Op{store.Put(key, value)})
			if err != nil {
				b.Errorf("Txn(cas %q at %d) error = %v", key, mod, err)
				return
			}
			mod = res.Rev
		}
	})
	reportRate(b)
}

// benchWatchFanout measures one write reaching every one of n watchers: each
// iteration commits a transaction and waits until all watchers received it.
func benchWatchFanout(b *testing.B, s store.Store, n int) {
	ctx, cancel := context.WithCancel(context.Background())
	var got sync.WaitGroup // one Done per watcher per transaction
	var watchers sync.WaitGroup
	for range n {
		ch := s.Watch(ctx, "/bench/watch/", 0)
		watchers.Go(func() {
			for batch := range ch {
				if len(batch) == 1 && batch[0].Err != nil {
					b.Errorf("watch error = %v", batch[0].Err)
					continue
				}
				got.Done()
			}
		})
	}
	value := make([]byte, benchValue)
	b.ReportAllocs()
	for b.Loop() {
		got.Add(n)
		if _, err := s.Txn(ctx, nil, []store.Op{store.Put("/bench/watch/k", value)}); err != nil {
			b.Fatalf("Txn error = %v", err)
		}
		got.Wait()
	}
	b.StopTimer()
	cancel()
	watchers.Wait()
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
}

func reportRate(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "txn/s")
	}
}

// benchListPage reads the first page of 100 keys of a prefix of keys keys
// (the last page, reverse): a backend whose pages cost what they hold
// shows the same time for every size.
func benchListPage(b *testing.B, s store.Store, keys int, reverse bool) {
	ctx := context.Background()
	putMany(b, s, "/bench/page/", keys, string(make([]byte, benchValue)))
	mustPut(b, s, "/bench/other", "x") // outside the prefix
	opts := store.PageOptions{Limit: 100, Reverse: reverse}
	b.ReportAllocs()
	for b.Loop() {
		page, err := s.ListPage(ctx, "/bench/page/", opts)
		if err != nil || len(page.KVs) != 100 || !page.More {
			b.Fatalf("ListPage = %d keys, More %v, %v; want 100, true", len(page.KVs), page.More, err)
		}
	}
}

func benchScan20000(b *testing.B, s store.Store) {
	ctx := context.Background()
	const keys = 20_000
	putMany(b, s, "/bench/scan/", keys, string(make([]byte, benchValue)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		_, err := s.Scan(ctx, "/bench/scan/", func(store.KV) error { n++; return nil })
		if err != nil || n != keys {
			b.Fatalf("Scan = %d keys, %v; want %d", n, err, keys)
		}
	}
}
