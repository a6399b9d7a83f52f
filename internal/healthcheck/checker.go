package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
)

// Defaults of Config.
const (
	// DefaultInterval is Route 53's: one request every 30 s per checker.
	DefaultInterval = 30 * time.Second
	// DefaultConcurrency bounds the probes in flight to targets that
	// answer in time.
	DefaultConcurrency = 1024
	// DefaultFailureThreshold applies when a HealthCheckConfig gives none
	// (Route 53's default).
	DefaultFailureThreshold = 3
	// firstProbeWithin bounds the random delay before a new check's first
	// probe (the interval bounds it too, when shorter).
	firstProbeWithin = time.Second
)

// Health statuses, as cloudmap records them.
const (
	statusHealthy   = "HEALTHY"
	statusUnhealthy = "UNHEALTHY"
)

// Owner decides which instances a checker probes (cluster.Members).
type Owner interface {
	// Owns reports whether the instance named by key (account/region/
	// service ID/instance ID) is this checker's to probe.
	Owns(key string) bool
	// Changed returns a channel closed at the next change of ownership
	// (nil: never).
	Changed() <-chan struct{}
}

// Backend is what the Checker needs of *cloudmap.Backend. Subscribe's fn is
// called on the backend's view goroutine and must return quickly; the read
// methods answer from the backend's in-memory view. SetHealth is called on
// probe goroutines; it writes only changes, and fails with the Cloud Map
// errors InstanceNotFound, ServiceNotFound or InvalidInput when a check
// raced a deregistration, a deletion or the removal of the service's
// HealthCheckConfig.
type Backend interface {
	Subscribe(fn func(rev int64, changes []cloudmap.Change))
	Namespaces(fn func(cloudmap.NamespaceInfo))
	Namespace(account, region, id string) (cloudmap.NamespaceInfo, bool)
	Services(account, region, nsID string) []cloudmap.ServiceInfo
	ServiceInfo(account, region, id string) (cloudmap.ServiceInfo, bool)
	Service(account, region, id string) (cloudmap.ServiceInfo, []cloudmap.InstanceInfo, bool)
	SetHealth(ctx context.Context, account, region, svcID, instID string, instRev int64, status, reason string) error
}

var _ Backend = (*cloudmap.Backend)(nil)

// Config configures a Checker.
type Config struct {
	// Interval between two probes of an instance (DefaultInterval when 0).
	Interval time.Duration
	// Timeout, if positive, bounds each probe, every phase included; when
	// 0 probes take Route 53's timeouts: HTTP and HTTPS connect within 4 s
	// and answer within 2 s more, TCP connects within 10 s.
	Timeout time.Duration
	// Concurrency bounds the probes in flight to targets whose last probe
	// answered in time (DefaultConcurrency when 0). Probes to targets
	// whose last probe was slow have a separate bound of a quarter of it
	// (at least 1), so they never take the others' slots.
	Concurrency int
	// AllowedCIDRs and DeniedCIDRs say which addresses may be probed,
	// besides the DefaultDenied ones and mapmesh's own listeners (see
	// policy): a denied target is not contacted and makes its instance
	// UNHEALTHY at once, with the reason in its health record.
	AllowedCIDRs []netip.Prefix
	DeniedCIDRs  []netip.Prefix
	Logger       *slog.Logger
	// Owner, if set, says which instances this checker probes: in a
	// cluster each instance is probed by one server. When its members
	// change the checker takes over the instances that became its own,
	// with their recorded status, and drops the others.
	Owner Owner
	// Observe, if set, is called after every probe with its result, on
	// the probe's goroutine; it must be quick. For metrics and benchmarks.
	Observe func(Result)

	// probe replaces the network probes (tests).
	probe prober
}

// Result is one probe's outcome, as given to Config.Observe.
type Result struct {
	Account, Region, ServiceID, InstanceID string
	Type                                   string
	Target                                 netip.AddrPort
	// Due is the probe's slot; Start when it began (Start-Due is its lag).
	Due, Start time.Time
	Took       time.Duration
	// Err is nil when the probe passed.
	Err error
	// Status is the check's status after this result.
	Status string
}

// Stats are counters of a Checker since Start.
type Stats struct {
	// Checks is the number of instances being checked now.
	Checks int
	// InFlight is the number of probes running now.
	InFlight int
	// Probes and Failures count the probes run and those that failed.
	Probes, Failures uint64
	// Skipped counts slots passed over because the check's previous
	// probe (or the wait for a probe slot) outlasted the interval.
	Skipped uint64
	// Writes and WriteErrors count SetHealth calls and their failures.
	Writes, WriteErrors uint64
}

// svcKey names a service.
type svcKey struct{ account, region, svcID string }

