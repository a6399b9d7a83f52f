package cloudmap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/store/boltstore"
)

// testEnv is a Backend on a real bbolt file.
type testEnv struct {
	t    testing.TB
	path string
	st   *boltstore.Store
	b    *Backend
	cfg  Config
	ctx  context.Context
}

func newEnv(t testing.TB, cfg Config) *testEnv {
	t.Helper()
	e := &testEnv{t: t, path: filepath.Join(t.TempDir(), "mapmesh.db"), cfg: cfg}
	e.ctx = awsapi.WithCaller(context.Background(), awsapi.Caller{Account: "111122223333", Region: "eu-west-1"})
	e.open()
	t.Cleanup(e.close)
	return e
}

func (e *testEnv) open() {
	e.t.Helper()
	st, err := boltstore.Open(e.path, boltstore.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := New(context.Background(), st, e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.st, e.b = st, b
}

func (e *testEnv) close() {
	if e.b != nil {
		e.b.Close()
		e.st.Close()
		e.b = nil
	}
}

// restart closes the backend and store and opens them again from disk.
func (e *testEnv) restart() {
	e.close()
	e.open()
}

// must returns v, and panics (failing the test with a stack) on err. Use it
// only on the test's own goroutine.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func code(err error) string {
	var ae *awsapi.Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	if err == nil {
		return ""
	}
	return "non-AWS error: " + err.Error()
}

// httpService makes an HTTP namespace with one service and returns their IDs.
func (e *testEnv) httpService(ns, svc string, custom bool) (string, string) {
	t := e.t
	t.Helper()
	must(e.b.CreateHttpNamespace(e.ctx, &CreateHttpNamespaceInput{Name: str(ns)}))
	var nsID string
	for _, n := range must(e.b.ListNamespaces(e.ctx, &ListNamespacesInput{})).Namespaces {
		if *n.Name == ns {
			nsID = *n.ID
		}
	}
	in := &CreateServiceInput{Name: str(svc), NamespaceID: &nsID}
	if custom {
		in.HealthCheckCustomConfig = &HealthCheckCustomConfig{}
	}
	s := must(e.b.CreateService(e.ctx, in))
	return nsID, *s.Service.ID
}

func (e *testEnv) register(svcID, id string, attrs map[string]string) {
	e.t.Helper()
	must(e.b.RegisterInstance(e.ctx, &RegisterInstanceInput{ServiceID: &svcID, InstanceID: &id, Attributes: attrs}))
}

func (e *testEnv) discover(ns, svc string, health string) *discovered {
	e.t.Helper()
	in := &DiscoverInstancesInput{NamespaceName: &ns, ServiceName: &svc, MaxResults: int32ptr(1000)}
	if health != "" {
		in.HealthStatus = &health
	}
	return must(e.b.DiscoverInstances(e.ctx, in))
}

func int32ptr(n int32) *int32 { return &n }

func TestStateSurvivesRestart(t *testing.T) {
	e := newEnv(t, Config{})
	nsID, svcID := e.httpService("orders", "api", true)
	for i := range 5 {
		e.register(svcID, fmt.Sprintf("i-%d", i), map[string]string{"AWS_INSTANCE_IPV4": fmt.Sprintf("10.0.0.%d", i), "stage": "prod"})
	}
	must(e.b.UpdateInstanceCustomHealthStatus(e.ctx, &UpdateInstanceCustomHealthStatusInput{ServiceID: &svcID, InstanceID: str("i-3"), Status: str("UNHEALTHY")}))
	must(e.b.DeregisterInstance(e.ctx, &DeregisterInstanceInput{ServiceID: &svcID, InstanceID: str("i-4")}))
	before := e.discover("orders", "api", "ALL")
	ops := must(e.b.ListOperations(e.ctx, &ListOperationsInput{}))

	e.restart()

	after := e.discover("orders", "api", "ALL")
	if count(after) != 4 || answerOf(after).InstancesRevision != answerOf(before).InstancesRevision {
		t.Fatalf("after restart: %d instances rev %d; want 4 rev %d", count(after), answerOf(after).InstancesRevision, answerOf(before).InstancesRevision)
	}
	healthy := e.discover("orders", "api", "HEALTHY")
	if count(healthy) != 3 {
		t.Errorf("after restart: %d healthy; want 3 (i-3 is UNHEALTHY)", count(healthy))
	}
	ns := must(e.b.GetNamespace(e.ctx, &GetNamespaceInput{ID: &nsID}))
	if *ns.Namespace.ServiceCount != 1 {
		t.Errorf("ServiceCount = %d; want 1", *ns.Namespace.ServiceCount)
	}
	svc := must(e.b.GetService(e.ctx, &GetServiceInput{ID: &svcID}))
	if *svc.Service.InstanceCount != 4 {
		t.Errorf("InstanceCount = %d; want 4", *svc.Service.InstanceCount)
	}
	ops2 := must(e.b.ListOperations(e.ctx, &ListOperationsInput{}))
	if len(ops2.Operations) != len(ops.Operations) {
		t.Errorf("operations after restart = %d; want %d", len(ops2.Operations), len(ops.Operations))
	}
	// The discovery encoding is rebuilt from disk, byte for byte the same.
	if got, want := string(sortedJSON(after)), string(sortedJSON(before)); got != want {
		t.Errorf("discovery after restart:\n%s\nwant\n%s", got, want)
	}
}

// answerOf decodes a discovery result as a client would.
func answerOf(d *discovered) (out struct {
	Instances []struct {
		InstanceId   string
		HealthStatus string
		Attributes   map[string]string
		ServiceName  string
	}
	InstancesRevision int64
}) {
	if err := json.Unmarshal(d.AppendJSON(nil), &out); err != nil {
		panic(err)
	}
	return out
}

// count is the number of instances in a discovery result.
func count(d *discovered) int { return len(answerOf(d).Instances) }

// sortedJSON encodes a discovery result in instance ID order.
func sortedJSON(d *discovered) []byte {
	a := answerOf(d)
	slices.SortFunc(a.Instances, func(x, y struct {
		InstanceId   string
		HealthStatus string
		Attributes   map[string]string
		ServiceName  string
	}) int {
		return strings.Compare(x.InstanceId, y.InstanceId)
	})
	b, _ := json.Marshal(a)
	return b
}

func TestCustomHealthDelay(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	e := newEnv(t, Config{CustomHealthDelay: 30 * time.Second, Now: clock})
	_, svcID := e.httpService("pay", "api", true)
	e.register(svcID, "a", map[string]string{"AWS_INIT_HEALTH_STATUS": "UNHEALTHY"})
	set := func(s string) {
		t.Helper()
		must(e.b.UpdateInstanceCustomHealthStatus(e.ctx, &UpdateInstanceCustomHealthStatusInput{ServiceID: &svcID, InstanceID: str("a"), Status: &s}))
	}
	status := func() string {
		t.Helper()
		out := must(e.b.GetInstancesHealthStatus(e.ctx, &GetInstancesHealthStatusInput{ServiceID: &svcID}))
		return out.Status["a"]
	}
	steps := []struct {
		name  string
		do    func()
		after time.Duration
		want  string
	}{
		{"initial status from AWS_INIT_HEALTH_STATUS", func() {}, 0, "UNHEALTHY"},
		{"change is not visible inside the delay", func() { set("HEALTHY") }, 29 * time.Second, "UNHEALTHY"},
		{"repeating the same value does not hurry it", func() { set("HEALTHY") }, 0, "UNHEALTHY"},
		{"visible once the delay has passed", func() {}, time.Second, "HEALTHY"},
		{"opposite value starts a new delay", func() { set("UNHEALTHY") }, 10 * time.Second, "HEALTHY"},
		{"opposite value inside the window cancels", func() { set("HEALTHY") }, 60 * time.Second, "HEALTHY"},
	}
	for _, s := range steps {
		s.do()
		advance(s.after)
		if got := status(); got != s.want {
			t.Fatalf("%s: status = %s; want %s", s.name, got, s.want)
		}
	}
	// The pending change survives a restart and still matures on time.
	set("UNHEALTHY")
	e.restart()
	if got := status(); got != "HEALTHY" {
		t.Fatalf("after restart inside the window: %s; want HEALTHY", got)
	}
	advance(30 * time.Second)
	if got := status(); got != "UNHEALTHY" {
		t.Fatalf("after restart and the delay: %s; want UNHEALTHY", got)
	}
	if d := e.discover("pay", "api", "HEALTHY"); count(d) != 0 {
		t.Errorf("DiscoverInstances HEALTHY returned %d; want 0", count(d))
	}
}

// TestConcurrentWritesKeepInvariants races registrations, deregistrations,
// service deletion and custom health changes, then checks the view against
// a fresh load from disk and the invariants the API promises.
func TestConcurrentWritesKeepInvariants(t *testing.T) {
	e := newEnv(t, Config{})
	_, svcID := e.httpService("race", "api", true)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				id := fmt.Sprintf("i-%d", (w*7+i)%20)
				switch i % 4 {
				case 0, 1:
					_, err := e.b.RegisterInstance(e.ctx, &RegisterInstanceInput{ServiceID: &svcID, InstanceID: &id,
						Attributes: map[string]string{"w": fmt.Sprint(w), "i": fmt.Sprint(i)}})
					if err != nil && code(err) != "ServiceNotFound" {
						t.Errorf("register %s: %v", id, err)
					}
				case 2:
					_, err := e.b.DeregisterInstance(e.ctx, &DeregisterInstanceInput{ServiceID: &svcID, InstanceID: &id})
					if err != nil && code(err) != "InstanceNotFound" && code(err) != "ServiceNotFound" {
						t.Errorf("deregister %s: %v", id, err)
					}
				case 3:
					_, err := e.b.UpdateInstanceCustomHealthStatus(e.ctx, &UpdateInstanceCustomHealthStatusInput{ServiceID: &svcID, InstanceID: &id, Status: str("UNHEALTHY")})
					if err != nil && code(err) != "InstanceNotFound" && code(err) != "ServiceNotFound" {
						t.Errorf("health %s: %v", id, err)
					}
				}
				if w == 0 && i%10 == 0 {
					// A delete racing registrations either wins (no
					// instances at that moment) or is refused; it never
					// leaves orphans.
					_, err := e.b.DeleteService(e.ctx, &DeleteServiceInput{ID: &svcID})
					if err != nil && code(err) != "ResourceInUse" {
						t.Errorf("delete service: %v", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	live := snapshot(e)
	e.restart()
	if got := snapshot(e); got != live {
		t.Fatalf("view after reload differs from the live view:\nlive:\n%s\nreloaded:\n%s", live, got)
	}
}

// snapshot renders the partition's services and instances deterministically.
func snapshot(e *testEnv) string {
	_, pk := caller(e.ctx)
	var out string
	e.b.read(e.ctx, pk, func(p *partition) {
		for _, s := range sortedServices(p) {
			out += fmt.Sprintf("service %s count=%d rev=%d\n", s.rec.ID, s.instanceCount(), s.instancesRevision())
			for _, in := range s.set.list {
				if s.set.list[s.set.pos[in.id]] != in {
					out += "  MISPLACED " + in.id + "\n"
				}
			}
		}
		for id, set := range p.instances {
			if p.services[id] == nil && len(set.list) > 0 {
				out += fmt.Sprintf("ORPHAN instances of deleted service %s: %d\n", id, len(set.list))
			}
		}
	})
	return out
}

func sortedServices(p *partition) []*service {
	var out []*service
	for _, s := range p.services {
		out = append(out, s)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].rec.ID < out[i].rec.ID {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestResetWipesEverything(t *testing.T) {
	e := newEnv(t, Config{})
	_, svcID := e.httpService("wipe", "api", false)
	e.register(svcID, "a", map[string]string{})
	if err := e.b.Reset(e.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.GetService(e.ctx, &GetServiceInput{ID: &svcID}); code(err) != "ServiceNotFound" {
		t.Fatalf("GetService after reset: %v; want ServiceNotFound", err)
	}
	if err := e.b.Reset(e.ctx); err != nil { // resetting nothing is fine too
		t.Fatal(err)
	}
	e.httpService("wipe", "api", false) // the names are free again
}

func TestSweepExpiresOperations(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	e := newEnv(t, Config{Now: clock, OperationRetention: time.Hour, SweepInterval: time.Hour})
	svcIn := func(token string) *CreateServiceInput {
		var nsID string
		for _, n := range must(e.b.ListNamespaces(e.ctx, &ListNamespacesInput{})).Namespaces {
			nsID = *n.ID
		}
		return &CreateServiceInput{Name: str("api"), NamespaceID: &nsID, CreatorRequestID: &token}
	}
	nsOp := must(e.b.CreateHttpNamespace(e.ctx, &CreateHttpNamespaceInput{Name: str("sweep"), CreatorRequestID: str("ns-token")}))
	svc := must(e.b.CreateService(e.ctx, svcIn("svc-token")))
	reg := must(e.b.RegisterInstance(e.ctx, &RegisterInstanceInput{ServiceID: svc.Service.ID, InstanceID: str("a"),
		CreatorRequestID: str("reg-token"), Attributes: map[string]string{}}))
	advance(30 * time.Minute)
	late := must(e.b.DeregisterInstance(e.ctx, &DeregisterInstanceInput{ServiceID: svc.Service.ID, InstanceID: str("a")}))

	if n := must(e.b.Sweep(e.ctx)); n != 0 {
		t.Fatalf("Sweep() inside the retention deleted %d keys; want 0", n)
	}
	advance(45 * time.Minute) // the first three are 75 minutes old, the last 45
	if n := must(e.b.Sweep(e.ctx)); n == 0 {
		t.Fatal("Sweep() after the retention deleted nothing")
	}
	for _, id := range []string{*nsOp.OperationID, *reg.OperationID} {
		if _, err := e.b.GetOperation(e.ctx, &GetOperationInput{OperationID: &id}); code(err) != "OperationNotFound" {
			t.Errorf("GetOperation(%s) after expiry: %v; want OperationNotFound", id, err)
		}
	}
	if _, err := e.b.GetOperation(e.ctx, &GetOperationInput{OperationID: late.OperationID}); err != nil {
		t.Errorf("GetOperation(recent) = %v; want it kept", err)
	}
	// Expired tokens are forgotten: reusing one is a new request.
	again := must(e.b.CreateHttpNamespace(e.ctx, &CreateHttpNamespaceInput{Name: str("sweep2"), CreatorRequestID: str("ns-token")}))
	if *again.OperationID == *nsOp.OperationID {
		t.Error("an expired CreatorRequestId still replays the old operation")
	}
	e.restart() // and nothing of it comes back from disk
	if _, err := e.b.GetOperation(e.ctx, &GetOperationInput{OperationID: reg.OperationID}); code(err) != "OperationNotFound" {
		t.Errorf("after restart GetOperation(expired) = %v; want OperationNotFound", err)
	}
	_, pk := caller(e.ctx)
	if r, err := e.b.readToken(e.ctx, pk, newOpToken("CreateService", "", "svc-token", "")); r != nil || err != nil {
		t.Errorf("CreateService token record survived expiry: %+v, %v", r, err)
	}
	if r, err := e.b.readToken(e.ctx, pk, newOpToken("RegisterInstance", *svc.Service.ID, "reg-token", "")); r != nil || err != nil {
		t.Errorf("RegisterInstance token record survived expiry: %+v, %v", r, err)
	}
}

// TestInstanceQuotaUnderConcurrency: 400 concurrent registrations of new
// instances never take a service past its quota, nor a namespace past its
// own; every refusal is ResourceLimitExceeded; no reservation outlives its
// registration.
func TestInstanceQuotaUnderConcurrency(t *testing.T) {
	for _, tc := range []struct {
		name        string
		q           Quotas
		services    int
		wantPerSvc  int
		wantInTotal int
	}{
		{"per service", Quotas{InstancesPerService: 100, InstancesPerNamespace: 100_000}, 1, 100, 100},
		{"per namespace", Quotas{InstancesPerService: 1000, InstancesPerNamespace: 150}, 4, -1, 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{Quotas: tc.q})
			_, svc0 := e.httpService("quota", "s0", false)
			nsID := *must(e.b.GetService(e.ctx, &GetServiceInput{ID: &svc0})).Service.NamespaceID
			svcs := []string{svc0}
			for i := 1; i < tc.services; i++ {
				s := must(e.b.CreateService(e.ctx, &CreateServiceInput{Name: str(fmt.Sprint("s", i)), NamespaceID: &nsID}))
				svcs = append(svcs, *s.Service.ID)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			ok, refused := 0, 0
			start := make(chan struct{})
			for i := range 400 {
				wg.Go(func() {
					<-start
					svcID, id := svcs[i%len(svcs)], fmt.Sprint("i-", i)
					_, err := e.b.RegisterInstance(e.ctx, &RegisterInstanceInput{ServiceID: &svcID, InstanceID: &id,
						Attributes: map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1"}})
					mu.Lock()
					defer mu.Unlock()
					switch code(err) {
					case "":
						ok++
					case "ResourceLimitExceeded":
						refused++
					default:
						t.Errorf("RegisterInstance(%s) = %v; want success or ResourceLimitExceeded", id, err)
					}
				})
			}
			close(start)
			wg.Wait()
			total := 0
			for _, svcID := range svcs {
				n := 0
				for tok := (*string)(nil); ; {
					out := must(e.b.ListInstances(e.ctx, &ListInstancesInput{ServiceID: &svcID, NextToken: tok}))
					n += len(out.Instances)
					if tok = out.NextToken; tok == nil {
						break
					}
				}
				if tc.wantPerSvc >= 0 && n != tc.wantPerSvc {
					t.Errorf("service %s holds %d instances; want the quota's %d", svcID, n, tc.wantPerSvc)
				}
				got := must(e.b.GetService(e.ctx, &GetServiceInput{ID: &svcID})).Service.InstanceCount
				if int(*got) != n {
					t.Errorf("service %s InstanceCount = %d; ListInstances has %d", svcID, *got, n)
				}
				total += n
			}
			if total != tc.wantInTotal || ok != total || ok+refused != 400 {
				t.Errorf("registered %d, refused %d, namespace holds %d; want %d registered and held", ok, refused, total, tc.wantInTotal)
			}
			if n := e.b.dom.adding.held(); n != 0 {
				t.Errorf("%d reservations left after every registration ended; want 0", n)
			}
		})
	}
}

// TestProbedInstancesQuota: an account cannot make the server probe more
// instances than its quota, across services and regions, nor by adding a
// HealthCheckConfig to a service that has instances; deregistering frees
// room.
func TestProbedInstancesQuota(t *testing.T) {
	e := newEnv(t, Config{Quotas: Quotas{HealthCheckedInstancesPerAccount: 3}})
	hc := &HealthCheckConfig{Type: str("TCP")}
	mk := func(ctx context.Context, ns string, check *HealthCheckConfig) string {
		op := must(e.b.CreatePublicDnsNamespace(ctx, &CreatePublicDnsNamespaceInput{Name: str(ns)}))
		nsID := must(e.b.GetOperation(ctx, &GetOperationInput{OperationID: op.OperationID})).Operation.Targets["NAMESPACE"]
		return *must(e.b.CreateService(ctx, &CreateServiceInput{Name: str("web"), NamespaceID: &nsID, HealthCheckConfig: check,
			DNSConfig: &DNSConfig{DNSRecords: []DNSRecord{{Type: str("A"), TTL: new(int64(60))}}}})).Service.ID
	}
	other := awsapi.WithCaller(context.Background(), awsapi.Caller{Account: "111122223333", Region: "us-west-2"})
	a, b := mk(e.ctx, "a.example.com", hc), mk(other, "b.example.com", hc)
	reg := func(ctx context.Context, svc, id string) error {
		_, err := e.b.RegisterInstance(ctx, &RegisterInstanceInput{ServiceID: &svc, InstanceID: &id,
			Attributes: map[string]string{"AWS_INSTANCE_IPV4": "192.0.2.1", "AWS_INSTANCE_PORT": "80"}})
		return err
	}
	for _, r := range []struct {
		ctx      context.Context
		svc, id  string
		wantCode string
	}{
		{e.ctx, a, "1", ""}, {e.ctx, a, "2", ""}, {other, b, "3", ""},
		{other, b, "4", "ResourceLimitExceeded"}, // the account's quota, across regions
		{e.ctx, a, "1", ""},                      // re-registering is no new instance
	} {
		if err := reg(r.ctx, r.svc, r.id); code(err) != r.wantCode {
			t.Errorf("RegisterInstance(%s) = %v; want %q", r.id, err, r.wantCode)
		}
	}
	plain := mk(e.ctx, "c.example.com", nil)
	if err := reg(e.ctx, plain, "p"); err != nil { // no health check: no quota
		t.Fatal(err)
	}
	_, err := e.b.UpdateService(e.ctx, &UpdateServiceInput{ID: &plain, Service: &ServiceChange{HealthCheckConfig: hc}})
	if code(err) != "ResourceLimitExceeded" {
		t.Errorf("UpdateService adding a health check past the quota = %v; want ResourceLimitExceeded", err)
	}
	must(e.b.DeregisterInstance(e.ctx, &DeregisterInstanceInput{ServiceID: &a, InstanceID: str("2")}))
	if err := reg(other, b, "4"); err != nil {
		t.Errorf("RegisterInstance after a deregistration freed room = %v", err)
	}
	e.restart()
	if got := code(reg(e.ctx, a, "5")); got != "ResourceLimitExceeded" {
		t.Errorf("RegisterInstance past the quota after a restart = %q; want ResourceLimitExceeded", got)
	}
}
