package projection

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mapmesh/mapmesh/internal/store"
	"github.com/mapmesh/mapmesh/internal/store/boltstore"
)

// counters is a toy domain: under <root><account>/<region>/c/<name> an
// integer, folded into a map per partition.
type counters struct{ root string }

type ckey struct{ account, region string }

type cpart struct {
	vals map[string]int
	revs map[string]int64
}

type cchange struct{ name string }

func (d counters) Split(key string) (ckey, string, bool) {
	s, ok := strings.CutPrefix(key, d.root)
	if !ok {
		return ckey{}, "", false
	}
	parts := strings.SplitN(s, "/", 3)
	if len(parts) != 3 {
		return ckey{}, "", false
	}
	return ckey{parts[0], parts[1]}, parts[2], true
}

func (counters) NewPartition(ckey) *cpart {
	return &cpart{vals: map[string]int{}, revs: map[string]int64{}}
}

func (counters) Apply(p *cpart, rest string, ev store.Event) (cchange, bool) {
	name, ok := strings.CutPrefix(rest, "c/")
	if !ok {
		return cchange{}, false
	}
	if ev.Type == store.EventDelete {
		delete(p.vals, name)
		delete(p.revs, name)
	} else {
		n, _ := strconv.Atoi(string(ev.KV.Value))
		p.vals[name], p.revs[name] = n, ev.KV.ModRevision
	}
	return cchange{name: name}, true
}

func (d counters) key(k ckey, name string) string {
	return d.root + k.account + "/" + k.region + "/c/" + name
}

// increment adds one to counter name with a condition on what it read.
func increment(ctx context.Context, v *View[ckey, cpart, cchange], d counters, k ckey, name string) error {
	return v.Update(ctx, k, func(p *cpart, t *Txn) error {
		t.Cond(d.key(k, name), p.revs[name])
		t.Put(d.key(k, name), []byte(strconv.Itoa(p.vals[name]+1)))
		return nil
	})
}

