package console

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	amsdk "github.com/aws/aws-sdk-go-v2/service/appmesh"
	gocmp "github.com/google/go-cmp/cmp"

	"github.com/mapmesh/mapmesh/internal/awsapi"
)

// appMeshPut makes an App Mesh create call (PUT path, JSON body) as id,
// signed for "appmesh" when id has a secret: nested specs read best in
// their wire form.
func (e *env) appMeshPut(id identity, path, body string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPut, e.srv.URL+path, strings.NewReader(body))
	check(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: cmp.Or(id.key, "test"), SecretAccessKey: cmp.Or(id.secret, "test")}
	check(e.t, v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "appmesh", id.region, time.Now()))
	resp, err := http.DefaultClient.Do(req)
	check(e.t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("PUT %s = %d %s; want 200", path, resp.StatusCode, b)
	}
}

// shopMesh makes mesh "shop" as id: virtual nodes web-v1 and web-v2 (Cloud
// Map shop.local/web, version v1 and v2), router "web" with route "split"
// sending 90/10, and virtual service web.shop.local provided by the
// router.
func (e *env) shopMesh(id identity) {
	e.t.Helper()
	_, err := e.appMesh(id).CreateMesh(context.Background(), &amsdk.CreateMeshInput{MeshName: aws.String("shop")})
	check(e.t, err)
	for _, v := range []string{"v1", "v2"} {
		e.appMeshPut(id, "/v20190125/meshes/shop/virtualNodes", `{"virtualNodeName": "web-`+v+`", "spec": {
			"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
			"serviceDiscovery": {"awsCloudMap": {"namespaceName": "shop.local", "serviceName": "web",
				"attributes": [{"key": "version", "value": "`+v+`"}]}}}}`)
	}
	e.appMeshPut(id, "/v20190125/meshes/shop/virtualRouters", `{"virtualRouterName": "web",
		"spec": {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]}}`)
	e.appMeshPut(id, "/v20190125/meshes/shop/virtualRouter/web/routes", `{"routeName": "split", "spec": {"httpRoute": {
		"match": {"prefix": "/"}, "action": {"weightedTargets": [{"virtualNode": "web-v1", "weight": 90}, {"virtualNode": "web-v2", "weight": 10}]}}}}`)
	e.appMeshPut(id, "/v20190125/meshes/shop/virtualServices", `{"virtualServiceName": "web.shop.local",
		"spec": {"provider": {"virtualRouter": {"virtualRouterName": "web"}}}}`)
}

// TestMeshes: the list of meshes counts their resources; a mesh shows
// every resource with its spec in the GA shape.
func TestMeshes(t *testing.T) {
	e := newEnv(t, false, Config{})
	e.shopMesh(anonymous)
	_, err := e.appMesh(anonymous).CreateMesh(context.Background(), &amsdk.CreateMeshInput{MeshName: aws.String("empty")})
	check(t, err)

	var list struct{ Meshes []MeshSummary }
	e.getJSON(anonymous, "/console/api/meshes", &list)
	var got []string
	for _, m := range list.Meshes {
		got = append(got, fmt.Sprintf("%s %s vs=%d vr=%d rt=%d vn=%d", m.Name, m.EgressFilter, m.Counts["virtualServices"],
			m.Counts["virtualRouters"], m.Counts["routes"], m.Counts["virtualNodes"]))
	}
	want := []string{"empty DROP_ALL vs=0 vr=0 rt=0 vn=0", "shop DROP_ALL vs=1 vr=1 rt=1 vn=2"}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("meshes (-want +got):\n%s", diff)
	}

	var m struct {
		Mesh            MeshResource
		VirtualServices []MeshResource
		Routes          []struct {
			Name, Parent, ARN string
			Spec              struct {
				HTTPRoute struct {
					Action struct {
						WeightedTargets []struct {
							VirtualNode string
							Weight      int
						}
					}
				}
			}
		}
		VirtualNodes []MeshResource
	}
	e.getJSON(anonymous, "/console/api/meshes/shop", &m)
	if m.Mesh.Name != "shop" || m.Mesh.ARN != "arn:aws:appmesh:us-east-1:"+awsapi.DefaultAccount+":mesh/shop" {
		t.Errorf("mesh = %+v; want shop with its ARN", m.Mesh)
	}
	if len(m.Routes) != 1 || m.Routes[0].Parent != "web" || len(m.Routes[0].Spec.HTTPRoute.Action.WeightedTargets) != 2 ||
		m.Routes[0].Spec.HTTPRoute.Action.WeightedTargets[0].Weight != 90 {
		t.Errorf("routes = %+v; want web/split with weights 90 and 10", m.Routes)
	}
	if len(m.VirtualNodes) != 2 || !strings.Contains(fmt.Sprint(m.VirtualNodes[0].Spec), "shop.local") {
		t.Errorf("virtual nodes = %+v; want web-v1 and web-v2 with their Cloud Map discovery", m.VirtualNodes)
	}
}

