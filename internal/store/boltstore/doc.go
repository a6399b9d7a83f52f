// Package boltstore is mapmesh's default store.Store: an embedded,
// single-process backend in one bbolt file (go.etcd.io/bbolt), with an
// in-process watch fan-out.
//
// # On-disk layout
//
// The bbolt file holds two buckets:
//
//	kv    key   -> createRev (8 bytes, big endian) | modRev (8 bytes) | value
//	meta  "rev" -> the revision the file is up to date with (8 bytes, big endian)
//	      "version" -> the format version (1 byte, currently 1)
//
// Beside it, two write-ahead log files, <file>.wal.0 and <file>.wal.1
// (wal.go has the record format). Open takes an exclusive file lock on the
// bbolt file; a second process gets an error after Options.LockTimeout
// instead of hanging.
//
// The file never shrinks while the store runs (bbolt reuses its free pages
// instead). When it is large (Options.CompactMinSize) and more than half of
// it is free, Open, once it has replayed the write-ahead log and before it
// serves, copies the live data into <file>.compact and renames that over
// the file, crash-safely (compact.go); Stats reports the file's size, its
// free pages and the compaction.
//
// # Group commit and the write-ahead log
//
// Txn validates its transaction against the limits (Options.MaxTxnOps,
// Options.MaxTxnBytes; beyond them store.ErrTooLarge), queues it and waits.
// One committer goroutine takes everything that queued while its previous
// commit ran (up to Options.MaxBatchTxns and MaxBatchBytes; when fewer are
// queued than writers were recently in flight, it waits up to
// Options.MaxCommitDelay for them) and applies it, one store transaction
// after the other, against the current state: each one's conds see the
// writes of those before it, a failed cond fails only its own transaction,
// and each transaction that changes something gets the next revision. The
// batch's net effect is then written as one record to the write-ahead log
// and flushed with one fdatasync, so a Txn never returns before its writes
// are on disk. Only then do readers see them, are the events published, in
// revision order, and is every caller answered. A batch where nothing
// changed writes nothing.
//
// The log makes a commit one sequential write and one flush of blocks that
// already exist, where a bbolt commit is two flushes of scattered pages.
// bbolt is brought up to date in the background (checkpoint.go): the
// committer freezes the writes made since the last checkpoint and switches
// to the other log file, and a checkpointer goroutine writes them into
// bbolt in one transaction, with the revision they reach. Until that
// transaction commits, reads find those writes in memory (state.go), and a
// restart replays them from the log. Only one checkpoint runs at a time, so
// a log file is only reused once everything in it is in bbolt. Close
// checkpoints everything, so a clean restart replays nothing.
//
// Reads (Get, List, ListPage, Scan, Rev) never wait for the committer.
// Range reads (read.go) take the in-memory writes and a bbolt read
// transaction as one snapshot, with the revision they reflect, and merge
// them in key order: the in-memory writes are also kept in copy-on-write
// B-trees (github.com/google/btree), so a snapshot of them costs nothing
// and a page seeks into them as it seeks in bbolt. A page costs what it
// holds, not what its prefix holds; Scan walks its snapshot one key at a
// time and List is Scan, collected.
//
// # Watch
//
// The committer appends each revision's events to an in-memory history,
// bounded by Options.HistoryRevisions and Options.HistoryBytes, and wakes
// the watchers; it never waits for one. Each watch has a goroutine with a
// cursor into the history that reads and sends at the consumer's pace. So
// replaying from fromRev and following live changes are the same code path,
// and a watch started at List's revision + 1 sees every later change exactly
// once, whatever commits race with it. A fromRev older than the history (the
// history starts empty at Open, so after a restart any revision up to the
// current one) gets an Event with store.ErrCompacted; so does a watcher whose
// consumer falls so far behind that its cursor leaves the history. Its memory
// is thus bounded by the history, shared by all watchers.
//
// Close lets the committer answer what is queued, ends every watch with
// store.ErrClosed and closes the file. A watch goroutine ends once its
// consumer has received that last event, or when its ctx ends.
package boltstore
