package xds

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/sotw/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/mapmesh/mapmesh/internal/appmesh"
	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
)

// AppMesh is the App Mesh read model the control plane uses
// (*appmesh.Backend).
type AppMesh interface {
	Subscribe(fn func(rev int64, changes []appmesh.Change))
	Mesh(account, region, name string) (appmesh.MeshContents, bool)
}

var _ AppMesh = (*appmesh.Backend)(nil)

// Config configures a Server.
type Config struct {
	// Account and Region complete node ids of the short form
	// mesh/<mesh>/<kind>/<name> (an ARN names its own).
	Account, Region string
	// TLSCert and TLSKey, if set, are PEM files: ADS is then served over
	// TLS (App Mesh's Envoy image connects with TLS).
	TLSCert, TLSKey string
	// ClientCA, if set, is a PEM file of CA certificates: the xDS port
	// then requires every client to present a certificate one of them
	// signed (mutual TLS). It needs TLSCert and TLSKey.
	ClientCA string
	// Verifier, if set (the server's --auth sigv4), authenticates every
	// xDS call by the SigV4 signature in its metadata, as App Mesh's Envoy
	// image signs them, and binds its node to the signer's account: a
	// short-form node id takes the signer's account and region (not
	// Account and Region), and a node ARN of another account is refused
	// (see auth.go). Nil: calls are not authenticated.
	Verifier *awsapi.Verifier
	Logger   *slog.Logger
}

// Server is the xDS control plane: it follows the App Mesh and Cloud Map
// views, keeps a snapshot per connected node up to date, and serves ADS.
type Server struct {
	am      AppMesh
	cm      CloudMap
	cfg     Config
	log     *slog.Logger
	envoy   cache.SnapshotCache // ADS-ordered, for Envoy
	grpc    cache.SnapshotCache // plain, for gRPC's xDS client
	clients *clients
	xds     serverv3.Server
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	kick    chan struct{}

	pendMu    sync.Mutex // guards the pending fields
	amPending []appmesh.Change
	cmPending []cloudmap.Change
	closed    []string // node keys whose last stream closed
	rev       int64    // the newest revision either view reported

	// active holds the keys of nodes, for the lock-free check of every
	// request (written with buildMu held).
	active  sync.Map
	buildMu sync.Mutex // guards the fields below, and orders builds
	nodes   map[string]*nodeState
	meshes  map[meshKey]*Mesh // nil value: no such mesh
	cmParts map[partKey]*cmPartition
	timer   *time.Timer

	srvMu sync.Mutex // guards gs and ln
	gs    *grpc.Server
	ln    net.Listener

	// callers holds the caller (streamCaller) of each open stream, by
	// stream ID, when there is a Verifier.
	callers  sync.Map
	refusals *refusalLog
	stats    counters
}

// counters are the process-wide counts Stats reports.
type counters struct {
	streams                atomic.Int64
	responses, acks, nacks atomic.Uint64
	unauthenticated        atomic.Uint64
	denied                 atomic.Uint64
	handshakes             atomic.Uint64
}

// Stats are the xDS server's counters since it started, for a metrics
// exporter. They count state-of-the-world and delta streams alike.
type Stats struct {
	// Streams is the number of streams open now.
	Streams int64
	// Responses is the number of responses sent.
	Responses uint64
	// ACKs and NACKs are the requests that accepted a response and those
	// that rejected one (ErrorDetail set).
	ACKs, NACKs uint64
	// Unauthenticated is the number of calls (streams, and unary Fetch
	// calls) refused for their signature (Config.Verifier): missing,
	// incomplete, of an unknown key, wrong or expired.
	Unauthenticated uint64
	// PermissionDenied is the number of streams and calls ended because
	// their node id named an account other than the signer's.
	PermissionDenied uint64
	// TLSHandshakeFailures is the number of connections whose TLS
	// handshake failed: with Config.ClientCA, clients without a
	// certificate the CA signed.
	TLSHandshakeFailures uint64
}

