package conformance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	am "github.com/aws/aws-sdk-go-v2/service/appmesh"
	amtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"

	"github.com/mapmesh/mapmesh/internal/server"
)

// The two APIs share one store. These tests drive both at once, the way
// users do, and fail (instead of hanging) when a call does not answer in
// time: every earlier test drove one API alone, and missed that a write of
// one API could leave the other waiting forever for a revision only the
// first one's watch could see.

// callTimeout bounds each call of these tests; a call that takes longer has
// hung.
const callTimeout = 10 * time.Second

// timed runs one call bounded by callTimeout and returns its error; a call
// that did not answer in time is an error saying it hung.
func timed(t testing.TB, what string, f func(ctx context.Context) error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	err := f(ctx)
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		return fmt.Errorf("%s hung: no answer within %v", what, callTimeout)
	}
	return err
}

// bothMesh creates a mesh with one virtual node and returns the node's name.
func bothMesh(t *testing.T, m *am.Client, mesh string) string {
	t.Helper()
	if err := timed(t, "CreateMesh", func(ctx context.Context) error {
		_, err := m.CreateMesh(ctx, &am.CreateMeshInput{MeshName: aws.String(mesh)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := timed(t, "CreateVirtualNode", func(ctx context.Context) error {
		_, err := m.CreateVirtualNode(ctx, &am.CreateVirtualNodeInput{MeshName: aws.String(mesh), VirtualNodeName: aws.String("vn"),
			Spec: vnSpec(8080)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return "vn"
}

func vnSpec(port int32) *amtypes.VirtualNodeSpec {
	return &amtypes.VirtualNodeSpec{Listeners: []amtypes.Listener{{PortMapping: &amtypes.PortMapping{Port: aws.Int32(port), Protocol: amtypes.PortProtocolHttp}}},
		ServiceDiscovery: &amtypes.ServiceDiscoveryMemberDns{Value: amtypes.DnsServiceDiscovery{Hostname: aws.String("vn.local")}}}
}

// TestBothAPIsSequentialWriters: two writers per API on the same resource
// (so their transactions conflict), each followed by reads: the load under
// which every call of one API hung once its retry waited for a revision
// the other API had made.
func TestBothAPIsSequentialWriters(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	acct := newAccount()
	c, m := h.client(acct, defaultRegion), h.meshClient(acct, defaultRegion)
	nsID, _ := newNamespace(t, c, httpNS)
	svc := httpService(t, c, nsID)
	bothMesh(t, m, "both")
	deadline := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	for range 2 {
		bothWriters(t, &wg, deadline, c, m, svc.Id)
	}
	wg.Wait()
}

func bothWriters(t *testing.T, wg *sync.WaitGroup, deadline time.Time, c *sd.Client, m *am.Client, svcID *string) {
	wg.Go(func() { // Cloud Map: re-registering the same instances
		for i := 0; time.Now().Before(deadline); i++ {
			err := timed(t, "RegisterInstance", func(ctx context.Context) error {
				_, err := c.RegisterInstance(ctx, &sd.RegisterInstanceInput{ServiceId: svcID, InstanceId: aws.String(fmt.Sprint("i-", i%3)),
					Attributes: map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1", "n": fmt.Sprint(i % 2)}})
				return err
			})
			if err != nil {
				t.Errorf("RegisterInstance: %v", err)
				return
			}
			if err := timed(t, "GetService", func(ctx context.Context) error {
				_, err := c.GetService(ctx, &sd.GetServiceInput{Id: svcID})
				return err
			}); err != nil {
				t.Errorf("GetService: %v", err)
				return
			}
		}
	})
	wg.Go(func() { // App Mesh: updates, some with a stale clientToken reuse, some refused
		for i := 0; time.Now().Before(deadline); i++ {
			err := timed(t, "UpdateVirtualNode", func(ctx context.Context) error {
				_, err := m.UpdateVirtualNode(ctx, &am.UpdateVirtualNodeInput{MeshName: aws.String("both"), VirtualNodeName: aws.String("vn"),
					Spec: vnSpec(int32(8080 + i%2)), ClientToken: aws.String(fmt.Sprint("tok-", i%5))})
				return err
			})
			var ae interface{ ErrorCode() string }
			if err != nil && !(errors.As(err, &ae) && ae.ErrorCode() == "ConflictException") {
				t.Errorf("UpdateVirtualNode: %v", err)
				return
			}
			if err := timed(t, "DescribeMesh", func(ctx context.Context) error {
				_, err := m.DescribeMesh(ctx, &am.DescribeMeshInput{MeshName: aws.String("both")})
				return err
			}); err != nil {
				t.Errorf("DescribeMesh: %v", err)
				return
			}
		}
	})
}

// TestResetWithOneAPIHoldingState: a reset when only one API holds state,
// then a call of each API: the other API used to hang on its next call.
func TestResetWithOneAPIHoldingState(t *testing.T) {
	t.Parallel()
	for _, holder := range []string{"cloudmap", "appmesh"} {
		t.Run(holder, func(t *testing.T) {
			t.Parallel()
			h := start(t, server.Config{})
			acct := newAccount()
			c, m := h.client(acct, defaultRegion), h.meshClient(acct, defaultRegion)
			if holder == "cloudmap" {
				nsID, _ := newNamespace(t, c, httpNS)
				httpService(t, c, nsID)
			} else {
				bothMesh(t, m, "only")
			}
			for _, path := range []string{"/_mapmesh/reset", "/moto-api/reset"} {
				resp, err := http.Post(h.srv.URL+path, "application/json", nil)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("POST %s = %d; want 200", path, resp.StatusCode)
				}
				if err := timed(t, "ListMeshes after "+path, func(ctx context.Context) error {
					_, err := m.ListMeshes(ctx, &am.ListMeshesInput{})
					return err
				}); err != nil {
					t.Fatal(err)
				}
				if err := timed(t, "ListNamespaces after "+path, func(ctx context.Context) error {
					out, err := c.ListNamespaces(ctx, &sd.ListNamespacesInput{})
					if err == nil && len(out.Namespaces) != 0 {
						err = fmt.Errorf("%d namespaces after a reset; want 0", len(out.Namespaces))
					}
					return err
				}); err != nil {
					t.Fatal(err)
				}
				if err := timed(t, "CreateMesh after "+path, func(ctx context.Context) error {
					_, err := m.CreateMesh(ctx, &am.CreateMeshInput{MeshName: aws.String("after-" + path[1:2])})
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
