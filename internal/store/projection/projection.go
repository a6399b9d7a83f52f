// Package projection keeps an in-memory projection of a store.Store key
// prefix current: it loads the prefix, follows the store's watch from the
// next revision, loads again when the watch falls behind the store's
// history, and lets callers wait until the projection reflects a revision.
//
// The domain packages (cloudmap, appmesh) answer every read and decide every
// write from such a projection. A write is answered once it is durable,
// before the projection has applied it; Committed and WaitCommitted give
// read-your-writes: every read or decision first waits until the projection
// reflects every revision this process has committed.
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
	// Load replaces the projection with the prefix's contents at rev.
	Load(kvs []store.KV, rev int64)
	// Apply folds in the events of one transaction, in revision order.
	Apply(evs []store.Event)
}

// Follower follows a prefix into a Folder. Its methods are safe for
// concurrent use.
type Follower struct {
	st     store.Store
	prefix string
	folder Folder
	log    *slog.Logger
	name   string

	cancel context.CancelFunc
	done   chan struct{}

	// committed is the highest revision this process committed under the
	// prefix (see Committed).
	committed atomic.Int64

	mu      sync.Mutex // guards the fields below
	rev     int64      // the revision the projection reflects
	changed chan struct{}
	err     error // why following stopped, if it did
}

// Start loads the prefix into folder, then follows the store until Close.
// name prefixes log lines and errors.
func Start(ctx context.Context, st store.Store, prefix string, folder Folder, log *slog.Logger, name string) (*Follower, error) {
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
		for evs := range f.st.Watch(ctx, f.prefix, rev+1) {
			if n := len(evs); n > 0 && evs[n-1].Err != nil {
				werr = evs[n-1].Err
				evs = evs[:n-1]
			}
			if len(evs) == 0 {
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
			f.mu.Unlock()
			f.log.Error(f.name+": store watch ended", "err", werr)
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
	}
	close(f.changed)
	f.changed = make(chan struct{})
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

// Wait blocks until the projection reflects revision rev, or ctx ends.
func (f *Follower) Wait(ctx context.Context, rev int64) error {
	for {
		f.mu.Lock()
		cur, ch := f.rev, f.changed
		f.mu.Unlock()
		if cur >= rev {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Committed records that this process committed revision rev (or, after a
// conflict, that the store is at rev): later WaitCommitted calls wait for it.
func (f *Follower) Committed(rev int64) {
	for {
		cur := f.committed.Load()
		if rev <= cur || f.committed.CompareAndSwap(cur, rev) {
			return
		}
	}
}

// WaitCommitted blocks until the projection reflects every revision
// recorded with Committed, or ctx ends.
func (f *Follower) WaitCommitted(ctx context.Context) error {
	return f.Wait(ctx, f.committed.Load())
}