// TestGraphEndToEnd: the graph of a mesh follows virtual service, router,
// route (with weights), virtual nodes, their Cloud Map service and
// attributes, to the matching instances; an UNHEALTHY one is shown
// excluded, with the reason.
func TestGraphEndToEnd(t *testing.T) {
	e := newEnv(t, false, Config{})
	// The last character of an instance ID is its version.
	_, svcID := e.healthChecked(anonymous, "shop.local", "a-1=10.0.0.1:9090", "b-2=10.0.0.2:9090", "c-1=10.0.0.3:9091")
	e.shopMesh(anonymous)
	check(t, e.cm.SetHealth(context.Background(), awsapi.DefaultAccount, "us-east-1", svcID, "c-1", 0, "UNHEALTHY", "HTTP 503"))

	var g Graph
	e.getJSON(anonymous, "/console/api/meshes/shop/graph", &g)
	var nodes, edges []string
	for _, n := range g.Nodes {
		s := n.Kind + " " + n.Label
		if n.Kind == kindEndpoint {
			s += fmt.Sprintf(" %s %s excluded=%v %s", n.Instance, n.Health, n.Excluded, n.Reason)
		}
		nodes = append(nodes, strings.TrimSpace(s))
	}
	for _, ed := range g.Edges {
		s := ed.From + " -> " + ed.To
		if ed.Weight != nil {
			s += fmt.Sprintf(" %d %.0f%%", *ed.Weight, ed.Share)
		}
		edges = append(edges, s)
	}
	slices.Sort(edges)
	wantNodes := []string{
		"virtualService web.shop.local",
		"virtualRouter web",
		"route split",
		"virtualNode web-v1",
		"virtualNode web-v2",
		"cloudMapService web.shop.local",
		"cloudMapService web.shop.local",
		"endpoint 10.0.0.1:9090 a-1 HEALTHY excluded=false",
		"endpoint 10.0.0.3:9091 c-1 UNHEALTHY excluded=true HTTP 503",
		"endpoint 10.0.0.2:9090 b-2 HEALTHY excluded=false",
	}
	wantEdges := []string{
		"cm:shop.local/web?version=v1 -> ep:cm:shop.local/web?version=v1#a-1",
		"cm:shop.local/web?version=v1 -> ep:cm:shop.local/web?version=v1#c-1",
		"cm:shop.local/web?version=v2 -> ep:cm:shop.local/web?version=v2#b-2",
		"rt:web/split -> vn:web-v1 90 90%",
		"rt:web/split -> vn:web-v2 10 10%",
		"vn:web-v1 -> cm:shop.local/web?version=v1",
		"vn:web-v2 -> cm:shop.local/web?version=v2",
		"vr:web -> rt:web/split",
		"vs:web.shop.local -> vr:web",
	}
	if diff := gocmp.Diff(wantNodes, nodes); diff != "" {
		t.Errorf("graph nodes (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff(wantEdges, edges); diff != "" {
		t.Errorf("graph edges (-want +got):\n%s", diff)
	}
}
