package conformance

import (
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"

	"github.com/mapmesh/mapmesh/internal/server"
)

// TestRegisterInstance registers and deregisters an instance and checks the
// operations, GetInstance, ListInstances and the service's InstanceCount.
func TestRegisterInstance(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	account := newAccount()
	c := h.client(account, defaultRegion)
	nsID, _ := newNamespace(t, c, privateNS)
	s := dnsService(t, c, nsID, "", types.RecordTypeA, types.RecordTypeSrv)
	attrs := map[string]string{"AWS_INSTANCE_IPV4": "192.0.2.44", "AWS_INSTANCE_PORT": "8080", "color": "blue", "empty": ""}

	before := time.Now()
	out, err := c.RegisterInstance(bg, &sd.RegisterInstanceInput{ServiceId: s.Id, InstanceId: aws.String("i-0abc"), Attributes: attrs,
		CreatorRequestId: aws.String("reg-token")})
	if err != nil {
		t.Fatalf("RegisterInstance = %v", err)
	}
	op := successfulOperation(t, c, *out.OperationId)
	if op.Type != types.OperationTypeRegisterInstance {
		t.Errorf("Operation.Type = %s; want REGISTER_INSTANCE", op.Type)
	}
	if op.Targets["INSTANCE"] != "i-0abc" || op.Targets["SERVICE"] != *s.Id {
		t.Errorf("Operation.Targets = %v; want INSTANCE i-0abc and SERVICE %s", op.Targets, *s.Id)
	}
	checkNear(t, "Operation.CreateDate", op.CreateDate, before, time.Now())

	got, err := c.GetInstance(bg, &sd.GetInstanceInput{ServiceId: s.Id, InstanceId: aws.String("i-0abc")})
	if err != nil {
		t.Fatalf("GetInstance = %v", err)
	}
	if aws.ToString(got.ResourceOwner) != account {
		t.Errorf("GetInstance.ResourceOwner = %q; want %q", aws.ToString(got.ResourceOwner), account)
	}
	want := &types.Instance{Id: aws.String("i-0abc"), Attributes: attrs, CreatorRequestId: aws.String("reg-token"), CreatedByAccount: aws.String(account)}
	if d := diff(want, got.Instance); d != "" {
		t.Errorf("GetInstance (-want +got):\n%s", d)
	}
	byARN, err := c.GetInstance(bg, &sd.GetInstanceInput{ServiceId: s.Arn, InstanceId: aws.String("i-0abc")})
	if err != nil {
		t.Fatalf("GetInstance(service ARN) = %v", err)
	}
	if d := diff(want, byARN.Instance); d != "" {
		t.Errorf("GetInstance by service ARN (-want +got):\n%s", d)
	}

	list, err := c.ListInstances(bg, &sd.ListInstancesInput{ServiceId: s.Id})
	if err != nil {
		t.Fatalf("ListInstances = %v", err)
	}
	wantList := []types.InstanceSummary{{Id: aws.String("i-0abc"), Attributes: attrs, CreatedByAccount: aws.String(account)}}
	if d := diff(wantList, list.Instances); d != "" {
		t.Errorf("ListInstances (-want +got):\n%s", d)
	}
	if aws.ToString(list.ResourceOwner) != account {
		t.Errorf("ListInstances.ResourceOwner = %q; want %q", aws.ToString(list.ResourceOwner), account)
	}
	if n := instanceCount(t, c, *s.Id); n != 1 {
		t.Errorf("InstanceCount = %d; want 1", n)
	}
	svcs, err := c.ListServices(bg, &sd.ListServicesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs.Services) != 1 || aws.ToInt32(svcs.Services[0].InstanceCount) != 1 {
		t.Errorf("ListServices = %d services; want 1 with InstanceCount 1", len(svcs.Services))
	}

	dout, err := c.DeregisterInstance(bg, &sd.DeregisterInstanceInput{ServiceId: s.Id, InstanceId: aws.String("i-0abc")})
	if err != nil {
		t.Fatalf("DeregisterInstance = %v", err)
	}
	dop := successfulOperation(t, c, *dout.OperationId)
	if dop.Type != types.OperationTypeDeregisterInstance {
		t.Errorf("Operation.Type = %s; want DEREGISTER_INSTANCE", dop.Type)
	}
	if dop.Targets["INSTANCE"] != "i-0abc" || dop.Targets["SERVICE"] != *s.Id {
		t.Errorf("Operation.Targets = %v; want INSTANCE i-0abc and SERVICE %s", dop.Targets, *s.Id)
	}
	_, err = c.GetInstance(bg, &sd.GetInstanceInput{ServiceId: s.Id, InstanceId: aws.String("i-0abc")})
	apiError(t, err, "InstanceNotFound")
	_, err = c.DeregisterInstance(bg, &sd.DeregisterInstanceInput{ServiceId: s.Id, InstanceId: aws.String("i-0abc")})
	apiError(t, err, "InstanceNotFound")
	if n := instanceCount(t, c, *s.Id); n != 0 {
		t.Errorf("InstanceCount after deregister = %d; want 0", n)
	}
}

