package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"go/token"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/mapmesh/mapmesh/internal/server"
	"github.com/mapmesh/mapmesh/internal/server/servertest"
)

const (
	// defaultRegion is the region of the default client.
	defaultRegion = "us-east-1"
	// defaultAccount is the account mapmesh acts as for access keys that are
	// not 12-digit account IDs.
	defaultAccount = "123456789012"
	// targetPrefix is the X-Amz-Target prefix of the Cloud Map API.
	targetPrefix = "Route53AutoNaming_v20170314"
)

// Formats AWS uses (cloudmap-semantics.md section 3).
var (
	namespaceIDRE   = regexp.MustCompile(`^ns-[a-z2-7]{16}$`)
	serviceIDRE     = regexp.MustCompile(`^srv-[a-z2-7]{16}$`)
	operationIDRE   = regexp.MustCompile(`^[a-z2-7]{32}-[0-9a-z]+$`)
	hostedZoneIDRE  = regexp.MustCompile(`^Z[0-9A-Z]{10,32}$`)
	requestIDRE     = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	epochSecondsRE  = regexp.MustCompile(`^[0-9]{10}(\.[0-9]{1,3})?$`)
	nonAlnumDashRE  = regexp.MustCompile(`[^a-z0-9-]`)
	processSuffix   = randomHex(3)
	nameCounter     atomic.Int64
	accountCounter  atomic.Int64
	accountBaseDigs = 200000000000
)

// harness is a running mapmesh and a default SDK client for it.
type harness struct {
	srv *servertest.Server
	// c acts as the default account in defaultRegion.
	c *sd.Client
	// hosts records the Host header of each request the harness's clients
	// sent, by operation name.
	hosts *hostLog

	mu         sync.Mutex // guards transports
	transports []*http.Transport
}

// start runs a server with cfg for the duration of t.
func start(t *testing.T, cfg server.Config) *harness {
	t.Helper()
	h := &harness{srv: servertest.Start(t, cfg), hosts: &hostLog{m: map[string]string{}}}
	// Runs before the server stops (cleanups run last-in first-out): a
	// connection the transport dialed but never used would otherwise hold
	// up the server's graceful shutdown for 5 s.
	t.Cleanup(func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, tr := range h.transports {
			tr.CloseIdleConnections()
		}
	})
	h.c = h.client("AKIDEXAMPLE", defaultRegion)
	return h
}

// client returns an SDK client that signs with accessKey in region. A
// 12-digit access key makes mapmesh act as that account.
func (h *harness) client(accessKey, region string) *sd.Client {
	return h.clientAt(h.srv.URL, accessKey, region, h.hosts)
}

// clientAt is client with another endpoint URL (whose host the transport
// ignores) and its own host log.
func (h *harness) clientAt(endpoint, accessKey, region string, hosts *hostLog) *sd.Client {
	c, tr := newClient(endpoint, h.srv.Addr, accessKey, region, hosts)
	h.mu.Lock()
	h.transports = append(h.transports, tr)
	h.mu.Unlock()
	return c
}

// account returns a client for a fresh account of its own, so a test (or
// subtest) sees nothing another one created, quotas included.
func (h *harness) account() *sd.Client {
	return h.client(newAccount(), defaultRegion)
}

// newAccount returns a 12-digit account ID no other test uses.
func newAccount() string {
	return strconv.Itoa(accountBaseDigs + int(accountCounter.Add(1)))
}

// newClient builds a servicediscovery client for endpoint. The SDK's
// "data-" host prefix stays on: the client's transport dials addr whatever
// host name a request names, so DiscoverInstances really reaches the server
// with Host data-<host>.
func newClient(endpoint, addr, accessKey, region string, hosts *hostLog) (*sd.Client, *http.Transport) {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 16,
	}
	return sd.New(sd.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, "secret-"+accessKey, ""),
		HTTPClient:   &http.Client{Transport: &recordingTransport{next: tr, hosts: hosts}, Timeout: 30 * time.Second},
		// No retries: every call is observed exactly as the server answered it.
		Retryer: aws.NopRetryer{},
	}), tr
}

// hostLog remembers the Host each operation was last sent to.
type hostLog struct {
	mu sync.Mutex // guards m
	m  map[string]string
}

func (l *hostLog) record(op, host string) {
	l.mu.Lock()
	l.m[op] = host
	l.mu.Unlock()
}

func (l *hostLog) get(op string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[op]
}

