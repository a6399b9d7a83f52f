package healthcheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
	"github.com/mapmesh/mapmesh/internal/store/boltstore"
)

// These tests run in a testing/synctest bubble: the Checker's timers use
// the bubble's fake clock, the Cloud Map backend is real (bbolt in a
// temporary directory), and the network is faked by fakeNet, so a test
// covering minutes of probing takes milliseconds.

const (
	testAccount = "111122223333"
	testRegion  = "eu-west-1"
	testIval    = 10 * time.Second
)

// fakeNet stands for the targets: each address is up, down or hanging
// (black-holed: the probe waits for its deadline).
type fakeNet struct {
	mu       sync.Mutex // guards everything below
	state    map[netip.AddrPort]string
	delay    map[netip.AddrPort]time.Duration
	probes   map[netip.AddrPort]int
	paths    map[netip.AddrPort][]string
	inFlight map[netip.AddrPort]int
	overlap  bool // two probes of one target ran at once
	total    int  // probes in flight now
	maxTotal int
}

func newFakeNet() *fakeNet {
	return &fakeNet{state: map[netip.AddrPort]string{}, delay: map[netip.AddrPort]time.Duration{}, probes: map[netip.AddrPort]int{},
		paths: map[netip.AddrPort][]string{}, inFlight: map[netip.AddrPort]int{}}
}

func (f *fakeNet) set(addr, state string) {
	f.mu.Lock()
	f.state[netip.MustParseAddrPort(addr)] = state
	f.mu.Unlock()
}

// lastPath returns "<path> <host>" of the last probe of addr.
func (f *fakeNet) lastPath(addr string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.paths[netip.MustParseAddrPort(addr)]
	if len(p) == 0 {
		return ""
	}
	return p[len(p)-1]
}

func (f *fakeNet) setDelay(addr string, d time.Duration) {
	f.mu.Lock()
	f.delay[netip.MustParseAddrPort(addr)] = d
	f.mu.Unlock()
}

func (f *fakeNet) maxInFlight() (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxTotal, f.overlap
}

func (f *fakeNet) count(addr string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.probes[netip.MustParseAddrPort(addr)]
}

func (f *fakeNet) probe(ctx context.Context, t target) error {
	f.mu.Lock()
	f.probes[t.Addr]++
	f.paths[t.Addr] = append(f.paths[t.Addr], t.Path+" "+t.Host)
	f.inFlight[t.Addr]++
	if f.inFlight[t.Addr] > 1 {
		f.overlap = true
	}
	f.total++
	f.maxTotal = max(f.maxTotal, f.total)
	state, delay := f.state[t.Addr], f.delay[t.Addr]
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight[t.Addr]--
		f.total--
		f.mu.Unlock()
	}()
	if state == "hang" {
		<-ctx.Done()
		return ctx.Err()
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if state == "up" {
		return nil
	}
	return errors.New("connection refused")
}

// countingBackend counts the health writes.
type countingBackend struct {
	*cloudmap.Backend
	writes atomic.Int64
}

func (b *countingBackend) SetHealth(ctx context.Context, account, region, svcID, instID string, instRev int64, status, reason string) error {
	b.writes.Add(1)
	return b.Backend.SetHealth(ctx, account, region, svcID, instID, instRev, status, reason)
}

type env struct {
	t   *testing.T
	ctx context.Context
	b   *countingBackend
	net *fakeNet
	c   *Checker

	mu      sync.Mutex // guards results
	results []Result
}

// newEnv opens a backend; start starts the Checker. Call inside a bubble.
func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "mapmesh.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := cloudmap.New(context.Background(), st, cloudmap.Config{HealthChecksAllNamespaces: true})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, b: &countingBackend{Backend: b}, net: newFakeNet(),
		ctx: awsapi.WithCaller(context.Background(), awsapi.Caller{Account: testAccount, Region: testRegion})}
	t.Cleanup(func() {
		if e.c != nil {
			e.c.Close()
		}
		b.Close()
		st.Close()
	})
	return e
}