// TestRegisterInstanceIdempotency: a retry with the same CreatorRequestId
// returns the first operation; the token reused for another request is
// DuplicateRequest naming it.
func TestRegisterInstanceIdempotency(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c := h.account()
	nsID, _ := newNamespace(t, c, httpNS)
	s := httpService(t, c, nsID)
	in := &sd.RegisterInstanceInput{ServiceId: s.Id, InstanceId: aws.String("one"), Attributes: map[string]string{"k": "v"}, CreatorRequestId: aws.String("reg-1")}
	first, err := c.RegisterInstance(bg, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.RegisterInstance(bg, in)
	if err != nil {
		t.Fatalf("retry with the same CreatorRequestId = %v", err)
	}
	if *again.OperationId != *first.OperationId {
		t.Errorf("retry OperationId = %s; want %s", *again.OperationId, *first.OperationId)
	}
	// The same token for another instance is the old request, never a new
	// registration.
	_, err = c.RegisterInstance(bg, &sd.RegisterInstanceInput{ServiceId: s.Id, InstanceId: aws.String("two"), Attributes: map[string]string{"k": "v"}, CreatorRequestId: aws.String("reg-1")})
	e := asError[*types.DuplicateRequest](t, err)
	if got := aws.ToString(e.DuplicateOperationId); got != *first.OperationId {
		t.Errorf("DuplicateRequest.DuplicateOperationId = %q; want %q", got, *first.OperationId)
	}
	_, err = c.GetInstance(bg, &sd.GetInstanceInput{ServiceId: s.Id, InstanceId: aws.String("two")})
	apiError(t, err, "InstanceNotFound")
	if n := instanceCount(t, c, *s.Id); n != 1 {
		t.Errorf("InstanceCount = %d; want 1", n)
	}
}

// TestInstanceAttributeRules: what RegisterInstance requires and refuses,
// by the service's configuration (API reference, RegisterInstance.Attributes).
func TestInstanceAttributeRules(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c := h.account()
	privID, _ := newNamespace(t, c, privateNS)
	pubID, _ := newNamespace(t, c, publicNS)
	httpID, _ := newNamespace(t, c, httpNS)
	A, AAAA, SRV, CNAME := types.RecordTypeA, types.RecordTypeAaaa, types.RecordTypeSrv, types.RecordTypeCname
	mv, w := types.RoutingPolicyMultivalue, types.RoutingPolicyWeighted
	svc := map[string]*types.Service{
		"A":            dnsService(t, c, privID, mv, A),
		"AAAA":         dnsService(t, c, privID, mv, AAAA),
		"A+AAAA":       dnsService(t, c, privID, mv, A, AAAA),
		"SRV":          dnsService(t, c, privID, mv, SRV),
		"A+SRV":        dnsService(t, c, privID, mv, A, SRV),
		"CNAME":        dnsService(t, c, privID, w, CNAME),
		"A weighted":   dnsService(t, c, privID, w, A),
		"SRV weighted": dnsService(t, c, privID, w, SRV),
		"A health check": createService(t, c, &sd.CreateServiceInput{Name: aws.String(uniq("hc")), NamespaceId: aws.String(pubID),
			DnsConfig: &types.DnsConfig{DnsRecords: records(60, A)}, HealthCheckConfig: &types.HealthCheckConfig{Type: types.HealthCheckTypeTcp}}),
		"HTTP":         httpService(t, c, httpID),
		"HTTP custom":  httpService(t, c, httpID, func(in *sd.CreateServiceInput) { in.HealthCheckCustomConfig = &types.HealthCheckCustomConfig{} }),
		"DNS API-only": httpService(t, c, privID, func(in *sd.CreateServiceInput) { in.Type = types.ServiceTypeOptionHttp }),
	}
	custom := func(n, valueLen int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprintf("key%02d", i)] = strings.Repeat("v", valueLen)
		}
		return m
	}
	with := func(m map[string]string, kv ...string) map[string]string {
		m = maps.Clone(m)
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	ip4 := map[string]string{"AWS_INSTANCE_IPV4": "192.0.2.1"}
	ip6 := map[string]string{"AWS_INSTANCE_IPV6": "2001:db8::1"}
	tests := []struct {
		name  string
		svc   string
		attrs map[string]string
		ok    bool
	}{
		{"A with IPv4", "A", ip4, true},
		{"A without IPv4", "A", map[string]string{"AWS_INSTANCE_IPV6": "2001:db8::1"}, false},
		{"AAAA with IPv6", "AAAA", ip6, true},
		{"AAAA without IPv6", "AAAA", ip4, false},
		{"A+AAAA with both", "A+AAAA", with(ip4, "AWS_INSTANCE_IPV6", "2001:db8::2"), true},
		{"A+AAAA with only IPv4", "A+AAAA", ip4, false},
		{"SRV with IPv4 and port", "SRV", with(ip4, "AWS_INSTANCE_PORT", "443"), true},
		{"SRV with IPv6 and port", "SRV", with(ip6, "AWS_INSTANCE_PORT", "443"), true},
		{"SRV without port", "SRV", ip4, false},
		{"SRV without an IP", "SRV", map[string]string{"AWS_INSTANCE_PORT": "443"}, false},
		{"A+SRV with IPv4 and port", "A+SRV", with(ip4, "AWS_INSTANCE_PORT", "80"), true},
		{"A+SRV with IPv6 and port", "A+SRV", with(ip6, "AWS_INSTANCE_PORT", "80"), false},
		{"CNAME with CNAME", "CNAME", map[string]string{"AWS_INSTANCE_CNAME": "www.example.com"}, true},
		{"CNAME without CNAME", "CNAME", ip4, false},
		{"health check with port", "A health check", with(ip4, "AWS_INSTANCE_PORT", "8080"), true},
		{"health check without port", "A health check", ip4, false},
		{"alias on weighted A", "A weighted", map[string]string{"AWS_ALIAS_DNS_NAME": "my-lb-123.us-east-1.elb.amazonaws.com"}, true},
		{"alias with an instance IP", "A weighted", with(ip4, "AWS_ALIAS_DNS_NAME", "my-lb-123.us-east-1.elb.amazonaws.com"), false},
		{"alias on multivalue A", "A", map[string]string{"AWS_ALIAS_DNS_NAME": "my-lb-123.us-east-1.elb.amazonaws.com"}, false},
		{"alias on SRV only", "SRV weighted", map[string]string{"AWS_ALIAS_DNS_NAME": "my-lb-123.us-east-1.elb.amazonaws.com"}, false},
		{"EC2 instance ID alone, HTTP namespace", "HTTP", map[string]string{"AWS_EC2_INSTANCE_ID": "i-0123456789abcdef0"}, true},
		{"EC2 instance ID with initial health", "HTTP custom", map[string]string{"AWS_EC2_INSTANCE_ID": "i-0123456789abcdef0", "AWS_INIT_HEALTH_STATUS": "UNHEALTHY"}, true},
		{"EC2 instance ID with another attribute", "HTTP", map[string]string{"AWS_EC2_INSTANCE_ID": "i-0123456789abcdef0", "color": "red"}, false},
		{"EC2 instance ID with an IP", "HTTP", with(ip4, "AWS_EC2_INSTANCE_ID", "i-0123456789abcdef0"), false},
		{"EC2 instance ID in a DNS namespace", "DNS API-only", map[string]string{"AWS_EC2_INSTANCE_ID": "i-0123456789abcdef0"}, false},
		{"initial health neither HEALTHY nor UNHEALTHY", "HTTP custom", map[string]string{"AWS_INIT_HEALTH_STATUS": "SICK"}, false},
		{"30 custom attributes", "HTTP", custom(30, 1), true},
		{"31 custom attributes", "HTTP", custom(31, 1), false},
		{"30 custom attributes and reserved ones", "A", with(custom(30, 1), "AWS_INSTANCE_IPV4", "192.0.2.9"), true},
		{"5,000 characters in all", "HTTP", custom(5, 995), true},  // 5 * (len("key00") + 995)
		{"5,005 characters in all", "HTTP", custom(5, 996), false}, // 5 * (len("key00") + 996)
		{"a value of 1,024 characters", "HTTP", map[string]string{"k": strings.Repeat("x", 1024)}, true},
		{"a value of 1,025 characters", "HTTP", map[string]string{"k": strings.Repeat("x", 1025)}, false},
		{"a value with inner spaces", "HTTP", map[string]string{"k": "two words\tand a tab"}, true},
		{"a value with a leading space", "HTTP", map[string]string{"k": " lead"}, false},
		{"a key with a space", "HTTP", map[string]string{"my key": "v"}, false},
		{"a non-ASCII value", "HTTP", map[string]string{"k": "caf\u00e9"}, false},
		{"bad IPv4", "A", map[string]string{"AWS_INSTANCE_IPV4": "300.1.2.3"}, false},
		{"IPv6 as IPv4", "A", map[string]string{"AWS_INSTANCE_IPV4": "2001:db8::1"}, false},
		{"bad IPv6", "AAAA", map[string]string{"AWS_INSTANCE_IPV6": "2001:db8::zz"}, false},
		{"port 0", "SRV", with(ip4, "AWS_INSTANCE_PORT", "0"), false},
		{"port 65536", "SRV", with(ip4, "AWS_INSTANCE_PORT", "65536"), false},
		{"port not a number", "SRV", with(ip4, "AWS_INSTANCE_PORT", "http"), false},
		{"port 65535", "SRV", with(ip4, "AWS_INSTANCE_PORT", "65535"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := svc[tc.svc]
			id := uniq("inst")
			out, err := c.RegisterInstance(bg, &sd.RegisterInstanceInput{ServiceId: s.Id, InstanceId: aws.String(id), Attributes: tc.attrs})
			if !tc.ok {
				apiError(t, err, "InvalidInput")
				if _, gerr := c.GetInstance(bg, &sd.GetInstanceInput{ServiceId: s.Id, InstanceId: aws.String(id)}); gerr == nil {
					t.Errorf("the refused instance %s was registered", id)
				}
				return
			}
			if err != nil {
				t.Fatalf("RegisterInstance(%s service, %d attributes) = %v; want it accepted", tc.svc, len(tc.attrs), err)
			}
			successfulOperation(t, c, *out.OperationId)
		})
	}
}

