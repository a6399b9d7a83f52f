package cli

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func TestGCPercent(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 400},
		{1 << 20, 400},  // 64 MiB headroom would be 6,400%: capped
		{16 << 20, 400}, // exactly 64 MiB of headroom
		{64 << 20, 100}, // 64 MiB
		{100 << 20, 64}, // still 64 MiB
		{128 << 20, 50}, // from here on, half the live heap
		{4 << 30, 50},
	} {
		if got := gcPercent(c.live); got != c.want {
			t.Errorf("gcPercent(%d MiB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}

// TestPaceGC holds a live heap large enough for the smallest percentage
// and checks that a collection sets it, then that it goes back up once the
// heap is small again.
func TestPaceGC(t *testing.T) {
	gogc := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	waitFor := func(want uint64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			runtime.GC()
			metrics.Read(gogc)
			if got := gogc[0].Value.Uint64(); got == want {
				return
			} else if time.Now().After(deadline) {
				t.Fatalf("GOGC is %d, want %d", got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	paceGC()
	t.Cleanup(func() { runtime.GC() })
	func() {
		big := make([]byte, 200<<20)
		for i := range big {
			big[i] = byte(i)
		}
		waitFor(gcMinPercent)
		runtime.KeepAlive(big)
	}()
	waitFor(gcMaxPercent)
}
