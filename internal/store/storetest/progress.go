package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mapmesh/mapmesh/internal/store"
)

var progressTests = []test{
	{"Progress/OtherPrefix", testProgressOtherPrefix},
	{"Progress/ConflictAndNoOp", testProgressConflictAndNoOp},
	{"Progress/NeverBehindAChange", testProgressOrder},
	{"Progress/OnlyWhenAsked", testProgressOnlyWhenAsked},
	{"Progress/TwoFollowersOneStore", testProgressTwoFollowers},
}

// reach reads ch until it has delivered revision rev, as a change or as
// progress, and returns the change batches on the way. It checks the
// progress contract as it goes: progress alone in its slice, never going
// backwards, never below a change already delivered.
func reach(t testing.TB, ch <-chan []store.Event, rev int64, last *int64) [][]store.Event {
	t.Helper()
	var changes [][]store.Event
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for *last < rev {
		select {
		case b, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed at revision %d; want it to reach %d", *last, rev)
			}
			if len(b) == 0 {
				t.Fatalf("empty watch batch")
			}
			if b[0].Type == store.EventProgress {
				if len(b) != 1 {
					t.Fatalf("progress event not alone in its batch: %s", eventsString(b))
				}
				if b[0].Rev < *last {
					t.Fatalf("progress to revision %d after revision %d was delivered", b[0].Rev, *last)
				}
				*last = b[0].Rev
				continue
			}
			for _, ev := range b {
				if ev.Err != nil {
					t.Fatalf("watch ended with %v at revision %d; want it to reach %d", ev.Err, *last, rev)
				}
				if ev.Type == store.EventProgress {
					t.Fatalf("progress event inside a change batch: %s", eventsString(b))
				}
				if ev.Rev <= *last {
					t.Fatalf("change at revision %d after revision %d was delivered", ev.Rev, *last)
				}
			}
			*last = b[0].Rev
			changes = append(changes, b)
		case <-timer.C:
			t.Fatalf("watch at revision %d has not reached %d after %v", *last, rev, waitTimeout)
		}
	}
	return changes
}

// testProgressOtherPrefix: a watcher learns that the store passed the
// revisions of another prefix, and only progress (no change) comes for them.
func testProgressOtherPrefix(t *testing.T, s store.Store) {
	r0 := mustRev(t, s)
	a := s.Watch(t.Context(), "/a/", r0+1, store.WithProgress())
	b := s.Watch(t.Context(), "/b/", r0+1, store.WithProgress())
	var lastA, lastB int64 = r0, r0
	rb := mustPut(t, s, "/b/1", "x")
	if got := reach(t, a, rb, &lastA); len(got) != 0 {
		t.Errorf("watch of /a/ delivered %d change batches for a write under /b/; want only progress", len(got))
	}
	if got := reach(t, b, rb, &lastB); len(got) != 1 || got[0][0].KV.Key != "/b/1" {
		t.Errorf("watch of /b/ delivered %v; want the put of /b/1", got)
	}
	ra := mustPut(t, s, "/a/1", "y")
	if got := reach(t, a, ra, &lastA); len(got) != 1 || got[0][0].Rev != ra {
		t.Errorf("watch of /a/ delivered %v; want the put of /a/1 at %d", got, ra)
	}
	// Several writes elsewhere: progress catches up to the last of them.
	var rlast int64
	for i := range 20 {
		rlast = mustPut(t, s, fmt.Sprintf("/b/%d", i), "z")
	}
	reach(t, a, rlast, &lastA)
}

// testProgressConflictAndNoOp: the revision a conflicting or no-op
// transaction returns is one every progress watcher reaches.
func testProgressConflictAndNoOp(t *testing.T, s store.Store) {
	ctx := context.Background()
	r0 := mustPut(t, s, "/b/k", "v")
	a := s.Watch(t.Context(), "/a/", r0+1, store.WithProgress())
	last := r0
	r1 := mustPut(t, s, "/b/k", "w")
	res, err := s.Txn(ctx, []store.Cond{{Key: "/b/k", ModRevision: r0}}, []store.Op{store.Put("/a/x", []byte("no"))})
	if !errors.Is(err, store.ErrConflict) || res.Changed || res.Rev != r1 {
		t.Fatalf("Txn(stale cond) = %+v, %v; want revision %d, not changed, ErrConflict", res, err, r1)
	}
	if got := reach(t, a, res.Rev, &last); len(got) != 0 {
		t.Errorf("watch of /a/ delivered %v after a conflict; want nothing but progress", got)
	}
	res, err = s.Txn(ctx, nil, []store.Op{store.Delete("/a/missing"), store.Delete("/b/missing")})
	if err != nil || res.Changed || res.Rev != r1 {
		t.Fatalf("Txn(deletes of missing keys) = %+v, %v; want revision %d, not changed", res, err, r1)
	}
	reach(t, a, res.Rev, &last)
	res, err = s.Txn(ctx, nil, nil)
	if err != nil || res.Changed || res.Rev != r1 {
		t.Fatalf("Txn(no ops) = %+v, %v; want revision %d, not changed", res, err, r1)
	}
	reach(t, a, res.Rev, &last)
}

