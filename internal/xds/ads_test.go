package xds_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	am "github.com/aws/aws-sdk-go-v2/service/appmesh"
	amtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	sdtypes "github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/mapmesh/mapmesh/internal/server"
	"github.com/mapmesh/mapmesh/internal/server/servertest"
)

// adsClient is a hand-driven ADS stream that behaves like Envoy: wildcard
// LDS and CDS, then RDS and EDS by name, ACKing each response.
type adsClient struct {
	t      *testing.T
	stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node   *core.Node
	resps  chan *discovery.DiscoveryResponse
}

func newADS(t *testing.T, conn *grpc.ClientConn, ctx context.Context, nodeID string) *adsClient {
	t.Helper()
	st, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := &adsClient{t: t, stream: st, node: &core.Node{Id: nodeID, Cluster: nodeID, UserAgentName: "envoy"},
		resps: make(chan *discovery.DiscoveryResponse, 16)}
	go func() {
		for {
			r, err := st.Recv()
			if err != nil {
				close(c.resps)
				return
			}
			c.resps <- r
		}
	}()
	return c
}

func (c *adsClient) send(typeURL, version, nonce string, names ...string) {
	c.t.Helper()
	if err := c.stream.Send(&discovery.DiscoveryRequest{Node: c.node, TypeUrl: typeURL, VersionInfo: version, ResponseNonce: nonce, ResourceNames: names}); err != nil {
		c.t.Fatal(err)
	}
}

// recv waits for the next response; it must be of typeURL.
func (c *adsClient) recv(typeURL string) *discovery.DiscoveryResponse {
	c.t.Helper()
	select {
	case r, ok := <-c.resps:
		if !ok {
			c.t.Fatal("ADS stream ended")
		}
		if r.TypeUrl != typeURL {
			c.t.Fatalf("got a response of type %s; want %s", r.TypeUrl, typeURL)
		}
		return r
	case <-time.After(10 * time.Second):
		c.t.Fatalf("no %s response within 10s", typeURL)
	}
	return nil
}

// quiet checks that no response comes for a while.
func (c *adsClient) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case r := <-c.resps:
		c.t.Fatalf("unexpected %s response version %s", r.TypeUrl, r.VersionInfo)
	case <-time.After(d):
	}
}

func names(t *testing.T, r *discovery.DiscoveryResponse) []string {
	t.Helper()
	var out []string
	for _, a := range r.Resources {
		m, err := a.UnmarshalNew()
		if err != nil {
			t.Fatal(err)
		}
		if cla, ok := m.(interface{ GetClusterName() string }); ok {
			out = append(out, cla.GetClusterName())
			continue
		}
		out = append(out, m.(interface{ GetName() string }).GetName())
	}
	slices.Sort(out)
	return out
}

