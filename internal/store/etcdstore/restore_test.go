package etcdstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mapmesh/mapmesh/internal/store"
	"github.com/mapmesh/mapmesh/internal/store/boltstore"
)

// boltSnapshot writes every key of a bolt store that ran the transactions
// txns (each a list of ops) as a snapshot, the way the server's snapshot
// endpoint does (List, then store.WriteSnapshot).
func boltSnapshot(t *testing.T, txns [][]store.Op) (*bytes.Buffer, []store.KV) {
	t.Helper()
	bs, err := boltstore.Open(filepath.Join(t.TempDir(), "mapmesh.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	ctx := context.Background()
	for _, ops := range txns {
		if _, err := bs.Txn(ctx, nil, ops); err != nil {
			t.Fatalf("bolt Txn: %v", err)
		}
	}
	kvs, rev, err := bs.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := store.WriteSnapshot(&buf, rev, kvs); err != nil {
		t.Fatal(err)
	}
	return &buf, kvs
}

func readSnapshot(t *testing.T, b []byte) *store.SnapshotReader {
	t.Helper()
	sr, err := store.ReadSnapshot(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return sr
}

// rawKeys returns the etcd keys under the store's prefix, as they are in
// etcd, with their mod revisions.
func rawKeys(t *testing.T, s *Store) map[string]int64 {
	t.Helper()
	resp, err := testClient.Get(context.Background(), s.Prefix(), clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = kv.ModRevision
	}
	return out
}

// checkRestored checks that s holds exactly want's keys and values, and
// nothing else under its prefix.
func checkRestored(t *testing.T, s *Store, want []store.KV) {
	t.Helper()
	got, _, err := s.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("List after Restore: %d keys; want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Key != want[i].Key || !bytes.Equal(got[i].Value, want[i].Value) {
			t.Fatalf("List after Restore: key %d = %q=%q; want %q=%q", i, got[i].Key, got[i].Value, want[i].Key, want[i].Value)
		}
	}
	raw := rawKeys(t, s)
	if len(raw) != len(want) {
		t.Errorf("etcd holds %d keys under %s; want the snapshot's %d and nothing else", len(raw), s.Prefix(), len(want))
	}
	for _, kv := range want {
		if _, ok := raw[s.Prefix()+kv.Key]; !ok {
			t.Errorf("etcd key %q missing", s.Prefix()+kv.Key)
		}
	}
}

func TestRestore(t *testing.T) {
	ctx := context.Background()
	snap, want := boltSnapshot(t, [][]store.Op{
		{store.Put("/cloudmap/123456789012/us-east-1/ns/ns-1", []byte(`{"v":1,"Name":"example.local"}`)),
			store.Put("/cloudmap/123456789012/us-east-1/svc/srv-1", []byte(`{"v":1}`))},
		{store.Put("/cloudmap/123456789012/us-east-1/svc/srv-1", []byte(`{"v":1,"Name":"web"}`)), // updated
			store.Put("/appmesh/123456789012/us-east-1/mesh/m", []byte{0, 1, 2, 0xff}), // not UTF-8
			store.Put("/empty", nil)},
		{store.Put("/gone", []byte("x"))},
		{store.Delete("/gone")},
	})
	s := openTest(t, Options{})
	rev, err := s.Restore(ctx, readSnapshot(t, snap.Bytes()))
	if err != nil {
		t.Fatalf("Restore = %v", err)
	}
	checkRestored(t, s, want)
	if now, err := s.Rev(ctx); err != nil || now < rev {
		t.Errorf("Rev() = %d, %v; want at least Restore's %d", now, err, rev)
	}

	// A store opened afresh on the prefix, as a server starting on it,
	// serves the same.
	s2 := openTest(t, Options{Prefix: s.Prefix()})
	checkRestored(t, s2, want)

	// Again, into the same (now non-empty) prefix: refused, nothing
	// written.
	before := rawKeys(t, s)
	if _, err := s.Restore(ctx, readSnapshot(t, snap.Bytes())); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("Restore into a non-empty prefix = %v; want ErrNotEmpty", err)
	}
	after := rawKeys(t, s)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("refused Restore changed etcd: %v, then %v", before, after)
	}
}

