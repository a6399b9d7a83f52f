package xds_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/mapmesh/mapmesh/internal/xds"
)

// nackClient is an ADS stream answered by its own goroutine: each response
// is ACKed or NACKed at once, as accept says, and its version recorded.
type nackClient struct {
	t    testing.TB
	node *core.Node
	// accept says whether to ACK r, the n+1st response of its type.
	accept func(r *discovery.DiscoveryResponse, n int) bool
	stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns

	sendMu sync.Mutex // serialises Send

	mu       sync.Mutex          // guards the fields below
	names    map[string][]string // resource names subscribed, by type
	accepted map[string]string   // last version ACKed, by type
	got      map[string][]string // versions received, by type
}

// newNACKClient opens an ADS stream on conn for node nodeID. The stream
// ends at close, or when the test does.
func newNACKClient(t testing.TB, conn *grpc.ClientConn, nodeID, userAgent string, accept func(*discovery.DiscoveryResponse, int) bool) *nackClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := &nackClient{t: t, node: &core.Node{Id: nodeID, UserAgentName: userAgent}, accept: accept, stream: st, cancel: cancel,
		done: make(chan struct{}), names: map[string][]string{}, accepted: map[string]string{}, got: map[string][]string{}}
	go c.run()
	t.Cleanup(c.close)
	return c
}

func rejectAll(*discovery.DiscoveryResponse, int) bool { return false }

// run answers every response until the stream ends.
func (c *nackClient) run() {
	defer close(c.done)
	for {
		r, err := c.stream.Recv()
		if err != nil {
			return
		}
		c.mu.Lock()
		n := len(c.got[r.TypeUrl])
		c.got[r.TypeUrl] = append(c.got[r.TypeUrl], r.VersionInfo)
		req := &discovery.DiscoveryRequest{Node: c.node, TypeUrl: r.TypeUrl, ResponseNonce: r.Nonce, ResourceNames: c.names[r.TypeUrl]}
		if c.accept(r, n) {
			c.accepted[r.TypeUrl] = r.VersionInfo
		} else {
			req.ErrorDetail = status.New(codes.InvalidArgument, "nack test: rejected").Proto()
		}
		// A NACK carries the last version accepted, as Envoy's does.
		req.VersionInfo = c.accepted[r.TypeUrl]
		c.mu.Unlock()
		if c.send(req) != nil {
			return
		}
	}
}

func (c *nackClient) send(r *discovery.DiscoveryRequest) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	return c.stream.Send(r)
}

// close ends the stream and waits for run; it is safe to call twice.
func (c *nackClient) close() {
	c.cancel()
	<-c.done
}

// subscribe sends the first request of a type (no names: wildcard).
func (c *nackClient) subscribe(typeURL string, names ...string) {
	c.t.Helper()
	c.mu.Lock()
	c.names[typeURL] = names
	c.mu.Unlock()
	if err := c.send(&discovery.DiscoveryRequest{Node: c.node, TypeUrl: typeURL, ResourceNames: names}); err != nil {
		c.t.Fatal(err)
	}
}

// counts returns how many responses of each type came.
func (c *nackClient) counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for typ, vs := range c.got {
		out[typ] = len(vs)
	}
	return out
}

// versions returns the versions of typeURL received, in order.
func (c *nackClient) versions(typeURL string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got[typeURL])
}

// waitFor waits up to 10 s for ok(counts).
func (c *nackClient) waitFor(what string, ok func(map[string]int) bool) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok(c.counts()) {
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: no such responses within 10s; got %v", what, byName(c.counts()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitUntil waits up to 10 s for ok.
func waitUntil(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// nackRecorder is a slog.Handler that keeps the levels of the server's
// NACK log lines (and drops attributes and everything else).
type nackRecorder struct {
	mu     sync.Mutex // guards levels
	levels []slog.Level
}

func (h *nackRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *nackRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *nackRecorder) WithGroup(string) slog.Handler            { return h }
func (h *nackRecorder) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "(NACK)") {
		h.mu.Lock()
		h.levels = append(h.levels, r.Level)
		h.mu.Unlock()
	}
	return nil
}

