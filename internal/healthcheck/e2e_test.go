package healthcheck_test

import (
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"
	"github.com/aws/smithy-go"
	"github.com/miekg/dns"

	"github.com/mapmesh/mapmesh/internal/server"
	"github.com/mapmesh/mapmesh/internal/server/servertest"
)

// These tests run the whole server with real HTTP, HTTPS and TCP servers on
// 127.0.0.1 that go down and come back, and watch the transitions through
// the AWS SDK (GetInstancesHealthStatus and DiscoverInstances with every
// HealthStatus filter) and in DNS answers. Intervals are short (100 ms), so
// they take seconds.

var bg = context.Background()

// e2eInterval is the probe interval of these tests.
const e2eInterval = 100 * time.Millisecond

// newClient returns an SDK client for a server; DiscoverInstances' "data-"
// host prefix is dialed to the same address.
func newClient(t *testing.T, s *servertest.Server) *sd.Client {
	t.Helper()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, s.Addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return sd.New(sd.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient:   &http.Client{Transport: plainBodies{tr}, Timeout: 30 * time.Second},
		Retryer:      aws.NopRetryer{},
	})
}

// plainBodies hides the SDK body's WriteTo from net/http (see
// test/conformance/client_test.go: it races the transport's final copy).
type plainBodies struct{ next http.RoundTripper }

func (p plainBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r = r.Clone(r.Context())
		r.Body = struct{ io.ReadCloser }{r.Body}
	}
	return p.next.RoundTrip(r)
}

// target is a real server on a fixed loopback port that can go down and
// come back.
type target struct {
	t    *testing.T
	typ  string
	addr string

	mu   sync.Mutex // guards stop
	stop func()
}

func newTarget(t *testing.T, typ string) *target {
	tg := &target{t: t, typ: typ, addr: "127.0.0.1:0"}
	tg.up()
	t.Cleanup(tg.down)
	return tg
}

func (tg *target) port() string {
	_, p, _ := net.SplitHostPort(tg.addr)
	return p
}

// up starts serving on the target's address.
func (tg *target) up() {
	tg.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may be in use for a moment after down
		if ln, err = net.Listen("tcp", tg.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		tg.t.Fatal(err)
	}
	tg.addr = ln.Addr().String()
	var stop func()
	switch tg.typ {
	case "TCP":
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		stop = func() { ln.Close(); <-done }
	default:
		s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/health" {
				http.NotFound(w, r)
			}
		}))
		s.Listener.Close()
		s.Listener = ln
		if tg.typ == "HTTPS" {
			s.StartTLS()
		} else {
			s.Start()
		}
		stop = s.Close
	}
	tg.mu.Lock()
	tg.stop = stop
	tg.mu.Unlock()
}

// down stops serving: new connections are refused.
func (tg *target) down() {
	tg.mu.Lock()
	stop := tg.stop
	tg.stop = nil
	tg.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	return p
}

// fixture is a public DNS namespace with one health-checked service.
type fixture struct {
	t        *testing.T
	c        *sd.Client
	dnsAddr  string
	ns, name string
	svcID    string
}

func newFixture(t *testing.T, c *sd.Client, dnsAddr, ns string, hc *types.HealthCheckConfig) *fixture {
	t.Helper()
	op, err := c.CreatePublicDnsNamespace(bg, &sd.CreatePublicDnsNamespaceInput{Name: aws.String(ns)})
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.GetOperation(bg, &sd.GetOperationInput{OperationId: op.OperationId})
	if err != nil {
		t.Fatal(err)
	}
	nsID := o.Operation.Targets["NAMESPACE"]
	s, err := c.CreateService(bg, &sd.CreateServiceInput{Name: aws.String("web"), NamespaceId: aws.String(nsID),
		DnsConfig:         &types.DnsConfig{DnsRecords: []types.DnsRecord{{Type: types.RecordTypeA, TTL: aws.Int64(10)}}},
		HealthCheckConfig: hc})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, c: c, dnsAddr: dnsAddr, ns: ns, name: "web", svcID: *s.Service.Id}
}

