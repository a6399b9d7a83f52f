package xds_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	grpcxds "google.golang.org/grpc/xds"

	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/server"
	"github.com/mapmesh/mapmesh/internal/server/servertest"
	"github.com/mapmesh/mapmesh/internal/xds"
)

// testCA is a certificate authority for mutual TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	dir  string
	// File is its certificate, PEM.
	File string
	pool *x509.CertPool
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, dir: t.TempDir(), pool: x509.NewCertPool()}
	ca.pool.AddCert(cert)
	ca.File = filepath.Join(ca.dir, "ca.pem")
	writePEM(t, ca.File, "CERTIFICATE", der)
	return ca
}

// issue returns the files of a new certificate and key the CA signed: a
// server's for localhost and 127.0.0.1, or a client's.
func (ca *testCA) issue(t *testing.T, name string, isServer bool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if isServer {
		tmpl.DNSNames, tmpl.IPAddresses = []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(ca.dir, name+".pem"), filepath.Join(ca.dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kder)
	return certFile, keyFile
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// mtlsConn dials addr over TLS trusting ca, presenting the client
// certificate in certFile and keyFile (none if empty).
func mtlsConn(t *testing.T, addr string, ca *testCA, certFile, keyFile string) *grpc.ClientConn {
	t.Helper()
	tc := &tls.Config{RootCAs: ca.pool, ServerName: "localhost"}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// TestMutualTLS: with a client CA, a client without a certificate, or
// with one another CA signed, is refused at the handshake and counted; one
// with a certificate the CA signed is served, an Envoy-shaped client and a
// proxyless grpc-go client configured by its bootstrap alike.
func TestMutualTLS(t *testing.T) {
	ca, other := newCA(t, "mesh CA"), newCA(t, "another CA")
	srvCert, srvKey := ca.issue(t, "mapmesh", true)
	cliCert, cliKey := ca.issue(t, "client", false)
	badCert, badKey := other.issue(t, "intruder", false)
	api, xs := stackWith(t, xds.Config{TLSCert: srvCert, TLSKey: srvKey, ClientCA: ca.File})
	m := newMeshAt(t, api.URL, api.Listener.Addr().String(), xs.Addr().String())
	m.register("b1", "v1")
	m.greeterMesh(100, 0)
	m.sync()
	addr := xs.Addr().String()

	for _, tc := range []struct {
		name              string
		certFile, keyFile string
	}{
		{"no certificate", "", ""},
		{"another CA's certificate", badCert, badKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := xs.Stats().TLSHandshakeFailures
			err := refusal(t, mtlsConn(t, addr, ca, tc.certFile, tc.keyFile), "mesh/e2e/virtualNode/client")
			if status.Code(err) != codes.Unavailable {
				t.Errorf("stream = %v; want Unavailable (no connection)", err)
			}
			// The client may see the refusal (TLS 1.3: the server's
			// alert) before the server's handshake returns.
			waitUntil(t, "the refused handshake counted", func() bool { return xs.Stats().TLSHandshakeFailures > before })
		})
	}

	t.Run("the CA's certificate", func(t *testing.T) {
		if got, want := envoyConfig(t, mtlsConn(t, addr, ca, cliCert, cliKey), "mesh/e2e/virtualNode/client"), []uint32{port(m.backend["b1"])}; !slices.Equal(got, want) {
			t.Errorf("endpoints = %v; want %v", got, want)
		}
	})

	// The bootstrap of docs/xds.md ("A proxyless gRPC client, with mutual
	// TLS"): grpc-go's "tls" channel credentials.
	t.Run("proxyless", func(t *testing.T) {
		m.t = t
		b, _ := json.Marshal(map[string]any{
			"xds_servers": []any{map[string]any{"server_uri": addr,
				"channel_creds": []any{map[string]any{"type": "tls", "config": map[string]string{
					"ca_certificate_file": ca.File, "certificate_file": cliCert, "private_key_file": cliKey}}},
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
		m.eventually(cc, "proxyless client with the CA's certificate", only("b1"))
	})
}

// TestServerXDSAuth: the server passes its client CA (--xds-client-ca)
// and its SigV4 verifier (--auth sigv4) to the xDS server.
func TestServerXDSAuth(t *testing.T) {
	ca := newCA(t, "mesh CA")
	srvCert, srvKey := ca.issue(t, "mapmesh", true)
	cliCert, cliKey := ca.issue(t, "client", false)
	k, err := awsapi.ParseCredentials(strings.NewReader(keyring))
	if err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, server.Config{XDSTLSCert: srvCert, XDSTLSKey: srvKey, XDSClientCA: ca.File, XDSAuth: awsapi.NewVerifier(k)})
	if err := refusal(t, mtlsConn(t, srv.XDSAddr, ca, "", ""), "mesh/m/virtualNode/n"); status.Code(err) != codes.Unavailable {
		t.Errorf("stream without a client certificate = %v; want Unavailable", err)
	}
	cc := mtlsConn(t, srv.XDSAddr, ca, cliCert, cliKey)
	if err := refusal(t, cc, "mesh/m/virtualNode/n"); status.Code(err) != codes.Unauthenticated {
		t.Errorf("unsigned stream with a client certificate = %v; want Unauthenticated", err)
	}
	signed, err := grpc.NewClient(srv.XDSAddr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: ca.pool, ServerName: "localhost",
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c, err := tls.LoadX509KeyPair(cliCert, cliKey)
			return &c, err
		}})), grpc.WithPerRPCCredentials(signerA))
	if err != nil {
		t.Fatal(err)
	}
	defer signed.Close()
	c := newADS(t, signed, t.Context(), "mesh/m/virtualNode/n")
	c.send(resource.ListenerType, "", "")
	c.recv(resource.ListenerType)
}