func (e *env) start(cfg Config) {
	e.t.Helper()
	if cfg.Interval == 0 {
		cfg.Interval = testIval
	}
	cfg.probe = e.net.probe
	cfg.Observe = func(r Result) {
		e.mu.Lock()
		e.results = append(e.results, r)
		e.mu.Unlock()
	}
	c, err := Start(e.b, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.c = c
	synctest.Wait()
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func str(s string) *string { return &s }

func i32(n int32) *int32 { return &n }

// service creates a public DNS namespace and an A service with hc in it and
// returns the service ID.
func (e *env) service(ns, name string, hc *cloudmap.HealthCheckConfig) string {
	e.t.Helper()
	must(e.b.CreatePublicDnsNamespace(e.ctx, &cloudmap.CreatePublicDnsNamespaceInput{Name: str(ns)}))
	var nsID string
	for _, n := range must(e.b.ListNamespaces(e.ctx, &cloudmap.ListNamespacesInput{})).Namespaces {
		if *n.Name == ns {
			nsID = *n.ID
		}
	}
	s := must(e.b.CreateService(e.ctx, &cloudmap.CreateServiceInput{Name: str(name), NamespaceID: &nsID,
		DNSConfig:         &cloudmap.DNSConfig{DNSRecords: []cloudmap.DNSRecord{{Type: str("A"), TTL: new(int64(60))}}},
		HealthCheckConfig: hc}))
	return *s.Service.ID
}

func (e *env) register(svcID, id, addr string, extra ...string) {
	e.t.Helper()
	ap := netip.MustParseAddrPort(addr)
	attrs := map[string]string{"AWS_INSTANCE_IPV4": ap.Addr().String(), "AWS_INSTANCE_PORT": fmt.Sprint(ap.Port())}
	for i := 0; i+1 < len(extra); i += 2 {
		attrs[extra[i]] = extra[i+1]
	}
	must(e.b.RegisterInstance(e.ctx, &cloudmap.RegisterInstanceInput{ServiceID: &svcID, InstanceID: &id, Attributes: attrs}))
	synctest.Wait()
}

func (e *env) deregister(svcID, id string) {
	e.t.Helper()
	must(e.b.DeregisterInstance(e.ctx, &cloudmap.DeregisterInstanceInput{ServiceID: &svcID, InstanceID: &id}))
	synctest.Wait()
}

func (e *env) updateService(svcID string, hc *cloudmap.HealthCheckConfig) {
	e.t.Helper()
	must(e.b.UpdateService(e.ctx, &cloudmap.UpdateServiceInput{ID: &svcID, Service: &cloudmap.ServiceChange{HealthCheckConfig: hc}}))
	synctest.Wait()
}

// health returns GetInstancesHealthStatus for the service.
func (e *env) health(svcID string) map[string]string {
	e.t.Helper()
	return must(e.b.GetInstancesHealthStatus(e.ctx, &cloudmap.GetInstancesHealthStatusInput{ServiceID: &svcID})).Status
}

func (e *env) status(svcID, id string) string {
	e.t.Helper()
	return e.health(svcID)[id]
}

// discover returns the IDs DiscoverInstances answers with the filter, sorted.
func (e *env) discover(ns, svc, filter string) []string {
	e.t.Helper()
	d := must(e.b.DiscoverInstances(e.ctx, &cloudmap.DiscoverInstancesInput{NamespaceName: &ns, ServiceName: &svc,
		HealthStatus: &filter, MaxResults: i32(1000)}))
	var out cloudmap.DiscoverInstancesOutput
	if err := json.Unmarshal(d.AppendJSON(nil), &out); err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, in := range out.Instances {
		ids = append(ids, *in.InstanceID)
	}
	slices.Sort(ids)
	return ids
}

// probed returns how many results were observed so far.
func (e *env) probed() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.results)
}

// resultsFor returns the observed results of one instance.
func (e *env) resultsFor(id string) []Result {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Result
	for _, r := range e.results {
		if r.InstanceID == id {
			out = append(out, r)
		}
	}
	return out
}

