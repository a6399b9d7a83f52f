package projection

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/mapmesh/mapmesh/internal/store"
)

// Domain is what a domain package (cloudmap, appmesh) supplies to a View:
// how its keys split into partitions (an account and a region) and how an
// event folds into a partition. The View calls its methods from the
// follower's goroutine with its write lock held, so they need no locking
// of their own for partition state, and must not block.
type Domain[K comparable, P any, C comparable] interface {
	// Split returns the partition a store key belongs to and the rest of
	// the key after the partition's prefix; ok is false for a key outside
	// the domain's layout (it is then ignored).
	Split(key string) (k K, rest string, ok bool)
	// NewPartition returns an empty partition.
	NewPartition(k K) *P
	// Apply folds one event on the key k+rest into its partition and
	// returns what changed, for subscribers; ok false when subscribers
	// need not hear of it.
	Apply(p *P, rest string, ev store.Event) (c C, ok bool)
}

// LoadOrderer is implemented by Domains whose Load must see some keys
// before others (parents before children); smaller ranks come first.
type LoadOrderer interface {
	LoadRank(rest string) int
}

// Reloader is implemented by Domains that keep state beside their
// partitions which a full reload invalidates; Reload is called, with the
// write lock held, before a Load applies the store's contents at rev.
type Reloader interface {
	Reload(rev int64)
}

// DefaultMaxWait bounds every wait of a request for the projection to
// reflect a revision; a wait that runs out fails with ErrBehind.
const DefaultMaxWait = 5 * time.Second

// Options configure a View.
type Options struct {
	// Name prefixes log lines and errors ("cloudmap").
	Name string
	// MaxWait bounds each wait for the projection (DefaultMaxWait when 0).
	MaxWait time.Duration
	Logger  *slog.Logger
}

// View is the in-memory projection of one domain's keys, split into
// partitions, and the one way to change them: every read of the domain
// answers from it (Read, Peek, Range), and every write decides on it and
// commits through it (Update, Commit), so the rules of waiting, retrying
// and bounding live here once for every domain.
//
// Partitions are created on the first event under them and kept. The
// partition state belongs to the Domain; the View guards it with one
// RWMutex: Apply and Load hold it for writing, readers and deciders for
// reading.
type View[K comparable, P any, C comparable] struct {
	st       store.Store
	domain   Domain[K, P, C]
	name     string
	log      *slog.Logger
	maxWait  time.Duration
	follower *Follower

	mu          sync.RWMutex // guards parts and subscribers, and the partitions' state
	parts       map[K]*P
	subscribers []func(rev int64, changes []C)
}

// Start loads every key under root into a new View and follows the store
// until Close.
func Start[K comparable, P any, C comparable](ctx context.Context, st store.Store, root string, d Domain[K, P, C], opts Options) (*View[K, P, C], error) {
	v := &View[K, P, C]{st: st, domain: d, name: opts.Name, log: opts.Logger, maxWait: opts.MaxWait, parts: map[K]*P{}}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if v.maxWait <= 0 {
		v.maxWait = DefaultMaxWait
	}
	f, err := StartFollower(ctx, st, root, folder[K, P, C]{v}, v.log, v.name)
	if err != nil {
		return nil, err
	}
	v.follower = f
	return v, nil
}

// Close stops following the store. It does not close the store.
func (v *View[K, P, C]) Close() { v.follower.Close() }

// Follower returns the view's follower (for health checks and tests).
func (v *View[K, P, C]) Follower() *Follower { return v.follower }

// Subscribe registers fn to be called after every applied batch that
// changed something subscribers care about, with the store revision the
// view now reflects and the distinct changes. fn runs on the follower's
// goroutine with no lock held; it must be quick and may read the view. A
// zero C among the changes means anything may have changed (the view was
// reloaded). Subscribe first, then read: no change is missed.
func (v *View[K, P, C]) Subscribe(fn func(rev int64, changes []C)) {
	v.mu.Lock()
	v.subscribers = append(v.subscribers, fn)
	v.mu.Unlock()
}

// Read waits (bounded, see Options.MaxWait) until the view reflects every
// revision this process committed, then runs f on partition k under the
// read lock; p is an empty partition when nothing exists yet. A failed
// wait is returned (ErrBehind, ErrStopped or ctx.Err()) and f is not run.
func (v *View[K, P, C]) Read(ctx context.Context, k K, f func(p *P) error) error {
	if err := v.follower.WaitCommitted(ctx, v.maxWait); err != nil {
		return err
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	return f(v.partLocked(k))
}

// Peek runs f on partition k (nil when none exists) under the read lock,
// without waiting: for projections that learn of changes by Subscribe.
func (v *View[K, P, C]) Peek(k K, f func(p *P)) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	f(v.parts[k])
}

