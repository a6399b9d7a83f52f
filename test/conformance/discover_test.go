package conformance

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"

	"github.com/mapmesh/mapmesh/internal/server"
)

// discover calls DiscoverInstances and returns the sorted instance IDs.
func discover(t testing.TB, c *sd.Client, in *sd.DiscoverInstancesInput) ([]string, *sd.DiscoverInstancesOutput) {
	t.Helper()
	out, err := c.DiscoverInstances(bg, in)
	if err != nil {
		t.Fatalf("DiscoverInstances(%s, %s) = %v", aws.ToString(in.NamespaceName), aws.ToString(in.ServiceName), err)
	}
	ids := instanceIDs(out.Instances)
	sort.Strings(ids)
	return ids, out
}

// TestDiscoverInstances: lookup by the namespace's HttpName and the service
// name, the summary of each instance, and the data- host the SDK uses.
func TestDiscoverInstances(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	for _, k := range []nsKind{httpNS, privateNS, publicNS} {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			account := newAccount()
			c := h.client(account, defaultRegion)
			nsID, nsName := newNamespace(t, c, k)
			var s *types.Service
			if k == httpNS {
				s = httpService(t, c, nsID)
			} else {
				s = dnsService(t, c, nsID, "", types.RecordTypeA)
			}
			attrs := map[string]int{"i-1": 1, "i-2": 2, "i-3": 3}
			for id, n := range attrs {
				register(t, c, *s.Id, id, map[string]string{"AWS_INSTANCE_IPV4": fmt.Sprintf("192.0.2.%d", n), "n": fmt.Sprint(n)})
			}
			ids, out := discover(t, c, &sd.DiscoverInstancesInput{NamespaceName: aws.String(nsName), ServiceName: s.Name})
			if d := diff([]string{"i-1", "i-2", "i-3"}, ids); d != "" {
				t.Errorf("instances (-want +got):\n%s", d)
			}
			for _, in := range out.Instances {
				n := attrs[aws.ToString(in.InstanceId)]
				want := types.HttpInstanceSummary{InstanceId: in.InstanceId, NamespaceName: aws.String(nsName), ServiceName: s.Name,
					HealthStatus: types.HealthStatusUnknown, // no health check
					Attributes:   map[string]string{"AWS_INSTANCE_IPV4": fmt.Sprintf("192.0.2.%d", n), "n": fmt.Sprint(n)}}
				if d := diff(want, in); d != "" {
					t.Errorf("instance summary (-want +got):\n%s", d)
				}
			}
			// OwnerAccount naming the caller's own account changes nothing.
			if own, _ := discover(t, c, &sd.DiscoverInstancesInput{NamespaceName: aws.String(nsName), ServiceName: s.Name, OwnerAccount: aws.String(account)}); len(own) != 3 {
				t.Errorf("DiscoverInstances with OwnerAccount = %v; want the 3 instances", own)
			}
			if rev := revision(t, c, nsName, *s.Name); aws.ToInt64(out.InstancesRevision) != rev {
				t.Errorf("DiscoverInstances.InstancesRevision = %d; DiscoverInstancesRevision = %d; want equal", aws.ToInt64(out.InstancesRevision), rev)
			}
			// The SDK sent both data-plane calls to "data-" + host.
			for _, op := range []string{"DiscoverInstances", "DiscoverInstancesRevision"} {
				if got, want := h.hosts.get(op), "data-"+h.srv.Addr; got != want {
					t.Errorf("%s went to host %q; want %q", op, got, want)
				}
			}
			if got := h.hosts.get("RegisterInstance"); got != h.srv.Addr {
				t.Errorf("RegisterInstance went to host %q; want %q", got, h.srv.Addr)
			}
		})
	}
	t.Run("not found", func(t *testing.T) {
		t.Parallel()
		c := h.account()
		nsID, nsName := newNamespace(t, c, httpNS)
		s := httpService(t, c, nsID)
		for _, tc := range []struct {
			name, ns, svc, code string
		}{
			{"unknown namespace", "no-such-namespace", *s.Name, "NamespaceNotFound"},
			{"namespace ID instead of its name", nsID, *s.Name, "NamespaceNotFound"},
			{"unknown service", nsName, "no-such-service", "ServiceNotFound"},
		} {
			_, err := c.DiscoverInstances(bg, &sd.DiscoverInstancesInput{NamespaceName: aws.String(tc.ns), ServiceName: aws.String(tc.svc)})
			apiError(t, err, tc.code)
			_, err = c.DiscoverInstancesRevision(bg, &sd.DiscoverInstancesRevisionInput{NamespaceName: aws.String(tc.ns), ServiceName: aws.String(tc.svc)})
			apiError(t, err, tc.code)
		}
	})
	t.Run("API-only service in a DNS namespace", func(t *testing.T) {
		t.Parallel()
		c := h.account()
		nsID, nsName := newNamespace(t, c, privateNS)
		s := httpService(t, c, nsID, func(in *sd.CreateServiceInput) { in.Type = types.ServiceTypeOptionHttp })
		register(t, c, *s.Id, "api-1", map[string]string{"url": "http://10.0.0.1"})
		if ids, _ := discover(t, c, &sd.DiscoverInstancesInput{NamespaceName: aws.String(nsName), ServiceName: s.Name}); !slices.Equal(ids, []string{"api-1"}) {
			t.Errorf("instances = %v; want [api-1]", ids)
		}
	})
}

