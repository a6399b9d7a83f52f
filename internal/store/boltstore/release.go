package boltstore

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// The pages of the file mapped into the process are dropped after every
// checkpoint, every releaseEvery, and by the reader that brings what was
// read since the last drop to readRelease bytes.
const (
	releaseEvery = 5 * time.Second
	readRelease  = 32 << 20
)

// noteRead counts n bytes read in tx; once readRelease bytes have been
// read, by this reader or others (a view's load, a ListOperations walk), it
// drops the mapped pages, inside tx: the mapping cannot move meanwhile.
// What a reader has read is copied (decodeKV), so its pages are not needed.
func (s *Store) noteRead(tx *bolt.Tx, n int) {
	if s.readBytes.Add(int64(n)) < readRelease {
		return
	}
	s.readBytes.Store(0)
	_ = dropMapped(s.db.Info().Data, int(tx.Size()))
}

// releaseLoop drops the mapped pages every releaseEvery until ckptStop is
// closed.
func (s *Store) releaseLoop() {
	defer close(s.releaseStopped)
	tick := time.NewTicker(releaseEvery)
	defer tick.Stop()
	for {
		select {
		case <-s.ckptStop:
			return
		case <-tick.C:
			s.ReleaseMapped()
		}
	}
}

// ReleaseMapped drops the pages of the bbolt file that reads and
// checkpoints have mapped into the process (a view load reads every record
// once, a checkpoint reads the pages it changes, ListOperations walks old
// operations): mapmesh answers from its views, not from the file, so they
// would only hold RSS. They stay in the kernel's page cache; the next read
// of one maps it again, without I/O. The server calls it after loading its
// views, the checkpointer after each checkpoint, releaseLoop every
// releaseEvery, and readers as they read (noteRead).
func (s *Store) ReleaseMapped() {
	// A read transaction holds bbolt's mmap lock: the mapping cannot move
	// while it is dropped, and it reaches at least tx.Size() bytes.
	err := s.db.View(func(tx *bolt.Tx) error {
		return dropMapped(s.db.Info().Data, int(tx.Size()))
	})
	if err != nil {
		s.opts.Logger.Debug("boltstore: cannot drop mapped pages", "err", err)
	}
}
