package cloudmap

import (
	"context"
	"sort"
)

// Health statuses.
const (
	healthHealthy   = "HEALTHY"
	healthUnhealthy = "UNHEALTHY"
	healthUnknown   = "UNKNOWN"
)

// healthRecord is the health of one instance, stored apart from the
// instance so a health change never rewrites it (nor moves
// InstancesRevision). A custom status set with a delay waits in Pending
// until PendingAt; readers compute the effective status from the clock, so
// no timer has to write it.
type healthRecord struct {
	V         int    `json:"v"`
	Status    string `json:"status"`
	Pending   string `json:"pending,omitempty"`
	PendingAt int64  `json:"pendingAt,omitempty"`
	// Reason says why a health check found the instance UNHEALTHY.
	Reason string `json:"reason,omitempty"`
	modRev int64
}

// effective returns the status in force at nowMs.
func (h *healthRecord) effective(nowMs int64) string {
	if h.Pending != "" && nowMs >= h.PendingAt {
		return h.Pending
	}
	return h.Status
}

// healthOf returns the status of instance id of a service: UNKNOWN when the
// service has no health check; otherwise the recorded status, HEALTHY until
// one is recorded (AWS treats a new check as healthy until it has data).
func (set *instanceSet) healthOf(svc *svcRecord, id string, nowMs int64) string {
	if !svc.healthChecked() {
		return healthUnknown
	}
	if h := set.health[id]; h != nil {
		return h.effective(nowMs)
	}
	return healthHealthy
}

// UpdateInstanceCustomHealthStatusOutput is empty: the operation has no
// output shape in the model.
type UpdateInstanceCustomHealthStatusOutput struct{}

// UpdateInstanceCustomHealthStatus implements the operation of that name.
// With Config.CustomHealthDelay > 0 the change takes effect after the delay,
// as on AWS (about 30 s there): the same status again does not hurry it, and
// the opposite status inside the window cancels it.
func (b *Backend) UpdateInstanceCustomHealthStatus(ctx context.Context, in *UpdateInstanceCustomHealthStatusInput) (*UpdateInstanceCustomHealthStatusOutput, error) {
	_, pk := caller(ctx)
	err := b.update(ctx, pk, func(p *partition, t *txn) error {
		s, err := p.service(*in.ServiceID)
		if err != nil {
			return err
		}
		if !s.rec.CustomHealth {
			return customHealthNotFound(s.rec.ID)
		}
		inst := s.set.get(*in.InstanceID)
		if inst == nil {
			return instanceNotFound(s.rec.ID, *in.InstanceID)
		}
		now := ms(b.now())
		var h healthRecord
		var rev int64
		if old := s.set.health[inst.id]; old != nil {
			h, rev = *old, old.modRev
		} else {
			h = healthRecord{V: 1, Status: healthHealthy}
		}
		if h.Pending != "" && now >= h.PendingAt { // fold a matured change
			h.Status, h.Pending, h.PendingAt = h.Pending, "", 0
		}
		want := *in.Status
		switch {
		case b.cfg.CustomHealthDelay <= 0:
			h.Status, h.Pending, h.PendingAt = want, "", 0
		case h.Pending == want:
			return nil // already on its way
		case h.Pending != "": // the opposite value inside the window cancels
			h.Pending, h.PendingAt = "", 0
		case h.Status == want:
			return nil
		default:
			h.Pending, h.PendingAt = want, now+b.cfg.CustomHealthDelay.Milliseconds()
		}
		if old := s.set.health[inst.id]; old != nil && *old == h {
			return nil
		}
		t.cond(p.key.key(kindInstance, s.rec.ID, inst.id), inst.modRev)
		k := p.key.key(kindHealth, s.rec.ID, inst.id)
		t.cond(k, rev)
		t.put(k, &h)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &UpdateInstanceCustomHealthStatusOutput{}, nil
}

// GetInstancesHealthStatus implements the operation of that name.
func (b *Backend) GetInstancesHealthStatus(ctx context.Context, in *GetInstancesHealthStatusInput) (*GetInstancesHealthStatusOutput, error) {
	_, pk := caller(ctx)
	now := ms(b.now())
	type item struct{ id, status string }
	var items []item
	var err error
	if werr := b.read(ctx, pk, func(p *partition) {
		var s *service
		if s, err = p.service(*in.ServiceID); err != nil {
			return
		}
		ids := in.Instances
		if ids == nil {
			for _, in := range s.set.list {
				ids = append(ids, in.id)
			}
		}
		for _, id := range ids {
			if s.set.get(id) == nil {
				err = instanceNotFound(s.rec.ID, id)
				return
			}
			items = append(items, item{id, s.set.healthOf(&s.rec, id, now)})
		}
	}); werr != nil {
		return nil, werr
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(items, func(i, j int) bool { return items[i].id < items[j].id })
	page, tok, err := paginate(items, func(i item) string { return i.id }, in.MaxResults, 100, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := &GetInstancesHealthStatusOutput{Status: make(map[string]string, len(page)), NextToken: tok}
	for _, it := range page {
		out.Status[it.id] = it.status
	}
	return out, nil
}
