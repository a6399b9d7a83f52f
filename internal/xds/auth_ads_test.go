package xds_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/logging"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	grpcxds "google.golang.org/grpc/xds"
	xdsbootstrap "google.golang.org/grpc/xds/bootstrap"

	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/xds"
)

// emptySHA256 is the hex SHA-256 of the empty string: the payload hash
// Envoy's aws_iam call credentials sign (the body is never signed).
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// envoySign signs a call the way Envoy's envoy.grpc_credentials.aws_iam
// plugin does, written from Envoy's source
// (source/extensions/grpc_credentials/aws_iam/config.cc: buildMessageToSign,
// signedHeadersToMetadata; source/extensions/common/aws/signer_impl.cc:
// SignerImpl::sign; utility.cc: canonicalizeHeaders,
// createCanonicalRequest, canonicalizePathString):
//
//   - the message is POST, Host = the host of gRPC's service URL, path =
//     "/<service>/<method>";
//   - x-amz-content-sha256 = SHA-256("") is set and is the payload hash;
//     x-amz-security-token is added for session credentials, then
//     x-amz-date;
//   - canonical headers: every non-pseudo header (lower case, values with
//     runs of spaces made one and trimmed, repeated ones joined by ","),
//     plus "host" from the authority with a port 80 or 443 dropped, sorted
//     by name (a std::map);
//   - canonical path: the path split on "/", empty segments dropped, each
//     segment URI-encoded (RFC 3986 unreserved kept), joined with "/";
//     the query is empty;
//   - "AWS4-HMAC-SHA256 Credential=<key>/<scope>, SignedHeaders=<names>,
//     Signature=<hex>".
//
// It returns the metadata the plugin sends (the non-pseudo headers) and
// the canonical request.
func envoySign(host, path string, t time.Time, key, secret, token, region, service string) (map[string]string, string) {
	longDate, shortDate := t.UTC().Format("20060102T150405Z"), t.UTC().Format("20060102")
	headers := map[string]string{"x-amz-content-sha256": emptySHA256}
	if token != "" {
		headers["x-amz-security-token"] = token
	}
	headers["x-amz-date"] = longDate

	canonical := map[string]string{}
	for k, v := range headers {
		canonical[k] = strings.Join(strings.Fields(v), " ")
	}
	if h, port, ok := strings.Cut(host, ":"); ok && (port == "80" || port == "443") {
		canonical["host"] = h
	} else {
		canonical["host"] = host
	}
	names := make([]string, 0, len(canonical))
	for k := range canonical {
		names = append(names, k)
	}
	sort.Strings(names)
	var segs []string
	for _, s := range strings.Split(path, "/") {
		if s != "" {
			segs = append(segs, uriEncode(s))
		}
	}
	cpath := "/" + strings.Join(segs, "/")
	if strings.HasSuffix(path, "/") && len(cpath) > 1 {
		cpath += "/"
	}
	parts := []string{"POST", cpath, ""}
	for _, k := range names {
		parts = append(parts, k+":"+canonical[k])
	}
	parts = append(parts, "", strings.Join(names, ";"), emptySHA256)
	creq := strings.Join(parts, "\n")

	scope := shortDate + "/" + region + "/" + service + "/aws4_request"
	sum := sha256.Sum256([]byte(creq))
	toSign := "AWS4-HMAC-SHA256\n" + longDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	k := hmacSHA256([]byte("AWS4"+secret), shortDate)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, "aws4_request")
	sig := hex.EncodeToString(hmacSHA256(k, toSign))
	headers["authorization"] = "AWS4-HMAC-SHA256 Credential=" + key + "/" + scope + ", SignedHeaders=" + strings.Join(names, ";") + ", Signature=" + sig
	return headers, creq
}

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

func uriEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// envoyIAM is grpc-go per-RPC credentials that sign every call as Envoy's
// aws_iam plugin does (envoySign). grpc-go hands them gRPC's service URL,
// "https://" + authority (without ":443") + "/" + service, as gRPC C++
// hands Envoy's plugin; the plugin appends "/" + method and signs that
// URL's host and path.
type envoyIAM struct {
	key, secret, token, region, service string
	// at, if set, is the signing time (else now).
	at time.Time
}

