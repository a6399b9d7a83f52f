package boltstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mapmesh/mapmesh/internal/store"
)

// rssFileKB is this process's RssFile from /proc/self/status.
func rssFileKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "RssFile:" {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// TestReleaseMapped reads a 24 MB store file (less than a scan reads
// before it drops pages itself), which maps its pages, and checks that
// ReleaseMapped takes them out of RSS and that the store still reads the
// same records afterwards.
func TestReleaseMapped(t *testing.T) {
	c := churn(t, filepath.Join(t.TempDir(), "mapmesh.db"), 6_000, func(int) bool { return true })
	s := openTest(t, c.path, Options{CompactMinSize: -1})
	ctx := context.Background()
	before := rssFileKB(t)
	kvs, _, err := s.List(ctx, "/c/")
	if err != nil || len(kvs) != c.keys-1 { // all but /other
		t.Fatalf("List = %d keys, %v; want %d", len(kvs), err, c.keys-1)
	}
	read := rssFileKB(t)
	if read-before < 16_000 {
		t.Fatalf("RssFile %d kB -> %d kB after reading %d keys of %d bytes: the file is not mapped as expected", before, read, c.keys, churnValue)
	}
	s.ReleaseMapped()
	if released := rssFileKB(t); released > before+(read-before)/4 {
		t.Errorf("RssFile %d kB before reading, %d kB after, %d kB after ReleaseMapped: the pages were not dropped", before, read, released)
	}
	again, _, err := s.List(ctx, "/c/")
	if err != nil || len(again) != len(kvs) {
		t.Fatalf("List after ReleaseMapped = %d keys, %v; want %d", len(again), err, len(kvs))
	}
	for i := range kvs {
		if again[i].Key != kvs[i].Key || string(again[i].Value) != string(kvs[i].Value) || again[i].ModRevision != kvs[i].ModRevision {
			t.Fatalf("key %d differs after ReleaseMapped: %q", i, kvs[i].Key)
		}
	}
}

// TestScanReleasesMapped reads an 80 MB store file, in one scan and then
// page by page (a ListOperations walk), and checks that no more than about
// readRelease of it is mapped at any time.
func TestScanReleasesMapped(t *testing.T) {
	c := churn(t, filepath.Join(t.TempDir(), "mapmesh.db"), 20_000, func(int) bool { return true })
	s := openTest(t, c.path, Options{CompactMinSize: -1})
	before, peak, n := rssFileKB(t), 0, 0
	_, err := s.Scan(context.Background(), "/c/", func(store.KV) error {
		if n++; n%500 == 0 {
			peak = max(peak, rssFileKB(t)-before)
		}
		return nil
	})
	if err != nil || n != c.keys-1 {
		t.Fatalf("Scan = %d keys, %v; want %d", n, err, c.keys-1)
	}
	limit := (readRelease + 8<<20) / 1024
	if peak > limit || peak < 8_000 {
		t.Errorf("RssFile grew by at most %d kB during a scan of %d keys of %d bytes; want between 8,000 and %d", peak, n, churnValue, limit)
	}

	s.ReleaseMapped()
	before, peak, n = rssFileKB(t), 0, 0
	for after := ""; ; {
		page, err := s.ListPage(context.Background(), "/c/", store.PageOptions{After: after, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.KVs)
		peak = max(peak, rssFileKB(t)-before)
		if !page.More {
			break
		}
		after = page.KVs[len(page.KVs)-1].Key
	}
	if n != c.keys-1 || peak > limit || peak < 8_000 {
		t.Errorf("RssFile grew by at most %d kB while %d keys were read in pages of 100; want %d keys, between 8,000 and %d kB", peak, n, c.keys-1, limit)
	}
}

// TestCheckpointReleasesMapped rewrites 12,000 keys that each sit on their
// own page of the file (values of the same size, as a re-registration
// writes). The checkpoint that writes them into bbolt maps most of the file
// (bbolt reads each page it frees, and the kernel maps the pages around
// each page read); the test checks that the pages are dropped as soon as
// it is done, not only releaseEvery later.
func TestCheckpointReleasesMapped(t *testing.T) {
	const keys = 12_000 // 48 MB of pages
	c := churn(t, filepath.Join(t.TempDir(), "mapmesh.db"), 20_000, func(int) bool { return true })
	s := openTest(t, c.path, Options{CompactMinSize: -1, CheckpointKeys: keys, CheckpointInterval: time.Hour, WALSize: 128 << 20})
	s.testCkptHold.Lock() // the checkpoint waits until the baseline is taken
	held := true
	defer func() {
		if held {
			s.testCkptHold.Unlock()
		}
	}()
	before := s.checkpoints.Load()
	value := make([]byte, churnValue)
	value[0] = 1
	perm := rand.Perm(20_000)[:keys]
	for n := 0; n < keys; n += 100 {
		var ops []store.Op
		for _, i := range perm[n : n+100] {
			ops = append(ops, store.Put(fmt.Sprintf("/c/%07d", i), value))
		}
		txn(t, s, nil, ops...)
	}
	s.ReleaseMapped()
	base, peak := rssFileKB(t), 0
	s.testCkptHold.Unlock()
	held = false
	deadline := time.Now().Add(time.Minute)
	for s.checkpoints.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint within a minute")
		}
		peak = max(peak, rssFileKB(t)-base)
		time.Sleep(time.Millisecond)
	}
	if peak < 16_000 {
		t.Fatalf("RssFile grew by %d kB during a checkpoint of %d keys on their own pages; the test expects it to map them", peak, keys)
	}
	after := 0
	for wait := time.Now().Add(time.Second); ; time.Sleep(5 * time.Millisecond) {
		if after = rssFileKB(t) - base; after < 8_000 || time.Now().After(wait) {
			break
		}
	}
	if after >= 8_000 {
		t.Errorf("RssFile still %d kB above its baseline a second after a checkpoint that mapped %d kB more", after, peak)
	}
	kv, err := s.Get(context.Background(), fmt.Sprintf("/c/%07d", perm[0]))
	if err != nil || len(kv.Value) != churnValue || kv.Value[0] != 1 {
		t.Fatalf("Get after the checkpoint = %d bytes, %v; want the value written", len(kv.Value), err)
	}
}
