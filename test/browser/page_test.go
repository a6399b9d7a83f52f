//go:build browser

package browser

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	amsdk "github.com/aws/aws-sdk-go-v2/service/appmesh"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	sdtypes "github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumPath returns the browser to drive, or skips the test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	path := cmp.Or(os.Getenv("MAPMESH_CHROMIUM"), "/usr/bin/chromium")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("browser test skipped: %s is missing (Debian: apt-get install chromium; or set MAPMESH_CHROMIUM)", path)
	}
	return path
}

// artifacts returns the directory screenshots go to: $MAPMESH_ARTIFACTS/<test>,
// or a temporary directory.
func artifacts(t *testing.T) string {
	t.Helper()
	root := os.Getenv("MAPMESH_ARTIFACTS")
	if root == "" {
		return t.TempDir()
	}
	dir := filepath.Join(root, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// page is one browser tab on a console, recording what the page reports
// as errors.
type page struct {
	t    *testing.T
	ctx  context.Context
	base string // http://127.0.0.1:PORT
	dir  string // screenshots

	mu     sync.Mutex // guards errors
	errors []string
	// ignore holds substrings of console messages that are expected
	// (a refused request the page answers with a sign-in form).
	ignore []string
}

// newPage starts headless Chromium on a fresh profile, with the flags that
// keep it off the network.
func newPage(t *testing.T, base string) *page {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	p := &page{t: t, ctx: ctx, base: base, dir: artifacts(t)}
	start := time.Now()
	if err := chromedp.Listen(ctx, p.record); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", chromiumPath(t), err)
	}
	t.Logf("chromium started in %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(p.checkErrors)
	return p
}

// record keeps the page's exceptions, console errors and browser log
// errors (a content security policy violation is one).
func (p *page) record(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		msg = "exception: " + ev.ExceptionDetails.Text
		if e := ev.ExceptionDetails.Exception; e != nil {
			msg += " " + e.Description
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError {
			return
		}
		msg = "console.error:"
		for _, a := range ev.Args {
			msg += " " + cmp.Or(a.Description, string(a.Value))
		}
	case *log.EventEntryAdded:
		if ev.Entry.Level != log.EntryLevelError {
			return
		}
		msg = fmt.Sprintf("log %s: %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
	default:
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errors = append(p.errors, msg)
}

func (p *page) checkErrors() {
	p.mu.Lock()
	defer p.mu.Unlock()
next:
	for _, e := range p.errors {
		for _, ok := range p.ignore {
			if strings.Contains(e, ok) {
				continue next
			}
		}
		p.t.Errorf("the page reported: %s", e)
	}
}

// do runs actions, bounded by d.
func (p *page) do(what string, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.screenshot("failed-" + strings.ReplaceAll(what, " ", "-"))
		p.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise).
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// text returns the text content of the first element matching a CSS
// selector.
func (p *page) text(css string) string {
	p.t.Helper()
	return eval[string](p, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, css))
}

// screenshot saves the whole page as name.png in the artefacts directory.
func (p *page) screenshot(name string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(p.dir, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot %s (%d bytes)", path, len(buf))
}

func (p *page) open(fragment string) {
	p.t.Helper()
	p.do("open "+fragment, 20*time.Second, chromedp.Navigate(p.base+"/console/"+fragment))
}

// clients of the AWS APIs of a server, as an identity.
type clients struct {
	sd    *sd.Client
	am    *amsdk.Client
	url   string
	creds aws.Credentials
}

func newClients(url, key, secret string) *clients {
	c := credentials.NewStaticCredentialsProvider(key, secret, "")
	return &clients{url: url, creds: aws.Credentials{AccessKeyID: key, SecretAccessKey: secret},
		sd: sd.New(sd.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: c}),
		am: amsdk.New(amsdk.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: c})}
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// namespace creates an HTTP namespace and returns its ID.
func (c *clients) namespace(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	op, err := c.sd.CreateHttpNamespace(ctx, &sd.CreateHttpNamespaceInput{Name: aws.String(name)})
	check(t, err)
	got, err := c.sd.GetOperation(ctx, &sd.GetOperationInput{OperationId: op.OperationId})
	check(t, err)
	return got.Operation.Targets["NAMESPACE"]
}

func (c *clients) register(t *testing.T, svcID, id string, attrs map[string]string) {
	t.Helper()
	_, err := c.sd.RegisterInstance(context.Background(), &sd.RegisterInstanceInput{ServiceId: &svcID, InstanceId: aws.String(id),
		Attributes: attrs})
	check(t, err)
}

// appMeshPut makes an App Mesh create call with a JSON body, signed.
func (c *clients) appMeshPut(t *testing.T, path, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, c.url+path, strings.NewReader(body))
	check(t, err)
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256([]byte(body))
	check(t, v4.NewSigner().SignHTTP(context.Background(), c.creds, req, hex.EncodeToString(sum[:]), "appmesh", "us-east-1", time.Now()))
	resp, err := http.DefaultClient.Do(req)
	check(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT %s = %d %s", path, resp.StatusCode, b)
	}
}

// shopMesh makes mesh "shop": virtual service web.shop.local provided by
// router "web", whose route "split" sends 90/10 to virtual nodes web-v1
// and web-v2, found in Cloud Map as shop.local/web with version v1, v2.
func (c *clients) shopMesh(t *testing.T) {
	t.Helper()
	_, err := c.am.CreateMesh(context.Background(), &amsdk.CreateMeshInput{MeshName: aws.String("shop")})
	check(t, err)
	for _, v := range []string{"v1", "v2"} {
		c.appMeshPut(t, "/v20190125/meshes/shop/virtualNodes", `{"virtualNodeName": "web-`+v+`", "spec": {
			"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
			"backends": [{"virtualService": {"virtualServiceName": "db.shop.local"}}],
			"serviceDiscovery": {"awsCloudMap": {"namespaceName": "shop.local", "serviceName": "web",
				"attributes": [{"key": "version", "value": "`+v+`"}]}}}}`)
	}
	c.appMeshPut(t, "/v20190125/meshes/shop/virtualRouters", `{"virtualRouterName": "web",
		"spec": {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]}}`)
	c.appMeshPut(t, "/v20190125/meshes/shop/virtualRouter/web/routes", `{"routeName": "split", "spec": {"httpRoute": {
		"match": {"prefix": "/"}, "action": {"weightedTargets": [{"virtualNode": "web-v1", "weight": 90}, {"virtualNode": "web-v2", "weight": 10}]}}}}`)
	c.appMeshPut(t, "/v20190125/meshes/shop/virtualServices", `{"virtualServiceName": "web.shop.local",
		"spec": {"provider": {"virtualRouter": {"virtualRouterName": "web"}}}}`)
}

// target is an HTTP server a health check probes.
func target(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") }))
	t.Cleanup(s.Close)
	return s, s.Listener.Addr().String()
}

// waitHealthy waits until every instance of a service is HEALTHY.
func (c *clients) waitHealthy(t *testing.T, svcID string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := c.sd.GetInstancesHealthStatus(context.Background(), &sd.GetInstancesHealthStatusInput{ServiceId: &svcID})
		check(t, err)
		healthy := 0
		for _, s := range out.Status {
			if s == sdtypes.HealthStatusHealthy {
				healthy++
			}
		}
		if healthy == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("instances of %s: %v; want %d HEALTHY", svcID, out.Status, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
