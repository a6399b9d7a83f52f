package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mapmesh/mapmesh/internal/store"
)

// request is one Txn waiting for the committer.
type request struct {
	// ctx travels with its request, as in net/http: the committer skips
	// the request if ctx has ended by the time it gets to it.
	ctx   context.Context
	conds []store.Cond
	ops   []store.Op
	size  int
	done  chan result // capacity 1; the committer sends exactly once
}

type result struct {
	rev     int64
	changed bool
	err     error
}

// outcome is what applying one request inside a batch produced.
type outcome struct {
	rev    int64
	err    error
	events []store.Event // set when the transaction created revision rev
	size   int           // bytes of events, for the watch history
}

// Txn queues the transaction for the committer and waits for its outcome.
// Once queued it waits even if ctx ends, so the outcome is never in doubt: a
// transaction whose ctx has ended by the time the committer reaches it is
// not applied and returns ctx.Err().
func (s *Store) Txn(ctx context.Context, conds []store.Cond, ops []store.Op) (store.TxnResult, error) {
	if s.closed.Load() {
		return store.TxnResult{}, errClosed
	}
	if err := ctx.Err(); err != nil {
		return store.TxnResult{}, err
	}
	size, err := s.validate(conds, ops)
	if err != nil {
		return store.TxnResult{}, err
	}
	req := &request{ctx: ctx, conds: conds, ops: ops, size: size, done: make(chan result, 1)}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return store.TxnResult{}, errClosed
	}
	s.pending = append(s.pending, req)
	s.mu.Unlock()
	s.inflight.Add(1)
	s.wake()
	res := <-req.done
	s.inflight.Add(-1)
	return store.TxnResult{Rev: res.rev, Changed: res.changed}, res.err
}

// validate checks a transaction against the limits and returns its size.
func (s *Store) validate(conds []store.Cond, ops []store.Op) (int, error) {
	if len(ops) > s.opts.MaxTxnOps {
		return 0, fmt.Errorf("boltstore: txn has %d ops, more than %d: %w", len(ops), s.opts.MaxTxnOps, store.ErrTooLarge)
	}
	size := 0
	for _, c := range conds {
		size += len(c.Key)
	}
	for i, op := range ops {
		switch op.Type {
		case store.OpPut, store.OpDelete:
			if op.Key == "" {
				return 0, fmt.Errorf("boltstore: txn op %d: empty key", i)
			}
		case store.OpDeletePrefix:
		default:
			return 0, fmt.Errorf("boltstore: txn op %d on %q: unknown op type %d", i, op.Key, op.Type)
		}
		if len(op.Key) > bolt.MaxKeySize {
			return 0, fmt.Errorf("boltstore: txn op %d: key of %d bytes, more than %d: %w", i, len(op.Key), bolt.MaxKeySize, store.ErrTooLarge)
		}
		size += len(op.Key) + len(op.Value)
	}
	if size > s.opts.MaxTxnBytes {
		return 0, fmt.Errorf("boltstore: txn of %d bytes, more than %d: %w", size, s.opts.MaxTxnBytes, store.ErrTooLarge)
	}
	return size, nil
}

func (s *Store) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// commitLoop is the committer goroutine. It takes whatever queued while the
// previous commit ran and commits it as one batch. After Close it drains the
// queue, then exits.
func (s *Store) commitLoop() {
	defer close(s.done)
	var timer *time.Timer
	idle := time.NewTimer(s.opts.CheckpointInterval)
	defer idle.Stop()
	for {
		s.linger(&timer)
		batch, closing := s.nextBatch()
		if len(batch) > 0 {
			s.commit(batch)
			s.maybeCheckpoint()
			continue
		}
		if closing {
			return
		}
		// Idle: still checkpoint what waits in the overlay, in time.
		idle.Reset(s.opts.CheckpointInterval)
		select {
		case <-s.kick:
		case <-idle.C:
			s.maybeCheckpoint()
		}
	}
}

