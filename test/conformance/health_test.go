package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"

	"github.com/mapmesh/mapmesh/internal/server"
)

// TestCustomHealth: instances of a service with HealthCheckCustomConfig
// start HEALTHY unless AWS_INIT_HEALTH_STATUS says UNHEALTHY, and
// UpdateInstanceCustomHealthStatus sets them (servertest applies it at once;
// AWS takes about 30 s).
func TestCustomHealth(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c := h.account()
	nsID, _ := newNamespace(t, c, httpNS)
	s := httpService(t, c, nsID, func(in *sd.CreateServiceInput) { in.HealthCheckCustomConfig = &types.HealthCheckCustomConfig{} })
	register(t, c, *s.Id, "up", map[string]string{"k": "v"})
	register(t, c, *s.Id, "down", map[string]string{"AWS_INIT_HEALTH_STATUS": "UNHEALTHY"})
	register(t, c, *s.Id, "explicit-up", map[string]string{"AWS_INIT_HEALTH_STATUS": "HEALTHY"})

	want := map[string]types.HealthStatus{"up": types.HealthStatusHealthy, "down": types.HealthStatusUnhealthy, "explicit-up": types.HealthStatusHealthy}
	if d := diff(want, healthOf(t, c, *s.Id, nil)); d != "" {
		t.Errorf("initial health (-want +got):\n%s", d)
	}
	// The reserved attribute is kept as given.
	got, err := c.GetInstance(bg, &sd.GetInstanceInput{ServiceId: s.Id, InstanceId: aws.String("down")})
	if err != nil {
		t.Fatal(err)
	}
	if got.Instance.Attributes["AWS_INIT_HEALTH_STATUS"] != "UNHEALTHY" {
		t.Errorf("attributes = %v; want AWS_INIT_HEALTH_STATUS kept", got.Instance.Attributes)
	}

	set := func(id string, st types.CustomHealthStatus) {
		t.Helper()
		if _, err := c.UpdateInstanceCustomHealthStatus(bg, &sd.UpdateInstanceCustomHealthStatusInput{ServiceId: s.Id, InstanceId: aws.String(id), Status: st}); err != nil {
			t.Fatalf("UpdateInstanceCustomHealthStatus(%s, %s) = %v", id, st, err)
		}
	}
	set("up", types.CustomHealthStatusUnhealthy)
	set("down", types.CustomHealthStatusHealthy)
	set("explicit-up", types.CustomHealthStatusHealthy) // no change: still fine
	want = map[string]types.HealthStatus{"up": types.HealthStatusUnhealthy, "down": types.HealthStatusHealthy, "explicit-up": types.HealthStatusHealthy}
	if d := diff(want, healthOf(t, c, *s.Id, nil)); d != "" {
		t.Errorf("health after updates (-want +got):\n%s", d)
	}
	// Only the instances asked for.
	if d := diff(map[string]types.HealthStatus{"up": types.HealthStatusUnhealthy}, healthOf(t, c, *s.Id, []string{"up"})); d != "" {
		t.Errorf("GetInstancesHealthStatus(Instances [up]) (-want +got):\n%s", d)
	}
	// By service ARN too.
	if _, err := c.UpdateInstanceCustomHealthStatus(bg, &sd.UpdateInstanceCustomHealthStatusInput{ServiceId: s.Arn, InstanceId: aws.String("up"),
		Status: types.CustomHealthStatusHealthy}); err != nil {
		t.Errorf("UpdateInstanceCustomHealthStatus(service ARN) = %v", err)
	}

	t.Run("CustomHealthNotFound", func(t *testing.T) {
		pubID, _ := newNamespace(t, c, publicNS)
		for _, tc := range []struct {
			name string
			svc  *types.Service
		}{
			{"no health check", httpService(t, c, nsID)},
			{"Route 53 health check", createService(t, c, &sd.CreateServiceInput{Name: aws.String(uniq("r53")), NamespaceId: aws.String(pubID),
				DnsConfig: &types.DnsConfig{DnsRecords: records(60, types.RecordTypeA)}, HealthCheckConfig: &types.HealthCheckConfig{Type: types.HealthCheckTypeTcp}})},
		} {
			t.Run(tc.name, func(t *testing.T) {
				attrs := map[string]string{"AWS_INSTANCE_IPV4": "192.0.2.3", "AWS_INSTANCE_PORT": "80"}
				register(t, c, *tc.svc.Id, "x", attrs)
				_, err := c.UpdateInstanceCustomHealthStatus(bg, &sd.UpdateInstanceCustomHealthStatusInput{ServiceId: tc.svc.Id, InstanceId: aws.String("x"), Status: types.CustomHealthStatusHealthy})
				apiError(t, err, "CustomHealthNotFound")
			})
		}
	})
	t.Run("unknown instance", func(t *testing.T) {
		_, err := c.UpdateInstanceCustomHealthStatus(bg, &sd.UpdateInstanceCustomHealthStatusInput{ServiceId: s.Id, InstanceId: aws.String("nobody"), Status: types.CustomHealthStatusHealthy})
		apiError(t, err, "InstanceNotFound")
		_, err = c.GetInstancesHealthStatus(bg, &sd.GetInstancesHealthStatusInput{ServiceId: s.Id, Instances: []string{"up", "nobody"}})
		apiError(t, err, "InstanceNotFound")
	})
}

// TestHealthStatusWithoutChecks: a service without any health check reports
// UNKNOWN for its instances.
func TestHealthStatusWithoutChecks(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c := h.account()
	nsID, _ := newNamespace(t, c, privateNS)
	s := dnsService(t, c, nsID, "", types.RecordTypeA)
	register(t, c, *s.Id, "a", ipv4(1))
	register(t, c, *s.Id, "b", ipv4(2))
	want := map[string]types.HealthStatus{"a": types.HealthStatusUnknown, "b": types.HealthStatusUnknown}
	if d := diff(want, healthOf(t, c, *s.Id, nil)); d != "" {
		t.Errorf("GetInstancesHealthStatus (-want +got):\n%s", d)
	}
}

