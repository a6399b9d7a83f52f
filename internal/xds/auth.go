package xds

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/mapmesh/mapmesh/internal/awsapi"
)

// Authentication of xDS clients (Config.Verifier): every call, stream or
// unary, carries a SigV4 signature in its metadata, the way App Mesh's
// Envoy image signs its calls to App Mesh's endpoint, and its node is bound
// to the account of the identity that signed.
//
// What Envoy signs. The image's bootstrap gives ADS google_grpc call
// credentials envoy.grpc_credentials.aws_iam (signing name "appmesh", or
// "appmesh-preview" with APPMESH_PREVIEW=1; the region of its environment).
// For each call the plugin is handed gRPC's service URL
// ("https://" + :authority without ":443" + "/" + service) and method name,
// and signs a synthetic request built from them
// (source/extensions/grpc_credentials/aws_iam/config.cc): POST, the host of
// the URL, path "/<service>/<method>", no query, no body. The signer
// (source/extensions/common/aws/signer_impl.cc, utility.cc) sets
// x-amz-content-sha256 to the SHA-256 of the empty string and signs that as
// the payload hash, adds x-amz-date (and x-amz-security-token for session
// credentials), and signs every non-pseudo header it holds plus "host" (the
// authority, without a port 80 or 443), sorted, with values trimmed. The
// non-pseudo headers become the call's metadata: authorization,
// x-amz-date, x-amz-content-sha256, x-amz-security-token.
//
// mapmesh rebuilds that request from the call (POST, path = the full
// method, Host = :authority without port 80 or 443, headers = the
// metadata) and verifies it with awsapi's Verifier, the one the HTTP API
// uses, with an empty body. The check is made once, when the call starts:
// a stream outlives its signature's 15 minutes, as it does on AWS.

// Signing names App Mesh's Envoy agent signs xDS calls with.
const (
	signingName        = "appmesh"
	previewSigningName = "appmesh-preview" // APPMESH_PREVIEW=1
)

// authenticate verifies the SigV4 signature of the call in ctx, whose full
// method is method, and returns its caller: the signer's account, the
// scope's region. It fails with codes.Unauthenticated, and AWS's error
// code and message, as App Mesh's endpoint refuses such a call.
func (s *Server) authenticate(ctx context.Context, method string) (awsapi.Caller, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	r := signedRequest(md, method)
	key, _, svc, _ := credentialScope(r.Header.Get("Authorization"))
	service := signingName
	if svc == previewSigningName {
		service = previewSigningName
	}
	id, region, aerr := s.cfg.Verifier.Verify(r, nil, service)
	if aerr != nil {
		s.stats.unauthenticated.Add(1)
		s.refusals.log(ctx, s.log, "xds: call refused: not authenticated", "method", method, "peer", peerOf(ctx),
			"code", aerr.Kind.Code(), "message", aerr.Message, "access_key", key)
		return awsapi.Caller{}, status.Error(codes.Unauthenticated, aerr.Kind.Code()+": "+aerr.Message)
	}
	return awsapi.Caller{Account: id.Account, Region: region, AccessKey: id.AccessKeyID, Verified: true}, nil
}

// signedRequest rebuilds the request a client's call credentials signed:
// POST to the call's full method, the call's authority as Host, and its
// metadata as headers.
func signedRequest(md metadata.MD, method string) *http.Request {
	h := make(http.Header, len(md))
	for k, vs := range md {
		if strings.HasPrefix(k, ":") {
			continue
		}
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	var authority string
	if a := md.Get(":authority"); len(a) > 0 {
		authority = a[0]
	}
	return &http.Request{Method: http.MethodPost, URL: &url.URL{Path: method}, Host: signedHost(authority), Header: h}
}

// signedHost is the host a client signed for authority: without a port 443
// (gRPC leaves it out of the service URL it hands call credentials) or 80
// (Envoy's signer leaves out both default ports).
func signedHost(authority string) string {
	for _, p := range []string{":443", ":80"} {
		if h, ok := strings.CutSuffix(authority, p); ok {
			return h
		}
	}
	return authority
}

// credentialScope reads the access key, region and service of the
// credential scope of an Authorization header
// (AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, ...).
func credentialScope(auth string) (accessKey, region, service string, ok bool) {
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256") {
		return "", "", "", false
	}
	_, rest, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return "", "", "", false
	}
	if i := strings.IndexAny(rest, ", "); i >= 0 {
		rest = rest[:i]
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 5 {
		return "", "", "", false
	}
	return parts[0], parts[2], parts[3], true
}