func (e envoyIAM) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	ri, _ := credentials.RequestInfoFromContext(ctx)
	method := ri.Method[strings.LastIndex(ri.Method, "/")+1:]
	u, err := url.Parse(uri[0] + "/" + method)
	if err != nil {
		return nil, err
	}
	at := e.at
	if at.IsZero() {
		at = time.Now()
	}
	service := e.service
	if service == "" {
		service = "appmesh"
	}
	md, _ := envoySign(u.Host, u.Path, at, e.key, e.secret, e.token, e.region, service)
	return md, nil
}

// RequireTransportSecurity: gRPC C++ sends call credentials over TLS only,
// so Envoy's are never seen on a plaintext channel.
func (envoyIAM) RequireTransportSecurity() bool { return true }

// TestEnvoySignerMatchesSDK cross-checks envoySign, written from Envoy's
// source, with aws-sdk-go-v2's SigV4 signer (and so with sigv4RPC, the
// proxyless snippet built on it) signing the same synthetic request: the
// same canonical request, the same Authorization.
func TestEnvoySignerMatchesSDK(t *testing.T) {
	at := time.Date(2026, 12, 2, 16, 37, 17, 0, time.UTC)
	const path = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
	for _, tc := range []struct {
		name, host, token, service string
	}{
		{"port", "mapmesh.internal:9754", "", "appmesh"},
		{"no port", "appmesh-envoy-management.us-east-1.amazonaws.com", "", "appmesh"},
		{"session token", "10.0.0.5:9754", "FwoGZXIvYXdzEXAMPLE//token==", "appmesh"},
		{"preview", "mapmesh.internal:9754", "", "appmesh-preview"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md, creq := envoySign(tc.host, path, at, "AKIAEXAMPLE", "secret/key+example", tc.token, "eu-west-1", tc.service)
			req, err := http.NewRequest(http.MethodPost, "https://"+tc.host+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
			var sdkLog string
			err = v4.NewSigner(func(o *v4.SignerOptions) {
				o.Logger = logging.LoggerFunc(func(_ logging.Classification, format string, v ...any) { sdkLog += fmt.Sprintf(format, v...) })
				o.LogSigning = true
			}).SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "secret/key+example", SessionToken: tc.token},
				req, emptySHA256, tc.service, "eu-west-1", at)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := md["authorization"], req.Header.Get("Authorization"); got != want {
				t.Errorf("envoySign Authorization = %q; want the SDK's %q", got, want)
			}
			if !strings.Contains(sdkLog, creq) {
				t.Errorf("envoySign canonical request\n%s\nnot in the SDK's signing log\n%s", creq, sdkLog)
			}
			for k, v := range md {
				if k != "authorization" && req.Header.Get(k) != v {
					t.Errorf("metadata %s = %q; the SDK's header is %q", k, v, req.Header.Get(k))
				}
			}
		})
	}
}

// keyring has two accounts' identities.
const keyring = `[a]
aws_access_key_id = AKIAACCOUNTA
aws_secret_access_key = secret-a
aws_account_id = 111111111111

[b]
aws_access_key_id = AKIAACCOUNTB
aws_secret_access_key = secret-b
aws_account_id = 222222222222
`

var (
	signerA = envoyIAM{key: "AKIAACCOUNTA", secret: "secret-a", region: "us-east-1"}
	signerB = envoyIAM{key: "AKIAACCOUNTB", secret: "secret-b", region: "us-east-1"}
)

// authStack runs the stack with the xDS server verifying SigV4 over TLS,
// and in each of accounts 111111111111 (A) and 222222222222 (B) the same
// greeter mesh "e2e" with its own backend: a1 in A, b1 in B.
type authStack struct {
	xs       *xds.Server
	a, b     *mesh
	certPool *x509.CertPool
	caFile   string
}

func newAuthStack(t *testing.T, cfg xds.Config) *authStack {
	t.Helper()
	k, err := awsapi.ParseCredentials(strings.NewReader(keyring))
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, pool := selfSigned(t)
	cfg.Verifier, cfg.TLSCert, cfg.TLSKey = awsapi.NewVerifier(k), certFile, keyFile
	api, xs := stackWith(t, cfg)
	s := &authStack{xs: xs, certPool: pool, caFile: certFile}
	// The API is not authenticated here: a 12-digit access key names
	// the account its calls act in.
	s.a = newMeshAs(t, api.URL, api.Listener.Addr().String(), xs.Addr().String(), "111111111111")
	s.b = newMeshAs(t, api.URL, api.Listener.Addr().String(), xs.Addr().String(), "222222222222")
	s.a.register("a1", "v1")
	s.a.greeterMesh(100, 0)
	s.b.register("b1", "v1")
	s.b.greeterMesh(100, 0)
	s.a.sync()
	s.b.sync()
	return s
}

