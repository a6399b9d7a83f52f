// Package servertest starts a real mapmesh server for tests: in-process, on
// 127.0.0.1 with a free port, on a fresh data directory, stopped when the
// test ends.
package servertest

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/mapmesh/mapmesh/internal/server"
)

// Server is a running mapmesh.
type Server struct {
	// URL is the API endpoint, http://127.0.0.1:PORT.
	URL string
	// Addr is the API listen address.
	Addr string
	// DNSAddr is the DNS listen address (UDP and TCP), 127.0.0.1:PORT.
	DNSAddr string
	// XDSAddr is the xDS (ADS over gRPC) listen address, 127.0.0.1:PORT.
	XDSAddr string
	DataDir string
	stop    context.CancelFunc
	done    chan error
}

// Start runs a server with cfg (zero fields take test defaults: a temporary
// data directory, 127.0.0.1:0, reset enabled) and stops it at cleanup.
func Start(t testing.TB, cfg server.Config) *Server {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.APIAddr == "" {
		cfg.APIAddr = "127.0.0.1:0"
	}
	if cfg.DNSAddr == "" {
		cfg.DNSAddr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		level := slog.LevelWarn
		if os.Getenv("MAPMESH_TEST_LOG") != "" {
			level = slog.LevelDebug
		}
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	}
	if cfg.XDSAddr == "" {
		cfg.XDSAddr = "127.0.0.1:0"
	}
	cfg.EnableReset = true
	if cfg.Throttle == "" {
		cfg.Throttle = "off" // tests hammer; TestThrottling turns it on
	}
	ready := make(chan net.Addr, 1)
	cfg.Ready = func(a net.Addr) { ready <- a }
	dnsReady := make(chan net.Addr, 1)
	cfg.DNSReady = func(a net.Addr) { dnsReady <- a }
	xdsReady := make(chan net.Addr, 1)
	cfg.XDSReady = func(a net.Addr) { xdsReady <- a }
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{DataDir: cfg.DataDir, stop: cancel, done: make(chan error, 1)}
	go func() { s.done <- server.Run(ctx, cfg) }()
	select {
	case a := <-ready:
		s.Addr = a.String()
		s.URL = "http://" + s.Addr
		s.DNSAddr = (<-dnsReady).String() // DNS serves before the API
		s.XDSAddr = (<-xdsReady).String() // so does xDS
	case err := <-s.done:
		cancel()
		t.Fatalf("servertest: server did not start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("servertest: server did not start within 30s")
	}
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// Stop shuts the server down and waits for it; it is safe to call twice.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if s.stop == nil {
		return
	}
	s.stop()
	s.stop = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("servertest: server stopped with error: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("servertest: server did not stop within 30s")
	}
}
