package boltstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mapmesh/mapmesh/internal/store"
)

// next returns the next batch from ch, failing after a timeout or a close.
func next(t *testing.T, ch <-chan []store.Event) []store.Event {
	t.Helper()
	select {
	case b, ok := <-ch:
		if !ok {
			t.Fatalf("watch closed; want a batch")
		}
		return b
	case <-time.After(5 * time.Second):
		t.Fatalf("no watch batch after 5s")
	}
	return nil
}

// ends waits for the error event and the close, and returns the error.
func ends(t *testing.T, ch <-chan []store.Event) error {
	t.Helper()
	for {
		b := next(t, ch)
		if len(b) == 1 && b[0].Err != nil {
			select {
			case _, ok := <-ch:
				if ok {
					t.Errorf("watch sent a batch after its error event")
				}
			case <-time.After(5 * time.Second):
				t.Errorf("watch not closed after its error event")
			}
			return b[0].Err
		}
	}
}

func TestWatchAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mapmesh.db")
	s := openTest(t, path, Options{})
	var last int64
	for i := range 3 {
		last = txn(t, s, nil, store.Put("/k", []byte(fmt.Sprint(i))))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, Options{})
	// The history starts empty at the current revision.
	for _, from := range []int64{1, last} {
		if err := ends(t, s.Watch(t.Context(), "/", from)); !errors.Is(err, store.ErrCompacted) {
			t.Errorf("Watch from %d after restart at %d ended with %v; want ErrCompacted", from, last, err)
		}
	}
	ch := s.Watch(t.Context(), "/", last+1)
	r := txn(t, s, nil, store.Put("/k", []byte("new")))
	if b := next(t, ch); b[0].Rev != r || string(b[0].Prev) != "2" {
		t.Errorf("Watch from %d: first event at %d with Prev %q; want %d with Prev %q", last+1, b[0].Rev, b[0].Prev, r, "2")
	}
}

func TestWatchHistoryBounds(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		keep int // revisions kept after the writes
	}{
		{"revisions", Options{HistoryRevisions: 5}, 5},
		// Each revision costs eventOverhead + key + value + prev bytes.
		{"bytes", Options{HistoryBytes: 4 * (eventOverhead + 2 + 100 + 100)}, 4},
		// The newest revision is kept whatever its size.
		{"bytes below one revision", Options{HistoryBytes: 1}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, filepath.Join(t.TempDir(), "mapmesh.db"), tc.opts)
			value := make([]byte, 100)
			var revs []int64
			for range 10 {
				revs = append(revs, txn(t, s, nil, store.Put("/k", value)))
			}
			oldest := revs[len(revs)-tc.keep]
			if err := ends(t, s.Watch(t.Context(), "/", oldest-1)); !errors.Is(err, store.ErrCompacted) {
				t.Errorf("Watch from %d ended with %v; want ErrCompacted", oldest-1, err)
			}
			ch := s.Watch(t.Context(), "/", oldest)
			for _, want := range revs[len(revs)-tc.keep:] {
				if b := next(t, ch); b[0].Rev != want {
					t.Fatalf("replayed revision %d; want %d", b[0].Rev, want)
				}
			}
		})
	}
}

// TestWatchSlowWatcher checks that a watcher that does not read never holds
// writers back, and is dropped with ErrCompacted once it falls out of the
// history, while a reading watcher gets everything.
func TestWatchSlowWatcher(t *testing.T) {
	const history, writes = 10, 50
	s := openTest(t, filepath.Join(t.TempDir(), "mapmesh.db"), Options{HistoryRevisions: history})
	slow := s.Watch(t.Context(), "/", 0)
	fast := s.Watch(t.Context(), "/", 0)
	got := make(chan int, 1)
	go func() {
		n := 0
		for b := range fast {
			if b[0].Err != nil {
				break
			}
			n++
			if n == writes {
				break
			}
		}
		got <- n
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range writes {
			txn(t, s, nil, store.Put("/k", []byte(fmt.Sprint(i))))
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("writers blocked by a watcher that does not read")
	}
	if n := <-got; n != writes {
		t.Errorf("reading watcher got %d batches; want %d", n, writes)
	}
	// The slow watcher took the first batch before anyone read it; then it
	// fell out of the history.
	n := 0
	for {
		b := next(t, slow)
		if b[0].Err != nil {
			if !errors.Is(b[0].Err, store.ErrCompacted) {
				t.Errorf("slow watcher ended with %v; want ErrCompacted", b[0].Err)
			}
			break
		}
		n++
	}
	if n >= writes {
		t.Errorf("slow watcher got all %d batches; want it dropped", n)
	}
	if _, ok := <-slow; ok {
		t.Errorf("slow watcher not closed after ErrCompacted")
	}
}

// TestWatchGoroutinesEnd checks that every watch goroutine ends: on ctx, on
// Close once its last event is read (compaction is covered above).
func TestWatchGoroutinesEnd(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "mapmesh.db"), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	txn(t, s, nil, store.Put("/k", nil))
	canceled := s.Watch(ctx, "/", 0)
	replaying := s.Watch(context.Background(), "/", 1)
	closed := s.Watch(context.Background(), "/", 0)
	if b := next(t, replaying); b[0].Rev != 1 {
		t.Fatalf("replay from 1 gave revision %d", b[0].Rev)
	}
	cancel()
	for range canceled {
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []<-chan []store.Event{replaying, closed} {
		if err := ends(t, ch); !errors.Is(err, store.ErrClosed) {
			t.Errorf("watch ended with %v; want ErrClosed", err)
		}
	}
	done := make(chan struct{})
	go func() { s.hub.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("watch goroutines still running 5s after their channels closed")
	}
	select {
	case <-s.done:
	default:
		t.Errorf("committer still running after Close")
	}
}

// TestListThenWatchRace starts List-then-Watch over and over while writers
// commit under the prefix without pause, so that the List often lands between
// a commit and the publication of its events. The first batch must always be
// the revision right after the List, and its Prev values must match it.
func TestListThenWatchRace(t *testing.T) {
	const writers, rounds = 4, 300
	s := openTest(t, filepath.Join(t.TempDir(), "mapmesh.db"), Options{})
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("/r/%d", (w+i)%7)
				if _, err := s.Txn(context.Background(), nil, []store.Op{store.Put(key, []byte(fmt.Sprint(w, i)))}); err != nil {
					t.Errorf("Txn error = %v", err)
					return
				}
			}
		})
	}
	defer func() { stop(); wg.Wait() }()
	for range rounds {
		kvs, rev, err := s.List(ctx, "/r/")
		if err != nil {
			t.Fatal(err)
		}
		state := map[string][]byte{}
		for _, kv := range kvs {
			state[kv.Key] = kv.Value
		}
		wctx, cancel := context.WithCancel(ctx)
		b := next(t, s.Watch(wctx, "/r/", rev+1))
		cancel()
		if b[0].Rev != rev+1 {
			t.Fatalf("List at %d, then Watch from %d: first batch at %d", rev, rev+1, b[0].Rev)
		}
		for _, ev := range b {
			if have, ok := state[ev.KV.Key]; ok != (ev.Prev != nil) || string(have) != string(ev.Prev) {
				t.Fatalf("List at %d, then Watch: event on %s has Prev %q; List had %q", rev, ev.KV.Key, ev.Prev, have)
			}
		}
	}
}
