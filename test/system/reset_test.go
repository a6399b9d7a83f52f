//go:build e2e

package system

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	am "github.com/aws/aws-sdk-go-v2/service/appmesh"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
)

// TestResetWithOneAPIHoldingState: the reset endpoints wipe both APIs'
// state in one request, whichever of them holds any. Afterwards both APIs
// answer at once and are empty. (A reset that finds nothing to delete for
// one API must not leave that API waiting for a revision it will never
// see.)
func TestResetWithOneAPIHoldingState(t *testing.T) {
	binary(t)
	for _, path := range []string{"/_mapmesh/reset", "/moto-api/reset"} {
		for _, holder := range []string{"CloudMap", "AppMesh", "Both"} {
			name := holder + "Only"
			if holder == "Both" {
				name = "Both"
			}
			t.Run(strings.Trim(strings.ReplaceAll(path, "/", "_"), "_")+"/"+name, func(t *testing.T) {
				t.Parallel()
				p := start(t, config{args: []string{"--enable-reset"}})
				sdc, amc := p.clients()
				if holder != "AppMesh" {
					must(t, "CreateHttpNamespace", func(ctx context.Context) error {
						_, err := sdc.CreateHttpNamespace(ctx, &sd.CreateHttpNamespaceInput{Name: aws.String("before-reset")})
						return err
					})
				}
				if holder != "CloudMap" {
					must(t, "CreateMesh", func(ctx context.Context) error {
						_, err := amc.CreateMesh(ctx, &am.CreateMeshInput{MeshName: aws.String("before-reset")})
						return err
					})
				}
				postReset(t, p, path)

				// Each API answers within callTimeout, and holds nothing.
				l := newLedger()
				var nsCount, meshCount int
				cm := l.do(context.Background(), "ListNamespaces after reset", func(ctx context.Context) error {
					out, err := sdc.ListNamespaces(ctx, &sd.ListNamespacesInput{})
					if err == nil {
						nsCount = len(out.Namespaces)
					}
					return err
				})
				mesh := l.do(context.Background(), "ListMeshes after reset", func(ctx context.Context) error {
					out, err := amc.ListMeshes(ctx, &am.ListMeshesInput{})
					if err == nil {
						meshCount = len(out.Meshes)
					}
					return err
				})
				if cm != nil || mesh != nil {
					t.Fatalf("after POST %s with state in %s: %s", path, map[string]string{"CloudMap": "Cloud Map only", "AppMesh": "App Mesh only", "Both": "both APIs"}[holder], l.summary())
				}
				if nsCount != 0 || meshCount != 0 {
					t.Errorf("after POST %s: %d namespaces and %d meshes; want none", path, nsCount, meshCount)
				}
				// And both still write.
				for _, w := range []struct {
					op string
					f  func(ctx context.Context) error
				}{
					{"CreateHttpNamespace after reset", func(ctx context.Context) error {
						_, err := sdc.CreateHttpNamespace(ctx, &sd.CreateHttpNamespaceInput{Name: aws.String("after-reset")})
						return err
					}},
					{"CreateMesh after reset", func(ctx context.Context) error {
						_, err := amc.CreateMesh(ctx, &am.CreateMeshInput{MeshName: aws.String("after-reset")})
						return err
					}},
				} {
					_ = l.do(context.Background(), w.op, w.f)
				}
				l.check(t)
			})
		}
	}
}

// postReset calls a reset endpoint and requires 200.
func postReset(t testing.TB, p *proc, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.url+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: HTTP %d; want 200", path, resp.StatusCode)
	}
}