// conn dials the xDS server over TLS, signing every call with creds (nil:
// unsigned).
func (s *authStack) conn(t *testing.T, creds credentials.PerRPCCredentials) *grpc.ClientConn {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: s.certPool, ServerName: "localhost"}))}
	if creds != nil {
		opts = append(opts, grpc.WithPerRPCCredentials(creds))
	}
	cc, err := grpc.NewClient(s.xs.Addr().String(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// endpointPorts returns the ports of the endpoints of an EDS response.
func endpointPorts(t *testing.T, r *discovery.DiscoveryResponse) []uint32 {
	t.Helper()
	var out []uint32
	for _, a := range r.Resources {
		var cla endpoint.ClusterLoadAssignment
		if err := a.UnmarshalTo(&cla); err != nil {
			t.Fatal(err)
		}
		for _, le := range cla.Endpoints {
			for _, e := range le.LbEndpoints {
				out = append(out, e.GetEndpoint().GetAddress().GetSocketAddress().GetPortValue())
			}
		}
	}
	slices.Sort(out)
	return out
}

// envoyConfig drives an Envoy-shaped ADS stream for nodeID on cc through
// LDS, CDS and EDS, and returns the ports of the endpoints it was given.
func envoyConfig(t *testing.T, cc *grpc.ClientConn, nodeID string) []uint32 {
	t.Helper()
	c := newADS(t, cc, t.Context(), nodeID)
	c.send(resource.ListenerType, "", "")
	lds := c.recv(resource.ListenerType)
	c.send(resource.ListenerType, lds.VersionInfo, lds.Nonce)
	c.send(resource.ClusterType, "", "")
	cds := c.recv(resource.ClusterType)
	c.send(resource.ClusterType, cds.VersionInfo, cds.Nonce)
	// Envoy asks for every EDS cluster (the ADS snapshot cache answers
	// a request for fewer than it has with nothing).
	c.send(resource.EndpointType, "", "", greeterClusters...)
	return endpointPorts(t, c.recv(resource.EndpointType))
}

// refusal opens an ADS stream for nodeID on cc and returns the error that
// ends it.
func refusal(t *testing.T, cc *grpc.ClientConn, nodeID string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	st, err := discovery.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	_ = st.Send(&discovery.DiscoveryRequest{Node: &core.Node{Id: nodeID, UserAgentName: "envoy"}, TypeUrl: resource.ListenerType})
	for {
		if _, err := st.Recv(); err != nil {
			return err
		}
	}
}

func port(b *backend) uint32 { return uint32(b.addr.Port) }

// TestSigV4ADS: with a Verifier, an ADS stream signed as App Mesh's Envoy
// signs is served its node's configuration, in the signer's account; an
// unsigned or badly signed one is refused with Unauthenticated, and one
// whose node names another account with PermissionDenied.
func TestSigV4ADS(t *testing.T) {
	s := newAuthStack(t, xds.Config{})
	a1, b1 := port(s.a.backend["a1"]), port(s.b.backend["b1"])
	ccA, ccB := s.conn(t, signerA), s.conn(t, signerB)

	t.Run("served in the signer's account", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			cc     *grpc.ClientConn
			nodeID string
			want   uint32
		}{
			{"A short form", ccA, "mesh/e2e/virtualNode/client", a1},
			{"B short form", ccB, "mesh/e2e/virtualNode/client", b1},
			{"A ARN", ccA, "arn:aws:appmesh:us-east-1:111111111111:mesh/e2e/virtualNode/client", a1},
			{"preview signing name", s.conn(t, envoyIAM{key: "AKIAACCOUNTA", secret: "secret-a", region: "us-east-1", service: "appmesh-preview"}),
				"mesh/e2e/virtualNode/client", a1},
		} {
			if got := envoyConfig(t, tc.cc, tc.nodeID); !slices.Equal(got, []uint32{tc.want}) {
				t.Errorf("%s: endpoints of %v = %v; want [%d] (A's backend %d, B's %d)", tc.name, greeterClusters, got, tc.want, a1, b1)
			}
		}
	})

	before := s.xs.Stats()
	denied := "AccessDeniedException: the node id names an account other than the one the call is signed for"
	for _, tc := range []struct {
		name     string
		creds    credentials.PerRPCCredentials
		nodeID   string
		code     codes.Code
		contains string
	}{
		{"no signature", nil, "mesh/e2e/virtualNode/client", codes.Unauthenticated, "MissingAuthenticationTokenException: Missing Authentication Token"},
		{"wrong secret", envoyIAM{key: "AKIAACCOUNTA", secret: "secret-b", region: "us-east-1"}, "mesh/e2e/virtualNode/client",
			codes.Unauthenticated, "InvalidSignatureException: The request signature we calculated does not match"},
		{"unknown key", envoyIAM{key: "AKIAUNKNOWN", secret: "secret-a", region: "us-east-1"}, "mesh/e2e/virtualNode/client",
			codes.Unauthenticated, "UnrecognizedClientException: The security token included in the request is invalid."},
		{"expired", envoyIAM{key: "AKIAACCOUNTA", secret: "secret-a", region: "us-east-1", at: time.Now().Add(-20 * time.Minute)},
			"mesh/e2e/virtualNode/client", codes.Unauthenticated, "InvalidSignatureException: Signature expired"},
		{"other service", envoyIAM{key: "AKIAACCOUNTA", secret: "secret-a", region: "us-east-1", service: "servicediscovery"},
			"mesh/e2e/virtualNode/client", codes.Unauthenticated, "InvalidSignatureException: Credential should be scoped to correct service: 'appmesh'."},
		{"A signs B's node", signerA, "arn:aws:appmesh:us-east-1:222222222222:mesh/e2e/virtualNode/client", codes.PermissionDenied, denied},
		{"A signs B's node that does not exist", signerA, "arn:aws:appmesh:us-east-1:222222222222:mesh/nope/virtualNode/nope",
			codes.PermissionDenied, denied},
		{"A signs B's node, preview ARN", signerA, "arn:aws:appmesh-preview:eu-west-1:222222222222:mesh/e2e/virtualNode/client",
			codes.PermissionDenied, denied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := refusal(t, s.conn(t, tc.creds), tc.nodeID)
			st, _ := status.FromError(err)
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.contains) {
				t.Errorf("stream of %s = %v; want %v with %q", tc.nodeID, err, tc.code, tc.contains)
			}
			if tc.code == codes.PermissionDenied && st.Message() != denied {
				t.Errorf("refusal message %q; want exactly %q (it must not depend on the mesh)", st.Message(), denied)
			}
		})
	}
	got := s.xs.Stats()
	if d, want := got.Unauthenticated-before.Unauthenticated, uint64(5); d != want {
		t.Errorf("Stats().Unauthenticated grew by %d; want %d", d, want)
	}
	if d, want := got.PermissionDenied-before.PermissionDenied, uint64(3); d != want {
		t.Errorf("Stats().PermissionDenied grew by %d; want %d", d, want)
	}

	t.Run("node changed mid-stream", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		st, err := discovery.NewAggregatedDiscoveryServiceClient(ccA).StreamAggregatedResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := &core.Node{Id: "mesh/e2e/virtualNode/client", UserAgentName: "envoy"}
		if err := st.Send(&discovery.DiscoveryRequest{Node: n, TypeUrl: resource.ListenerType}); err != nil {
			t.Fatal(err)
		}
		lds, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		n = &core.Node{Id: "arn:aws:appmesh:us-east-1:222222222222:mesh/e2e/virtualNode/client", UserAgentName: "envoy"}
		_ = st.Send(&discovery.DiscoveryRequest{Node: n, TypeUrl: resource.ListenerType, VersionInfo: lds.VersionInfo, ResponseNonce: lds.Nonce})
		if r, err := st.Recv(); status.Code(err) != codes.PermissionDenied {
			t.Errorf("stream after switching to B's node: %v, %v; want PermissionDenied", r, err)
		}
	})

	t.Run("clients list", func(t *testing.T) {
		c := newADS(t, ccA, t.Context(), "mesh/e2e/virtualNode/client")
		c.send(resource.ListenerType, "", "")
		c.recv(resource.ListenerType)
		var found bool
		for _, cl := range clientsJSON(t, s.xs) {
			if cl.SigV4 == nil || cl.SigV4.AccessKey != "AKIAACCOUNTA" {
				continue
			}
			found = true
			if !cl.SigV4.Verified || cl.SigV4.Account != "111111111111" || cl.Key != "111111111111/us-east-1/mesh/e2e/virtualNode/client" ||
				cl.NodeID != "arn:aws:appmesh:us-east-1:111111111111:mesh/e2e/virtualNode/client" {
				t.Errorf("client signed by A = %+v, sigv4 %+v; want verified, account 111111111111, node and key in account A", cl, *cl.SigV4)
			}
		}
		if !found {
			t.Error("no client signed by AKIAACCOUNTA listed")
		}
	})
}

