package console

import (
	"context"
	"fmt"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	sdtypes "github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"
	"github.com/google/go-cmp/cmp"

	"github.com/mapmesh/mapmesh/internal/awsapi"
)

// healthChecked creates namespace nsName with an HTTP-checked service
// "web" and the instances, each given as id=ipv4:port, and returns the
// namespace and service IDs.
func (e *env) healthChecked(id identity, nsName string, instances ...string) (string, string) {
	e.t.Helper()
	ctx := context.Background()
	nsID := e.namespace(id, nsName)
	c := e.sd(id)
	svc, err := c.CreateService(ctx, &sd.CreateServiceInput{Name: aws.String("web"), NamespaceId: &nsID,
		HealthCheckConfig: &sdtypes.HealthCheckConfig{Type: sdtypes.HealthCheckTypeHttp, ResourcePath: aws.String("/health"),
			FailureThreshold: aws.Int32(2)}})
	check(e.t, err)
	for _, in := range instances {
		instID, addr, _ := strings.Cut(in, "=")
		ip, port, _ := strings.Cut(addr, ":")
		_, err := c.RegisterInstance(ctx, &sd.RegisterInstanceInput{ServiceId: svc.Service.Id, InstanceId: aws.String(instID),
			Attributes: map[string]string{"AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": port, "version": "v" + instID[len(instID)-1:]}})
		check(e.t, err)
	}
	return nsID, *svc.Service.Id
}

// TestNamespacesServicesInstances: namespaces list their service counts;
// a namespace its services with instances counted by health; a service
// its instances, with addresses, attributes, and the reason of an
// UNHEALTHY status.
func TestNamespacesServicesInstances(t *testing.T) {
	e := newEnv(t, false, Config{})
	nsID, svcID := e.healthChecked(anonymous, "shop.local", "web-1=10.0.0.1:8080", "web-2=10.0.0.2:8080")
	_, err := e.sd(anonymous).CreateService(context.Background(), &sd.CreateServiceInput{Name: aws.String("db"), NamespaceId: &nsID,
		HealthCheckCustomConfig: &sdtypes.HealthCheckCustomConfig{}})
	check(t, err)
	e.namespace(anonymous, "empty.local")
	check(t, e.cm.SetHealth(context.Background(), awsapi.DefaultAccount, "us-east-1", svcID, "web-2", 0, "UNHEALTHY",
		"HTTP status 503 from 10.0.0.2:8080/health"))

	var list struct{ Namespaces []Namespace }
	e.getJSON(anonymous, "/console/api/namespaces", &list)
	var names []string
	for _, ns := range list.Namespaces {
		names = append(names, fmt.Sprintf("%s:%s:%d", ns.Name, ns.Type, ns.Services))
	}
	if got, want := strings.Join(names, " "), "empty.local:HTTP:0 shop.local:HTTP:2"; got != want {
		t.Errorf("namespaces = %s; want %s", got, want)
	}

	var ns struct {
		Namespace Namespace
		Services  []Service
	}
	e.getJSON(anonymous, "/console/api/namespaces/"+nsID, &ns)
	var svcs []string
	for _, s := range ns.Services {
		svcs = append(svcs, fmt.Sprintf("%s:%d:%v", s.Name, s.Instances, s.Health))
	}
	if got, want := strings.Join(svcs, " "), "db:0:map[] web:2:map[HEALTHY:1 UNHEALTHY:1]"; ns.Namespace.ID != nsID || got != want {
		t.Errorf("namespace %s = %s %s; want %s", nsID, ns.Namespace.ID, got, want)
	}

	var svc struct{ Service Service }
	e.getJSON(anonymous, "/console/api/services/"+svcID, &svc)
	want := Service{ID: svcID, Name: "web", NamespaceID: nsID, NamespaceName: "shop.local", Type: "HTTP",
		HealthCheck: &HealthCheck{Type: "HTTP", ResourcePath: "/health", FailureThreshold: 2}, InstancesRevision: svc.Service.InstancesRevision,
		Instances: 2, Health: map[string]int{"HEALTHY": 1, "UNHEALTHY": 1},
		List: []Instance{
			{ID: "web-1", Attributes: map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "8080", "version": "v1"},
				Address: "10.0.0.1:8080", Health: "HEALTHY", Revision: svc.Service.List[0].Revision},
			{ID: "web-2", Attributes: map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.2", "AWS_INSTANCE_PORT": "8080", "version": "v2"},
				Address: "10.0.0.2:8080", Health: "UNHEALTHY", Reason: "HTTP status 503 from 10.0.0.2:8080/health",
				Revision: svc.Service.List[1].Revision},
		}}
	if diff := cmp.Diff(want, svc.Service); diff != "" {
		t.Errorf("service %s (-want +got):\n%s", svcID, diff)
	}
}

