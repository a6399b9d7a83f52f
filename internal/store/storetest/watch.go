package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/mapmesh/mapmesh/internal/store"
)

var watchTests = []test{
	{"Watch/Events", testWatchEvents},
	{"Watch/NetChangePerTxn", testWatchNetChange},
	{"Watch/EmptyValue", testWatchEmptyValue},
	{"Watch/DeletePrefix", testWatchDeletePrefix},
	{"Watch/RevisionOrder", testWatchRevisionOrder},
	{"Watch/Prefixes", testWatchPrefixes},
	{"Watch/FromRevReplay", testWatchFromRev},
	{"Watch/FromRevFuture", testWatchFromRevFuture},
	{"Watch/FromRevZeroIsNext", testWatchFromRevZero},
	{"Watch/ContextCancel", testWatchCancel},
	{"Watch/StoreClose", testWatchStoreClose},
}

func testWatchEvents(t *testing.T, s store.Store) {
	ch := s.Watch(t.Context(), "/w/", 0)
	r1 := mustPut(t, s, "/w/a", "a1", "/w/b", "b1")
	mustPut(t, s, "/x/c", "c1") // outside the prefix: no batch
	r3 := mustTxn(t, s, nil, store.Put("/w/a", []byte("a2")), store.Delete("/w/b"), store.Delete("/w/missing"))
	recvBatch(t, ch,
		putEvent(r1, "/w/a", "a1", r1, nil),
		putEvent(r1, "/w/b", "b1", r1, nil),
	)
	recvBatch(t, ch,
		putEvent(r3, "/w/a", "a2", r1, []byte("a1")),
		deleteEvent(r3, "/w/b", []byte("b1")),
	)
	recvNone(t, ch)
}

func testWatchNetChange(t *testing.T, s store.Store) {
	r0 := mustPut(t, s, "/n/a", "a0", "/n/b", "b0")
	ch := s.Watch(t.Context(), "/n/", 0)
	put := func(k, v string) store.Op { return store.Put(k, []byte(v)) }
	r1 := mustTxn(t, s, nil,
		// Written twice: one put, with Prev from before the transaction.
		put("/n/a", "a1"), put("/n/a", "a2"),
		// Removed.
		store.Delete("/n/b"),
		// Created and removed: no event.
		put("/n/c", "c1"), store.Delete("/n/c"),
		// Created.
		put("/n/d", "d1"),
	)
	recvBatch(t, ch,
		putEvent(r1, "/n/a", "a2", r0, []byte("a0")),
		deleteEvent(r1, "/n/b", []byte("b0")),
		putEvent(r1, "/n/d", "d1", r1, nil),
	)
	recvNone(t, ch)
}

// testWatchEmptyValue: a key whose value is empty exists. Its Prev is
// empty, not nil (nil means "did not exist"), which is what a follower
// checks; Get and List find it. (etcd sends an empty value as no value at
// all, so a backend on it must tell the two apart itself.)
func testWatchEmptyValue(t *testing.T, s store.Store) {
	ch := s.Watch(t.Context(), "/e/", 0)
	r1 := mustTxn(t, s, nil, store.Put("/e/k", nil), store.Put("/e/j", []byte{}))
	if kv := mustGet(t, s, "/e/k"); len(kv.Value) != 0 || kv.ModRevision != r1 {
		t.Errorf("Get(%q) = %q@%d; want an empty value at %d", "/e/k", kv.Value, kv.ModRevision, r1)
	}
	if kvs, _ := mustList(t, s, "/e/"); len(kvs) != 2 {
		t.Errorf("List(%q) = %d keys; want 2", "/e/", len(kvs))
	}
	r2 := mustTxn(t, s, nil, store.Put("/e/k", []byte("v")), store.Delete("/e/j"))
	recvBatch(t, ch, putEvent(r1, "/e/j", "", r1, nil), putEvent(r1, "/e/k", "", r1, nil))
	b := recv(t, ch)
	if len(b) != 2 {
		t.Fatalf("watch batch = %s; want 2 events at %d", eventsString(b), r2)
	}
	for _, ev := range b {
		if ev.Rev != r2 || ev.Prev == nil || len(ev.Prev) != 0 {
			t.Errorf("event %s at %d has Prev %#v; want an empty, non-nil Prev at %d", eventsString([]store.Event{ev}), ev.Rev, ev.Prev, r2)
		}
	}
	recvNone(t, ch)
}

