package etcdstore

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mapmesh/mapmesh/internal/store"
)

// ErrNotEmpty is wrapped by Restore's error when the prefix already holds a
// key: restoring into a live cluster's prefix would mix two states.
var ErrNotEmpty = errors.New("etcdstore: restore: the prefix is in use")

// Restore writes a snapshot's keys under the store's prefix, as Txn writes
// them (Prefix+key, the value as it is; nothing else), and returns the etcd
// revision of the last write. The prefix must hold no key; otherwise it
// fails with an error wrapping ErrNotEmpty and writes nothing.
//
// It reads and checks the whole snapshot (its checksum included) before it
// writes, then writes in transactions within Options.MaxTxnOps and
// Options.MaxTxnBytes. Each one is conditional: the first on the prefix
// being empty, each next one on no key under the prefix having changed since
// the previous one, so a writer that slips in stops the restore. A restore
// that fails part way removes what it wrote when nothing else has written
// under the prefix since, and says so in its error.
//
// The revisions are etcd's, not the snapshot's: every key's CreateRevision
// and ModRevision become those of the transaction that wrote it.
func (s *Store) Restore(ctx context.Context, sr *store.SnapshotReader) (int64, error) {
	var kvs []store.KV
	for {
		kv, ok, err := sr.Next()
		if err != nil {
			return 0, fmt.Errorf("etcdstore: restore: %w", err)
		}
		if !ok {
			break
		}
		kvs = append(kvs, kv)
	}
	batches, err := s.restoreBatches(kvs)
	if err != nil {
		return 0, err
	}
	key, end := s.rangeOf("")
	var rev int64 // of the last transaction that wrote
	written := 0
	for i, b := range batches {
		cmp := clientv3.Compare(clientv3.CreateRevision(key), "=", 0).WithRange(end) // no key
		if i > 0 {
			cmp = clientv3.Compare(clientv3.ModRevision(key), "<", rev+1).WithRange(end) // none changed since
		}
		ops := make([]clientv3.Op, len(b))
		for j, kv := range b {
			ops[j] = clientv3.OpPut(s.key(kv.Key), string(kv.Value))
		}
		r, err := s.restoreTxn(ctx, cmp, ops)
		switch {
		case err != nil:
		case !r.Succeeded && i == 0:
			return 0, fmt.Errorf("%w: %s holds keys", ErrNotEmpty, s.prefix)
		case !r.Succeeded:
			err = fmt.Errorf("etcdstore: restore: another client wrote under %s during the restore: %w", s.prefix, store.ErrConflict)
		}
		if err != nil {
			return 0, fmt.Errorf("%w; %s", err, s.undoRestore(ctx, rev, written, len(kvs)))
		}
		rev = r.Header.Revision
		written += len(b)
	}
	return rev, nil
}

// restoreBatches splits kvs into the transactions Restore sends: each
// within MaxTxnOps puts and, with its condition, MaxTxnBytes (sized as
// validate sizes a Txn). A key too large for a transaction of its own is an
// error wrapping store.ErrTooLarge. No key gives one empty batch: the check
// that the prefix is empty.
func (s *Store) restoreBatches(kvs []store.KV) ([][]store.KV, error) {
	cond := 2*len(s.prefix) + opOverhead // a compare over the prefix's range
	batches := [][]store.KV{nil}
	size := cond
	for _, kv := range kvs {
		n := s.writeSize(kv.Key, kv.Value)
		if cond+n > s.opts.MaxTxnBytes {
			return nil, fmt.Errorf("etcdstore: restore: key %q: about %d bytes, more than %d: %w", kv.Key, n, s.opts.MaxTxnBytes, store.ErrTooLarge)
		}
		last := &batches[len(batches)-1]
		if len(*last) == s.opts.MaxTxnOps || size+n > s.opts.MaxTxnBytes {
			batches = append(batches, nil)
			last, size = &batches[len(batches)-1], cond
		}
		*last = append(*last, kv)
		size += n
	}
	return batches, nil
}

// restoreTxn sends one transaction of Restore, bounded as Txn's are.
func (s *Store) restoreTxn(ctx context.Context, cmp clientv3.Cmp, ops []clientv3.Op) (*clientv3.TxnResponse, error) {
	s.txnMu.RLock()
	if s.closed.Load() {
		s.txnMu.RUnlock()
		return nil, errClosed
	}
	s.txns.Add(1)
	s.txnMu.RUnlock()
	defer s.txns.Done()
	rctx, done := s.reqCtx(ctx)
	r, err := s.cli.Txn(rctx).If(cmp).Then(ops...).Commit()
	done()
	if err != nil {
		return nil, s.err(ctx, "restore", err)
	}
	s.observe(r.Header.Revision)
	return r, nil
}

// undoRestore deletes the prefix's keys if none changed after rev, the
// revision of Restore's last confirmed write, and says what it did. A
// transaction whose outcome is unknown (a timeout) and was applied counts
// as a change: its keys are left, and the caller is told.
func (s *Store) undoRestore(ctx context.Context, rev int64, written, total int) string {
	if written == 0 {
		// The prefix may have held keys before: not ours to delete.
		return fmt.Sprintf("the first write may or may not have been applied: check that %s is empty before restoring again", s.prefix)
	}
	key, end := s.rangeOf("")
	cmp := clientv3.Compare(clientv3.ModRevision(key), "<", rev+1).WithRange(end)
	r, err := s.restoreTxn(context.WithoutCancel(ctx), cmp, []clientv3.Op{clientv3.OpDelete(key, clientv3.WithRange(end))})
	switch {
	case err != nil:
		return fmt.Sprintf("%d of %d keys were written and could not be removed (%v): delete the prefix %s before restoring again", written, total, err, s.prefix)
	case !r.Succeeded:
		return fmt.Sprintf("keys were left under %s (%d of %d confirmed written; another write changed it since): delete the prefix before restoring again", s.prefix, written, total)
	}
	return fmt.Sprintf("the %d keys written were removed", written)
}
