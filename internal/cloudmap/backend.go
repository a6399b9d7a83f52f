package cloudmap

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/store"
	"github.com/mapmesh/mapmesh/internal/store/projection"
)

// Quotas are the per-account, per-region limits AWS applies, configurable.
type Quotas struct {
	NamespacesPerRegion   int
	ServicesPerNamespace  int
	InstancesPerService   int
	InstancesPerNamespace int
	TagsPerResource       int
	ServiceAttributes     int
}

// DefaultQuotas are AWS's default quotas.
var DefaultQuotas = Quotas{
	NamespacesPerRegion:   50,
	ServicesPerNamespace:  2000,
	InstancesPerService:   1000,
	InstancesPerNamespace: 2000,
	TagsPerResource:       50,
	ServiceAttributes:     30,
}

// Config configures a Backend.
type Config struct {
	// CustomHealthDelay is how long an UpdateInstanceCustomHealthStatus
	// takes to show. AWS takes about 30 s; the default is 0 (immediate).
	CustomHealthDelay time.Duration
	// Quotas are the limits; zero fields take DefaultQuotas' values.
	Quotas Quotas
	// OperationRetention is how long operations (and the idempotency
	// tokens they answer) are kept; DefaultOperationRetention when 0.
	OperationRetention time.Duration
	// SweepInterval is how often expired operations are deleted (one
	// minute when 0).
	SweepInterval time.Duration
	// HealthChecksAllNamespaces lets services in private DNS namespaces
	// have HealthCheckConfig too (AWS allows it only in public DNS and HTTP
	// namespaces). Off by default.
	HealthChecksAllNamespaces bool
	// Now is the clock (time.Now when nil).
	Now    func() time.Time
	Logger *slog.Logger
}

// DefaultOperationRetention is how long operations are kept by default.
// AWS does not document its retention; a week covers every client that
// polls an operation after making it.
const DefaultOperationRetention = 7 * 24 * time.Hour

// Backend implements the Cloud Map operations on a store.Store. It keeps an
// in-memory view of its keys, fed by the store's watch, for every read.
type Backend struct {
	store    store.Store
	cfg      Config
	now      func() time.Time
	log      *slog.Logger
	view     *view
	follower *projection.Follower // feeds view; read-your-writes (WaitCommitted)
	cancel   context.CancelFunc
	swept    chan struct{} // closed when sweepLoop returns
}