// TestGetInstancesHealthStatusPagination pages through the statuses with
// the SDK paginator.
func TestGetInstancesHealthStatusPagination(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c := h.account()
	nsID, _ := newNamespace(t, c, httpNS)
	s := httpService(t, c, nsID, func(in *sd.CreateServiceInput) { in.HealthCheckCustomConfig = &types.HealthCheckCustomConfig{} })
	ids := registerMany(t, c, *s.Id, "hs", 7, func(i int) map[string]string {
		if i%2 == 0 {
			return map[string]string{"AWS_INIT_HEALTH_STATUS": "UNHEALTHY"}
		}
		return map[string]string{"n": fmt.Sprint(i)}
	})
	seen := map[string]types.HealthStatus{}
	pages := 0
	p := sd.NewGetInstancesHealthStatusPaginator(c, &sd.GetInstancesHealthStatusInput{ServiceId: s.Id, MaxResults: aws.Int32(3)})
	for p.HasMorePages() {
		page, err := p.NextPage(bg)
		if err != nil {
			t.Fatalf("GetInstancesHealthStatus page %d = %v", pages+1, err)
		}
		pages++
		if len(page.Status) > 3 {
			t.Errorf("page %d has %d statuses; want at most MaxResults 3", pages, len(page.Status))
		}
		for id, st := range page.Status {
			if _, dup := seen[id]; dup {
				t.Errorf("instance %s appears on two pages", id)
			}
			seen[id] = st
		}
	}
	if pages < 3 {
		t.Errorf("pages = %d; want at least 3 for 7 instances 3 at a time", pages)
	}
	want := map[string]types.HealthStatus{}
	for i, id := range ids {
		want[id] = types.HealthStatusHealthy
		if i%2 == 0 {
			want[id] = types.HealthStatusUnhealthy
		}
	}
	if d := diff(want, seen); d != "" {
		t.Errorf("statuses over all pages (-want +got):\n%s", d)
	}
}

// healthOf returns GetInstancesHealthStatus of a service (all pages).
func healthOf(t testing.TB, c *sd.Client, svcID string, ids []string) map[string]types.HealthStatus {
	t.Helper()
	out := map[string]types.HealthStatus{}
	p := sd.NewGetInstancesHealthStatusPaginator(c, &sd.GetInstancesHealthStatusInput{ServiceId: aws.String(svcID), Instances: ids})
	for p.HasMorePages() {
		page, err := p.NextPage(bg)
		if err != nil {
			t.Fatalf("GetInstancesHealthStatus(%s) = %v", svcID, err)
		}
		for k, v := range page.Status {
			out[k] = v
		}
	}
	return out
}

// TestCustomHealthDelay: with a delay configured (AWS waits about 30 s),
// UpdateInstanceCustomHealthStatus takes effect only after it, and the
// opposite status sent inside the window cancels the change.
func TestCustomHealthDelay(t *testing.T) {
	t.Parallel()
	const delay = 2 * time.Second
	h := start(t, server.Config{CustomHealthDelay: delay})
	c := h.account()
	nsID, nsName := newNamespace(t, c, httpNS)
	s := httpService(t, c, nsID, func(in *sd.CreateServiceInput) { in.HealthCheckCustomConfig = &types.HealthCheckCustomConfig{} })
	register(t, c, *s.Id, "flaky", nil)
	register(t, c, *s.Id, "steady", nil)
	set := func(id string, st types.CustomHealthStatus) {
		t.Helper()
		if _, err := c.UpdateInstanceCustomHealthStatus(bg, &sd.UpdateInstanceCustomHealthStatusInput{ServiceId: s.Id, InstanceId: aws.String(id), Status: st}); err != nil {
			t.Fatalf("UpdateInstanceCustomHealthStatus(%s, %s) = %v", id, st, err)
		}
	}
	status := func(id string) types.HealthStatus { return healthOf(t, c, *s.Id, []string{id})[id] }

	sent := time.Now()
	set("flaky", types.CustomHealthStatusUnhealthy)
	if got := status("flaky"); got != types.HealthStatusHealthy && time.Since(sent) < delay {
		t.Errorf("status right after UpdateInstanceCustomHealthStatus = %s; want HEALTHY until the delay passes", got)
	}
	// The opposite status inside the window cancels; the first change of
	// "steady" goes through.
	set("steady", types.CustomHealthStatusUnhealthy)
	set("steady", types.CustomHealthStatusHealthy)
	deadline := time.Now().Add(10 * time.Second)
	for status("flaky") != types.HealthStatusUnhealthy {
		if time.Now().After(deadline) {
			t.Fatalf("status still %s %v after the change; want UNHEALTHY after %v", status("flaky"), time.Since(sent), delay)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if waited := time.Since(sent); waited < delay {
		t.Errorf("change took effect after %v; want no sooner than %v", waited, delay)
	}
	time.Sleep(delay / 4)
	if got := status("steady"); got != types.HealthStatusHealthy {
		t.Errorf("status after UNHEALTHY then HEALTHY within the window = %s; want HEALTHY", got)
	}
	ids, _ := discover(t, c, &sd.DiscoverInstancesInput{NamespaceName: aws.String(nsName), ServiceName: s.Name, HealthStatus: types.HealthStatusFilterHealthy})
	if d := diff([]string{"steady"}, ids); d != "" {
		t.Errorf("healthy instances (-want +got):\n%s", d)
	}
}
