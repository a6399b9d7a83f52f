package boltstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/mapmesh/mapmesh/internal/store"
	"github.com/mapmesh/mapmesh/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, filepath.Join(t.TempDir(), "mapmesh.db"), Options{})
	})
}

// openTest opens a store that is closed when the test ends.
func openTest(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%q) error = %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func txn(t testing.TB, s *Store, conds []store.Cond, ops ...store.Op) int64 {
	t.Helper()
	res, err := s.Txn(context.Background(), conds, ops)
	if err != nil {
		t.Fatalf("Txn error = %v", err)
	}
	return res.Rev
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mapmesh.db")
	s := openTest(t, path, Options{})
	r1 := txn(t, s, nil, store.Put("/a", []byte("a1")), store.Put("/b", []byte("b1")))
	r2 := txn(t, s, nil, store.Put("/a", []byte("a2")), store.Delete("/b"), store.Put("/c", nil))
	before, rev, err := s.List(ctx, "")
	if err != nil {
		t.Fatalf("List error = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}

	s = openTest(t, path, Options{})
	after, revAfter, err := s.List(ctx, "")
	if err != nil {
		t.Fatalf("List after reopen error = %v", err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("List after reopen mismatch (-before +after):\n%s", diff)
	}
	if rev != r2 || revAfter != r2 {
		t.Errorf("List revision before/after reopen = %d/%d; want %d", rev, revAfter, r2)
	}
	want := store.KV{Key: "/a", Value: []byte("a2"), CreateRevision: r1, ModRevision: r2}
	if kv, err := s.Get(ctx, "/a"); err != nil || !cmp.Equal(kv, want) {
		t.Errorf("Get(%q) after reopen = %+v, %v; want %+v", "/a", kv, err, want)
	}
	if r3 := txn(t, s, nil, store.Put("/a", []byte("a3"))); r3 != r2+1 {
		t.Errorf("first Txn after reopen revision = %d; want %d", r3, r2+1)
	}
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mapmesh.db")
	openTest(t, path, Options{})
	// flock is per open file, so a second Open in this process conflicts
	// just like another process would (TestCrashDurability checks that too).
	start := time.Now()
	s, err := Open(path, Options{LockTimeout: 200 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatalf("second Open(%q) succeeded; want a lock error", path)
	}
	if !errors.Is(err, berrors.ErrTimeout) || !strings.Contains(err.Error(), "locked") {
		t.Errorf("second Open(%q) error = %v; want a lock timeout", path, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("second Open(%q) took %v; want about the 200ms lock timeout", path, d)
	}
}

func TestOpenBadPath(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "not-a-db")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a bbolt file\n", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		root bool // meaningful when running as root
	}{
		{"missing directory", filepath.Join(dir, "missing", "mapmesh.db"), true},
		{"path is a directory", dir, true},
		{"not a bbolt file", notDB, true},
		{"read-only directory", filepath.Join(readOnlyDir(t), "mapmesh.db"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.root && os.Geteuid() == 0 {
				t.Skip("permissions do not bind root")
			}
			s, err := Open(tc.path, Options{})
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded; want an error", tc.path)
			}
			if !strings.HasPrefix(err.Error(), "boltstore: open "+tc.path) {
				t.Errorf("Open(%q) error = %q; want it to name the path", tc.path, err)
			}
		})
	}
}

func readOnlyDir(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	return dir
}

func TestTxnLimits(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		opts    Options
		ops     []store.Op
		wantErr error
	}{
		{"default ops limit", Options{}, puts(DefaultMaxTxnOps, 1), nil},
		{"default ops limit + 1", Options{}, puts(DefaultMaxTxnOps+1, 1), store.ErrTooLarge},
		{"default bytes limit", Options{}, []store.Op{store.Put("k", make([]byte, DefaultMaxTxnBytes-1))}, nil},
		{"default bytes limit + 1", Options{}, []store.Op{store.Put("k", make([]byte, DefaultMaxTxnBytes))}, store.ErrTooLarge},
		{"ops limit", Options{MaxTxnOps: 3}, puts(3, 1), nil},
		{"ops limit + 1", Options{MaxTxnOps: 3}, puts(4, 1), store.ErrTooLarge},
		{"bytes limit", Options{MaxTxnBytes: 100}, []store.Op{store.Put("k", make([]byte, 99))}, nil},
		{"bytes limit + 1", Options{MaxTxnBytes: 100}, []store.Op{store.Put("k", make([]byte, 100))}, store.ErrTooLarge},
		{"bytes count keys", Options{MaxTxnBytes: 100}, puts(11, 5), store.ErrTooLarge}, // 11 * (5 + 5) bytes
		{"key too long", Options{}, []store.Op{store.Put(strings.Repeat("k", 32769), nil)}, store.ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, filepath.Join(t.TempDir(), "mapmesh.db"), tc.opts)
			res, err := s.Txn(ctx, nil, tc.ops)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Txn(%d ops) = %+v, %v; want %v", len(tc.ops), res, err, tc.wantErr)
			}
			kvs, _, _ := s.List(ctx, "")
			if applied := len(kvs) > 0; applied != (tc.wantErr == nil) {
				t.Errorf("Txn(%d ops) applied = %v; want %v", len(tc.ops), applied, tc.wantErr == nil)
			}
		})
	}
}