// TestAddressOf: the address column comes from the well-known attributes.
func TestAddressOf(t *testing.T) {
	for _, tc := range []struct {
		attrs map[string]string
		want  string
	}{
		{map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "80"}, "10.0.0.1:80"},
		{map[string]string{"AWS_INSTANCE_IPV6": "fd00::1", "AWS_INSTANCE_PORT": "80"}, "[fd00::1]:80"},
		{map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_IPV6": "fd00::1"}, "10.0.0.1"},
		{map[string]string{"AWS_INSTANCE_CNAME": "db.example.com"}, "db.example.com"},
		{map[string]string{"color": "blue"}, ""},
	} {
		if got := addressOf(cloudmap.EncodeAttributes(tc.attrs)); got != tc.want {
			t.Errorf("addressOf(%v) = %q; want %q", tc.attrs, got, tc.want)
		}
	}
}

// TestOperations: operations come newest first, a page at a time, each
// exactly once, of the account and region asked for only.
func TestOperations(t *testing.T) {
	e := newEnv(t, false, Config{})
	ctx := context.Background()
	c := e.sd(anonymous)
	nsID := e.namespace(anonymous, "ops.local")
	svc, err := c.CreateService(ctx, &sd.CreateServiceInput{Name: aws.String("s"), NamespaceId: &nsID})
	check(t, err)
	var want []string
	for i := range 7 {
		_, err := c.RegisterInstance(ctx, &sd.RegisterInstanceInput{ServiceId: svc.Service.Id, InstanceId: aws.String(fmt.Sprint("i-", i)),
			Attributes: map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1"}})
		check(t, err)
		want = append(want, "REGISTER_INSTANCE:"+fmt.Sprint("i-", i))
	}
	want = append(want, "CREATE_NAMESPACE:")
	e.namespace(identity{key: "333333333333", region: "us-east-1"}, "other.local") // another account's

	var got []string
	var last int64 // createDate of the last operation seen
	before, pages := "", 0
	for {
		var page struct {
			Operations []Operation
			Next       string
		}
		e.getJSON(anonymous, "/console/api/operations?limit=3&before="+before, &page)
		pages++
		for _, op := range page.Operations {
			if op.Status != "SUCCESS" || op.CreateDate == 0 {
				t.Errorf("operation %+v; want SUCCESS with a creation date", op)
			}
			if last != 0 && op.CreateDate > last {
				t.Errorf("operation %s created at %d after one created at %d; want newest first", op.ID, op.CreateDate, last)
			}
			last = op.CreateDate
			got = append(got, op.Type+":"+op.Targets["INSTANCE"])
		}
		if page.Next == "" {
			break
		}
		before = page.Next
	}
	// Operations made in the same millisecond are ordered by ID.
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" || pages != 3 {
		t.Errorf("operations in %d pages of 3 (-want +got):\n%s", pages, diff)
	}
	for _, bad := range []string{"limit=0", "limit=101", "limit=x"} {
		if code, b := e.get(anonymous, "/console/api/operations?"+bad); code != 400 {
			t.Errorf("GET operations?%s = %d %s; want 400", bad, code, b)
		}
	}
	var gone struct{ Operations []Operation }
	e.getJSON(anonymous, "/console/api/operations?before=expired-operation", &gone)
	if len(gone.Operations) != 0 {
		t.Errorf("operations before an unknown one = %v; want none", gone.Operations)
	}
}
