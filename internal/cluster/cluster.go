// Package cluster lets the servers of one mapmesh cluster share the work
// that must happen once. Each server holds a membership key in etcd, kept
// alive by a lease: a server that dies drops out when its lease expires.
// Every server watches the members and decides, from the same list, what is
// its to do: a health-checked instance belongs to one member, chosen by
// rendezvous hashing (so a change of members moves only the work of the
// member that came or went), and the sweeps run on the leader, the member
// with the lowest ID. A server alone (the embedded store) does everything
// (Solo).
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Members says what of the shared work is this server's. The methods are
// safe for concurrent use.
type Members interface {
	// Owns reports whether key's work is this server's.
	Owns(key string) bool
	// Leader reports whether this server runs the once-per-cluster work.
	Leader() bool
	// Changed returns a channel closed when the members change (nil: never).
	Changed() <-chan struct{}
}

// Solo is a server alone: everything is its own.
type Solo struct{}

func (Solo) Owns(string) bool         { return true }
func (Solo) Leader() bool             { return true }
func (Solo) Changed() <-chan struct{} { return nil }

var _ Members = Solo{}

// DefaultTTL is the membership lease's time to live: how long a dead
// server's work stays unowned.
const DefaultTTL = 5 * time.Second

// Membership is this server's membership of a cluster in etcd.
type Membership struct {
	cli    *clientv3.Client
	prefix string // of the membership keys
	self   string
	ttl    time.Duration
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex // guards the fields below
	members []string   // sorted, self included
	changed chan struct{}
}

var _ Members = (*Membership)(nil)

// NewID returns a random server ID.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Join makes this server, id, a member under prefix (the store's etcd
// prefix + "_members/") until Close, with a lease of ttl (DefaultTTL when
// 0). It returns once the membership key is written and the members read.
func Join(ctx context.Context, cli *clientv3.Client, prefix, id string, ttl time.Duration, log *slog.Logger) (*Membership, error) {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Membership{cli: cli, prefix: prefix, self: id, ttl: ttl, log: log, changed: make(chan struct{}),
		members: []string{id}, done: make(chan struct{})}
	lease, err := m.register(ctx)
	if err != nil {
		return nil, err
	}
	rev, err := m.list(ctx)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go m.run(wctx, lease, rev)
	return m, nil
}

// register grants a lease and writes the membership key with it.
func (m *Membership) register(ctx context.Context) (clientv3.LeaseID, error) {
	g, err := m.cli.Grant(ctx, int64((m.ttl+time.Second-1)/time.Second))
	if err != nil {
		return 0, fmt.Errorf("cluster: lease: %w", err)
	}
	if _, err := m.cli.Put(ctx, m.prefix+m.self, time.Now().UTC().Format(time.RFC3339), clientv3.WithLease(g.ID)); err != nil {
		return 0, fmt.Errorf("cluster: join: %w", err)
	}
	return g.ID, nil
}

// list reads the members and returns the revision read at.
func (m *Membership) list(ctx context.Context) (int64, error) {
	resp, err := m.cli.Get(ctx, m.prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return 0, fmt.Errorf("cluster: members: %w", err)
	}
	ids := []string{m.self}
	for _, kv := range resp.Kvs {
		ids = append(ids, strings.TrimPrefix(string(kv.Key), m.prefix))
	}
	m.set(ids)
	return resp.Header.Revision, nil
}

// set installs a new member list, telling Changed's waiters if it differs.
func (m *Membership) set(ids []string) {
	slices.Sort(ids)
	ids = slices.Compact(ids)
	m.mu.Lock()
	defer m.mu.Unlock()
	if slices.Equal(ids, m.members) {
		return
	}
	m.log.Info("cluster: members changed", "members", strings.Join(ids, ","), "self", m.self)
	m.members = ids
	close(m.changed)
	m.changed = make(chan struct{})
}

// run keeps the lease alive and follows the members until ctx ends. When
// the lease is lost (etcd unreachable for longer than the TTL), it joins
// again once it can; meanwhile it keeps the last members it knew. Each
// round's keepalive and watch end with the round (once a new lease holds
// the key): a lost lease leaves nothing behind.
func (m *Membership) run(ctx context.Context, lease clientv3.LeaseID, rev int64) {
	defer close(m.done)
	for ctx.Err() == nil {
		rctx, endRound := context.WithCancel(ctx)
		ka, err := m.cli.KeepAlive(rctx, lease)
		if err == nil {
			watch := m.cli.Watch(rctx, m.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
			lease, rev = m.follow(rctx, ka, watch, lease, rev)
		}
		if ctx.Err() != nil {
			endRound()
			return
		}
		select {
		case <-ctx.Done():
			endRound()
			return
		case <-time.After(time.Second):
		}
		if l, err := m.register(ctx); err == nil {
			lease = l
			if r, err := m.list(ctx); err == nil {
				rev = r
			}
		} else {
			m.log.Warn("cluster: cannot rejoin yet", "err", err)
		}
		endRound()
	}
}

// follow applies membership changes until the lease's keepalive or the
// watch ends; it returns the lease and the last revision seen.
func (m *Membership) follow(ctx context.Context, ka <-chan *clientv3.LeaseKeepAliveResponse, watch clientv3.WatchChan,
	lease clientv3.LeaseID, rev int64) (clientv3.LeaseID, int64) {
	for {
		select {
		case <-ctx.Done():
			return lease, rev
		case _, ok := <-ka:
			if !ok {
				m.log.Warn("cluster: membership lease lost; joining again")
				return lease, rev
			}
		case resp, ok := <-watch:
			if !ok || resp.Canceled {
				return lease, rev
			}
			if resp.Header.Revision > rev {
				rev = resp.Header.Revision
			}
			if len(resp.Events) == 0 {
				continue
			}
			m.mu.Lock()
			ids := slices.Clone(m.members)
			m.mu.Unlock()
			for _, ev := range resp.Events {
				id := strings.TrimPrefix(string(ev.Kv.Key), m.prefix)
				if ev.Type == clientv3.EventTypeDelete {
					if id != m.self {
						ids = slices.DeleteFunc(ids, func(s string) bool { return s == id })
					}
				} else {
					ids = append(ids, id)
				}
			}
			m.set(ids)
		}
	}
}

// Close leaves the cluster: the membership key goes at once, so the others
// take over this server's work without waiting for the lease to expire.
func (m *Membership) Close() error {
	m.cancel()
	<-m.done
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := m.cli.Delete(ctx, m.prefix+m.self)
	return err
}

// Self returns this server's ID.
func (m *Membership) Self() string { return m.self }

// Members returns the member IDs, sorted.
func (m *Membership) Members() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.members)
}

// Owns reports whether key's work is this server's: the member with the
// highest hash of (member, key) owns it (rendezvous hashing).
func (m *Membership) Owns(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return owner(m.members, key) == m.self
}

func owner(members []string, key string) string {
	var best string
	var bestScore uint64
	for _, id := range members {
		h := fnv.New64a()
		h.Write([]byte(id))
		h.Write([]byte{0})
		h.Write([]byte(key))
		if s := mix(h.Sum64()); best == "" || s > bestScore {
			best, bestScore = id, s
		}
	}
	return best
}

// mix scrambles a hash (splitmix64's finalizer): FNV alone scores the
// members of similar names alike, and one of them would own too little.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// Leader reports whether this server has the lowest ID of the members.
func (m *Membership) Leader() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.members) > 0 && m.members[0] == m.self
}

// Changed returns a channel closed at the next change of the members.
func (m *Membership) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}
