//go:build etcd

package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mapmesh/mapmesh/internal/store"
	"github.com/mapmesh/mapmesh/internal/store/etcdstore/etcdtest"
	"github.com/mapmesh/mapmesh/internal/store/storetest"
)

// These tests run against a 3-member etcd cluster of child processes
// (etcdtest.StartCluster); they need -tags etcd (make test-etcd).

// clusterTimeout is the RequestTimeout of the stores of the fault tests.
const clusterTimeout = 2 * time.Second

// TestClusterConformance runs the suite through all three endpoints:
// requests go to every member in turn, so a watch and the transactions it
// waits for are often served by different members.
func TestClusterConformance(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t, Options{Endpoints: c.Endpoints()}) })
}

// TestClusterKillMember writes through the store while each member in turn
// is killed with SIGKILL and restarted, the leader first (so the member
// that serves the follower's watch is killed too). No acknowledged write
// may be lost, every Txn must return within its bound (errors wrapping
// store.ErrUnavailable are fine while a leader is elected), writes must go
// on while two members serve, and a WithProgress follower must see every
// write exactly once, in order.
func TestClusterKillMember(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	s, reconnects := openFaultStore(t, c)
	l := startLoad(t, s)
	var killed int
	kill := func(i int) { killed = i; t.Logf("killing m%d (leader m%d)", i, leader(t, s, c)); c.Kill(i) }
	l.phase("all up", 3*time.Second, true, func() {})
	l.phase("leader killed", 3*time.Second, true, func() { kill(leader(t, s, c)) })
	l.phase("leader back", 3*time.Second, true, func() { c.Restart(killed) })
	l.phase("next member killed", 3*time.Second, true, func() { kill((killed + 1) % 3) })
	l.phase("next member back", 3*time.Second, true, func() { c.Restart(killed) })
	l.phase("last member killed", 3*time.Second, true, func() { kill((killed + 1) % 3) })
	l.phase("last member back", 3*time.Second, true, func() { c.Restart(killed) })
	l.stop()
	l.check()
	t.Logf("the follower's watch reconnected %d times", reconnects.Load())
}

// TestClusterQuorumLoss kills two members: writes then fail, each within
// its bound, with store.ErrUnavailable; the surviving member has no leader
// and ends the follower's watch, which reconnects until the members are
// back. Then writes go on, and the follower sees every write.
func TestClusterQuorumLoss(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	s, reconnects := openFaultStore(t, c)
	l := startLoad(t, s)
	l.phase("all up", 2*time.Second, true, func() {})
	l.phase("quorum lost", 5*time.Second, false, func() { c.Kill(1); c.Kill(2) })
	l.phase("quorum back", 3*time.Second, true, func() { c.Restart(1); c.Restart(2) })
	l.stop()
	if n := l.okIn["quorum lost"].Load(); n > 20 {
		t.Errorf("%d writes acknowledged without a quorum; want only those in flight when it was lost", n)
	}
	l.check()
	t.Logf("the follower's watch reconnected %d times", reconnects.Load())
	if reconnects.Load() == 0 {
		t.Errorf("the follower's watch never reconnected; want it to, after the surviving member lost its leader")
	}
}

func openFaultStore(t *testing.T, c *etcdtest.Cluster) (*Store, *atomic.Int64) {
	reconnects := new(atomic.Int64)
	log := slog.New(slog.NewTextHandler(logWriter{t, reconnects}, nil))
	return openTest(t, Options{Endpoints: c.Endpoints(), RequestTimeout: clusterTimeout, Logger: log}), reconnects
}

// leader returns the index of the member that says it leads.
func leader(t *testing.T, s *Store, c *etcdtest.Cluster) int {
	for i, ep := range c.Endpoints() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := s.cli.Status(ctx, ep)
		cancel()
		if err == nil && st.Leader == st.Header.MemberId {
			return i
		}
	}
	t.Fatal("no member says it leads")
	return -1
}

// load is 4 writers creating keys under /fault/ through the store, and a
// WithProgress follower of the prefix.
type load struct {
	t        *testing.T
	s        *Store
	r0       int64
	follower <-chan []store.Event

	mu      sync.Mutex
	acked   map[string]int64 // key -> revision acknowledged
	current string           // the phase the writers are in
	okIn    map[string]*atomic.Int64

	failed  atomic.Int64
	slowest atomic.Int64
	done    chan struct{}
	wg      sync.WaitGroup
}

const loadPrefix = "/fault/"

