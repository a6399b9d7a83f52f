package cloudmap

import (
	"context"
	"time"

	"github.com/mapmesh/mapmesh/internal/store/projection"
)

// Operations and the idempotency records that answer retried requests are
// kept for Config.OperationRetention, then deleted by a sweep, so that a
// server with steady registrations does not grow without bound.

// maxSweepKeys bounds one sweep transaction: under etcd's default of 128
// operations per transaction.
const maxSweepKeys = 100

// sweepLoop sweeps every SweepInterval until ctx ends.
func (b *Backend) sweepLoop(ctx context.Context) {
	defer close(b.swept)
	t := time.NewTicker(b.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if b.cfg.Leader != nil && !b.cfg.Leader() {
			continue // another server of the cluster sweeps
		}
		if n, err := b.Sweep(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("cloudmap: sweeping expired operations failed", "err", err)
		} else if n > 0 {
			b.log.Debug("cloudmap: swept expired operations", "keys", n)
		}
	}
}

// Sweep deletes the operations and idempotency records older than the
// retention, in transactions of at most maxSweepKeys keys, and returns how
// many keys it deleted.
func (b *Backend) Sweep(ctx context.Context) (int, error) {
	cutoff := ms(b.now().Add(-b.cfg.OperationRetention))
	var keys []string
	b.view.Range(func(_ partKey, p *partition) bool {
		for id, op := range p.ops {
			if op.rec.UpdateDate < cutoff {
				keys = append(keys, p.key.key(kindOperation, opKeyTail(op.rec.CreateDate, id)))
				if op.rec.Idem != "" {
					keys = append(keys, p.key.key(kindIdempotency, op.rec.Idem)) // a namespace call's lock, if any
				}
			}
		}
		for k, r := range p.idem {
			if r.At < cutoff && p.ops[r.Result] == nil {
				keys = append(keys, p.key.key(kindIdempotency, k))
			}
		}
		return true
	})
	done := 0
	for len(keys) > 0 {
		n := min(len(keys), maxSweepKeys)
		var t projection.Txn
		for _, k := range keys[:n] {
			t.Delete(k)
		}
		if err := b.view.Commit(ctx, &t); err != nil {
			return done, err
		}
		done += n
		keys = keys[n:]
	}
	return done, nil
}
