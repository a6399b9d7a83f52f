package projection

import (
	"context"
	"errors"
	"fmt"

	"github.com/mapmesh/mapmesh/internal/store"
)

// Txn is what a decision commits: conditions and writes for one store
// transaction, and hooks that learn whether it committed.
type Txn struct {
	conds []store.Cond
	ops   []store.Op
	done  []func(committed bool, rev int64)
}

// Cond makes the transaction depend on key's ModRevision (0: must not exist).
func (t *Txn) Cond(key string, modRev int64) {
	t.conds = append(t.conds, store.Cond{Key: key, ModRevision: modRev})
}

// Put writes value at key.
func (t *Txn) Put(key string, value []byte) { t.ops = append(t.ops, store.Put(key, value)) }

// Delete removes key.
func (t *Txn) Delete(key string) { t.ops = append(t.ops, store.Delete(key)) }

// DeletePrefix removes every key under prefix.
func (t *Txn) DeletePrefix(prefix string) { t.ops = append(t.ops, store.DeletePrefix(prefix)) }

// Len returns the number of writes so far.
func (t *Txn) Len() int { return len(t.ops) }

// OnDone registers fn to learn, once, whether the transaction committed,
// and at which revision (false when it failed, conflicted, or the
// decision that built it returned an error or was retried).
func (t *Txn) OnDone(fn func(committed bool, rev int64)) { t.done = append(t.done, fn) }

func (t *Txn) finish(committed bool, rev int64) {
	for _, fn := range t.done {
		fn(committed, rev)
	}
	t.done = nil
}

// MaxAttempts bounds the attempts of an Update that keeps losing races on
// the same keys; the last failure is returned wrapping store.ErrConflict.
const MaxAttempts = 64

// Update is the commit loop of every write of a domain:
//
//  1. wait (bounded) until the view reflects every revision this process
//     committed, so the decision sees its own writes;
//  2. run decide on partition k under the read lock; it fills t and must
//     not block (an error from it is returned as is);
//  3. commit t as one store transaction; on success return;
//  4. on a failed condition, note the revision the store was at — the view
//     will catch up with it, whatever prefix the conflicting write was
//     under — and go to 1 with a fresher view.
//
// decide that writes nothing ends the loop without a transaction. Every
// wait is bounded by ctx and the view's MaxWait (ErrBehind); store errors
// are returned wrapped (store.ErrNoSpace, store.ErrTooLarge, ...), and a
// loop that loses MaxAttempts races returns an error wrapping
// store.ErrConflict. The API layer maps all of them in one place.
func (v *View[K, P, C]) Update(ctx context.Context, k K, decide func(p *P, t *Txn) error) error {
	return v.UpdatePrepared(ctx, k, nil, decide)
}

// UpdatePrepared is Update with a step before every decision, outside the
// view's lock: prepare may read the store for what decide needs and the
// view does not hold (idempotency records, say). It runs again before each
// retry, so it sees the write that made the last attempt lose; its error
// ends the loop. A nil prepare is Update.
func (v *View[K, P, C]) UpdatePrepared(ctx context.Context, k K, prepare func(ctx context.Context) error,
	decide func(p *P, t *Txn) error) error {
	for attempt := 1; ; attempt++ {
		if err := v.follower.WaitCommitted(ctx, v.maxWait); err != nil {
			return err
		}
		if prepare != nil {
			if err := prepare(ctx); err != nil {
				return err
			}
		}
		var t Txn
		v.mu.RLock()
		err := decide(v.partLocked(k), &t)
		v.mu.RUnlock()
		if err != nil || len(t.ops) == 0 {
			t.finish(false, 0)
			return err
		}
		err = v.Commit(ctx, &t)
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
		if attempt >= MaxAttempts {
			return fmt.Errorf("%s: %d attempts lost races with other writes: %w", v.name, attempt, err)
		}
	}
}

// Commit commits t as one store transaction, unconditionally of the view
// (resets, sweeps, and Update's step 3), and records what this process
// must wait for before its next decision: the new revision, or on a
// failed condition the revision the store was at. Its hooks learn the
// outcome.
func (v *View[K, P, C]) Commit(ctx context.Context, t *Txn) error {
	res, err := v.st.Txn(ctx, t.conds, t.ops)
	t.finish(err == nil, res.Rev)
	switch {
	case err == nil && res.Changed, errors.Is(err, store.ErrConflict):
		v.follower.Committed(res.Rev)
	}
	if err != nil {
		return fmt.Errorf("%s: commit: %w", v.name, err)
	}
	return nil
}