// bindNode makes node n the caller's: a node id naming another account
// (an ARN, or a short form whose mesh is M@<owner>) is refused with
// codes.PermissionDenied, whether or not that account has such a mesh, and
// a short-form id
// (mesh/<mesh>/<kind>/<name>) is completed with the caller's account and
// region, rewritten as the ARN it then names. The snapshot key, and so the
// configuration served, comes from the id (nodeKey), so the node is only
// ever served the caller's meshes. An id that names nothing is left as it
// is: it gets the empty configuration. n is the request's node, kept by the
// xDS server for the rest of the stream, so later requests that omit the
// node reuse the rewritten one; requests that carry one are bound again.
func (s *Server) bindNode(ctx context.Context, c awsapi.Caller, n *core.Node) error {
	if n == nil {
		return nil
	}
	id := n.GetId()
	if strings.HasPrefix(id, "arn:") {
		nid, ok := ParseNodeID(id, "", "")
		if !ok || nid.Account == c.Account {
			return nil
		}
		s.stats.denied.Add(1)
		s.refusals.log(ctx, s.log, "xds: call refused: node of another account", "node", id, "account", c.Account,
			"access_key", c.AccessKey, "peer", peerOf(ctx))
		return status.Error(codes.PermissionDenied, "AccessDeniedException: the node id names an account other than the one the call is signed for")
	}
	nid, ok := ParseNodeID(id, c.Account, c.Region)
	if !ok {
		return nil
	}
	if nid.Account != c.Account {
		// mesh/M@<owner>/...: a mesh of another account.
		s.stats.denied.Add(1)
		s.refusals.log(ctx, s.log, "xds: call refused: node of another account", "node", id, "account", c.Account,
			"access_key", c.AccessKey, "peer", peerOf(ctx))
		return status.Error(codes.PermissionDenied, "AccessDeniedException: the node id names an account other than the one the call is signed for")
	}
	n.Id = nodeARN(nid)
	return nil
}

// nodeARN returns the ARN of a node id.
func nodeARN(id NodeID) string {
	return "arn:aws:appmesh:" + id.Region + ":" + id.Account + ":" + id.String()
}

// bindStream binds node n of a request on stream id to the stream's caller
// (see bindNode). Without a Verifier it does nothing.
func (s *Server) bindStream(id int64, n *core.Node) error {
	if s.cfg.Verifier == nil {
		return nil
	}
	v, ok := s.callers.Load(id)
	if !ok {
		// Every stream passes streamAuth, which gives its context a
		// caller that StreamOpenFunc records.
		return status.Error(codes.Unauthenticated, "MissingAuthenticationTokenException: Missing Authentication Token")
	}
	sc := v.(streamCaller)
	return s.bindNode(sc.ctx, sc.caller, n)
}

// streamCaller is the caller of an open stream, and the stream's context
// (for logs).
type streamCaller struct {
	ctx    context.Context
	caller awsapi.Caller
}

// streamAuth is the gRPC stream interceptor of a server with a Verifier:
// it authenticates each stream as it opens, before the xDS server sees it,
// and hands the handler a context with the caller.
func (s *Server) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	c, err := s.authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return handler(srv, callerStream{ss, awsapi.WithCaller(ss.Context(), c)})
}

// unaryAuth is streamAuth for unary calls (the per-type services' Fetch
// methods), whose node FetchRequestFunc binds.
func (s *Server) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	c, err := s.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(awsapi.WithCaller(ctx, c), req)
}

// callerStream is a server stream whose context carries the caller.
type callerStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (c callerStream) Context() context.Context { return c.ctx }

func peerOf(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// refusalLog logs refused clients at warn, refusalBurst at once and then
// one a second, so that a misconfigured fleet or a scan cannot flood the
// log; the lines held back go to debug, and the next warn line says how
// many there were. Every refusal is counted in Stats whatever is logged.
type refusalLog struct {
	lim        *rate.Limiter
	suppressed atomic.Int64
}

const refusalBurst = 10

func newRefusalLog() *refusalLog {
	return &refusalLog{lim: rate.NewLimiter(rate.Every(time.Second), refusalBurst)}
}

func (l *refusalLog) log(ctx context.Context, log *slog.Logger, msg string, args ...any) {
	if !l.lim.Allow() {
		l.suppressed.Add(1)
		log.Log(ctx, slog.LevelDebug, msg, args...)
		return
	}
	if n := l.suppressed.Swap(0); n > 0 {
		args = append(args, "suppressed_since_last", n)
	}
	log.Log(ctx, slog.LevelWarn, msg, args...)
}

// handshakeCounter counts and logs the TLS handshakes the xDS port refuses
// (with a client CA: clients without a certificate the CA signed).
type handshakeCounter struct {
	credentials.TransportCredentials
	s *Server
}

func (h handshakeCounter) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := h.TransportCredentials.ServerHandshake(c)
	if err != nil {
		h.s.stats.handshakes.Add(1)
		h.s.refusals.log(h.s.ctx, h.s.log, "xds: connection refused: TLS handshake failed", "peer", c.RemoteAddr().String(), "err", err)
	}
	return conn, info, err
}

func (h handshakeCounter) Clone() credentials.TransportCredentials {
	return handshakeCounter{h.TransportCredentials.Clone(), h.s}
}
