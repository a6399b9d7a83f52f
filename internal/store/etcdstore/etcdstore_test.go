package etcdstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/mapmesh/mapmesh/internal/store"
	"github.com/mapmesh/mapmesh/internal/store/etcdstore/etcdtest"
	"github.com/mapmesh/mapmesh/internal/store/storetest"
)

// One embedded etcd serves every test of the package; each store gets a
// prefix of its own, so it starts on an empty key space. With
// MAPMESH_ETCD_ENDPOINTS set (comma-separated client URLs), the tests use
// that etcd instead: one no other client writes to, as they check revisions.
var (
	testEndpoints []string
	testClient    *clientv3.Client
	prefixes      atomic.Int64
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if eps := os.Getenv("MAPMESH_ETCD_ENDPOINTS"); eps != "" {
		return runWith(m, strings.Split(eps, ","))
	}
	dir, err := os.MkdirTemp("", "etcdstore-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	e, err := etcdtest.StartEmbedded(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer e.Close()
	return runWith(m, []string{e.Endpoint})
}

func runWith(m *testing.M, endpoints []string) int {
	testEndpoints = endpoints
	var err error
	testClient, err = clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testClient.Close()
	return m.Run()
}

// runID keeps the prefixes of two runs against one etcd apart.
var runID = time.Now().UnixNano()

// newPrefix returns a prefix no other store of this run uses.
func newPrefix() string { return fmt.Sprintf("/test/%x/%d/", runID, prefixes.Add(1)) }

// openTest opens a store of its own client on a fresh prefix, closed when
// the test ends.
func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = newPrefix()
	}
	if opts.Client == nil && opts.Endpoints == nil {
		opts.Endpoints = testEndpoints
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New(%+v) error = %v", opts, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t, Options{}) })
}

// TestConformanceSharedClient runs the suite on stores that share one
// client, as stores of several mapmesh clusters in one process would:
// Close must end the store's calls and watches, not the client.
func TestConformanceSharedClient(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t, Options{Client: testClient}) })
	if _, err := testClient.Get(context.Background(), "/"); err != nil {
		t.Errorf("shared client Get after the stores closed: %v", err)
	}
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store { return openTest(b, Options{}) })
}

func txn(t testing.TB, s store.Store, conds []store.Cond, ops ...store.Op) store.TxnResult {
	t.Helper()
	res, err := s.Txn(context.Background(), conds, ops)
	if err != nil {
		t.Fatalf("Txn(%v) error = %v", ops, err)
	}
	return res
}