// count returns how many NACK lines were logged at warn and below it.
func (h *nackRecorder) count() (warn, below int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.levels {
		if l >= slog.LevelWarn {
			warn++
		} else {
			below++
		}
	}
	return warn, below
}

// clientsJSON returns GET /_mapmesh/xds/clients.
func clientsJSON(t testing.TB, xs *xds.Server) []xds.Client {
	t.Helper()
	rec := httptest.NewRecorder()
	xds.ClientsHandler(xs).ServeHTTP(rec, httptest.NewRequest("GET", "/_mapmesh/xds/clients", nil))
	var body clientsBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("GET /_mapmesh/xds/clients: %v", err)
	}
	return body.Clients
}

type subscription struct {
	typeURL string
	names   []string // none: wildcard
}

var (
	greeterClusters = []string{"cds_egress_e2e_greeter-v1_grpc_50051", "cds_egress_e2e_greeter-v2_grpc_50051"}
	// typeNames are the names /_mapmesh/xds/clients gives the types.
	typeNames = map[string]string{resource.ListenerType: "listeners", resource.RouteType: "routes",
		resource.ClusterType: "clusters", resource.EndpointType: "endpoints"}
	// envoySubs and proxylessSubs are what Envoy and grpc-go ask of the
	// client node of the greeter mesh.
	envoySubs = []subscription{{resource.ListenerType, nil}, {resource.ClusterType, nil},
		{resource.RouteType, []string{"rds_egress_http_50051"}}, {resource.EndpointType, greeterClusters}}
	proxylessSubs = []subscription{{resource.ListenerType, []string{"greeter.e2e.local"}}, {resource.RouteType, []string{"rds_egress_http_50051"}},
		{resource.ClusterType, greeterClusters}, {resource.EndpointType, greeterClusters}}
)

// byName keys counts by the types' short names.
func byName(counts map[string]int) map[string]int {
	out := map[string]int{}
	for typ, n := range counts {
		out[typeNames[typ]] = n
	}
	return out
}

