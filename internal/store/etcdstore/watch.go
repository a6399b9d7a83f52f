package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/metadata"

	"github.com/mapmesh/mapmesh/internal/store"
)

// Bounds of the waits of a watch: between progress requests that etcd has
// not answered while the watch is behind, and between reconnections.
const (
	progressRetryMin = 5 * time.Millisecond
	progressRetryMax = 200 * time.Millisecond
	rewatchMin       = 10 * time.Millisecond
	rewatchMax       = time.Second
)

// eventOverhead is what an event costs in a watch's buffer besides its
// bytes.
const eventOverhead = 96

// streamKey is the gRPC metadata key that gives each WithProgress watch a
// gRPC watch stream of its own (clientv3 shares one stream between the
// watches whose contexts carry the same metadata); streamIDs numbers them
// across the Stores of the process, which may share a client.
const streamKey = "mapmesh-watch-stream"

var streamIDs atomic.Int64

// watcher is one Watch: a goroutine that reads an etcd watch, turns its
// responses into store events and hands them to the consumer.
type watcher struct {
	s        *Store
	key, end string // the etcd range
	progress bool
	ctx      context.Context // the caller's
	// wctx ends with ctx or Close; it carries the metadata that picks the
	// gRPC stream, so RequestProgress must be called with it.
	wctx context.Context
	out  chan []store.Event
	kick chan struct{} // capacity 1: Store.seen moved
	// ready is closed once etcd has created the watch the first time (or
	// the watch ended); owned by run, nil once closed.
	ready chan struct{}

	next     int64 // the revision to (re)watch from; 0: etcd's current one
	queued   int64 // every change up to it is in buf or delivered
	buf      [][]store.Event
	bufBytes int
	ending   bool // buf ends with an error event: deliver it, then close
}

// Watch delivers the changes under prefix from fromRev on; see
// store.Store.Watch and the package doc. Each watch owns a goroutine that
// ends when ctx ends, or once its last event (ErrCompacted or ErrClosed)
// has been received.
//
// Watch returns once etcd has created the watch, or after RequestTimeout.
// fromRev 0 is resolved here to the revision after the current one (a
// quorum read), so that every transaction that starts after Watch returns
// is delivered. When etcd does not answer within
// RequestTimeout, the watch starts after the highest revision this Store has
// seen instead: it may then replay a few transactions committed before the
// call by other clients, but misses none.
func (s *Store) Watch(ctx context.Context, prefix string, fromRev int64, opts ...store.WatchOption) <-chan []store.Event {
	out := make(chan []store.Event)
	if s.closed.Load() {
		go func() {
			defer close(out)
			select {
			case out <- []store.Event{{Err: errClosed}}:
			case <-ctx.Done():
			}
		}()
		return out
	}
	if ctx.Err() != nil {
		close(out)
		return out
	}
	if fromRev <= 0 {
		if rev, err := s.Rev(ctx); err == nil {
			fromRev = rev + 1
		} else if seen := s.seen.Load(); seen > 0 {
			fromRev = seen + 1
		}
	}
	o := store.NewWatchOptions(opts...)
	key, end := s.rangeOf(prefix)
	wctx, cancel := context.WithCancel(s.base)
	stop := context.AfterFunc(ctx, cancel)
	// Without a leader the member's watch stream ends, and the watch
	// reconnects (maybe to another member) instead of going quiet.
	wctx = clientv3.WithRequireLeader(wctx)
	if o.Progress {
		// etcd answers a progress request only when every watch of the
		// stream has caught up (etcd-io/etcd#20242): one watch per stream.
		id := strconv.FormatInt(streamIDs.Add(1), 10)
		wctx = metadata.AppendToOutgoingContext(wctx, streamKey, id)
	}
	w := &watcher{
		s: s, key: key, end: end, progress: o.Progress,
		ctx: ctx, wctx: wctx, out: out, kick: make(chan struct{}, 1), ready: make(chan struct{}),
		next: fromRev, queued: fromRev - 1,
	}
	if fromRev == 0 {
		w.queued = 0
	}
	if o.Progress {
		s.mu.Lock()
		s.progress[w] = struct{}{}
		s.mu.Unlock()
	}
	ready := w.ready
	go func() {
		defer cancel()
		defer stop()
		w.run()
	}()
	// Wait (bounded) until etcd has created the watch: a watch created
	// after the store moved past its start revision is "unsynced" in etcd,
	// which delivers its first events only at its next resync, up to
	// 100 ms later.
	timer := time.NewTimer(s.opts.RequestTimeout)
	defer timer.Stop()
	select {
	case <-ready:
	case <-timer.C:
	case <-ctx.Done():
	}
	return out
}

