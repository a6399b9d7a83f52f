package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/mapmesh/mapmesh/internal/store/etcdstore/etcdtest"
)

func client(t *testing.T) *clientv3.Client {
	t.Helper()
	e, err := etcdtest.StartEmbedded(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.Endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// settle waits until every membership sees n members.
func settle(t *testing.T, ms []*Membership, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok := true
		for _, m := range ms {
			if len(m.Members()) != n {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			for _, m := range ms {
				t.Logf("%s sees %v", m.Self(), m.Members())
			}
			t.Fatalf("members did not settle at %d", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// check: every key has exactly one owner among ms, and there is one leader.
func check(t *testing.T, ms []*Membership) map[string]string {
	t.Helper()
	owners := map[string]string{}
	for i := range 1000 {
		key := fmt.Sprintf("acct/us-east-1/srv-x/i-%d", i)
		n := 0
		for _, m := range ms {
			if m.Owns(key) {
				n++
				owners[key] = m.Self()
			}
		}
		if n != 1 {
			t.Fatalf("key %s has %d owners; want 1", key, n)
		}
	}
	leaders := 0
	for _, m := range ms {
		if m.Leader() {
			leaders++
		}
	}
	if leaders != 1 {
		t.Fatalf("%d leaders; want 1", leaders)
	}
	return owners
}

// TestMembership: three servers share the work, each key owned by exactly
// one; a server that leaves (Close) or dies (its lease expires) gives its
// work to the others, and only its work moves.
func TestMembership(t *testing.T) {
	ctx := context.Background()
	cli := client(t)
	var ms []*Membership
	for i := range 3 {
		m, err := Join(ctx, cli, "/test.members/", fmt.Sprintf("node-%d", i), 2*time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	defer func() {
		for _, m := range ms {
			_ = m.Close()
		}
	}()
	settle(t, ms, 3)
	before := check(t, ms)
	counts := map[string]int{}
	for _, o := range before {
		counts[o]++
	}
	for id, n := range counts {
		if n < 200 {
			t.Errorf("%s owns %d of 1000 keys; want about a third", id, n)
		}
	}

	// node-2 dies: its lease is no longer kept alive, nor its key deleted.
	changed := ms[0].Changed()
	ms[2].cancel()
	<-ms[2].done
	dead := ms[2]
	ms = ms[:2]
	start := time.Now()
	select {
	case <-changed:
	case <-time.After(15 * time.Second):
		t.Fatal("the survivors were not told of the death")
	}
	settle(t, ms, 2)
	t.Logf("a dead member's work moved after %v (lease TTL 2s)", time.Since(start).Round(time.Millisecond))
	after := check(t, ms)
	for k, o := range before {
		if o != dead.Self() && after[k] != o {
			t.Errorf("key %s moved from %s to %s, though %s lives", k, o, after[k], o)
		}
	}

	// node-1 leaves cleanly: node-0 has everything at once.
	changed = ms[0].Changed()
	if err := ms[1].Close(); err != nil {
		t.Fatal(err)
	}
	ms = ms[:1]
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("a member that left was still counted")
	}
	check(t, ms)
}

// watchers returns how many watches the embedded etcd serves (its
// etcd_debugging_mvcc_watcher_total gauge).
func watchers(t *testing.T) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "etcd_debugging_mvcc_watcher_total" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("etcd_debugging_mvcc_watcher_total not found")
	return 0
}

// TestMembershipLeaseLost: a member whose lease is lost (here revoked, as
// when etcd could not be reached for longer than the TTL) joins again with
// a new lease, and leaves nothing of its old membership behind: no watch,
// no lease kept alive.
func TestMembershipLeaseLost(t *testing.T) {
	ctx := context.Background()
	cli := client(t)
	m, err := Join(ctx, cli, "/lost.members/", "node-0", 2*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// The membership's watch starts after Join returns.
	waitWatchers := func(cond func(float64) bool) float64 {
		deadline := time.Now().Add(5 * time.Second)
		n := watchers(t)
		for !cond(n) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			n = watchers(t)
		}
		return n
	}
	before := waitWatchers(func(n float64) bool { return n > 0 })
	for round := range 3 {
		resp, err := cli.Get(ctx, "/lost.members/node-0")
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("round %d: membership key: %v, %v", round, resp, err)
		}
		lease := clientv3.LeaseID(resp.Kvs[0].Lease)
		if _, err := cli.Revoke(ctx, lease); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := cli.Get(ctx, "/lost.members/node-0")
			if err == nil && len(resp.Kvs) == 1 && clientv3.LeaseID(resp.Kvs[0].Lease) != lease {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: not joined again with a new lease after 10s", round)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// A watch that ended is counted off asynchronously.
	if after := waitWatchers(func(n float64) bool { return n == before }); after != before {
		t.Errorf("etcd serves %v watches after 3 lost leases; want %v, as before", after, before)
	}
	leases, err := cli.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(leases.Leases); n != 1 {
		t.Errorf("%d leases after 3 lost leases; want 1, the membership's", n)
	}
}