// TestReRegisterInstance: registering an existing instance ID replaces its
// attribute map wholesale and moves InstancesRevision; a health change does
// not move it.
func TestReRegisterInstance(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c := h.account()
	nsID, nsName := newNamespace(t, c, httpNS)
	s := httpService(t, c, nsID, func(in *sd.CreateServiceInput) { in.HealthCheckCustomConfig = &types.HealthCheckCustomConfig{} })
	register(t, c, *s.Id, "box", map[string]string{"a": "1", "b": "2", "AWS_INSTANCE_IPV4": "192.0.2.1"})
	rev1 := revision(t, c, nsName, *s.Name)

	register(t, c, *s.Id, "box", map[string]string{"c": "3", "AWS_INSTANCE_IPV4": "192.0.2.2"})
	got, err := c.GetInstance(bg, &sd.GetInstanceInput{ServiceId: s.Id, InstanceId: aws.String("box")})
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(map[string]string{"c": "3", "AWS_INSTANCE_IPV4": "192.0.2.2"}, got.Instance.Attributes); d != "" {
		t.Errorf("attributes after re-register (-want +got):\n%s", d)
	}
	rev2 := revision(t, c, nsName, *s.Name)
	if rev2 <= rev1 {
		t.Errorf("InstancesRevision after re-register = %d; want more than %d", rev2, rev1)
	}
	if n := instanceCount(t, c, *s.Id); n != 1 {
		t.Errorf("InstanceCount after re-register = %d; want 1", n)
	}

	if _, err := c.UpdateInstanceCustomHealthStatus(bg, &sd.UpdateInstanceCustomHealthStatusInput{ServiceId: s.Id, InstanceId: aws.String("box"),
		Status: types.CustomHealthStatusUnhealthy}); err != nil {
		t.Fatal(err)
	}
	if rev3 := revision(t, c, nsName, *s.Name); rev3 != rev2 {
		t.Errorf("InstancesRevision after a health change = %d; want %d unchanged", rev3, rev2)
	}
}

func instanceCount(t testing.TB, c *sd.Client, svcID string) int32 {
	t.Helper()
	out, err := c.GetService(bg, &sd.GetServiceInput{Id: aws.String(svcID)})
	if err != nil {
		t.Fatalf("GetService(%s) = %v", svcID, err)
	}
	return aws.ToInt32(out.Service.InstanceCount)
}

func revision(t testing.TB, c *sd.Client, ns, svc string) int64 {
	t.Helper()
	out, err := c.DiscoverInstancesRevision(bg, &sd.DiscoverInstancesRevisionInput{NamespaceName: aws.String(ns), ServiceName: aws.String(svc)})
	if err != nil {
		t.Fatalf("DiscoverInstancesRevision(%s, %s) = %v", ns, svc, err)
	}
	return aws.ToInt64(out.InstancesRevision)
}
