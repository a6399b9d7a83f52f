package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/mapmesh/mapmesh/internal/store"
)

var _ store.Store = (*Store)(nil)

// Defaults for the zero Options.
const (
	DefaultLockTimeout        = time.Second
	DefaultMaxTxnOps          = 10_000
	DefaultMaxTxnBytes        = 16 << 20
	DefaultMaxBatchTxns       = 1_000
	DefaultMaxBatchBytes      = 16 << 20
	DefaultHistoryRevisions   = 10_000
	DefaultHistoryBytes       = 64 << 20
	DefaultMaxCommitDelay     = time.Millisecond
	DefaultWALSize            = 32 << 20
	DefaultCheckpointKeys     = 20_000
	DefaultCheckpointInterval = time.Second
	DefaultCompactMinSize     = 64 << 20
)

// Options tunes a Store. The zero value gives the defaults above; a field
// left at zero (or negative) takes its default.
type Options struct {
	// LockTimeout is how long Open waits for the file lock held by another
	// process before it fails.
	LockTimeout time.Duration
	// MaxTxnOps and MaxTxnBytes bound one transaction (bytes count keys
	// and values). Txn rejects a larger one with store.ErrTooLarge.
	MaxTxnOps   int
	MaxTxnBytes int
	// MaxBatchTxns and MaxBatchBytes bound one group commit.
	MaxBatchTxns  int
	MaxBatchBytes int
	// HistoryRevisions and HistoryBytes bound the in-memory event history
	// that watches replay from and read through. A watch that starts, or
	// falls, further behind gets store.ErrCompacted.
	HistoryRevisions int
	HistoryBytes     int
	// WALSize is the size of each of the two write-ahead log files
	// (DefaultWALSize when 0). A batch must fit in one.
	WALSize int64
	// CheckpointKeys and CheckpointInterval say when the writes in the WAL
	// are copied into bbolt: once that many keys changed, or once the
	// oldest change is that old (or the WAL file is half full).
	CheckpointKeys     int
	CheckpointInterval time.Duration
	// MaxCommitDelay bounds how long the committer waits for more
	// transactions when fewer are queued than writers were recently in
	// flight (group commit; see linger). Zero takes the default; negative
	// disables the wait.
	MaxCommitDelay time.Duration
	// CompactMinSize is the size from which Open compacts the bbolt file
	// when more than half of it is free (compact.go). Zero takes the
	// default; negative never compacts.
	CompactMinSize int64
	// Logger receives what Open's compaction does, and a failure to drop
	// mapped pages (slog.Default() when nil).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.MaxCommitDelay == 0 {
		o.MaxCommitDelay = DefaultMaxCommitDelay
	}
	if o.WALSize <= 0 {
		o.WALSize = DefaultWALSize
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = DefaultCheckpointInterval
	}
	if o.CompactMinSize == 0 {
		o.CompactMinSize = DefaultCompactMinSize
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	def(&o.MaxTxnOps, DefaultMaxTxnOps)
	def(&o.MaxTxnBytes, DefaultMaxTxnBytes)
	def(&o.MaxBatchTxns, DefaultMaxBatchTxns)
	def(&o.MaxBatchBytes, DefaultMaxBatchBytes)
	def(&o.HistoryRevisions, DefaultHistoryRevisions)
	def(&o.HistoryBytes, DefaultHistoryBytes)
	def(&o.CheckpointKeys, DefaultCheckpointKeys)
	// A batch must fit in one WAL file.
	o.MaxBatchBytes = min(o.MaxBatchBytes, int(o.WALSize/2))
	return o
}

// On-disk layout; see the package doc.
var (
	kvBucket   = []byte("kv")
	metaBucket = []byte("meta")
	revKey     = []byte("rev")
	versionKey = []byte("version")
)

// formatVersion is the on-disk format written in meta/version.
const formatVersion = 1

// headerLen is the size of the revisions in front of each stored value.
const headerLen = 16

var errClosed = fmt.Errorf("boltstore: %w", store.ErrClosed)