func testWatchDeletePrefix(t *testing.T, s store.Store) {
	mustPut(t, s, "/d/a", "a", "/d/b", "b", "/d/c/x", "x", "/dx", "dx")
	all := s.Watch(t.Context(), "", 0)
	sub := s.Watch(t.Context(), "/d/c/", 0)
	r := mustTxn(t, s, nil, store.DeletePrefix("/d/"))
	recvBatch(t, all,
		deleteEvent(r, "/d/a", []byte("a")),
		deleteEvent(r, "/d/b", []byte("b")),
		deleteEvent(r, "/d/c/x", []byte("x")),
	)
	recvBatch(t, sub, deleteEvent(r, "/d/c/x", []byte("x")))
	recvNone(t, all)
	recvNone(t, sub)
}

func testWatchRevisionOrder(t *testing.T, s store.Store) {
	ch := s.Watch(t.Context(), "/o/", 0)
	const n = 50
	revs := make([]int64, n)
	for i := range n {
		revs[i] = mustPut(t, s, "/o/k", fmt.Sprint(i), fmt.Sprintf("/o/n/%d", i), "n")
		if i%10 == 0 {
			mustPut(t, s, "/other", fmt.Sprint(i))
		}
	}
	for i := range n {
		b := recv(t, ch)
		if len(b) != 2 {
			t.Fatalf("batch #%d = %s; want 2 events", i, eventsString(b))
		}
		for _, ev := range b {
			if ev.Rev != revs[i] || ev.KV.ModRevision != revs[i] {
				t.Fatalf("batch #%d = %s; want revision %d", i, eventsString(b), revs[i])
			}
		}
	}
	recvNone(t, ch)
}

func testWatchPrefixes(t *testing.T, s store.Store) {
	a := s.Watch(t.Context(), "/a/", 0)
	b := s.Watch(t.Context(), "/b/", 0)
	all := s.Watch(t.Context(), "", 0)
	r1 := mustPut(t, s, "/a/1", "a1", "/b/1", "b1")
	r2 := mustPut(t, s, "/a/2", "a2")
	r3 := mustPut(t, s, "/c/1", "c1")
	recvBatch(t, a, putEvent(r1, "/a/1", "a1", r1, nil))
	recvBatch(t, a, putEvent(r2, "/a/2", "a2", r2, nil))
	recvBatch(t, b, putEvent(r1, "/b/1", "b1", r1, nil))
	recvBatch(t, all, putEvent(r1, "/a/1", "a1", r1, nil), putEvent(r1, "/b/1", "b1", r1, nil))
	recvBatch(t, all, putEvent(r2, "/a/2", "a2", r2, nil))
	recvBatch(t, all, putEvent(r3, "/c/1", "c1", r3, nil))
	recvNone(t, a)
	recvNone(t, b)
	recvNone(t, all)
}

