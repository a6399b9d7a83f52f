package dnsserver_test

import (
	"context"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"

	"github.com/mapmesh/mapmesh/internal/server"
	"github.com/mapmesh/mapmesh/internal/server/servertest"
)

// TestSDKThenDig is the user's path end to end: the AWS SDK creates a
// private DNS namespace, a service and instances on a running mapmesh, and
// dig, run as a program, gets the records from mapmesh's DNS port.
func TestSDKThenDig(t *testing.T) {
	dig, err := exec.LookPath("dig")
	if err != nil {
		t.Skip("dig is not installed (apt-get install dnsutils; .ci/run does)")
	}
	srv := servertest.Start(t, server.Config{})
	ctx := context.Background()
	c := sd.New(sd.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")})

	op, err := c.CreatePrivateDnsNamespace(ctx, &sd.CreatePrivateDnsNamespaceInput{Name: aws.String("example.local"), Vpc: aws.String("vpc-0123456789abcdef0")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetOperation(ctx, &sd.GetOperationInput{OperationId: op.OperationId})
	if err != nil {
		t.Fatal(err)
	}
	nsID := got.Operation.Targets[string(types.OperationTargetTypeNamespace)]
	svc, err := c.CreateService(ctx, &sd.CreateServiceInput{Name: aws.String("backend"), NamespaceId: &nsID,
		DnsConfig: &types.DnsConfig{RoutingPolicy: types.RoutingPolicyMultivalue, DnsRecords: []types.DnsRecord{
			{Type: types.RecordTypeA, TTL: aws.Int64(60)}, {Type: types.RecordTypeSrv, TTL: aws.Int64(60)}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []struct{ id, ip, port string }{{"i-1", "10.0.0.1", "8080"}, {"i-2", "10.0.0.2", "8081"}} {
		if _, err := c.RegisterInstance(ctx, &sd.RegisterInstanceInput{ServiceId: svc.Service.Id, InstanceId: aws.String(in.id),
			Attributes: map[string]string{"AWS_INSTANCE_IPV4": in.ip, "AWS_INSTANCE_PORT": in.port}}); err != nil {
			t.Fatal(err)
		}
	}
	registered := time.Now()

	host, port, err := net.SplitHostPort(srv.DNSAddr)
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) []string {
		t.Helper()
		out, err := exec.Command(dig, append([]string{"@" + host, "-p", port, "+short", "+tries=1", "+time=2"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("dig %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		var lines []string
		for _, l := range strings.Split(string(out), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				lines = append(lines, l)
			}
		}
		slices.Sort(lines)
		return lines
	}
	wantA := []string{"10.0.0.1", "10.0.0.2"}
	var a []string
	for deadline := registered.Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if a = run("backend.example.local", "A"); slices.Equal(a, wantA) {
			break
		}
	}
	if !slices.Equal(a, wantA) {
		t.Fatalf("dig backend.example.local A = %q; want %q", a, wantA)
	}
	t.Logf("visible to dig %v after RegisterInstance returned", time.Since(registered))
	if got, want := run("backend.example.local", "SRV"), []string{"1 1 8080 i-1.backend.example.local.", "1 1 8081 i-2.backend.example.local."}; !slices.Equal(got, want) {
		t.Errorf("dig SRV = %q; want %q", got, want)
	}
	if got := run("+tcp", "i-2.backend.example.local", "A"); !slices.Equal(got, []string{"10.0.0.2"}) {
		t.Errorf("dig +tcp i-2.backend.example.local A = %q", got)
	}
	// The full answer: flags, sections, authority on NXDOMAIN.
	out, err := exec.Command(dig, "@"+host, "-p", port, "+tries=1", "+time=2", "nothere.example.local", "A").CombinedOutput()
	if err != nil {
		t.Fatalf("dig: %v\n%s", err, out)
	}
	for _, want := range []string{"status: NXDOMAIN", "flags: qr aa", "example.local.\t\t15\tIN\tSOA\tns1.mapmesh.invalid."} {
		if !strings.Contains(string(out), want) {
			t.Errorf("dig nothere.example.local A: no %q in\n%s", want, out)
		}
	}
}
