package cloudmap

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// TestAnswerCache: repeated DiscoverInstances queries share an encoded
// answer for at most answerReuse requests or answerMinAge, whichever is
// longer, then get a new random order;
// every kind of change shows in the very next answer; different queries
// have different answers.
func TestAnswerCache(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	e := newEnv(t, Config{CustomHealthDelay: 30 * time.Second, Now: clock})
	_, svc := e.httpService("cache", "web", true)
	for i := range 50 {
		e.register(svc, fmt.Sprint("i-", i), map[string]string{"AWS_INSTANCE_IPV4": fmt.Sprintf("10.0.0.%d", i), "zone": fmt.Sprint("z", i%2)})
	}
	ask := func(params map[string]string) *discovered {
		t.Helper()
		return must(e.b.DiscoverInstances(e.ctx, &DiscoverInstancesInput{NamespaceName: str("cache"), ServiceName: str("web"),
			MaxResults: int32ptr(1000), HealthStatus: str("HEALTHY"), QueryParameters: params}))
	}
	ptr := func(d *discovered) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(d.body))) }
	ids := func(d *discovered) (out []string) {
		for _, in := range answerOf(d).Instances {
			out = append(out, in.InstanceId)
		}
		return out
	}

	// Asked faster than answerReuse requests per answerMinAge: the
	// answerSlots encodings serve every request until they are that old.
	first := ask(nil)
	frozen := map[uintptr]int{ptr(first): 1}
	for range 4 * answerSlots * answerReuse {
		frozen[ptr(ask(nil))]++
	}
	if len(frozen) != answerSlots {
		t.Errorf("%d requests within %d ms got %d encoded answers; want %d, one per slot", 4*answerSlots*answerReuse+1, answerMinAge, len(frozen), answerSlots)
	}

	// Asked slower: shared for answerReuse requests, then encoded again in
	// a new order.
	bodies := map[uintptr]int{}
	orders := map[string]bool{}
	for range 4 * answerReuse {
		advance(answerMinAge * time.Millisecond)
		d := ask(nil)
		if d.body == nil {
			t.Fatal("DiscoverInstances answered without an encoded body")
		}
		bodies[ptr(d)]++
		orders[fmt.Sprint(ids(d))] = true
	}
	for _, n := range bodies {
		if n > answerReuse {
			t.Errorf("one encoded answer served %d requests, %d ms apart; want at most %d", n, answerMinAge, answerReuse)
		}
	}
	if len(bodies) < 4 || len(orders) < 4 {
		t.Errorf("%d requests got %d encoded answers in %d orders; want at least 4 of each", 4*answerReuse, len(bodies), len(orders))
	}

	// Consecutive answers come in different orders ("a randomized list").
	consecutive := map[string]bool{}
	for range 10 {
		consecutive[fmt.Sprint(ids(ask(nil)))] = true
	}
	if len(consecutive) < 2 {
		t.Errorf("ten consecutive answers in %d order(s); want them shuffled", len(consecutive))
	}

	// Every change is in the next answer.
	sorted := func(d *discovered) []string { return slices.Sorted(slices.Values(ids(d))) }
	all := sorted(ask(nil))
	if len(all) != 50 {
		t.Fatalf("%d instances; want 50", len(all))
	}
	e.register(svc, "i-new", map[string]string{"AWS_INSTANCE_IPV4": "10.0.1.1", "zone": "z0"})
	if got := sorted(ask(nil)); len(got) != 51 || !slices.Contains(got, "i-new") {
		t.Errorf("after a registration: %d instances; want 51 with i-new", len(got))
	}
	must(e.b.DeregisterInstance(e.ctx, &DeregisterInstanceInput{ServiceID: &svc, InstanceID: str("i-new")}))
	if got := sorted(ask(nil)); !slices.Equal(got, all) {
		t.Errorf("after a deregistration: %d instances; want the 50 again", len(got))
	}
	z0 := len(ids(ask(map[string]string{"zone": "z0"})))
	e.register(svc, "i-1", map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1", "zone": "z0"}) // was z1
	if got := len(ids(ask(map[string]string{"zone": "z0"}))); got != z0+1 {
		t.Errorf("after an attribute change: %d instances in z0; want %d", got, z0+1)
	}
	if got := len(ids(ask(map[string]string{"zone": "z1"}))); got != 50-z0-1 {
		t.Errorf("after an attribute change: %d instances in z1; want %d", got, 50-z0-1)
	}
	// A delayed custom health status: the cached answer holds until it
	// matures, then the next answer has it.
	must(e.b.UpdateInstanceCustomHealthStatus(e.ctx, &UpdateInstanceCustomHealthStatusInput{ServiceID: &svc, InstanceID: str("i-2"), Status: str("UNHEALTHY")}))
	if got := sorted(ask(nil)); !slices.Contains(got, "i-2") {
		t.Error("i-2 left the healthy answer before its status matured")
	}
	advance(31 * time.Second)
	if got := sorted(ask(nil)); slices.Contains(got, "i-2") || len(got) != 49 {
		t.Errorf("after i-2's UNHEALTHY matured: %d healthy, i-2 among them: %v", len(got), slices.Contains(got, "i-2"))
	}
	// The InstancesRevision in the answer is the current one.
	if got, want := answerOf(ask(nil)).InstancesRevision, must(e.b.DiscoverInstancesRevision(e.ctx, &DiscoverInstancesRevisionInput{NamespaceName: str("cache"), ServiceName: str("web")})).InstancesRevision; got != *want {
		t.Errorf("cached answer's InstancesRevision %d; want %d", got, *want)
	}
	// MaxResults and the health filter are part of the query.
	small := must(e.b.DiscoverInstances(e.ctx, &DiscoverInstancesInput{NamespaceName: str("cache"), ServiceName: str("web"), MaxResults: int32ptr(3)}))
	if n := count(small); n != 3 {
		t.Errorf("MaxResults 3 after MaxResults 1000: %d instances", n)
	}
	if n := count(must(e.b.DiscoverInstances(e.ctx, &DiscoverInstancesInput{NamespaceName: str("cache"), ServiceName: str("web"),
		MaxResults: int32ptr(1000), HealthStatus: str("ALL")}))); n != 50 {
		t.Errorf("HealthStatus ALL after HEALTHY: %d instances; want 50", n)
	}
}