// TestPrefixIsolation: two stores on one etcd see only their own keys, and
// the keys are laid out at Prefix+key.
func TestPrefixIsolation(t *testing.T) {
	ctx := context.Background()
	a := openTest(t, Options{Prefix: "/iso/a/"})
	b := openTest(t, Options{Prefix: "/iso/ab/"})
	wa := a.Watch(t.Context(), "", 0)
	txn(t, a, nil, store.Put("k", []byte("a")))
	txn(t, b, nil, store.Put("k", []byte("b")), store.Put("/x", []byte("b")))
	kvs, _, err := a.List(ctx, "")
	if err != nil || len(kvs) != 1 || kvs[0].Key != "k" || string(kvs[0].Value) != "a" {
		t.Errorf("a.List(%q) = %v, %v; want only k=a", "", kvs, err)
	}
	// A DeletePrefix of everything stays inside the store's prefix.
	txn(t, a, nil, store.DeletePrefix(""))
	if kv, err := b.Get(ctx, "k"); err != nil || string(kv.Value) != "b" {
		t.Errorf("b.Get(%q) after a.DeletePrefix(\"\") = %+v, %v; want b", "k", kv, err)
	}
	resp, err := testClient.Get(ctx, "/iso/ab/k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "b" {
		t.Errorf("etcd Get(%q) = %v, %v; want the value b", "/iso/ab/k", resp, err)
	}
	for _, want := range []string{"put k", "delete k"} {
		select {
		case evs := <-wa:
			got := fmt.Sprintf("%s %s", map[store.EventType]string{store.EventPut: "put", store.EventDelete: "delete"}[evs[0].Type], evs[0].KV.Key)
			if len(evs) != 1 || got != want {
				t.Errorf("a's watch got %v; want %s", evs, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("a's watch: no %s", want)
		}
	}
}

// TestNoChangeKeepsRevision checks what the store relies on: etcd creates
// no revision for a write transaction that changes nothing, and answers
// with the current one.
func TestNoChangeKeepsRevision(t *testing.T) {
	s := openTest(t, Options{})
	r := txn(t, s, nil, store.Put("k", []byte("v"))).Rev
	for _, ops := range [][]store.Op{
		{store.Delete("missing")},
		{store.DeletePrefix("nothing/")},
		{store.Put("tmp", nil), store.Delete("tmp")},
		{store.Put("tmp/1", nil), store.DeletePrefix("tmp/")},
	} {
		res := txn(t, s, nil, ops...)
		if res.Changed || res.Rev != r {
			t.Errorf("Txn(%v) = %+v; want revision %d, not changed", ops, res, r)
		}
		resp, err := testClient.Get(context.Background(), "/")
		if err != nil || resp.Header.Revision != r {
			t.Errorf("etcd revision after Txn(%v) = %d, %v; want %d", ops, resp.Header.Revision, err, r)
		}
	}
}

// TestTooLarge checks the limits and that a refused transaction sends
// nothing to etcd.
func TestTooLarge(t *testing.T) {
	s := openTest(t, Options{MaxTxnOps: 4, MaxTxnBytes: 1000})
	ctx := context.Background()
	r0, _ := s.Rev(ctx)
	tests := []struct {
		name  string
		conds []store.Cond
		ops   []store.Op
		ok    bool
	}{
		{name: "4 puts", ops: []store.Op{store.Put("a", nil), store.Put("b", nil), store.Put("c", nil), store.Put("d", nil)}, ok: true},
		{name: "5 puts", ops: []store.Op{store.Put("a", nil), store.Put("b", nil), store.Put("c", nil), store.Put("d", nil), store.Put("e", nil)}},
		{name: "5 conds", conds: make([]store.Cond, 5)},
		// Four ops, but seven etcd ops: the prefix's range splits around
		// the puts under it.
		{name: "split range", ops: []store.Op{store.DeletePrefix("p/"), store.Put("p/1", nil), store.Put("p/2", nil), store.Put("p/3", nil)}},
		{name: "1000 bytes", ops: []store.Op{store.Put("a", make([]byte, 1000))}},
	}
	for _, tc := range tests {
		for i := range tc.conds {
			tc.conds[i].Key = fmt.Sprintf("c%d", i)
		}
		_, err := s.Txn(ctx, tc.conds, tc.ops)
		if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, store.ErrTooLarge)) {
			t.Errorf("%s: Txn error = %v; want ok %v or ErrTooLarge", tc.name, err, tc.ok)
		}
	}
	if r, _ := s.Rev(ctx); r != r0+1 {
		t.Errorf("Rev() = %d; want %d (only the 4 puts applied)", r, r0+1)
	}
}

// TestServerLimit: a transaction within the store's limits that etcd (or
// the client's gRPC limit) refuses still gives ErrTooLarge.
func TestServerLimit(t *testing.T) {
	s := openTest(t, Options{MaxTxnBytes: 4 << 20})
	for _, size := range []int{1600 << 10, 3 << 20} { // over etcd's 1.5 MiB; over gRPC's 2 MiB
		_, err := s.Txn(context.Background(), nil, []store.Op{store.Put("big", make([]byte, size))})
		if !errors.Is(err, store.ErrTooLarge) {
			t.Errorf("Txn(%d bytes) error = %v; want ErrTooLarge", size, err)
		}
	}
}

// TestUnavailable: an etcd that does not answer gives ErrUnavailable
// within RequestTimeout, never a hang, and a watch neither blocks Watch
// nor Close.
func TestUnavailable(t *testing.T) {
	ports, err := etcdtest.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 300 * time.Millisecond
	s := openTest(t, Options{Endpoints: []string{fmt.Sprintf("http://127.0.0.1:%d", ports[0])}, RequestTimeout: timeout, DialTimeout: timeout})
	ctx := context.Background()
	calls := map[string]func() error{
		"Get":  func() error { _, err := s.Get(ctx, "k"); return err },
		"List": func() error { _, _, err := s.List(ctx, ""); return err },
		"Rev":  func() error { _, err := s.Rev(ctx); return err },
		"Txn":  func() error { _, err := s.Txn(ctx, nil, []store.Op{store.Put("k", nil)}); return err },
	}
	for name, call := range calls {
		start := time.Now()
		err := call()
		if took := time.Since(start); took > 3*timeout {
			t.Errorf("%s took %v; want about %v", name, took, timeout)
		}
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s error = %v; want ErrUnavailable", name, err)
		}
	}
	start := time.Now()
	ch := s.Watch(t.Context(), "", 0, store.WithProgress())
	if took := time.Since(start); took > 3*timeout {
		t.Errorf("Watch took %v; want about %v", took, timeout)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close() error = %v", err)
	}
	select {
	case evs := <-ch:
		if len(evs) != 1 || !errors.Is(evs[0].Err, store.ErrClosed) {
			t.Errorf("watch after Close delivered %v; want ErrClosed", evs)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch not ended 5s after Close")
	}
}