// Checker runs the health checks. Start it with Start, stop it with Close.
type Checker struct {
	b     Backend
	cfg   Config
	probe prober
	pol   *policy // which targets may be probed
	log   *slog.Logger

	ctx    context.Context // ends at Close; parent of every probe
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine of the Checker
	once   sync.Once
	closed atomic.Bool

	pmu       sync.Mutex // guards pending and resyncAll
	pending   map[svcKey]struct{}
	resyncAll bool
	kick      chan struct{} // wakes the sync loop; capacity 1

	mu sync.Mutex // guards services, syncs, every check's fields and the lanes' queues
	// services holds the checks by service, then by instance ID.
	services   map[svcKey]map[string]*check
	syncs      uint64 // sync passes so far
	fast, slow *lane

	probes, failures, skipped, writes, writeErrors atomic.Uint64
}

// check is the health check of one instance. Its fields are guarded by
// Checker.mu, except wmu.
type check struct {
	svc  svcKey
	inst string
	// rev and attrs are the registration the check probes.
	rev   int64
	attrs cloudmap.Attributes
	t     target
	// dnsName is the service's DNS name the Host header was made from.
	dnsName string
	// synced is the sync pass that last saw the instance.
	synced uint64
	// threshold is the FailureThreshold in force.
	threshold int
	// status is the check's status; dirty means it is not recorded yet.
	status string
	dirty  bool
	// streak counts the consecutive results that disagree with status.
	streak int
	// lastErr is the error of the last failed probe, for the log.
	lastErr error
	stopped bool
	// due is the slot of the next (or the running) probe. first is set
	// until the first probe of a new check ends: the next slot then sets
	// the check's phase.
	due   time.Time
	first bool
	// slow is set when the last probe took at least half its timeout.
	slow bool
	// lane and idx place a queued check; idx is -1 while the check is
	// being dispatched or probed, or is stopped.
	lane *lane
	idx  int
	// wmu serializes the SetHealth calls of this instance; a restarted
	// check shares it with the check it replaces.
	wmu *sync.Mutex
}