func (w *watcher) run() {
	defer close(w.out)
	defer w.markReady()
	if w.progress {
		defer func() {
			w.s.mu.Lock()
			delete(w.s.progress, w)
			w.s.mu.Unlock()
		}()
	}
	var (
		wch     clientv3.WatchChan      // the etcd watch, once created
		pending chan clientv3.WatchChan // the etcd watch being created
		ecancel context.CancelFunc      // ends the etcd watch
		paused  bool                    // stopped reading: the buffer is full

		rewatch      *time.Timer // reconnects after a failure
		rewatchC     <-chan time.Time
		rewatchDelay = rewatchMin

		// Progress requests (WithProgress only): at most one call in
		// flight; asked until etcd answers; ptimer retries or asks
		// periodically.
		inFlight   bool
		askDone    = make(chan struct{}, 1)
		asked      bool
		askDelay   = progressRetryMin
		ptimer     *time.Timer
		ptimerC    <-chan time.Time
		setPTimer  func(time.Duration)
		maybeAsk   func(force bool)
		stopEtcd   func()
		startEtcd  func()
		scheduleRe func(reason error)
	)
	startEtcd = func() {
		stopEtcd()
		if rewatch != nil {
			rewatch.Stop()
			rewatchC = nil
		}
		ectx, c := context.WithCancel(w.wctx)
		ecancel = c
		p := make(chan clientv3.WatchChan, 1)
		pending = p
		opts := []clientv3.OpOption{clientv3.WithRange(w.end), clientv3.WithPrevKV(), clientv3.WithCreatedNotify()}
		if w.next > 0 {
			opts = append(opts, clientv3.WithRev(w.next))
		}
		if w.progress {
			opts = append(opts, clientv3.WithProgressNotify())
		}
		// clientv3's Watch returns once etcd created the watch, or when
		// ectx ends: never block the loop on it.
		go func() { p <- w.s.cli.Watch(ectx, w.key, opts...) }()
	}
	stopEtcd = func() {
		if ecancel != nil {
			ecancel()
			ecancel = nil
		}
		wch, pending = nil, nil
		asked = false
	}
	scheduleRe = func(reason error) {
		stopEtcd()
		w.s.log.Warn("etcdstore: watch ended; reconnecting", "key", w.key, "next", w.next, "in", rewatchDelay, "err", reason)
		if rewatch == nil {
			rewatch = time.NewTimer(rewatchDelay)
		} else {
			rewatch.Reset(rewatchDelay)
		}
		rewatchC = rewatch.C
		rewatchDelay = min(2*rewatchDelay, rewatchMax)
	}
	setPTimer = func(d time.Duration) {
		if ptimer == nil {
			ptimer = time.NewTimer(d)
		} else {
			ptimer.Reset(d)
		}
		ptimerC = ptimer.C
	}
	// maybeAsk requests progress when the watch is behind the revisions
	// this Store has seen (or, forced, periodically), unless a request is
	// still unanswered.
	maybeAsk = func(force bool) {
		if !w.progress || wch == nil || inFlight || (asked && !force) {
			return
		}
		behind := w.queued < w.s.seen.Load()
		if !behind && !force {
			return
		}
		inFlight, asked = true, true
		go func() {
			_ = w.s.cli.RequestProgress(w.wctx)
			askDone <- struct{}{}
		}()
		if behind {
			setPTimer(askDelay)
			askDelay = min(2*askDelay, progressRetryMax)
		} else {
			setPTimer(w.s.opts.ProgressInterval)
		}
	}
	defer func() {
		stopEtcd()
		if rewatch != nil {
			rewatch.Stop()
		}
		if ptimer != nil {
			ptimer.Stop()
		}
	}()

	startEtcd()
	if w.progress {
		setPTimer(w.s.opts.ProgressInterval)
	}
	for {
		var outc chan<- []store.Event
		var head []store.Event
		if len(w.buf) > 0 {
			outc, head = w.out, w.buf[0]
		} else if w.ending {
			return
		}
		var closing <-chan struct{}
		if !w.ending {
			closing = w.wctx.Done()
		}
		select {
		case <-w.ctx.Done():
			return
		case <-closing:
			if w.ctx.Err() != nil {
				return
			}
			stopEtcd()
			w.fail(errClosed)
			w.markReady()
		case outc <- head:
			w.bufBytes -= batchBytes(head)
			w.buf[0] = nil
			w.buf = w.buf[1:]
			if paused && !w.ending && w.bufBytes <= w.s.opts.WatchBufferBytes/2 {
				paused = false
				startEtcd()
			}
		case c := <-pending:
			pending, wch = nil, c
			w.markReady()
			maybeAsk(false)
		case resp, ok := <-wch:
			if !ok {
				scheduleRe(errors.New("watch channel closed"))
				continue
			}
			if err := w.handle(resp); err != nil {
				scheduleRe(err)
				continue
			}
			if w.ending {
				stopEtcd()
				continue
			}
			if resp.IsProgressNotify() {
				asked = false
				if w.queued >= w.s.seen.Load() {
					askDelay = progressRetryMin
					if w.progress {
						setPTimer(w.s.opts.ProgressInterval)
					}
				}
				maybeAsk(false)
			}
			if len(resp.Events) > 0 || resp.IsProgressNotify() {
				rewatchDelay = rewatchMin
			}
			if w.bufBytes > w.s.opts.WatchBufferBytes {
				// Stop reading; etcd keeps the history meanwhile.
				paused = true
				stopEtcd()
			}
		case <-rewatchC:
			rewatchC = nil
			if !paused && !w.ending && wch == nil && pending == nil {
				startEtcd()
			}
		case <-w.kick:
			maybeAsk(false)
		case <-askDone:
			inFlight = false
		case <-ptimerC:
			ptimerC = nil
			asked = false
			if wch != nil {
				maybeAsk(true)
			}
			if ptimerC == nil && w.progress {
				if w.queued < w.s.seen.Load() {
					setPTimer(askDelay)
				} else {
					setPTimer(w.s.opts.ProgressInterval)
				}
			}
		}
	}
}

