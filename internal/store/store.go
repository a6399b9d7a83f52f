// Package store defines the revisioned key-value contract that holds all of
// mapmesh's state, and the sentinel errors its backends return.
//
// Every change is a transaction that bumps one store-wide revision. Keys keep
// the revision that created them and the revision that last modified them, so
// callers can read, decide and commit with compare-and-swap conditions, the way
// etcd's Txn works. Watchers receive committed changes in revision order, one
// batch per transaction. Domain packages (cloudmap, appmesh) see only this
// interface; boltstore (embedded) and etcdstore (cluster) implement it, and
// storetest holds the conformance suite every backend must pass.
package store

import (
	"context"
	"errors"
)

// Sentinel errors. Backends wrap them with %w; callers test with errors.Is.
var (
	// ErrNotFound is returned by Get when the key does not exist.
	ErrNotFound = errors.New("store: key not found")
	// ErrConflict is returned by Txn when one of its conditions does not hold.
	// Nothing of the transaction is applied.
	ErrConflict = errors.New("store: condition failed")
	// ErrCompacted is carried by a watch Event when the requested start
	// revision is older than the history the backend keeps, or when the
	// watcher fell too far behind. The watcher must List again and re-watch.
	ErrCompacted = errors.New("store: revision compacted")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("store: closed")
	// ErrTooLarge is returned by Txn when a transaction exceeds the backend's
	// limits (number of operations or bytes). Nothing of it is applied.
	ErrTooLarge = errors.New("store: transaction too large")
	// ErrNoSpace is returned by Txn when the backend's disk is full. Nothing
	// of the transaction is applied; the same transaction may succeed once
	// space is freed.
	ErrNoSpace = errors.New("store: no space left on device")
	// ErrUnavailable says the store cannot serve a request now (unreachable,
	// or a projection of it has not caught up in time); a retry may
	// succeed. Backends and projections wrap it.
	ErrUnavailable = errors.New("store: unavailable")
)

// KV is one key with its value and revisions.
type KV struct {
	Key   string
	Value []byte
	// CreateRevision is the revision of the transaction that created the key.
	CreateRevision int64
	// ModRevision is the revision of the transaction that last wrote the key.
	ModRevision int64
}

// Cond is a compare-and-swap condition on one key: the transaction applies
// only if the key's current ModRevision equals ModRevision. ModRevision 0
// means "the key must not exist".
type Cond struct {
	Key         string
	ModRevision int64
}

// OpType says what an Op does.
type OpType uint8

const (
	// OpPut writes Value at Key.
	OpPut OpType = iota + 1
	// OpDelete removes Key; deleting a missing key is not an error and
	// produces no event.
	OpDelete
	// OpDeletePrefix removes every key that starts with Key.
	OpDeletePrefix
)

// Op is one write in a transaction. Ops apply in order; a later op on the
// same key sees the earlier one. Keys must not be empty.
type Op struct {
	Type  OpType
	Key   string
	Value []byte
}

// Put returns an OpPut.
func Put(key string, value []byte) Op { return Op{Type: OpPut, Key: key, Value: value} }

// Delete returns an OpDelete.
func Delete(key string) Op { return Op{Type: OpDelete, Key: key} }

// DeletePrefix returns an OpDeletePrefix.
func DeletePrefix(prefix string) Op { return Op{Type: OpDeletePrefix, Key: prefix} }

// EventType says what happened to a key.
type EventType uint8

const (
	// EventPut means the key was created or overwritten.
	EventPut EventType = iota + 1
	// EventDelete means the key was removed.
	EventDelete
	// EventProgress carries no change: it says that every change under
	// the watched prefix up to and including Event.Rev has been delivered
	// (see WithProgress).
	EventProgress
)

// Event is one committed change to one key.
//
// A transaction yields at most one event per key, describing the key's net
// change: Prev is the value before the transaction and KV the key after it.
// A key that a transaction both creates and removes yields no event. The
// order of the events within one transaction is unspecified.
type Event struct {
	Type EventType
	// Rev is the revision of the transaction that made the change.
	Rev int64
	// KV is the key after the change. For a delete, KV.Value is nil,
	// KV.CreateRevision is 0 and KV.ModRevision is Rev.
	KV KV
	// Prev is the value before the change, nil if the key did not exist.
	Prev []byte
	// Err, when set, ends the watch: the channel is closed after this event.
	// It wraps ErrCompacted (start revision too old, or watcher too slow) or
	// ErrClosed.
	Err error
}

// TxnResult is what Txn did.
type TxnResult struct {
	// Rev is the revision the transaction created when Changed; otherwise
	// (a failed condition, or nothing to change) the store revision the
	// transaction was evaluated at.
	Rev int64
	// Changed says whether the transaction changed anything, and so
	// created revision Rev.
	Changed bool
}

// WatchOption configures a Watch.
type WatchOption func(*WatchOptions)

// WatchOptions are the options of a Watch; backends read them with
// NewWatchOptions.
type WatchOptions struct {
	// Progress asks for progress events (WithProgress).
	Progress bool
}

// NewWatchOptions applies opts.
func NewWatchOptions(opts ...WatchOption) WatchOptions {
	var o WatchOptions
	for _, fn := range opts {
		fn(&o)
	}
	return o
}

