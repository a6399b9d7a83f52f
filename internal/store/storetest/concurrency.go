package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mapmesh/mapmesh/internal/store"
)

var concurrencyTests = []test{
	{"Concurrent/CASCounter", testCASCounter},
	{"Concurrent/DisjointTxns", testDisjointTxns},
	{"Concurrent/ListThenWatch", testListThenWatch},
}

// testCASCounter has many goroutines increment one counter with
// read-compare-and-swap loops. Every increment must land exactly once.
func testCASCounter(t *testing.T, s store.Store) {
	const (
		workers = 8
		per     = 25
		key     = "/counter"
	)
	ctx := context.Background()
	r0 := mustRev(t, s)
	var conflicts atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for done := 0; done < per; {
				var n int
				var mod int64
				kv, err := s.Get(ctx, key)
				switch {
				case errors.Is(err, store.ErrNotFound):
				case err != nil:
					t.Errorf("Get(%q) error = %v", key, err)
					return
				default:
					if n, err = strconv.Atoi(string(kv.Value)); err != nil {
						t.Errorf("Get(%q) = %q; want a number", key, kv.Value)
						return
					}
					mod = kv.ModRevision
				}
				_, err = s.Txn(ctx, []store.Cond{{Key: key, ModRevision: mod}}, []store.Op{store.Put(key, []byte(strconv.Itoa(n+1)))})
				if errors.Is(err, store.ErrConflict) {
					conflicts.Add(1)
					continue
				}
				if err != nil {
					t.Errorf("Txn(increment %d) error = %v", n, err)
					return
				}
				done++
			}
		})
	}
	wg.Wait()
	kv := mustGet(t, s, key)
	if got, want := string(kv.Value), strconv.Itoa(workers*per); got != want {
		t.Errorf("counter = %s after %d increments (%d conflicts); want %s", got, workers*per, conflicts.Load(), want)
	}
	checkRev(t, s, r0+workers*per)
	t.Logf("%d increments, %d conflicts", workers*per, conflicts.Load())
}

// testDisjointTxns runs concurrent transactions that do not conflict: all
// must succeed, each with its own revision, and a watcher must see every one
// of them in order.
func testDisjointTxns(t *testing.T, s store.Store) {
	const (
		workers = 8
		per     = 25
		total   = workers * per
	)
	ctx := context.Background()
	r0 := mustRev(t, s)
	ch := s.Watch(t.Context(), "/dj/", 0)
	var (
		mu   sync.Mutex
		revs = map[int64]string{} // revision -> key written
	)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				key := fmt.Sprintf("/dj/%d/%d", w, i)
				res, err := s.Txn(ctx, []store.Cond{{Key: key, ModRevision: 0}}, []store.Op{store.Put(key, []byte(key))})
				rev := res.Rev
				if err != nil {
					t.Errorf("Txn(create %q) error = %v", key, err)
					return
				}
				mu.Lock()
				if prev, dup := revs[rev]; dup {
					t.Errorf("Txn(create %q) revision %d; already returned for %q", key, rev, prev)
				}
				revs[rev] = key
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	checkRev(t, s, r0+total)
	for rev := r0 + 1; rev <= r0+total; rev++ {
		key, ok := revs[rev]
		if !ok {
			t.Errorf("no Txn returned revision %d", rev)
			continue
		}
		if kv := mustGet(t, s, key); kv.CreateRevision != rev || kv.ModRevision != rev {
			t.Errorf("Get(%q) revisions = %d/%d; want %d/%d", key, kv.CreateRevision, kv.ModRevision, rev, rev)
		}
	}
	for want := r0 + 1; want <= r0+total; want++ {
		b := recv(t, ch)
		if len(b) != 1 || b[0].Rev != want || b[0].KV.Key != revs[want] {
			t.Fatalf("watch batch = %s; want one put@%d %s", eventsString(b), want, revs[want])
		}
	}
	recvNone(t, ch)
}