func (f *fixture) register(id, ip, port string) {
	f.t.Helper()
	if _, err := f.c.RegisterInstance(bg, &sd.RegisterInstanceInput{ServiceId: aws.String(f.svcID), InstanceId: aws.String(id),
		Attributes: map[string]string{"AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": port}}); err != nil {
		f.t.Fatal(err)
	}
}

// dnsA returns the addresses of the service's A answer, sorted.
func (f *fixture) dnsA() []string {
	f.t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(f.name+"."+f.ns), dns.TypeA)
	r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, f.dnsAddr)
	if err != nil {
		f.t.Fatalf("DNS A %s: %v", f.name+"."+f.ns, err)
	}
	ips := []string{}
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			ips = append(ips, a.A.String())
		}
	}
	slices.Sort(ips)
	return ips
}

// expectDNS checks the A answer. The DNS view follows the store on its own
// goroutine, so a change may take a moment to show.
func (f *fixture) expectDNS(want ...string) {
	f.t.Helper()
	var got []string
	for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(10 * time.Millisecond) {
		if got = f.dnsA(); slices.Equal(got, want) {
			return
		}
	}
	f.t.Errorf("DNS A %s.%s = %v; want %v", f.name, f.ns, got, want)
}

func (f *fixture) health() map[string]types.HealthStatus {
	f.t.Helper()
	out, err := f.c.GetInstancesHealthStatus(bg, &sd.GetInstancesHealthStatusInput{ServiceId: aws.String(f.svcID)})
	if err != nil {
		f.t.Fatal(err)
	}
	return out.Status
}

// discover returns the instance IDs DiscoverInstances answers, sorted, and
// the InstancesRevision.
func (f *fixture) discover(filter types.HealthStatusFilter) ([]string, int64) {
	f.t.Helper()
	out, err := f.c.DiscoverInstances(bg, &sd.DiscoverInstancesInput{NamespaceName: aws.String(f.ns), ServiceName: aws.String(f.name),
		HealthStatus: filter})
	if err != nil {
		f.t.Fatal(err)
	}
	ids := []string{}
	for _, in := range out.Instances {
		ids = append(ids, *in.InstanceId)
	}
	slices.Sort(ids)
	return ids, *out.InstancesRevision
}

