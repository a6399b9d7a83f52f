package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with the given
// common name, and returns its pool.
func writeCert(t *testing.T, certFile, keyFile, cn string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	// Write the key first: the server reloads when either file changes,
	// and must never pair the new certificate with the old key for long.
	tmp := keyFile + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, keyFile); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// run starts the server with cfg and returns its API address.
func run(t *testing.T, cfg Config) string {
	t.Helper()
	cfg.DataDir, cfg.DNSAddr, cfg.XDSAddr = t.TempDir(), "", ""
	if cfg.APIAddr == "" {
		cfg.APIAddr = "127.0.0.1:0"
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	ready := make(chan net.Addr, 1)
	cfg.Ready = func(a net.Addr) { ready <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case a := <-ready:
		return a.String()
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	return ""
}

// TestAPITLS: the API serves TLS with the given certificate, and a new
// certificate written over the files is served to new connections without
// a restart.
func TestAPITLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pool := writeCert(t, certFile, keyFile, "first")
	addr := run(t, Config{TLSCert: certFile, TLSKey: keyFile})
	served := func(pool *x509.CertPool) (string, error) {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err != nil {
			return "", err
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
	}
	if cn, err := served(pool); err != nil || cn != "first" {
		t.Fatalf("TLS handshake = %q, %v; want the first certificate", cn, err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get("https://" + addr + "/_mapmesh/health")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ok\n" {
		t.Errorf("GET https://.../_mapmesh/health = %d %q; want 200 ok", resp.StatusCode, b)
	}
	time.Sleep(10 * time.Millisecond) // a new modification time
	pool2 := writeCert(t, certFile, keyFile, "second")
	deadline := time.Now().Add(4 * reloadEvery)
	for {
		cn, err := served(pool2)
		if err == nil && cn == "second" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the certificate changed: %q, %v; want the second within %v", cn, err, 4*reloadEvery)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRefuseOpenByAccident: without authentication, the API and xDS listen
// on loopback only, unless --insecure says otherwise.
func TestRefuseOpenByAccident(t *testing.T) {
	for _, tc := range []struct {
		cfg     Config
		refused bool
	}{
		{Config{APIAddr: "127.0.0.1:0"}, false},
		{Config{APIAddr: "[::1]:0"}, false},
		{Config{APIAddr: "localhost:0"}, false},
		{Config{APIAddr: "0.0.0.0:0"}, true},
		{Config{APIAddr: ":0"}, true},
		{Config{APIAddr: "127.0.0.1:0", XDSAddr: "0.0.0.0:0"}, true},
		{Config{APIAddr: "0.0.0.0:0", Insecure: true}, false},
		{Config{APIAddr: "0.0.0.0:0", Auth: "sigv4", CredentialsFile: "x"}, false},
	} {
		mode, _ := tc.cfg.authMode()
		err := checkOpen(&tc.cfg, mode, slog.New(slog.DiscardHandler))
		if (err != nil) != tc.refused {
			t.Errorf("checkOpen(api %q, xds %q, insecure %v, auth %q) = %v; want refused %v", tc.cfg.APIAddr, tc.cfg.XDSAddr,
				tc.cfg.Insecure, mode, err, tc.refused)
		}
		if err != nil && !strings.Contains(err.Error(), "--insecure") {
			t.Errorf("refusal %q does not say how to proceed", err)
		}
	}
	for _, bad := range []Config{{Auth: "sigv4"}, {Auth: "basic"}} {
		if _, err := bad.authMode(); err == nil {
			t.Errorf("authMode(%+v) = nil error; want one", bad)
		}
	}
}
