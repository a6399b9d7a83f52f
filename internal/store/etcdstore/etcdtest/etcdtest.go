// Package etcdtest runs etcd for tests: one member in the test process
// (StartEmbedded), or a cluster of member processes built from the same
// pinned go.etcd.io/etcd/server/v3 (StartCluster), which a test can kill
// and restart. Only tests import it; the server binary never links etcd's
// server.
package etcdtest

import (
	"fmt"
	"net"
	"net/url"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Embedded is an etcd server running in this process.
type Embedded struct {
	etcd *embed.Etcd
	// Endpoint is its client URL.
	Endpoint string
}

// StartEmbedded starts a single-member etcd with its data in dir, on free
// 127.0.0.1 ports, without fsync and without logs, and waits until it
// serves. Server defaults are kept otherwise (in particular the 10-minute
// watch progress interval, so that tests exercise progress requests).
func StartEmbedded(dir string) (*Embedded, error) {
	ports, err := FreePorts(2)
	if err != nil {
		return nil, err
	}
	client, peer := localURL(ports[0]), localURL(ports[1])
	cfg := embed.NewConfig()
	cfg.Name = "embedded"
	cfg.Dir = dir
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.UnsafeNoFsync = true
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcdtest: start embedded etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcdtest: embedded etcd: %w", err)
	case <-time.After(30 * time.Second):
		e.Close()
		return nil, fmt.Errorf("etcdtest: embedded etcd not ready after 30s")
	}
	return &Embedded{etcd: e, Endpoint: client.String()}, nil
}

// Close stops the server.
func (e *Embedded) Close() { e.etcd.Close() }

// FreePorts returns n distinct TCP ports that were free on 127.0.0.1 a
// moment ago.
func FreePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("etcdtest: free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func localURL(port int) url.URL {
	return url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port)}
}
