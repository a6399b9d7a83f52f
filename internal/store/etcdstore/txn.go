package etcdstore

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mapmesh/mapmesh/internal/store"
)

// opOverhead is what one op or compare costs in the request besides its keys
// and value (protobuf tags, lengths and the other fields), rounded up.
const opOverhead = 24

// Txn runs the transaction as one etcd transaction: If every cond's
// ModRevision compares equal (a missing key has ModRevision 0), Then the
// compiled ops (see compile). See store.Store.Txn.
//
// When RequestTimeout or ctx ends while etcd is deciding, the transaction
// may or may not have been applied; Txn returns an error wrapping
// store.ErrUnavailable (or ctx.Err()) without knowing which. Close waits
// for the Txns in flight instead of cutting them short.
func (s *Store) Txn(ctx context.Context, conds []store.Cond, ops []store.Op) (store.TxnResult, error) {
	s.txnMu.RLock()
	if s.closed.Load() {
		s.txnMu.RUnlock()
		return store.TxnResult{}, errClosed
	}
	s.txns.Add(1)
	s.txnMu.RUnlock()
	defer s.txns.Done()
	if err := ctx.Err(); err != nil {
		return store.TxnResult{}, fmt.Errorf("etcdstore: txn: %w", err)
	}
	writes, err := s.validate(conds, ops)
	if err != nil {
		return store.TxnResult{}, err
	}
	cmps := make([]clientv3.Cmp, len(conds))
	for i, c := range conds {
		cmps[i] = clientv3.Compare(clientv3.ModRevision(s.key(c.Key)), "=", c.ModRevision)
	}
	eops := make([]clientv3.Op, len(writes))
	for i, w := range writes {
		switch {
		case w.put:
			eops[i] = clientv3.OpPut(s.key(w.key), string(w.value))
		case w.ranged:
			key, end := s.key(w.key), s.key(w.end)
			if w.toEnd {
				_, end = s.rangeOf("") // the end of Prefix's key space
			}
			eops[i] = clientv3.OpDelete(key, clientv3.WithRange(end))
		default:
			eops[i] = clientv3.OpDelete(s.key(w.key))
		}
	}
	if len(eops) == 0 {
		// etcd serves a transaction without ops from the member it reaches,
		// as a serializable read (all of its zero ops are): a lagging
		// member would answer an older revision and judge the conditions
		// on old data. One linearizable read makes the whole transaction
		// linearizable.
		eops = append(eops, clientv3.OpGet(s.key(""), clientv3.WithKeysOnly(), clientv3.WithLimit(1)))
	}
	rctx, done := s.reqCtx(ctx)
	resp, err := s.cli.Txn(rctx).If(cmps...).Then(eops...).Commit()
	done()
	if err != nil {
		return store.TxnResult{}, s.err(ctx, "txn", err)
	}
	rev := resp.Header.Revision
	s.observe(rev)
	if !resp.Succeeded {
		return store.TxnResult{Rev: rev}, fmt.Errorf("etcdstore: txn: a condition failed at revision %d: %w", rev, store.ErrConflict)
	}
	// etcd creates a revision only when something changed: a put always
	// does, a delete when it found a key.
	changed := false
	for i, r := range resp.Responses[:min(len(writes), len(resp.Responses))] {
		if writes[i].put {
			changed = true
			break
		}
		if d := r.GetResponseDeleteRange(); d != nil && d.Deleted > 0 {
			changed = true
			break
		}
	}
	return store.TxnResult{Rev: rev, Changed: changed}, nil
}

// writeSize is about what one op or compare on key with value adds to a
// transaction's request.
func (s *Store) writeSize(key string, value []byte) int {
	return len(s.prefix) + len(key) + len(value) + opOverhead
}

// validate checks the ops and the transaction's size against the limits,
// and returns the compiled writes.
func (s *Store) validate(conds []store.Cond, ops []store.Op) ([]write, error) {
	if n := max(len(ops), len(conds)); n > s.opts.MaxTxnOps {
		return nil, fmt.Errorf("etcdstore: txn has %d ops or conds, more than %d: %w", n, s.opts.MaxTxnOps, store.ErrTooLarge)
	}
	for i, op := range ops {
		switch op.Type {
		case store.OpPut, store.OpDelete:
			if op.Key == "" {
				return nil, fmt.Errorf("etcdstore: txn op %d: empty key", i)
			}
		case store.OpDeletePrefix:
		default:
			return nil, fmt.Errorf("etcdstore: txn op %d on %q: unknown op type %d", i, op.Key, op.Type)
		}
	}
	writes := compile(ops)
	if len(writes) > s.opts.MaxTxnOps {
		return nil, fmt.Errorf("etcdstore: txn compiles to %d etcd ops, more than %d: %w", len(writes), s.opts.MaxTxnOps, store.ErrTooLarge)
	}
	size := 0
	for _, c := range conds {
		size += s.writeSize(c.Key, nil)
	}
	for _, w := range writes {
		size += s.writeSize(w.key, w.value)
		if w.ranged {
			size += len(s.prefix) + len(w.end)
		}
	}
	if size > s.opts.MaxTxnBytes {
		return nil, fmt.Errorf("etcdstore: txn of about %d bytes, more than %d: %w", size, s.opts.MaxTxnBytes, store.ErrTooLarge)
	}
	return writes, nil
}