// waitFor polls until instance id has status want and returns how long it
// took.
func (f *fixture) waitFor(id string, want types.HealthStatus) time.Duration {
	f.t.Helper()
	start := time.Now()
	for time.Since(start) < 20*time.Second {
		if f.health()[id] == want {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.t.Fatalf("%s did not become %s within 20s: %v", id, want, f.health())
	return 0
}

// expectDiscover checks DiscoverInstances with every filter.
func (f *fixture) expectDiscover(rev int64, want map[types.HealthStatusFilter][]string) {
	f.t.Helper()
	for _, filter := range []types.HealthStatusFilter{types.HealthStatusFilterHealthy, types.HealthStatusFilterUnhealthy,
		types.HealthStatusFilterAll, types.HealthStatusFilterHealthyOrElseAll} {
		got, gotRev := f.discover(filter)
		if !slices.Equal(got, want[filter]) {
			f.t.Errorf("DiscoverInstances(%s) = %v; want %v", filter, got, want[filter])
		}
		if gotRev != rev {
			f.t.Errorf("DiscoverInstances(%s): InstancesRevision %d; want %d (health never moves it)", filter, gotRev, rev)
		}
	}
}

func TestProbesChangeWhatClientsDiscover(t *testing.T) {
	srv := servertest.Start(t, server.Config{HealthInterval: e2eInterval, HealthTimeout: time.Second, HealthAllowedCIDRs: loopback})
	c := newClient(t, srv)
	for _, typ := range []string{"HTTP", "HTTPS", "TCP"} {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			hc := &types.HealthCheckConfig{Type: types.HealthCheckType(typ), FailureThreshold: aws.Int32(3)}
			if typ != "TCP" {
				hc.ResourcePath = aws.String("/health")
			}
			f := newFixture(t, c, srv.DNSAddr, "e2e-"+strings.ToLower(typ)+".example.com", hc)
			tg := newTarget(t, typ)
			f.register("live", "127.0.0.1", tg.port())
			f.register("dead", "127.0.0.2", closedPort(t))
			f.waitFor("dead", types.HealthStatusUnhealthy)
			f.waitFor("live", types.HealthStatusHealthy)
			_, rev := f.discover(types.HealthStatusFilterAll)
			f.expectDiscover(rev, map[types.HealthStatusFilter][]string{
				types.HealthStatusFilterHealthy:          {"live"},
				types.HealthStatusFilterUnhealthy:        {"dead"},
				types.HealthStatusFilterAll:              {"dead", "live"},
				types.HealthStatusFilterHealthyOrElseAll: {"live"},
			})
			f.expectDNS("127.0.0.1")

			// The server goes down: after three failed probes the instance
			// is UNHEALTHY; none is healthy, so HEALTHY_OR_ELSE_ALL fails open.
			down := time.Now()
			tg.down()
			f.waitFor("live", types.HealthStatusUnhealthy)
			took := time.Since(down)
			t.Logf("%s: UNHEALTHY %v after the server went down (FailureThreshold 3, interval %v)", typ, took, e2eInterval)
			// Three failures span two intervals; the first may be a probe
			// that was under way when the server closed.
			if took < e2eInterval {
				t.Errorf("UNHEALTHY %v after going down; want at least one interval (3 failures)", took)
			}
			f.expectDiscover(rev, map[types.HealthStatusFilter][]string{
				types.HealthStatusFilterHealthy:          {},
				types.HealthStatusFilterUnhealthy:        {"dead", "live"},
				types.HealthStatusFilterAll:              {"dead", "live"},
				types.HealthStatusFilterHealthyOrElseAll: {"dead", "live"},
			})
			f.expectDNS("127.0.0.1", "127.0.0.2") // none healthy: all (Route 53's multivalue answer)

			// It comes back on the same port.
			tg.up()
			took = f.waitFor("live", types.HealthStatusHealthy)
			t.Logf("%s: HEALTHY %v after the server came back", typ, took)
			f.expectDiscover(rev, map[types.HealthStatusFilter][]string{
				types.HealthStatusFilterHealthy:          {"live"},
				types.HealthStatusFilterUnhealthy:        {"dead"},
				types.HealthStatusFilterAll:              {"dead", "live"},
				types.HealthStatusFilterHealthyOrElseAll: {"live"},
			})
			f.expectDNS("127.0.0.1")

			// Re-registering "dead" at the live server restarts its check:
			// a new check starts HEALTHY (the Checker writes that moments
			// after the registration; TestLifecycle counts it) and stays so.
			f.register("dead", "127.0.0.1", tg.port())
			took = f.waitFor("dead", types.HealthStatusHealthy)
			t.Logf("%s: HEALTHY %v after re-registering at a live server", typ, took)
			time.Sleep(5 * e2eInterval)
			if got := f.health()["dead"]; got != types.HealthStatusHealthy {
				t.Errorf("re-registered at a live server, after 5 intervals: %s; want HEALTHY", got)
			}
		})
	}
}

