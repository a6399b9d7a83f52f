//go:build etcd

package cluster

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	am "github.com/aws/aws-sdk-go-v2/service/appmesh"
	amtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	sdtypes "github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"
	"github.com/miekg/dns"

	"github.com/mapmesh/mapmesh/test/adsclient"
)

// The resources every test makes through its first server.
const (
	meshName = "cluster"
	webPort  = 8080 // of the virtual node "web"
)

// world is a namespace, a service in it, and a mesh whose virtual node
// "front" has the service's instances as the endpoints of its backend
// (the virtual node "web", discovered through Cloud Map).
type world struct {
	nsName, nsID string
	svcName      string
	svcID        string
	node         string // the ADS node ID of "front"
	cluster      string // the xDS cluster of "web" that "front" sees
}

// dnsName is the service's DNS name.
func (w *world) dnsName() string { return w.svcName + "." + w.nsName }

// makeWorld creates the world through sdc and amc: a DNS namespace nsName
// (private, or public when probed) with a service "web" of A records
// (health-checked by TCP, one failure to turn UNHEALTHY, when probed), and
// the mesh.
func makeWorld(t *testing.T, sdc *sd.Client, amc *am.Client, nsName string, probed bool) *world {
	t.Helper()
	w := &world{nsName: nsName, svcName: "web", node: "mesh/" + meshName + "/virtualNode/front",
		cluster: fmt.Sprintf("cds_egress_%s_web_http_%d", meshName, webPort)}
	must(t, "CreateDnsNamespace", func(ctx context.Context) error {
		var opID *string
		if probed {
			out, err := sdc.CreatePublicDnsNamespace(ctx, &sd.CreatePublicDnsNamespaceInput{Name: aws.String(nsName)})
			if err != nil {
				return err
			}
			opID = out.OperationId
		} else {
			out, err := sdc.CreatePrivateDnsNamespace(ctx, &sd.CreatePrivateDnsNamespaceInput{Name: aws.String(nsName), Vpc: aws.String("vpc-0123456789abcdef0")})
			if err != nil {
				return err
			}
			opID = out.OperationId
		}
		var err error
		w.nsID, err = namespaceOf(ctx, sdc, aws.ToString(opID))
		return err
	})
	in := &sd.CreateServiceInput{Name: aws.String(w.svcName), NamespaceId: aws.String(w.nsID),
		DnsConfig: &sdtypes.DnsConfig{DnsRecords: []sdtypes.DnsRecord{{Type: sdtypes.RecordTypeA, TTL: aws.Int64(10)}}}}
	if probed {
		in.HealthCheckConfig = &sdtypes.HealthCheckConfig{Type: sdtypes.HealthCheckTypeTcp, FailureThreshold: aws.Int32(1)}
	}
	must(t, "CreateService", func(ctx context.Context) error {
		out, err := sdc.CreateService(ctx, in)
		if err == nil {
			w.svcID = aws.ToString(out.Service.Id)
		}
		return err
	})
	makeMesh(t, amc, nsName, w.svcName)
	return w
}

// makeMesh creates the mesh: "web" discovered through Cloud Map as
// nsName/svcName, provides the virtual service "web.<nsName>", which is
// the backend of "front".
func makeMesh(t *testing.T, amc *am.Client, nsName, svcName string) {
	t.Helper()
	must(t, "CreateMesh", func(ctx context.Context) error {
		_, err := amc.CreateMesh(ctx, &am.CreateMeshInput{MeshName: aws.String(meshName)})
		return err
	})
	must(t, "CreateVirtualNode web", func(ctx context.Context) error {
		_, err := amc.CreateVirtualNode(ctx, &am.CreateVirtualNodeInput{MeshName: aws.String(meshName), VirtualNodeName: aws.String("web"),
			Spec: &amtypes.VirtualNodeSpec{
				Listeners: []amtypes.Listener{{PortMapping: &amtypes.PortMapping{Port: aws.Int32(webPort), Protocol: amtypes.PortProtocolHttp}}},
				ServiceDiscovery: &amtypes.ServiceDiscoveryMemberAwsCloudMap{Value: amtypes.AwsCloudMapServiceDiscovery{
					NamespaceName: aws.String(nsName), ServiceName: aws.String(svcName)}},
			}})
		return err
	})
	vs := "web." + nsName
	must(t, "CreateVirtualService", func(ctx context.Context) error {
		_, err := amc.CreateVirtualService(ctx, &am.CreateVirtualServiceInput{MeshName: aws.String(meshName), VirtualServiceName: aws.String(vs),
			Spec: &amtypes.VirtualServiceSpec{Provider: &amtypes.VirtualServiceProviderMemberVirtualNode{Value: amtypes.VirtualNodeServiceProvider{
				VirtualNodeName: aws.String("web")}}}})
		return err
	})
	must(t, "CreateVirtualNode front", func(ctx context.Context) error {
		_, err := amc.CreateVirtualNode(ctx, &am.CreateVirtualNodeInput{MeshName: aws.String(meshName), VirtualNodeName: aws.String("front"),
			Spec: &amtypes.VirtualNodeSpec{Backends: []amtypes.Backend{&amtypes.BackendMemberVirtualService{Value: amtypes.VirtualServiceBackend{
				VirtualServiceName: aws.String(vs)}}}}})
		return err
	})
}

