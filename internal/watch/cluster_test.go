//go:build etcd

package watch_test

import (
	"testing"
	"time"

	"github.com/mapmesh/mapmesh/internal/server"
	"github.com/mapmesh/mapmesh/internal/server/servertest"
	"github.com/mapmesh/mapmesh/internal/store/etcdstore/etcdtest"
)

// TestClusterWakes: on two servers sharing an etcd store, a query held on
// one wakes for a change made through the other, with the index the other
// server gives the same answer.
func TestClusterWakes(t *testing.T) {
	e, err := etcdtest.StartEmbedded(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close) // after the servers stop (cleanups run last first)
	cfg := server.Config{Store: server.StoreEtcd, EtcdEndpoints: []string{e.Endpoint}, EtcdPrefix: "/watch-test/"}
	s1, s2 := servertest.Start(t, cfg), servertest.Start(t, cfg)
	a := api{t, s1.URL, nil}
	svcID := a.setup("cluster", "web")
	a.register(svcID, "web-1", map[string]string{"k": "v"})
	var now answer
	deadline := time.Now().Add(10 * time.Second)
	for now = discover(t, s2.URL, params("cluster", "web")); len(now.ids) != 1 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		now = discover(t, s2.URL, params("cluster", "web"))
	}
	if other := discover(t, s1.URL, params("cluster", "web")); other.index != now.index {
		t.Fatalf("the same answer has index %q on one server, %q on the other", other.index, now.index)
	}
	held := hold(t, s2, params("cluster", "web", "index", now.index, "wait", "30s"))
	a.register(svcID, "web-2", map[string]string{"k": "v"})
	acked := time.Now()
	select {
	case got := <-held:
		t.Logf("the other server answered %v after the change was acknowledged", got.arrived.Sub(acked))
		if got.index == now.index || len(got.ids) != 2 {
			t.Fatalf("woken answer: index %q (was %q), %v", got.index, now.index, got.ids)
		}
		if late := got.arrived.Sub(acked); late > time.Second {
			t.Errorf("the other server answered %v after the change; want within a second", late)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a change made through one server did not wake a query held on the other")
	}
}