type recordingTransport struct {
	next  http.RoundTripper
	hosts *hostLog
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		// smithy-go wraps request bodies in a reader whose WriteTo returns
		// io.EOF once the SDK has closed it, which the SDK does as soon as
		// the response arrives. net/http's writeLoop may still be making
		// its final copy of the body; that copy then fails, and the
		// transport closes the connection under the response. Responses
		// larger than the transport's read buffer then fail with "use of
		// closed network connection" (seen on loopback, where the server
		// answers within microseconds). Hiding WriteTo avoids the race; it
		// changes nothing on the wire.
		r = r.Clone(r.Context())
		r.Body = plainBody{r.Body}
	}
	if rt.hosts != nil {
		_, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
		host := r.Host
		if host == "" {
			host = r.URL.Host
		}
		rt.hosts.record(op, host)
	}
	return rt.next.RoundTrip(r)
}

// plainBody is an io.ReadCloser and nothing more.
type plainBody struct{ io.ReadCloser }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// uniq returns a name no other test uses: lowercase letters, digits and
// dashes, valid as a namespace name of every type, a DNS label and a
// service name.
func uniq(prefix string) string {
	p := nonAlnumDashRE.ReplaceAllString(strings.ToLower(prefix), "-")
	return fmt.Sprintf("%s-%s%d", p, processSuffix, nameCounter.Add(1))
}

// uniqDNS returns a unique two-label DNS name (public namespaces need one).
func uniqDNS(prefix string) string { return uniq(prefix) + ".example.com" }

var bg = context.Background()

// ---- resource helpers; each fails the test on error ----

// createHTTPNamespace creates an HTTP namespace and returns its ID and the
// operation ID.
func createHTTPNamespace(t testing.TB, c *sd.Client, name string, mods ...func(*sd.CreateHttpNamespaceInput)) (nsID, opID string) {
	t.Helper()
	in := &sd.CreateHttpNamespaceInput{Name: aws.String(name)}
	for _, m := range mods {
		m(in)
	}
	out, err := c.CreateHttpNamespace(bg, in)
	if err != nil {
		t.Fatalf("CreateHttpNamespace(%q) = %v", name, err)
	}
	return namespaceOfOperation(t, c, *out.OperationId), *out.OperationId
}

// createPrivateNamespace creates a private DNS namespace in vpc.
func createPrivateNamespace(t testing.TB, c *sd.Client, name, vpc string, mods ...func(*sd.CreatePrivateDnsNamespaceInput)) (nsID, opID string) {
	t.Helper()
	in := &sd.CreatePrivateDnsNamespaceInput{Name: aws.String(name), Vpc: aws.String(vpc)}
	for _, m := range mods {
		m(in)
	}
	out, err := c.CreatePrivateDnsNamespace(bg, in)
	if err != nil {
		t.Fatalf("CreatePrivateDnsNamespace(%q) = %v", name, err)
	}
	return namespaceOfOperation(t, c, *out.OperationId), *out.OperationId
}

// createPublicNamespace creates a public DNS namespace.
func createPublicNamespace(t testing.TB, c *sd.Client, name string, mods ...func(*sd.CreatePublicDnsNamespaceInput)) (nsID, opID string) {
	t.Helper()
	in := &sd.CreatePublicDnsNamespaceInput{Name: aws.String(name)}
	for _, m := range mods {
		m(in)
	}
	out, err := c.CreatePublicDnsNamespace(bg, in)
	if err != nil {
		t.Fatalf("CreatePublicDnsNamespace(%q) = %v", name, err)
	}
	return namespaceOfOperation(t, c, *out.OperationId), *out.OperationId
}

// namespaceOfOperation reads a namespace operation right after the call
// returned, requires SUCCESS, and returns its NAMESPACE target.
func namespaceOfOperation(t testing.TB, c *sd.Client, opID string) string {
	t.Helper()
	op := successfulOperation(t, c, opID)
	id := op.Targets[string(types.OperationTargetTypeNamespace)]
	if !namespaceIDRE.MatchString(id) {
		t.Fatalf("GetOperation(%s).Targets[NAMESPACE] = %q; want ns- and 16 base32 characters", opID, id)
	}
	return id
}

