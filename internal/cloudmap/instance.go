package cloudmap

import (
	"context"
	"encoding/json"
	"maps"
)

// instRecord is an instance as stored.
type instRecord struct {
	V                int               `json:"v"`
	ID               string            `json:"id"`
	CreatorRequestID string            `json:"creatorRequestId,omitempty"`
	Attributes       map[string]string `json:"attributes"`
	CreatedByAccount string            `json:"createdByAccount"`
	CreateDate       int64             `json:"createDate"`
	UpdateDate       int64             `json:"updateDate"`
}

// instance is an instance in the view: what the API and the projections
// need of its record, compactly (about 100 bytes besides its ID and
// attributes). It is immutable once in the view.
type instance struct {
	id               string
	attrs            Attributes
	creatorRequestID string
	createdBy        string // the partition's account string when it is that account
	createDate       int64  // epoch ms; kept across re-registrations
	modRev           int64
}

// storedInstance decodes an instance record, keeping the attributes as the
// JSON they were stored as (EncodeAttributes wrote it).
type storedInstance struct {
	ID               string          `json:"id"`
	CreatorRequestID string          `json:"creatorRequestId"`
	Attributes       json.RawMessage `json:"attributes"`
	CreatedByAccount string          `json:"createdByAccount"`
	CreateDate       int64           `json:"createDate"`
}

// instanceOf makes the view's instance of a record written by this process
// (attributes as a map).
func instanceOf(r *instRecord, account string, modRev int64) *instance {
	return &instance{id: r.ID, attrs: EncodeAttributes(r.Attributes), creatorRequestID: r.CreatorRequestID,
		createdBy: intern(r.CreatedByAccount, account), createDate: r.CreateDate, modRev: modRev}
}

// decodeInstance makes the view's instance of a stored record.
func decodeInstance(value []byte, account string, modRev int64) (*instance, error) {
	var r storedInstance
	if !decodeStored(value, &r) { // not as mapmesh writes it: read it as JSON
		if err := json.Unmarshal(value, &r); err != nil {
			return nil, err
		}
		if len(r.Attributes) == 0 || r.Attributes[0] != '{' || !compactJSON(r.Attributes) {
			var m map[string]string // null, or written by something else: normalize
			if err := json.Unmarshal(r.Attributes, &m); err != nil && len(r.Attributes) > 0 {
				return nil, err
			}
			r.Attributes = json.RawMessage(EncodeAttributes(m))
		}
	}
	attrs := Attributes(r.Attributes)
	return &instance{id: r.ID, attrs: attrs, creatorRequestID: r.CreatorRequestID,
		createdBy: intern(r.CreatedByAccount, account), createDate: r.CreateDate, modRev: modRev}, nil
}

// compactJSON reports whether b has no whitespace outside its strings (as
// json.Marshal writes it).
func compactJSON(b []byte) bool {
	in, esc := false, false
	for _, c := range b {
		switch {
		case esc:
			esc = false
		case in && c == '\\':
			esc = true
		case c == '"':
			in = !in
		case !in && (c == ' ' || c == '\n' || c == '\r' || c == '\t'):
			return false
		}
	}
	return true
}

// intern returns shared when s equals it, so that equal strings share
// their bytes.
func intern(s, shared string) string {
	if s == shared {
		return shared
	}
	return s
}

// instanceSet holds a service's instances and their health.
type instanceSet struct {
	svc  *service
	list []*instance       // in no particular order
	pos  map[string]uint32 // index in list, by ID
	// health holds the instances' recorded health, by ID.
	health map[string]*healthRecord
	// rev is the ModRevision of the service's svcrev marker: the store
	// revision of its last register or deregister (InstancesRevision).
	rev int64
}

func newInstanceSet() *instanceSet {
	return &instanceSet{pos: map[string]uint32{}, health: map[string]*healthRecord{}}
}

// get returns the instance with id, or nil.
func (set *instanceSet) get(id string) *instance {
	if i, ok := set.pos[id]; ok {
		return set.list[i]
	}
	return nil
}

func (set *instanceSet) put(in *instance) {
	if i, ok := set.pos[in.id]; ok {
		set.list[i] = in
		return
	}
	set.pos[in.id] = uint32(len(set.list))
	set.list = append(set.list, in)
}