// TestTwoViewsOneStore drives two domains on two prefixes of one store at
// once, with conflicts (every writer of a domain increments the same
// counter), no-op writes and resets of one domain, and checks that no call
// hangs and every acknowledged increment is counted: the scenario that hung
// when a view waited for revisions only the other prefix could reach.
func TestTwoViewsOneStore(t *testing.T) {
	ctx := context.Background()
	st := open(t, boltstore.Options{})
	doms := []counters{{root: "/x/"}, {root: "/y/"}}
	views := make([]*View[ckey, cpart, cchange], 2)
	for i, d := range doms {
		v, err := Start(ctx, st, d.root, counters(d), Options{Name: d.root, MaxWait: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		views[i] = v
	}
	k := ckey{"111111111111", "us-east-1"}
	var acked [2]atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(2 * time.Second)
	for w := range 6 {
		wg.Go(func() {
			i := w % 2
			v, d := views[i], doms[i]
			for n := 0; time.Now().Before(deadline); n++ {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				var err error
				switch {
				case n%7 == 3: // a no-op: only deletes a missing key
					err = v.Update(cctx, k, func(p *cpart, t *Txn) error {
						t.Delete(d.key(k, "missing"))
						return nil
					})
				case n%11 == 5: // a read
					err = v.Read(cctx, k, func(p *cpart) error { return nil })
				default:
					err = increment(cctx, v, d, k, "n")
					if err == nil {
						acked[i].Add(1)
					}
				}
				cancel()
				if err != nil && !errors.Is(err, store.ErrConflict) {
					t.Errorf("view %s: %v", d.root, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i, v := range views {
		var got int
		if err := v.Read(ctx, k, func(p *cpart) error { got = p.vals["n"]; return nil }); err != nil {
			t.Fatal(err)
		}
		if int64(got) != acked[i].Load() {
			t.Errorf("view %s: counter = %d; want the %d acknowledged increments", doms[i].root, got, acked[i].Load())
		}
	}
	// A reset of one domain while the other holds state: the other's next
	// write and read answer at once.
	var reset Txn
	reset.DeletePrefix(doms[0].root)
	if err := views[0].Commit(ctx, &reset); err != nil {
		t.Fatal(err)
	}
	var empty Txn
	empty.Delete(doms[0].key(k, "gone"))
	if err := views[0].Commit(ctx, &empty); err != nil { // nothing to delete: no revision
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := increment(cctx, views[1], doms[1], k, "n"); err != nil {
		t.Fatalf("write after the other domain's reset: %v", err)
	}
	if err := increment(cctx, views[0], doms[0], k, "n"); err != nil {
		t.Fatalf("write after its own reset: %v", err)
	}
	if err := views[0].Read(cctx, k, func(p *cpart) error {
		if p.vals["n"] != 1 {
			return fmt.Errorf("counter after reset and one increment = %d; want 1", p.vals["n"])
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestUpdateHooksAndSubscribers: OnDone learns whether the transaction
// committed; subscribers hear each change once per batch.
func TestUpdateHooksAndSubscribers(t *testing.T) {
	ctx := context.Background()
	st := open(t, boltstore.Options{})
	d := counters{root: "/x/"}
	v, err := Start(ctx, st, d.root, counters(d), Options{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var mu sync.Mutex
	var heard []cchange
	v.Subscribe(func(rev int64, changes []cchange) {
		mu.Lock()
		heard = append(heard, changes...)
		mu.Unlock()
	})
	k := ckey{"a", "r"}
	var outcomes []bool
	err = v.Update(ctx, k, func(p *cpart, t *Txn) error {
		t.OnDone(func(ok bool, _ int64) { outcomes = append(outcomes, ok) })
		for i := range 40 { // one change per name, however many writes
			t.Put(d.key(k, fmt.Sprint(i%20)), []byte("1"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantErr := errors.New("refused")
	err = v.Update(ctx, k, func(p *cpart, t *Txn) error {
		t.OnDone(func(ok bool, _ int64) { outcomes = append(outcomes, ok) })
		t.Put(d.key(k, "z"), []byte("1"))
		return wantErr
	})
	if !errors.Is(err, wantErr) {
		t.Fatalf("Update(decide fails) = %v; want %v", err, wantErr)
	}
	if fmt.Sprint(outcomes) != "[true false]" {
		t.Errorf("OnDone outcomes = %v; want [true false]", outcomes)
	}
	if err := v.Read(ctx, k, func(*cpart) error { return nil }); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(heard) != 20 {
		t.Errorf("subscribers heard %d changes; want 20 distinct ones", len(heard))
	}
}

// TestUpdateGivesUp: a decision that always conflicts ends after
// MaxAttempts with an error wrapping store.ErrConflict, not a hang.
func TestUpdateGivesUp(t *testing.T) {
	ctx := context.Background()
	st := open(t, boltstore.Options{})
	d := counters{root: "/x/"}
	v, err := Start(ctx, st, d.root, counters(d), Options{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	k := ckey{"a", "r"}
	attempts := 0
	err = v.Update(ctx, k, func(p *cpart, t *Txn) error {
		attempts++
		t.Cond(d.key(k, "never"), 1<<40)
		t.Put(d.key(k, "n"), []byte("1"))
		return nil
	})
	if !errors.Is(err, store.ErrConflict) || attempts != MaxAttempts {
		t.Errorf("Update(always conflicting) = %v after %d attempts; want ErrConflict after %d", err, attempts, MaxAttempts)
	}
}

// TestByRank: byRank orders by rank and keeps the store's order within one.
func TestByRank(t *testing.T) {
	var kvs []store.KV
	for i, k := range []string{"c/1", "a/1", "b/1", "c/2", "a/2", "x/1", "b/2"} {
		kvs = append(kvs, store.KV{Key: k, ModRevision: int64(i)})
	}
	rank := map[byte]int{'a': 0, 'b': 1, 'c': 2, 'x': 1 << 30}
	got := byRank(kvs, func(kv store.KV) int { return rank[kv.Key[0]] })
	var keys []string
	for _, kv := range got {
		keys = append(keys, kv.Key)
	}
	if want := []string{"a/1", "a/2", "b/1", "b/2", "c/1", "c/2", "x/1"}; !slices.Equal(keys, want) {
		t.Errorf("byRank = %v; want %v", keys, want)
	}
}
