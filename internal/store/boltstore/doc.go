// Package boltstore is mapmesh's default store.Store: an embedded,
// single-process backend in one bbolt file (go.etcd.io/bbolt), with an
// in-process watch fan-out.
//
// # On-disk layout
//
// The file holds two buckets:
//
//	kv    key   -> createRev (8 bytes, big endian) | modRev (8 bytes) | value
//	meta  "rev" -> the store revision (8 bytes, big endian)
//	      "version" -> the format version (1 byte, currently 1)
//
// bbolt keeps keys sorted, so List is a cursor seek to the prefix. The
// revision is written in the same bbolt transaction as the keys, so it
// survives a restart and always matches the data. Open takes an exclusive
// file lock; a second process gets an error after Options.LockTimeout
// instead of hanging.
//
// # Group commit
//
// Txn validates its transaction against the limits (Options.MaxTxnOps,
// Options.MaxTxnBytes; beyond them store.ErrTooLarge), queues it and waits.
// One committer goroutine takes everything that queued while its previous
// commit ran (up to Options.MaxBatchTxns and MaxBatchBytes) and applies it
// in a single bbolt read-write transaction, one store transaction after the
// other: each one's conds see the writes of those before it, a failed cond
// fails only its own transaction, and each transaction that changes
// something gets the next revision. The batch is then committed once, with
// one fsync, so a Txn never returns before its writes are on disk (NoSync is
// never set). Only then are the batch's events published, in revision
// order, and every caller answered. A batch where nothing changed is rolled
// back and costs no fsync. Under concurrent writers this turns N fsyncs into
// about one; see the benchmarks.
//
// Reads (Get, List, Rev) use bbolt read transactions and run concurrently
// with the committer. List reads the keys and the revision in one snapshot.
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