// nextProbe advances the fake clock until instance id has had one more
// probe than now, and every write it caused is done.
func (e *env) nextProbe(id string) {
	e.t.Helper()
	n := len(e.resultsFor(id))
	for range 10000 {
		time.Sleep(testIval / 100)
		synctest.Wait()
		if len(e.resultsFor(id)) > n {
			return
		}
	}
	e.t.Fatalf("no probe of %s", id)
}

func TestFailureThresholdCountedExactly(t *testing.T) {
	for _, threshold := range []int32{0, 1, 2, 3, 10} {
		t.Run(fmt.Sprintf("FailureThreshold=%d", threshold), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t)
				e.start(Config{})
				hc := &cloudmap.HealthCheckConfig{Type: str("HTTP")}
				want := int(threshold)
				if threshold > 0 {
					hc.FailureThreshold = i32(threshold)
				} else {
					want = DefaultFailureThreshold
				}
				svc := e.service("example.com", "web", hc)
				e.net.set("10.0.0.1:80", "up")
				e.register(svc, "a", "10.0.0.1:80")
				for range 3 {
					e.nextProbe("a")
				}
				if got := e.status(svc, "a"); got != "HEALTHY" {
					t.Fatalf("status while up = %s; want HEALTHY", got)
				}
				// Down: a success in the middle restarts the count.
				e.net.set("10.0.0.1:80", "down")
				for range want - 1 {
					e.nextProbe("a")
				}
				e.net.set("10.0.0.1:80", "up")
				e.nextProbe("a")
				e.net.set("10.0.0.1:80", "down")
				for i := 1; i <= want; i++ {
					e.nextProbe("a")
					wantStatus := "HEALTHY"
					if i == want {
						wantStatus = "UNHEALTHY"
					}
					if got := e.status(svc, "a"); got != wantStatus {
						t.Fatalf("after %d consecutive failures: status %s; want %s", i, got, wantStatus)
					}
				}
				if got := e.discover("example.com", "web", "HEALTHY"); len(got) != 0 {
					t.Errorf("DiscoverInstances(HEALTHY) = %v; want none", got)
				}
				if got := e.discover("example.com", "web", "HEALTHY_OR_ELSE_ALL"); !slices.Equal(got, []string{"a"}) {
					t.Errorf("DiscoverInstances(HEALTHY_OR_ELSE_ALL) = %v; want [a] (none healthy: all)", got)
				}
				// Up again: the same count back.
				e.net.set("10.0.0.1:80", "up")
				for i := 1; i <= want; i++ {
					e.nextProbe("a")
					wantStatus := "UNHEALTHY"
					if i == want {
						wantStatus = "HEALTHY"
					}
					if got := e.status(svc, "a"); got != wantStatus {
						t.Fatalf("after %d consecutive successes: status %s; want %s", i, got, wantStatus)
					}
				}
				// Only the two changes were written, not every probe.
				if n := e.b.writes.Load(); n != 2 {
					t.Errorf("SetHealth calls = %d; want 2 (one per change)", n)
				}
			})
		})
	}
}

func TestSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.start(Config{})
		svc := e.service("example.com", "web", &cloudmap.HealthCheckConfig{Type: str("TCP")})
		e.net.set("10.0.0.1:80", "up")
		registered := time.Now()
		e.register(svc, "a", "10.0.0.1:80")
		time.Sleep(5 * testIval)
		synctest.Wait()
		rs := e.resultsFor("a")
		if len(rs) < 4 {
			t.Fatalf("%d probes in 5 intervals; want at least 4", len(rs))
		}
		if d := rs[0].Start.Sub(registered); d >= firstProbeWithin {
			t.Errorf("first probe %v after registration; want within %v", d, firstProbeWithin)
		}
		if d := rs[1].Due.Sub(rs[0].Due); d < testIval/2 || d >= 3*testIval/2 {
			t.Errorf("second probe %v after the first; want from half to one and a half intervals", d)
		}
		for i := 2; i < len(rs); i++ {
			if d := rs[i].Due.Sub(rs[i-1].Due); d != testIval {
				t.Errorf("probe %d: %v after the one before; want %v", i, d, testIval)
			}
		}
		for i, r := range rs {
			if r.Start != r.Due {
				t.Errorf("probe %d started %v late", i, r.Start.Sub(r.Due))
			}
		}
	})
}

