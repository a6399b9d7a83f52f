package projection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mapmesh/mapmesh/internal/store"
)

// Folder folds a prefix's contents into a projection. The Follower calls
// Load and Apply from one goroutine, one call at a time; the Folder guards
// its own state against its readers.
type Folder interface {
	// Load replaces the projection with the prefix's contents at rev. It
	// may clear kvs' elements as it goes.
	Load(kvs []store.KV, rev int64)
	// Apply folds in the events of one transaction, in revision order.
	Apply(evs []store.Event)
}

// ErrStopped is returned by waits on a Follower that stopped following
// (its watch ended for a reason other than Close). It wraps
// store.ErrUnavailable: the client may retry, but only a restart (or the
// store coming back) helps.
var ErrStopped = fmt.Errorf("projection: follower stopped: %w", store.ErrUnavailable)

// ErrBehind is returned by bounded waits that ran out of time before the
// projection reached the revision they waited for. It wraps
// store.ErrUnavailable.
var ErrBehind = fmt.Errorf("projection: not caught up with the store in time: %w", store.ErrUnavailable)

// Follower follows a prefix into a Folder. Its methods are safe for
// concurrent use.
//
// It watches with store.WithProgress, so the revision it reflects moves
// with the whole store, not only with its prefix: a wait for any revision
// the store has committed ends once the follower has seen everything under
// its prefix up to that revision. That is what lets several followers of
// different prefixes share one store and each wait for the revisions the
// others' writers got back.
type Follower struct {
	st     store.Store
	prefix string
	folder Folder
	log    *slog.Logger
	name   string

	cancel context.CancelFunc
	done   chan struct{}

	// committed is the highest revision this process recorded with
	// Committed (see WaitCommitted).
	committed atomic.Int64

	mu      sync.Mutex // guards the fields below
	rev     int64      // the revision the projection reflects
	changed chan struct{}
	err     error // why following stopped, if it did
}

// StartFollower loads the prefix into folder, then follows the store until
// Close. name prefixes log lines and errors.
func StartFollower(ctx context.Context, st store.Store, prefix string, folder Folder, log *slog.Logger, name string) (*Follower, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Follower{st: st, prefix: prefix, folder: folder, log: log, name: name, changed: make(chan struct{}), done: make(chan struct{})}
	rev, err := f.load(ctx)
	if err != nil {
		return nil, err
	}
	f.committed.Store(rev)
	wctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	go f.follow(wctx, rev)
	return f, nil
}

// load replaces the projection with the prefix's current contents.
func (f *Follower) load(ctx context.Context) (int64, error) {
	kvs, rev, err := f.st.List(ctx, f.prefix)
	if err != nil {
		return 0, fmt.Errorf("%s: load: %w", f.name, err)
	}
	f.folder.Load(kvs, rev)
	f.publish(rev)
	return rev, nil
}

// follow applies the store's changes until ctx ends, loading again when the
// watch falls behind the store's history.
func (f *Follower) follow(ctx context.Context, rev int64) {
	defer close(f.done)
	for {
		var werr error
		for evs := range f.st.Watch(ctx, f.prefix, rev+1, store.WithProgress()) {
			if n := len(evs); n > 0 && evs[n-1].Err != nil {
				werr = evs[n-1].Err
				evs = evs[:n-1]
			}
			if len(evs) == 0 {
				continue
			}
			if evs[0].Type == store.EventProgress {
				rev = max(rev, evs[0].Rev)
				f.publish(rev)
				continue
			}
			f.folder.Apply(evs)
			rev = evs[len(evs)-1].Rev
			f.publish(rev)
		}
		if ctx.Err() != nil {
			return
		}
		if !errors.Is(werr, store.ErrCompacted) {
			f.mu.Lock()
			f.err = fmt.Errorf("%s: watch ended: %w", f.name, werr)
			close(f.changed) // wake the waiters: they fail now
			f.changed = make(chan struct{})
			f.mu.Unlock()
			f.log.Error(f.name+": store watch ended; the projection no longer follows the store", "err", werr)
			return
		}
		f.log.Warn(f.name+": watch fell behind the store history; loading again", "rev", rev)
		r, err := f.load(ctx)
		if err != nil {
			f.log.Error(f.name+": load failed", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		rev = r
	}
}

func (f *Follower) publish(rev int64) {
	f.mu.Lock()
	if rev > f.rev {
		f.rev = rev
		close(f.changed)
		f.changed = make(chan struct{})
	}
	f.mu.Unlock()
}

// Close stops following. It does not close the store.
func (f *Follower) Close() {
	f.cancel()
	<-f.done
}

// Err returns why following stopped, or nil.
func (f *Follower) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// Rev returns the revision the projection reflects.
func (f *Follower) Rev() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rev
}

// Wait blocks until the projection reflects revision rev, or ctx ends
// (ctx.Err()), or the follower has stopped (ErrStopped).
func (f *Follower) Wait(ctx context.Context, rev int64) error {
	for {
		f.mu.Lock()
		cur, ch, err := f.rev, f.changed, f.err
		f.mu.Unlock()
		if cur >= rev {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrStopped, err)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitFor is Wait bounded by limit as well as by ctx: when limit passes
// first it fails with an error wrapping ErrBehind. When ctx ends first it
// returns ctx.Err().
func (f *Follower) WaitFor(ctx context.Context, rev int64, limit time.Duration) error {
	if f.Rev() >= rev {
		return nil // the common case: no timer
	}
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	err := f.Wait(wctx, rev)
	if err == nil || ctx.Err() != nil || errors.Is(err, ErrStopped) {
		return err
	}
	return fmt.Errorf("%s: waited %v for revision %d, projection at %d: %w", f.name, limit, rev, f.Rev(), ErrBehind)
}

// Committed records that this process committed revision rev, or that a
// transaction of this process found the store at rev (a failed condition):
// later WaitCommitted calls wait for it. Thanks to progress events, rev may
// be any revision of the store, whatever prefix its changes were under.
func (f *Follower) Committed(rev int64) {
	for {
		cur := f.committed.Load()
		if rev <= cur || f.committed.CompareAndSwap(cur, rev) {
			return
		}
	}
}

// WaitCommitted waits, at most limit, until the projection reflects every
// revision recorded with Committed (see WaitFor).
func (f *Follower) WaitCommitted(ctx context.Context, limit time.Duration) error {
	return f.WaitFor(ctx, f.committed.Load(), limit)
}

// Check reports whether the follower keeps up with the store: nil when it
// reflects the store's current revision within limit, an error wrapping
// ErrStopped when it stopped, ErrBehind when it lags, or the store's error
// when the store cannot say its revision.
func (f *Follower) Check(ctx context.Context, limit time.Duration) error {
	if err := f.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrStopped, err)
	}
	rev, err := f.st.Rev(ctx)
	if err != nil {
		return fmt.Errorf("%s: store revision: %w", f.name, err)
	}
	return f.WaitFor(ctx, rev, limit)
}
