package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mapmesh/mapmesh/internal/store"
)

var _ store.Store = (*Store)(nil)

// Defaults for the zero Options.
const (
	DefaultPrefix         = "/mapmesh/"
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 5 * time.Second
	// DefaultMaxTxnOps is etcd's default --max-txn-ops.
	DefaultMaxTxnOps = 128
	// DefaultMaxTxnBytes stays under etcd's default --max-request-bytes
	// (1.5 MiB), leaving room for the request's framing.
	DefaultMaxTxnBytes      = 1536<<10 - 64<<10
	DefaultListPageSize     = 500
	DefaultProgressInterval = time.Second
	DefaultWatchBufferBytes = 16 << 20
)

// TLS names the files of a TLS client configuration.
type TLS struct {
	// CAFile verifies the servers' certificates (the system roots when
	// empty).
	CAFile string
	// CertFile and KeyFile are the client certificate and its key, for
	// servers that require client authentication.
	CertFile, KeyFile string
}

// Options configures a Store. A field left at zero takes its default.
type Options struct {
	// Endpoints are the etcd client URLs, e.g. "http://127.0.0.1:2379"
	// (https with TLS).
	Endpoints []string
	// Prefix is prepended to every store key (DefaultPrefix when empty), so
	// that several mapmesh clusters can share one etcd. Watch and List
	// strip it. It must end with "/", so that no prefix is the start of
	// another cluster's ("/a" would see "/ab/...").
	Prefix string
	// TLS, when set, secures the connections.
	TLS *TLS
	// DialTimeout bounds establishing a connection.
	DialTimeout time.Duration
	// RequestTimeout bounds every call to etcd (each page of a List); an
	// etcd that does not answer in time gives an error wrapping
	// store.ErrUnavailable.
	RequestTimeout time.Duration
	// MaxTxnOps and MaxTxnBytes bound one transaction: its ops and conds,
	// counted before and after compilation (see compile), and its keys and
	// values. Beyond them Txn fails with store.ErrTooLarge. They must not
	// exceed the server's --max-txn-ops and --max-request-bytes.
	MaxTxnOps   int
	MaxTxnBytes int
	// ListPageSize is how many keys one List request reads.
	ListPageSize int
	// ProgressInterval is how often a WithProgress watch asks etcd for
	// progress when it has no reason to think it is behind (to learn of
	// other clients' writes). It asks at once, and again until answered,
	// when this Store has seen a revision the watch has not reached.
	ProgressInterval time.Duration
	// WatchBufferBytes bounds the events a watch holds for a slow consumer;
	// beyond it the watch stops reading from etcd until the consumer has
	// taken half of them, then resumes from the next revision.
	WatchBufferBytes int
	// Client, when set, is used instead of dialing Endpoints (TLS and
	// DialTimeout are then ignored). Close leaves it open.
	Client *clientv3.Client
	// Logger receives the watches' reconnections (discarded when nil).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	defDur(&o.DialTimeout, DefaultDialTimeout)
	defDur(&o.RequestTimeout, DefaultRequestTimeout)
	defDur(&o.ProgressInterval, DefaultProgressInterval)
	def(&o.MaxTxnOps, DefaultMaxTxnOps)
	def(&o.MaxTxnBytes, DefaultMaxTxnBytes)
	def(&o.ListPageSize, DefaultListPageSize)
	def(&o.WatchBufferBytes, DefaultWatchBufferBytes)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

var errClosed = fmt.Errorf("etcdstore: %w", store.ErrClosed)

// Store is a store.Store on an etcd cluster. Its methods are safe for
// concurrent use.
type Store struct {
	cli       *clientv3.Client
	ownClient bool
	opts      Options
	prefix    string
	log       *slog.Logger

	// base is canceled by Close: every call and watch derives from it.
	base   context.Context
	cancel context.CancelFunc
	closed atomic.Bool

	// seen is the highest revision an answer of etcd to this Store showed
	// (Txn, Get, List, Rev). A WithProgress watch below it asks for
	// progress.
	seen atomic.Int64

	// txns counts the Txns in flight; Close waits for them. txnMu orders
	// their start with Close's.
	txnMu sync.RWMutex
	txns  sync.WaitGroup

	mu       sync.Mutex // guards progress
	progress map[*watcher]struct{}
}

// New returns a Store on the etcd cluster at opts.Endpoints, or on
// opts.Client. It does not wait for etcd: the first calls fail with
// store.ErrUnavailable if it cannot be reached.
func New(opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if !strings.HasSuffix(opts.Prefix, "/") {
		return nil, fmt.Errorf("etcdstore: prefix %q does not end with /", opts.Prefix)
	}
	s := &Store{opts: opts, prefix: opts.Prefix, log: opts.Logger, progress: map[*watcher]struct{}{}}
	if opts.Client != nil {
		s.cli = opts.Client
	} else {
		if len(opts.Endpoints) == 0 {
			return nil, errors.New("etcdstore: no endpoints")
		}
		cfg := clientv3.Config{
			Endpoints:   opts.Endpoints,
			DialTimeout: opts.DialTimeout,
			// Find a dead connection that the OS does not report; etcd
			// refuses pings more often than every 5 s by default.
			DialKeepAliveTime:    10 * time.Second,
			DialKeepAliveTimeout: 3 * time.Second,
			Logger:               zap.NewNop(),
		}
		if opts.TLS != nil {
			info := transport.TLSInfo{TrustedCAFile: opts.TLS.CAFile, CertFile: opts.TLS.CertFile, KeyFile: opts.TLS.KeyFile}
			tc, err := info.ClientConfig()
			if err != nil {
				return nil, fmt.Errorf("etcdstore: tls: %w", err)
			}
			cfg.TLS = tc
		}
		cli, err := clientv3.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("etcdstore: connect %v: %w", opts.Endpoints, mapErr(err))
		}
		s.cli, s.ownClient = cli, true
	}
	s.base, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// reqCtx bounds one call to etcd by ctx, RequestTimeout and Close.
func (s *Store) reqCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	stop := context.AfterFunc(s.base, cancel)
	return ctx, func() { stop(); cancel() }
}