// Store is a store.Store in one bbolt file. Its methods are safe for
// concurrent use.
type Store struct {
	db   *bolt.DB
	opts Options
	hub  *hub

	// The file, for Stats.
	path       string
	pageSize   int
	compaction Compaction // what Open's compaction did

	// closed is set once by Close; readers check it without taking mu.
	closed atomic.Bool

	mu      sync.Mutex // guards the fields below
	closing bool       // no more requests are queued
	pending []*request // queued for the committer, in arrival order

	kick chan struct{} // capacity 1: wakes the committer
	done chan struct{} // closed when the committer has exited

	// ovMu guards over and flush (see state.go): the committer merges into
	// over and the checkpointer drops flush with it held for writing;
	// readers hold it for reading.
	ovMu  sync.RWMutex
	over  map[string][]byte
	flush map[string][]byte
	// overTree and flushTree are over and flush in key order (nil when
	// flush is), never changed once published (state.go).
	overTree, flushTree *ovTree
	// overNext is the committer's clone of overTree, which it applies the
	// next batch to. Owned by the committer.
	overNext *ovTree
	// durable is the revision of the last batch made durable.
	durable atomic.Int64

	// Owned by the committer goroutine.
	rev         int64      // last committed revision
	batch       []*request // reused between batches
	wal         *wal
	recBuf      []byte
	ckptRunning bool
	lastFreeze  time.Time

	// The checkpointer: jobs in, one done signal per job (capacity 1).
	ckptJobs    chan ckptJob
	ckptDone    chan struct{}
	ckptStopped chan struct{}
	ckptErr     atomic.Value // the last checkpoint error, if any
	// ckptFailing is set while the running checkpoint keeps failing (a
	// full disk); ckptFail (capacity 1) signals each failure, and
	// ckptStop, closed by Close, ends the retries and releaseLoop.
	ckptFailing atomic.Bool
	ckptFail    chan struct{}
	ckptStop    chan struct{}
	// releaseStopped is closed when releaseLoop has returned.
	releaseStopped chan struct{}
	// readBytes counts the bytes read from the file since the mapped
	// pages were last dropped by a reader (noteRead).
	readBytes atomic.Int64

	// inflight counts the Txn calls queued or being committed.
	inflight atomic.Int32
	// Commit delay state, owned by the committer (see linger).
	peakWriters, windowWriters int
	windowStart                time.Time
	lastCommit                 time.Duration

	// testHold, held by a test, stalls the committer before its next batch;
	// testCkptHold stalls the checkpointer before it writes a checkpoint.
	testHold, testCkptHold sync.Mutex

	// Counters for tests and benchmarks.
	batches                  atomic.Int64 // batches taken by the committer
	commits                  atomic.Int64 // bbolt transactions committed
	applied                  atomic.Int64 // store transactions that created a revision
	commitNanos, lingerNanos atomic.Int64
	walBytes                 atomic.Int64
	checkpoints              atomic.Int64
	// checkpointed is the revision the bbolt file holds, set once a
	// checkpoint is complete (its mapped pages dropped too).
	checkpointed atomic.Int64
}

// Open opens the store in the bbolt file at path, creating the file if it
// does not exist (its directory must). It fails if the file is not a store,
// or if another process holds it for longer than opts.LockTimeout. When the
// file is large and mostly free, Open compacts it once it has replayed the
// write-ahead log, before it serves (compact.go). The returned Store owns a
// committer goroutine until Close.
func Open(path string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	db, err := openDB(path, opts)
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("boltstore: open %s: file is locked by another process (waited %v): %w", path, opts.LockTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	rev, err := initDB(db)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	w, recs, err := openWAL(path, opts.WALSize, rev)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: open %s: write-ahead log: %w", path, err)
	}
	if rev, err = replay(db, rev, recs); err != nil {
		_ = w.close()
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: open %s: replaying the write-ahead log: %w", path, err)
	}
	// Compact after the replay, not before: the replay has committed (with
	// bbolt's fsyncs) every record of the log into the file, so the log
	// holds nothing the file lacks, and whichever file a crash leaves at the
	// path, the old or the compacted copy, is at the same revision and
	// replays nothing. The copy also holds what the replay wrote, and counts
	// what it deleted as free. Nothing reads or writes the file yet: the
	// committer and the checkpointer start below.
	db, compaction := compactAtOpen(db, path, opts)
	s := &Store{
		db:          db,
		opts:        opts,
		path:        path,
		pageSize:    db.Info().PageSize,
		compaction:  compaction,
		hub:         newHub(rev, opts.HistoryRevisions, opts.HistoryBytes),
		kick:        make(chan struct{}, 1),
		done:        make(chan struct{}),
		rev:         rev,
		wal:         w,
		over:        map[string][]byte{},
		overTree:    newOvTree(),
		overNext:    newOvTree(),
		lastFreeze:  time.Now(),
		ckptJobs:    make(chan ckptJob),
		ckptDone:    make(chan struct{}, 1),
		ckptStopped: make(chan struct{}),
		ckptFail:    make(chan struct{}, 1),
		ckptStop:    make(chan struct{}),

		releaseStopped: make(chan struct{}),
	}
	s.durable.Store(rev)
	s.checkpointed.Store(rev)
	go s.checkpointLoop()
	go s.commitLoop()
	go s.releaseLoop()
	return s, nil
}

