// Package etcdstore is mapmesh's cluster store.Store: the store on an etcd
// v3 cluster, through go.etcd.io/etcd/client/v3. Every mapmesh node opens
// one on the same cluster and sees the same revisions.
//
// # Key layout
//
// A store key k is the etcd key Options.Prefix+k ("/mapmesh/" by
// default), so that several mapmesh clusters can share one etcd; values are
// stored as they are. List and Watch strip the prefix, and a DeletePrefix("")
// stays inside it. Nothing else is written: the store's revisions are
// etcd's, and KV.CreateRevision and KV.ModRevision are etcd's
// create_revision and mod_revision.
//
// # How the contract maps to etcd
//
// Get, List, ListPage, Scan and Rev are linearizable reads (etcd's
// default), so they see every transaction that returned before them,
// whichever member serves them. Rev is a read of one key, and the revision
// is the response header's. Scan reads its range in pages of
// Options.ListPageSize keys: the first page gives the revision, the next
// ones read at that revision (WithRev) from the key after the last one, so
// the result is one snapshot without one unbounded response. If etcd
// compacts that revision between two pages, Scan fails with
// store.ErrCompacted (fn has seen part of it), and List, which is Scan
// collected, starts again. ListPage is one range request (WithLimit; for
// Reverse, sorted by key descending).
//
// What etcd (3.6) does with a range request sets the cost of a page: with
// a limit, it still walks its in-memory index over the whole rest of the
// range to count it (no values read: cheap per key, but linear), and a
// sorted request is not limited at all before the sort: a Reverse page
// reads every value of the range below After. So a forward page costs
// O(limit) values plus an index walk of the keys after it, and a reverse
// page O(keys before After) values; a Scan of n keys walks the index
// O(n²/ListPageSize) times in all. docs/store.md has figures.
//
// Txn is one etcd transaction: If every cond compares mod_revision equal
// (a missing key has mod_revision 0, so ModRevision 0 means "must not
// exist"), Then the ops. etcd refuses a transaction that names a key twice
// or puts a key inside a range it deletes ("duplicate key given in txn
// request"), and it has no ordered ops, so Txn first compiles the ops into
// their net effect (compile.go): the last put of each key, deletes of the
// keys whose last op removes them, and each DeletePrefix as a delete of the
// prefix's range split around the keys put after it. These writes have, on
// any state, the effect the ops have one after the other, and etcd gives
// them the events the contract wants: one per key, with the value before
// the transaction as Prev; nothing for a key created and removed in the
// transaction, nor for a delete of a missing key. One thing etcd cannot
// express: a key that existed and that the transaction deletes and puts
// again keeps its CreateRevision (boltstore gives it the new one).
//
// etcd creates a revision only for a transaction that changed something,
// and its response header carries the new revision, or the current one if
// nothing changed or a condition failed. So TxnResult.Rev is the header's
// revision, and Changed is true when the transaction put a key or a delete
// found one. A failed condition returns store.ErrConflict with that
// revision.
//
// Limits: Txn refuses, with store.ErrTooLarge and before sending anything,
// a transaction with more than Options.MaxTxnOps ops or conds (before or
// after compilation; etcd's --max-txn-ops defaults to 128) or with more
// than about Options.MaxTxnBytes of keys and values (under etcd's default
// --max-request-bytes of 1.5 MiB). etcd's own refusals map to
// store.ErrTooLarge as well, a full etcd (NOSPACE alarm) to
// store.ErrNoSpace.
//
// Every call is bounded by Options.RequestTimeout: an etcd that does not
// answer, has no leader or is unreachable gives an error wrapping
// store.ErrUnavailable, never a hang. A Txn that times out may or may not
// have been applied; its caller learns which from a later read or watch.
// Close waits for the Txns in flight (so that a Txn that returns
// store.ErrClosed was not sent), then cancels the reads in flight.
//
// # Watch
//
// A watch is an etcd watch of the prefix's range WithRev(fromRev) and
// WithPrevKV, read by a goroutine that groups the events of one revision
// into one batch and maps PUT and DELETE to store events, Prev from the
// previous key-value. etcd sends an empty value as no value, so an event
// whose previous key-value is present has a non-nil Prev even when it is
// empty. fromRev 0 is resolved when Watch is called, to the revision after
// a quorum read of the current one, so every transaction that starts after
// Watch returns is delivered. Watch returns once etcd has created the watch
// (or after RequestTimeout): etcd delivers the first events of a watch
// created after the store passed its start revision only at its next
// resync, up to 100 ms later, so waiting for creation keeps the usual
// List, Watch, write sequence prompt.
//
// A watch reconnects by itself when its member fails or loses its leader
// (WithRequireLeader), from the revision after the last one it queued, so
// it neither misses nor repeats an event; it also drops anything at or
// below that revision, should a member send it. etcd may send an event
// without its previous value: when that value was compacted while the
// watch replayed, and (a race in etcd's watch server, still in 3.6 and
// main) for a transaction committed while etcd was registering the watch.
// The watch then reads the value at the revision before. A start revision
// that etcd has compacted, a compaction that overtakes a watch, or a
// previous value that is compacted (so that Prev cannot be given) end the
// watch with store.ErrCompacted: the follower must List again. A watch
// holds at most Options.WatchBufferBytes of events that its consumer has not
// taken; then it stops reading etcd until the consumer has taken half, and
// watches again from where it stopped (etcd's history is the buffer). Close
// ends every watch with store.ErrClosed; a watch whose ctx ends just
// closes.
//
// # Progress
//
// WithProgress maps to etcd's progress notifications: an etcd watch
// response with no events, whose header revision R says that every event
// of the watch up to R has been sent. Such a response becomes an
// EventProgress at R when R is past what the watch has delivered.
//
// etcd sends one periodically (WithProgressNotify, every 10 minutes by
// default, which is too slow) or on request (Watcher.RequestProgress). A
// request covers a whole gRPC watch stream, and etcd answers it only when
// every watch of the stream has caught up with the store and none starts in
// the future; otherwise it drops it (etcd-io/etcd#20242). So each
// WithProgress watch gets a gRPC stream of its own (clientv3 shares a
// stream between watches whose contexts carry the same metadata; a
// WithProgress watch adds a unique one), and asks again until it is
// answered:
//
//   - The Store remembers the highest revision any answer of etcd showed it
//     (Txn, Get, List, Rev: the revisions its callers can wait for, a
//     conflict's included). Whenever that moves past what a WithProgress
//     watch has queued, the watch requests progress at once, and again
//     after 5 ms, 10 ms, ... up to 200 ms while the request goes unanswered
//     and the watch is still behind: a watch that is still catching up, or
//     whose member has not yet applied the revision, is answered later.
//     One request is outstanding at a time, so under load a watch asks
//     about once per round trip.
//   - Every Options.ProgressInterval it asks anyway, to learn of other
//     clients' writes that no caller of this Store waits for.
//
// This relies on fixes to etcd's progress notifications: before 3.4.25 and
// 3.5.8 a requested notification could announce a revision before its
// events (etcd-io/etcd#15220); before 3.4.31 and 3.5.13 a request could go
// unanswered for good (etcd-io/etcd#17507). CheckVersion refuses those
// releases. Debian bookworm's etcd-server 3.4.23 is one: the conformance
// suite's Progress tests fail on it with a progress event ahead of a
// change.
package etcdstore