// markReady lets Watch return.
func (w *watcher) markReady() {
	if w.ready != nil {
		close(w.ready)
		w.ready = nil
	}
}

// handle queues what one etcd watch response says. It returns an error when
// the etcd watch ended and must be made again; a compaction instead ends
// the watch (w.ending).
func (w *watcher) handle(resp clientv3.WatchResponse) error {
	if resp.CompactRevision != 0 {
		w.fail(fmt.Errorf("etcdstore: watch %q from revision %d: etcd history compacted up to %d: %w",
			w.s.strip([]byte(w.key)), w.next, resp.CompactRevision, store.ErrCompacted))
		return nil
	}
	if resp.Canceled {
		err := resp.Err()
		if errors.Is(err, rpctypes.ErrCompacted) {
			w.fail(fmt.Errorf("etcdstore: watch %q from revision %d: %w", w.s.strip([]byte(w.key)), w.next, store.ErrCompacted))
			return nil
		}
		if err == nil {
			err = errors.New("watch canceled")
		}
		return err
	}
	if resp.Created {
		if w.next == 0 {
			// Watching from etcd's current revision (see Watch): pin it,
			// so that a reconnection misses nothing.
			w.next, w.queued = resp.Header.Revision+1, resp.Header.Revision
		}
		return nil
	}
	if len(resp.Events) == 0 {
		if !resp.IsProgressNotify() {
			return nil
		}
		// Everything under the range up to r has been sent.
		r := resp.Header.Revision
		w.next = max(w.next, r+1)
		if w.progress && r > w.queued {
			w.queue([]store.Event{{Type: store.EventProgress, Rev: r}})
		}
		w.queued = max(w.queued, r)
		return nil
	}
	evs := resp.Events
	for i := 0; i < len(evs); {
		rev := evs[i].Kv.ModRevision
		j := i + 1
		for j < len(evs) && evs[j].Kv.ModRevision == rev {
			j++
		}
		if rev > w.queued {
			b, err := w.batch(evs[i:j])
			if errors.Is(err, store.ErrCompacted) {
				w.fail(err)
				return nil
			}
			if err != nil {
				return err // watch again from rev
			}
			w.queue(b)
			w.queued = rev
		}
		w.next = max(w.next, rev+1)
		i = j
	}
	return nil
}

