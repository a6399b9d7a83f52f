package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mapmesh/mapmesh/internal/cluster"
	"github.com/mapmesh/mapmesh/internal/store"
	"github.com/mapmesh/mapmesh/internal/store/boltstore"
	"github.com/mapmesh/mapmesh/internal/store/etcdstore"
)

// Stores (Config.Store).
const (
	StoreBolt = "bolt"
	StoreEtcd = "etcd"
)

// openedStore is the store a server runs on, with what comes with it.
type openedStore struct {
	st      store.Store
	bolt    *boltstore.Store // when the store is the embedded one (for its metrics)
	members cluster.Members
	where   string // for logs
	close   func()
}

// openStore opens the store cfg names: the embedded bbolt store in
// DataDir, or etcd, where the server also joins the cluster's members.
func openStore(ctx context.Context, cfg *Config, log *slog.Logger) (*openedStore, error) {
	switch cfg.Store {
	case "", StoreBolt:
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("server: data dir %s is not usable: %w", cfg.DataDir, err)
		}
		st, err := boltstore.Open(filepath.Join(cfg.DataDir, DBFile), boltstore.Options{MaxCommitDelay: cfg.CommitDelay,
			CompactMinSize: cfg.BoltCompactMinBytes, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("server: data dir %s is not usable: %w", cfg.DataDir, err)
		}
		return &openedStore{st: st, bolt: st, members: cluster.Solo{}, where: cfg.DataDir, close: func() { st.Close() }}, nil
	case StoreEtcd:
	default:
		return nil, fmt.Errorf("server: --store must be bolt or etcd, not %q", cfg.Store)
	}
	st, err := newEtcdStore(cfg, log)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := st.CheckVersion(cctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("server: etcd %v: %w", cfg.EtcdEndpoints, err)
	}
	id := cfg.NodeID
	if id == "" {
		id = cluster.NewID()
	}
	members, err := cluster.Join(cctx, st.Client(), membersPrefix(st.Prefix()), id, cfg.ClusterTTL, log)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("server: %w", err)
	}
	log.Info("joined the cluster", "node", id, "members", strings.Join(members.Members(), ","))
	return &openedStore{st: st, members: members, where: "etcd " + strings.Join(cfg.EtcdEndpoints, ",") + " " + st.Prefix(),
		close: func() {
			if err := members.Close(); err != nil {
				log.Warn("leaving the cluster", "err", err)
			}
			st.Close()
		}}, nil
}

// newEtcdStore opens the etcd store the Etcd* fields of cfg name.
func newEtcdStore(cfg *Config, log *slog.Logger) (*etcdstore.Store, error) {
	if len(cfg.EtcdEndpoints) == 0 {
		return nil, errors.New("server: --store etcd needs --etcd-endpoints")
	}
	opts := etcdstore.Options{Endpoints: cfg.EtcdEndpoints, Prefix: cfg.EtcdPrefix, DialTimeout: cfg.EtcdDialTimeout,
		RequestTimeout: cfg.EtcdRequestTimeout, Logger: log}
	if cfg.EtcdCACert != "" || cfg.EtcdCert != "" {
		opts.TLS = &etcdstore.TLS{CAFile: cfg.EtcdCACert, CertFile: cfg.EtcdCert, KeyFile: cfg.EtcdKey}
	}
	st, err := etcdstore.New(opts)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return st, nil
}

// membersPrefix is where the servers on the store prefix p register:
// beside the store's keys, not under them, so that a snapshot of the store
// holds no membership.
func membersPrefix(p string) string { return strings.TrimSuffix(p, "/") + ".members/" }

// RestoreEtcd writes a snapshot into the etcd prefix the Etcd* fields of
// cfg name (etcdstore.Store.Restore), for servers to start on, and returns
// the etcd revision of its last write. It refuses, writing nothing, when
// a server is a member on that prefix or a key is under it (errors
// wrapping etcdstore.ErrNotEmpty).
func RestoreEtcd(ctx context.Context, cfg *Config, sr *store.SnapshotReader) (int64, error) {
	st, err := newEtcdStore(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return 0, err
	}
	defer st.Close()
	mp := membersPrefix(st.Prefix())
	timeout := cfg.EtcdRequestTimeout
	if timeout <= 0 {
		timeout = etcdstore.DefaultRequestTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	resp, err := st.Client().Get(rctx, mp, clientv3.WithPrefix(), clientv3.WithCountOnly())
	cancel()
	if err != nil {
		return 0, fmt.Errorf("server: etcd %v: %w", cfg.EtcdEndpoints, err)
	}
	if resp.Count > 0 {
		return 0, fmt.Errorf("server: %d mapmesh server(s) run on %s (members under %s): %w", resp.Count, st.Prefix(), mp, etcdstore.ErrNotEmpty)
	}
	return st.Restore(ctx, sr)
}
