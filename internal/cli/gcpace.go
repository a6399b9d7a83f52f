package cli

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// GC pacing. The GC's heap goal is the live heap plus a headroom; GOGC sets
// the headroom as a percentage of the live heap. A fixed percentage fits
// either a small heap or a large one, not both: 400 keeps a busy server with
// a few MB of views from collecting hundreds of times a second, but with
// 300,000 instances (a live heap over 100 MB) it lets the heap, and RSS,
// grow to five times what is live. So after every collection the percentage
// is set from the live heap: a headroom of half the live heap, at least
// gcMinHeadroom, between GOGC 50 and 400 (docs/store.md, "Memory").
// GOGC in the environment turns this off.
const (
	gcMinHeadroom = 64 << 20
	gcMinPercent  = 50
	gcMaxPercent  = 400
)

// gcPercent is the GOGC that gives a heap of live bytes its headroom.
func gcPercent(live uint64) int {
	if live == 0 {
		return gcMaxPercent
	}
	headroom := max(uint64(gcMinHeadroom), live/2)
	return int(min(max(headroom*100/live, gcMinPercent), gcMaxPercent))
}

// gcSentinel is allocated for its finalizer, which runs after the
// collection that finds it unreachable. It is large enough not to share a
// tiny block with other objects, whose finalizers might never run.
type gcSentinel struct{ _ [16]byte }

var paceOnce sync.Once

// paceGC sets GOGC from the live heap now and after every collection, for
// the life of the process.
func paceGC() {
	paceOnce.Do(func() {
		live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		var arm func()
		arm = func() {
			runtime.SetFinalizer(&gcSentinel{}, func(*gcSentinel) {
				metrics.Read(live)
				if live[0].Value.Kind() == metrics.KindUint64 {
					debug.SetGCPercent(gcPercent(live[0].Value.Uint64()))
				}
				arm()
			})
		}
		debug.SetGCPercent(gcMaxPercent)
		arm()
	})
}