// TestWatchCompacted: a watch from a compacted revision, and one that
// falls behind a compaction, end with ErrCompacted.
func TestWatchCompacted(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	r1 := txn(t, s, nil, store.Put("k", []byte("1"))).Rev
	txn(t, s, nil, store.Put("k", []byte("2")))
	r3 := txn(t, s, nil, store.Put("k", []byte("3"))).Rev
	if _, err := testClient.Compact(ctx, r3); err != nil {
		t.Fatalf("Compact(%d): %v", r3, err)
	}
	ch := s.Watch(t.Context(), "", r1)
	select {
	case evs, ok := <-ch:
		if !ok || len(evs) != 1 || !errors.Is(evs[0].Err, store.ErrCompacted) {
			t.Fatalf("Watch from compacted revision %d delivered %v, %v; want ErrCompacted", r1, evs, ok)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event from a watch of a compacted revision")
	}
	if _, ok := <-ch; ok {
		t.Errorf("watch still open after ErrCompacted")
	}
	// At the compaction revision itself, the events are there but not
	// the values before them: the watch cannot give Prev, so it ends with
	// ErrCompacted too. After it, history is complete.
	r4 := txn(t, s, nil, store.Put("k", []byte("4"))).Rev
	for _, tc := range []struct {
		from int64
		want string
	}{{r3, "compacted"}, {r4, "put"}} {
		ch = s.Watch(t.Context(), "", tc.from)
		select {
		case evs := <-ch:
			switch tc.want {
			case "compacted":
				if len(evs) != 1 || !errors.Is(evs[0].Err, store.ErrCompacted) {
					t.Errorf("Watch from %d delivered %v; want ErrCompacted", tc.from, evs)
				}
			case "put":
				if len(evs) != 1 || evs[0].Rev != r4 || string(evs[0].Prev) != "3" {
					t.Errorf("Watch from %d delivered %v; want the put at %d with Prev 3", tc.from, evs, r4)
				}
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no event from a watch from %d", tc.from)
		}
	}
}

// TestListPages: List reads at one revision across pages, even while
// writes go on.
func TestListPages(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{ListPageSize: 7})
	var ops []store.Op
	for i := range 100 {
		ops = append(ops, store.Put(fmt.Sprintf("l/%03d", i), []byte("v")))
		if len(ops) == 50 {
			txn(t, s, nil, ops...)
			ops = nil
		}
	}
	txn(t, s, nil, store.Put("m", nil), store.Put("l", nil)) // around the prefix
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			if _, err := s.Txn(ctx, nil, []store.Op{store.Put(fmt.Sprintf("l/%03d", i), []byte("w")), store.Put(fmt.Sprintf("l/%03da", i), nil)}); err != nil {
				t.Errorf("Txn: %v", err)
				return
			}
		}
	}()
	for range 10 {
		kvs, rev, err := s.List(ctx, "l/")
		if err != nil {
			t.Fatalf("List error = %v", err)
		}
		for i, kv := range kvs {
			if kv.ModRevision > rev {
				t.Fatalf("List at %d returned %s modified at %d", rev, kv.Key, kv.ModRevision)
			}
			if i > 0 && kvs[i-1].Key >= kv.Key {
				t.Fatalf("List keys out of order: %s then %s", kvs[i-1].Key, kv.Key)
			}
		}
		// The revision's view: 100 keys, plus one per Txn of the writer
		// committed by rev.
		if len(kvs) < 100 || len(kvs) > 150 {
			t.Fatalf("List returned %d keys; want 100 to 150", len(kvs))
		}
	}
	<-done
}