func TestRestoreRefusesAnyKey(t *testing.T) {
	ctx := context.Background()
	empty, _ := boltSnapshot(t, nil)
	one, _ := boltSnapshot(t, [][]store.Op{{store.Put("/a", []byte("1"))}})
	for _, tc := range []struct {
		name string
		snap []byte
	}{{"empty snapshot", empty.Bytes()}, {"one key", one.Bytes()}} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, Options{})
			txn(t, s, nil, store.Put("/someone/else", []byte("live")))
			before := rawKeys(t, s)
			if _, err := s.Restore(ctx, readSnapshot(t, tc.snap)); !errors.Is(err, ErrNotEmpty) {
				t.Fatalf("Restore over a live key = %v; want ErrNotEmpty", err)
			}
			if after := rawKeys(t, s); fmt.Sprint(before) != fmt.Sprint(after) {
				t.Errorf("refused Restore changed etcd: %v, then %v", before, after)
			}
		})
	}
	s := openTest(t, Options{})
	if _, err := s.Restore(ctx, readSnapshot(t, empty.Bytes())); err != nil {
		t.Errorf("Restore of an empty snapshot into an empty prefix = %v", err)
	}
}

// TestRestoreSplits restores more keys than one transaction holds, by
// count (etcd's default 128 ops) and by size, and checks that all arrive,
// in the number of transactions the limits call for.
func TestRestoreSplits(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		opts      Options
		keys      int
		valueSize int
		wantTxns  int
	}{
		{"by count", Options{}, 1000, 16, (1000 + DefaultMaxTxnOps - 1) / DefaultMaxTxnOps},
		// Each put is about 25 (the test prefix) + 9 (key) + 1000 + 24
		// bytes: 3 fit in 4 KiB beside the condition.
		{"by size", Options{MaxTxnBytes: 4096}, 30, 1000, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ops []store.Op
			var txns [][]store.Op
			for i := range tc.keys {
				ops = append(ops, store.Put(fmt.Sprintf("/k/%06d", i), bytes.Repeat([]byte{byte('a' + i%26)}, tc.valueSize)))
				if len(ops) == 100 {
					txns, ops = append(txns, ops), nil
				}
			}
			txns = append(txns, ops)
			snap, want := boltSnapshot(t, txns)
			s := openTest(t, tc.opts)
			if _, err := s.Restore(ctx, readSnapshot(t, snap.Bytes())); err != nil {
				t.Fatalf("Restore of %d keys = %v", tc.keys, err)
			}
			checkRestored(t, s, want)
			revs := map[int64]bool{}
			for _, r := range rawKeys(t, s) {
				revs[r] = true
			}
			if len(revs) != tc.wantTxns {
				t.Errorf("Restore of %d keys wrote in %d transactions; want %d", tc.keys, len(revs), tc.wantTxns)
			}
		})
	}
}

func TestRestoreTooLarge(t *testing.T) {
	snap, _ := boltSnapshot(t, [][]store.Op{{store.Put("/small", []byte("x")), store.Put("/big", bytes.Repeat([]byte("b"), 5000))}})
	s := openTest(t, Options{MaxTxnBytes: 4096})
	if _, err := s.Restore(context.Background(), readSnapshot(t, snap.Bytes())); !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("Restore of a key larger than MaxTxnBytes = %v; want ErrTooLarge", err)
	}
	if raw := rawKeys(t, s); len(raw) != 0 {
		t.Errorf("Restore refused for size wrote %v", raw)
	}
}

func TestRestoreBadSnapshot(t *testing.T) {
	snap, _ := boltSnapshot(t, [][]store.Op{{store.Put("/a", []byte("1")), store.Put("/b", []byte("2"))}})
	b := bytes.Replace(snap.Bytes(), []byte(`"k":"/b"`), []byte(`"k":"/c"`), 1) // checksum no longer matches
	s := openTest(t, Options{})
	if _, err := s.Restore(context.Background(), readSnapshot(t, b)); !errors.Is(err, store.ErrBadSnapshot) {
		t.Fatalf("Restore of a corrupt snapshot = %v; want ErrBadSnapshot", err)
	}
	if raw := rawKeys(t, s); len(raw) != 0 {
		t.Errorf("Restore of a corrupt snapshot wrote %v", raw)
	}
}

// TestUndoRestore: a restore that fails part way removes what it wrote,
// unless another client wrote under the prefix since its last write.
func TestUndoRestore(t *testing.T) {
	ctx := context.Background()
	snap, _ := boltSnapshot(t, [][]store.Op{{store.Put("/a", []byte("1")), store.Put("/b", []byte("2"))}})
	for _, tc := range []struct {
		name     string
		other    bool // another client writes after the restore
		wantKeys int
	}{{"alone", false, 0}, {"another writer", true, 3}} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, Options{})
			rev, err := s.Restore(ctx, readSnapshot(t, snap.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if tc.other {
				txn(t, s, nil, store.Put("/other", []byte("x")))
			}
			msg := s.undoRestore(ctx, rev, 2, 4)
			if got := len(rawKeys(t, s)); got != tc.wantKeys {
				t.Errorf("undoRestore (%q) left %d keys; want %d", msg, got, tc.wantKeys)
			}
		})
	}
}
