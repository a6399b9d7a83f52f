package boltstore

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// A bbolt file never shrinks: pages that deletes free go on its freelist
// and are reused by later writes, so the file stays at the largest size
// the data ever needed. Open gives the rest back: when the file is at
// least Options.CompactMinSize and more than half of it is free, it copies
// the live data into a new file beside it (<file>.compact, with
// bolt.Compact), flushes it, renames it over the old one and flushes the
// directory, then goes on with the new file. A crash at any step leaves
// the old file or the new one, whole, at the path: the new file is only
// renamed into place once it is on disk, and the rename is atomic. A
// leftover <file>.compact is an unfinished copy, which the next Open
// removes. Open compacts once it has replayed the write-ahead log into
// the file, so the log holds nothing that either file lacks (and a copy
// keeps the file's revision, which is what the log is read against). The
// lock on the file is held throughout: the new file is locked before it
// is renamed into place, and Open checks, once it holds the lock, that the
// file it locked is still the one at the path.
//
// The store does not compact while it runs: bbolt cannot give pages back
// in place, only copy, and the copy must not miss a write, so checkpoints
// would stop for as long as it takes (and writes once the write-ahead log
// is full), and every reader would have to leave the old file at the
// moment of the switch. Open is where a pause is expected anyway, and
// between restarts the free pages are reused (docs/store.md).

// compactSuffix names the file a compaction writes, beside the store's.
const compactSuffix = ".compact"

// compactTxBytes bounds the keys and values one bbolt transaction of a
// compaction copies.
const compactTxBytes = 32 << 20

// Compaction is what a compaction at Open did.
type Compaction struct {
	// At is when it finished; zero if Open did not compact.
	At time.Time
	// OldSize and NewSize are the sizes of the file before and after.
	OldSize, NewSize int64
	// Took is how long the copy took, from start to the new file in place.
	Took time.Duration
}

// compactHook, set by tests, is called at each step of a compaction:
// "start", "copied", "synced", "renamed". An error it returns fails the
// compaction at that step, as a failing disk would, except at "renamed",
// past which a compaction cannot fail.
var compactHook func(step string) error

func compactStep(step string) error {
	if compactHook != nil {
		return compactHook(step)
	}
	return nil
}

// boltOptions are the options of the store's bbolt file.
func boltOptions(opts Options) *bolt.Options {
	return &bolt.Options{
		Timeout:      opts.LockTimeout,
		FreelistType: bolt.FreelistMapType,
		// The freelist is written with every commit, unlike etcd: bbolt
		// commits here are checkpoints of many writes each (the WAL makes
		// each write durable), so the extra page is nothing, while without
		// it Open walks every page of the file to rebuild the freelist: at
		// a million records, seconds of restart and the whole file
		// resident. The file is mapped large from the start so that growth
		// rarely remaps (a remap blocks readers).
		NoFreelistSync:  false,
		InitialMmapSize: 1 << 30,
	}
}

// openDB opens and locks the bbolt file at path. Once it holds the lock it
// checks that the file is still the one at path: a compaction by the
// process that held the lock may have renamed a new file over it
// meanwhile, and then it opens that one (waiting for its lock in turn),
// all within opts.LockTimeout.
func openDB(path string, opts Options) (*bolt.DB, error) {
	deadline := time.Now().Add(opts.LockTimeout)
	for {
		bo := boltOptions(opts)
		bo.Timeout = max(time.Until(deadline), time.Millisecond)
		var f *os.File // the file bbolt opens, and locks
		bo.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
			var err error
			f, err = os.OpenFile(name, flag, perm)
			return f, err
		}
		db, err := bolt.Open(path, 0o600, bo)
		if err != nil {
			return nil, err
		}
		locked, err := f.Stat()
		if err != nil {
			_ = db.Close()
			return nil, err
		}
		if cur, err := os.Stat(path); err == nil && os.SameFile(locked, cur) {
			return db, nil
		}
		_ = db.Close()
		if time.Now().After(deadline) {
			return nil, berrors.ErrTimeout
		}
	}
}