func (set *instanceSet) remove(id string) {
	i, ok := set.pos[id]
	if !ok {
		return
	}
	last := len(set.list) - 1
	set.list[i] = set.list[last]
	set.pos[set.list[i].id] = i
	set.list[last] = nil
	set.list = set.list[:last]
	delete(set.pos, id)
	if len(set.list) < cap(set.list)/4 && cap(set.list) > 64 {
		set.list = append([]*instance(nil), set.list...) // give back what churn left
	}
}

// RegisterInstance implements the operation of that name. Registering an
// existing instance ID replaces its attributes.
func (b *Backend) RegisterInstance(ctx context.Context, in *RegisterInstanceInput) (*RegisterInstanceOutput, error) {
	c, pk := caller(ctx)
	req := *in
	req.CreatorRequestID = nil
	hash, token := requestHash(&req), deref(in.CreatorRequestID)
	var opID string
	tok := newOpToken("RegisterInstance", pk.resolveID(*in.ServiceID, "service"), token, hash)
	err := b.updateTok(ctx, pk, tok, func(p *partition, t *txn, earlier *idemRecord) error {
		s, err := p.service(*in.ServiceID)
		if err != nil {
			return err
		}
		svcID, instID := s.rec.ID, *in.InstanceID
		if earlier != nil {
			opID, err = tok.answer(earlier, tokenReused(token))
			return err
		}
		ns := p.namespaces[s.rec.NamespaceID]
		if ns == nil {
			return serviceNotFound(*in.ServiceID)
		}
		if err := checkInstanceAttributes(&s.rec, ns, instID, in.Attributes); err != nil {
			return err
		}
		old := s.set.get(instID)
		if old == nil {
			if err := b.checkInstanceQuotas(p, t, s, ns, p.key.key(kindInstance, svcID, instID)); err != nil {
				return err
			}
		}
		now := ms(b.now())
		rec := &instRecord{V: 1, ID: instID, CreatorRequestID: token, Attributes: maps.Clone(in.Attributes),
			CreatedByAccount: c.Account, CreateDate: now, UpdateDate: now}
		var oldRev int64
		if old != nil {
			rec.CreateDate, oldRev = old.createDate, old.modRev
		}
		t.cond(p.key.key(kindService, svcID), s.modRev)
		k := p.key.key(kindInstance, svcID, instID)
		t.cond(k, oldRev)
		t.put(k, rec)
		if s.rec.HealthCheck != nil && old != nil && old.attrs != EncodeAttributes(in.Attributes) {
			// Route 53 replaces the health check of a re-registered
			// instance: the new check starts healthy (the record's
			// absence), in the same transaction as the registration.
			t.del(p.key.key(kindHealth, svcID, instID))
		}
		if init, ok := in.Attributes[attrInitHealthStatus]; s.rec.CustomHealth && (ok || old == nil) {
			// A new instance starts HEALTHY unless AWS_INIT_HEALTH_STATUS
			// says otherwise; a re-registration keeps its status unless it
			// gives one.
			if !ok {
				init = healthHealthy
			}
			t.put(p.key.key(kindHealth, svcID, instID), &healthRecord{V: 1, Status: init})
		}
		t.touch(p.key.key(kindServiceRev, svcID))
		opID = p.newOperation(t, now, opRegisterInstance, map[string]string{targetInstance: instID, targetService: svcID},
			tok, statusSuccess, "", "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &RegisterInstanceOutput{OperationID: &opID}, nil
}

// quotaSlack is how close to an instance quota registrations start to be
// serialized across processes (see quota.go). Far from the limit,
// concurrent registrations never conflict; within quotaSlack of it, each
// new instance puts a condition on the markers every registration writes,
// so that writers of other processes sharing the store retry against a
// fresh count. In this process the reservations keep the count exact.
const quotaSlack = 64

// checkInstanceQuotas refuses a new instance of s, to be written at key,
// beyond the per-service or per-namespace quota, counting the instances
// this process is adding; it reserves the instance until the view holds it
// (or the transaction fails), and near a quota adds the conditions that
// keep it exact across processes.
func (b *Backend) checkInstanceQuotas(p *partition, t *txn, s *service, ns *namespace, key string) error {
	q := b.cfg.Quotas
	n := s.instanceCount()
	total := 0
	for _, other := range ns.services {
		total += other.instanceCount()
	}
	limits := []limit{{scope{p.key, s.rec.ID}, n, q.InstancesPerService}, {scope{p.key, ns.rec.ID}, total, q.InstancesPerNamespace}}
	if s.rec.HealthCheck != nil {
		acct := partKey{account: p.key.account}
		limits = append(limits, limit{scope{acct, "probed"}, b.dom.probed[p.key.account], q.HealthCheckedInstancesPerAccount})
	}
	switch b.dom.adding.reserve(key, limits) {
	case -1:
	case 0:
		return resourceLimitExceeded("The maximum number of instances per service (%d) has been reached", q.InstancesPerService)
	case 1:
		return resourceLimitExceeded("The maximum number of instances per namespace (%d) has been reached", q.InstancesPerNamespace)
	default:
		return resourceLimitExceeded("The maximum number of instances with a health check (HealthCheckConfig) per account (%d) has been reached",
			q.HealthCheckedInstancesPerAccount)
	}
	t.OnDone(func(committed bool, rev int64) { b.dom.adding.done(key, committed, rev) })
	switch {
	case total+quotaSlack >= q.InstancesPerNamespace:
		// The namespace's marker: one condition however many services
		// it has (a transaction holds at most 128 operations on etcd).
		t.cond(p.key.key(kindNamespaceRev, ns.rec.ID), ns.markerRev)
		t.touch(p.key.key(kindNamespaceRev, ns.rec.ID))
	case n+quotaSlack >= q.InstancesPerService:
		t.cond(p.key.key(kindServiceRev, s.rec.ID), s.set.rev)
	}
	return nil
}

// DeregisterInstance implements the operation of that name.
func (b *Backend) DeregisterInstance(ctx context.Context, in *DeregisterInstanceInput) (*DeregisterInstanceOutput, error) {
	_, pk := caller(ctx)
	var opID string
	err := b.update(ctx, pk, func(p *partition, t *txn) error {
		s, err := p.service(*in.ServiceID)
		if err != nil {
			return err
		}
		svcID, instID := s.rec.ID, *in.InstanceID
		old := s.set.get(instID)
		if old == nil {
			return instanceNotFound(svcID, instID)
		}
		k := p.key.key(kindInstance, svcID, instID)
		t.cond(k, old.modRev)
		t.del(k)
		t.del(p.key.key(kindHealth, svcID, instID))
		t.touch(p.key.key(kindServiceRev, svcID))
		opID = p.newOperation(t, ms(b.now()), opDeregisterInstance, map[string]string{targetInstance: instID, targetService: svcID}, opToken{}, statusSuccess, "", "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &DeregisterInstanceOutput{OperationID: &opID}, nil
}

// GetInstance implements the operation of that name.
func (b *Backend) GetInstance(ctx context.Context, in *GetInstanceInput) (*GetInstanceOutput, error) {
	_, pk := caller(ctx)
	var out *GetInstanceOutput
	var err error
	if werr := b.read(ctx, pk, func(p *partition) {
		var s *service
		if s, err = p.service(*in.ServiceID); err != nil {
			return
		}
		inst := s.set.get(*in.InstanceID)
		if inst == nil {
			err = instanceNotFound(s.rec.ID, *in.InstanceID)
			return
		}
		out = &GetInstanceOutput{ResourceOwner: str(p.key.account), Instance: &Instance{ID: str(inst.id),
			CreatorRequestID: optStr(inst.creatorRequestID), Attributes: inst.attrs.Map(), CreatedByAccount: str(inst.createdBy)}}
	}); werr != nil {
		return nil, werr
	}
	return out, err
}

// ListInstances implements the operation of that name.
func (b *Backend) ListInstances(ctx context.Context, in *ListInstancesInput) (*ListInstancesOutput, error) {
	_, pk := caller(ctx)
	var items []InstanceSummary
	var err error
	if werr := b.read(ctx, pk, func(p *partition) {
		var s *service
		if s, err = p.service(*in.ServiceID); err != nil {
			return
		}
		items = make([]InstanceSummary, 0, len(s.set.list))
		for _, inst := range s.set.list {
			items = append(items, InstanceSummary{ID: str(inst.id), Attributes: inst.attrs.Map(), CreatedByAccount: str(inst.createdBy)})
		}
	}); werr != nil {
		return nil, werr
	}
	if err != nil {
		return nil, err
	}
	page, tok, err := paginate(items, func(s InstanceSummary) string { return *s.ID }, in.MaxResults, 100, in.NextToken)
	if err != nil {
		return nil, err
	}
	return &ListInstancesOutput{ResourceOwner: str(pk.account), Instances: nonNil(page), NextToken: tok}, nil
}