// Start starts checking every instance of every service of b that has a
// HealthCheckConfig, and follows b's changes until Close.
func Start(b Backend, cfg Config) (*Checker, error) {
	switch {
	case cfg.Interval < 0:
		return nil, fmt.Errorf("healthcheck: interval %v is negative", cfg.Interval)
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("healthcheck: timeout %v is negative", cfg.Timeout)
	case cfg.Concurrency < 0:
		return nil, fmt.Errorf("healthcheck: concurrency %d is negative", cfg.Concurrency)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	c := &Checker{b: b, cfg: cfg, probe: cfg.probe, log: cfg.Logger, pending: map[svcKey]struct{}{},
		pol:  &policy{allowed: cfg.AllowedCIDRs, denied: cfg.DeniedCIDRs},
		kick: make(chan struct{}, 1), services: map[svcKey]map[string]*check{},
		fast: newLane(cfg.Concurrency), slow: newLane(max(1, cfg.Concurrency/4))}
	if c.probe == nil {
		c.probe = newNetProber(cfg.Timeout).probe
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	// Subscribe first, then read: no change is missed.
	b.Subscribe(c.onChange)
	c.wg.Add(3)
	go c.syncLoop()
	go c.dispatch(c.fast)
	go c.dispatch(c.slow)
	return c, nil
}

// SetOwnAddrs tells the Checker mapmesh's own listen addresses, which it
// never probes (an unspecified address stands for every local one).
func (c *Checker) SetOwnAddrs(addrs ...net.Addr) { c.pol.setOwn(addrs) }

// Close stops every check, cancels the probes in flight and waits for the
// Checker's goroutines to end. It is safe to call more than once.
func (c *Checker) Close() error {
	c.once.Do(func() {
		c.closed.Store(true)
		c.cancel()
		c.wg.Wait()
	})
	return nil
}

// Stats returns the Checker's counters.
func (c *Checker) Stats() Stats {
	c.mu.Lock()
	n := 0
	for _, s := range c.services {
		n += len(s)
	}
	c.mu.Unlock()
	return Stats{Checks: n, InFlight: len(c.fast.sem) + len(c.slow.sem), Probes: c.probes.Load(), Failures: c.failures.Load(),
		Skipped: c.skipped.Load(), Writes: c.writes.Load(), WriteErrors: c.writeErrors.Load()}
}

// onChange records what changed for the sync loop (see Backend.Subscribe).
func (c *Checker) onChange(_ int64, changes []cloudmap.Change) {
	if c.closed.Load() {
		return
	}
	c.pmu.Lock()
	for _, ch := range changes {
		switch {
		case ch.ServiceID != "":
			c.pending[svcKey{ch.Account, ch.Region, ch.ServiceID}] = struct{}{}
		case ch == cloudmap.Change{}:
			c.resyncAll = true
		}
		// A namespace change alone changes no check: a namespace's name
		// is fixed, and it has no services when it is deleted.
	}
	c.pmu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// syncLoop takes over the checks recorded at start, then follows changes.
func (c *Checker) syncLoop() {
	defer c.wg.Done()
	c.syncAll(true)
	for {
		var owners <-chan struct{}
		if c.cfg.Owner != nil {
			owners = c.cfg.Owner.Changed()
		}
		select {
		case <-c.ctx.Done():
			return
		case <-owners:
			// Take over the instances that are now ours, with their
			// recorded status; drop the others.
			c.syncAll(true)
			continue
		case <-c.kick:
		}
		c.pmu.Lock()
		all, pending := c.resyncAll, c.pending
		c.resyncAll, c.pending = false, map[svcKey]struct{}{}
		c.pmu.Unlock()
		if all {
			c.syncAll(false)
			continue
		}
		for k := range pending {
			c.syncService(k, false)
		}
	}
}

// syncAll compares every service with the checks.
func (c *Checker) syncAll(starting bool) {
	type nsKey struct{ account, region, id string }
	var nss []nsKey
	c.b.Namespaces(func(ns cloudmap.NamespaceInfo) { nss = append(nss, nsKey{ns.Account, ns.Region, ns.ID}) })
	seen := map[svcKey]bool{}
	for _, ns := range nss {
		for _, s := range c.b.Services(ns.account, ns.region, ns.id) {
			k := svcKey{s.Account, s.Region, s.ID}
			seen[k] = true
			c.syncService(k, starting)
		}
	}
	c.mu.Lock()
	var gone []svcKey
	for k := range c.services {
		if !seen[k] {
			gone = append(gone, k)
		}
	}
	c.mu.Unlock()
	for _, k := range gone {
		c.syncService(k, false)
	}
}

// syncService makes the checks of service k match the read model: it
// starts, restarts, reconfigures and stops them. starting means the Checker
// is taking over statuses already recorded, rather than seeing new checks.
func (c *Checker) syncService(k svcKey, starting bool) {
	if info, ok := c.b.ServiceInfo(k.account, k.region, k.svcID); !ok || info.HealthCheck == nil || info.CustomHealth {
		// Nothing to probe: only stop the checks the service may have had,
		// without copying its instances (registrations into unchecked
		// services are the common, hot case).
		c.mu.Lock()
		_, had := c.services[k]
		c.mu.Unlock()
		if !had {
			return
		}
	}
	info, insts, ok := c.b.Service(k.account, k.region, k.svcID)
	checked := ok && info.HealthCheck != nil && !info.CustomHealth
	var dnsName, path string
	threshold := DefaultFailureThreshold
	if checked {
		if ns, ok := c.b.Namespace(k.account, k.region, info.NamespaceID); ok && ns.Type != "HTTP" {
			dnsName = info.Name + "." + ns.Name
		}
		if info.HealthCheck.Type != "TCP" {
			path = info.HealthCheck.ResourcePath
		}
		if n := info.HealthCheck.FailureThreshold; n > 0 {
			threshold = n
		}
	}
	now := time.Now()
	var flush []*check
	c.mu.Lock()
	defer func() {
		c.mu.Unlock()
		for _, ch := range flush {
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				c.flush(ch)
			}()
		}
	}()
	cur := c.services[k]
	if !checked {
		for _, ch := range cur {
			c.stopLocked(ch)
		}
		delete(c.services, k)
		return
	}
	if cur == nil {
		cur = map[string]*check{}
		c.services[k] = cur
	}
	c.syncs++
	pass := c.syncs
	for i := range insts {
		in := &insts[i]
		if c.cfg.Owner != nil && !c.cfg.Owner.Owns(k.account+"/"+k.region+"/"+k.svcID+"/"+in.ID) {
			continue // another server's: its check, if any, stops below
		}
		old := cur[in.ID]
		if old != nil && old.t.Type == info.HealthCheck.Type && (old.rev == in.Revision || old.attrs == in.Attributes) {
			// The same registration (or one with the same attributes):
			// keep the check, with the service's current settings.
			old.rev, old.attrs, old.synced = in.Revision, in.Attributes, pass
			old.threshold = threshold
			if old.t.Path != path || old.dnsName != dnsName {
				// Results against another request do not count.
				old.t.Path, old.dnsName, old.t.Host = path, dnsName, hostHeader(old.t.Type, dnsName, old.t.Addr.Port())
				old.streak = 0
			}
			continue
		}
		wmu := &sync.Mutex{}
		if old != nil {
			wmu = old.wmu
			c.stopLocked(old)
			delete(cur, in.ID)
		}
		addr, ok := targetAddr(in.Attributes)
		if !ok {
			continue // nothing to probe: the status stays as recorded
		}
		ch := &check{svc: k, inst: in.ID, rev: in.Revision, attrs: in.Attributes, threshold: threshold, idx: -1, wmu: wmu,
			dnsName: dnsName, synced: pass,
			t: target{Type: info.HealthCheck.Type, Addr: addr, Path: path, Host: hostHeader(info.HealthCheck.Type, dnsName, addr.Port())}}
		recorded := in.HealthAt(now.UnixMilli())
		if starting && old == nil {
			// Take over the recorded status; spread the first probes of
			// all the checks over one interval.
			ch.status = recorded
			if ch.status != statusUnhealthy {
				ch.status = statusHealthy
			}
			ch.due = now.Add(jitter(c.cfg.Interval))
		} else {
			// A new check starts HEALTHY, as on Route 53, and probes soon.
			ch.status, ch.dirty, ch.first = statusHealthy, recorded != statusHealthy, true
			ch.due = now.Add(jitter(min(c.cfg.Interval, firstProbeWithin)))
		}
		if why := c.pol.refusal(addr); why != "" {
			c.log.Warn("healthcheck: target may not be probed; the instance is UNHEALTHY without probing", "service", k.svcID,
				"instance", in.ID, "target", addr.String(), "reason", why)
		}
		cur[in.ID] = ch
		c.queueLocked(c.fast, ch)
		if ch.dirty {
			flush = append(flush, ch)
		}
	}
	for id, ch := range cur {
		if ch.synced != pass {
			c.stopLocked(ch)
			delete(cur, id)
		}
	}
}

// jitter returns a random duration in [0, d).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// stopLocked stops a check: it leaves its lane, and a probe in flight has
// no effect when it ends.
func (c *Checker) stopLocked(ch *check) {
	ch.stopped = true
	if ch.idx >= 0 {
		ch.lane.remove(ch)
	}
}

// record counts one probe result: FailureThreshold consecutive results that
// disagree with the status flip it.
func (ch *check) record(err error) {
	if err != nil {
		ch.lastErr = err
	}
	if errors.Is(err, errRefused) {
		// Not a failing target but a forbidden one: no threshold.
		ch.streak = 0
		if ch.status != statusUnhealthy {
			ch.status, ch.dirty = statusUnhealthy, true
		}
		return
	}
	if (err == nil) == (ch.status == statusHealthy) {
		ch.streak = 0
		return
	}
	ch.streak++
	if ch.streak < ch.threshold {
		return
	}
	ch.streak = 0
	ch.dirty = true
	if ch.status == statusHealthy {
		ch.status = statusUnhealthy
	} else {
		ch.status = statusHealthy
	}
}

// flush records the check's status through the Backend if it is not yet.
// A failed write is retried after the next probe.
func (c *Checker) flush(ch *check) {
	ch.wmu.Lock()
	defer ch.wmu.Unlock()
	c.mu.Lock()
	if ch.stopped || !ch.dirty {
		c.mu.Unlock()
		return
	}
	want, lastErr, rev := ch.status, ch.lastErr, ch.rev
	c.mu.Unlock()
	c.writes.Add(1)
	reason := ""
	if want == statusUnhealthy && lastErr != nil {
		reason = lastErr.Error()
	}
	err := c.b.SetHealth(c.ctx, ch.svc.account, ch.svc.region, ch.svc.svcID, ch.inst, rev, want, reason)
	c.mu.Lock()
	if err == nil && ch.status == want {
		ch.dirty = false
	}
	t := ch.t
	c.mu.Unlock()
	var ae *awsapi.Error
	switch {
	case err == nil:
		args := []any{"service", ch.svc.svcID, "instance", ch.inst, "type", t.Type, "target", t.Addr.String()}
		if want == statusUnhealthy && lastErr != nil {
			args = append(args, "err", lastErr.Error())
		}
		c.log.Info("healthcheck: instance is "+want, args...)
	case c.ctx.Err() != nil:
	case errors.As(err, &ae):
		// The check raced a change that stops it; the sync loop will.
		c.log.Debug("healthcheck: status not recorded", "service", ch.svc.svcID, "instance", ch.inst, "err", err)
	default:
		c.writeErrors.Add(1)
		c.log.Warn("healthcheck: status not recorded; retrying after the next probe", "service", ch.svc.svcID,
			"instance", ch.inst, "status", want, "err", err)
	}
}