// WithProgress asks a watch to report progress: besides the changes under
// its prefix, it delivers progress events, each alone in its slice, of
// Type EventProgress with Rev R meaning "every change under the prefix up
// to and including revision R has been delivered". A backend sends one,
// within a bounded delay, whenever the store revision has moved past the
// last revision the watch delivered without a change under its prefix
// (boltstore: as soon as the watch has read the history to its end; etcd:
// within its progress interval, or on request). Consecutive progress may
// be coalesced; a progress Rev never goes backwards and is never below a
// change already delivered. With it, a follower of one prefix can wait for
// any revision the store has committed, whatever prefix it was under.
func WithProgress() WatchOption { return func(o *WatchOptions) { o.Progress = true } }

// Page bounds (PageOptions.Limit).
const (
	// DefaultPageLimit is the size of a page whose Limit is 0 or less.
	DefaultPageLimit = 1000
	// MaxPageLimit caps Limit.
	MaxPageLimit = 10_000
)

// PageOptions selects one page of the keys under a prefix (ListPage).
type PageOptions struct {
	// After is where the page starts, exclusive: the page holds keys
	// greater than After (with Reverse, less than After). "" starts at the
	// first key under the prefix (with Reverse, the last). To read the next
	// page, pass the last key of this one.
	After string
	// Limit is the most keys the page holds: DefaultPageLimit when 0 or
	// less, and never more than MaxPageLimit.
	Limit int
	// Reverse reads in descending key order.
	Reverse bool
}

// PageLimit returns how many keys a page read with o holds at most.
func (o PageOptions) PageLimit() int {
	switch {
	case o.Limit <= 0:
		return DefaultPageLimit
	case o.Limit > MaxPageLimit:
		return MaxPageLimit
	}
	return o.Limit
}

// Page is one page of keys (ListPage).
type Page struct {
	// KVs are the keys in the order asked for.
	KVs []KV
	// Rev is the store revision the page was read at. Each page is read
	// at its own revision: keys written or removed between two pages show
	// in the next one as they are then.
	Rev int64
	// More says that keys under the prefix remain beyond the page, in the
	// order asked for, at Rev.
	More bool
}

// Store is the revisioned key-value contract.
//
// All methods are safe for concurrent use. A Txn returns only once the
// transaction is durable (for boltstore: fsynced to disk; for etcd: committed
// by a quorum). Watch events for a transaction are delivered after Txn has
// made it durable, to every watcher whose prefix matches, in revision order.
// Values returned by Get, List, ListPage and Scan belong to the caller; the
// slices and values delivered by Watch may be shared between watchers and
// must not be modified.
type Store interface {
	// Get returns the key, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (KV, error)
	// List returns every key starting with prefix, in key order, and the
	// store revision the read was taken at. It holds them all at once: for
	// a prefix that may hold many keys, use Scan or ListPage.
	List(ctx context.Context, prefix string) ([]KV, int64, error)
	// ListPage returns one page of the keys starting with prefix: those
	// after opts.After in key order (descending with opts.Reverse), at
	// most opts.PageLimit() of them, read at one revision. In boltstore
	// its cost depends on the page, not on how many keys the prefix holds;
	// etcd does more (etcdstore's doc).
	ListPage(ctx context.Context, prefix string, opts PageOptions) (Page, error)
	// Scan calls fn with every key starting with prefix, in key order,
	// one at a time, from one snapshot: what List would return. It returns
	// the snapshot's revision. fn owns the KV it is given. An error from
	// fn stops the scan and is returned as is; so does the end of ctx (an
	// error wrapping ctx.Err()), and Close (ErrClosed). A backend that
	// cannot keep its snapshot for the whole scan (etcd compacted the
	// revision between two pages) fails with an error wrapping
	// ErrCompacted after fn has seen part of it; the caller may start
	// again. Writes made while Scan runs, by fn or anyone else, are not
	// seen. fn should not take long: the snapshot holds resources of the
	// backend (boltstore: a read transaction) until Scan returns.
	Scan(ctx context.Context, prefix string, fn func(KV) error) (int64, error)
	// Txn applies ops atomically if every cond holds, and returns the new
	// store revision with Changed set. If a condition fails it returns the
	// current revision and an error wrapping ErrConflict, and applies
	// nothing. A transaction that changes nothing (no ops, or only deletes
	// of missing keys) creates no revision and returns the current one with
	// Changed false; its conds are still checked. Every transaction that
	// changes something bumps the store revision by exactly one, whatever
	// its number of ops. If ctx is already done, Txn returns an error
	// wrapping ctx.Err() and applies nothing. Txn never waits longer than
	// the backend needs to decide: a backend that cannot make the
	// transaction durable (a full disk: ErrNoSpace; unreachable:
	// ErrUnavailable) fails it instead of waiting.
	Txn(ctx context.Context, conds []Cond, ops []Op) (TxnResult, error)
	// Watch delivers the changes under prefix with revision >= fromRev, one
	// slice per transaction, in revision order. Transactions with no change
	// under prefix deliver nothing. fromRev 0 means "from the next
	// transaction": every transaction that starts after Watch returns is
	// delivered. To follow a prefix without gap or duplicate, List it and
	// Watch from the List revision + 1. The channel closes when ctx ends or
	// the store closes; an Event with Err set (alone in its slice) comes
	// before a close caused by anything but ctx. WithProgress adds
	// progress events.
	Watch(ctx context.Context, prefix string, fromRev int64, opts ...WatchOption) <-chan []Event
	// Rev returns the current store revision.
	Rev(ctx context.Context) (int64, error)
	// Close releases the store. Pending watches end with ErrClosed.
	Close() error
}