// observe records that etcd has reached rev, and wakes the WithProgress
// watches that are now behind.
func (s *Store) observe(rev int64) {
	for {
		cur := s.seen.Load()
		if rev <= cur {
			return
		}
		if s.seen.CompareAndSwap(cur, rev) {
			break
		}
	}
	s.mu.Lock()
	for w := range s.progress {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	s.mu.Unlock()
}

// key returns the etcd key of a store key.
func (s *Store) key(k string) string { return s.prefix + k }

// strip returns the store key of an etcd key.
func (s *Store) strip(k []byte) string { return string(k[len(s.prefix):]) }

// rangeOf returns the etcd range [key, end) holding the store keys that
// start with prefix. (Options.Prefix ends with "/", so key is never empty
// and end is never etcd's "to the end of the key space".)
func (s *Store) rangeOf(prefix string) (key, end string) {
	key = s.key(prefix)
	end, _ = prefixEnd(key)
	return key, end
}

// err turns an error of a call made with ctx into the store's errors: the
// store closed, ctx ended, or etcd's error mapped by mapErr.
func (s *Store) err(ctx context.Context, op string, err error) error {
	switch {
	case s.closed.Load():
		return fmt.Errorf("etcdstore: %s: %w", op, store.ErrClosed)
	case ctx.Err() != nil:
		return fmt.Errorf("etcdstore: %s: %w", op, ctx.Err())
	}
	return fmt.Errorf("etcdstore: %s: %w", op, mapErr(err))
}

// mapErr is the one place that maps etcd's and gRPC's errors to the store's
// sentinel errors. The caller's context and Close are handled before it, so
// a context error here is RequestTimeout's.
func mapErr(err error) error {
	code := codes.Unknown
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		code = ee.Code()
	} else if st, ok := status.FromError(err); ok {
		code = st.Code()
	}
	switch {
	case errors.Is(err, rpctypes.ErrTooManyOps), errors.Is(err, rpctypes.ErrRequestTooLarge),
		code == codes.ResourceExhausted && strings.Contains(err.Error(), "larger than max"):
		return fmt.Errorf("%w: %w", store.ErrTooLarge, err)
	case errors.Is(err, rpctypes.ErrNoSpace):
		return fmt.Errorf("%w: %w", store.ErrNoSpace, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		code == codes.Unavailable, code == codes.DeadlineExceeded, code == codes.Canceled,
		code == codes.ResourceExhausted, code == codes.Aborted:
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// Get returns the key, or an error wrapping store.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (store.KV, error) {
	if s.closed.Load() {
		return store.KV{}, errClosed
	}
	rctx, done := s.reqCtx(ctx)
	resp, err := s.cli.Get(rctx, s.key(key))
	done()
	if err != nil {
		return store.KV{}, s.err(ctx, fmt.Sprintf("get %q", key), err)
	}
	s.observe(resp.Header.Revision)
	if len(resp.Kvs) == 0 {
		return store.KV{}, fmt.Errorf("etcdstore: get %q: %w", key, store.ErrNotFound)
	}
	return s.kv(resp.Kvs[0].Key, resp.Kvs[0].Value, resp.Kvs[0].CreateRevision, resp.Kvs[0].ModRevision), nil
}

// kv builds a store.KV; the value is never nil, so that an empty value reads
// back as present.
func (s *Store) kv(key, value []byte, createRev, modRev int64) store.KV {
	if value == nil {
		value = []byte{}
	}
	return store.KV{Key: s.strip(key), Value: value, CreateRevision: createRev, ModRevision: modRev}
}

// List returns the keys starting with prefix in key order, read at one
// revision in pages of ListPage size keys, and that revision: Scan,
// collected. A compaction of that revision between two pages starts the
// List again (a few times).
func (s *Store) List(ctx context.Context, prefix string) ([]store.KV, int64, error) {
	for attempt := 1; ; attempt++ {
		var kvs []store.KV
		rev, err := s.scan(ctx, "list", prefix, func(kv store.KV) error {
			kvs = append(kvs, kv)
			return nil
		})
		if err == nil {
			return kvs, rev, nil
		}
		if !errors.Is(err, store.ErrCompacted) || attempt == 3 {
			return nil, 0, err
		}
	}
}

// Scan calls fn with every key starting with prefix in key order, read at
// one revision in pages of ListPageSize keys, and returns that revision;
// see store.Store. A compaction of the revision between two pages fails
// the scan with an error wrapping store.ErrCompacted: fn has seen part of
// the keys, and only the caller can start again.
func (s *Store) Scan(ctx context.Context, prefix string, fn func(store.KV) error) (int64, error) {
	return s.scan(ctx, "scan", prefix, fn)
}

func (s *Store) scan(ctx context.Context, op, prefix string, fn func(store.KV) error) (int64, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	from, end := s.rangeOf(prefix)
	var rev int64
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(int64(s.opts.ListPageSize))}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		rctx, done := s.reqCtx(ctx)
		resp, err := s.cli.Get(rctx, from, opts...)
		done()
		if errors.Is(err, rpctypes.ErrCompacted) {
			return 0, fmt.Errorf("etcdstore: %s %q: revision %d compacted between two pages: %w", op, prefix, rev, store.ErrCompacted)
		}
		if err != nil {
			return 0, s.err(ctx, fmt.Sprintf("%s %q", op, prefix), err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
			s.observe(rev)
		}
		for _, kv := range resp.Kvs {
			if err := fn(s.kv(kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision)); err != nil {
				return 0, err
			}
			if s.closed.Load() {
				return 0, errClosed
			}
			if err := ctx.Err(); err != nil {
				return 0, fmt.Errorf("etcdstore: %s %q: %w", op, prefix, err)
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return rev, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// ListPage returns one page of the keys starting with prefix, in one range
// request; see store.Store. Reverse pages ask etcd to sort by key,
// descending: etcd (3.6) then reads every key of the range before it
// sorts and truncates (executeRange drops the limit of a sorted request),
// so a reverse page costs what the rest of the prefix holds. Forward pages
// read only the page's values, but etcd still walks its in-memory index
// over the rest of the range to count it. See docs/store.md.
func (s *Store) ListPage(ctx context.Context, prefix string, opts store.PageOptions) (store.Page, error) {
	if s.closed.Load() {
		return store.Page{}, errClosed
	}
	from, end := s.rangeOf(prefix)
	ops := []clientv3.OpOption{clientv3.WithLimit(int64(opts.PageLimit()))}
	if opts.Reverse {
		if opts.After != "" && s.key(opts.After) < end {
			end = s.key(opts.After)
		}
		ops = append(ops, clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	} else if opts.After != "" && s.key(opts.After)+"\x00" > from {
		from = s.key(opts.After) + "\x00"
	}
	if from >= end {
		// An empty range (etcd reads [from, end) with end <= from as
		// empty too, but say so rather than rely on it).
		rev, err := s.Rev(ctx)
		if err != nil {
			return store.Page{}, err
		}
		return store.Page{Rev: rev}, nil
	}
	ops = append(ops, clientv3.WithRange(end))
	rctx, done := s.reqCtx(ctx)
	resp, err := s.cli.Get(rctx, from, ops...)
	done()
	if err != nil {
		return store.Page{}, s.err(ctx, fmt.Sprintf("list page %q", prefix), err)
	}
	s.observe(resp.Header.Revision)
	page := store.Page{Rev: resp.Header.Revision, More: resp.More}
	if len(resp.Kvs) > 0 {
		page.KVs = make([]store.KV, len(resp.Kvs))
		for i, kv := range resp.Kvs {
			page.KVs[i] = s.kv(kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision)
		}
	}
	return page, nil
}

// Rev returns the current store revision, read through etcd's quorum
// (a linearizable read of one key).
func (s *Store) Rev(ctx context.Context) (int64, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	rctx, done := s.reqCtx(ctx)
	resp, err := s.cli.Get(rctx, s.prefix, clientv3.WithCountOnly())
	done()
	if err != nil {
		return 0, s.err(ctx, "rev", err)
	}
	s.observe(resp.Header.Revision)
	return resp.Header.Revision, nil
}

// Close lets the transactions in flight finish (each within
// RequestTimeout), so that a Txn's outcome is never in doubt because of
// Close; then it ends every watch with store.ErrClosed, makes the reads in
// flight return store.ErrClosed, and closes the client if New created it.
// Calls after the first return an error wrapping store.ErrClosed.
func (s *Store) Close() error {
	s.txnMu.Lock()
	if !s.closed.CompareAndSwap(false, true) {
		s.txnMu.Unlock()
		return errClosed
	}
	s.txnMu.Unlock()
	s.txns.Wait()
	s.cancel()
	if s.ownClient {
		if err := s.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("etcdstore: close: %w", err)
		}
	}
	return nil
}

// Client returns the etcd client, for what else of a mapmesh cluster lives
// in etcd beside the store (membership: internal/cluster).
func (s *Store) Client() *clientv3.Client { return s.cli }

// Prefix returns the prefix of the store's keys in etcd.
func (s *Store) Prefix() string { return s.prefix }
