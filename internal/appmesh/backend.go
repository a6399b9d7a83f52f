package appmesh

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

// Quotas are App Mesh's per-account, per-region limits, configurable.
type Quotas struct {
	MeshesPerAccount               int
	VirtualNodesPerMesh            int
	VirtualRoutersPerMesh          int
	VirtualServicesPerMesh         int
	VirtualGatewaysPerMesh         int
	RoutesPerVirtualRouter         int
	GatewayRoutesPerVirtualGateway int
	BackendsPerVirtualNode         int
	TagsPerResource                int
}

// DefaultQuotas are AWS's default quotas (Service Quotas, "AWS App Mesh").
var DefaultQuotas = Quotas{
	MeshesPerAccount:               15,
	VirtualNodesPerMesh:            200,
	VirtualRoutersPerMesh:          200,
	VirtualServicesPerMesh:         200,
	VirtualGatewaysPerMesh:         3,
	RoutesPerVirtualRouter:         50,
	GatewayRoutesPerVirtualGateway: 10,
	BackendsPerVirtualNode:         50,
	TagsPerResource:                50,
}

// Config configures a Backend.
type Config struct {
	// Quotas are the limits; zero fields take DefaultQuotas' values.
	Quotas Quotas
	// TokenRetention is how long a clientToken is remembered
	// (DefaultTokenRetention when 0).
	TokenRetention time.Duration
	// SweepInterval is how often expired tokens are deleted (one minute
	// when 0).
	SweepInterval time.Duration
	// Leader, if set, says whether this server runs the sweeps: in a
	// cluster only one does (nil: this one).
	Leader func() bool
	// MaxWait bounds how long a request waits for the view to reflect the
	// writes before it (projection.DefaultMaxWait when 0); past it the
	// request fails with a retryable error.
	MaxWait time.Duration
	// Now is the clock (time.Now when nil).
	Now    func() time.Time
	Logger *slog.Logger
}

// DefaultTokenRetention is how long clientTokens are kept by default. AWS
// does not document it; a day covers every retry of a client.
const DefaultTokenRetention = 24 * time.Hour

// Backend implements both App Mesh APIs on a store.Store. It keeps an
// in-memory view of its keys, fed by the store's watch, for every read and
// every decision.
type Backend struct {
	store  store.Store
	cfg    Config
	now    func() time.Time
	log    *slog.Logger
	view   *view // every read and write goes through it
	cancel context.CancelFunc
	swept  chan struct{} // closed when sweepLoop returns
}

