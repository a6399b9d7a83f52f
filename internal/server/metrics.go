package server

import (
	"context"
	"time"

	"github.com/mapmesh/mapmesh/internal/appmesh"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
	"github.com/mapmesh/mapmesh/internal/dnsserver"
	"github.com/mapmesh/mapmesh/internal/healthcheck"
	"github.com/mapmesh/mapmesh/internal/metrics"
	"github.com/mapmesh/mapmesh/internal/store"
	"github.com/mapmesh/mapmesh/internal/store/boltstore"
	"github.com/mapmesh/mapmesh/internal/watch"
	"github.com/mapmesh/mapmesh/internal/xds"
)

// The metrics the server exports besides the API's (docs/operating.md has
// the list): each reads a component's counters when Prometheus scrapes.

func registerStoreMetrics(reg *metrics.Registry, st store.Store, bolt *boltstore.Store, cm *cloudmap.Backend, am *appmesh.Backend) {
	reg.Func("mapmesh_store_revision", "The store's current revision.", false, nil, func() []metrics.Sample {
		rev, _ := storeRev(st)
		return metrics.One(float64(rev))
	})
	reg.Func("mapmesh_projection_lag_revisions", "Revisions the in-memory projection of each API lags the store by.", false, []string{"view"},
		func() []metrics.Sample {
			rev, err := storeRev(st)
			if err != nil {
				return nil
			}
			return []metrics.Sample{{Value: float64(max(0, rev-cm.Revision())), Labels: []string{"cloudmap"}},
				{Value: float64(max(0, rev-am.Revision())), Labels: []string{"appmesh"}}}
		})
	if bolt == nil {
		return // the committer's figures are the embedded store's
	}
	stat := func(f func(s boltstore.Stats) float64) func() []metrics.Sample {
		return func() []metrics.Sample { return metrics.One(f(bolt.Stats())) }
	}
	reg.Func("mapmesh_store_commits_total", "Batches of transactions made durable (one write-ahead log flush each).", true, nil,
		stat(func(s boltstore.Stats) float64 { return float64(s.Commits) }))
	reg.Func("mapmesh_store_transactions_total", "Store transactions that changed something (each a revision); divided by commits, the group commit's batch size.", true, nil,
		stat(func(s boltstore.Stats) float64 { return float64(s.Txns) }))
	reg.Func("mapmesh_store_commit_seconds_total", "Time spent writing and flushing write-ahead log records; divided by commits, the commit latency.", true, nil,
		stat(func(s boltstore.Stats) float64 { return s.CommitTime.Seconds() }))
	reg.Func("mapmesh_store_linger_seconds_total", "Time the committer waited for more transactions to group.", true, nil,
		stat(func(s boltstore.Stats) float64 { return s.LingerTime.Seconds() }))
	reg.Func("mapmesh_store_wal_bytes_total", "Bytes written to the write-ahead log.", true, nil,
		stat(func(s boltstore.Stats) float64 { return float64(s.WALBytes) }))
	reg.Func("mapmesh_store_checkpoints_total", "Checkpoints of the write-ahead log into the bbolt file.", true, nil,
		stat(func(s boltstore.Stats) float64 { return float64(s.Checkpoints) }))
	reg.Func("mapmesh_store_checkpoint_revision", "The revision the bbolt file holds once its last checkpoint is complete; below mapmesh_store_revision while writes wait in the write-ahead log for a checkpoint (at most a second after the last write) or one runs.", false, nil,
		stat(func(s boltstore.Stats) float64 { return float64(s.CheckpointRevision) }))
	reg.Func("mapmesh_store_file_bytes", "Size of the bbolt file.", false, nil,
		stat(func(s boltstore.Stats) float64 { return float64(s.FileSize) }))
	reg.Func("mapmesh_store_free_bytes", "Free pages in the bbolt file: reused before it grows, given back by a compaction at startup once more than half the file.", false, nil,
		stat(func(s boltstore.Stats) float64 { return float64(s.FreeBytes) }))
	reg.Func("mapmesh_store_checkpoint_failing", "1 while a checkpoint keeps failing (a full disk): writes fail once the write-ahead log is full.", false, nil,
		stat(func(s boltstore.Stats) float64 {
			if s.CheckpointFailing {
				return 1
			}
			return 0
		}))
}

func storeRev(st store.Store) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return st.Rev(ctx)
}

func registerHealthMetrics(reg *metrics.Registry, hc *healthcheck.Checker) {
	reg.Func("mapmesh_health_probes_total", "Health check probes run, by result.", true, []string{"result"}, func() []metrics.Sample {
		s := hc.Stats()
		return []metrics.Sample{{Value: float64(s.Probes - s.Failures), Labels: []string{"success"}},
			{Value: float64(s.Failures), Labels: []string{"failure"}}}
	})
	reg.Func("mapmesh_health_flips_total", "Health status changes the health checker recorded.", true, nil, func() []metrics.Sample {
		return metrics.One(float64(hc.Stats().Writes))
	})
	reg.Func("mapmesh_health_checks", "Instances being health checked.", false, nil, func() []metrics.Sample {
		return metrics.One(float64(hc.Stats().Checks))
	})
	reg.Func("mapmesh_health_skipped_total", "Probe slots passed over because the previous probe outlasted the interval.", true, nil,
		func() []metrics.Sample { return metrics.One(float64(hc.Stats().Skipped)) })
}

func registerWatchMetrics(reg *metrics.Registry, h *watch.Handler) {
	reg.Func("mapmesh_discover_watches", "Blocking discovery queries held now (/_mapmesh/v1/discover).", false, nil,
		func() []metrics.Sample { return metrics.One(float64(h.Held())) })
	reg.Func("mapmesh_discover_watch_answers_total", "Blocking discovery queries answered.", true, nil,
		func() []metrics.Sample { return metrics.One(float64(h.Answered())) })
}

func registerDNSMetrics(reg *metrics.Registry, ds *dnsserver.Server) {
	reg.Func("mapmesh_dns_queries_total", "DNS queries answered, by query type and response code.", true, []string{"qtype", "rcode"},
		func() []metrics.Sample {
			var out []metrics.Sample
			for _, q := range ds.Metrics().Snapshot() {
				out = append(out, metrics.Sample{Value: float64(q.Count), Labels: []string{q.Qtype, q.Rcode}})
			}
			return out
		})
}

func registerXDSMetrics(reg *metrics.Registry, xs *xds.Server) {
	reg.Func("mapmesh_xds_connected_streams", "xDS streams open now.", false, nil, func() []metrics.Sample {
		return metrics.One(float64(xs.Stats().Streams))
	})
	reg.Func("mapmesh_xds_pushes_total", "xDS responses sent.", true, nil, func() []metrics.Sample {
		return metrics.One(float64(xs.Stats().Responses))
	})
	reg.Func("mapmesh_xds_acks_total", "xDS requests that accepted a response.", true, nil, func() []metrics.Sample {
		return metrics.One(float64(xs.Stats().ACKs))
	})
	reg.Func("mapmesh_xds_nacks_total", "xDS requests that rejected a response.", true, nil, func() []metrics.Sample {
		return metrics.One(float64(xs.Stats().NACKs))
	})
}
