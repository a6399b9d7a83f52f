package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mapmesh/mapmesh/internal/store"
)

// TestWALCheckpoints writes through many WAL file switches and checkpoints
// while readers read, then reopens: every write is readable all along and
// after the reopen.
func TestWALCheckpoints(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mapmesh.db")
	s := openTest(t, path, tinyWAL)
	ctx := context.Background()
	value := func(i int) []byte { return append(fmt.Appendf(nil, "v%05d|", i), bytes.Repeat([]byte{'x'}, 2000)...) }
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var readErr error
	var mu sync.Mutex
	wg.Go(func() { // a reader racing the checkpoints
		for {
			select {
			case <-stop:
				return
			default:
			}
			kvs, rev, err := s.List(ctx, "/w/")
			if err == nil {
				for _, kv := range kvs {
					if kv.ModRevision > rev {
						err = fmt.Errorf("List at revision %d returned %s at %d", rev, kv.Key, kv.ModRevision)
						break
					}
				}
			}
			if err != nil {
				mu.Lock()
				readErr = err
				mu.Unlock()
				return
			}
		}
	})
	const n = 600
	for i := range n {
		// Each key is rewritten and a third of them deleted again, so that
		// checkpoints carry puts and deletes.
		k := fmt.Sprintf("/w/%03d", i%200)
		txn(t, s, nil, store.Put(k, value(i)))
		if i%3 == 2 {
			txn(t, s, nil, store.Delete(fmt.Sprintf("/w/%03d", (i*7)%200)))
		}
	}
	close(stop)
	wg.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}
	if st := s.Stats(); st.Checkpoints < 5 {
		t.Fatalf("Stats().Checkpoints = %d; want several with a %d-byte WAL", st.Checkpoints, tinyWAL.WALSize)
	}
	want, wantRev, err := s.List(ctx, "/w/")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range want {
		got, err := s.Get(ctx, kv.Key)
		if err != nil || !bytes.Equal(got.Value, kv.Value) || got.ModRevision != kv.ModRevision {
			t.Fatalf("Get(%q) = %v, %v; List has %v", kv.Key, got, err, kv)
		}
	}
	s.Close()
	s = openTest(t, path, tinyWAL)
	got, gotRev, err := s.List(ctx, "/w/")
	if err != nil {
		t.Fatal(err)
	}
	if gotRev != wantRev || len(got) != len(want) {
		t.Fatalf("after reopen: %d keys at revision %d; want %d at %d", len(got), gotRev, len(want), wantRev)
	}
	for i := range got {
		if got[i].Key != want[i].Key || !bytes.Equal(got[i].Value, want[i].Value) || got[i].ModRevision != want[i].ModRevision || got[i].CreateRevision != want[i].CreateRevision {
			t.Fatalf("after reopen: %s@%d; want %s@%d", got[i].Key, got[i].ModRevision, want[i].Key, want[i].ModRevision)
		}
	}
}

func TestDecodeRecords(t *testing.T) {
	r1 := encodeRecord(nil, 1, 2, map[string][]byte{"/a": encodeValue(1, 2, []byte("x")), "/b": nil})
	r2 := encodeRecord(nil, 3, 3, map[string][]byte{"/c": encodeValue(3, 3, nil)})
	stale := encodeRecord(nil, 1, 1, map[string][]byte{"/old": encodeValue(1, 1, nil)})
	torn := r2[:len(r2)-1]
	bad := bytes.Clone(r2)
	bad[len(bad)-1] ^= 0xff
	tests := []struct {
		name string
		buf  []byte
		want int // records decoded
	}{
		{"two records then zeros", append(append(bytes.Clone(r1), r2...), make([]byte, 64)...), 2},
		{"torn last record", append(bytes.Clone(r1), torn...), 1},
		{"bad CRC", append(bytes.Clone(r1), bad...), 1},
		{"an older cycle's record after", append(append(bytes.Clone(r1), r2...), stale...), 2},
		{"a gap", append(bytes.Clone(r1), encodeRecord(nil, 5, 5, nil)...), 1},
		{"empty", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := decodeRecords(tc.buf); len(got) != tc.want {
				t.Errorf("decodeRecords() = %d records; want %d", len(got), tc.want)
			}
		})
	}
	got := decodeRecords(r1)
	if len(got) != 1 || got[0].first != 1 || got[0].last != 2 || len(got[0].entries) != 2 {
		t.Fatalf("decodeRecords(r1) = %+v", got)
	}
}

// FuzzDecodeRecords: the WAL decoder reads whatever is on disk; it never
// panics, and what it returns follows on revision by revision.
func FuzzDecodeRecords(f *testing.F) {
	f.Add(encodeRecord(nil, 1, 2, map[string][]byte{"/a": encodeValue(1, 2, []byte("x")), "/b": nil}))
	f.Add(append(encodeRecord(nil, 7, 7, nil), encodeRecord(nil, 8, 9, map[string][]byte{"/k": encodeValue(8, 9, []byte("v"))})...))
	f.Fuzz(func(t *testing.T, buf []byte) {
		recs := decodeRecords(buf)
		for i := 1; i < len(recs); i++ {
			if recs[i].first != recs[i-1].last+1 {
				t.Fatalf("records %d and %d do not follow on: %d-%d then %d-%d", i-1, i, recs[i-1].first, recs[i-1].last, recs[i].first, recs[i].last)
			}
		}
		for _, r := range recs {
			for _, e := range r.entries {
				if e.value != nil && len(e.value) < headerLen {
					t.Fatalf("entry %q has a %d-byte value", e.key, len(e.value))
				}
			}
		}
	})
}

// TestCheckpointRevision: Stats().CheckpointRevision stays at the opened
// revision while writes wait in the WAL, and reaches the store's revision
// once the idle checkpoint has written them into bbolt; a reopen starts
// from the file's revision.
func TestCheckpointRevision(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mapmesh.db")
	s := openTest(t, path, Options{CheckpointKeys: 1 << 20, CheckpointInterval: 200 * time.Millisecond})
	s.testCkptHold.Lock()
	var rev int64
	for i := range 50 {
		rev = txn(t, s, nil, store.Put(fmt.Sprintf("/c/%02d", i), []byte("v")))
	}
	time.Sleep(400 * time.Millisecond) // the idle checkpoint is due, and held
	if got := s.Stats().CheckpointRevision; got != 0 {
		t.Errorf("CheckpointRevision = %d while the checkpoint is held; want 0", got)
	}
	s.testCkptHold.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().CheckpointRevision != rev {
		if time.Now().After(deadline) {
			t.Fatalf("CheckpointRevision = %d 10 s after the last write; want %d", s.Stats().CheckpointRevision, rev)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openTest(t, path, Options{})
	if got := s2.Stats().CheckpointRevision; got != rev {
		t.Errorf("CheckpointRevision after reopen = %d; want %d", got, rev)
	}
}