// batch turns the events of one revision into a store batch. etcd can
// leave out the previous value of an event: when it was compacted while
// the watch replayed, and when the event was produced while etcd was still
// registering the watch (v3rpc's recvLoop creates the watch before it
// records that it wants previous values, and sendLoop reads that flag for
// each response). batch then reads the value at the revision before; if it
// is compacted, the batch fails with an error wrapping store.ErrCompacted
// (the follower must List again); if etcd cannot answer, with another
// error (the watch starts again from this revision).
func (w *watcher) batch(evs []*clientv3.Event) ([]store.Event, error) {
	b := make([]store.Event, len(evs))
	for i, ev := range evs {
		var prev []byte
		if ev.PrevKv != nil {
			prev = ev.PrevKv.Value
			if prev == nil {
				prev = []byte{}
			}
		}
		rev := ev.Kv.ModRevision
		switch ev.Type {
		case clientv3.EventTypePut:
			b[i] = store.Event{Type: store.EventPut, Rev: rev, KV: w.s.kv(ev.Kv.Key, ev.Kv.Value, ev.Kv.CreateRevision, rev)}
		case clientv3.EventTypeDelete:
			b[i] = store.Event{Type: store.EventDelete, Rev: rev, KV: store.KV{Key: w.s.strip(ev.Kv.Key), ModRevision: rev}}
		default:
			return nil, fmt.Errorf("etcdstore: watch: unknown event type %v at revision %d", ev.Type, rev)
		}
		// Only a put that creates the key has no previous value.
		if prev == nil && (ev.Type == clientv3.EventTypeDelete || ev.Kv.CreateRevision != rev) {
			var err error
			if prev, err = w.prevValue(ev.Kv.Key, rev); err != nil {
				return nil, err
			}
		}
		b[i].Prev = prev
	}
	return b, nil
}

// prevValue reads the value key had before revision rev.
func (w *watcher) prevValue(key []byte, rev int64) ([]byte, error) {
	ctx, done := w.s.reqCtx(w.wctx)
	resp, err := w.s.cli.Get(ctx, string(key), clientv3.WithRev(rev-1))
	done()
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		return nil, fmt.Errorf("etcdstore: watch: the value of %q before revision %d is compacted: %w", w.s.strip(key), rev, store.ErrCompacted)
	case err != nil:
		return nil, fmt.Errorf("etcdstore: watch: read the value of %q before revision %d: %w", w.s.strip(key), rev, err)
	case len(resp.Kvs) == 0:
		return nil, fmt.Errorf("etcdstore: watch: no value of %q before revision %d: %w", w.s.strip(key), rev, store.ErrCompacted)
	}
	if v := resp.Kvs[0].Value; v != nil {
		return v, nil
	}
	return []byte{}, nil
}

// queue appends a batch to the buffer; consecutive progress coalesces.
func (w *watcher) queue(b []store.Event) {
	if n := len(w.buf); n > 0 && b[0].Type == store.EventProgress && w.buf[n-1][0].Type == store.EventProgress {
		w.buf[n-1] = b
		return
	}
	w.buf = append(w.buf, b)
	w.bufBytes += batchBytes(b)
}

// fail queues the error event that ends the watch.
func (w *watcher) fail(err error) {
	w.queue([]store.Event{{Err: err}})
	w.ending = true
}

func batchBytes(b []store.Event) int {
	n := 0
	for _, ev := range b {
		n += eventOverhead + len(ev.KV.Key) + len(ev.KV.Value) + len(ev.Prev)
	}
	return n
}