// replay writes the WAL records that bbolt does not have yet into it, in
// one transaction, and returns the revision reached. After it, both WAL
// files hold only records bbolt has.
func replay(db *bolt.DB, rev int64, recs []walRecord) (int64, error) {
	if len(recs) == 0 {
		return rev, nil
	}
	err := db.Update(func(tx *bolt.Tx) error {
		kvb := tx.Bucket(kvBucket)
		for _, r := range recs {
			for _, e := range r.entries {
				var err error
				if e.value == nil {
					err = kvb.Delete([]byte(e.key))
				} else {
					err = kvb.Put([]byte(e.key), e.value)
				}
				if err != nil {
					return err
				}
			}
			rev = r.last
		}
		return tx.Bucket(metaBucket).Put(revKey, encodeRev(rev))
	})
	return rev, err
}

// initDB creates the buckets of a new file, checks the format of an old one,
// and returns the current revision.
func initDB(db *bolt.DB) (int64, error) {
	var rev int64
	ready := false
	err := db.View(func(tx *bolt.Tx) error {
		meta, kv := tx.Bucket(metaBucket), tx.Bucket(kvBucket)
		if meta == nil || kv == nil {
			return nil
		}
		var err error
		rev, err = readMeta(meta)
		ready = err == nil
		return err
	})
	if err != nil || ready {
		return rev, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(kvBucket); err != nil {
			return err
		}
		meta, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		if meta.Get(versionKey) == nil {
			if err := meta.Put(versionKey, []byte{formatVersion}); err != nil {
				return err
			}
		}
		if meta.Get(revKey) == nil {
			if err := meta.Put(revKey, encodeRev(0)); err != nil {
				return err
			}
		}
		rev, err = readMeta(meta)
		return err
	})
	return rev, err
}

func readMeta(meta *bolt.Bucket) (int64, error) {
	if v := meta.Get(versionKey); len(v) != 1 || v[0] != formatVersion {
		return 0, fmt.Errorf("unsupported format version %v (want %d)", v, formatVersion)
	}
	v := meta.Get(revKey)
	if len(v) != 8 {
		return 0, fmt.Errorf("corrupt revision %x", v)
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// Get returns the key, or an error wrapping store.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (store.KV, error) {
	if err := s.readable(ctx); err != nil {
		return store.KV{}, err
	}
	var kv store.KV
	found := false
	s.ovMu.RLock()
	v, layered := s.over[key]
	if !layered {
		v, layered = s.flush[key]
	}
	s.ovMu.RUnlock()
	var err error
	if layered {
		if found = v != nil; found {
			kv, err = decodeKV(key, v)
		}
	} else {
		err = s.db.View(func(tx *bolt.Tx) error {
			v := tx.Bucket(kvBucket).Get([]byte(key))
			if v == nil {
				return nil
			}
			found = true
			s.noteRead(tx, len(key)+len(v))
			var err error
			kv, err = decodeKV(key, v)
			return err
		})
	}
	if err != nil {
		return store.KV{}, readErr("get", err)
	}
	if !found {
		return store.KV{}, fmt.Errorf("boltstore: get %q: %w", key, store.ErrNotFound)
	}
	return kv, nil
}

// Rev returns the current store revision.
func (s *Store) Rev(ctx context.Context) (int64, error) {
	if err := s.readable(ctx); err != nil {
		return 0, err
	}
	return s.durable.Load(), nil
}

// Watch delivers the changes under prefix from fromRev on; see
// store.Store.Watch and the package doc. Each watch owns a goroutine that
// ends when ctx ends, or once its last event (ErrCompacted or ErrClosed) has
// been received.
func (s *Store) Watch(ctx context.Context, prefix string, fromRev int64, opts ...store.WatchOption) <-chan []store.Event {
	return s.hub.watch(ctx, prefix, fromRev, store.NewWatchOptions(opts...))
}

// Close answers the transactions already queued (committing them), stops the
// committer, ends every watch with store.ErrClosed and closes the file.
// Calls after the first return an error wrapping store.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return errClosed
	}
	s.closing = true
	s.closed.Store(true)
	s.mu.Unlock()
	s.wake()
	<-s.done
	s.hub.close()
	// Bring bbolt up to date, so the next Open replays nothing. When the
	// disk refuses, give up: everything is in the write-ahead log, which
	// the next Open replays.
	if err := s.waitCheckpoint(); err == nil && len(s.over) > 0 {
		s.freeze()
		_ = s.waitCheckpoint()
	}
	close(s.ckptStop)
	close(s.ckptJobs)
	<-s.ckptStopped
	<-s.releaseStopped
	werr := s.wal.close()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close: %w", err)
	}
	if werr != nil {
		return fmt.Errorf("boltstore: close: write-ahead log: %w", werr)
	}
	return nil
}