// linger implements the commit delay: when fewer transactions are queued
// than the number of writers recently seen in flight at once, it waits a
// little (at most MaxCommitDelay, and never longer than the last commit
// took) for the others to arrive, so that one fsync serves them all. The
// writers that were just answered are usually on their way back with their
// next transaction; waiting for them turns two half-full commits into one.
func (s *Store) linger(timer **time.Timer) {
	if s.opts.MaxCommitDelay <= 0 {
		return
	}
	s.mu.Lock()
	n, closing := len(s.pending), s.closing
	s.mu.Unlock()
	want := max(s.peakWriters, s.windowWriters)
	if n == 0 || n >= want || closing {
		return
	}
	wait := min(s.opts.MaxCommitDelay, s.lastCommit)
	if wait <= 0 {
		return
	}
	if *timer == nil {
		*timer = time.NewTimer(wait)
	} else {
		(*timer).Reset(wait)
	}
	defer (*timer).Stop()
	start := time.Now()
	defer func() { s.lingerNanos.Add(int64(time.Since(start))) }()
	for {
		select {
		case <-(*timer).C:
			return
		case <-s.kick:
		}
		s.mu.Lock()
		n, closing = len(s.pending), s.closing
		s.mu.Unlock()
		if n >= want || closing {
			return
		}
	}
}

// observeWriters records how many transactions were in flight at once, right
// after a commit (when the batch just committed and the next one are both
// waiting). The peak over the previous 20 ms window sets how many the
// committer waits for.
func (s *Store) observeWriters(took time.Duration) {
	now := time.Now()
	if now.Sub(s.windowStart) > 20*time.Millisecond {
		s.peakWriters, s.windowWriters, s.windowStart = s.windowWriters, 0, now
	}
	s.windowWriters = max(s.windowWriters, int(s.inflight.Load()))
	s.lastCommit = took
}

// nextBatch takes the oldest pending requests, up to the batch bounds (but
// at least one).
func (s *Store) nextBatch() ([]*request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, size := 0, 0
	for n < len(s.pending) && n < s.opts.MaxBatchTxns {
		if n > 0 && size+s.pending[n].size > s.opts.MaxBatchBytes {
			break
		}
		size += s.pending[n].size
		n++
	}
	batch := append(s.batch[:0], s.pending[:n]...)
	rest := copy(s.pending, s.pending[n:])
	clear(s.pending[rest:])
	s.pending = s.pending[:rest]
	if n > 0 {
		s.batches.Add(1)
	}
	return batch, s.closing
}

// commit applies a batch in one bbolt transaction, commits it (one fsync),
// publishes the events in revision order, then answers every request.
func (s *Store) commit(batch []*request) {
	outs := make([]outcome, len(batch))
	for {
		bad, badErr, err := s.apply(batch, outs)
		if bad >= 0 {
			// Unexpected: validate should have caught it. Fail that
			// transaction alone and redo the batch without it.
			batch[bad].done <- result{err: fmt.Errorf("boltstore: txn: %w", badErr)}
			batch = slices.Delete(batch, bad, bad+1)
			outs = outs[:len(batch)]
			continue
		}
		if err != nil {
			err = diskErr(err)
			for _, req := range batch {
				req.done <- result{rev: s.rev, err: fmt.Errorf("boltstore: commit: %w", err)}
			}
			s.releaseBatch(batch)
			return
		}
		break
	}
	var entries []entry
	for _, o := range outs {
		if o.events != nil {
			entries = append(entries, entry{rev: o.rev, events: o.events, size: o.size})
		}
	}
	if len(entries) > 0 {
		s.hub.publish(entries)
	}
	for i, req := range batch {
		req.done <- result{rev: outs[i].rev, changed: outs[i].events != nil, err: outs[i].err}
	}
	s.releaseBatch(batch)
}

func (s *Store) releaseBatch(batch []*request) {
	clear(batch)
	s.batch = batch[:0]
}