func startLoad(t *testing.T, s *Store) *load {
	ctx := context.Background()
	r0, err := s.Rev(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l := &load{t: t, s: s, r0: r0, acked: map[string]int64{}, okIn: map[string]*atomic.Int64{}, done: make(chan struct{})}
	l.follower = s.Watch(t.Context(), loadPrefix, r0+1, store.WithProgress())
	for w := range 4 {
		l.wg.Go(func() { l.write(w) })
	}
	return l
}

func (l *load) write(w int) {
	for i := 0; ; i++ {
		select {
		case <-l.done:
			return
		default:
		}
		key := fmt.Sprintf("%sw%d/%06d", loadPrefix, w, i)
		start := time.Now()
		res, err := l.s.Txn(context.Background(), []store.Cond{{Key: key}}, []store.Op{store.Put(key, []byte(key))})
		took := time.Since(start)
		for cur := l.slowest.Load(); int64(took) > cur && !l.slowest.CompareAndSwap(cur, int64(took)); cur = l.slowest.Load() {
		}
		if took > clusterTimeout+time.Second {
			l.t.Errorf("Txn(%s) took %v; want at most about %v", key, took, clusterTimeout)
		}
		if err != nil {
			if !errors.Is(err, store.ErrUnavailable) {
				l.t.Errorf("Txn(%s) error = %v; want nil or ErrUnavailable", key, err)
				return
			}
			l.failed.Add(1)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		l.mu.Lock()
		l.acked[key] = res.Rev
		l.okIn[l.current].Add(1)
		l.mu.Unlock()
	}
}

// phase does do, then lets the writers run for d, and checks whether
// writes were acknowledged since it began.
func (l *load) phase(name string, d time.Duration, wantWrites bool, do func()) {
	l.t.Helper()
	l.mu.Lock()
	l.current = name
	l.okIn[name] = new(atomic.Int64)
	l.mu.Unlock()
	do()
	time.Sleep(d)
	n := l.okIn[name].Load()
	l.t.Logf("%s: %d writes acknowledged in %v", name, n, d)
	if wantWrites && n == 0 {
		l.t.Errorf("%s: no write acknowledged in %v; want writes to go on", name, d)
	}
}

func (l *load) stop() {
	close(l.done)
	l.wg.Wait()
	l.t.Logf("%d writes acknowledged, %d failed with ErrUnavailable; slowest Txn %v", len(l.acked), l.failed.Load(), time.Duration(l.slowest.Load()))
}

// check reads back every acknowledged write, and follows the follower to
// the end of the writes.
func (l *load) check() {
	t := l.t
	kvs, listRev, err := l.s.List(context.Background(), loadPrefix)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]store.KV{}
	for _, kv := range kvs {
		have[kv.Key] = kv
	}
	for key, rev := range l.acked {
		kv, ok := have[key]
		if !ok || kv.ModRevision != rev || string(kv.Value) != key {
			t.Errorf("acknowledged write %s at %d: List has %+v (present %v)", key, rev, kv, ok)
		}
	}
	t.Logf("%d keys listed: %d acknowledged, %d applied without an acknowledgement", len(kvs), len(l.acked), len(kvs)-len(l.acked))

	seen := map[string]int64{}
	last := l.r0
	deadline := time.After(30 * time.Second)
	for last < listRev {
		select {
		case evs, ok := <-l.follower:
			if !ok {
				t.Fatalf("follower watch closed at %d", last)
			}
			if evs[0].Err != nil {
				t.Fatalf("follower watch ended at %d: %v", last, evs[0].Err)
			}
			if evs[0].Type == store.EventProgress {
				if evs[0].Rev < last {
					t.Fatalf("progress to %d after %d", evs[0].Rev, last)
				}
				last = evs[0].Rev
				continue
			}
			if evs[0].Rev <= last {
				t.Fatalf("change at %d after %d", evs[0].Rev, last)
			}
			last = evs[0].Rev
			for _, ev := range evs {
				if _, dup := seen[ev.KV.Key]; dup {
					t.Errorf("follower saw %s twice", ev.KV.Key)
				}
				seen[ev.KV.Key] = ev.Rev
			}
		case <-deadline:
			t.Fatalf("follower at %d has not reached %d after 30s", last, listRev)
		}
	}
	for _, kv := range kvs {
		if seen[kv.Key] != kv.ModRevision {
			t.Errorf("follower saw %s at %d; List has it at %d", kv.Key, seen[kv.Key], kv.ModRevision)
		}
	}
	if len(seen) != len(kvs) {
		t.Errorf("follower saw %d keys; List has %d", len(seen), len(kvs))
	}
}

// logWriter passes the store's log to the test log and counts the watch
// reconnections.
type logWriter struct {
	t          *testing.T
	reconnects *atomic.Int64
}

func (w logWriter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "reconnecting") {
		w.reconnects.Add(1)
	}
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestClusterReadOnlyTxnIsLinearizable: a Txn without writes, sent to
// another member than the write before it, still answers at least that
// write's revision and judges its conditions on it. (etcd serves a
// transaction without ops serializably, from the member it reaches.)
func TestClusterReadOnlyTxnIsLinearizable(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	eps := c.Endpoints()
	prefix := newPrefix()
	w := openTest(t, Options{Endpoints: eps[:1], Prefix: prefix})
	r := openTest(t, Options{Endpoints: eps[1:2], Prefix: prefix})
	ctx := context.Background()
	for i := range 300 {
		res, err := w.Txn(ctx, nil, []store.Op{store.Put("/k", []byte(fmt.Sprint(i)))})
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Txn(ctx, nil, nil)
		if err != nil || got.Rev < res.Rev {
			t.Fatalf("write %d at revision %d; an empty Txn on another member = %+v, %v", i, res.Rev, got, err)
		}
		if _, err := r.Txn(ctx, []store.Cond{{Key: "/k", ModRevision: res.Rev}}, nil); err != nil {
			t.Fatalf("write %d at revision %d; a Txn on another member conditional on it = %v", i, res.Rev, err)
		}
	}
}