// successfulOperation gets an operation immediately and requires SUCCESS.
func successfulOperation(t testing.TB, c *sd.Client, opID string) *types.Operation {
	t.Helper()
	out, err := c.GetOperation(bg, &sd.GetOperationInput{OperationId: aws.String(opID)})
	if err != nil {
		t.Fatalf("GetOperation(%s) right after the call returned = %v", opID, err)
	}
	if out.Operation.Status != types.OperationStatusSuccess {
		t.Fatalf("GetOperation(%s).Status = %s (ErrorCode %q, ErrorMessage %q); want SUCCESS", opID, out.Operation.Status,
			aws.ToString(out.Operation.ErrorCode), aws.ToString(out.Operation.ErrorMessage))
	}
	return out.Operation
}

// createService creates a service and returns it.
func createService(t testing.TB, c *sd.Client, in *sd.CreateServiceInput) *types.Service {
	t.Helper()
	out, err := c.CreateService(bg, in)
	if err != nil {
		t.Fatalf("CreateService(%q) = %v", aws.ToString(in.Name), err)
	}
	return out.Service
}

// httpService creates a service without DNS records in namespace nsID.
func httpService(t testing.TB, c *sd.Client, nsID string, mods ...func(*sd.CreateServiceInput)) *types.Service {
	t.Helper()
	in := &sd.CreateServiceInput{Name: aws.String(uniq("svc")), NamespaceId: aws.String(nsID)}
	for _, m := range mods {
		m(in)
	}
	return createService(t, c, in)
}

// dnsService creates a service with DNS records of the given types (TTL 60)
// in namespace nsID.
func dnsService(t testing.TB, c *sd.Client, nsID string, routing types.RoutingPolicy, recordTypes ...types.RecordType) *types.Service {
	t.Helper()
	return createService(t, c, &sd.CreateServiceInput{
		Name: aws.String(uniq("svc")), NamespaceId: aws.String(nsID),
		DnsConfig: &types.DnsConfig{RoutingPolicy: routing, DnsRecords: records(60, recordTypes...)},
	})
}

func records(ttl int64, ts ...types.RecordType) []types.DnsRecord {
	out := make([]types.DnsRecord, len(ts))
	for i, typ := range ts {
		out[i] = types.DnsRecord{Type: typ, TTL: aws.Int64(ttl)}
	}
	return out
}

// register registers an instance and returns the operation ID, requiring
// the operation to be SUCCESS immediately.
func register(t testing.TB, c *sd.Client, svcID, instID string, attrs map[string]string) string {
	t.Helper()
	if attrs == nil {
		attrs = map[string]string{} // required, may be empty
	}
	out, err := c.RegisterInstance(bg, &sd.RegisterInstanceInput{ServiceId: aws.String(svcID), InstanceId: aws.String(instID), Attributes: attrs})
	if err != nil {
		t.Fatalf("RegisterInstance(%s, %s) = %v", svcID, instID, err)
	}
	successfulOperation(t, c, *out.OperationId)
	return *out.OperationId
}

// registerMany registers n instances id-0 .. id-(n-1) with attrs(i), a few
// at a time.
func registerMany(t testing.TB, c *sd.Client, svcID, id string, n int, attrs func(i int) map[string]string) []string {
	t.Helper()
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		ids[i] = fmt.Sprintf("%s-%d", id, i)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, errs[i] = c.RegisterInstance(bg, &sd.RegisterInstanceInput{ServiceId: aws.String(svcID), InstanceId: aws.String(ids[i]), Attributes: attrs(i)})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("RegisterInstance x%d: %v", n, err)
	}
	return ids
}

func ipv4(i int) map[string]string {
	return map[string]string{"AWS_INSTANCE_IPV4": fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}
}

// ---- error assertions ----

// apiError requires err to be the modeled error code with HTTP status 400
// and returns it.
func apiError(t testing.TB, err error, code string) smithy.APIError {
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
	if re.HTTPStatusCode() != http.StatusBadRequest {
		t.Errorf("%s: HTTP status = %d; want 400", code, re.HTTPStatusCode())
	}
	if !requestIDRE.MatchString(re.ServiceRequestID()) {
		t.Errorf("%s: request ID = %q; want a UUID", code, re.ServiceRequestID())
	}
	if !isTypedError(err, code) {
		t.Errorf("%s: the SDK did not decode the error into its modeled type (%T)", code, ae)
	}
	return ae
}

// asError requires err to decode into the SDK's typed error T (with status
// 400) and returns it.
func asError[T error](t testing.TB, err error) T {
	t.Helper()
	var e T
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T); want %T", err, err, e)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		apiError(t, err, ae.ErrorCode())
	}
	return e
}