// Range runs f on every partition under the read lock, without waiting,
// until f returns false.
func (v *View[K, P, C]) Range(f func(k K, p *P) bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for k, p := range v.parts {
		if !f(k, p) {
			return
		}
	}
}

// partLocked returns partition k, or a new empty one (not kept) when none
// exists. Called with mu held.
func (v *View[K, P, C]) partLocked(k K) *P {
	if p := v.parts[k]; p != nil {
		return p
	}
	return v.domain.NewPartition(k)
}

// folder adapts a View to the Follower (projection.Folder).
type folder[K comparable, P any, C comparable] struct{ v *View[K, P, C] }

func (f folder[K, P, C]) Load(kvs []store.KV, rev int64) {
	v := f.v
	if lo, ok := v.domain.(LoadOrderer); ok {
		kvs = byRank(kvs, func(kv store.KV) int {
			_, rest, ok := v.domain.Split(kv.Key)
			if !ok {
				return 1 << 30
			}
			return lo.LoadRank(rest)
		})
	}
	v.mu.Lock()
	if r, ok := v.domain.(Reloader); ok {
		r.Reload(rev)
	}
	v.parts = map[K]*P{}
	for i, kv := range kvs {
		// Let go of each record once applied: the records read are about
		// as large as the view made of them, and need not both be held
		// at the end of a load.
		kvs[i] = store.KV{}
		v.applyLocked(store.Event{Type: store.EventPut, Rev: kv.ModRevision, KV: kv})
	}
	subs := v.subscribers
	v.mu.Unlock()
	var all C
	for _, fn := range subs {
		fn(rev, []C{all})
	}
}

func (f folder[K, P, C]) Apply(evs []store.Event) {
	v := f.v
	v.mu.Lock()
	var changes []C
	var seen map[C]struct{} // for large batches (a reset, a sweep)
	for _, ev := range evs {
		c, ok := v.applyLocked(ev)
		if !ok {
			continue
		}
		if seen == nil && len(changes) >= 16 {
			seen = make(map[C]struct{}, len(changes))
			for _, c := range changes {
				seen[c] = struct{}{}
			}
		}
		if seen != nil {
			if _, dup := seen[c]; dup {
				continue
			}
			seen[c] = struct{}{}
		} else if slices.Contains(changes, c) {
			continue
		}
		changes = append(changes, c)
	}
	rev := evs[len(evs)-1].Rev
	subs := v.subscribers
	v.mu.Unlock()
	if len(changes) > 0 {
		for _, fn := range subs {
			fn(rev, changes)
		}
	}
}

// applyLocked folds one event into its partition, creating it.
func (v *View[K, P, C]) applyLocked(ev store.Event) (C, bool) {
	k, rest, ok := v.domain.Split(ev.KV.Key)
	if !ok {
		v.log.Warn(v.name+": unknown key ignored", "key", ev.KV.Key)
		var zero C
		return zero, false
	}
	p := v.parts[k]
	if p == nil {
		p = v.domain.NewPartition(k)
		v.parts[k] = p
	}
	return v.domain.Apply(p, rest, ev)
}

// Check reports whether the view keeps up with the store (see
// Follower.Check), waiting at most the view's MaxWait.
func (v *View[K, P, C]) Check(ctx context.Context) error {
	return v.follower.Check(ctx, v.maxWait)
}

// byRank orders kvs by rank, keeping the store's order within a rank. Ranks
// are few (one per kind of record), so it groups rather than sorts: each
// rank is computed once, and a load of a million keys costs a pass, not
// n log n comparisons that each parse two keys.
func byRank(kvs []store.KV, rank func(store.KV) int) []store.KV {
	ranks := make([]int, len(kvs))
	count := map[int]int{}
	for i, kv := range kvs {
		ranks[i] = rank(kv)
		count[ranks[i]]++
	}
	if len(count) <= 1 {
		return kvs
	}
	order := make([]int, 0, len(count))
	for r := range count {
		order = append(order, r)
	}
	slices.Sort(order)
	start := make(map[int]int, len(order))
	n := 0
	for _, r := range order {
		start[r] = n
		n += count[r]
	}
	out := make([]store.KV, len(kvs))
	for i, kv := range kvs {
		out[start[ranks[i]]] = kv
		start[ranks[i]]++
	}
	return out
}