// apply runs the batch against the state (each request sees the writes of
// those before it), writes the net effect as one record to the WAL and
// flushes it, then makes it visible to readers. It returns the index of a
// request whose ops failed (nothing of the batch is written then), or the
// WAL error.
func (s *Store) apply(batch []*request, outs []outcome) (bad int, badErr, err error) {
	s.testHold.Lock() // uncontended but in tests that stall the committer
	tx, err := s.db.Begin(false)
	s.testHold.Unlock()
	if err != nil {
		return -1, nil, err
	}
	s.ovMu.RLock()
	st := &batchState{pending: map[string][]byte{}, over: s.over, flush: s.flush, kvb: tx.Bucket(kvBucket)}
	rev := s.rev
	for i, req := range batch {
		outs[i] = outcome{rev: rev}
		if err := req.ctx.Err(); err != nil {
			outs[i].err = err
			continue
		}
		if err := checkConds(st, req.conds); err != nil {
			outs[i].err = err
			continue
		}
		events, size := applyOps(st, rev+1, req.ops)
		if len(events) == 0 {
			continue // changed nothing: no revision
		}
		rev++
		outs[i] = outcome{rev: rev, events: events, size: size}
	}
	s.ovMu.RUnlock()
	// The batch's values and events own their bytes: the read transaction
	// can end before the WAL write.
	_ = tx.Rollback()
	if rev == s.rev {
		// Nothing changed (conflicts, no-ops): nothing to make durable.
		return -1, nil, nil
	}
	s.recBuf = encodeRecord(s.recBuf[:0], s.rev+1, rev, st.pending)
	if err := s.makeRoom(len(s.recBuf)); err != nil {
		return -1, nil, err
	}
	start := time.Now()
	if err := s.wal.append(s.recBuf); err != nil {
		return -1, nil, err
	}
	s.walBytes.Add(int64(len(s.recBuf)))
	took := time.Since(start)
	// The ordered copy of the batch goes into the committer's own clone
	// of overTree, outside the lock; the clone of that, made before it is
	// published, is the next batch's.
	for k, v := range st.pending {
		s.overNext.ReplaceOrInsert(ovItem{key: k, val: v})
	}
	next := s.overNext.Clone()
	s.ovMu.Lock()
	for k, v := range st.pending {
		s.over[k] = v
	}
	s.overTree = s.overNext
	s.durable.Store(rev) // with the data, for List's snapshot
	s.ovMu.Unlock()
	s.overNext = next
	s.commits.Add(1)
	s.commitNanos.Add(int64(took))
	s.observeWriters(took)
	s.applied.Add(rev - s.rev)
	s.rev = rev
	return -1, nil, nil
}

// checkConds returns an error wrapping store.ErrConflict unless every cond
// holds against the current state of the batch.
func checkConds(st *batchState, conds []store.Cond) error {
	for _, c := range conds {
		var have int64
		if v := st.get(c.Key); v != nil {
			have = modRevOf(v)
		}
		if have != c.ModRevision {
			return fmt.Errorf("boltstore: %q has mod revision %d, cond wants %d: %w", c.Key, have, c.ModRevision, store.ErrConflict)
		}
	}
	return nil
}

// applyOps applies ops in order at revision rev and returns one event per
// key they changed (their net change), and the events' size in bytes.
func applyOps(st *batchState, rev int64, ops []store.Op) ([]store.Event, int) {
	var (
		events  []store.Event
		existed []bool         // existed[i]: events[i]'s key existed before the txn
		index   map[string]int // key -> index in events; only with several ops,
		// since the keys of a single op are distinct
	)
	// touch returns the index of key's event, creating it on first touch
	// with Prev copied from old (which is only valid until the next write).
	touch := func(key string, old []byte) int {
		if index != nil {
			if i, ok := index[key]; ok {
				return i
			}
			index[key] = len(events)
		}
		var prev []byte
		if old != nil {
			prev = bytes.Clone(old[headerLen:])
		}
		events = append(events, store.Event{Rev: rev, Prev: prev})
		existed = append(existed, old != nil)
		return len(events) - 1
	}
	if len(ops) > 1 {
		index = make(map[string]int, len(ops))
	}
	for _, op := range ops {
		switch op.Type {
		case store.OpPut:
			old := st.get(op.Key)
			createRev := rev
			if old != nil {
				createRev = createRevOf(old)
			}
			buf := encodeValue(createRev, rev, op.Value)
			i := touch(op.Key, old)
			st.put(op.Key, buf)
			events[i].Type = store.EventPut
			events[i].KV = store.KV{
				Key:            op.Key,
				Value:          buf[headerLen:len(buf):len(buf)],
				CreateRevision: createRev,
				ModRevision:    rev,
			}
		case store.OpDelete:
			old := st.get(op.Key)
			if old == nil {
				continue
			}
			i := touch(op.Key, old)
			st.del(op.Key)
			events[i].Type = store.EventDelete
			events[i].KV = store.KV{Key: op.Key, ModRevision: rev}
		case store.OpDeletePrefix:
			for _, key := range st.keys(op.Key) {
				i := touch(key, st.get(key))
				st.del(key)
				events[i].Type = store.EventDelete
				events[i].KV = store.KV{Key: key, ModRevision: rev}
			}
		}
	}
	// Drop the keys created and removed within the transaction.
	size := 0
	n := 0
	for i, ev := range events {
		if !existed[i] && ev.Type == store.EventDelete {
			continue
		}
		events[n] = ev
		n++
		size += eventOverhead + len(ev.KV.Key) + len(ev.KV.Value) + len(ev.Prev)
	}
	clear(events[n:])
	return events[:n], size
}