// TestDiscoverFilters: QueryParameters must all match; OptionalParameters
// narrow the answer only when some instance matches all of them.
func TestDiscoverFilters(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c := h.account()
	nsID, nsName := newNamespace(t, c, httpNS)
	s := httpService(t, c, nsID)
	register(t, c, *s.Id, "prod-1", map[string]string{"env": "prod", "ver": "1", "AWS_INSTANCE_IPV4": "192.0.2.1"})
	register(t, c, *s.Id, "prod-2", map[string]string{"env": "prod", "ver": "2", "AWS_INSTANCE_IPV4": "192.0.2.2"})
	register(t, c, *s.Id, "dev-1", map[string]string{"env": "dev", "ver": "1", "AWS_INSTANCE_IPV4": "192.0.2.3"})
	tests := []struct {
		name            string
		query, optional map[string]string
		want            []string
	}{
		{"no filters", nil, nil, []string{"dev-1", "prod-1", "prod-2"}},
		{"query one key", map[string]string{"env": "prod"}, nil, []string{"prod-1", "prod-2"}},
		{"query all keys must match", map[string]string{"env": "prod", "ver": "1"}, nil, []string{"prod-1"}},
		{"query reserved attribute", map[string]string{"AWS_INSTANCE_IPV4": "192.0.2.3"}, nil, []string{"dev-1"}},
		{"query matches nothing", map[string]string{"env": "qa"}, nil, []string{}},
		{"query on a missing key", map[string]string{"zone": "a"}, nil, []string{}},
		{"optional narrows", map[string]string{"env": "prod"}, map[string]string{"ver": "2"}, []string{"prod-2"}},
		{"optional matching nothing is ignored", map[string]string{"env": "prod"}, map[string]string{"ver": "9"}, []string{"prod-1", "prod-2"}},
		{"optional alone", nil, map[string]string{"env": "dev"}, []string{"dev-1"}},
		{"optional is all or nothing", nil, map[string]string{"env": "prod", "ver": "3"}, []string{"dev-1", "prod-1", "prod-2"}},
		{"optional only among the query's matches", map[string]string{"env": "dev"}, map[string]string{"ver": "2"}, []string{"dev-1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ids, _ := discover(t, c, &sd.DiscoverInstancesInput{NamespaceName: aws.String(nsName), ServiceName: s.Name,
				QueryParameters: tc.query, OptionalParameters: tc.optional})
			if d := diff(tc.want, ids, nilMapIsEmpty); d != "" {
				t.Errorf("DiscoverInstances(query %v, optional %v) (-want +got):\n%s", tc.query, tc.optional, d)
			}
		})
	}
}