// TestProgressFromOtherClient: a WithProgress watch learns of a write by
// another client within ProgressInterval, with no Txn of its own store.
func TestProgressFromOtherClient(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{ProgressInterval: 100 * time.Millisecond})
	r0, err := s.Rev(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ch := s.Watch(t.Context(), "a/", r0+1, store.WithProgress())
	resp, err := testClient.Put(ctx, "/elsewhere", "x")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case evs := <-ch:
			if evs[0].Type != store.EventProgress {
				t.Fatalf("watch of a/ delivered %v; want progress", evs)
			}
			if evs[0].Rev >= resp.Header.Revision {
				return
			}
		case <-deadline:
			t.Fatalf("no progress to %d within 5s", resp.Header.Revision)
		}
	}
}

// TestSlowConsumer: a watch whose consumer lags stops reading etcd once
// its buffer is full, then resumes where it stopped: nothing is lost or
// repeated.
func TestSlowConsumer(t *testing.T) {
	s := openTest(t, Options{WatchBufferBytes: 4 << 10})
	ch := s.Watch(t.Context(), "", 0)
	const n = 300
	var revs []int64
	for i := range n {
		revs = append(revs, txn(t, s, nil, store.Put(fmt.Sprintf("k%d", i%10), make([]byte, 100))).Rev)
	}
	for i := range n {
		select {
		case evs := <-ch:
			if len(evs) != 1 || evs[0].Rev != revs[i] || evs[0].Err != nil {
				t.Fatalf("batch %d = %v; want the put at %d", i, evs, revs[i])
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("batch %d: nothing after 5s", i)
		}
		if i%50 == 0 {
			time.Sleep(20 * time.Millisecond) // let the buffer fill
		}
	}
}

func TestCheckVersion(t *testing.T) {
	for v, ok := range map[string]bool{
		"3.6.16": true, "3.6.0": true, "3.7.3": true, "4.0.0": true, "3.5.13": true, "3.5.21": true, "3.4.31": true,
		"3.4.23": false, "3.5.12": false, "3.5.8": false, "3.3.27": false, "3.6.0-rc.5": true, "3.5.0-alpha.0": false, "nonsense": false,
	} {
		if got := versionOK(v); got != ok {
			t.Errorf("versionOK(%q) = %v; want %v", v, got, ok)
		}
	}
	s := openTest(t, Options{})
	err := s.CheckVersion(context.Background())
	if os.Getenv("MAPMESH_ETCD_ENDPOINTS") != "" {
		t.Logf("CheckVersion() = %v (ErrServerVersion: %v)", err, errors.Is(err, ErrServerVersion))
	} else if err != nil {
		t.Errorf("CheckVersion() on the embedded etcd = %v; want nil", err)
	}
}

// TestMissingPrevKV: an event that etcd sent without its previous value
// (see watcher.batch) gets it from a read at the revision before, or ends
// the watch with ErrCompacted when that revision is compacted.
func TestMissingPrevKV(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	r1 := txn(t, s, nil, store.Put("k", []byte("1"))).Rev
	r2 := txn(t, s, nil, store.Put("k", []byte("2"))).Rev
	r3 := txn(t, s, nil, store.Delete("k")).Rev
	w := &watcher{s: s, wctx: ctx}
	key := []byte(s.key("k"))
	put := &clientv3.Event{Type: clientv3.EventTypePut, Kv: &mvccpb.KeyValue{Key: key, Value: []byte("2"), CreateRevision: r1, ModRevision: r2}}
	del := &clientv3.Event{Type: clientv3.EventTypeDelete, Kv: &mvccpb.KeyValue{Key: key, ModRevision: r3}}
	create := &clientv3.Event{Type: clientv3.EventTypePut, Kv: &mvccpb.KeyValue{Key: key, Value: []byte("1"), CreateRevision: r1, ModRevision: r1}}
	for _, tc := range []struct {
		ev   *clientv3.Event
		prev []byte
	}{{put, []byte("1")}, {del, []byte("2")}, {create, nil}} {
		b, err := w.batch([]*clientv3.Event{tc.ev})
		if err != nil || len(b) != 1 || !bytes.Equal(b[0].Prev, tc.prev) || (tc.prev == nil) != (b[0].Prev == nil) {
			t.Errorf("batch(%v at %d) = %+v, %v; want Prev %q", tc.ev.Type, tc.ev.Kv.ModRevision, b, err, tc.prev)
		}
	}
	if _, err := testClient.Compact(ctx, r3); err != nil {
		t.Fatal(err)
	}
	if b, err := w.batch([]*clientv3.Event{del}); !errors.Is(err, store.ErrCompacted) {
		t.Errorf("batch(delete at %d) after compaction to %d = %+v, %v; want ErrCompacted", r3, r3, b, err)
	}
}