// testListThenWatch checks the pattern every projection uses: List a prefix,
// then Watch it from the List revision + 1, while writers keep committing.
// Folding the events into the listed state must give exactly the final
// state, with each event's Prev matching what the follower holds (so no event
// is missed), and revisions strictly increasing past the List revision (so
// none is duplicated).
func testListThenWatch(t *testing.T, s store.Store) {
	const (
		writers   = 4
		perWriter = 60
		followers = 6
		prefix    = "/lw/"
	)
	ctx := context.Background()

	var (
		mu    sync.Mutex
		acked []int64 // revisions returned to the writers
	)
	var progress atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			// Every transaction changes something under prefix: each
			// DeletePrefix comes after puts into the same directory.
			for i := range perWriter {
				dir := fmt.Sprintf("%s%d/", prefix, w)
				var ops []store.Op
				switch {
				case i%13 == 12:
					ops = []store.Op{store.DeletePrefix(dir)}
				case i%5 == 4:
					ops = []store.Op{store.Delete(fmt.Sprintf("%s%d", dir, i%3)), store.Put(fmt.Sprintf("%s%d", dir, i%4), []byte(fmt.Sprint(i)))}
				default:
					ops = []store.Op{store.Put(fmt.Sprintf("%s%d", dir, i%3), []byte(fmt.Sprint(i))), store.Put("/elsewhere", []byte(fmt.Sprint(i)))}
				}
				res, err := s.Txn(ctx, nil, ops)
				if err != nil {
					t.Errorf("Txn(%s) error = %v", opsString(ops), err)
					return
				}
				mu.Lock()
				acked = append(acked, res.Rev)
				mu.Unlock()
				progress.Add(1)
			}
		})
	}

	results := make(chan followResult, followers)
	var finalRev atomic.Int64 // set once writers are done
	var fwg sync.WaitGroup
	for f := range followers {
		// Start the followers at different points of the load.
		deadline := time.Now().Add(waitTimeout)
		for progress.Load() < int64(f*writers*perWriter/followers) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		fwg.Go(func() {
			// A few short rounds first, to hit the List-to-Watch window
			// more often, then one to the end.
			for range 5 {
				if finalRev.Load() != 0 {
					break
				}
				if _, ok := follow(t, s, prefix, f, 2, &finalRev); !ok {
					return
				}
			}
			if res, ok := follow(t, s, prefix, f, 0, &finalRev); ok {
				results <- res
			}
		})
	}
	wg.Wait()
	kvs, fr := mustList(t, s, prefix)
	finalRev.Store(fr)
	fwg.Wait()
	close(results)
	if t.Failed() {
		return
	}

	final := map[string]store.KV{}
	for _, kv := range kvs {
		final[kv.Key] = kv
	}
	slices.Sort(acked)
	n := 0
	for res := range results {
		n++
		if diff := cmp.Diff(final, res.state, kvOpts...); diff != "" {
			t.Errorf("follower from revision %d: folded state != List at %d (-list +folded):\n%s", res.listRev, fr, diff)
		}
		// Every acknowledged change after the List revision was delivered, once.
		var want []int64
		for _, rev := range acked {
			if rev > res.listRev {
				want = append(want, rev)
			}
		}
		if diff := cmp.Diff(want, res.revs, kvOpts...); diff != "" {
			t.Errorf("follower from revision %d: delivered revisions mismatch (-acked +delivered):\n%s", res.listRev, diff)
		}
	}
	if n != followers {
		t.Errorf("%d followers finished; want %d", n, followers)
	}
}

type followResult struct {
	listRev int64
	state   map[string]store.KV
	revs    []int64
}

// follow lists prefix, watches it from the List revision + 1, and folds the
// events into the listed state, checking each event's Prev against it. It
// stops after n batches, or (n = 0) once it has reached finalRev. Every
// transaction of the load touches prefix, so the first batch must be at the
// List revision + 1 exactly.
func follow(t *testing.T, s store.Store, prefix string, id, n int, finalRev *atomic.Int64) (followResult, bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kvs, listRev, err := s.List(ctx, prefix)
	if err != nil {
		t.Errorf("follower %d: List(%q) error = %v", id, prefix, err)
		return followResult{}, false
	}
	res := followResult{listRev: listRev, state: map[string]store.KV{}}
	for _, kv := range kvs {
		res.state[kv.Key] = kv
	}
	ch := s.Watch(ctx, prefix, listRev+1)
	last := listRev
	timeout := time.After(2 * waitTimeout)
	for {
		if fr := finalRev.Load(); (fr != 0 && last >= fr) || (n > 0 && len(res.revs) >= n) {
			return res, true
		}
		var b []store.Event
		select {
		case b = <-ch:
		case <-time.After(10 * time.Millisecond):
			continue // check finalRev again
		case <-timeout:
			t.Errorf("follower %d: stuck at revision %d; final revision %d", id, last, finalRev.Load())
			return res, false
		}
		if len(b) == 0 {
			t.Errorf("follower %d: watch closed or sent an empty batch after revision %d", id, last)
			return res, false
		}
		rev := b[0].Rev
		if len(res.revs) == 0 && rev != listRev+1 {
			t.Errorf("follower %d: List at %d, then Watch from %d: first batch at %d", id, listRev, listRev+1, rev)
			return res, false
		}
		if rev <= last {
			t.Errorf("follower %d: batch at revision %d after %d (List revision %d); want increasing", id, rev, last, listRev)
			return res, false
		}
		last = rev
		res.revs = append(res.revs, rev)
		for _, ev := range b {
			if ev.Err != nil || ev.Rev != rev {
				t.Errorf("follower %d: batch %s mixes revisions or carries an error", id, eventsString(b))
				return res, false
			}
			old, had := res.state[ev.KV.Key]
			if had != (ev.Prev != nil) || (had && !bytes.Equal(old.Value, ev.Prev)) {
				t.Errorf("follower %d: event %s has Prev %q; follower holds %q (present %v): an event was missed or repeated", id, eventsString([]store.Event{ev}), ev.Prev, old.Value, had)
				return res, false
			}
			switch ev.Type {
			case store.EventPut:
				res.state[ev.KV.Key] = ev.KV
			case store.EventDelete:
				delete(res.state, ev.KV.Key)
			}
		}
	}
}