// TestDiscoverHealthFilter: HEALTHY, UNHEALTHY, ALL and HEALTHY_OR_ELSE_ALL
// on a service with custom health; the filter is ignored for a service
// without health checks.
func TestDiscoverHealthFilter(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c := h.account()
	nsID, nsName := newNamespace(t, c, httpNS)
	s := httpService(t, c, nsID, func(in *sd.CreateServiceInput) { in.HealthCheckCustomConfig = &types.HealthCheckCustomConfig{} })
	register(t, c, *s.Id, "ok-1", nil)
	register(t, c, *s.Id, "ok-2", map[string]string{"AWS_INIT_HEALTH_STATUS": "HEALTHY"})
	register(t, c, *s.Id, "bad-1", map[string]string{"AWS_INIT_HEALTH_STATUS": "UNHEALTHY"})
	all := []string{"bad-1", "ok-1", "ok-2"}
	check := func(t *testing.T, filter types.HealthStatusFilter, want []string) {
		t.Helper()
		ids, out := discover(t, c, &sd.DiscoverInstancesInput{NamespaceName: aws.String(nsName), ServiceName: s.Name, HealthStatus: filter})
		if d := diff(want, ids, nilMapIsEmpty); d != "" {
			t.Errorf("DiscoverInstances(HealthStatus %s) (-want +got):\n%s", filter, d)
		}
		for _, in := range out.Instances {
			want := types.HealthStatusHealthy
			if strings.HasPrefix(*in.InstanceId, "bad") {
				want = types.HealthStatusUnhealthy
			}
			if in.HealthStatus != want {
				t.Errorf("instance %s HealthStatus = %s; want %s", *in.InstanceId, in.HealthStatus, want)
			}
		}
	}
	check(t, types.HealthStatusFilterHealthy, []string{"ok-1", "ok-2"})
	check(t, types.HealthStatusFilterUnhealthy, []string{"bad-1"})
	check(t, types.HealthStatusFilterAll, all)
	check(t, types.HealthStatusFilterHealthyOrElseAll, []string{"ok-1", "ok-2"})

	for _, id := range []string{"ok-1", "ok-2"} {
		if _, err := c.UpdateInstanceCustomHealthStatus(bg, &sd.UpdateInstanceCustomHealthStatusInput{ServiceId: s.Id, InstanceId: aws.String(id), Status: types.CustomHealthStatusUnhealthy}); err != nil {
			t.Fatal(err)
		}
	}
	ids, _ := discover(t, c, &sd.DiscoverInstancesInput{NamespaceName: aws.String(nsName), ServiceName: s.Name, HealthStatus: types.HealthStatusFilterHealthy})
	if len(ids) != 0 {
		t.Errorf("HEALTHY with every instance unhealthy = %v; want none", ids)
	}
	ids, out := discover(t, c, &sd.DiscoverInstancesInput{NamespaceName: aws.String(nsName), ServiceName: s.Name, HealthStatus: types.HealthStatusFilterHealthyOrElseAll})
	if d := diff(all, ids); d != "" {
		t.Errorf("HEALTHY_OR_ELSE_ALL with every instance unhealthy fails open (-want +got):\n%s", d)
	}
	for _, in := range out.Instances {
		if in.HealthStatus != types.HealthStatusUnhealthy {
			t.Errorf("instance %s HealthStatus = %s; want UNHEALTHY", *in.InstanceId, in.HealthStatus)
		}
	}

	t.Run("service without health checks", func(t *testing.T) {
		plain := httpService(t, c, nsID)
		register(t, c, *plain.Id, "p-1", nil)
		register(t, c, *plain.Id, "p-2", map[string]string{"k": "v"})
		for _, f := range []types.HealthStatusFilter{"", types.HealthStatusFilterHealthy, types.HealthStatusFilterUnhealthy, types.HealthStatusFilterAll, types.HealthStatusFilterHealthyOrElseAll} {
			ids, out := discover(t, c, &sd.DiscoverInstancesInput{NamespaceName: aws.String(nsName), ServiceName: plain.Name, HealthStatus: f})
			if d := diff([]string{"p-1", "p-2"}, ids); d != "" {
				t.Errorf("HealthStatus %q on a service without checks (-want +got):\n%s", f, d)
			}
			for _, in := range out.Instances {
				if in.HealthStatus != types.HealthStatusUnknown {
					t.Errorf("instance %s HealthStatus = %s; want UNKNOWN", *in.InstanceId, in.HealthStatus)
				}
			}
		}
	})
}