// TestHealthCheckLifecycle: UpdateService changes apply, removing the
// HealthCheckConfig stops the checks, deregistering ends them.
func TestHealthCheckLifecycle(t *testing.T) {
	srv := servertest.Start(t, server.Config{HealthInterval: e2eInterval, HealthTimeout: time.Second, HealthAllowedCIDRs: loopback})
	c := newClient(t, srv)
	f := newFixture(t, c, srv.DNSAddr, "lifecycle.example.com", &types.HealthCheckConfig{Type: types.HealthCheckTypeHttp,
		ResourcePath: aws.String("/health"), FailureThreshold: aws.Int32(1)})
	tg := newTarget(t, "HTTP")
	f.register("a", "127.0.0.1", tg.port())
	time.Sleep(5 * e2eInterval)
	if got := f.health()["a"]; got != types.HealthStatusHealthy {
		t.Fatalf("a = %s; want HEALTHY", got)
	}
	// A ResourcePath the server does not serve (404) makes it unhealthy.
	update := func(hc *types.HealthCheckConfig) {
		t.Helper()
		if _, err := c.UpdateService(bg, &sd.UpdateServiceInput{Id: aws.String(f.svcID), Service: &types.ServiceChange{HealthCheckConfig: hc}}); err != nil {
			t.Fatal(err)
		}
	}
	update(&types.HealthCheckConfig{Type: types.HealthCheckTypeHttp, ResourcePath: aws.String("/missing"), FailureThreshold: aws.Int32(1)})
	f.waitFor("a", types.HealthStatusUnhealthy)
	update(&types.HealthCheckConfig{Type: types.HealthCheckTypeHttp, ResourcePath: aws.String("/health"), FailureThreshold: aws.Int32(1)})
	f.waitFor("a", types.HealthStatusHealthy)
	// Without HealthCheckConfig: UNKNOWN, and no filter applies.
	update(nil)
	if got := f.health()["a"]; got != types.HealthStatusUnknown {
		t.Errorf("without health check: %s; want UNKNOWN", got)
	}
	tg.down()
	time.Sleep(5 * e2eInterval)
	if got, _ := f.discover(types.HealthStatusFilterHealthy); !slices.Equal(got, []string{"a"}) {
		t.Errorf("DiscoverInstances(HEALTHY) without health check = %v; want [a] (filter ignored)", got)
	}
	// Back with a check: the target is down, so it turns UNHEALTHY.
	update(&types.HealthCheckConfig{Type: types.HealthCheckTypeHttp, ResourcePath: aws.String("/health"), FailureThreshold: aws.Int32(1)})
	f.waitFor("a", types.HealthStatusUnhealthy)
	if _, err := c.DeregisterInstance(bg, &sd.DeregisterInstanceInput{ServiceId: aws.String(f.svcID), InstanceId: aws.String("a")}); err != nil {
		t.Fatal(err)
	}
	if got := f.health(); len(got) != 0 {
		t.Errorf("after DeregisterInstance: %v; want no instances", got)
	}
}

