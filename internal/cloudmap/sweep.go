package cloudmap

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/mapmesh/mapmesh/internal/store"
	"github.com/mapmesh/mapmesh/internal/store/projection"
)

// Operations and the idempotency records that answer retried requests are
// kept for Config.OperationRetention, then deleted by a sweep, so that a
// server with steady registrations keeps a bounded store. The sweep reads
// the store a page at a time, oldest operations first (their keys are
// ordered by creation time), and stops at the first that is young enough:
// its cost is what it deletes, not what is kept.

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
// many keys it deleted. An operation's age is its creation time (mapmesh
// completes operations as it creates them).
func (b *Backend) Sweep(ctx context.Context) (int, error) {
	cutoff := ms(b.now().Add(-b.cfg.OperationRetention))
	done, after := 0, ""
	for {
		// The next account and region with records: the first key after
		// the last one swept.
		page, err := b.store.ListPage(ctx, opsRoot, store.PageOptions{After: after, Limit: 1})
		if err != nil || len(page.KVs) == 0 {
			return done, err
		}
		pk, ok := opsPartition(page.KVs[0].Key)
		if !ok {
			b.log.Warn("cloudmap: unknown key under the operations root", "key", page.KVs[0].Key)
			after = page.KVs[0].Key
			continue
		}
		n, err := b.sweepPartition(ctx, pk, cutoff)
		done += n
		if err != nil {
			return done, err
		}
		after = pk.opsPrefix() + "\xff" // past every key of the partition (keys are ASCII)
	}
}

// opsPartition returns the account and region of a key under opsRoot.
func opsPartition(key string) (partKey, bool) {
	rest, ok := strings.CutPrefix(key, opsRoot)
	if !ok {
		return partKey{}, false
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) < 3 || parts[0] == "" || parts[1] == "" {
		return partKey{}, false
	}
	return partKey{account: parts[0], region: parts[1]}, true
}

func (b *Backend) sweepPartition(ctx context.Context, pk partKey, cutoff int64) (int, error) {
	done := 0
	commit := func(t *projection.Txn) error {
		if t.Len() == 0 {
			return nil
		}
		n := t.Len()
		if err := b.view.Commit(ctx, t); err != nil {
			return err
		}
		done += n
		return nil
	}
	// Operations, oldest first, with their tokens' records, up to the
	// first young enough to keep.
	after := ""
	for young := false; !young; {
		page, err := b.store.ListPage(ctx, pk.opPrefix(), store.PageOptions{After: after, Limit: maxSweepKeys / 2})
		if err != nil {
			return done, err
		}
		var t projection.Txn
		for _, kv := range page.KVs {
			after = kv.Key
			at, ok := opTimeOf(kv.Key)
			if !ok {
				continue // not an operation's key: leave it
			}
			if at >= cutoff {
				young = true
				break
			}
			t.Delete(kv.Key)
			var r opRecord
			if json.Unmarshal(kv.Value, &r) == nil && r.Idem != "" {
				t.Delete(pk.idemKey(r.Idem))
			}
		}
		if err := commit(&t); err != nil {
			return done, err
		}
		young = young || !page.More
	}
	// Records of tokens without an operation (CreateService), by date.
	after = ""
	for {
		page, err := b.store.ListPage(ctx, pk.idemKey("CreateService/"), store.PageOptions{After: after, Limit: maxSweepKeys})
		if err != nil {
			return done, err
		}
		var t projection.Txn
		for _, kv := range page.KVs {
			after = kv.Key
			var r idemRecord
			if json.Unmarshal(kv.Value, &r) == nil && r.At < cutoff {
				t.Delete(kv.Key)
			}
		}
		if err := commit(&t); err != nil {
			return done, err
		}
		if !page.More {
			return done, nil
		}
	}
}

// migrateOps moves the operation and idempotency records that the view
// found under keyRoot (where they were kept before they moved to opsRoot)
// to opsRoot, in small transactions, each conditional on the old record
// being unchanged; what is not moved now (a lost race with another server
// migrating, an error) stays where it is until the next start. Tokens of namespace calls were empty locks whose
// operation held the request hash: each becomes a record of its own.
func (b *Backend) migrateOps(ctx context.Context) (int, error) {
	b.dom.legacyMu.Lock()
	legacy := b.dom.legacy
	b.dom.legacy = nil
	b.dom.legacyMu.Unlock()
	moved := 0
	for len(legacy) > 0 {
		var t projection.Txn
		n := 0
		for n < len(legacy) && t.Len() < maxSweepKeys-4 {
			kv := legacy[n]
			n++
			pk, rest, ok := b.dom.Split(kv.Key)
			kind, tail, _ := strings.Cut(rest, "/")
			if !ok {
				continue
			}
			t.Cond(kv.Key, kv.ModRevision)
			t.Delete(kv.Key)
			switch {
			case kind == kindOperation:
				t.Put(pk.opPrefix()+tail, kv.Value)
				var r opRecord
				if json.Unmarshal(kv.Value, &r) == nil && r.Idem != "" && r.Hash != "" {
					rec, _ := json.Marshal(&idemRecord{V: 1, Hash: r.Hash, Result: r.ID, At: r.CreateDate})
					t.Put(pk.idemKey(r.Idem), rec)
				}
			case kind == kindIdempotency && len(kv.Value) > 0:
				t.Put(pk.idemKey(tail), kv.Value)
			}
		}
		legacy = legacy[n:]
		if err := b.view.Commit(ctx, &t); err != nil {
			return moved, err
		}
		moved += n
	}
	return moved, nil
}
