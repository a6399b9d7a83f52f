package boltstore

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mapmesh/mapmesh/internal/store"
)

// Checkpoints bring bbolt up to date with the WAL, off the write path. The
// committer freezes the overlay (over becomes flush, a new over starts) and
// switches WAL files at a batch boundary; the checkpointer goroutine then
// writes flush into bbolt in one transaction (with bbolt's own fsyncs) and
// records the revision it reaches; then flush is dropped. Only one
// checkpoint runs at a time, so when the committer next switches files,
// every record in the file it returns to is in bbolt.

// ckptJob is one checkpoint: the frozen overlay and the revision it reaches.
type ckptJob struct {
	entries map[string][]byte
	rev     int64
}

// waitCkptHold returns at once unless a test holds testCkptHold.
func (s *Store) waitCkptHold() {
	s.testCkptHold.Lock()
	defer s.testCkptHold.Unlock()
}

// checkpointLoop is the checkpointer goroutine. It ends when jobs is closed,
// or when ckptStop is closed while a checkpoint keeps failing.
func (s *Store) checkpointLoop() {
	defer close(s.ckptStopped)
	for job := range s.ckptJobs {
		s.waitCkptHold()
		for attempt := 0; ; attempt++ {
			err := s.writeCheckpoint(job)
			if err == nil {
				break
			}
			s.ckptErr.Store(fmt.Errorf("boltstore: checkpoint to revision %d: %w", job.rev, diskErr(err)))
			s.ckptFailing.Store(true)
			select {
			case s.ckptFail <- struct{}{}:
			default:
			}
			// The data is safe in the WAL, whose file is not reused before
			// this succeeds. Retry, slower and slower.
			select {
			case <-s.ckptStop:
				return
			case <-time.After(min(time.Duration(attempt+1)*100*time.Millisecond, 2*time.Second)):
			}
		}
		s.ckptFailing.Store(false)
		s.ovMu.Lock()
		s.flush, s.flushTree = nil, nil
		s.ovMu.Unlock()
		s.checkpoints.Add(1)
		s.ckptDone <- struct{}{}
		// A checkpoint reads a page for each key it writes: under random
		// writes, most of the file between two checkpoints.
		s.ReleaseMapped()
		s.checkpointed.Store(job.rev)
	}
}

// writeCheckpoint writes a frozen overlay into bbolt, with the revision.
func (s *Store) writeCheckpoint(job ckptJob) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		kvb := tx.Bucket(kvBucket)
		// Fill pages to 90% when they split, not bbolt's default 50%: the
		// largest part of the file is time-ordered keys (operations)
		// appended at the end of their range, whose half-empty pages
		// would never fill (etcd does the same for its revision keys).
		kvb.FillPercent = 0.9
		for k, v := range job.entries {
			var err error
			if v == nil {
				err = kvb.Delete([]byte(k))
			} else {
				err = kvb.Put([]byte(k), v)
			}
			if err != nil {
				return fmt.Errorf("%q: %w", k, err)
			}
		}
		return tx.Bucket(metaBucket).Put(revKey, encodeRev(job.rev))
	})
}

// pollCheckpoint notes a finished checkpoint without waiting. Committer only.
func (s *Store) pollCheckpoint() {
	select {
	case <-s.ckptDone:
		s.ckptRunning = false
	default:
	}
}

// waitCheckpoint waits for the running checkpoint, if any, to finish. When
// it fails instead (a full disk), waitCheckpoint returns its error at once
// rather than wait for a retry to succeed: the committer must never hang.
// Committer only.
func (s *Store) waitCheckpoint() error {
	for s.ckptRunning {
		if s.ckptFailing.Load() {
			s.pollCheckpoint()
			if s.ckptRunning {
				return s.ckptErr.Load().(error)
			}
			return nil
		}
		select {
		case <-s.ckptDone:
			s.ckptRunning = false
		case <-s.ckptFail:
			// Loop: ckptFailing says whether it is still failing (the
			// signal may be older than a success).
		}
	}
	return nil
}

// freeze starts a checkpoint of everything written so far and switches WAL
// files. There must be no checkpoint running. Committer only.
func (s *Store) freeze() {
	s.ovMu.Lock()
	frozen := s.over
	s.over = map[string][]byte{}
	if len(frozen) > 0 {
		s.flush, s.flushTree = frozen, s.overTree
	}
	s.overTree = newOvTree()
	s.ovMu.Unlock()
	s.overNext = newOvTree()
	s.wal.switchFiles()
	s.lastFreeze = time.Now()
	if len(frozen) == 0 {
		return // nothing to write: the other file's records are all in bbolt
	}
	s.ckptRunning = true
	s.ckptJobs <- ckptJob{entries: frozen, rev: s.rev}
}

// makeRoom makes sure a record of n bytes fits in the active WAL file,
// waiting for a running checkpoint and switching files if it does not.
// Committer only.
func (s *Store) makeRoom(n int) error {
	if s.wal.fits(n) {
		return nil
	}
	if int64(n) > s.wal.size {
		return fmt.Errorf("boltstore: a batch of %d bytes does not fit in the write-ahead log (%d bytes)", n, s.wal.size)
	}
	if err := s.waitCheckpoint(); err != nil {
		return fmt.Errorf("boltstore: the write-ahead log is full and bbolt cannot take its contents: %w", err)
	}
	s.freeze()
	return nil
}

// maybeCheckpoint starts a checkpoint when the overlay is large, the WAL
// file half full, or the overlay old enough, and none is running.
// Committer only.
func (s *Store) maybeCheckpoint() {
	s.pollCheckpoint()
	if s.ckptRunning {
		return
	}
	s.ovMu.RLock()
	n := len(s.over)
	s.ovMu.RUnlock()
	if n == 0 {
		return
	}
	if n >= s.opts.CheckpointKeys || s.wal.off >= s.wal.size/2 || time.Since(s.lastFreeze) >= s.opts.CheckpointInterval {
		s.freeze()
	}
}

// diskErr marks an error of a full disk (or an exhausted quota) with
// store.ErrNoSpace, keeping the cause.
func diskErr(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		if errors.Is(err, store.ErrNoSpace) {
			return err
		}
		return fmt.Errorf("%w: %w", store.ErrNoSpace, err)
	}
	return err
}
