package k8simport_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	"github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	"github.com/google/go-cmp/cmp"

	"github.com/mapmesh/mapmesh/internal/k8simport"
	"github.com/mapmesh/mapmesh/internal/server"
	"github.com/mapmesh/mapmesh/internal/server/servertest"
)

func client(t *testing.T) *appmesh.Client {
	t.Helper()
	srv := servertest.Start(t, server.Config{})
	return appmesh.New(appmesh.Options{BaseEndpoint: aws.String(srv.URL), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")})
}

// importDir builds and applies the manifests under dir, and returns the
// outcomes as "action resource version" lines, and Apply's notes.
func importDir(t *testing.T, c *appmesh.Client, dir string, dryRun bool) ([]string, []string, []k8simport.Result) {
	t.Helper()
	ctx := context.Background()
	objs, err := k8simport.ReadPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := k8simport.Build(ctx, objs, k8simport.Options{Exists: k8simport.Exists(c)})
	if err != nil {
		t.Fatalf("Build = %v", err)
	}
	var lines []string
	var results []k8simport.Result
	notes, err := k8simport.Apply(ctx, c, p, dryRun, func(r k8simport.Result) {
		lines = append(lines, string(r.Action)+" "+r.Resource.String())
		results = append(results, r)
	})
	if err != nil {
		t.Fatalf("Apply = %v", err)
	}
	return lines, notes, results
}

// copyDir copies the colorapp manifests to a new directory, applying the
// replacements (file -> old -> new) on the way.
func copyDir(t *testing.T, edits map[string][2]string) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir("testdata/colorapp")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("testdata/colorapp", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if ed, ok := edits[e.Name()]; ok {
			if !strings.Contains(s, ed[0]) {
				t.Fatalf("%s has no %q", e.Name(), ed[0])
			}
			s = strings.Replace(s, ed[0], ed[1], 1)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func nodeVersion(t *testing.T, c *appmesh.Client, name string) (int64, int32) {
	t.Helper()
	out, err := c.DescribeVirtualNode(context.Background(), &appmesh.DescribeVirtualNodeInput{MeshName: aws.String("color-mesh"), VirtualNodeName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return *out.VirtualNode.Metadata.Version, *out.VirtualNode.Spec.Listeners[0].PortMapping.Port
}

// TestImportColorApp: the first import creates everything; an import of
// the same manifests changes nothing (no version moves); an import of
// changed manifests updates what changed, and only that.
func TestImportColorApp(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	all := []string{
		"mesh color-mesh",
		"virtual node color-mesh/front_color-app",
		"virtual node color-mesh/red_color-app",
		"virtual node color-mesh/blue_color-app",
		"virtual node color-mesh/green-node",
		"virtual router color-mesh/color_color-app",
		"route color-mesh/color_color-app/by-header",
		"route color-mesh/color_color-app/split",
		"virtual service color-mesh/color.color-app.svc.cluster.local",
		"virtual service color-mesh/red.color-app",
		"virtual gateway color-mesh/ingress_color-app",
		"gateway route color-mesh/ingress_color-app/to-color_color-app",
		"gateway route color-mesh/ingress_color-app/to-red_color-app",
	}
	with := func(action string, except map[string]string) []string {
		var out []string
		for _, r := range all {
			a := action
			if e, ok := except[r]; ok {
				a = e
			}
			out = append(out, a+" "+r)
		}
		return out
	}

	got, notes, results := importDir(t, c, "testdata/colorapp", false)
	if d := cmp.Diff(with("created", nil), got); d != "" {
		t.Fatalf("first import (-want +got):\n%s", d)
	}
	for _, r := range results {
		if r.Version != 1 {
			t.Errorf("%s: version %d after create; want 1", r.Resource, r.Version)
		}
	}
	if len(notes) != 0 {
		t.Errorf("notes = %q; want none", notes)
	}

	got, _, _ = importDir(t, c, "testdata/colorapp", false)
	if d := cmp.Diff(with("unchanged", nil), got); d != "" {
		t.Errorf("second import of the same manifests (-want +got):\n%s", d)
	}
	if v, port := nodeVersion(t, c, "red_color-app"); v != 1 || port != 8080 {
		t.Errorf("red_color-app: version %d, port %d after an unchanged import; want 1, 8080", v, port)
	}

	changed := copyDir(t, map[string][2]string{
		"nodes.yaml":   {"        port: 8080\n        protocol: http\n      healthCheck:", "        port: 9090\n        protocol: http\n      healthCheck:"},
		"routing.yaml": {"              weight: 3", "              weight: 5"},
	})
	// A dry run reports the updates and makes none.
	got, _, results = importDir(t, c, changed, true)
	updates := map[string]string{"virtual node color-mesh/red_color-app": "updated", "route color-mesh/color_color-app/split": "updated"}
	if d := cmp.Diff(with("unchanged", updates), got); d != "" {
		t.Errorf("dry run of changed manifests (-want +got):\n%s", d)
	}
	if v, port := nodeVersion(t, c, "red_color-app"); v != 1 || port != 8080 {
		t.Errorf("red_color-app: version %d, port %d after a dry run; want 1, 8080", v, port)
	}
	var changes []string
	for _, r := range results {
		changes = append(changes, r.Changes...)
	}
	wantChanges := []string{"spec.listeners[0].portMapping.port: 8080 -> 9090", "spec.httpRoute.action.weightedTargets[0].weight: 3 -> 5"}
	if d := cmp.Diff(wantChanges, changes); d != "" {
		t.Errorf("changes (-want +got):\n%s", d)
	}

	got, _, results = importDir(t, c, changed, false)
	if d := cmp.Diff(with("unchanged", updates), got); d != "" {
		t.Errorf("import of changed manifests (-want +got):\n%s", d)
	}
	if v, port := nodeVersion(t, c, "red_color-app"); v != 2 || port != 9090 {
		t.Errorf("red_color-app: version %d, port %d after the update; want 2, 9090", v, port)
	}
	for _, r := range results {
		want := int64(1)
		if updates[r.Resource.String()] != "" {
			want = 2
		}
		if r.Version != want {
			t.Errorf("%s: version %d; want %d", r.Resource, r.Version, want)
		}
	}
	rt, err := c.DescribeRoute(ctx, &appmesh.DescribeRouteInput{MeshName: aws.String("color-mesh"), VirtualRouterName: aws.String("color_color-app"), RouteName: aws.String("split")})
	if err != nil {
		t.Fatal(err)
	}
	if w := rt.Route.Spec.HttpRoute.Action.WeightedTargets; *rt.Route.Metadata.Version != 2 || w[0].Weight != 5 || *w[0].VirtualNode != "red_color-app" || *w[1].VirtualNode != "blue_color-app" {
		t.Errorf("route split: version %d, targets %+v; want version 2, red_color-app weight 5, blue_color-app", *rt.Route.Metadata.Version, w)
	}

	// A route made outside the manifests is reported, and left alone.
	if _, err := c.CreateRoute(ctx, &appmesh.CreateRouteInput{MeshName: aws.String("color-mesh"), VirtualRouterName: aws.String("color_color-app"),
		RouteName: aws.String("extra"), Spec: &types.RouteSpec{HttpRoute: &types.HttpRoute{Match: &types.HttpRouteMatch{Prefix: aws.String("/extra")},
			Action: &types.HttpRouteAction{WeightedTargets: []types.WeightedTarget{{VirtualNode: aws.String("blue_color-app"), Weight: 1}}}}}}); err != nil {
		t.Fatal(err)
	}
	_, notes, _ = importDir(t, c, changed, false)
	if d := cmp.Diff([]string{"route color-mesh/color_color-app/extra is not in the virtual router's manifest; left in place (the controller would delete it)"}, notes); d != "" {
		t.Errorf("notes (-want +got):\n%s", d)
	}
}

// TestImportAPIError: a call the server refuses stops the import, and the
// error names the resource, its manifest and AWS's error.
func TestImportAPIError(t *testing.T) {
	c := client(t)
	dir := copyDir(t, map[string][2]string{
		"routing.yaml": {"            - virtualNodeRef:\n                name: red\n", "            - virtualNodeARN: arn:aws:appmesh:us-east-1:123456789012:mesh/color-mesh/virtualNode/gone\n"},
	})
	ctx := context.Background()
	objs, err := k8simport.ReadPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := k8simport.Build(ctx, objs, k8simport.Options{Exists: k8simport.Exists(c)})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	_, err = k8simport.Apply(ctx, c, p, false, func(k8simport.Result) { n++ })
	want := "route color-mesh/color_color-app/split (from VirtualRouter color-app/color (" + filepath.Join(dir, "routing.yaml") + ":1)): creating it: operation error App Mesh: CreateRoute"
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "NotFoundException") {
		t.Fatalf("Apply = %v; want an error starting %q, with NotFoundException", err, want)
	}
	if n != 7 {
		t.Errorf("%d resources done before the failure; want 7 (the mesh, 4 nodes, the router, the first route)", n)
	}
}