// TestSigV4OtherServices: the delta ADS service and the per-type services
// (streams and unary Fetch) are authenticated and bound the same way.
func TestSigV4OtherServices(t *testing.T) {
	s := newAuthStack(t, xds.Config{})
	plain, ccA := s.conn(t, nil), s.conn(t, signerA)
	nodeB := &core.Node{Id: "arn:aws:appmesh:us-east-1:222222222222:mesh/e2e/virtualNode/client", UserAgentName: "envoy"}
	short := &core.Node{Id: "mesh/e2e/virtualNode/client", UserAgentName: "envoy"}

	delta := func(cc *grpc.ClientConn, n *core.Node) (*discovery.DeltaDiscoveryResponse, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		st, err := discovery.NewAggregatedDiscoveryServiceClient(cc).DeltaAggregatedResources(ctx)
		if err != nil {
			return nil, err
		}
		_ = st.Send(&discovery.DeltaDiscoveryRequest{Node: n, TypeUrl: resource.ClusterType})
		return st.Recv()
	}
	lds := func(cc *grpc.ClientConn, n *core.Node) (*discovery.DiscoveryResponse, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		st, err := listenerservice.NewListenerDiscoveryServiceClient(cc).StreamListeners(ctx)
		if err != nil {
			return nil, err
		}
		_ = st.Send(&discovery.DiscoveryRequest{Node: n})
		return st.Recv()
	}
	fetch := func(cc *grpc.ClientConn, n *core.Node) (*discovery.DiscoveryResponse, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		return listenerservice.NewListenerDiscoveryServiceClient(cc).FetchListeners(ctx, &discovery.DiscoveryRequest{Node: n})
	}

	// Served: the signer's node.
	if r, err := delta(ccA, short); err != nil || len(r.Resources) == 0 {
		t.Errorf("signed delta stream of A's node = %v, %v; want clusters", r, err)
	}
	if r, err := lds(ccA, short); err != nil || len(r.Resources) == 0 {
		t.Errorf("signed LDS stream of A's node = %v, %v; want listeners", r, err)
	}
	// A Fetch is answered from a snapshot a stream of the node keeps.
	c := newADS(t, ccA, t.Context(), "mesh/e2e/virtualNode/client")
	c.send(resource.ListenerType, "", "")
	c.recv(resource.ListenerType)
	if r, err := fetch(ccA, short); err != nil || len(r.Resources) == 0 {
		t.Errorf("signed Fetch of A's node = %v, %v; want listeners", r, err)
	}

	for _, tc := range []struct {
		name string
		call func() error
		code codes.Code
	}{
		{"delta unsigned", func() error { _, err := delta(plain, short); return err }, codes.Unauthenticated},
		{"delta B's node", func() error { _, err := delta(ccA, nodeB); return err }, codes.PermissionDenied},
		{"LDS unsigned", func() error { _, err := lds(plain, short); return err }, codes.Unauthenticated},
		{"LDS B's node", func() error { _, err := lds(ccA, nodeB); return err }, codes.PermissionDenied},
		{"Fetch unsigned", func() error { _, err := fetch(plain, short); return err }, codes.Unauthenticated},
		{"Fetch B's node", func() error { _, err := fetch(ccA, nodeB); return err }, codes.PermissionDenied},
	} {
		if err := tc.call(); status.Code(err) != tc.code {
			t.Errorf("%s: %v; want %v", tc.name, err, tc.code)
		}
	}
}