// TestDiscoverMaxResults: 100 by default, up to 1000, and the order is
// random.
func TestDiscoverMaxResults(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c := h.account()
	nsID, nsName := newNamespace(t, c, httpNS)
	s := httpService(t, c, nsID)
	registerMany(t, c, *s.Id, "m", 120, ipv4)
	in := func(max *int32) *sd.DiscoverInstancesInput {
		return &sd.DiscoverInstancesInput{NamespaceName: aws.String(nsName), ServiceName: s.Name, MaxResults: max}
	}
	for _, tc := range []struct {
		max  *int32
		want int
	}{{nil, 100}, {aws.Int32(1000), 120}, {aws.Int32(7), 7}, {aws.Int32(1), 1}} {
		ids, _ := discover(t, c, in(tc.max))
		if len(ids) != tc.want {
			t.Errorf("DiscoverInstances(MaxResults %v) returned %d instances; want %d", aws.ToInt32(tc.max), len(ids), tc.want)
		}
		if len(slices.Compact(ids)) != len(ids) {
			t.Errorf("DiscoverInstances(MaxResults %v) returned an instance twice", aws.ToInt32(tc.max))
		}
	}
	for _, bad := range []int32{1001, 0} {
		_, err := c.DiscoverInstances(bg, in(aws.Int32(bad)))
		apiError(t, err, "InvalidInput")
	}

	// "returns a randomized list": with 120 instances, ten calls do not all
	// come back in one order.
	orders := map[string]bool{}
	for range 10 {
		out, err := c.DiscoverInstances(bg, in(aws.Int32(1000)))
		if err != nil {
			t.Fatal(err)
		}
		orders[strings.Join(instanceIDs(out.Instances), ",")] = true
	}
	if len(orders) < 2 {
		t.Errorf("ten DiscoverInstances calls returned %d order(s); want the list shuffled", len(orders))
	}
}

// TestInstancesRevision: InstancesRevision rises with every register and
// deregister, and not with health changes; both data-plane operations agree.
func TestInstancesRevision(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c := h.account()
	nsID, nsName := newNamespace(t, c, privateNS)
	s := createService(t, c, &sd.CreateServiceInput{Name: aws.String("rev"), NamespaceId: aws.String(nsID),
		DnsConfig: &types.DnsConfig{DnsRecords: records(60, types.RecordTypeA)}, HealthCheckCustomConfig: &types.HealthCheckCustomConfig{}})
	other := dnsService(t, c, nsID, "", types.RecordTypeA)
	rev := func() int64 {
		t.Helper()
		r := revision(t, c, nsName, "rev")
		_, out := discover(t, c, &sd.DiscoverInstancesInput{NamespaceName: aws.String(nsName), ServiceName: aws.String("rev"), HealthStatus: types.HealthStatusFilterAll})
		if aws.ToInt64(out.InstancesRevision) != r {
			t.Errorf("DiscoverInstances.InstancesRevision = %d; DiscoverInstancesRevision = %d; want equal", aws.ToInt64(out.InstancesRevision), r)
		}
		return r
	}
	last := rev()
	step := func(what string, f func(), wantRise bool) {
		t.Helper()
		f()
		r := rev()
		switch {
		case wantRise && r <= last:
			t.Errorf("InstancesRevision after %s = %d; want more than %d", what, r, last)
		case !wantRise && r != last:
			t.Errorf("InstancesRevision after %s = %d; want %d unchanged", what, r, last)
		}
		last = r
	}
	step("register", func() { register(t, c, *s.Id, "a", ipv4(1)) }, true)
	step("a second register", func() { register(t, c, *s.Id, "b", ipv4(2)) }, true)
	step("re-register", func() { register(t, c, *s.Id, "a", ipv4(3)) }, true)
	step("a health change", func() {
		if _, err := c.UpdateInstanceCustomHealthStatus(bg, &sd.UpdateInstanceCustomHealthStatusInput{ServiceId: s.Id, InstanceId: aws.String("a"), Status: types.CustomHealthStatusUnhealthy}); err != nil {
			t.Fatal(err)
		}
	}, false)
	step("a register in another service", func() { register(t, c, *other.Id, "z", ipv4(9)) }, false)
	step("deregister", func() {
		out, err := c.DeregisterInstance(bg, &sd.DeregisterInstanceInput{ServiceId: s.Id, InstanceId: aws.String("b")})
		if err != nil {
			t.Fatal(err)
		}
		successfulOperation(t, c, *out.OperationId)
	}, true)
}
