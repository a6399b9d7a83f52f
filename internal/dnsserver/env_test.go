package dnsserver

import (
	"context"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
	"github.com/mapmesh/mapmesh/internal/store/boltstore"
)

// testAccount and testRegion are the default caller of testEnv.
const (
	testAccount = "111122223333"
	testRegion  = "eu-west-1"
)

// testEnv is a Cloud Map backend on a real bbolt file, and a DNS server
// on it listening on 127.0.0.1.
type testEnv struct {
	t     testing.TB
	st    *boltstore.Store
	cm    *cloudmap.Backend
	srv   *Server
	ctx   context.Context
	addr  string
	clock *testClock // nil: the real clock
}

type envOptions struct {
	// clock, if set, is the clock of both the backend and the DNS server.
	clock             *testClock
	customHealthDelay time.Duration
	healthChecksAll   bool
	noListen          bool
	// maxTCP is the server's MaxTCPConnections.
	maxTCP int
	// selfNames and selfAddrs are the server's SelfNames and SelfAddrs.
	selfNames []string
	selfAddrs []netip.Addr
}

func newEnv(t testing.TB, o envOptions) *testEnv {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "mapmesh.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var now func() time.Time
	if o.clock != nil {
		now = o.clock.Now
	}
	cm, err := cloudmap.New(context.Background(), st, cloudmap.Config{Now: now, CustomHealthDelay: o.customHealthDelay,
		HealthChecksAllNamespaces: o.healthChecksAll,
		Quotas:                    cloudmap.Quotas{InstancesPerService: 10000, InstancesPerNamespace: 10000}})
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, st: st, cm: cm, clock: o.clock,
		ctx: awsapi.WithCaller(context.Background(), awsapi.Caller{Account: testAccount, Region: testRegion})}
	e.srv = New(cm, Config{Now: now, MaxTCPConnections: o.maxTCP, SelfNames: o.selfNames, SelfAddrs: o.selfAddrs})
	if !o.noListen {
		if err := e.srv.Listen("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		e.addr = e.srv.Addr().String()
	}
	t.Cleanup(func() {
		if err := e.srv.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
		cm.Close()
		st.Close()
	})
	return e
}

// as returns a context acting as account in region.
func as(account, region string) context.Context {
	return awsapi.WithCaller(context.Background(), awsapi.Caller{Account: account, Region: region})
}

// sync waits until the DNS view reflects every change committed so far.
func (e *testEnv) sync() {
	e.t.Helper()
	_, rev, err := e.st.List(context.Background(), "/nothing/")
	if err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.srv.Stats().Revision < rev {
		if time.Now().After(deadline) {
			e.t.Fatalf("DNS view at revision %d; store at %d after 5s", e.srv.Stats().Revision, rev)
		}
		time.Sleep(time.Millisecond)
	}
}

// must returns v, and panics (failing the test with a stack) on err. Use
// it only on the test's own goroutine.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func str(s string) *string { return &s }
func i64(n int64) *int64   { return &n }

