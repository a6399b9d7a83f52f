package boltstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mapmesh/mapmesh/internal/store"
)

// mountTmpfs mounts a tmpfs of size at a new directory, for the test's
// life, or skips the test where that is not possible (not root).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs as a full disk")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s)", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// TestDiskFull: on a full disk, writes fail promptly with store.ErrNoSpace
// (never hang, never half-apply), reads keep answering, writes succeed
// again once space is freed, and every acknowledged write survives a
// restart.
func TestDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "6m")
	path := filepath.Join(dir, "mapmesh.db")
	opts := Options{WALSize: 1 << 20, CheckpointInterval: 10 * time.Millisecond}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open on a tmpfs: %v", err)
	}
	value := make([]byte, 32<<10)
	acked := map[string]bool{}
	var full error
	for i := 0; i < 10_000 && full == nil; i++ {
		key := fmt.Sprintf("/full/%05d", i)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		_, err := s.Txn(ctx, nil, []store.Op{store.Put(key, value)})
		cancel()
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Txn %d took %v; a full disk must fail writes, not stall them", i, d)
		}
		switch {
		case err == nil:
			acked[key] = true
		case errors.Is(err, store.ErrNoSpace):
			full = err
		default:
			t.Fatalf("Txn %d on a filling disk = %v; want nil or ErrNoSpace", i, err)
		}
	}
	if full == nil {
		t.Fatalf("%d writes of 32 KiB fit on a 6 MiB tmpfs; the disk never filled", len(acked))
	}
	t.Logf("disk full after %d writes: %v", len(acked), full)
	// Still full: writes keep failing the same way, quickly; reads answer.
	for range 3 {
		if _, err := s.Txn(context.Background(), nil, []store.Op{store.Put("/full/more", value)}); !errors.Is(err, store.ErrNoSpace) {
			t.Fatalf("Txn on a full disk = %v; want ErrNoSpace", err)
		}
	}
	kvs, _, err := s.List(context.Background(), "/full/")
	if err != nil || len(kvs) != len(acked) {
		t.Fatalf("List on a full disk = %d keys, %v; want the %d acknowledged", len(kvs), err, len(acked))
	}
	// Free space: writes work again.
	if out, err := exec.Command("mount", "-o", "remount,size=256m", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v: %s", err, out)
	}
	var recovered bool
	for i := 0; i < 100 && !recovered; i++ {
		_, err := s.Txn(context.Background(), nil, []store.Op{store.Put("/full/after", value)})
		if err == nil {
			recovered = true
			acked["/full/after"] = true
			break
		}
		if !errors.Is(err, store.ErrNoSpace) {
			t.Fatalf("Txn after freeing space = %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !recovered {
		t.Fatal("writes still fail after space was freed")
	}
	for i := range 50 {
		key := fmt.Sprintf("/full/later/%d", i)
		if _, err := s.Txn(context.Background(), nil, []store.Op{store.Put(key, value)}); err != nil {
			t.Fatalf("Txn after recovery: %v", err)
		}
		acked[key] = true
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = openTest(t, path, opts)
	kvs, _, err = s.List(context.Background(), "/full/")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, kv := range kvs {
		got[kv.Key] = true
	}
	for k := range acked {
		if !got[k] {
			t.Errorf("acknowledged %s missing after a restart", k)
		}
	}
	if len(got) != len(acked) {
		t.Errorf("after a restart: %d keys; want the %d acknowledged", len(got), len(acked))
	}
}

// TestCloseWithFullDisk: Close does not hang when bbolt cannot take the
// write-ahead log's contents; the log replays them at the next Open.
func TestCloseWithFullDisk(t *testing.T) {
	dir := mountTmpfs(t, "4m")
	path := filepath.Join(dir, "mapmesh.db")
	opts := Options{WALSize: 1 << 20, CheckpointInterval: time.Hour, CheckpointKeys: 1 << 20}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Fill the disk beside the store, then write into the WAL (whose
	// blocks exist) what bbolt will have no room for.
	value := make([]byte, 16<<10)
	var acked []string
	for i := range 40 {
		key := fmt.Sprintf("/c/%03d", i)
		if _, err := s.Txn(context.Background(), nil, []store.Op{store.Put(key, value)}); err != nil {
			break
		}
		acked = append(acked, key)
	}
	filler, _ := os.Create(filepath.Join(dir, "filler"))
	_, _ = filler.Write(make([]byte, 8<<20)) // fails part way: the disk is now full
	_ = filler.Close()
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Close hung on a full disk")
	}
	_ = os.Remove(filepath.Join(dir, "filler"))
	s = openTest(t, path, opts)
	for _, k := range acked {
		if _, err := s.Get(context.Background(), k); err != nil {
			t.Errorf("acknowledged %s after Close on a full disk and Open: %v", k, err)
		}
	}
}

// TestDiskFullCheckpointRevision: while a checkpoint cannot be written (a
// full disk), Stats says so and CheckpointRevision stays at the revision
// the file holds, behind the writes waiting in the write-ahead log; once
// space is freed, the checkpoint goes through and catches up with them.
func TestDiskFullCheckpointRevision(t *testing.T) {
	dir := mountTmpfs(t, "4m")
	path := filepath.Join(dir, "mapmesh.db")
	s := openTest(t, path, Options{WALSize: 1 << 20, CheckpointInterval: 20 * time.Millisecond, CheckpointKeys: 1 << 20})
	waitStats := func(what string, ok func(Stats) bool) Stats {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			st := s.Stats()
			if ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 10 s, not %s: %+v", what, st)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	rest := txn(t, s, nil, store.Put("/c/first", []byte("v")))
	waitStats("at rest", func(st Stats) bool { return st.CheckpointRevision == rest })

	// Writes reach the write-ahead log while checkpoints are held; then
	// the disk fills, and the checkpoint that takes them cannot be written.
	s.testCkptHold.Lock()
	value := make([]byte, 16<<10)
	var rev int64
	for i := range 20 {
		rev = txn(t, s, nil, store.Put(fmt.Sprintf("/c/%02d", i), value))
	}
	filler, _ := os.Create(filepath.Join(dir, "filler"))
	_, _ = filler.Write(make([]byte, 8<<20)) // fails part way: the disk is now full
	_ = filler.Close()
	s.testCkptHold.Unlock()
	waitStats("failing", func(st Stats) bool { return st.CheckpointFailing })
	for range 20 { // across several failed attempts
		if st := s.Stats(); st.CheckpointRevision != rest {
			t.Fatalf("CheckpointRevision = %d while checkpoints fail on a full disk; want %d, the file's (writes in the WAL reach %d)",
				st.CheckpointRevision, rest, rev)
		}
		time.Sleep(25 * time.Millisecond)
	}

	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	st := waitStats("caught up", func(st Stats) bool { return !st.CheckpointFailing && st.CheckpointRevision >= rev })
	if st.CheckpointRevision != rev {
		t.Errorf("CheckpointRevision = %d after recovery; want %d, the last write's", st.CheckpointRevision, rev)
	}
}
