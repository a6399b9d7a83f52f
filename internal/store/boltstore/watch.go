package boltstore

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/mapmesh/mapmesh/internal/store"
)

// eventOverhead is the bytes an event costs in the history besides its key
// and values.
const eventOverhead = 96

// maxScan bounds the history entries a watcher reads per lock hold, so that
// a watcher catching up never holds the committer back for long.
const maxScan = 256

// hub is the in-process watch fan-out. The committer publishes each batch's
// events into a bounded history; every watcher keeps its own cursor into it
// and reads at its own pace. Publishing never waits for a watcher: one that
// falls out of the history gets store.ErrCompacted.
type hub struct {
	maxRevs  int
	maxBytes int

	mu       sync.RWMutex // guards the fields below
	history  []entry      // consecutive revisions, oldest first
	bytes    int          // sum of history sizes
	first    int64        // oldest revision a watcher can read from
	last     int64        // newest published revision
	watchers map[*watcher]struct{}
	closed   bool

	wg sync.WaitGroup // watcher goroutines
}

// entry is the events of one revision.
type entry struct {
	rev    int64
	events []store.Event
	size   int
}

type watcher struct {
	prefix   string
	progress bool          // send progress events (store.WithProgress)
	wake     chan struct{} // capacity 1: the history grew or the hub closed
	ch       chan []store.Event
}

// newHub returns a hub whose history starts empty after revision rev: events
// from revision rev+1 on can be watched.
func newHub(rev int64, maxRevs, maxBytes int) *hub {
	return &hub{
		maxRevs:  maxRevs,
		maxBytes: maxBytes,
		first:    rev + 1,
		last:     rev,
		watchers: make(map[*watcher]struct{}),
	}
}

// publish appends committed revisions (consecutive, after h.last) to the
// history, trims it to its bounds and wakes every watcher. It never blocks
// on a watcher.
func (h *hub) publish(entries []entry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range entries {
		if e.rev != h.last+1 {
			panic(fmt.Sprintf("boltstore: published revision %d after %d", e.rev, h.last))
		}
		h.history = append(h.history, e)
		h.bytes += e.size
		h.last = e.rev
	}
	// Keep at least the newest entry, however large.
	for len(h.history) > 1 && (len(h.history) > h.maxRevs || h.bytes > h.maxBytes) {
		h.bytes -= h.history[0].size
		h.history[0] = entry{}
		h.history = h.history[1:]
		h.first = h.history[0].rev
	}
	for w := range h.watchers {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// close ends every watch with store.ErrClosed.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for w := range h.watchers {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

func (h *hub) watch(ctx context.Context, prefix string, fromRev int64, opts store.WatchOptions) <-chan []store.Event {
	w := &watcher{
		prefix:   prefix,
		progress: opts.Progress,
		wake:     make(chan struct{}, 1),
		ch:       make(chan []store.Event),
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		ch := make(chan []store.Event, 1)
		ch <- []store.Event{{Err: errClosed}}
		close(ch)
		return ch
	}
	next := fromRev
	if next <= 0 {
		next = h.last + 1
	}
	h.watchers[w] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()
	go h.run(ctx, w, next)
	return w.ch
}

// run is a watcher's goroutine: it reads the history from next on and sends
// the batches under its prefix, until ctx ends or it delivers a final error.
// A watcher with progress, once it has read the history to its end, sends
// a progress event for the last revision read if that is newer than the
// last one it sent.
func (h *hub) run(ctx context.Context, w *watcher, next int64) {
	defer h.wg.Done()
	defer close(w.ch)
	defer h.remove(w)
	sent := next - 1 // the newest revision delivered, as a change or as progress
	for {
		batches, more, err := h.read(w.prefix, &next)
		for _, b := range batches {
			select {
			case w.ch <- b:
			case <-ctx.Done():
				return
			}
			sent = b[0].Rev
		}
		if err != nil {
			select {
			case w.ch <- []store.Event{{Err: err}}:
			case <-ctx.Done():
			}
			return
		}
		if more {
			continue
		}
		if w.progress && next-1 > sent {
			select {
			case w.ch <- []store.Event{{Type: store.EventProgress, Rev: next - 1}}:
			case <-ctx.Done():
				return
			}
			sent = next - 1
		}
		if len(batches) > 0 {
			continue
		}
		select {
		case <-w.wake:
		case <-ctx.Done():
			return
		}
	}
}

func (h *hub) remove(w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.watchers, w)
}

// read returns the batches under prefix from revision *next on (reading at
// most maxScan revisions), advances *next past what it read, and says
// whether more revisions are already published. It fails with
// store.ErrCompacted if *next is no longer in the history, and with
// store.ErrClosed once the hub is closed.
func (h *hub) read(prefix string, next *int64) (batches [][]store.Event, more bool, err error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return nil, false, errClosed
	}
	if *next < h.first {
		return nil, false, fmt.Errorf("boltstore: watch from revision %d, oldest kept is %d: %w", *next, h.first, store.ErrCompacted)
	}
	if *next > h.last {
		return nil, false, nil
	}
	start := int(*next - h.first)
	end := min(len(h.history), start+maxScan)
	for _, e := range h.history[start:end] {
		if b := filter(e.events, prefix); b != nil {
			batches = append(batches, b)
		}
	}
	*next = h.history[end-1].rev + 1
	return batches, *next <= h.last, nil
}

// filter returns the events under prefix: evs itself if all are, nil if none.
func filter(evs []store.Event, prefix string) []store.Event {
	n := 0
	for _, ev := range evs {
		if strings.HasPrefix(ev.KV.Key, prefix) {
			n++
		}
	}
	switch n {
	case 0:
		return nil
	case len(evs):
		return evs
	}
	out := make([]store.Event, 0, n)
	for _, ev := range evs {
		if strings.HasPrefix(ev.KV.Key, prefix) {
			out = append(out, ev)
		}
	}
	return out
}