// TestProxylessSigV4: a grpc-go application whose xDS client signs its
// calls (the channel_creds type of sigv4Channel, the snippet in
// docs/xds.md) is served its node in the signer's account.
func TestProxylessSigV4(t *testing.T) {
	s := newAuthStack(t, xds.Config{})
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAACCOUNTA")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-a")
	b, _ := json.Marshal(map[string]any{
		"xds_servers": []any{map[string]any{"server_uri": s.xs.Addr().String(),
			"channel_creds":   []any{map[string]any{"type": "mapmesh_sigv4", "config": map[string]string{"ca_certificate_file": s.caFile, "region": "us-east-1"}}},
			"server_features": []string{"xds_v3"}}},
		"node": map[string]any{"id": "mesh/e2e/virtualNode/client"},
	})
	r, err := grpcxds.NewXDSResolverWithConfigForTesting(b)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient("xds:///greeter.e2e.local", grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(r))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	s.a.eventually(cc, "proxyless client of A", only("a1"))
	if n := s.b.backend["b1"].count.Load(); n != 0 {
		t.Errorf("B's backend answered %d calls of A's client; want none", n)
	}
}

// The snippet of docs/xds.md ("A proxyless gRPC client, with SigV4"),
// verbatim from here to the end of the file.

func init() { xdsbootstrap.RegisterChannelCredentials(sigv4Channel{}) }