// New loads the App Mesh state from st and starts following its changes.
// Close stops it.
func New(ctx context.Context, st store.Store, cfg Config) (*Backend, error) {
	q, d := &cfg.Quotas, DefaultQuotas
	for _, f := range []struct{ v, def *int }{
		{&q.MeshesPerAccount, &d.MeshesPerAccount}, {&q.VirtualNodesPerMesh, &d.VirtualNodesPerMesh},
		{&q.VirtualRoutersPerMesh, &d.VirtualRoutersPerMesh}, {&q.VirtualServicesPerMesh, &d.VirtualServicesPerMesh},
		{&q.VirtualGatewaysPerMesh, &d.VirtualGatewaysPerMesh}, {&q.RoutesPerVirtualRouter, &d.RoutesPerVirtualRouter},
		{&q.GatewayRoutesPerVirtualGateway, &d.GatewayRoutesPerVirtualGateway},
		{&q.BackendsPerVirtualNode, &d.BackendsPerVirtualNode}, {&q.TagsPerResource, &d.TagsPerResource},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	if cfg.TokenRetention <= 0 {
		cfg.TokenRetention = DefaultTokenRetention
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
	v, err := projection.Start(ctx, st, keyRoot, projection.Domain[partKey, partition, Change](&domain{log: b.log}),
		projection.Options{Name: "appmesh", MaxWait: cfg.MaxWait, Logger: b.log})
	if err != nil {
		return nil, err
	}
	b.view = v
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

// caller returns the partition a request acts in.
func caller(ctx context.Context) partKey {
	c, ok := awsapi.CallerFrom(ctx)
	if !ok {
		c = awsapi.Caller{Account: awsapi.DefaultAccount, Region: "us-east-1"}
	}
	return partKey{account: c.Account, region: c.Region}
}

// txn is what an update decides to commit: a projection.Txn whose puts
// marshal records.
type txn struct{ *projection.Txn }

func (t txn) cond(key string, modRev int64) { t.Cond(key, modRev) }

func (t txn) put(key string, rec any) {
	var b []byte
	if rec != nil {
		var err error
		if b, err = json.Marshal(rec); err != nil {
			panic(fmt.Sprintf("appmesh: marshal %T: %v", rec, err)) // records are plain data
		}
	}
	t.Put(key, b)
}

func (t txn) del(key string) { t.Delete(key) }

// update runs decide against the current view of partition pk and commits
// the transaction it fills, retrying on conflict with a fresher view (the
// commit loop of projection.View.Update). decide runs with the view's read
// lock held: it must not block. It sees every write this Backend committed
// before it.
func (b *Backend) update(ctx context.Context, pk partKey, decide func(p *partition, t *txn) error) error {
	return b.view.Update(ctx, pk, func(p *partition, pt *projection.Txn) error {
		return decide(p, &txn{pt})
	})
}

// read runs f with the view of the caller's partition under the read lock,
// once the view reflects every committed write; p is an empty partition
// when nothing exists yet.
func (b *Backend) read(ctx context.Context, f func(p *partition) error) error {
	return b.view.Read(ctx, caller(ctx), f)
}

// idemRecord remembers the answer to a request made with a clientToken.
type idemRecord struct {
	V    int    `json:"v"`
	Hash string `json:"hash"`
	// At is when the request was answered, epoch milliseconds.
	At  int64           `json:"at"`
	Out json.RawMessage `json:"out"`
}

// write runs one mutating request of operation op (version-qualified, like
// "2019/CreateMesh") as one store transaction: when token is set, a request
// already answered under it is answered the same way again (or refused
// with ConflictException if it differs); otherwise decide chooses the
// writes and the output, and the answer is remembered under the token in
// the same transaction.
func write[O any](b *Backend, ctx context.Context, op string, token *string, in any, decide func(p *partition, t *txn) (*O, error)) (*O, error) {
	pk := caller(ctx)
	var idemID, hash string
	if token != nil && *token != "" {
		idemID = hashID(op, *token)
		hash = requestHash(op, in)
	}
	var out *O
	err := b.update(ctx, pk, func(p *partition, t *txn) error {
		out = nil
		var prevRev int64
		now := b.now()
		if idemID != "" {
			if r := p.idem[idemID]; r != nil {
				if r.rec.At >= now.Add(-b.cfg.TokenRetention).UnixMilli() {
					if r.rec.Hash != hash {
						return conflict("The request contains a client token that was used for a previous request with different parameters: " + *token)
					}
					var o O
					if err := json.Unmarshal(r.rec.Out, &o); err != nil {
						return fmt.Errorf("appmesh: idempotency record %s: %w", idemID, err)
					}
					out = &o
					return nil
				}
				prevRev = r.modRev
			}
		}
		o, err := decide(p, t)
		if err != nil {
			return err
		}
		out = o
		if idemID != "" {
			raw, err := json.Marshal(o)
			if err != nil {
				return fmt.Errorf("appmesh: marshal %T: %w", o, err)
			}
			k := pk.key(kindIdem, idemID)
			t.cond(k, prevRev)
			t.put(k, &idemRecord{V: 1, Hash: hash, At: now.UnixMilli(), Out: raw})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// sweepLoop deletes expired idempotency records every SweepInterval until
// ctx ends.
func (b *Backend) sweepLoop(ctx context.Context) {
	defer close(b.swept)
	t := time.NewTicker(b.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if b.cfg.Leader != nil && !b.cfg.Leader() {
			continue // another server of the cluster sweeps
		}
		if _, err := b.Sweep(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("appmesh: sweeping expired client tokens failed", "err", err)
		}
	}
}

// Sweep deletes the idempotency records older than the retention, each on
// the condition that it was not rewritten meanwhile, and returns how many
// it deleted.
func (b *Backend) Sweep(ctx context.Context) (int, error) {
	cutoff := b.now().Add(-b.cfg.TokenRetention).UnixMilli()
	t := txn{&projection.Txn{}}
	b.view.Range(func(_ partKey, p *partition) bool {
		for id, r := range p.idem {
			// A condition and a delete each, under etcd's default of 128
			// operations per transaction.
			if r.rec.At < cutoff && t.Len() < 100 {
				k := p.key.key(kindIdem, id)
				t.cond(k, r.modRev)
				t.del(k)
			}
		}
		return true
	})
	if t.Len() == 0 {
		return 0, nil
	}
	n := t.Len()
	err := b.view.Commit(ctx, t.Txn)
	if errors.Is(err, store.ErrConflict) {
		return 0, nil // a token was reused meanwhile; the next sweep retries
	}
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Reset deletes all App Mesh state of every account and region, in one
// transaction. It serves the opt-in test reset endpoints.
func (b *Backend) Reset(ctx context.Context) error {
	var t projection.Txn
	t.DeletePrefix(keyRoot)
	return b.view.Commit(ctx, &t)
}

// Check reports whether the view keeps up with the store (for health
// endpoints): nil, or an error wrapping store.ErrUnavailable.
func (b *Backend) Check(ctx context.Context) error { return b.view.Check(ctx) }

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// hashID returns 32 characters of lowercase base32 of the hash of parts.
func hashID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return strings.ToLower(b32.EncodeToString(h.Sum(nil)))[:32]
}

// newUID returns a random UUID (version 4), App Mesh's uid format.
func newUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func str(s string) *string { return &s }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func timeOf(ms int64) *awsapi.Time { return &awsapi.Time{Time: time.UnixMilli(ms).UTC()} }
