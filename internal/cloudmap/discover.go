package cloudmap

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Discovery is the data plane: it answers from the view under its read
// lock, without touching the store, and encodes from bytes built when each
// instance entered the view.

// defaultDiscoverMax is how many instances DiscoverInstances returns when
// MaxResults is not given.
const defaultDiscoverMax = 100

// defaultHealthFilter is the HealthStatus used when a request gives none.
// AWS does not document its default; mapmesh returns healthy instances, the
// answer a discovery client wants (docs/cloudmap.md).
const defaultHealthFilter = "HEALTHY"

// discovered is the output of DiscoverInstances. It encodes itself: the
// instances' attributes are kept as JSON in the view, so an answer is
// mostly copied bytes.
type discovered struct {
	// body, when set, is the whole encoded answer (answerCache); it is
	// shared and must not be modified.
	body []byte
	hits []hit
	rev  int64
	// mid is the part of every instance summary between its ID and its
	// attributes: `","NamespaceName":"ns","ServiceName":"svc","Attributes":`.
	mid []byte
}

type hit struct {
	inst   *instance
	status string
}

// summaryMid returns discovered.mid for service s.
func summaryMid(s *service) []byte {
	var ns string
	if s.ns != nil {
		ns = s.ns.rec.HTTPName
	}
	b := make([]byte, 0, 48+len(ns)+len(s.rec.Name))
	b = append(b, `,"NamespaceName":`...)
	b = appendJSONString(b, ns)
	b = append(b, `,"ServiceName":`...)
	b = appendJSONString(b, s.rec.Name)
	return append(b, `,"Attributes":`...)
}

// JSONBody implements awsapi.JSONBody: the encoded answer, when it is
// already whole, is sent as it is.
func (d *discovered) JSONBody() []byte { return d.body }

// AppendJSON implements awsapi.JSONAppender. It grows dst once, to the
// answer's exact size: a thousand instances are a few hundred kilobytes,
// and growing by doubling would copy them several times over.
func (d *discovered) AppendJSON(dst []byte) []byte {
	if d.body != nil {
		return append(dst, d.body...)
	}
	const (
		head     = `{"Instances":[`
		idOpen   = `{"InstanceId":"`
		statusAt = `,"HealthStatus":"`
		tail     = `],"InstancesRevision":` + "-9223372036854775808}"
	)
	n := len(head) + len(tail)
	for _, h := range d.hits {
		n += len(idOpen) + len(h.inst.id) + 1 + len(d.mid) + len(h.inst.attrs) + len(statusAt) + len(h.status) + 3
	}
	dst = slices.Grow(dst, n)
	dst = append(dst, head...)
	for i, h := range d.hits {
		if i > 0 {
			dst = append(dst, ',')
		}
		// Instance IDs need no escaping: RegisterInstance, the only way
		// in, holds them to ^[0-9a-zA-Z_/:.@-]+$ (ruleInstanceID).
		dst = append(dst, idOpen...)
		dst = append(dst, h.inst.id...)
		dst = append(dst, '"')
		dst = append(dst, d.mid...)
		dst = append(dst, h.inst.attrs...)
		dst = append(dst, statusAt...)
		dst = append(dst, h.status...)
		dst = append(dst, `"}`...)
	}
	dst = append(dst, `],"InstancesRevision":`...)
	dst = strconv.AppendInt(dst, d.rev, 10)
	return append(dst, '}')
}

func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s)
	return append(dst, b...)
}

var scratchPool = sync.Pool{New: func() any { s := make([]hit, 0, 128); return &s }}

// lookupService finds a service by namespace HttpName and service name, as
// DiscoverInstances does. Called with the view's read lock held.
func (p *partition) lookupService(nsName, svcName string) (*service, error) {
	ns := p.nsByHTTPName[nsName]
	if ns == nil {
		return nil, namespaceNotFound(nsName)
	}
	key := svcName
	if ns.isDNS() {
		key = strings.ToLower(svcName)
	}
	s := p.svcByName[ns.rec.ID+"/"+key]
	if s == nil {
		return nil, serviceNotFound(svcName)
	}
	return s, nil
}

// instancesRevision is the service's InstancesRevision: the store revision
// of its last register or deregister.
func (s *service) instancesRevision() int64 {
	if s.set != nil && s.set.rev > 0 {
		return s.set.rev
	}
	return s.createRev
}

// DiscoverInstances implements the operation of that name: QueryParameters
// must all match; OptionalParameters narrow the result only when some
// instance matches them; the health filter applies only to services with a
// health check; the result is shuffled and cut to MaxResults.
func (b *Backend) DiscoverInstances(ctx context.Context, in *DiscoverInstancesInput) (*discovered, error) {
	out, _, err := b.discover(ctx, in, nil)
	return out, err
}

// discovery is what a blocking query needs besides the answer.
type discovery struct {
	// index identifies the whole filtered answer (before MaxResults):
	// the service, and each instance's ID, registration revision and
	// health status. It changes exactly when the answer does.
	index uint64
	// changed is closed at the service's next change.
	changed <-chan struct{}
	// healthAt is when (epoch ms) a delayed custom health status of an
	// instance takes effect, 0 when none is pending.
	healthAt int64
}