func testWatchFromRev(t *testing.T, s store.Store) {
	var revs []int64
	for i := range 5 {
		revs = append(revs, mustPut(t, s, "/h/k", fmt.Sprint(i)))
		mustPut(t, s, "/other/k", fmt.Sprint(i))
	}
	create := revs[0]
	ch := s.Watch(t.Context(), "/h/", revs[2])
	recvBatch(t, ch, putEvent(revs[2], "/h/k", "2", create, []byte("1")))
	recvBatch(t, ch, putEvent(revs[3], "/h/k", "3", create, []byte("2")))
	recvBatch(t, ch, putEvent(revs[4], "/h/k", "4", create, []byte("3")))
	// Replay flows into live events.
	r := mustTxn(t, s, nil, store.Delete("/h/k"))
	recvBatch(t, ch, deleteEvent(r, "/h/k", []byte("4")))
	recvNone(t, ch)

	// Starting between two matching revisions replays from the next one.
	ch = s.Watch(t.Context(), "/h/", revs[4]+1)
	recvBatch(t, ch, deleteEvent(r, "/h/k", []byte("4")))
	recvNone(t, ch)
}

func testWatchFromRevFuture(t *testing.T, s store.Store) {
	r0 := mustRev(t, s)
	ch := s.Watch(t.Context(), "/f/", r0+3)
	mustPut(t, s, "/f/k", "1")
	mustPut(t, s, "/f/k", "2")
	r3 := mustPut(t, s, "/f/k", "3")
	if r3 != r0+3 {
		t.Fatalf("third Txn revision = %d; want %d", r3, r0+3)
	}
	recvBatch(t, ch, putEvent(r3, "/f/k", "3", r0+1, []byte("2")))
	recvNone(t, ch)
}

func testWatchFromRevZero(t *testing.T, s store.Store) {
	mustPut(t, s, "/z/k", "0")
	for _, name := range []string{"zero", "rev+1"} {
		from := int64(0)
		if name == "rev+1" {
			from = mustRev(t, s) + 1
		}
		ctx, cancel := context.WithCancel(t.Context())
		ch := s.Watch(ctx, "/z/", from)
		recvNone(t, ch) // nothing from the past
		r := mustPut(t, s, "/z/k", name)
		kv := mustGet(t, s, "/z/k")
		if b := recv(t, ch); len(b) != 1 || b[0].Rev != r || string(b[0].KV.Value) != name || b[0].KV.CreateRevision != kv.CreateRevision {
			t.Errorf("Watch(%q, %d) batch = %s; want put@%d /z/k=%q", "/z/", from, eventsString(b), r, name)
		}
		cancel()
	}
}

func testWatchCancel(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	ch := s.Watch(ctx, "/", 0)
	r := mustPut(t, s, "/k", "v")
	recvBatch(t, ch, putEvent(r, "/k", "v", r, nil))
	cancel()
	mustPut(t, s, "/k", "after cancel")
	for _, b := range recvClosed(t, ch) {
		for _, ev := range b {
			if ev.Err != nil {
				t.Errorf("Watch delivered error %v after ctx was canceled; want a plain close", ev.Err)
			}
		}
	}
	// The store is fine and other watches go on.
	ch = s.Watch(t.Context(), "/", 0)
	r = mustPut(t, s, "/k", "again")
	recvBatch(t, ch, putEvent(r, "/k", "again", mustGet(t, s, "/k").CreateRevision, []byte("after cancel")))

	// A watch started with a done context just closes.
	done, cancelDone := context.WithCancel(t.Context())
	cancelDone()
	recvClosed(t, s.Watch(done, "/", 0))
}

func testWatchStoreClose(t *testing.T, s store.Store) {
	ch := s.Watch(t.Context(), "/", 0)
	idle := s.Watch(t.Context(), "/idle/", 0)
	r := mustPut(t, s, "/k", "v")
	recvBatch(t, ch, putEvent(r, "/k", "v", r, nil))
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v; want nil", err)
	}
	for name, ch := range map[string]<-chan []store.Event{"busy": ch, "idle": idle} {
		_, err := recvErr(t, ch)
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s watch ended with %v; want ErrClosed", name, err)
		}
	}
	// Watch after Close reports ErrClosed at once.
	if _, err := recvErr(t, s.Watch(t.Context(), "/", 0)); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Watch after Close ended with %v; want ErrClosed", err)
	}
}
