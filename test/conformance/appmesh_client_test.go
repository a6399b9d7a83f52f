package conformance

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	am "github.com/aws/aws-sdk-go-v2/service/appmesh"
	amtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	"github.com/aws/smithy-go"

	"github.com/mapmesh/mapmesh/internal/appmesh"
)

// App Mesh helpers: an aws-sdk-go-v2 appmesh client (API 2019-01-25) for
// the harness's server, raw rest-json requests for the 2018-10-01 API (no
// Go SDK speaks it), and error assertions with the model's HTTP statuses.

// smallMeshQuotas make LimitExceededException quick to reach.
var smallMeshQuotas = appmesh.Quotas{MeshesPerAccount: 2, VirtualNodesPerMesh: 2, VirtualRoutersPerMesh: 2, VirtualServicesPerMesh: 2,
	VirtualGatewaysPerMesh: 1, RoutesPerVirtualRouter: 1, GatewayRoutesPerVirtualGateway: 1, BackendsPerVirtualNode: 2, TagsPerResource: 3}

// meshClient returns an App Mesh client that signs with accessKey in
// region. A 12-digit access key makes mapmesh act as that account.
func (h *harness) meshClient(accessKey, region string) *am.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	addr := h.srv.Addr
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 16,
	}
	h.mu.Lock()
	h.transports = append(h.transports, tr)
	h.mu.Unlock()
	return am.New(am.Options{
		Region:       region,
		BaseEndpoint: aws.String(h.srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, "secret-"+accessKey, ""),
		HTTPClient:   &http.Client{Transport: &recordingTransport{next: tr}, Timeout: 30 * time.Second},
		Retryer:      aws.NopRetryer{},
	})
}

// meshAccount returns an App Mesh client of a fresh account, and the account.
func (h *harness) meshAccount() (*am.Client, string) {
	a := newAccount()
	return h.meshClient(a, defaultRegion), a
}

// meshError requires err to be the modeled App Mesh error code with the
// model's HTTP status, decoded into the SDK's typed error, and returns it.
func meshError(t testing.TB, err error, code string) smithy.APIError {
	t.Helper()
	if err == nil {
		t.Fatalf("error = nil; want %s", code)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v; want the API error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("error code = %s (%v); want %s", ae.ErrorCode(), err, code)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %v carries no HTTP response", err)
	}
	if want := meshErrorStatus[code]; re.HTTPStatusCode() != want {
		t.Errorf("%s: HTTP status = %d; want %d", code, re.HTTPStatusCode(), want)
	}
	if !requestIDRE.MatchString(re.ServiceRequestID()) {
		t.Errorf("%s: request ID = %q; want a UUID", code, re.ServiceRequestID())
	}
	if !isMeshTypedError(err, code) {
		t.Errorf("%s: the SDK did not decode the error into its modeled type (%T)", code, ae)
	}
	if ae.ErrorMessage() == "" {
		t.Errorf("%s: empty message", code)
	}
	return ae
}

// meshErrorStatus is the httpStatusCode of each App Mesh error in the model.
var meshErrorStatus = map[string]int{
	"BadRequestException": 400, "LimitExceededException": 400, "TooManyTagsException": 400, "ForbiddenException": 403,
	"NotFoundException": 404, "ConflictException": 409, "ResourceInUseException": 409, "TooManyRequestsException": 429,
	"InternalServerErrorException": 500, "ServiceUnavailableException": 503,
}

func isMeshTypedError(err error, code string) bool {
	switch code {
	case "BadRequestException":
		return isA[*amtypes.BadRequestException](err)
	case "ConflictException":
		return isA[*amtypes.ConflictException](err)
	case "ForbiddenException":
		return isA[*amtypes.ForbiddenException](err)
	case "InternalServerErrorException":
		return isA[*amtypes.InternalServerErrorException](err)
	case "LimitExceededException":
		return isA[*amtypes.LimitExceededException](err)
	case "NotFoundException":
		return isA[*amtypes.NotFoundException](err)
	case "ResourceInUseException":
		return isA[*amtypes.ResourceInUseException](err)
	case "ServiceUnavailableException":
		return isA[*amtypes.ServiceUnavailableException](err)
	case "TooManyRequestsException":
		return isA[*amtypes.TooManyRequestsException](err)
	case "TooManyTagsException":
		return isA[*amtypes.TooManyTagsException](err)
	}
	return false
}

