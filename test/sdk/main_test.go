package sdk_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/mapmesh/mapmesh/internal/server"
)

// The server the examples use, started by TestMain.
var (
	endpoint string // http://127.0.0.1:PORT
	apiPort  string
	dnsAddr  string // 127.0.0.1:PORT, answering mapmesh.internal and data-mapmesh.internal
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mapmesh-sdk-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ready, dnsReady := make(chan net.Addr, 1), make(chan net.Addr, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, server.Config{APIAddr: "127.0.0.1:0", DNSAddr: "127.0.0.1:0", DNSSelfName: "mapmesh.internal",
			DataDir: dir, Throttle: "off", Logger: slog.New(slog.DiscardHandler),
			Ready: func(a net.Addr) { ready <- a }, DNSReady: func(a net.Addr) { dnsReady <- a }})
	}()
	defer func() {
		cancel()
		<-done
	}()
	select {
	case a := <-ready:
		endpoint = "http://" + a.String()
		_, apiPort, _ = net.SplitHostPort(a.String())
		dnsAddr = (<-dnsReady).String()
	case err := <-done:
		fmt.Fprintln(os.Stderr, "mapmesh did not start:", err)
		return 1
	case <-time.After(30 * time.Second):
		fmt.Fprintln(os.Stderr, "mapmesh did not start within 30s")
		return 1
	}
	return m.Run()
}
