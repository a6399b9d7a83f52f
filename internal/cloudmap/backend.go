package cloudmap

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
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
	// HealthCheckedInstancesPerAccount bounds the instances of services
	// with a HealthCheckConfig in one account (all regions): the probes an
	// account can make the server send (Route 53's health checks per
	// account).
	HealthCheckedInstancesPerAccount int
}

// DefaultQuotas are AWS's default quotas.
var DefaultQuotas = Quotas{
	NamespacesPerRegion:   50,
	ServicesPerNamespace:  2000,
	InstancesPerService:   1000,
	InstancesPerNamespace: 2000,
	TagsPerResource:       50,
	ServiceAttributes:     30,
	// Route 53's default quota of health checks per account.
	HealthCheckedInstancesPerAccount: 200,
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
	// SweepInterval is how often expired operations are deleted (when 0:
	// a minute, or a quarter of a shorter retention).
	SweepInterval time.Duration
	// HealthChecksAllNamespaces lets services in private DNS namespaces
	// have HealthCheckConfig too (AWS allows it only in public DNS and HTTP
	// namespaces). Off by default.
	HealthChecksAllNamespaces bool
	// Leader, if set, says whether this server runs the sweeps: in a
	// cluster only one does (nil: this one).
	Leader func() bool
	// MaxWait bounds how long a request waits for the view to reflect the
	// writes before it (projection.DefaultMaxWait when 0); past it the
	// request fails with a retryable error.
	MaxWait time.Duration
	// AnswerCacheBytes bounds the encoded DiscoverInstances answers kept
	// for repeated queries (DefaultAnswerCacheBytes when 0; negative: none).
	AnswerCacheBytes int
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
	store  store.Store
	cfg    Config
	now    func() time.Time
	log    *slog.Logger
	dom    *domain
	view   *view    // every read and write goes through it
	watch  watchHub // the blocking discovery queries' channels
	cancel context.CancelFunc
	swept  chan struct{} // closed when sweepLoop returns
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
		{&q.TagsPerResource, d.TagsPerResource}, {&q.ServiceAttributes, d.ServiceAttributes},
		{&q.HealthCheckedInstancesPerAccount, d.HealthCheckedInstancesPerAccount}} {
		if *f.v <= 0 {
			*f.v = f.def
		}
	}
	if cfg.OperationRetention <= 0 {
		cfg.OperationRetention = DefaultOperationRetention
	}
	if cfg.SweepInterval <= 0 {
		// A minute, or a quarter of a short retention.
		cfg.SweepInterval = min(time.Minute, max(cfg.OperationRetention/4, 100*time.Millisecond))
	}
	b := &Backend{store: st, cfg: cfg, now: cfg.Now, log: cfg.Logger, swept: make(chan struct{})}
	if b.now == nil {
		b.now = time.Now
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	b.dom = &domain{log: b.log}
	b.dom.answers.max = cfg.AnswerCacheBytes
	if b.dom.answers.max == 0 {
		b.dom.answers.max = DefaultAnswerCacheBytes
	}
	b.dom.answers.max = max(b.dom.answers.max, 0)
	v, err := projection.Start(ctx, st, keyRoot, projection.Domain[partKey, partition, Change](b.dom),
		projection.Options{Name: "cloudmap", MaxWait: cfg.MaxWait, Logger: b.log})
	if err != nil {
		return nil, err
	}
	b.view = v
	if n, err := b.migrateOps(ctx); err != nil {
		b.log.Warn("cloudmap: moving operations to their own keys failed; the next start tries again", "moved", n, "err", err)
	} else if n > 0 {
		b.log.Info("cloudmap: moved operations and idempotency records to their own keys", "records", n)
	}
	v.Subscribe(b.watch.onChange)
	wctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	go b.sweepLoop(wctx)
	return b, nil
}

// Close stops following the store and sweeping. It does not close the store.
func (b *Backend) Close() error {
	b.cancel()
	<-b.swept
	b.view.Close()
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

// txn is what an update decides to commit: a projection.Txn whose puts
// marshal records and offer them to the view's record cache.
type txn struct {
	*projection.Txn
	// attempt counts the decisions of one update (1 for the first).
	attempt int
	cache   *recordCache
	// cached are the keys offered to the cache, dropped if the
	// transaction does not commit.
	cached []string
}

func (t *txn) cond(key string, modRev int64) { t.Cond(key, modRev) }

func (t *txn) put(key string, rec any) {
	b, err := json.Marshal(rec)
	if err != nil {
		panic(fmt.Sprintf("cloudmap: marshal %T: %v", rec, err)) // records are plain data
	}
	if len(t.cached) == 0 {
		t.OnDone(func(committed bool, _ int64) {
			if !committed {
				t.cache.drop(t.cached)
			}
		})
	}
	t.cache.add(key, b, rec)
	t.cached = append(t.cached, key)
	t.Put(key, b)
}

// putData writes rec at a key the view does not follow (operations,
// idempotency records): nothing to cache for it.
func (t *txn) putData(key string, rec any) {
	b, err := json.Marshal(rec)
	if err != nil {
		panic(fmt.Sprintf("cloudmap: marshal %T: %v", rec, err)) // records are plain data
	}
	t.Put(key, b)
}

func (t *txn) touch(key string) { t.Put(key, nil) }

func (t *txn) del(key string) { t.Delete(key) }

// update runs decide against the current view of partition pk and commits
// the transaction it fills, retrying on conflict with a fresher view (the
// commit loop of projection.View.Update). A partition without state is
// empty. decide runs with the view's read lock held: it must not block. It
// sees every write committed before it.
func (b *Backend) update(ctx context.Context, pk partKey, decide func(p *partition, t *txn) error) error {
	attempt := 0
	return b.view.Update(ctx, pk, func(p *partition, pt *projection.Txn) error {
		attempt++
		return decide(p, &txn{Txn: pt, cache: &b.dom.written, attempt: attempt})
	})
}

// read runs f with the view of partition pk under the read lock, once the
// view reflects every write this process committed; p is an empty
// partition when nothing exists yet. It fails (and f does not run) when
// that wait fails.
func (b *Backend) read(ctx context.Context, pk partKey, f func(p *partition)) error {
	return b.view.Read(ctx, pk, func(p *partition) error {
		f(p)
		return nil
	})
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
	var t projection.Txn
	t.DeletePrefix(keyRoot)
	t.DeletePrefix(opsRoot)
	return b.view.Commit(ctx, &t)
}

// Check reports whether the view keeps up with the store (for health
// endpoints): nil, or an error wrapping store.ErrUnavailable.
func (b *Backend) Check(ctx context.Context) error { return b.view.Check(ctx) }