// ---- fixtures; each fails the test on error ----

func mkMesh(t testing.TB, c *am.Client, name string) *amtypes.MeshData {
	t.Helper()
	out, err := c.CreateMesh(bg, &am.CreateMeshInput{MeshName: aws.String(name)})
	if err != nil {
		t.Fatalf("CreateMesh(%q) = %v", name, err)
	}
	return out.Mesh
}

// nodeSpec is a virtual node with one HTTP listener on port, DNS
// discovery and the given backends.
func nodeSpec(port int32, backends ...string) *amtypes.VirtualNodeSpec {
	s := &amtypes.VirtualNodeSpec{
		Listeners:        []amtypes.Listener{{PortMapping: &amtypes.PortMapping{Port: aws.Int32(port), Protocol: amtypes.PortProtocolHttp}}},
		ServiceDiscovery: &amtypes.ServiceDiscoveryMemberDns{Value: amtypes.DnsServiceDiscovery{Hostname: aws.String("node.local")}},
	}
	for _, b := range backends {
		s.Backends = append(s.Backends, &amtypes.BackendMemberVirtualService{Value: amtypes.VirtualServiceBackend{VirtualServiceName: aws.String(b)}})
	}
	return s
}

func mkNode(t testing.TB, c *am.Client, mesh, name string) *amtypes.VirtualNodeData {
	t.Helper()
	out, err := c.CreateVirtualNode(bg, &am.CreateVirtualNodeInput{MeshName: aws.String(mesh), VirtualNodeName: aws.String(name), Spec: nodeSpec(8080)})
	if err != nil {
		t.Fatalf("CreateVirtualNode(%q) = %v", name, err)
	}
	return out.VirtualNode
}

func routerSpec(port int32) *amtypes.VirtualRouterSpec {
	return &amtypes.VirtualRouterSpec{Listeners: []amtypes.VirtualRouterListener{{PortMapping: &amtypes.PortMapping{Port: aws.Int32(port), Protocol: amtypes.PortProtocolHttp}}}}
}

func mkRouter(t testing.TB, c *am.Client, mesh, name string) *amtypes.VirtualRouterData {
	t.Helper()
	out, err := c.CreateVirtualRouter(bg, &am.CreateVirtualRouterInput{MeshName: aws.String(mesh), VirtualRouterName: aws.String(name), Spec: routerSpec(8080)})
	if err != nil {
		t.Fatalf("CreateVirtualRouter(%q) = %v", name, err)
	}
	return out.VirtualRouter
}