// TestStartTakesOver: at start the Checker takes over the recorded statuses
// (no write) and spreads the first probes over one interval.
func TestStartTakesOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		svc := e.service("example.com", "web", &cloudmap.HealthCheckConfig{Type: str("TCP"), FailureThreshold: i32(2)})
		for i := range 50 {
			addr := fmt.Sprintf("10.0.1.%d:80", i)
			e.net.set(addr, "up")
			e.register(svc, fmt.Sprint("i", i), addr)
		}
		if err := e.b.SetHealth(e.ctx, testAccount, testRegion, svc, "i0", 0, "UNHEALTHY", ""); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the view has the status: the Checker takes over what the view shows
		e.b.writes.Store(0)
		started := time.Now()
		e.start(Config{})
		time.Sleep(testIval)
		synctest.Wait()
		var first []time.Duration
		for i := range 50 {
			rs := e.resultsFor(fmt.Sprint("i", i))
			if len(rs) == 0 {
				t.Fatalf("i%d not probed within one interval of start", i)
			}
			first = append(first, rs[0].Start.Sub(started))
		}
		slices.Sort(first)
		if first[len(first)-1]-first[0] < testIval/2 {
			t.Errorf("first probes within %v of each other; want them spread over the interval (%v)", first[len(first)-1]-first[0], testIval)
		}
		if got := e.status(svc, "i0"); got != "UNHEALTHY" {
			t.Errorf("i0 after one good probe = %s; want UNHEALTHY (recorded, threshold 2)", got)
		}
		e.nextProbe("i0")
		if got := e.status(svc, "i0"); got != "HEALTHY" {
			t.Errorf("i0 after two good probes = %s; want HEALTHY", got)
		}
		if n := e.b.writes.Load(); n != 1 {
			t.Errorf("SetHealth calls = %d; want 1", n)
		}
	})
}

// TestNoPileUp: a probe that outlasts the interval makes its check skip
// slots; two probes of one target never overlap.
func TestNoPileUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.start(Config{Interval: 4 * time.Second})
		svc := e.service("example.com", "web", &cloudmap.HealthCheckConfig{Type: str("TCP")})
		e.net.set("10.0.0.1:80", "up")
		e.net.setDelay("10.0.0.1:80", 7*time.Second) // within TCP's 10 s
		e.register(svc, "a", "10.0.0.1:80")
		time.Sleep(200 * time.Second)
		synctest.Wait()
		n := e.net.count("10.0.0.1:80")
		if n < 23 || n > 26 {
			t.Errorf("%d probes of 7 s in 200 s at a 4 s interval; want 23 to 26 (one every 8 s)", n)
		}
		if _, overlap := e.net.maxInFlight(); overlap {
			t.Error("two probes of one target overlapped")
		}
		if s := e.c.Stats(); s.Skipped == 0 {
			t.Errorf("Stats().Skipped = 0; want the slots overrun")
		}
		for _, r := range e.resultsFor("a") {
			if lag := r.Start.Sub(r.Due); lag != 0 {
				t.Errorf("probe started %v after its slot; want on time (overrun slots are skipped)", lag)
			}
		}
	})
}