// TestAnswerCacheBound: the cache keeps at most its bytes, dropping the
// least recently used answers, and answers stay right when it is full.
func TestAnswerCacheBound(t *testing.T) {
	e := newEnv(t, Config{AnswerCacheBytes: 64 << 10})
	for s := range 10 {
		_, svc := e.httpService(fmt.Sprint("ns-", s), "web", false)
		for i := range 20 {
			e.register(svc, fmt.Sprint("i-", i), map[string]string{"AWS_INSTANCE_IPV4": fmt.Sprintf("10.0.%d.%d", s, i), "pad": fmt.Sprintf("%0100d", i)})
		}
	}
	for round := range 3 {
		for s := range 10 {
			if n := count(e.discover(fmt.Sprint("ns-", s), "web", "ALL")); n != 20 {
				t.Fatalf("round %d, service %d: %d instances; want 20", round, s, n)
			}
			c := &e.b.dom.answers
			c.mu.Lock()
			bytes, max := c.bytes, c.max
			c.mu.Unlock()
			if bytes > max {
				t.Fatalf("the cache holds %d bytes; its bound is %d", bytes, max)
			}
		}
	}
	if n := len(e.b.dom.answers.m); n == 0 {
		t.Error("no answer cached")
	}
	off := newEnv(t, Config{AnswerCacheBytes: -1})
	_, svc := off.httpService("ns", "web", false)
	off.register(svc, "i-1", nil)
	if d := off.discover("ns", "web", "ALL"); d.body != nil || count(d) != 1 {
		t.Errorf("with the cache off: body cached %v, %d instances", d.body != nil, count(d))
	}
}