// isTypedError reports whether err decoded into the SDK type of code.
func isTypedError(err error, code string) bool {
	switch code {
	case "CustomHealthNotFound":
		return isA[*types.CustomHealthNotFound](err)
	case "DuplicateRequest":
		return isA[*types.DuplicateRequest](err)
	case "InstanceNotFound":
		return isA[*types.InstanceNotFound](err)
	case "InvalidInput":
		return isA[*types.InvalidInput](err)
	case "NamespaceAlreadyExists":
		return isA[*types.NamespaceAlreadyExists](err)
	case "NamespaceNotFound":
		return isA[*types.NamespaceNotFound](err)
	case "OperationNotFound":
		return isA[*types.OperationNotFound](err)
	case "RequestLimitExceeded":
		return isA[*types.RequestLimitExceeded](err)
	case "ResourceInUse":
		return isA[*types.ResourceInUse](err)
	case "ResourceLimitExceeded":
		return isA[*types.ResourceLimitExceeded](err)
	case "ResourceNotFoundException":
		return isA[*types.ResourceNotFoundException](err)
	case "ServiceAlreadyExists":
		return isA[*types.ServiceAlreadyExists](err)
	case "ServiceAttributesLimitExceededException":
		return isA[*types.ServiceAttributesLimitExceededException](err)
	case "ServiceNotFound":
		return isA[*types.ServiceNotFound](err)
	case "TooManyTagsException":
		return isA[*types.TooManyTagsException](err)
	}
	return false
}

func isA[T error](err error) bool {
	var e T
	return errors.As(err, &e)
}

// ---- comparison ----

// ignoreUnexported skips the SDK types' unexported (no-serde marker) fields.
var ignoreUnexported = cmp.FilterPath(func(p cmp.Path) bool {
	sf, ok := p.Last().(cmp.StructField)
	return ok && !token.IsExported(sf.Name())
}, cmp.Ignore())

// diff returns the cmp.Diff of two SDK values ("" when equal).
func diff(want, got any, opts ...cmp.Option) string {
	return cmp.Diff(want, got, append(opts, ignoreUnexported)...)
}

// ---- time ----

// checkNear requires ts to lie between before and after (with a margin for
// millisecond truncation).
func checkNear(t testing.TB, what string, ts *time.Time, before, after time.Time) {
	t.Helper()
	if ts == nil {
		t.Errorf("%s = nil; want a time close to now", what)
		return
	}
	if ts.Before(before.Add(-time.Second)) || ts.After(after.Add(time.Second)) {
		t.Errorf("%s = %v; want between %v and %v", what, ts, before, after)
	}
}

// ---- raw HTTP ----

// rawResponse is a response read whole.
type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic map, keeping numbers as json.Number.
func (r rawResponse) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(r.body))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("response body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// errorType returns the __type of an error body.
func (r rawResponse) errorType(t testing.TB) string {
	t.Helper()
	s, _ := r.json(t)["__type"].(string)
	if i := strings.LastIndexByte(s, '#'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

func (r rawResponse) message(t testing.TB) string {
	t.Helper()
	m := r.json(t)
	for _, k := range []string{"Message", "message"} {
		if s, ok := m[k].(string); ok {
			return s
		}
	}
	return ""
}

// rawRequest is one hand-made HTTP request to the API port.
type rawRequest struct {
	method string // POST when empty
	path   string // "/" when empty
	host   string // the server's address when empty
	target string // operation name; "" sends no X-Amz-Target
	body   string
	header map[string]string
}

// do sends r to the server of h and reads the whole response.
func (h *harness) do(t testing.TB, r rawRequest) rawResponse {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.path == "" {
		r.path = "/"
	}
	req, err := http.NewRequest(r.method, h.srv.URL+r.path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.host != "" {
		req.Host = r.host
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if r.target != "" {
		req.Header.Set("X-Amz-Target", targetPrefix+"."+r.target)
	}
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/"+defaultRegion+
		"/servicediscovery/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000")
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s (%s): %v", r.method, r.path, r.target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the response to %s: %v", r.target, err)
	}
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: b}
}

// call sends one JSON 1.1 operation with body.
func (h *harness) call(t testing.TB, op, body string) rawResponse {
	t.Helper()
	return h.do(t, rawRequest{target: op, body: body})
}

// mustJSON marshals v.
func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