func (s *Store) readable(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	return ctx.Err()
}

// readErr wraps an error from a read transaction.
func readErr(op string, err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return errClosed
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("boltstore: %s: %w", op, err)
}

func encodeRev(rev int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(rev))
}

// encodeValue lays out a stored value: createRev, modRev, then the bytes.
func encodeValue(createRev, modRev int64, value []byte) []byte {
	buf := make([]byte, headerLen+len(value))
	binary.BigEndian.PutUint64(buf[0:8], uint64(createRev))
	binary.BigEndian.PutUint64(buf[8:16], uint64(modRev))
	copy(buf[headerLen:], value)
	return buf
}

func createRevOf(v []byte) int64 { return int64(binary.BigEndian.Uint64(v[0:8])) }
func modRevOf(v []byte) int64    { return int64(binary.BigEndian.Uint64(v[8:16])) }

// decodeKV decodes a stored value into a KV that owns its bytes: v belongs
// to bbolt and is valid only inside its transaction.
func decodeKV(key string, v []byte) (store.KV, error) {
	if len(v) < headerLen {
		return store.KV{}, fmt.Errorf("corrupt value for key %q (%d bytes)", key, len(v))
	}
	return store.KV{
		Key:            key,
		Value:          bytes.Clone(v[headerLen:]),
		CreateRevision: createRevOf(v),
		ModRevision:    modRevOf(v),
	}, nil
}

// Stats are counters of the committer since Open.
type Stats struct {
	// Commits is the number of batches made durable (one WAL fdatasync each).
	Commits int64
	// Checkpoints is the number of checkpoints written into bbolt.
	Checkpoints int64
	// CheckpointRevision is the revision the bbolt file holds once its
	// last checkpoint is complete: the store is at rest (no checkpoint
	// to come or running) when it equals the store's revision.
	CheckpointRevision int64
	// Txns is the number of store transactions that created a revision.
	Txns int64
	// CommitTime is the time spent writing and flushing WAL records;
	// LingerTime the time the committer waited to fill batches.
	CommitTime, LingerTime time.Duration
	// WALBytes is the bytes of records written to the write-ahead log.
	WALBytes int64
	// CheckpointFailing says the running checkpoint keeps failing (a full
	// disk): writes fail once the write-ahead log is full.
	CheckpointFailing bool
	// FileSize is the size of the bbolt file, and FreeBytes how much of it
	// is free pages: space that bbolt reuses for new writes before it
	// grows the file, and that a compaction gives back. (The file also
	// runs up to bbolt's growth step, 16 MiB, past its last page in use.)
	// Both are 0 once the store is closed.
	FileSize, FreeBytes int64
	// Compaction is what Open's compaction did (zero At if it did not
	// compact).
	Compaction Compaction
}

// Stats returns the committer's counters and the file's use; Txns/Commits
// is the group commit's average batch.
func (s *Store) Stats() Stats {
	st := Stats{Commits: s.commits.Load(), Txns: s.applied.Load(), Checkpoints: s.checkpoints.Load(),
		CheckpointRevision: s.checkpointed.Load(),
		CommitTime:         time.Duration(s.commitNanos.Load()), LingerTime: time.Duration(s.lingerNanos.Load()),
		WALBytes: s.walBytes.Load(), CheckpointFailing: s.ckptFailing.Load(), Compaction: s.compaction}
	if !s.closed.Load() {
		st.FileSize, st.FreeBytes, _ = usage(s.db, s.path, s.pageSize)
	}
	return st
}
