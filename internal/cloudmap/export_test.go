package cloudmap

import (
	"slices"
	"sync"
	"testing"
	"time"
)

func TestSubscribeAndRead(t *testing.T) {
	e := newEnv(t, Config{})
	var mu sync.Mutex
	var got []Change
	e.b.Subscribe(func(rev int64, changes []Change) {
		mu.Lock()
		got = append(got, changes...)
		mu.Unlock()
	})
	seen := func(c Change) bool {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			ok := slices.Contains(got, c)
			mu.Unlock()
			if ok {
				return true
			}
			time.Sleep(time.Millisecond)
		}
		return false
	}
	nsID, svcID := e.httpService("sub", "api", false)
	e.register(svcID, "a", map[string]string{"AWS_INSTANCE_IPV4": "10.1.1.1"})
	for _, c := range []Change{
		{Account: "111122223333", Region: "eu-west-1", NamespaceID: nsID},
		{Account: "111122223333", Region: "eu-west-1", NamespaceID: nsID, ServiceID: svcID},
	} {
		if !seen(c) {
			t.Errorf("no change %+v among %+v", c, got)
		}
	}
	// The read methods answer from the view as it is (they are called on the
	// view's goroutine too); an API read first waits for the commit.
	e.discover("sub", "api", "ALL")
	info, insts, ok := e.b.Service("111122223333", "eu-west-1", svcID)
	if !ok || info.Name != "api" || info.NamespaceID != nsID || len(insts) != 1 || insts[0].Attributes.Value("AWS_INSTANCE_IPV4") != "10.1.1.1" {
		t.Fatalf("Service() = %+v, %+v, %v", info, insts, ok)
	}
	if h := insts[0].HealthAt(0); h != "UNKNOWN" {
		t.Errorf("HealthAt() for a service without checks = %s; want UNKNOWN", h)
	}
	ns, ok := e.b.Namespace("111122223333", "eu-west-1", nsID)
	if !ok || ns.HTTPName != "sub" || ns.Type != "HTTP" {
		t.Errorf("Namespace() = %+v, %v", ns, ok)
	}
	if svcs := e.b.Services("111122223333", "eu-west-1", nsID); len(svcs) != 1 || svcs[0].ID != svcID {
		t.Errorf("Services() = %+v", svcs)
	}
}

func TestSetHealth(t *testing.T) {
	e := newEnv(t, Config{})
	must(e.b.CreatePublicDnsNamespace(e.ctx, &CreatePublicDnsNamespaceInput{Name: str("example.com")}))
	var nsID string
	for _, n := range must(e.b.ListNamespaces(e.ctx, &ListNamespacesInput{})).Namespaces {
		nsID = *n.ID
	}
	svc := must(e.b.CreateService(e.ctx, &CreateServiceInput{Name: str("web"), NamespaceID: &nsID,
		DNSConfig:         &DNSConfig{DNSRecords: []DNSRecord{{Type: str("A"), TTL: int64ptr(60)}}},
		HealthCheckConfig: &HealthCheckConfig{Type: str("TCP")}}))
	svcID := *svc.Service.ID
	e.register(svcID, "a", map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "80"})
	rev := e.discover("example.com", "web", "ALL").rev
	if err := e.b.SetHealth(e.ctx, "111122223333", "eu-west-1", svcID, "a", 0, "UNHEALTHY", ""); err != nil {
		t.Fatal(err)
	}
	if d := e.discover("example.com", "web", "HEALTHY"); count(d) != 0 {
		t.Errorf("HEALTHY after SetHealth(UNHEALTHY) = %d instances; want 0", count(d))
	}
	if d := e.discover("example.com", "web", "ALL"); answerOf(d).InstancesRevision != rev {
		t.Errorf("InstancesRevision moved on a health change: %d -> %d", rev, answerOf(d).InstancesRevision)
	}
	if err := e.b.SetHealth(e.ctx, "111122223333", "eu-west-1", svcID, "gone", 0, "HEALTHY", ""); code(err) != "InstanceNotFound" {
		t.Errorf("SetHealth(unknown instance) = %v; want InstanceNotFound", err)
	}
	// A result about an earlier registration of the instance (registered
	// again, at another address, while the probe ran) is not recorded.
	_, insts, _ := e.b.Service("111122223333", "eu-west-1", svcID)
	probed := insts[0].Revision
	e.register(svcID, "a", map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.2", "AWS_INSTANCE_PORT": "80"})
	if err := e.b.SetHealth(e.ctx, "111122223333", "eu-west-1", svcID, "a", probed, "UNHEALTHY", "stale"); code(err) != "InstanceNotFound" {
		t.Errorf("SetHealth(an earlier registration) = %v; want InstanceNotFound", err)
	}
	if d := e.discover("example.com", "web", "HEALTHY"); count(d) != 1 {
		t.Errorf("HEALTHY after a stale result = %d instances; want the re-registered one", count(d))
	}
	_, custom := e.httpService("c", "api", true)
	e.register(custom, "x", map[string]string{})
	if err := e.b.SetHealth(e.ctx, "111122223333", "eu-west-1", custom, "x", 0, "HEALTHY", ""); code(err) != "InvalidInput" {
		t.Errorf("SetHealth on a custom-health service = %v; want InvalidInput", err)
	}
}

func int64ptr(n int64) *int64 { return &n }

func TestReregisterResetsProbedHealth(t *testing.T) {
	e := newEnv(t, Config{})
	must(e.b.CreatePublicDnsNamespace(e.ctx, &CreatePublicDnsNamespaceInput{Name: str("reset.example")}))
	var nsID string
	for _, n := range must(e.b.ListNamespaces(e.ctx, &ListNamespacesInput{})).Namespaces {
		nsID = *n.ID
	}
	svc := must(e.b.CreateService(e.ctx, &CreateServiceInput{Name: str("web"), NamespaceID: &nsID,
		DNSConfig:         &DNSConfig{DNSRecords: []DNSRecord{{Type: str("A"), TTL: int64ptr(60)}}},
		HealthCheckConfig: &HealthCheckConfig{Type: str("TCP")}}))
	svcID := *svc.Service.ID
	attrs := map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "80"}
	e.register(svcID, "a", attrs)
	if err := e.b.SetHealth(e.ctx, "111122223333", "eu-west-1", svcID, "a", 0, "UNHEALTHY", ""); err != nil {
		t.Fatal(err)
	}
	status := func() string {
		out := must(e.b.GetInstancesHealthStatus(e.ctx, &GetInstancesHealthStatusInput{ServiceID: &svcID}))
		return out.Status["a"]
	}
	e.register(svcID, "a", attrs) // the same attributes: the check goes on
	if got := status(); got != "UNHEALTHY" {
		t.Fatalf("after re-registering the same attributes: %s; want UNHEALTHY", got)
	}
	e.register(svcID, "a", map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.2", "AWS_INSTANCE_PORT": "80"})
	if got := status(); got != "HEALTHY" {
		t.Fatalf("after re-registering at a new address: %s; want HEALTHY (a new check)", got)
	}
}