// namespaceOf returns the namespace an operation made.
func namespaceOf(ctx context.Context, sdc *sd.Client, opID string) (string, error) {
	out, err := sdc.GetOperation(ctx, &sd.GetOperationInput{OperationId: aws.String(opID)})
	if err != nil {
		return "", err
	}
	if s := out.Operation.Status; s != sdtypes.OperationStatusSuccess {
		return "", fmt.Errorf("operation %s is %s", opID, s)
	}
	return out.Operation.Targets[string(sdtypes.OperationTargetTypeNamespace)], nil
}

// register registers instance id at addr ("ip:port") and returns its
// operation.
func register(ctx context.Context, sdc *sd.Client, svcID, id, addr string) (string, error) {
	ip, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	out, err := sdc.RegisterInstance(ctx, &sd.RegisterInstanceInput{ServiceId: aws.String(svcID), InstanceId: aws.String(id),
		Attributes: map[string]string{"AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": port}})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.OperationId), nil
}

// discovered returns the IDs of the instances DiscoverInstances finds
// (with the health filter health, when set), sorted.
func discovered(ctx context.Context, sdc *sd.Client, nsName, svcName string, health sdtypes.HealthStatusFilter) ([]string, error) {
	out, err := sdc.DiscoverInstances(ctx, &sd.DiscoverInstancesInput{NamespaceName: aws.String(nsName), ServiceName: aws.String(svcName),
		MaxResults: aws.Int32(1000), HealthStatus: health})
	if err != nil {
		return nil, err
	}
	ids := []string{}
	for _, in := range out.Instances {
		ids = append(ids, aws.ToString(in.InstanceId))
	}
	sort.Strings(ids)
	return ids, nil
}

// listed returns every instance of a service by ListInstances (all pages):
// its address ("ip:port") by ID.
func listed(ctx context.Context, sdc *sd.Client, svcID string) (map[string]string, error) {
	out := map[string]string{}
	p := sd.NewListInstancesPaginator(sdc, &sd.ListInstancesInput{ServiceId: aws.String(svcID), MaxResults: aws.Int32(100)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, in := range page.Instances {
			out[aws.ToString(in.Id)] = net.JoinHostPort(in.Attributes["AWS_INSTANCE_IPV4"], in.Attributes["AWS_INSTANCE_PORT"])
		}
	}
	return out, nil
}

// revision returns the service's InstancesRevision.
func revision(ctx context.Context, sdc *sd.Client, nsName, svcName string) (int64, error) {
	out, err := sdc.DiscoverInstancesRevision(ctx, &sd.DiscoverInstancesRevisionInput{NamespaceName: aws.String(nsName), ServiceName: aws.String(svcName)})
	if err != nil {
		return 0, err
	}
	return aws.ToInt64(out.InstancesRevision), nil
}

// checkServes checks that p serves exactly insts (address "ip:port" by
// ID) as the service's healthy instances: DiscoverInstances finds them
// (HealthStatus HEALTHY), DNS answers with their addresses (at most 8 A
// records per answer, each one of theirs) and the ADS client of "front"
// gets them as endpoints. It waits up to timeout for each, and returns how
// long all three took.
func checkServes(t *testing.T, p *proc, sdc *sd.Client, w *world, ads *adsclient.Client, insts map[string]string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	wantIDs := slices.Sorted(maps.Keys(insts))
	var want []string
	ips := map[string]bool{}
	for _, addr := range insts {
		want = append(want, addr)
		ip, _, _ := net.SplitHostPort(addr)
		ips[ip] = true
	}
	slices.Sort(want)
	took, err := eventually(timeout, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		got, err := discovered(ctx, sdc, w.nsName, w.svcName, sdtypes.HealthStatusFilterHealthy)
		if err == nil && !slices.Equal(got, wantIDs) {
			err = fmt.Errorf("found %d instances %v", len(got), trim(got))
		}
		return err
	})
	if err != nil {
		t.Errorf("server %s: DiscoverInstances %s/%s after %v: %v; want %d instances %v", p.id, w.nsName, w.svcName, took, err, len(wantIDs), trim(wantIDs))
	}
	took, err = eventually(timeout, func() error {
		got, rcode, err := lookupA(p.dnsAddr, w.dnsName())
		switch {
		case err != nil:
			return err
		case rcode != dns.RcodeSuccess:
			return fmt.Errorf("rcode %s", dns.RcodeToString[rcode])
		case len(got) != min(len(ips), 8):
			return fmt.Errorf("%d answers %v", len(got), got)
		}
		for _, a := range got {
			if !ips[a] {
				return fmt.Errorf("answer %s is no healthy instance's", a)
			}
		}
		return nil
	})
	if err != nil {
		t.Errorf("server %s: DNS %s A after %v: %v; want %d of %v", p.id, w.dnsName(), took, err, min(len(ips), 8), trim(slices.Sorted(maps.Keys(ips))))
	}
	if got, ok := ads.WaitEndpoints(w.cluster, want, timeout); !ok {
		t.Errorf("server %s: xDS endpoints of %s = %v; want %v", p.id, w.cluster, trim(got), trim(want))
	}
	if _, nacks, err := ads.Status(); err != nil || len(nacks) > 0 {
		t.Errorf("server %s: ADS stream: error %v, NACKs %v", p.id, err, nacks)
	}
	return time.Since(start)
}

// trim shortens a long list for a message.
func trim(s []string) []string {
	if len(s) > 10 {
		return append(slices.Clone(s[:10]), fmt.Sprintf("... %d more", len(s)-10))
	}
	return s
}
