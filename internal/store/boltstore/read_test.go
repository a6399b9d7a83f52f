package boltstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mapmesh/mapmesh/internal/store"
	"github.com/mapmesh/mapmesh/internal/store/storetest"
)

// model is what the store should hold: key -> value.
type model map[string]string

func (m model) apply(ops []store.Op) {
	for _, op := range ops {
		switch op.Type {
		case store.OpPut:
			m[op.Key] = string(op.Value)
		case store.OpDelete:
			delete(m, op.Key)
		case store.OpDeletePrefix:
			for k := range m {
				if strings.HasPrefix(k, op.Key) {
					delete(m, k)
				}
			}
		}
	}
}

// check compares List of prefix with the model.
func (m model) check(t *testing.T, s *Store, prefix string) {
	t.Helper()
	kvs, _, err := s.List(context.Background(), prefix)
	if err != nil {
		t.Fatalf("List(%q) error = %v", prefix, err)
	}
	got := map[string]string{}
	for _, kv := range kvs {
		got[kv.Key] = string(kv.Value)
	}
	want := map[string]string{}
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			want[k] = v
		}
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("List(%q) mismatch with the model (-want +got):\n%s", prefix, diff)
	}
}

func (m model) txn(t *testing.T, s *Store, ops ...store.Op) {
	t.Helper()
	if _, err := s.Txn(context.Background(), nil, ops); err != nil {
		t.Fatalf("Txn error = %v", err)
	}
	m.apply(ops)
}

// layers returns how many entries over and flush hold.
func (s *Store) layers() (over, flush int) {
	s.ovMu.RLock()
	defer s.ovMu.RUnlock()
	return len(s.over), len(s.flush)
}

// TestReadsAcrossLayers spreads the keys over bbolt, a checkpoint held in
// flight (flush) and the newest writes (over), with deletions in each
// overlay hiding keys below it and new keys falling between the older
// ones, and checks that List, Scan and ListPage read them as one.
func TestReadsAcrossLayers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mapmesh.db")
	opts := Options{CheckpointInterval: time.Hour, CheckpointKeys: 50}
	m := model{}
	prefixes := []string{"/l/", "/l/1", "/l/0", "", "/m"}
	checkAll := func(t *testing.T, s *Store) {
		t.Helper()
		for _, prefix := range prefixes {
			m.check(t, s, prefix)
			storetest.CheckReads(t, s, prefix)
		}
	}

	// bbolt: even keys, and neighbors of the prefix.
	s := openTest(t, path, opts)
	var ops []store.Op
	for i := 0; i < 200; i += 2 {
		ops = append(ops, store.Put(fmt.Sprintf("/l/%03d", i), []byte("bolt")))
	}
	m.txn(t, s, ops...)
	m.txn(t, s, store.Put("/l", []byte("x")), store.Put("/l0", []byte("x")), store.Put("/k/z", []byte("x")), store.Put("/m", []byte("x")))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, opts)
	if over, flush := s.layers(); over != 0 || flush != 0 {
		t.Fatalf("after reopen: over %d, flush %d entries; want all in bbolt", over, flush)
	}
	checkAll(t, s)

	// flush: one transaction of 50 ops or more starts a checkpoint, which
	// the test holds.
	s.testCkptHold.Lock()
	held := true
	release := func() {
		if held {
			held = false
			s.testCkptHold.Unlock()
		}
	}
	t.Cleanup(release)
	ops = nil
	for i := 0; i < 200; i += 10 {
		ops = append(ops, store.Delete(fmt.Sprintf("/l/%03d", i))) // hides bbolt
	}
	for i := 1; i < 200; i += 6 {
		ops = append(ops, store.Put(fmt.Sprintf("/l/%03d", i), []byte("flush"))) // between
	}
	for i := 2; i < 200; i += 10 {
		ops = append(ops, store.Put(fmt.Sprintf("/l/%03d", i), []byte("flush"))) // rewrites
	}
	ops = append(ops, store.Put("/l/", []byte("flush")), store.Put("/l/\xff", []byte("flush")))
	m.txn(t, s, ops...)
	waitFor(t, func() bool { _, flush := s.layers(); return flush > 0 })

	// over: on top of both.
	ops = nil
	for i := 1; i < 200; i += 12 {
		ops = append(ops, store.Delete(fmt.Sprintf("/l/%03d", i))) // hides flush
	}
	for i := 4; i < 200; i += 10 {
		ops = append(ops, store.Delete(fmt.Sprintf("/l/%03d", i))) // hides bbolt
	}
	for i := 0; i < 200; i += 20 {
		ops = append(ops, store.Put(fmt.Sprintf("/l/%03d", i), []byte("over"))) // back again
	}
	for i := 3; i < 200; i += 8 {
		ops = append(ops, store.Put(fmt.Sprintf("/l/%03d", i), []byte("over"))) // between
	}
	m.txn(t, s, ops...)
	m.txn(t, s, store.DeletePrefix("/l/15"), store.Put("/l/155x", []byte("over")))
	if over, flush := s.layers(); over == 0 || flush == 0 {
		t.Fatalf("over %d, flush %d entries; want both in use", over, flush)
	}
	checkAll(t, s)

	// The checkpoint done: bbolt and over.
	release()
	waitFor(t, func() bool { _, flush := s.layers(); return flush == 0 })
	checkAll(t, s)

	// All in bbolt.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, opts)
	checkAll(t, s)
}

