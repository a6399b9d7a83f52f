//go:build e2e

package system

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	am "github.com/aws/aws-sdk-go-v2/service/appmesh"
	amtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	sdtypes "github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"
)

// TestMirrorHang: both APIs share one store and its revision counter,
// and each waits, before every read and write, until its own view has
// caught up with what it committed. A write of one API that loses a
// compare-and-swap race must not make that API wait for a revision that
// belongs to the other API: its view never reaches it, and every later
// call of that API (reads included, and the health checker's writes)
// would wait forever.
//
// The smallest load that shows it, each way: two clients repeat the
// same no-op-looking write on one resource of one API (so one of them
// keeps losing the race: RegisterInstance of the same instance with the
// same attributes, or UpdateVirtualNode of the same node with the same
// spec), while one client repeats a write on the other API. Before the
// fix the racing API stopped answering within about ten calls of each
// client, every time; the other API went on answering. The same happens,
// more slowly (after 20 to 40 s), with one sequential client per API and
// health checks whose writes race the re-registrations (TestMixedLoad;
// with MAPMESH_SOAK set, the "sequential" case here too).
func TestMirrorHang(t *testing.T) {
	binary(t)
	run := 3 * time.Second
	cases := []struct {
		name string
		// racing is the API whose two clients race; the other one
		// writes alone.
		racing string
		// sequential: one client per API, with health checks racing the
		// re-registrations (the report's load), for MAPMESH_SOAK only.
		sequential bool
	}{
		{name: "CloudMapRacesWhileAppMeshWrites", racing: "cloudmap"},
		{name: "AppMeshRacesWhileCloudMapWrites", racing: "appmesh"},
		{name: "SequentialWithHealthChecks", sequential: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.sequential && os.Getenv("MAPMESH_SOAK") == "" {
				t.Skip("takes about a minute; runs with MAPMESH_SOAK set")
			}
			t.Parallel()
			d := run
			if tc.sequential {
				d = 40 * time.Second
			}
			p := start(t, config{args: []string{"--health-interval", "1s", "--health-allowed-cidrs", "127.0.0.0/8"}})
			sdc, amc := p.clients()
			ln := listen(t, "127.0.0.1")
			var svcID string
			must(t, "CreateHttpNamespace", func(ctx context.Context) error {
				out, err := sdc.CreateHttpNamespace(ctx, &sd.CreateHttpNamespaceInput{Name: aws.String("mirror")})
				if err != nil {
					return err
				}
				op, err := sdc.GetOperation(ctx, &sd.GetOperationInput{OperationId: out.OperationId})
				if err != nil {
					return err
				}
				s, err := sdc.CreateService(ctx, &sd.CreateServiceInput{Name: aws.String("svc"), NamespaceId: aws.String(op.Operation.Targets["NAMESPACE"]),
					HealthCheckConfig: &sdtypes.HealthCheckConfig{Type: sdtypes.HealthCheckTypeTcp, FailureThreshold: aws.Int32(1)}})
				if err == nil {
					svcID = *s.Service.Id
				}
				return err
			})
			spec := &amtypes.VirtualNodeSpec{ServiceDiscovery: &amtypes.ServiceDiscoveryMemberDns{Value: amtypes.DnsServiceDiscovery{Hostname: aws.String("vn.mirror.local")}}}
			must(t, "CreateMesh and CreateVirtualNode", func(ctx context.Context) error {
				if _, err := amc.CreateMesh(ctx, &am.CreateMeshInput{MeshName: aws.String("mirror")}); err != nil {
					return err
				}
				_, err := amc.CreateVirtualNode(ctx, &am.CreateVirtualNodeInput{MeshName: aws.String("mirror"), VirtualNodeName: aws.String("vn"), Spec: spec})
				return err
			})

			// The writes: the same each time, unless sequential (then
			// every other registration points at a dead port, so the
			// health checker writes a status each time).
			register := func(ctx context.Context, i int) error {
				port := ln.port()
				if tc.sequential && i%2 == 1 {
					port = "1"
				}
				_, err := sdc.RegisterInstance(ctx, &sd.RegisterInstanceInput{ServiceId: &svcID, InstanceId: aws.String("i1"),
					Attributes: map[string]string{"AWS_INSTANCE_IPV4": "127.0.0.1", "AWS_INSTANCE_PORT": port}})
				return err
			}
			update := func(ctx context.Context, i int) error {
				_, err := amc.UpdateVirtualNode(ctx, &am.UpdateVirtualNodeInput{MeshName: aws.String("mirror"), VirtualNodeName: aws.String("vn"), Spec: spec})
				return err
			}
			type client struct {
				op string
				f  func(ctx context.Context, i int) error
			}
			clients := []client{{"RegisterInstance", register}, {"UpdateVirtualNode", update}}
			switch tc.racing {
			case "cloudmap":
				clients = append(clients, client{"RegisterInstance", register})
			case "appmesh":
				clients = append(clients, client{"UpdateVirtualNode", update})
			}

			l := newLedger()
			stop := make(chan struct{})
			var wg sync.WaitGroup
			calls := make([]int, len(clients))
			for n, c := range clients {
				wg.Go(func() {
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						if err := l.do(context.Background(), c.op, func(ctx context.Context) error { return c.f(ctx, i) }); err != nil {
							return
						}
						calls[n]++
					}
				})
			}
			began := time.Now()
			for time.Since(began) < d && l.failedCount() == 0 {
				time.Sleep(50 * time.Millisecond)
			}
			close(stop)
			wg.Wait()
			// Both APIs still answer, reads and writes.
			for _, c := range []struct {
				op string
				f  func(ctx context.Context) error
			}{
				{"ListInstances", func(ctx context.Context) error {
					_, err := sdc.ListInstances(ctx, &sd.ListInstancesInput{ServiceId: &svcID})
					return err
				}},
				{"DescribeVirtualNode", func(ctx context.Context) error {
					_, err := amc.DescribeVirtualNode(ctx, &am.DescribeVirtualNodeInput{MeshName: aws.String("mirror"), VirtualNodeName: aws.String("vn")})
					return err
				}},
				{"RegisterInstance", func(ctx context.Context) error { return register(ctx, 0) }},
				{"UpdateVirtualNode", func(ctx context.Context) error { return update(ctx, 0) }},
			} {
				if l.failedCount() > 0 {
					break
				}
				_ = l.do(context.Background(), c.op+" afterwards", c.f)
			}
			if l.failedCount() > 0 {
				t.Fatalf("clients %s, %d calls each (%v): %s\nafterwards: %s", describe(clients, func(c client) string { return c.op }), calls, d,
					l.summary(), probe(sdc, amc))
			}
			t.Logf("%v of clients %s: %s", d, describe(clients, func(c client) string { return c.op }), l.summary())
		})
	}
}

func describe[T any](s []T, f func(T) string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ", "
		}
		out += f(v)
	}
	return "[" + out + "]"
}
