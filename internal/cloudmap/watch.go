package cloudmap

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"strconv"
	"sync"
	"time"
)

// Blocking discovery: a client gives the index of the answer it has and
// waits until the answer differs, instead of polling. Each service has a
// channel, closed at its next change (one close wakes every waiter at
// once); a waiter recomputes the answer when woken and goes back to
// waiting when its filtered answer did not change.

// watchKey names a service.
type watchKey struct {
	part  partKey
	svcID string
}

// watchHub holds the change channels of the services someone waits on.
type watchHub struct {
	mu    sync.Mutex // guards chans
	chans map[watchKey]chan struct{}
}

// channel returns the channel closed at the next change of k.
func (h *watchHub) channel(k watchKey) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := h.chans[k]
	if ch == nil {
		if h.chans == nil {
			h.chans = map[watchKey]chan struct{}{}
		}
		ch = make(chan struct{})
		h.chans[k] = ch
	}
	return ch
}

// onChange wakes the waiters of the services a batch changed (all of them
// on a reload). It is a view subscriber: quick, no lock of the view held.
func (h *watchHub) onChange(_ int64, changes []Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range changes {
		if c == (Change{}) {
			for k, ch := range h.chans {
				close(ch)
				delete(h.chans, k)
			}
			return
		}
		if c.ServiceID == "" {
			continue // a namespace: its services change on their own
		}
		k := watchKey{partKey{c.Account, c.Region}, c.ServiceID}
		if ch := h.chans[k]; ch != nil {
			close(ch)
			delete(h.chans, k)
		}
	}
}

// answerIndex identifies a filtered answer: the service and, for each
// instance, its ID, the revision of its registration (its attributes) and
// its health status. The instances are combined by a sum, so their order
// does not matter. It survives restarts: revisions and health are stored.
func answerIndex(s *service, cand []hit) uint64 {
	var sum uint64
	for _, h := range cand {
		f := fnv.New64a()
		f.Write([]byte(h.inst.id))
		f.Write([]byte{0})
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(h.inst.modRev))
		f.Write(b[:])
		f.Write([]byte(h.status))
		sum += f.Sum64()
	}
	f := fnv.New64a()
	f.Write([]byte(s.rec.ID))
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], sum)
	binary.BigEndian.PutUint64(b[8:], uint64(len(cand)))
	f.Write(b[:])
	return f.Sum64()
}

// nextHealthChange returns when the first pending custom health status of
// the set takes effect after nowMs, 0 when none is pending.
func (set *instanceSet) nextHealthChange(nowMs int64) int64 {
	var next int64
	for _, h := range set.health {
		if h.Pending != "" && h.PendingAt > nowMs && (next == 0 || h.PendingAt < next) {
			next = h.PendingAt
		}
	}
	return next
}

// FormatIndex and ParseIndex write and read a discovery index as clients
// see it: opaque text.
func FormatIndex(i uint64) string { return strconv.FormatUint(i, 36) }

// ParseIndex reads an index written by FormatIndex; ok is false for
// anything else (an index from elsewhere answers at once).
func ParseIndex(s string) (uint64, bool) {
	i, err := strconv.ParseUint(s, 36, 64)
	return i, err == nil
}

// DiscoverWait is DiscoverInstances as a blocking query: when the answer's
// index differs from index (or has is false), it answers at once;
// otherwise it waits until the answer changes (a registration,
// deregistration, attribute change or health flip that alters the filtered
// answer), wait passes, or ctx ends, and answers with the current index.
// A held query costs a goroutine and a channel; one change wakes every
// query on its service at once.
func (b *Backend) DiscoverWait(ctx context.Context, in *DiscoverInstancesInput, index uint64, has bool, wait time.Duration) (*discovered, uint64, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		out, w, err := b.discover(ctx, in, &discovery{})
		if err != nil {
			return nil, 0, err
		}
		if !has || w.index != index {
			return out, w.index, nil
		}
		var health <-chan time.Time
		var ht *time.Timer
		if w.healthAt > 0 {
			ht = time.NewTimer(time.Duration(w.healthAt-ms(b.now())) * time.Millisecond)
			health = ht.C
		}
		select {
		case <-w.changed:
		case <-health:
		case <-timer.C:
			return out, w.index, nil
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
		if ht != nil {
			ht.Stop()
		}
	}
}