// TestReadsRandom checks the reads against a model after random writes,
// with checkpoints running all along.
func TestReadsRandom(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "mapmesh.db"), tinyWAL)
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	m := model{}
	key := func() string { return fmt.Sprintf("/r/%02d/%d", rng.IntN(12), rng.IntN(10)) }
	for i := range 2000 {
		var ops []store.Op
		for range 1 + rng.IntN(4) {
			switch n := rng.IntN(10); {
			case n < 6:
				ops = append(ops, store.Put(key(), fmt.Appendf(nil, "%d", i)))
			case n < 9:
				ops = append(ops, store.Delete(key()))
			default:
				ops = append(ops, store.DeletePrefix(fmt.Sprintf("/r/%02d", rng.IntN(12))))
			}
		}
		m.txn(t, s, ops...)
		if i%250 == 249 {
			m.check(t, s, "/r/")
			storetest.CheckReads(t, s, "/r/0")
			storetest.CheckReads(t, s, fmt.Sprintf("/r/%02d/", rng.IntN(12)))
		}
	}
	if st := s.Stats(); st.Checkpoints < 5 {
		t.Errorf("Stats().Checkpoints = %d; want several", st.Checkpoints)
	}
}

// TestScanAcrossCheckpoint: a checkpoint that starts and ends while a Scan
// runs (over frozen into flush, flush written into bbolt and dropped)
// changes nothing of what the Scan sees.
func TestScanAcrossCheckpoint(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "mapmesh.db"), Options{CheckpointInterval: time.Hour, CheckpointKeys: 100})
	ctx := context.Background()
	m := model{}
	for i := 0; i < 1000; i += 100 {
		var ops []store.Op
		for j := i; j < i+100; j++ {
			ops = append(ops, store.Put(fmt.Sprintf("/s/%04d", j), []byte("v")))
		}
		m.txn(t, s, ops...)
	}
	// Some in over, not yet checkpointed.
	m.txn(t, s, store.Delete("/s/0500"), store.Put("/s/0500a", []byte("over")))
	want, wantRev, err := s.List(ctx, "/s/")
	if err != nil {
		t.Fatal(err)
	}
	var got []store.KV
	rev, err := s.Scan(ctx, "/s/", func(kv store.KV) error {
		if len(got)%300 == 0 {
			// Enough writes to start a checkpoint, then wait for it.
			n := s.checkpoints.Load()
			var ops []store.Op
			for j := range 100 {
				ops = append(ops, store.Put(fmt.Sprintf("/s/%04d", (j*7+len(got))%1000), []byte("new")), store.Delete(fmt.Sprintf("/s/%04dx", j)))
			}
			ops = append(ops, store.DeletePrefix(fmt.Sprintf("/s/0%d", 9-len(got)/300)))
			m.txn(t, s, ops...)
			waitFor(t, func() bool { return s.checkpoints.Load() > n })
		}
		got = append(got, kv)
		return nil
	})
	if err != nil {
		t.Fatalf("Scan error = %v", err)
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Scan across checkpoints mismatch with the List before (-before +scan):\n%s", diff)
	}
	if rev != wantRev {
		t.Errorf("Scan revision = %d; want %d", rev, wantRev)
	}
	m.check(t, s, "/s/")
	if slices.ContainsFunc(got, func(kv store.KV) bool { return string(kv.Value) == "new" }) {
		t.Errorf("Scan delivered a value written after it began")
	}
}