// discover answers DiscoverInstances; with w set it also fills w, for
// DiscoverWait.
func (b *Backend) discover(ctx context.Context, in *DiscoverInstancesInput, w *discovery) (*discovered, *discovery, error) {
	c, pk := caller(ctx)
	if in.OwnerAccount != nil && *in.OwnerAccount != c.Account {
		return nil, nil, namespaceNotFound(*in.NamespaceName)
	}
	max := defaultDiscoverMax
	if in.MaxResults != nil {
		max = int(*in.MaxResults)
	}
	filter := defaultHealthFilter
	if in.HealthStatus != nil {
		filter = *in.HealthStatus
	}
	now := ms(b.now())
	scratch := scratchPool.Get().(*[]hit)
	defer func() { *scratch = (*scratch)[:0]; scratchPool.Put(scratch) }()
	out := &discovered{}
	var (
		err      error
		cacheKey string // the answer cache's key; "" for a blocking query
		svc      *service
		gen      uint64
		at       int64
		slot     int
	)
	if w == nil && b.dom.answers.max > 0 {
		cacheKey = queryKey(in, filter, max)
	}
	if werr := b.read(ctx, pk, func(p *partition) {
		var s *service
		if s, err = p.lookupService(*in.NamespaceName, *in.ServiceName); err != nil {
			return
		}
		if cacheKey != "" {
			if out.body, slot = b.dom.answers.get(s, cacheKey, s.gen, now); out.body != nil {
				return
			}
			svc, gen, at = s, s.gen, s.set.nextHealthChange(now)
		}
		out.rev, out.mid = s.instancesRevision(), summaryMid(s)
		cand := (*scratch)[:0]
		query := newAttrMatcher(in.QueryParameters)
		for _, inst := range s.set.list {
			if query.match(inst.attrs) {
				cand = append(cand, hit{inst: inst})
			}
		}
		if len(in.OptionalParameters) > 0 {
			optional := newAttrMatcher(in.OptionalParameters)
			n := 0
			for _, h := range cand {
				if optional.match(h.inst.attrs) {
					cand[n] = h
					n++
				}
			}
			if n > 0 {
				cand = cand[:n]
			}
		}
		for i := range cand {
			cand[i].status = s.set.healthOf(&s.rec, cand[i].inst.id, now)
		}
		if s.rec.healthChecked() {
			cand = filterHealth(cand, filter)
		}
		*scratch = cand
		if w != nil {
			// Under the view's read lock: a change applied after this
			// answer closes this channel (subscribers run after Apply).
			w.changed = b.watch.channel(watchKey{pk, s.rec.ID})
			w.index, w.healthAt = answerIndex(s, cand), s.set.nextHealthChange(now)
		}
	}); werr != nil {
		return nil, nil, werr
	}
	if err != nil {
		return nil, nil, err
	}
	if out.body != nil {
		return out, w, nil
	}
	cand := *scratch
	k := min(max, len(cand))
	for i := 0; i < k; i++ { // partial Fisher-Yates: a uniform random k-subset in random order
		j := i + rand.IntN(len(cand)-i)
		cand[i], cand[j] = cand[j], cand[i]
	}
	out.hits = cand[:k]
	if svc != nil {
		out.body = out.AppendJSON(nil)
		out.hits = nil
		b.dom.answers.put(svc, cacheKey, gen, at, now, slot, out.body)
	} else {
		out.hits = append([]hit(nil), out.hits...) // cand goes back to the pool
	}
	return out, w, nil
}

// filterHealth keeps the candidates the HealthStatus filter selects.
func filterHealth(cand []hit, filter string) []hit {
	if filter == "ALL" {
		return cand
	}
	want := healthHealthy
	if filter == "UNHEALTHY" {
		want = healthUnhealthy
	}
	n := 0
	for _, h := range cand {
		if h.status == want {
			cand[n] = h
			n++
		}
	}
	if n == 0 && filter == "HEALTHY_OR_ELSE_ALL" {
		return cand // failing open: none healthy, so all
	}
	return cand[:n]
}

// DiscoverInstancesRevision implements the operation of that name.
func (b *Backend) DiscoverInstancesRevision(ctx context.Context, in *DiscoverInstancesRevisionInput) (*DiscoverInstancesRevisionOutput, error) {
	c, pk := caller(ctx)
	if in.OwnerAccount != nil && *in.OwnerAccount != c.Account {
		return nil, namespaceNotFound(*in.NamespaceName)
	}
	var out *DiscoverInstancesRevisionOutput
	var err error
	if werr := b.read(ctx, pk, func(p *partition) {
		var s *service
		if s, err = p.lookupService(*in.NamespaceName, *in.ServiceName); err == nil {
			rev := s.instancesRevision()
			out = &DiscoverInstancesRevisionOutput{InstancesRevision: &rev}
		}
	}); werr != nil {
		return nil, werr
	}
	return out, err
}