// New loads the Cloud Map state from st and starts following its changes.
// Close stops it.
func New(ctx context.Context, st store.Store, cfg Config) (*Backend, error) {
	q := &cfg.Quotas
	d := DefaultQuotas
	for _, f := range []struct {
		v   *int
		def int
	}{{&q.NamespacesPerRegion, d.NamespacesPerRegion}, {&q.ServicesPerNamespace, d.ServicesPerNamespace},
		{&q.InstancesPerService, d.InstancesPerService}, {&q.InstancesPerNamespace, d.InstancesPerNamespace},
		{&q.TagsPerResource, d.TagsPerResource}, {&q.ServiceAttributes, d.ServiceAttributes}} {
		if *f.v <= 0 {
			*f.v = f.def
		}
	}
	if cfg.OperationRetention <= 0 {
		cfg.OperationRetention = DefaultOperationRetention
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = time.Minute
	}
	b := &Backend{store: st, cfg: cfg, now: cfg.Now, log: cfg.Logger, swept: make(chan struct{})}
	if b.now == nil {
		b.now = time.Now
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	b.view = newView(b.log)
	f, err := projection.Start(ctx, st, keyRoot, b.view, b.log, "cloudmap")
	if err != nil {
		return nil, err
	}
	b.follower = f
	wctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	go b.sweepLoop(wctx)
	return b, nil
}

// Close stops following the store and sweeping. It does not close the store.
func (b *Backend) Close() error {
	b.cancel()
	<-b.swept
	b.follower.Close()
	return nil
}

// caller returns the account and region a request acts in.
func caller(ctx context.Context) (awsapi.Caller, partKey) {
	c, ok := awsapi.CallerFrom(ctx)
	if !ok {
		c = awsapi.Caller{Account: awsapi.DefaultAccount, Region: "us-east-1"}
	}
	return c, partKey{account: c.Account, region: c.Region}
}

// txn is what an update decides to commit.
type txn struct {
	conds []store.Cond
	ops   []store.Op
	// recs are the records of the puts, by op index, for the view's cache.
	recs map[int]any
}

func (t *txn) cond(key string, modRev int64) {
	t.conds = append(t.conds, store.Cond{Key: key, ModRevision: modRev})
}

func (t *txn) put(key string, rec any) {
	b, err := json.Marshal(rec)
	if err != nil {
		panic(fmt.Sprintf("cloudmap: marshal %T: %v", rec, err)) // records are plain data
	}
	if t.recs == nil {
		t.recs = map[int]any{}
	}
	t.recs[len(t.ops)] = rec
	t.ops = append(t.ops, store.Put(key, b))
}

// cache offers the records of t to the view before t is committed, and
// returns the keys to drop if the commit fails.
func (t *txn) cache(c *recordCache) []string {
	keys := make([]string, 0, len(t.recs))
	for i, rec := range t.recs {
		op := t.ops[i]
		c.add(op.Key, op.Value, rec)
		keys = append(keys, op.Key)
	}
	return keys
}

func (t *txn) touch(key string) { t.ops = append(t.ops, store.Put(key, nil)) }

func (t *txn) del(key string) { t.ops = append(t.ops, store.Delete(key)) }

// maxAttempts bounds the retries of an update that keeps losing races.
const maxAttempts = 64

// update runs decide against the current view of partition pk and commits
// the transaction it returns, retrying on conflict with a fresher view. A
// nil partition means no state exists yet for the account and region.
// decide runs with the view's read lock held: it must not block. It sees
// every write committed before it (see committed).
func (b *Backend) update(ctx context.Context, pk partKey, decide func(p *partition, t *txn) error) error {
	for attempt := 0; ; attempt++ {
		if err := b.follower.WaitCommitted(ctx); err != nil {
			return err
		}
		var t txn
		b.view.mu.RLock()
		p := b.view.partLocked(pk)
		if p == nil {
			p = newPartition(pk)
		}
		err := decide(p, &t)
		b.view.mu.RUnlock()
		if err != nil || len(t.ops) == 0 {
			return err
		}
		cached := t.cache(&b.view.written)
		rev, err := b.store.Txn(ctx, t.conds, t.ops)
		if err != nil {
			b.view.written.drop(cached)
		}
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("cloudmap: commit: %w", err)
		}
		b.follower.Committed(rev)
		if err == nil {
			return nil
		}
		if attempt >= maxAttempts {
			return &awsapi.Error{Code: "ThrottlingException", Message: "Too many concurrent changes to the same resources; retry the request"}
		}
	}
}

// read runs f with the view of partition pk under the read lock, once the
// view reflects every committed write (or ctx has ended: the answer is then
// not awaited anyway); p is an empty partition when nothing exists yet.
func (b *Backend) read(ctx context.Context, pk partKey, f func(p *partition)) {
	_ = b.follower.WaitCommitted(ctx)
	b.view.mu.RLock()
	defer b.view.mu.RUnlock()
	p := b.view.partLocked(pk)
	if p == nil {
		p = newPartition(pk)
	}
	f(p)
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// randomID returns n random characters of lowercase base32.
func randomID(n int) string {
	buf := make([]byte, (n*5+7)/8)
	_, _ = rand.Read(buf)
	return strings.ToLower(b32.EncodeToString(buf))[:n]
}

// hashID returns n characters of lowercase base32 of the hash of parts.
func hashID(n int, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return strings.ToLower(b32.EncodeToString(h.Sum(nil)))[:n]
}

// ms returns t as epoch milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

func timeOf(ms int64) *awsapi.Time { return &awsapi.Time{Time: time.UnixMilli(ms).UTC()} }

func str(s string) *string { return &s }

// optStr returns nil for "", so the member is omitted.
func optStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Reset deletes all Cloud Map state of every account and region, in one
// transaction. It serves the opt-in test reset endpoints.
func (b *Backend) Reset(ctx context.Context) error {
	rev, err := b.store.Txn(ctx, nil, []store.Op{store.DeletePrefix(keyRoot)})
	if err != nil {
		return fmt.Errorf("cloudmap: reset: %w", err)
	}
	b.follower.Committed(rev)
	return nil
}
