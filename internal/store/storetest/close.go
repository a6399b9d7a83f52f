package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mapmesh/mapmesh/internal/store"
)

var closeTests = []test{
	{"Close/ErrClosedAfter", testErrClosedAfter},
	{"Close/WhileWriting", testCloseWhileWriting},
}

func testErrClosedAfter(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustPut(t, s, "/k", "v")
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v; want nil", err)
	}
	if _, err := s.Get(ctx, "/k"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Get after Close error = %v; want ErrClosed", err)
	}
	if _, _, err := s.List(ctx, "/"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("List after Close error = %v; want ErrClosed", err)
	}
	if _, err := s.ListPage(ctx, "/", store.PageOptions{}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("ListPage after Close error = %v; want ErrClosed", err)
	}
	if _, err := s.Scan(ctx, "/", func(store.KV) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Scan after Close error = %v; want ErrClosed", err)
	}
	if _, err := s.Rev(ctx); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Rev after Close error = %v; want ErrClosed", err)
	}
	if _, err := s.Txn(ctx, nil, []store.Op{store.Put("/k", []byte("w"))}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Txn after Close error = %v; want ErrClosed", err)
	}
	if _, err := s.Txn(ctx, nil, nil); !errors.Is(err, store.ErrClosed) {
		t.Errorf("empty Txn after Close error = %v; want ErrClosed", err)
	}
	if _, err := recvErr(t, s.Watch(ctx, "/", 0)); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Watch after Close ended with %v; want ErrClosed", err)
	}
	if err := s.Close(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("second Close() error = %v; want ErrClosed", err)
	}
}

// testCloseWhileWriting closes the store under a write load: every Txn in
// flight must return, either applied or with ErrClosed, and none may hang.
func testCloseWhileWriting(t *testing.T, s store.Store) {
	const writers = 8
	ctx := context.Background()
	var ok atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := 0; ; i++ {
				key := fmt.Sprintf("/cw/%d/%d", w, i)
				_, err := s.Txn(ctx, nil, []store.Op{store.Put(key, []byte("v"))})
				if errors.Is(err, store.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Txn(put %q) during Close error = %v; want nil or ErrClosed", key, err)
					return
				}
				ok.Add(1)
			}
		})
	}
	deadline := time.Now().Add(waitTimeout)
	for ok.Load() < writers && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close() under load error = %v; want nil", err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatalf("writers still blocked in Txn %v after Close", waitTimeout)
	}
}