// TestNACKEverything: a client that rejects every response is sent each
// version of each type once, not again and again; a change of its
// configuration is sent once; and the NACKs are counted, shown and logged
// once per version.
func TestNACKEverything(t *testing.T) {
	for _, tc := range []struct {
		name, nodeID, userAgent string
		subs                    []subscription
		// changes are made to the configuration when set.
		changes bool
	}{
		{"envoy", "mesh/e2e/virtualNode/client", "envoy", envoySubs, true},
		{"proxyless", "mesh/e2e/virtualNode/client", "gRPC Go", proxylessSubs, true},
		// Empty configuration: no resources to tell the versions by.
		{"unknown node", "not-an-app-mesh-node", "envoy", []subscription{{resource.ListenerType, nil}, {resource.ClusterType, nil}}, false},
		{"unknown proxyless node", "not-an-app-mesh-node", "gRPC Go", proxylessSubs, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each case has a stack of its own; mostly quiet waits
			logs := &nackRecorder{}
			m, xs := stack(t, slog.New(logs))
			m.register("b1", "v1")
			m.register("b2", "v2")
			m.greeterMesh(80, 20)
			m.sync()
			conn, err := grpc.NewClient(m.xdsAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			m.check(err)
			defer conn.Close()
			c := newNACKClient(t, conn, tc.nodeID, tc.userAgent, rejectAll)
			for _, s := range tc.subs {
				c.subscribe(s.typeURL, s.names...)
			}
			c.waitFor("a response of every type", func(got map[string]int) bool {
				return !slices.ContainsFunc(tc.subs, func(s subscription) bool { return got[s.typeURL] == 0 })
			})
			const hold = 2 * time.Second
			time.Sleep(hold)
			got := c.counts()
			t.Logf("responses to a client NACKing everything in the %v after the first: %v", hold, byName(got))
			for _, s := range tc.subs {
				if n := got[s.typeURL]; n > 2 {
					t.Errorf("a client NACKing everything got %d %s responses; want at most 2", n, typeNames[s.typeURL])
				}
			}
			if t.Failed() {
				t.FailNow()
			}

			changes := []struct {
				what, typeURL string
				do            func()
			}{
				{"UpdateRoute", resource.RouteType, func() { m.updateRoute(50, 50) }},
				{"RegisterInstance", resource.EndpointType, func() { m.register("b3", "v1") }},
			}
			if !tc.changes {
				changes = nil
			}
			for _, ch := range changes {
				before := c.counts()
				old := c.versions(ch.typeURL)
				ch.do()
				c.waitFor(ch.what, func(got map[string]int) bool { return got[ch.typeURL] > before[ch.typeURL] })
				time.Sleep(time.Second)
				after := c.counts()
				for _, s := range tc.subs {
					want := before[s.typeURL]
					if s.typeURL == ch.typeURL {
						want++
					}
					if after[s.typeURL] != want {
						t.Errorf("after %s: %d %s responses; want %d", ch.what, after[s.typeURL], typeNames[s.typeURL], want)
					}
				}
				if vs := c.versions(ch.typeURL); slices.Contains(old, vs[len(vs)-1]) {
					t.Errorf("after %s: %s version %s; want a new one (had %v)", ch.what, typeNames[ch.typeURL], vs[len(vs)-1], old)
				}
			}

			got = c.counts()
			total := 0
			for _, n := range got {
				total += n
			}
			waitUntil(t, "the server counted every NACK", func() bool { return xs.Stats().NACKs >= uint64(total) })
			if st, want := xs.Stats(), (xds.Stats{Streams: 1, Responses: uint64(total), NACKs: uint64(total)}); st != want {
				t.Errorf("Stats() = %+v; want %+v", st, want)
			}

			cls := clientsJSON(t, xs)
			if len(cls) != 1 {
				t.Fatalf("GET /_mapmesh/xds/clients: %d clients; want 1", len(cls))
			}
			if cls[0].NACKs != total {
				t.Errorf("client's nacks = %d; want %d", cls[0].NACKs, total)
			}
			distinct := 0
			for _, s := range tc.subs {
				rs := cls[0].Resources[typeNames[s.typeURL]]
				vs := c.versions(s.typeURL)
				if rs.NACKs != got[s.typeURL] || rs.Acked != "" || rs.LastNACK == nil || rs.LastNACK.Version != vs[len(vs)-1] || rs.Sent != vs[len(vs)-1] {
					t.Errorf("client's %s = %+v; want %d NACKs, the last of version %s, none ACKed", typeNames[s.typeURL], rs, got[s.typeURL], vs[len(vs)-1])
				}
				distinct += len(slices.Compact(vs))
			}

			warn, below := logs.count()
			if warn != distinct || below != total-distinct {
				t.Errorf("NACK log lines: %d at warn, %d below; want %d at warn (one per type and version), %d below", warn, below, distinct, total-distinct)
			}
		})
	}
}