// Stats returns the server's counters. It is cheap and safe to call from
// any goroutine.
func (s *Server) Stats() Stats {
	return Stats{Streams: s.stats.streams.Load(), Responses: s.stats.responses.Load(),
		ACKs: s.stats.acks.Load(), NACKs: s.stats.nacks.Load(), Unauthenticated: s.stats.unauthenticated.Load(),
		PermissionDenied: s.stats.denied.Load(), TLSHandshakeFailures: s.stats.handshakes.Load()}
}

type meshKey struct{ account, region, mesh string }

// nodeState is a node key with at least one stream: its last build and the
// version of each resource type.
type nodeState struct {
	key       string
	id        NodeID
	known     bool // the id names an App Mesh resource
	proxyless bool
	res       *Resources
	cmDeps    map[string]bool
	healthAt  int64
	versions  [4]string
	warned    bool
}

// New returns a Server following am and cm. It subscribes to both before
// it reads anything, so it misses no change. Call Listen to serve, Close
// to stop.
func New(am AppMesh, cm CloudMap, cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("xds: a TLS certificate needs its key, and a key its certificate")
	}
	if cfg.ClientCA != "" && cfg.TLSCert == "" {
		return nil, errors.New("xds: a client CA (mutual TLS) needs a TLS certificate and key")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{am: am, cm: cm, cfg: cfg, log: cfg.Logger, clients: newClients(), ctx: ctx, cancel: cancel,
		done: make(chan struct{}), kick: make(chan struct{}, 1), nodes: map[string]*nodeState{}, meshes: map[meshKey]*Mesh{},
		cmParts: map[partKey]*cmPartition{}, refusals: newRefusalLog()}
	if cfg.Verifier != nil && cfg.TLSCert == "" {
		// gRPC C++ sends call credentials on secure channels only.
		s.log.Warn("xds: SigV4 without TLS: Envoy (gRPC C++) does not send its aws_iam call credentials over plaintext, so its streams will be refused; serve TLS (--xds-tls-cert, --xds-tls-key)")
	}
	hash := nodeHash{s}
	lg := cacheLogger{s.log}
	s.envoy = cache.NewSnapshotCache(true, hash, lg)
	s.grpc = cache.NewSnapshotCache(false, hash, lg)
	mux := &cache.MuxCache{
		Classify:      func(r *cache.Request) string { return classify(r.GetNode()) },
		ClassifyDelta: func(r *cache.DeltaRequest) string { return classify(r.GetNode()) },
		Caches:        map[string]cache.Cache{"envoy": nackCache{s.envoy, hash}, "grpc": nackCache{s.grpc, hash}},
	}
	s.xds = serverv3.NewServer(ctx, mux, s.callbacks(), sotw.WithOrderedADS(), sotw.WithLogger(lg))
	am.Subscribe(s.onAppMesh)
	cm.Subscribe(s.onCloudMap)
	go s.run()
	return s, nil
}

func classify(n *core.Node) string {
	if isProxyless(n) {
		return "grpc"
	}
	return "envoy"
}

// keepaliveMinTime is the shortest interval between a client's keepalive
// pings that the xDS port tolerates. App Mesh's Envoy bootstrap pings every
// 10 s (grpc.keepalive_time_ms 10000 on its ADS channel); grpc-go counts a
// ping that comes sooner than this after the previous one (a BDP ping
// included) as a strike and ends the connection with GOAWAY too_many_pings
// after three, so the floor sits well under the image's interval.
const keepaliveMinTime = 5 * time.Second

// Listen binds addr and serves ADS on it until Close.
func (s *Server) Listen(addr string) error {
	var opts []grpc.ServerOption
	if s.cfg.TLSCert != "" {
		tc, err := s.tlsConfig()
		if err != nil {
			return err
		}
		opts = append(opts, grpc.Creds(handshakeCounter{credentials.NewTLS(tc), s}))
	}
	if s.cfg.Verifier != nil {
		opts = append(opts, grpc.ChainStreamInterceptor(s.streamAuth), grpc.ChainUnaryInterceptor(s.unaryAuth))
	}
	opts = append(opts,
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: keepaliveMinTime, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.MaxConcurrentStreams(1<<16))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("xds: %w", err)
	}
	gs := grpc.NewServer(opts...)
	discovery.RegisterAggregatedDiscoveryServiceServer(gs, s.xds)
	listenerservice.RegisterListenerDiscoveryServiceServer(gs, s.xds)
	routeservice.RegisterRouteDiscoveryServiceServer(gs, s.xds)
	clusterservice.RegisterClusterDiscoveryServiceServer(gs, s.xds)
	endpointservice.RegisterEndpointDiscoveryServiceServer(gs, s.xds)
	s.srvMu.Lock()
	s.gs, s.ln = gs, ln
	s.srvMu.Unlock()
	go func() {
		if err := gs.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.log.Error("xds: serve", "err", err)
		}
	}()
	return nil
}