// TestHealthChecksForAllNamespaces: private DNS namespaces take
// HealthCheckConfig only with the opt-in flag.
func TestHealthChecksForAllNamespaces(t *testing.T) {
	for _, all := range []bool{false, true} {
		t.Run(strconv.FormatBool(all), func(t *testing.T) {
			t.Parallel()
			srv := servertest.Start(t, server.Config{HealthInterval: e2eInterval, HealthChecksAllNamespaces: all, HealthAllowedCIDRs: loopback})
			c := newClient(t, srv)
			op, err := c.CreatePrivateDnsNamespace(bg, &sd.CreatePrivateDnsNamespaceInput{Name: aws.String("internal.example"),
				Vpc: aws.String("vpc-12345678")})
			if err != nil {
				t.Fatal(err)
			}
			o, err := c.GetOperation(bg, &sd.GetOperationInput{OperationId: op.OperationId})
			if err != nil {
				t.Fatal(err)
			}
			s, err := c.CreateService(bg, &sd.CreateServiceInput{Name: aws.String("db"), NamespaceId: aws.String(o.Operation.Targets["NAMESPACE"]),
				DnsConfig:         &types.DnsConfig{DnsRecords: []types.DnsRecord{{Type: types.RecordTypeA, TTL: aws.Int64(10)}}},
				HealthCheckConfig: &types.HealthCheckConfig{Type: types.HealthCheckTypeTcp, FailureThreshold: aws.Int32(1)}})
			if !all {
				var ae smithy.APIError
				if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidInput" {
					t.Fatalf("CreateService(private DNS, HealthCheckConfig) = %v; want InvalidInput", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			f := &fixture{t: t, c: c, dnsAddr: srv.DNSAddr, ns: "internal.example", name: "db", svcID: *s.Service.Id}
			f.register("gone", "127.0.0.3", closedPort(t))
			f.register("up", "127.0.0.1", newTarget(t, "TCP").port())
			f.waitFor("gone", types.HealthStatusUnhealthy)
			f.expectDNS("127.0.0.1")
		})
	}
}

// TestFlags: the command line reaches the server's Config.
func TestFlags(t *testing.T) {
	fs := flag.NewFlagSet("mapmesh", flag.ContinueOnError)
	f := server.NewFlags(fs)
	env := map[string]string{"MAPMESH_HEALTH_CONCURRENCY": "64"}
	if err := f.Parse([]string{"--health-interval=5s", "--health-timeout=2s", "--health-allowed-cidrs=10.0.0.0/8, 192.0.2.1",
		"--health-checks-for-all-namespaces"}, func(k string) string { return env[k] }, io.Discard); err != nil {
		t.Fatal(err)
	}
	c := f.Config
	if c.HealthInterval != 5*time.Second || c.HealthTimeout != 2*time.Second || c.HealthConcurrency != 64 || !c.HealthChecksAllNamespaces ||
		len(c.HealthAllowedCIDRs) != 2 || c.HealthAllowedCIDRs[1].String() != "192.0.2.1/32" {
		t.Errorf("Config = interval %v, timeout %v, concurrency %d, all namespaces %v, CIDRs %v", c.HealthInterval, c.HealthTimeout,
			c.HealthConcurrency, c.HealthChecksAllNamespaces, c.HealthAllowedCIDRs)
	}
	d := server.NewFlags(flag.NewFlagSet("mapmesh", flag.ContinueOnError))
	if err := d.Parse(nil, func(string) string { return "" }, io.Discard); err != nil {
		t.Fatal(err)
	}
	if d.Config.HealthInterval != 30*time.Second || d.Config.HealthAllowedCIDRs != nil || d.Config.HealthChecksAllNamespaces {
		t.Errorf("defaults: interval %v, CIDRs %v, all namespaces %v; want 30s, any, off", d.Config.HealthInterval,
			d.Config.HealthAllowedCIDRs, d.Config.HealthChecksAllNamespaces)
	}
	badFS := flag.NewFlagSet("mapmesh", flag.ContinueOnError)
	badFS.SetOutput(io.Discard)
	bad := server.NewFlags(badFS)
	if err := bad.Parse([]string{"--health-allowed-cidrs=not-a-cidr"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("--health-allowed-cidrs=not-a-cidr accepted")
	}
}

// loopback lets the end-to-end tests probe their targets on 127.0.0.0/8,
// which health checks may not contact by default.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// TestNotAScanner: health checks do not contact the server's own host or
// the cloud's metadata service unless an operator allows it, and never
// mapmesh's own listeners: such an instance is UNHEALTHY at once (no
// FailureThreshold), although its target answers.
func TestNotAScanner(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     server.Config
		own     bool // target the API port itself
		healthy bool
	}{
		{"loopback denied by default", server.Config{}, false, false},
		{"loopback allowed", server.Config{HealthAllowedCIDRs: loopback}, false, true},
		{"loopback allowed but denied again", server.Config{HealthAllowedCIDRs: loopback,
			HealthDeniedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, false, false},
		{"own API port, loopback allowed", server.Config{HealthAllowedCIDRs: loopback}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.HealthInterval, cfg.HealthTimeout = e2eInterval, time.Second
			srv := servertest.Start(t, cfg)
			c := newClient(t, srv)
			f := newFixture(t, c, srv.DNSAddr, "scan.example.com", &types.HealthCheckConfig{Type: types.HealthCheckTypeTcp,
				FailureThreshold: aws.Int32(10)})
			port := newTarget(t, "TCP").port()
			if tc.own {
				_, port, _ = net.SplitHostPort(srv.Addr)
			}
			f.register("a", "127.0.0.1", port)
			want := types.HealthStatusUnhealthy
			if tc.healthy {
				want = types.HealthStatusHealthy
			}
			// Refused at once: well within the 10 failures a failing
			// target would need.
			time.Sleep(5 * e2eInterval)
			if got := f.health()["a"]; got != want {
				t.Errorf("instance targeting 127.0.0.1:%s = %s; want %s", port, got, want)
			}
		})
	}
}