// namespaceID returns the namespace an operation created.
func (e *testEnv) namespaceID(ctx context.Context, opID *string) string {
	e.t.Helper()
	op := must(e.cm.GetOperation(ctx, &cloudmap.GetOperationInput{OperationID: opID}))
	if *op.Operation.Status != "SUCCESS" {
		e.t.Fatalf("operation %s: %s %s", *opID, *op.Operation.Status, deref(op.Operation.ErrorMessage))
	}
	return op.Operation.Targets["NAMESPACE"]
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// privateNS creates a private DNS namespace as ctx's caller.
func (e *testEnv) privateNS(ctx context.Context, name, vpc string) string {
	e.t.Helper()
	out := must(e.cm.CreatePrivateDnsNamespace(ctx, &cloudmap.CreatePrivateDnsNamespaceInput{Name: &name, VPC: &vpc}))
	return e.namespaceID(ctx, out.OperationID)
}

// publicNS creates a public DNS namespace as ctx's caller.
func (e *testEnv) publicNS(ctx context.Context, name string) string {
	e.t.Helper()
	out := must(e.cm.CreatePublicDnsNamespace(ctx, &cloudmap.CreatePublicDnsNamespaceInput{Name: &name}))
	return e.namespaceID(ctx, out.OperationID)
}

// httpNS creates an HTTP namespace as ctx's caller.
func (e *testEnv) httpNS(ctx context.Context, name string) string {
	e.t.Helper()
	out := must(e.cm.CreateHttpNamespace(ctx, &cloudmap.CreateHttpNamespaceInput{Name: &name}))
	return e.namespaceID(ctx, out.OperationID)
}

// svcOpts describe a service: records "A:60", "SRV:10", ...
type svcOpts struct {
	policy  string // MULTIVALUE when empty
	records []string
	custom  bool   // HealthCheckCustomConfig
	check   string // HealthCheckConfig type
}

func (e *testEnv) service(ctx context.Context, nsID, name string, o svcOpts) string {
	e.t.Helper()
	in := &cloudmap.CreateServiceInput{Name: &name, NamespaceID: &nsID}
	if len(o.records) > 0 {
		policy := cmpOr(o.policy, "MULTIVALUE")
		in.DNSConfig = &cloudmap.DNSConfig{RoutingPolicy: &policy}
		for _, r := range o.records {
			typ, ttl, _ := strings.Cut(r, ":")
			var n int64
			for _, c := range ttl {
				n = n*10 + int64(c-'0')
			}
			in.DNSConfig.DNSRecords = append(in.DNSConfig.DNSRecords, cloudmap.DNSRecord{Type: str(typ), TTL: i64(n)})
		}
	}
	if o.custom {
		in.HealthCheckCustomConfig = &cloudmap.HealthCheckCustomConfig{}
	}
	if o.check != "" {
		in.HealthCheckConfig = &cloudmap.HealthCheckConfig{Type: &o.check}
	}
	return *must(e.cm.CreateService(ctx, in)).Service.ID
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// register registers an instance with attributes "K=V" ...
func (e *testEnv) register(ctx context.Context, svcID, id string, attrs ...string) {
	e.t.Helper()
	m := map[string]string{}
	for _, a := range attrs {
		k, v, _ := strings.Cut(a, "=")
		m[k] = v
	}
	must(e.cm.RegisterInstance(ctx, &cloudmap.RegisterInstanceInput{ServiceID: &svcID, InstanceID: &id, Attributes: m}))
}

func (e *testEnv) deregister(ctx context.Context, svcID, id string) {
	e.t.Helper()
	must(e.cm.DeregisterInstance(ctx, &cloudmap.DeregisterInstanceInput{ServiceID: &svcID, InstanceID: &id}))
}

func (e *testEnv) setCustomHealth(ctx context.Context, svcID, id, status string) {
	e.t.Helper()
	must(e.cm.UpdateInstanceCustomHealthStatus(ctx, &cloudmap.UpdateInstanceCustomHealthStatusInput{ServiceID: &svcID, InstanceID: &id, Status: &status}))
}

// query sends one question over network ("udp" or "tcp") and returns the
// reply. mod may change the query (EDNS0, flags) before it is sent.
func (e *testEnv) query(network, name string, qtype uint16, mod ...func(*dns.Msg)) *dns.Msg {
	e.t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.RecursionDesired = false
	for _, f := range mod {
		f(q)
	}
	return e.exchange(network, q)
}

func (e *testEnv) exchange(network string, q *dns.Msg) *dns.Msg {
	e.t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second, UDPSize: 65535}
	r, _, err := c.Exchange(q, e.addr)
	if err != nil {
		e.t.Fatalf("%s query %s %s: %v", network, q.Question[0].Name, dns.TypeToString[q.Question[0].Qtype], err)
	}
	return r
}

// rr parses a record in zone-file format.
func rr(s string) dns.RR {
	r, err := dns.NewRR(s)
	if err != nil {
		panic(err)
	}
	return r
}

// rrStrings returns the records as sorted strings (answers come in random
// order).
func rrStrings(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, r := range rrs {
		if r.Header().Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, r.String())
	}
	sort.Strings(out)
	return out
}

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.UnixMilli(1_800_000_000_000)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// answerIPs returns the A and AAAA addresses of an answer.
func answerIPs(m *dns.Msg) []string {
	var out []string
	for _, r := range m.Answer {
		switch r := r.(type) {
		case *dns.A:
			out = append(out, r.A.String())
		case *dns.AAAA:
			out = append(out, r.AAAA.String())
		}
	}
	slices.Sort(out)
	return out
}