// tlsConfig returns the TLS configuration of the xDS port: its
// certificate, and with a client CA, client certificates required and
// verified.
func (s *Server) tlsConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("xds: TLS certificate: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if s.cfg.ClientCA != "" {
		pem, err := os.ReadFile(s.cfg.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("xds: client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("xds: client CA %s: no PEM certificate in it", s.cfg.ClientCA)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// Addr returns the address ADS is served on, or nil before Listen.
func (s *Server) Addr() net.Addr {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close ends every stream and stops the control plane. It is safe to call
// twice.
func (s *Server) Close() error {
	s.srvMu.Lock()
	gs := s.gs
	s.gs = nil
	s.srvMu.Unlock()
	if gs != nil {
		gs.Stop()
	}
	s.cancel()
	<-s.done
	return nil
}

// Clients returns the connected xDS streams.
func (s *Server) Clients() []Client { return s.clients.list() }

// WaitAcked waits until n streams have ACKed a version of the resource
// type typeURL at least minVersion (a store revision), or ctx ends.
func (s *Server) WaitAcked(ctx context.Context, typeURL string, minVersion int64, n int) error {
	w, cancel := s.clients.wait(typeURL, minVersion, n)
	defer cancel()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		s.clients.mu.Lock()
		got := w.got
		s.clients.mu.Unlock()
		return fmt.Errorf("xds: %d of %d clients acked %s version %d or later: %w", got, n, typeNames[typeURL], minVersion, ctx.Err())
	}
}

// nodeHash keys snapshots by node (see keyOf).
type nodeHash struct{ s *Server }

func (h nodeHash) ID(n *core.Node) string {
	k, _, _ := h.s.nodeKey(n)
	return k
}

// nodeKey returns a node's snapshot key and what it names.
func (s *Server) nodeKey(n *core.Node) (string, NodeID, bool) {
	id, ok := ParseNodeID(n.GetId(), s.cfg.Account, s.cfg.Region)
	proxyless := isProxyless(n)
	if !ok {
		if proxyless {
			return unknownProxylessKey, id, false
		}
		return unknownKey, id, false
	}
	return keyOf(id, proxyless), id, true
}

// deltaID is the ID mapmesh gives delta stream id. go-control-plane
// numbers state-of-the-world and delta streams with two counters, so the
// first stream of each is stream 1: delta streams are told apart by a
// negative ID, state-of-the-world ones keep theirs.
func deltaID(id int64) int64 { return -id }

func (s *Server) callbacks() serverv3.Callbacks {
	return serverv3.CallbackFuncs{
		StreamOpenFunc: func(ctx context.Context, id int64, _ string) error {
			s.streamOpen(ctx, id, false)
			return nil
		},
		DeltaStreamOpenFunc: func(ctx context.Context, id int64, _ string) error {
			s.streamOpen(ctx, deltaID(id), true)
			return nil
		},
		StreamClosedFunc:      func(id int64, _ *core.Node) { s.streamClosed(id) },
		DeltaStreamClosedFunc: func(id int64, _ *core.Node) { s.streamClosed(deltaID(id)) },
		StreamRequestFunc: func(id int64, r *discovery.DiscoveryRequest) error {
			if err := s.bindStream(id, r.GetNode()); err != nil {
				return err
			}
			s.request(id, r.GetNode(), r.TypeUrl, r.VersionInfo, r.ResponseNonce, r.ResourceNames, r.ErrorDetail != nil, r.ErrorDetail.GetMessage())
			return nil
		},
		// A unary Fetch is answered from the snapshot of its node, if a
		// stream of that node has one: bind it as a stream's.
		FetchRequestFunc: func(ctx context.Context, r *discovery.DiscoveryRequest) error {
			if s.cfg.Verifier == nil {
				return nil
			}
			c, ok := awsapi.CallerFrom(ctx)
			if !ok {
				return status.Error(codes.Unauthenticated, "MissingAuthenticationTokenException: Missing Authentication Token")
			}
			return s.bindNode(ctx, c, r.GetNode())
		},
		StreamResponseFunc: func(_ context.Context, id int64, _ *discovery.DiscoveryRequest, r *discovery.DiscoveryResponse) {
			s.stats.responses.Add(1)
			s.clients.response(id, r.TypeUrl, r.VersionInfo, r.Nonce)
		},
		StreamDeltaRequestFunc: func(id int64, r *discovery.DeltaDiscoveryRequest) error {
			// Called before the delta server keeps the request's node
			// for the stream, so the kept node is the bound one.
			if err := s.bindStream(deltaID(id), r.GetNode()); err != nil {
				return err
			}
			s.request(deltaID(id), r.GetNode(), r.TypeUrl, "", r.ResponseNonce, r.ResourceNamesSubscribe, r.ErrorDetail != nil, r.ErrorDetail.GetMessage())
			return nil
		},
		StreamDeltaResponseFunc: func(id int64, _ *discovery.DeltaDiscoveryRequest, r *discovery.DeltaDiscoveryResponse) {
			s.stats.responses.Add(1)
			s.clients.response(deltaID(id), r.TypeUrl, r.SystemVersionInfo, r.Nonce)
		},
	}
}

// request records a request of stream id, counts it if it ACKs or NACKs
// (nack, with the client's message) a response, and makes sure its node has
// a snapshot. A NACK is logged at warn the first time a node rejects a
// version of a type, at debug after that: a client may repeat its NACK on
// every request.
func (s *Server) request(id int64, node *core.Node, typeURL, version, nonce string, names []string, nack bool, msg string) {
	var errMsg *string
	if nack {
		errMsg = &msg
		s.stats.nacks.Add(1)
	}
	key, nid, known := s.nodeKey(node)
	r := s.clients.request(id, node, key, typeURL, version, nonce, names, errMsg)
	switch {
	case r.acked:
		s.stats.acks.Add(1)
	case errMsg != nil:
		level := slog.LevelDebug
		if r.firstNACK {
			level = slog.LevelWarn
		}
		s.log.Log(s.ctx, level, "xds: client rejected configuration (NACK)", "node", node.GetId(), "key", key,
			"type", typeURL, "version", r.rejected, "accepted", version, "error", *errMsg)
	}
	s.ensure(key, nid, known, isProxyless(node), node.GetId())
}

// streamOpen records a new stream, and with a Verifier its caller (put in
// the stream's context by streamAuth).
func (s *Server) streamOpen(ctx context.Context, id int64, delta bool) {
	s.stats.streams.Add(1)
	c, verified := awsapi.CallerFrom(ctx)
	if verified {
		s.callers.Store(id, streamCaller{ctx, c})
	}
	s.clients.open(ctx, id, delta, c)
}

func (s *Server) streamClosed(id int64) {
	s.stats.streams.Add(-1)
	s.callers.Delete(id)
	key, left := s.clients.close(id)
	if key == "" || left > 0 {
		return
	}
	s.pendMu.Lock()
	s.closed = append(s.closed, key)
	s.pendMu.Unlock()
	s.wake()
}

func (s *Server) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// cacheLogger sends go-control-plane's log to slog; its routine messages
// (watches opened, ADS responses held back for ordering) are debug.
type cacheLogger struct{ l *slog.Logger }

func (c cacheLogger) Debugf(f string, a ...any) { c.l.Debug("xds: " + fmt.Sprintf(f, a...)) }
func (c cacheLogger) Infof(f string, a ...any)  { c.l.Debug("xds: " + fmt.Sprintf(f, a...)) }
func (c cacheLogger) Warnf(f string, a ...any)  { c.l.Debug("xds: " + fmt.Sprintf(f, a...)) }
func (c cacheLogger) Errorf(f string, a ...any) { c.l.Warn("xds: " + fmt.Sprintf(f, a...)) }