// sigv4Channel is a channel_creds type for gRPC's xDS bootstrap,
// "mapmesh_sigv4": TLS (trusting ca_certificate_file), with every call to
// the control plane signed by sigv4RPC for region, with the credentials
// of AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
type sigv4Channel struct{}

func (sigv4Channel) Name() string { return "mapmesh_sigv4" }

func (sigv4Channel) Build(config json.RawMessage) (credentials.Bundle, func(), error) {
	var cfg struct {
		CAFile string `json:"ca_certificate_file"`
		Region string `json:"region"`
	}
	if err := json.Unmarshal(config, &cfg); err != nil {
		return nil, nil, err
	}
	tc, err := credentials.NewClientTLSFromFile(cfg.CAFile, "")
	if err != nil {
		return nil, nil, err
	}
	creds := awscreds.NewStaticCredentialsProvider(os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN"))
	return sigv4Bundle{tc, sigv4RPC{creds: creds, region: cfg.Region}}, func() {}, nil
}

type sigv4Bundle struct {
	tls credentials.TransportCredentials
	rpc credentials.PerRPCCredentials
}

func (b sigv4Bundle) TransportCredentials() credentials.TransportCredentials { return b.tls }
func (b sigv4Bundle) PerRPCCredentials() credentials.PerRPCCredentials       { return b.rpc }
func (b sigv4Bundle) NewWithMode(string) (credentials.Bundle, error)         { return b, nil }

// sigv4RPC signs each call as App Mesh's Envoy does (the aws_iam call
// credentials): SigV4, signing name "appmesh", of POST
// https://<authority>/<service>/<method> with an empty payload, sent as
// the call's metadata.
type sigv4RPC struct {
	creds  aws.CredentialsProvider
	region string
}

func (c sigv4RPC) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	ri, _ := credentials.RequestInfoFromContext(ctx)
	// uri[0] is "https://<authority>/<service>"; Method is "/<service>/<method>".
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri[0]+ri.Method[strings.LastIndex(ri.Method, "/"):], nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	cr, err := c.creds.Retrieve(ctx)
	if err != nil {
		return nil, err
	}
	if err := v4.NewSigner().SignHTTP(ctx, cr, req, emptySHA256, "appmesh", c.region, time.Now()); err != nil {
		return nil, err
	}
	md := map[string]string{}
	for _, k := range []string{"Authorization", "X-Amz-Date", "X-Amz-Content-Sha256", "X-Amz-Security-Token"} {
		if v := req.Header.Get(k); v != "" {
			md[strings.ToLower(k)] = v
		}
	}
	return md, nil
}

func (sigv4RPC) RequireTransportSecurity() bool { return true }
