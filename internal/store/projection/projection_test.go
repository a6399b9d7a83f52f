package projection

import (
	"context"
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
	f, err := Start(ctx, st, "/p/", folder, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if v, _ := folder.get("/p/a"); v != "1" {
		t.Fatalf("after Start: /p/a = %q; want the loaded 1", v)
	}
	for i := range 5 {
		rev, err := st.Txn(ctx, nil, []store.Op{store.Put("/p/a", fmt.Appendf(nil, "%d", i+2))})
		if err != nil {
			t.Fatal(err)
		}
		f.Committed(rev)
		if err := f.WaitCommitted(ctx); err != nil {
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
	if err := f.WaitCommitted(cctx); err == nil {
		t.Error("WaitCommitted for a revision never reached returned nil with a cancelled context")
	}
}

// TestReloadWhenBehind: a folder slower than the store's history gets the
// prefix loaded again instead of missing changes.
func TestReloadWhenBehind(t *testing.T) {
	ctx := context.Background()
	st := open(t, boltstore.Options{HistoryRevisions: 2})
	folder := &mapFolder{slow: 5 * time.Millisecond}
	f, err := Start(ctx, st, "/p/", folder, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var last int64
	for i := range 100 {
		last, err = st.Txn(ctx, nil, []store.Op{store.Put(fmt.Sprintf("/p/%03d", i), []byte("x"))})
		if err != nil {
			t.Fatal(err)
		}
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