// TestEnvoyADS drives an Envoy-shaped ADS client: App Mesh's names, every
// type ACKed, versions that are store revisions, and a route update that
// pushes new routes only.
func TestEnvoyADS(t *testing.T) {
	m := newMesh(t)
	m.register("b1", "v1")
	m.register("b2", "v2")
	m.greeterMesh(80, 20)
	m.sync()
	conn, err := grpc.NewClient(m.xdsAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	m.check(err)
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newADS(t, conn, ctx, "arn:aws:appmesh:us-east-1:123456789012:mesh/e2e/virtualNode/client")

	c.send(resource.ListenerType, "", "")
	lds := c.recv(resource.ListenerType)
	if got, want := names(t, lds), []string{"lds_egress_0.0.0.0_15001"}; !slices.Equal(got, want) {
		t.Fatalf("listeners = %v; want %v", got, want)
	}
	if _, err := strconv.ParseInt(lds.VersionInfo, 10, 64); err != nil {
		t.Errorf("listener version %q is not a store revision", lds.VersionInfo)
	}
	c.send(resource.ListenerType, lds.VersionInfo, lds.Nonce)
	c.send(resource.ClusterType, "", "")
	cds := c.recv(resource.ClusterType)
	wantClusters := []string{"cds_egress_e2e_amazonaws", "cds_egress_e2e_greeter-v1_grpc_50051", "cds_egress_e2e_greeter-v2_grpc_50051"}
	if got := names(t, cds); !slices.Equal(got, wantClusters) {
		t.Fatalf("clusters = %v; want %v", got, wantClusters)
	}
	c.send(resource.ClusterType, cds.VersionInfo, cds.Nonce)
	c.send(resource.RouteType, "", "", "rds_egress_http_50051")
	rds := c.recv(resource.RouteType)
	c.send(resource.RouteType, rds.VersionInfo, rds.Nonce, "rds_egress_http_50051")
	c.send(resource.EndpointType, "", "", wantClusters[1:]...)
	eds := c.recv(resource.EndpointType)
	if got := names(t, eds); !slices.Equal(got, wantClusters[1:]) {
		t.Fatalf("endpoints = %v; want %v", got, wantClusters[1:])
	}
	c.send(resource.EndpointType, eds.VersionInfo, eds.Nonce, wantClusters[1:]...)
	c.quiet(200 * time.Millisecond)

	// A route change pushes routes, nothing else.
	m.updateRoute(50, 50)
	rds2 := c.recv(resource.RouteType)
	if v1, _ := strconv.ParseInt(rds.VersionInfo, 10, 64); rds2.VersionInfo == rds.VersionInfo || mustInt(t, rds2.VersionInfo) <= v1 {
		t.Fatalf("route version after UpdateRoute = %s; want a revision after %s", rds2.VersionInfo, rds.VersionInfo)
	}
	c.send(resource.RouteType, rds2.VersionInfo, rds2.Nonce, "rds_egress_http_50051")
	c.quiet(200 * time.Millisecond)

	// A new instance pushes endpoints, nothing else.
	m.register("b3", "v1")
	eds2 := c.recv(resource.EndpointType)
	c.send(resource.EndpointType, eds2.VersionInfo, eds2.Nonce, wantClusters[1:]...)
	c.quiet(200 * time.Millisecond)

	// A change elsewhere in the mesh, or in another mesh, pushes nothing.
	_, err = m.am.CreateMesh(context.Background(), &am.CreateMeshInput{MeshName: aws.String("other")})
	m.check(err)
	_, err = m.am.CreateVirtualNode(context.Background(), &am.CreateVirtualNodeInput{MeshName: aws.String("e2e"), VirtualNodeName: aws.String("bystander"),
		Spec: &amtypes.VirtualNodeSpec{}})
	m.check(err)
	c.quiet(300 * time.Millisecond)

	// The egress filter is the mesh's: ALLOW_ALL changes listeners,
	// routes and clusters.
	_, err = m.am.UpdateMesh(context.Background(), &am.UpdateMeshInput{MeshName: aws.String("e2e"),
		Spec: &amtypes.MeshSpec{EgressFilter: &amtypes.EgressFilter{Type: amtypes.EgressFilterTypeAllowAll}}})
	m.check(err)
	cds3 := c.recv(resource.ClusterType) // make before break: clusters first
	if got := names(t, cds3); !slices.Contains(got, "cds_egress_e2e_mesh-allow-all") {
		t.Fatalf("clusters after ALLOW_ALL = %v; want cds_egress_e2e_mesh-allow-all", got)
	}
}

// TestDelayedCustomHealth: a custom health status that takes effect later
// (--custom-health-delay) is pushed when it does, with no other change.
func TestDelayedCustomHealth(t *testing.T) {
	srv := servertest.Start(t, server.Config{CustomHealthDelay: 300 * time.Millisecond})
	m := newMeshAt(t, srv.URL, srv.Addr, srv.XDSAddr)
	m.register("b1", "v1")
	m.register("b2", "v1")
	m.greeterMesh(100, 0)
	cc := dial(t, m.xdsAddr, "mesh/e2e/virtualNode/client", "greeter.e2e.local")
	m.eventually(cc, "before", only("b1", "b2"))
	_, err := m.sd.UpdateInstanceCustomHealthStatus(context.Background(), &sd.UpdateInstanceCustomHealthStatusInput{
		ServiceId: &m.svcID, InstanceId: aws.String("b2"), Status: sdtypes.CustomHealthStatusUnhealthy})
	m.check(err)
	changed := time.Now()
	m.eventually(cc, "after b2's delayed UNHEALTHY took effect", only("b1"))
	if d := time.Since(changed); d < 250*time.Millisecond {
		t.Errorf("b2 left after %v; want after the 300ms delay", d)
	}
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestUnknownNodeEmpty: a node id that names nothing gets an empty,
// NACK-free configuration.
func TestUnknownNodeEmpty(t *testing.T) {
	srv := servertest.Start(t, server.Config{})
	conn, err := grpc.NewClient(srv.XDSAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, id := range []string{"not-an-app-mesh-node", "mesh/nope/virtualNode/nope"} {
		c := newADS(t, conn, t.Context(), id)
		c.send(resource.ListenerType, "", "")
		if r := c.recv(resource.ListenerType); len(r.Resources) != 0 {
			t.Errorf("node %q got %d listeners; want none", id, len(r.Resources))
		}
		c.send(resource.ClusterType, "", "")
		if r := c.recv(resource.ClusterType); len(r.Resources) != 0 {
			t.Errorf("node %q got %d clusters; want none", id, len(r.Resources))
		}
	}
}

// TestTLSAndSigV4: with a certificate, xDS is served over TLS, and a
// SigV4-signed stream (as App Mesh's Envoy image sends) is accepted and
// shown as such.
func TestTLSAndSigV4(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	srv := servertest.Start(t, server.Config{XDSTLSCert: certFile, XDSTLSKey: keyFile})
	conn, err := grpc.NewClient(srv.XDSAddr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization",
		"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/appmesh/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
		"x-amz-date", "20261122T000000Z")
	c := newADS(t, conn, ctx, "mesh/m/virtualNode/n")
	c.send(resource.ListenerType, "", "")
	c.recv(resource.ListenerType)

	plain, err := grpc.NewClient(srv.XDSAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	pctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if st, err := discovery.NewAggregatedDiscoveryServiceClient(plain).StreamAggregatedResources(pctx); err == nil {
		if err := st.Send(&discovery.DiscoveryRequest{TypeUrl: resource.ListenerType}); err == nil {
			if _, err := st.Recv(); err == nil {
				t.Error("a plaintext stream was served by the TLS port")
			}
		}
	}

	var got []string
	resp := httpGetJSON(t, srv.URL+"/_mapmesh/xds/clients")
	for _, cl := range resp.Clients {
		if cl.SigV4 != nil {
			got = append(got, cl.SigV4.AccessKey+"/"+cl.SigV4.Region)
		}
	}
	if !slices.Equal(got, []string{"AKIDEXAMPLE/us-east-1"}) {
		t.Errorf("signed streams = %v; want [AKIDEXAMPLE/us-east-1]", got)
	}
}

func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mapmesh test"},
		DNSNames: []string{"localhost", "mapmesh.internal"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestDeltaAndSotwStreamsApart: go-control-plane numbers state-of-the-world
// and delta streams from 1 each; a delta stream and a state-of-the-world
// stream with the same number are two clients, and the end of one leaves
// the other's record and snapshot alone.
func TestDeltaAndSotwStreamsApart(t *testing.T) {
	m, xs := stack(t, nil)
	m.register("b1", "v1")
	m.greeterMesh(100, 0)
	m.sync()
	conn, err := grpc.NewClient(m.xdsAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	m.check(err)
	defer conn.Close()
	c := newADS(t, conn, t.Context(), "mesh/e2e/virtualNode/client")
	c.send(resource.ListenerType, "", "")
	lds := c.recv(resource.ListenerType)

	ctx, cancel := context.WithCancel(t.Context())
	ds, err := discovery.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	m.check(err)
	m.check(ds.Send(&discovery.DeltaDiscoveryRequest{Node: &core.Node{Id: "mesh/e2e/virtualNode/greeter-v1", UserAgentName: "envoy"},
		TypeUrl: resource.ListenerType}))
	if _, err := ds.Recv(); err != nil {
		t.Fatal(err)
	}
	got := clientsJSON(t, xs)
	if len(got) != 2 || got[0].Stream != 1 || got[0].Delta || got[1].Stream != 1 || !got[1].Delta ||
		got[0].NodeID != "mesh/e2e/virtualNode/client" || got[1].NodeID != "mesh/e2e/virtualNode/greeter-v1" {
		t.Fatalf("clients = %+v; want state-of-the-world stream 1 of client and delta stream 1 of greeter-v1", got)
	}
	cancel()
	waitUntil(t, "the delta stream's end recorded", func() bool { return len(clientsJSON(t, xs)) == 1 })
	if got := clientsJSON(t, xs); got[0].Delta || got[0].NodeID != "mesh/e2e/virtualNode/client" {
		t.Fatalf("clients after the delta stream ended = %+v; want the state-of-the-world stream of client", got)
	}
	// The client's snapshot is still served.
	c.send(resource.ListenerType, lds.VersionInfo, lds.Nonce)
	c.send(resource.RouteType, "", "", "rds_egress_http_50051")
	c.recv(resource.RouteType)
}