// TestNACKThenACK: a client that rejects the first version of every type
// and accepts the later ones is not sent the rejected versions again, is
// served each new version as usual, and is served in full again when it
// reconnects.
func TestNACKThenACK(t *testing.T) {
	for _, tc := range []struct {
		name, userAgent string
		subs            []subscription
	}{
		{"envoy", "envoy", envoySubs},
		{"proxyless", "gRPC Go", proxylessSubs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, xs := stack(t, nil)
			m.register("b1", "v1")
			m.register("b2", "v2")
			m.greeterMesh(80, 20)
			m.sync()
			conn, err := grpc.NewClient(m.xdsAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			m.check(err)
			defer conn.Close()
			const node = "mesh/e2e/virtualNode/client"
			c := newNACKClient(t, conn, node, tc.userAgent, func(_ *discovery.DiscoveryResponse, n int) bool { return n > 0 })
			every := func(n int) func(map[string]int) bool {
				return func(got map[string]int) bool {
					return !slices.ContainsFunc(tc.subs, func(s subscription) bool { return got[s.typeURL] < n })
				}
			}
			for _, s := range tc.subs {
				c.subscribe(s.typeURL, s.names...)
			}
			c.waitFor("a response of every type", every(1))
			time.Sleep(500 * time.Millisecond)
			first := c.counts()
			for _, s := range tc.subs {
				if first[s.typeURL] != 1 {
					t.Errorf("%s responses after a NACK: %d; want 1 (the rejected version is not sent again)", typeNames[s.typeURL], first[s.typeURL])
				}
			}
			rejected := c.versions(resource.RouteType)[0]

			// Two route changes: each is sent once and ACKed.
			for i, w := range []int32{50, 20} {
				m.updateRoute(w, 100-w)
				c.waitFor("UpdateRoute", func(got map[string]int) bool { return got[resource.RouteType] == 2+i })
				vs := c.versions(resource.RouteType)
				v, err := strconv.ParseInt(vs[len(vs)-1], 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err = xs.WaitAcked(ctx, resource.RouteType, v, 1)
				cancel()
				if err != nil {
					t.Fatalf("after UpdateRoute %d: %v", i+1, err)
				}
			}
			routes := c.versions(resource.RouteType)
			cls := clientsJSON(t, xs)
			if len(cls) != 1 {
				t.Fatalf("GET /_mapmesh/xds/clients: %d clients; want 1", len(cls))
			}
			if rs := cls[0].Resources["routes"]; rs.Acked != routes[2] || rs.Sent != routes[2] || rs.NACKs != 1 || rs.LastNACK == nil || rs.LastNACK.Version != rejected {
				t.Errorf("client's routes = %+v; want %s sent and acked, one NACK, of %s", rs, routes[2], rejected)
			}
			waitUntil(t, "the server counted every ACK", func() bool { return xs.Stats().ACKs >= 2 })
			n := len(tc.subs)
			if st, want := xs.Stats(), (xds.Stats{Streams: 1, Responses: uint64(n + 2), ACKs: 2, NACKs: uint64(n)}); st != want {
				t.Errorf("Stats() = %+v; want %+v", st, want)
			}

			// A new stream is served everything once, and ACKs it.
			c.close()
			c2 := newNACKClient(t, conn, node, tc.userAgent, func(*discovery.DiscoveryResponse, int) bool { return true })
			for _, s := range tc.subs {
				c2.subscribe(s.typeURL, s.names...)
			}
			c2.waitFor("a response of every type on the new stream", every(1))
			time.Sleep(500 * time.Millisecond)
			if got := c2.counts(); !maps.Equal(got, first) {
				t.Errorf("responses on the new stream = %v; want %v", got, first)
			}
			if vs := c2.versions(resource.RouteType); !slices.Equal(vs, routes[2:]) {
				t.Errorf("route versions on the new stream = %v; want %v", vs, routes[2:])
			}
			waitUntil(t, "the server counted the new ACKs and the closed stream", func() bool {
				st := xs.Stats()
				return st.ACKs >= uint64(2+n) && st.Streams == 1
			})
			if st, want := xs.Stats(), (xds.Stats{Streams: 1, Responses: uint64(2*n + 2), ACKs: uint64(n + 2), NACKs: uint64(n)}); st != want {
				t.Errorf("Stats() = %+v; want %+v", st, want)
			}
		})
	}
}

// TestDeltaNACK: an incremental (delta) stream that rejects everything is
// sent each resource once too: the delta cache sends only what changed
// since the last response, whether or not the client accepted it.
func TestDeltaNACK(t *testing.T) {
	t.Parallel()
	m, _ := stack(t, nil)
	m.register("b1", "v1")
	m.greeterMesh(100, 0)
	m.sync()
	conn, err := grpc.NewClient(m.xdsAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	m.check(err)
	defer conn.Close()
	for _, ua := range []string{"envoy", "gRPC Go"} {
		t.Run(ua, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			st, err := discovery.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
			if err != nil {
				t.Fatal(err)
			}
			node := &core.Node{Id: "mesh/e2e/virtualNode/client", UserAgentName: ua}
			for _, typ := range []string{resource.ListenerType, resource.ClusterType} {
				if err := st.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: typ}); err != nil {
					t.Fatal(err)
				}
			}
			got := map[string]int{}
			for {
				r, err := st.Recv() // until ctx ends
				if err != nil {
					break
				}
				got[typeNames[r.TypeUrl]]++
				if st.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: r.TypeUrl, ResponseNonce: r.Nonce,
					ErrorDetail: status.New(codes.InvalidArgument, "nack test: rejected").Proto()}) != nil {
					break
				}
			}
			if want := map[string]int{"listeners": 1, "clusters": 1}; !maps.Equal(got, want) {
				t.Errorf("responses to a delta client NACKing everything for 2s = %v; want %v", got, want)
			}
		})
	}
}