// TestBlackholedTargetsDoNotDelayOthers: targets that never answer hold a
// probe slot until their timeout; after their first probe they move to the
// slow lane, and the targets that answer keep their schedule even when the
// black-holed ones outnumber the bound.
func TestBlackholedTargetsDoNotDelayOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.start(Config{Concurrency: 4})
		svc := e.service("example.com", "web", &cloudmap.HealthCheckConfig{Type: str("HTTP"), FailureThreshold: i32(1)})
		for i := range 20 {
			addr := fmt.Sprintf("10.0.2.%d:80", i)
			e.net.set(addr, "hang")
			e.register(svc, fmt.Sprint("hole", i), addr)
		}
		for i := range 10 {
			addr := fmt.Sprintf("10.0.3.%d:80", i)
			e.net.set(addr, "up")
			e.register(svc, fmt.Sprint("good", i), addr)
		}
		// Warm-up: the black-holed targets' first probes share the lane.
		time.Sleep(4 * testIval)
		synctest.Wait()
		warm := time.Now()
		time.Sleep(20 * testIval)
		synctest.Wait()
		e.mu.Lock()
		results := slices.Clone(e.results)
		e.mu.Unlock()
		good, holes := 0, 0
		for _, r := range results {
			if r.Due.Before(warm) {
				continue
			}
			if r.Err == nil {
				good++
				if lag := r.Start.Sub(r.Due); lag != 0 {
					t.Errorf("probe of %s started %v late", r.InstanceID, lag)
				}
			} else {
				holes++
			}
		}
		if good < 10*19 {
			t.Errorf("%d probes of answering targets in 20 intervals; want at least %d", good, 10*19)
		}
		if holes == 0 {
			t.Error("black-holed targets were not probed")
		}
		if maxTotal, _ := e.net.maxInFlight(); maxTotal > 4+1 {
			t.Errorf("%d probes in flight at once; want at most 5 (4 + a quarter, at least 1)", maxTotal)
		}
		h := map[string]int{}
		for _, s := range e.health(svc) {
			h[s]++
		}
		if h["HEALTHY"] != 10 || h["UNHEALTHY"] != 20 {
			t.Errorf("statuses %v; want 10 HEALTHY, 20 UNHEALTHY", h)
		}
	})
}

// TestConcurrencyBound: no more probes in flight than the bound.
func TestConcurrencyBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.start(Config{Concurrency: 3, Interval: time.Second})
		svc := e.service("example.com", "web", &cloudmap.HealthCheckConfig{Type: str("TCP")})
		for i := range 20 {
			addr := fmt.Sprintf("10.0.4.%d:80", i)
			e.net.set(addr, "up")
			e.net.setDelay(addr, 500*time.Millisecond)
			e.register(svc, fmt.Sprint("i", i), addr)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		// 20 probes of 0.5 s per second want 10 slots; 3 run 6 a second.
		if maxTotal, overlap := e.net.maxInFlight(); maxTotal != 3 || overlap {
			t.Errorf("at most %d probes in flight (overlap %v); want 3 (false)", maxTotal, overlap)
		}
		if n := e.probed(); n < 50 || n > 60 {
			t.Errorf("%d probes in 10 s; want 50 to 60 (the bound's throughput)", n)
		}
		if s := e.c.Stats(); s.Skipped == 0 {
			t.Error("Stats().Skipped = 0; want slots skipped when saturated")
		}
	})
}

func TestLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.start(Config{})
		hc := &cloudmap.HealthCheckConfig{Type: str("HTTP"), ResourcePath: str("/ping"), FailureThreshold: i32(2)}
		svc := e.service("example.com", "web", hc)
		e.net.set("10.0.0.1:80", "down")
		e.net.set("10.0.0.2:8080", "up")

		// RegisterInstance starts the check: HEALTHY until the threshold.
		e.register(svc, "a", "10.0.0.1:80")
		if got := e.status(svc, "a"); got != "HEALTHY" {
			t.Errorf("new instance = %s; want HEALTHY", got)
		}
		e.nextProbe("a")
		e.nextProbe("a")
		if got := e.status(svc, "a"); got != "UNHEALTHY" {
			t.Fatalf("after 2 failures = %s; want UNHEALTHY", got)
		}
		if p := e.net.lastPath("10.0.0.1:80"); p != "/ping web.example.com" {
			t.Errorf("request = %q; want path /ping, Host web.example.com", p)
		}

		// Re-registering with the same attributes keeps the check and its
		// schedule.
		e.register(svc, "a", "10.0.0.1:80")
		if got := e.status(svc, "a"); got != "UNHEALTHY" {
			t.Errorf("after re-registering the same = %s; want UNHEALTHY kept", got)
		}
		e.nextProbe("a")
		if rs := e.resultsFor("a"); rs[len(rs)-1].Due.Sub(rs[len(rs)-2].Due) != testIval {
			t.Errorf("re-registering the same attributes restarted the check")
		}
		if got := e.status(svc, "a"); got != "UNHEALTHY" {
			t.Errorf("after re-registering the same = %s; want UNHEALTHY kept", got)
		}

		// Changed attributes restart it: a new check starts HEALTHY and
		// probes the new address soon.
		writes := e.b.writes.Load()
		e.register(svc, "a", "10.0.0.2:8080")
		if got := e.status(svc, "a"); got != "HEALTHY" {
			t.Errorf("after re-registering elsewhere = %s; want HEALTHY (a new check)", got)
		}
		if w := e.b.writes.Load() - writes; w != 0 {
			t.Errorf("%d checker writes on restart; want 0 (RegisterInstance resets the status itself)", w)
		}
		oldCount := e.net.count("10.0.0.1:80")
		time.Sleep(firstProbeWithin)
		synctest.Wait()
		if e.net.count("10.0.0.2:8080") != 1 {
			t.Errorf("new address probed %d times within %v; want 1", e.net.count("10.0.0.2:8080"), firstProbeWithin)
		}
		time.Sleep(5 * testIval)
		synctest.Wait()
		if e.net.count("10.0.0.1:80") != oldCount {
			t.Error("old address still probed after re-registering")
		}
		if p := e.net.lastPath("10.0.0.2:8080"); p != "/ping web.example.com:8080" {
			t.Errorf("request = %q; want Host with the port", p)
		}

		// UpdateService: a new ResourcePath and FailureThreshold apply.
		e.updateService(svc, &cloudmap.HealthCheckConfig{Type: str("HTTP"), ResourcePath: str("/healthz"), FailureThreshold: i32(1)})
		e.nextProbe("a")
		if p := e.net.lastPath("10.0.0.2:8080"); p != "/healthz web.example.com:8080" {
			t.Errorf("request after UpdateService = %q; want /healthz", p)
		}
		e.net.set("10.0.0.2:8080", "down")
		e.nextProbe("a")
		if got := e.status(svc, "a"); got != "UNHEALTHY" {
			t.Errorf("after one failure with FailureThreshold 1 = %s; want UNHEALTHY", got)
		}

		// UpdateService without HealthCheckConfig stops the checks.
		e.updateService(svc, nil)
		n := e.probed()
		time.Sleep(5 * testIval)
		synctest.Wait()
		if e.probed() != n {
			t.Error("probes went on after HealthCheckConfig was removed")
		}
		if got := e.status(svc, "a"); got != "UNKNOWN" {
			t.Errorf("without health check = %s; want UNKNOWN", got)
		}
		if s := e.c.Stats(); s.Checks != 0 {
			t.Errorf("Stats().Checks = %d; want 0", s.Checks)
		}

		// Adding it back starts new checks: HEALTHY again.
		e.updateService(svc, &cloudmap.HealthCheckConfig{Type: str("HTTP")})
		if got := e.status(svc, "a"); got != "HEALTHY" {
			t.Errorf("after adding the health check back = %s; want HEALTHY", got)
		}
		e.nextProbe("a")
		if p := e.net.lastPath("10.0.0.2:8080"); p != "/ web.example.com:8080" {
			t.Errorf("request = %q; want the default path", p)
		}

		// DeregisterInstance stops the check.
		e.deregister(svc, "a")
		n = e.probed()
		time.Sleep(5 * testIval)
		synctest.Wait()
		if e.probed() != n {
			t.Error("probes went on after DeregisterInstance")
		}
		if s := e.c.Stats(); s.Checks != 0 {
			t.Errorf("Stats().Checks = %d; want 0", s.Checks)
		}
	})
}