// usage returns the size of the bbolt file at path and how much of it is
// free: pages on bbolt's freelist (and those pending, freed by a
// transaction that readers may still see), which it reuses before it grows
// the file, and which a compaction gives back. Not counted: the end of the
// file past the last page in use, which bbolt grows ahead of its needs (by
// 16 MiB at a time here) and a compacted file has too.
func usage(db *bolt.DB, path string, pageSize int) (size, free int64, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	st := db.Stats()
	return fi.Size(), int64(st.FreePageN+st.PendingPageN) * int64(pageSize), nil
}

// compactAtOpen compacts the file at path, open as db, if it is large and
// mostly free, and returns the database to go on with: the new one, or db
// if there was nothing to do or the compaction failed (it logs why; the
// old file is whole then).
func compactAtOpen(db *bolt.DB, path string, opts Options) (*bolt.DB, Compaction) {
	log := opts.Logger
	tmp := path + compactSuffix
	switch err := os.Remove(tmp); {
	case err == nil:
		log.Warn("boltstore: removed an unfinished compaction", "file", tmp)
	case !errors.Is(err, fs.ErrNotExist):
		log.Warn("boltstore: cannot remove an unfinished compaction", "file", tmp, "err", err)
		return db, Compaction{}
	}
	if opts.CompactMinSize < 0 {
		return db, Compaction{}
	}
	size, free, err := usage(db, path, db.Info().PageSize)
	if err != nil {
		log.Warn("boltstore: cannot tell how much of the file is free; not compacting", "file", path, "err", err)
		return db, Compaction{}
	}
	if size < opts.CompactMinSize || free*2 <= size {
		return db, Compaction{}
	}
	log.Info("boltstore: compacting", "file", path, "size", size, "free", free)
	ndb, c, err := compact(db, path, tmp, log)
	if err != nil {
		log.Warn("boltstore: compaction failed; going on with the file as it is", "file", path, "err", err)
		return db, Compaction{}
	}
	log.Info("boltstore: compacted", "file", path, "old_size", c.OldSize, "new_size", c.NewSize, "took", c.Took)
	return ndb, c
}

// compact copies the live data of db, the file at path, into tmp and
// renames tmp over path. On success it has closed db and returns the new
// database; on error it has removed tmp (unless the rename happened) and
// db is still the one to use. The caller has checked that tmp does not
// exist.
func compact(db *bolt.DB, path, tmp string, log *slog.Logger) (_ *bolt.DB, _ Compaction, err error) {
	start := time.Now()
	fi, err := os.Stat(path)
	if err != nil {
		return nil, Compaction{}, err
	}
	if err := compactStep("start"); err != nil {
		return nil, Compaction{}, err
	}
	// Opened as the store's file is, since it becomes the store's file
	// (bbolt's DB.Path goes on naming tmp, which nothing here uses), and
	// locked, so that the lock holds from the moment it is renamed into
	// place. No fsync per transaction: one at the end covers them all.
	bo := boltOptions(Options{LockTimeout: DefaultLockTimeout})
	bo.NoSync = true
	ndb, err := bolt.Open(tmp, 0o600, bo)
	if err != nil {
		return nil, Compaction{}, fmt.Errorf("create %s: %w", tmp, err)
	}
	renamed := false
	defer func() {
		if err != nil && !renamed {
			_ = ndb.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := bolt.Compact(ndb, db, compactTxBytes); err != nil {
		return nil, Compaction{}, fmt.Errorf("copy: %w", diskErr(err))
	}
	if err := compactStep("copied"); err != nil {
		return nil, Compaction{}, err
	}
	if err := ndb.Sync(); err != nil {
		return nil, Compaction{}, fmt.Errorf("flush %s: %w", tmp, diskErr(err))
	}
	ndb.NoSync = false
	if err := compactStep("synced"); err != nil {
		return nil, Compaction{}, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, Compaction{}, err
	}
	renamed = true
	_ = compactStep("renamed") // too late to fail
	// The old file is unlinked; closing it releases its lock, which
	// another Open may be waiting for: openDB then finds that it is no
	// longer the file at path.
	_ = db.Close()
	if err := syncDir(filepath.Dir(path)); err != nil {
		// Either file at path is whole: the rename may just not be
		// durable yet. Go on with the new one.
		log.Warn("boltstore: flushing the directory after a compaction", "file", path, "err", err)
	}
	c := Compaction{At: time.Now(), OldSize: fi.Size(), Took: time.Since(start)}
	if nfi, err := os.Stat(path); err == nil {
		c.NewSize = nfi.Size()
	}
	return ndb, c, nil
}