// testProgressOrder: under interleaved writes to both prefixes, a watcher
// sees every change of its prefix exactly once, in order, and progress
// never goes behind a change.
func testProgressOrder(t *testing.T, s store.Store) {
	r0 := mustRev(t, s)
	a := s.Watch(t.Context(), "/a/", r0+1, store.WithProgress())
	last := r0
	want := map[int64]bool{}
	var rev int64
	for i := range 200 {
		if i%3 == 0 {
			rev = mustPut(t, s, fmt.Sprintf("/a/%d", i), "v")
			want[rev] = true
		} else {
			rev = mustPut(t, s, fmt.Sprintf("/b/%d", i), "v")
		}
	}
	for _, b := range reach(t, a, rev, &last) {
		if !want[b[0].Rev] {
			t.Errorf("change at revision %d delivered twice or not under /a/", b[0].Rev)
		}
		delete(want, b[0].Rev)
	}
	if len(want) != 0 {
		t.Errorf("%d changes under /a/ never delivered", len(want))
	}
}

// testProgressOnlyWhenAsked: a watch without WithProgress gets no progress.
func testProgressOnlyWhenAsked(t *testing.T, s store.Store) {
	ch := s.Watch(t.Context(), "/a/", 0)
	mustPut(t, s, "/b/1", "x")
	mustPut(t, s, "/b/2", "x")
	recvNone(t, ch)
}

// testProgressTwoFollowers: two followers of different prefixes of one
// store, each waiting for every revision any writer got back, whatever its
// prefix — the wait that hung when a follower could only learn of its own
// prefix's revisions. Concurrent writers on both prefixes, conflicts and
// no-ops included.
func testProgressTwoFollowers(t *testing.T, s store.Store) {
	ctx := context.Background()
	r0 := mustRev(t, s)
	type follower struct {
		prefix string
		ch     <-chan []store.Event
		last   int64
	}
	fs := []*follower{{prefix: "/a/"}, {prefix: "/b/"}}
	for _, f := range fs {
		f.ch = s.Watch(t.Context(), f.prefix, r0+1, store.WithProgress())
		f.last = r0
	}
	var mu sync.Mutex
	var revs []int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			prefix := []string{"/a/", "/b/"}[w%2]
			key := fmt.Sprintf("%sk%d", prefix, w)
			var mod int64
			for i := range 50 {
				var ops []store.Op
				conds := []store.Cond{{Key: key, ModRevision: mod}}
				switch i % 5 {
				case 3: // a no-op
					ops = []store.Op{store.Delete(prefix + "missing")}
				case 4: // a conflict
					conds = []store.Cond{{Key: key, ModRevision: mod + 1_000_000}}
					ops = []store.Op{store.Put(key, []byte("never"))}
				default:
					ops = []store.Op{store.Put(key, fmt.Appendf(nil, "%d", i))}
				}
				res, err := s.Txn(ctx, conds, ops)
				if err != nil && !errors.Is(err, store.ErrConflict) {
					t.Errorf("Txn: %v", err)
					return
				}
				if res.Changed {
					mod = res.Rev
				}
				mu.Lock()
				revs = append(revs, res.Rev)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	var top int64
	for _, r := range revs {
		top = max(top, r)
	}
	for _, f := range fs {
		for _, b := range reach(t, f.ch, top, &f.last) {
			for _, ev := range b {
				if len(ev.KV.Key) < 3 || ev.KV.Key[:3] != f.prefix {
					t.Errorf("follower of %s got %s", f.prefix, ev.KV.Key)
				}
			}
		}
	}
}