// httpRouteSpec sends prefix to the nodes with the weights.
func httpRouteSpec(prefix string, targets map[string]int32) *amtypes.RouteSpec {
	var wts []amtypes.WeightedTarget
	for _, n := range sortedKeys(targets) {
		wts = append(wts, amtypes.WeightedTarget{VirtualNode: aws.String(n), Weight: targets[n]})
	}
	return &amtypes.RouteSpec{HttpRoute: &amtypes.HttpRoute{
		Match:  &amtypes.HttpRouteMatch{Prefix: aws.String(prefix)},
		Action: &amtypes.HttpRouteAction{WeightedTargets: wts},
	}}
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func mkRoute(t testing.TB, c *am.Client, mesh, router, name, node string) *amtypes.RouteData {
	t.Helper()
	out, err := c.CreateRoute(bg, &am.CreateRouteInput{MeshName: aws.String(mesh), VirtualRouterName: aws.String(router), RouteName: aws.String(name),
		Spec: httpRouteSpec("/", map[string]int32{node: 100})})
	if err != nil {
		t.Fatalf("CreateRoute(%q) = %v", name, err)
	}
	return out.Route
}

func nodeProvider(node string) *amtypes.VirtualServiceSpec {
	return &amtypes.VirtualServiceSpec{Provider: &amtypes.VirtualServiceProviderMemberVirtualNode{Value: amtypes.VirtualNodeServiceProvider{VirtualNodeName: aws.String(node)}}}
}

func routerProvider(router string) *amtypes.VirtualServiceSpec {
	return &amtypes.VirtualServiceSpec{Provider: &amtypes.VirtualServiceProviderMemberVirtualRouter{Value: amtypes.VirtualRouterServiceProvider{VirtualRouterName: aws.String(router)}}}
}

func mkService(t testing.TB, c *am.Client, mesh, name string, spec *amtypes.VirtualServiceSpec) *amtypes.VirtualServiceData {
	t.Helper()
	if spec == nil {
		spec = &amtypes.VirtualServiceSpec{}
	}
	out, err := c.CreateVirtualService(bg, &am.CreateVirtualServiceInput{MeshName: aws.String(mesh), VirtualServiceName: aws.String(name), Spec: spec})
	if err != nil {
		t.Fatalf("CreateVirtualService(%q) = %v", name, err)
	}
	return out.VirtualService
}

func gatewaySpec(port int32) *amtypes.VirtualGatewaySpec {
	return &amtypes.VirtualGatewaySpec{Listeners: []amtypes.VirtualGatewayListener{{PortMapping: &amtypes.VirtualGatewayPortMapping{Port: aws.Int32(port), Protocol: amtypes.VirtualGatewayPortProtocolHttp}}}}
}

func mkGateway(t testing.TB, c *am.Client, mesh, name string) *amtypes.VirtualGatewayData {
	t.Helper()
	out, err := c.CreateVirtualGateway(bg, &am.CreateVirtualGatewayInput{MeshName: aws.String(mesh), VirtualGatewayName: aws.String(name), Spec: gatewaySpec(8443)})
	if err != nil {
		t.Fatalf("CreateVirtualGateway(%q) = %v", name, err)
	}
	return out.VirtualGateway
}

func gatewayRouteSpec(prefix, service string) *amtypes.GatewayRouteSpec {
	return &amtypes.GatewayRouteSpec{HttpRoute: &amtypes.HttpGatewayRoute{
		Match:  &amtypes.HttpGatewayRouteMatch{Prefix: aws.String(prefix)},
		Action: &amtypes.HttpGatewayRouteAction{Target: &amtypes.GatewayRouteTarget{VirtualService: &amtypes.GatewayRouteVirtualService{VirtualServiceName: aws.String(service)}}},
	}}
}

func mkGatewayRoute(t testing.TB, c *am.Client, mesh, gateway, name, service string) *amtypes.GatewayRouteData {
	t.Helper()
	out, err := c.CreateGatewayRoute(bg, &am.CreateGatewayRouteInput{MeshName: aws.String(mesh), VirtualGatewayName: aws.String(gateway),
		GatewayRouteName: aws.String(name), Spec: gatewayRouteSpec("/", service)})
	if err != nil {
		t.Fatalf("CreateGatewayRoute(%q) = %v", name, err)
	}
	return out.GatewayRoute
}

// ---- raw rest-json (the 2018-10-01 API, and wire details) ----

// rest sends one rest-json request as account (a 12-digit access key) and
// reads the whole response.
func (h *harness) rest(t testing.TB, account, method, path, body string) rawResponse {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+account+"/20250101/"+defaultRegion+
		"/appmesh/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: b}
}

// rest2018 sends a 2018-10-01 request that must succeed and returns its
// JSON body.
func (h *harness) rest2018(t testing.TB, account, method, path, body string) map[string]any {
	t.Helper()
	r := h.rest(t, account, method, path, body)
	if r.status != http.StatusOK {
		t.Fatalf("%s %s = %d %s", method, path, r.status, r.body)
	}
	return r.json(t)
}

// dig returns the value at a dotted path of a decoded JSON document.
func dig(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		switch m := v.(type) {
		case map[string]any:
			v = m[k]
		case []any:
			i := 0
			for _, c := range k {
				i = i*10 + int(c-'0')
			}
			if i >= len(m) {
				return nil
			}
			v = m[i]
		default:
			return nil
		}
	}
	return v
}