// puts returns n puts of distinct keys of keyLen bytes with keyLen-byte values.
func puts(n, keyLen int) []store.Op {
	ops := make([]store.Op, n)
	for i := range ops {
		k := fmt.Sprintf("%0*d", keyLen, i)
		ops[i] = store.Put(k, []byte(k))
	}
	return ops
}

func TestTxnInvalidOps(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "mapmesh.db"), Options{})
	tests := []struct {
		name string
		op   store.Op
	}{
		{"put empty key", store.Put("", []byte("v"))},
		{"delete empty key", store.Delete("")},
		{"unknown type", store.Op{Type: 99, Key: "k"}},
	}
	for _, tc := range tests {
		res, err := s.Txn(context.Background(), nil, []store.Op{store.Put("ok", nil), tc.op})
		if err == nil {
			t.Errorf("%s: Txn = %+v, nil; want an error", tc.name, res)
		}
	}
	if kvs, _, _ := s.List(context.Background(), ""); len(kvs) != 0 {
		t.Errorf("List after rejected Txns = %d keys; want 0", len(kvs))
	}
}

// TestBatch holds the committer inside a batch so that the following
// transactions queue up and commit together, and checks that each sees the
// ones before it, fails alone, and gets its own revision.
func TestBatch(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "mapmesh.db"), Options{})
	r0 := txn(t, s, nil, store.Put("/x", []byte("0")))
	watch := s.Watch(t.Context(), "", 0)
	commits0 := s.commits.Load()

	// Holding the committer's test lock stalls it in its next batch.
	s.testHold.Lock()
	type call struct {
		name  string
		ctx   context.Context
		conds []store.Cond
		ops   []store.Op
	}
	canceled, cancel := context.WithCancel(ctx)
	calls := []call{
		{"first, alone", ctx, nil, []store.Op{store.Put("/x", []byte("1"))}},
		{"create", ctx, []store.Cond{{Key: "/k", ModRevision: 0}}, []store.Op{store.Put("/k", []byte("b"))}},
		{"create again", ctx, []store.Cond{{Key: "/k", ModRevision: 0}}, []store.Op{store.Put("/k", []byte("c"))}},
		{"update", ctx, []store.Cond{{Key: "/k", ModRevision: r0 + 2}}, []store.Op{store.Put("/k", []byte("d"))}},
		{"no change", ctx, nil, []store.Op{store.Delete("/missing")}},
		{"canceled", canceled, nil, []store.Op{store.Put("/canceled", nil)}},
		{"delete", ctx, []store.Cond{{Key: "/k", ModRevision: r0 + 3}}, []store.Op{store.Delete("/k")}},
	}
	type res struct {
		rev int64
		err error
	}
	results := make([]res, len(calls))
	batches0 := s.batches.Load()
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() {
			r, err := s.Txn(c.ctx, c.conds, c.ops)
			results[i] = res{r.Rev, err}
		})
		// Wait for the call to be queued (the first one: taken by the
		// committer) before the next, to fix their order.
		if i == 0 {
			waitFor(t, func() bool { return s.batches.Load() == batches0+1 })
			continue
		}
		waitFor(t, func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return len(s.pending) == i
		})
	}
	cancel()
	s.testHold.Unlock()
	wg.Wait()

	want := []res{
		{r0 + 1, nil},
		{r0 + 2, nil},
		{r0 + 2, store.ErrConflict},
		{r0 + 3, nil},
		{r0 + 3, nil},
		{r0 + 3, context.Canceled},
		{r0 + 4, nil},
	}
	for i, c := range calls {
		if results[i].rev != want[i].rev || !errors.Is(results[i].err, want[i].err) {
			t.Errorf("%s: Txn = %d, %v; want %d, %v", c.name, results[i].rev, results[i].err, want[i].rev, want[i].err)
		}
	}
	if got := s.commits.Load() - commits0; got != 2 {
		t.Errorf("commits = %d; want 2 (one alone, then one batch)", got)
	}
	for rev := r0 + 1; rev <= r0+4; rev++ {
		select {
		case b := <-watch:
			if len(b) != 1 || b[0].Rev != rev {
				t.Errorf("watch batch at %d has %d events; want 1", b[0].Rev, len(b))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no watch batch for revision %d", rev)
		}
	}
	if _, err := s.Get(ctx, "/canceled"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(%q) error = %v; want ErrNotFound", "/canceled", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestGroupCommit checks that concurrent writers share commits.
func TestGroupCommit(t *testing.T) {
	const writers, per = 32, 20
	s := openTest(t, filepath.Join(t.TempDir(), "mapmesh.db"), Options{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range per {
				txn(t, s, nil, store.Put(fmt.Sprintf("/g/%d/%d", w, i), []byte("v")))
			}
		})
	}
	wg.Wait()
	commits, applied := s.commits.Load(), s.applied.Load()
	if applied != writers*per {
		t.Errorf("applied = %d; want %d", applied, writers*per)
	}
	if commits >= applied/2 {
		t.Errorf("%d commits for %d transactions from %d writers; want group commits", commits, applied, writers)
	}
	t.Logf("%d transactions in %d commits (%.1f per fsync)", applied, commits, float64(applied)/float64(commits))
}
