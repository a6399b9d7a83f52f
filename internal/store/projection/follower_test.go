package projection

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mapmesh/mapmesh/internal/store"
	"github.com/mapmesh/mapmesh/internal/store/boltstore"
)

// mapFolder projects a prefix into a map; slow makes Apply lag behind.
type mapFolder struct {
	mu    sync.Mutex
	m     map[string]string
	loads int
	slow  time.Duration
}

func (f *mapFolder) Load(kvs []store.KV, rev int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loads++
	f.m = map[string]string{}
	for _, kv := range kvs {
		f.m[kv.Key] = string(kv.Value)
	}
}

func (f *mapFolder) Apply(evs []store.Event) {
	time.Sleep(f.slow)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ev := range evs {
		if ev.Type == store.EventDelete {
			delete(f.m, ev.KV.Key)
		} else {
			f.m[ev.KV.Key] = string(ev.KV.Value)
		}
	}
}

func (f *mapFolder) get(k string) (string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[k], f.loads
}

func open(t *testing.T, opts boltstore.Options) store.Store {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "p.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestReadYourWrites: after Committed(rev), WaitCommitted returns only once
// the folder has applied that revision.
func TestReadYourWrites(t *testing.T) {
	ctx := context.Background()
	st := open(t, boltstore.Options{})
	if _, err := st.Txn(ctx, nil, []store.Op{store.Put("/p/a", []byte("1"))}); err != nil {
		t.Fatal(err)
	}
	folder := &mapFolder{slow: 20 * time.Millisecond}
	f, err := StartFollower(ctx, st, "/p/", folder, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if v, _ := folder.get("/p/a"); v != "1" {
		t.Fatalf("after Start: /p/a = %q; want the loaded 1", v)
	}
	for i := range 5 {
		res, err := st.Txn(ctx, nil, []store.Op{store.Put("/p/a", fmt.Appendf(nil, "%d", i+2))})
		if err != nil {
			t.Fatal(err)
		}
		rev := res.Rev
		f.Committed(rev)
		if err := f.WaitCommitted(ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
		if v, _ := folder.get("/p/a"); v != fmt.Sprint(i+2) {
			t.Fatalf("after WaitCommitted(%d): /p/a = %q; want %d", rev, v, i+2)
		}
		if f.Rev() < rev {
			t.Fatalf("Rev() = %d after WaitCommitted(%d)", f.Rev(), rev)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	f.Committed(1 << 40)
	if err := f.WaitCommitted(cctx, time.Minute); err == nil {
		t.Error("WaitCommitted for a revision never reached returned nil with a cancelled context")
	}
}

// TestReloadWhenBehind: a folder slower than the store's history gets the
// prefix loaded again instead of missing changes.
func TestReloadWhenBehind(t *testing.T) {
	ctx := context.Background()
	st := open(t, boltstore.Options{HistoryRevisions: 2})
	folder := &mapFolder{slow: 5 * time.Millisecond}
	f, err := StartFollower(ctx, st, "/p/", folder, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var last int64
	for i := range 100 {
		res, err := st.Txn(ctx, nil, []store.Op{store.Put(fmt.Sprintf("/p/%03d", i), []byte("x"))})
		if err != nil {
			t.Fatal(err)
		}
		last = res.Rev
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := f.Wait(wctx, last); err != nil {
		t.Fatalf("Wait(%d): %v", last, err)
	}
	for i := range 100 {
		if v, _ := folder.get(fmt.Sprintf("/p/%03d", i)); v != "x" {
			t.Fatalf("/p/%03d missing after catching up", i)
		}
	}
	if _, loads := folder.get(""); loads < 2 {
		t.Errorf("the folder was loaded %d times; want a reload after falling behind", loads)
	}
	if err := f.Err(); err != nil {
		t.Errorf("Err() = %v", err)
	}
}

// TestWaitOtherPrefix: a follower of one prefix can wait for a revision
// committed under another prefix (progress), and for the revision a
// conflicting or no-op transaction returned — the waits that hung when a
// follower only learned of its own prefix's revisions.
func TestWaitOtherPrefix(t *testing.T) {
	ctx := context.Background()
	st := open(t, boltstore.Options{})
	fa, err := StartFollower(ctx, st, "/a/", &mapFolder{}, nil, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	res, err := st.Txn(ctx, nil, []store.Op{store.Put("/b/1", []byte("x"))})
	if err != nil {
		t.Fatal(err)
	}
	fa.Committed(res.Rev)
	if err := fa.WaitCommitted(ctx, 5*time.Second); err != nil {
		t.Fatalf("WaitCommitted for revision %d committed under /b/: %v", res.Rev, err)
	}
	res, err = st.Txn(ctx, []store.Cond{{Key: "/b/1", ModRevision: 0}}, []store.Op{store.Put("/a/x", nil)})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Txn(stale cond) error = %v; want ErrConflict", err)
	}
	fa.Committed(res.Rev)
	if err := fa.WaitCommitted(ctx, 5*time.Second); err != nil {
		t.Fatalf("WaitCommitted for the conflict's revision %d: %v", res.Rev, err)
	}
}

// TestWaitBounded: a wait for a revision the store never reaches ends with
// ErrBehind (wrapping store.ErrUnavailable) after the limit, and a wait on
// a follower whose store closed ends at once with ErrStopped.
func TestWaitBounded(t *testing.T) {
	ctx := context.Background()
	st := open(t, boltstore.Options{})
	f, err := StartFollower(ctx, st, "/a/", &mapFolder{}, nil, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Committed(1 << 40)
	start := time.Now()
	err = f.WaitCommitted(ctx, 100*time.Millisecond)
	if !errors.Is(err, ErrBehind) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("WaitCommitted(unreached) error = %v; want ErrBehind wrapping store.ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("WaitCommitted(unreached) took %v; want about 100ms", d)
	}
	if err := f.Check(ctx, time.Second); err != nil {
		t.Errorf("Check() of a follower that keeps up = %v; want nil", err)
	}
	st.Close()
	deadline := time.Now().Add(5 * time.Second)
	for f.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	err = f.WaitCommitted(ctx, time.Minute)
	if !errors.Is(err, ErrStopped) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("WaitCommitted after the store closed error = %v; want ErrStopped", err)
	}
	if err := f.Check(ctx, time.Second); !errors.Is(err, ErrStopped) {
		t.Errorf("Check() after the store closed = %v; want ErrStopped", err)
	}
}