// TestNotProbed: custom health services and instances without an address
// are never probed.
func TestNotProbed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.start(Config{})
		must(e.b.CreateHttpNamespace(e.ctx, &cloudmap.CreateHttpNamespaceInput{Name: str("apps")}))
		var nsID string
		for _, n := range must(e.b.ListNamespaces(e.ctx, &cloudmap.ListNamespacesInput{})).Namespaces {
			nsID = *n.ID
		}
		custom := *must(e.b.CreateService(e.ctx, &cloudmap.CreateServiceInput{Name: str("custom"), NamespaceID: &nsID,
			HealthCheckCustomConfig: &cloudmap.HealthCheckCustomConfig{}})).Service.ID
		e.register(custom, "c", "10.0.0.9:80")
		must(e.b.UpdateInstanceCustomHealthStatus(e.ctx, &cloudmap.UpdateInstanceCustomHealthStatusInput{ServiceID: &custom,
			InstanceID: str("c"), Status: str("UNHEALTHY")}))
		// An HTTP namespace service with a check and an instance without
		// an IP address: nothing to probe.
		checked := *must(e.b.CreateService(e.ctx, &cloudmap.CreateServiceInput{Name: str("checked"), NamespaceID: &nsID,
			HealthCheckConfig: &cloudmap.HealthCheckConfig{Type: str("HTTP")}})).Service.ID
		must(e.b.RegisterInstance(e.ctx, &cloudmap.RegisterInstanceInput{ServiceID: &checked, InstanceID: str("noip"),
			Attributes: map[string]string{"AWS_INSTANCE_PORT": "80"}}))
		time.Sleep(5 * testIval)
		synctest.Wait()
		if n := e.probed(); n != 0 {
			t.Errorf("%d probes; want none", n)
		}
		if got := e.status(custom, "c"); got != "UNHEALTHY" {
			t.Errorf("custom health = %s; want UNHEALTHY as set", got)
		}
		if got := e.status(checked, "noip"); got != "HEALTHY" {
			t.Errorf("instance without address = %s; want HEALTHY (not probed)", got)
		}
		// The Host header in an HTTP namespace is the address.
		e.register(checked, "ip", "10.0.0.3:81")
		e.nextProbe("ip")
		if p := e.net.lastPath("10.0.0.3:81"); p != "/ " {
			t.Errorf("request = %q; want path /, no Host override", p)
		}
	})
}

// TestAllowedCIDRs: a target outside the allowed prefixes is never
// contacted and counts as failing.
func TestAllowedCIDRs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.start(Config{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
		svc := e.service("example.com", "web", &cloudmap.HealthCheckConfig{Type: str("TCP"), FailureThreshold: i32(1)})
		e.net.set("10.1.2.3:80", "up")
		e.net.set("192.0.2.1:80", "up")
		e.register(svc, "inside", "10.1.2.3:80")
		e.register(svc, "outside", "192.0.2.1:80")
		time.Sleep(3 * testIval)
		synctest.Wait()
		if n := e.net.count("192.0.2.1:80"); n != 0 {
			t.Errorf("target outside the allowed prefixes contacted %d times", n)
		}
		if e.net.count("10.1.2.3:80") == 0 {
			t.Error("allowed target not probed")
		}
		want := map[string]string{"inside": "HEALTHY", "outside": "UNHEALTHY"}
		if got := e.health(svc); !equalMaps(got, want) {
			t.Errorf("health = %v; want %v", got, want)
		}
		rs := e.resultsFor("outside")
		if len(rs) == 0 || !errors.Is(rs[0].Err, errRefused) {
			t.Errorf("results of the refused target = %v; want errRefused", rs)
		}
	})
}

// TestResync: a reload of the view (an empty Change) compares everything
// again; services that are gone lose their checks.
func TestResync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.start(Config{})
		svc := e.service("example.com", "web", &cloudmap.HealthCheckConfig{Type: str("TCP")})
		e.net.set("10.0.0.1:80", "up")
		e.register(svc, "a", "10.0.0.1:80")
		// A check the read model does not know (as if missed).
		e.c.mu.Lock()
		e.c.services[svcKey{testAccount, testRegion, "srv-gone"}] = map[string]*check{}
		e.c.mu.Unlock()
		e.c.onChange(0, []cloudmap.Change{{}})
		synctest.Wait()
		e.c.mu.Lock()
		_, stale := e.c.services[svcKey{testAccount, testRegion, "srv-gone"}]
		n := len(e.c.services[svcKey{testAccount, testRegion, svc}])
		e.c.mu.Unlock()
		if stale || n != 1 {
			t.Errorf("after resync: stale service kept %v, %d checks of the live one; want false, 1", stale, n)
		}
	})
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
