//go:build browser

package browser

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	sdtypes "github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"
	"github.com/chromedp/chromedp"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/server"
	"github.com/mapmesh/mapmesh/internal/server/servertest"
)

// liveBound is how long the page may take to show a change without a
// reload: the health check's interval and threshold, the event's
// coalescing, a re-fetch, on a loaded machine.
const liveBound = 15 * time.Second

// TestConsole: without authentication, the console lists namespaces,
// services and instances, shows an instance's health flip live when its
// target goes away, renders the mesh graph with weights and endpoints,
// lists operations, and shows an xDS client's ACKed and NACKed versions.
func TestConsole(t *testing.T) {
	chromiumPath(t)
	srv := servertest.Start(t, server.Config{HealthInterval: 300 * time.Millisecond,
		HealthAllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	c := newClients(srv.URL, "test", "test")
	ctx := context.Background()

	// shop.local/web: three instances on real listeners, checked over HTTP.
	nsID := c.namespace(t, "shop.local")
	svc, err := c.sd.CreateService(ctx, &sd.CreateServiceInput{Name: aws.String("web"), NamespaceId: &nsID,
		HealthCheckConfig: &sdtypes.HealthCheckConfig{Type: sdtypes.HealthCheckTypeHttp, ResourcePath: aws.String("/"), FailureThreshold: aws.Int32(1)}})
	check(t, err)
	svcID := *svc.Service.Id
	web1, addr1 := target(t)
	_, addr2 := target(t)
	_, addr3 := target(t)
	for id, v := range map[string]struct{ addr, version string }{"web-1": {addr1, "v1"}, "web-2": {addr2, "v2"}, "web-3": {addr3, "v1"}} {
		host, port, _ := net.SplitHostPort(v.addr)
		c.register(t, svcID, id, map[string]string{"AWS_INSTANCE_IPV4": host, "AWS_INSTANCE_PORT": port, "version": v.version, "stage": "prod"})
	}
	c.waitHealthy(t, svcID, 3)
	c.shopMesh(t)
	xdsClient(t, srv.XDSAddr, "mesh/shop/virtualNode/web-v1")

	p := newPage(t, srv.URL)
	start := time.Now()
	p.open("")
	p.do("namespaces", 20*time.Second, chromedp.WaitVisible(chromedp.CSS(`tr[data-namespace="`+nsID+`"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`#live.on`)))
	t.Logf("console loaded, events stream open, in %v", time.Since(start).Round(time.Millisecond))
	p.screenshot("01-namespaces")
	p.do("open the namespace", 10*time.Second, chromedp.Click(chromedp.CSS(`tr[data-namespace="`+nsID+`"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-service="`+svcID+`"] a`)))
	p.screenshot("02-namespace")
	p.do("open the service", 10*time.Second, chromedp.Click(chromedp.CSS(`tr[data-service="`+svcID+`"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-instance="web-1"][data-health="HEALTHY"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-instance="web-3"][data-health="HEALTHY"]`)))
	if row := p.text(`tr[data-instance="web-1"]`); !strings.Contains(row, addr1) || !strings.Contains(row, "version=v1") {
		t.Errorf("row of web-1 = %q; want its address %s and attributes", row, addr1)
	}
	p.screenshot("03-service-healthy")

	// web-1's target goes away: the page shows UNHEALTHY, with the reason,
	// without being reloaded.
	eval[bool](p, `window.__notReloaded = true`)
	web1.Close()
	flipped := time.Now()
	p.do("web-1 turns UNHEALTHY", liveBound, chromedp.WaitVisible(chromedp.CSS(`tr[data-instance="web-1"][data-health="UNHEALTHY"] .reason`)))
	t.Logf("health flip shown %v after the target closed", time.Since(flipped).Round(time.Millisecond))
	if !eval[bool](p, `window.__notReloaded === true`) {
		t.Error("the page was reloaded; want the change applied live")
	}
	if reason := p.text(`tr[data-instance="web-1"] .reason`); reason == "" {
		t.Error("UNHEALTHY web-1 shows no reason")
	}
	// A registration shows up live too.
	_, port4, _ := net.SplitHostPort(addr3)
	c.register(t, svcID, "web-4", map[string]string{"AWS_INSTANCE_IPV4": "127.0.0.1", "AWS_INSTANCE_PORT": port4, "version": "v2"})
	p.do("web-4 appears", liveBound, chromedp.WaitVisible(chromedp.CSS(`tr[data-instance="web-4"]`)))
	p.screenshot("04-service-unhealthy")

	// The graph: service -> router -> route (90/10) -> nodes -> Cloud Map -> endpoints.
	p.open("#/" + awsapi.DefaultAccount + "/us-east-1/meshes/shop/graph")
	p.do("graph", 20*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`#mesh-graph g[data-node-id="vs:web.shop.local"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#mesh-graph g[data-node-id="vr:web"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#mesh-graph g[data-node-id="rt:web/split"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#mesh-graph g[data-node-id="vn:web-v1"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#mesh-graph g[data-node-id="cm:shop.local/web?version=v1"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#mesh-graph g.endpoint.serving[data-node-id$="#web-3"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#mesh-graph g.endpoint.excluded[data-node-id$="#web-1"]`)))
	graph := p.text("#mesh-graph")
	for _, want := range []string{"90 (90%)", "10 (10%)", addr2, addr3, "web.shop.local"} {
		if !strings.Contains(graph, want) {
			t.Errorf("graph text %q does not contain %q", graph, want)
		}
	}
	p.screenshot("05-graph")

	// The graph follows a registration live.
	c.register(t, svcID, "web-5", map[string]string{"AWS_INSTANCE_IPV4": "127.0.0.1", "AWS_INSTANCE_PORT": port4, "version": "v1"})
	p.do("graph follows a registration", liveBound, chromedp.WaitVisible(chromedp.CSS(`#mesh-graph g.endpoint[data-node-id$="#web-5"]`)))

	p.open("#/" + awsapi.DefaultAccount + "/us-east-1/meshes/shop")
	p.do("mesh resources", 10*time.Second, chromedp.WaitVisible(chromedp.CSS(`tr[data-resource="route/web/split"]`)))
	if row := p.text(`tr[data-resource="route/web/split"]`); !strings.Contains(row, "web-v1 90") || !strings.Contains(row, "web-v2 10") {
		t.Errorf("route row = %q; want the weighted targets", row)
	}
	p.screenshot("06-mesh")

	p.open("#/" + awsapi.DefaultAccount + "/us-east-1/operations")
	p.do("operations", 10*time.Second, chromedp.WaitVisible(chromedp.CSS(`tr[data-operation]`)))
	if first := p.text(`tr[data-operation]`); !strings.Contains(first, "REGISTER_INSTANCE") || !strings.Contains(first, "web-5") {
		t.Errorf("newest operation = %q; want the registration of web-5", first)
	}
	p.screenshot("07-operations")

	p.open("#/" + awsapi.DefaultAccount + "/us-east-1/xds")
	p.do("xDS clients", 10*time.Second, chromedp.WaitVisible(chromedp.CSS(`tr[data-client="mesh/shop/virtualNode/web-v1"]`)))
	deadline := time.Now().Add(10 * time.Second)
	for row := ""; !strings.Contains(row, "rejected by the browser test"); row = p.text(`tr[data-client="mesh/shop/virtualNode/web-v1"]`) {
		if time.Now().After(deadline) {
			t.Fatalf("xDS client row = %q; want its NACK", row)
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.screenshot("08-xds")
}

// xdsClient opens an ADS stream as node id: it ACKs clusters and NACKs
// listeners, until the test ends.
func xdsClient(t *testing.T, addr, id string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	check(t, err)
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	check(t, err)
	node := &core.Node{Id: id, Cluster: "browser-test", UserAgentName: "envoy"}
	check(t, stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resource.ClusterType}))
	check(t, stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resource.ListenerType}))
	go func() {
		for {
			r, err := stream.Recv()
			if err != nil {
				return
			}
			req := &discovery.DiscoveryRequest{Node: node, TypeUrl: r.TypeUrl, ResponseNonce: r.Nonce, VersionInfo: r.VersionInfo}
			if r.TypeUrl == resource.ListenerType {
				req.VersionInfo = ""
				req.ErrorDetail = status.New(codes.InvalidArgument, "listener rejected by the browser test").Proto()
			}
			if stream.Send(req) != nil {
				return
			}
		}
	}()
}

// TestConsoleSigV4: with --auth sigv4 the console asks for credentials,
// refuses wrong ones, signs every call in the browser (and its events
// stream with a presigned URL), and shows only the identity's account.
func TestConsoleSigV4(t *testing.T) {
	chromiumPath(t)
	creds := filepath.Join(t.TempDir(), "credentials")
	check(t, os.WriteFile(creds, []byte(`[one]
aws_access_key_id = AKIDONE
aws_secret_access_key = secret-one
aws_account_id = 111111111111

[two]
aws_access_key_id = AKIDTWO
aws_secret_access_key = secret-two
aws_account_id = 222222222222
`), 0o600))
	srv := servertest.Start(t, server.Config{Auth: server.AuthSigV4, CredentialsFile: creds})
	one, two := newClients(srv.URL, "AKIDONE", "secret-one"), newClients(srv.URL, "AKIDTWO", "secret-two")
	nsOne := one.namespace(t, "team-one.local")
	two.namespace(t, "team-two.local")
	svc, err := one.sd.CreateService(context.Background(), &sd.CreateServiceInput{Name: aws.String("api"), NamespaceId: &nsOne})
	check(t, err)
	one.register(t, *svc.Service.Id, "api-1", map[string]string{"AWS_INSTANCE_IPV4": "10.1.0.1", "AWS_INSTANCE_PORT": "443"})

	p := newPage(t, srv.URL)
	// The page's first, unsigned call is refused: that is how it learns
	// to ask for credentials. So is the wrong secret.
	p.ignore = []string{"status of 403"}
	p.open("")
	p.do("sign-in form", 20*time.Second, chromedp.WaitVisible(chromedp.CSS(`#login`)))
	p.screenshot("01-login")
	login := func(key, secret string) {
		p.t.Helper()
		p.do("sign in as "+key, 10*time.Second,
			chromedp.SetValue(chromedp.CSS(`#login input[name=accessKeyId]`), key),
			chromedp.SetValue(chromedp.CSS(`#login input[name=secretAccessKey]`), secret),
			chromedp.Click(chromedp.CSS(`#login button[type=submit]`)))
	}
	login("AKIDONE", "not-the-secret")
	p.do("refused", 10*time.Second, chromedp.WaitVisible(chromedp.CSS(`#login-error`)))
	if msg := p.text("#login-error"); !strings.Contains(msg, "signature") {
		t.Errorf("sign-in error = %q; want the server's InvalidSignatureException message", msg)
	}
	p.screenshot("02-login-refused")

	login("AKIDONE", "secret-one")
	p.do("signed in", 20*time.Second, chromedp.WaitVisible(chromedp.CSS(`tr[data-namespace="`+nsOne+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#live.on`))) // the presigned events URL was accepted
	if acct := p.text("#account"); acct != "111111111111" {
		t.Errorf("account shown = %q; want 111111111111 only", acct)
	}
	if main := p.text("#main"); strings.Contains(main, "team-two.local") {
		t.Errorf("signed in as account 111111111111, the page shows another account's namespace: %q", main)
	}
	p.screenshot("03-signed-in")

	p.open("#/111111111111/us-east-1/services/" + *svc.Service.Id)
	p.do("service", 10*time.Second, chromedp.WaitVisible(chromedp.CSS(`tr[data-instance="api-1"]`)), chromedp.WaitVisible(chromedp.CSS(`#live.on`)))
	one.register(t, *svc.Service.Id, "api-2", map[string]string{"AWS_INSTANCE_IPV4": "10.1.0.2", "AWS_INSTANCE_PORT": "443"})
	p.do("api-2 appears live", liveBound, chromedp.WaitVisible(chromedp.CSS(`tr[data-instance="api-2"]`)))
	p.screenshot("04-signed-in-live")

	// Another account in the URL is not shown: the page goes back to the
	// identity's own.
	p.open("#/222222222222/us-east-1/namespaces")
	p.do("own account only", 10*time.Second, chromedp.WaitVisible(chromedp.CSS(`tr[data-namespace="`+nsOne+`"]`)))

	t.Run("signer", func(t *testing.T) { signerAgreesWithGo(t, p) })
}

// signerAgreesWithGo signs requests with the page's sigv4.js at a fixed
// time and checks that aws-sdk-go-v2's signer makes the same signatures,
// and that mapmesh's verifier accepts them (and refuses a changed one).
func signerAgreesWithGo(t *testing.T, p *page) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	keys, err := awsapi.ParseCredentials(strings.NewReader("[x]\naws_access_key_id = AKIDSIGNER\naws_secret_access_key = s3cr3t/+=\naws_account_id = 333333333333\n"))
	check(t, err)
	verifier := awsapi.NewVerifier(keys)
	verifier.Now = func() time.Time { return at.Add(time.Minute) }
	type signed struct {
		URL       string
		Date      string
		Auth      string
		Presigned string
	}
	for _, tc := range []struct {
		name, path string
		params     string // JS array of [name, value]
	}{
		{"plain", "/console/api/namespaces", `[]`},
		{"query", "/console/api/operations", `[["region", "eu-west-1"], ["before", "abc-123"], ["account", "333333333333"]]`},
		{"escapes", "/console/api/meshes/a%20b%2Bc/graph", `[["q", "a b+c/d=e&f"], ["ü", "ß~*"], ["empty", ""]]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js := `import('/console/sigv4.js').then(async (m) => {
				const creds = {accessKeyId: 'AKIDSIGNER', secretAccessKey: 's3cr3t/+='};
				const now = new Date(` + strconv.FormatInt(at.UnixMilli(), 10) + `);
				const args = {path: '` + tc.path + `', params: ` + tc.params + `, host: 'mapmesh.example:9711', creds, region: 'eu-west-1', now};
				const s = await m.sign(args);
				const p = await m.presign({...args, expires: 300});
				return {URL: s.url, Date: s.headers['X-Amz-Date'], Auth: s.headers.Authorization, Presigned: p};
			})`
			got := eval[signed](p, js)

			// The SDK signs the same request the same way.
			req, err := http.NewRequest(http.MethodGet, "http://mapmesh.example:9711"+got.URL, nil)
			check(t, err)
			req.URL.RawPath = strings.SplitN(got.URL, "?", 2)[0] // as sent
			sum := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
			check(t, v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIDSIGNER", SecretAccessKey: "s3cr3t/+="},
				req, sum, "mapmesh", "eu-west-1", at))
			if want := req.Header.Get("Authorization"); got.Auth != want {
				t.Errorf("sigv4.js Authorization =\n%s\nSDK =\n%s", got.Auth, want)
			}

			// mapmesh's verifier accepts both forms, and refuses a changed request.
			verify := func(url string, header http.Header) error {
				r, err := http.NewRequest(http.MethodGet, "http://mapmesh.example:9711"+url, nil)
				check(t, err)
				for k, v := range header {
					r.Header[k] = v
				}
				if _, _, aerr := verifier.Verify(r, nil, "mapmesh"); aerr != nil {
					return aerr
				}
				return nil
			}
			h := http.Header{"Authorization": {got.Auth}, "X-Amz-Date": {got.Date}}
			if err := verify(got.URL, h); err != nil {
				t.Errorf("Verify(sigv4.js header signature of %s) = %v; want accepted", got.URL, err)
			}
			if err := verify(got.Presigned, nil); err != nil {
				t.Errorf("Verify(sigv4.js presigned %s) = %v; want accepted", got.Presigned, err)
			}
			changed := strings.Replace(got.Presigned, "X-Amz-Expires=300", "X-Amz-Expires=600", 1)
			if err := verify(changed, nil); err == nil {
				t.Errorf("Verify(%s, its expiry changed) = nil; want refused", changed)
			}
			sep := "?"
			if strings.Contains(got.URL, "?") {
				sep = "&"
			}
			if err := verify(got.URL+sep+"x=1", h); err == nil {
				t.Errorf("Verify(%s with a parameter added) = nil; want refused", got.URL)
			}
		})
	}
}
