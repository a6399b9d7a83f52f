package cloudmap

import (
	"context"
	"fmt"
)

// The read model other projections use: the DNS server, the health
// checker and the xDS control plane learn what changed through Subscribe and
// read what they need with Namespaces, Services and Service, all from the
// in-memory view as it is (no store access, and no wait for writes in
// flight: a projection learns of them through Subscribe). They write only through the Backend
// (SetHealth), so every write takes the one path to the store.

// Change names what one applied transaction touched in one account and
// region. A namespace change has ServiceID empty; a change to a service, its
// instances or their health has ServiceID set (and NamespaceID when the
// service is known).
type Change struct {
	Account, Region string
	NamespaceID     string
	ServiceID       string
}

// Subscribe registers fn to be called after every batch of changes the view
// applies, with the store revision the view now reflects. fn runs on the
// view's goroutine with no lock held; it must be quick (record what changed
// and return) and may call the read methods below. A Change with every
// field empty means anything may have changed (the view was reloaded):
// read everything again. Subscribe first, then read: no change is missed.
func (b *Backend) Subscribe(fn func(rev int64, changes []Change)) {
	b.view.Subscribe(fn)
}

// NamespaceInfo is a namespace as projections see it.
type NamespaceInfo struct {
	Account, Region string
	ID, Name        string
	// Type is HTTP, DNS_PRIVATE or DNS_PUBLIC.
	Type         string
	HTTPName     string
	HostedZoneID string
	VPC          string
	// SOATTL is the negative-caching TTL of a DNS namespace.
	SOATTL     int64
	CreateDate int64 // epoch milliseconds
	// Revision is the store revision of the namespace's last change.
	Revision int64
}

// ServiceInfo is a service as projections see it.
type ServiceInfo struct {
	Account, Region string
	ID, NamespaceID string
	Name            string
	// Type is HTTP or DNS_HTTP.
	Type          string
	RoutingPolicy string
	DNSRecords    []DNSRecordInfo
	HealthCheck   *HealthCheckInfo
	CustomHealth  bool
	// InstancesRevision rises with every registration and deregistration.
	InstancesRevision int64
}

// DNSRecordInfo is one record type of a service's DnsConfig.
type DNSRecordInfo struct {
	Type string // A, AAAA, SRV or CNAME
	TTL  int64
}

// HealthCheckInfo is a service's HealthCheckConfig.
type HealthCheckInfo struct {
	Type         string // HTTP, HTTPS or TCP
	ResourcePath string
	// FailureThreshold is 0 when the service did not set one.
	FailureThreshold int
}

// InstanceInfo is an instance as projections see it.
type InstanceInfo struct {
	ID string
	// Attributes are shared with the view (a string: nothing can modify
	// them).
	Attributes Attributes
	// Revision is the store revision of the instance's last registration.
	Revision int64
	health   *healthRecord
	checked  bool
}

// HealthAt returns the instance's health status at nowMs (epoch
// milliseconds): UNKNOWN for a service without health check, else HEALTHY
// or UNHEALTHY, with a delayed custom status taken into account.
func (in *InstanceInfo) HealthAt(nowMs int64) string {
	switch {
	case !in.checked:
		return healthUnknown
	case in.health == nil:
		return healthHealthy
	}
	return in.health.effective(nowMs)
}

// HealthReason returns why a health check last made the instance UNHEALTHY
// (empty for a healthy one, or when none was given).
func (in *InstanceInfo) HealthReason() string {
	if in.health == nil {
		return ""
	}
	return in.health.Reason
}

// HealthChangesAt returns when (epoch milliseconds) a pending custom status
// takes effect, or 0 when none is pending.
func (in *InstanceInfo) HealthChangesAt() int64 {
	if in.health == nil || in.health.Pending == "" {
		return 0
	}
	return in.health.PendingAt
}

// Namespaces calls fn for every namespace of every account and region.
func (b *Backend) Namespaces(fn func(NamespaceInfo)) {
	b.view.Range(func(_ partKey, p *partition) bool {
		for _, ns := range p.namespaces {
			fn(p.namespaceInfo(ns))
		}
		return true
	})
}

// Namespace returns one namespace.
func (b *Backend) Namespace(account, region, id string) (info NamespaceInfo, ok bool) {
	b.view.Peek(partKey{account, region}, func(p *partition) {
		if p != nil && p.namespaces[id] != nil {
			info, ok = p.namespaceInfo(p.namespaces[id]), true
		}
	})
	return info, ok
}

// Services returns the services of a namespace (without instances).
func (b *Backend) Services(account, region, nsID string) []ServiceInfo {
	var out []ServiceInfo
	b.view.Peek(partKey{account, region}, func(p *partition) {
		if p == nil || p.namespaces[nsID] == nil {
			return
		}
		for _, s := range p.namespaces[nsID].services {
			out = append(out, p.serviceInfo(s))
		}
	})
	return out
}

// ServiceInfo returns one service without its instances (cheap: for
// deciding whether a change concerns the caller at all).
func (b *Backend) ServiceInfo(account, region, id string) (info ServiceInfo, ok bool) {
	b.view.Peek(partKey{account, region}, func(p *partition) {
		if p != nil && p.services[id] != nil {
			info, ok = p.serviceInfo(p.services[id]), true
		}
	})
	return info, ok
}

// Service returns one service and its instances.
func (b *Backend) Service(account, region, id string) (info ServiceInfo, insts []InstanceInfo, ok bool) {
	b.view.Peek(partKey{account, region}, func(p *partition) {
		if p == nil || p.services[id] == nil {
			return
		}
		s := p.services[id]
		insts = make([]InstanceInfo, 0, len(s.set.list))
		checked := s.rec.healthChecked()
		for _, in := range s.set.list {
			insts = append(insts, InstanceInfo{ID: in.id, Attributes: in.attrs, Revision: in.modRev,
				health: s.set.health[in.id], checked: checked})
		}
		info, ok = p.serviceInfo(s), true
	})
	return info, insts, ok
}

func (p *partition) namespaceInfo(ns *namespace) NamespaceInfo {
	r := &ns.rec
	info := NamespaceInfo{Account: p.key.account, Region: p.key.region, ID: r.ID, Name: r.Name, Type: r.Type,
		HTTPName: r.HTTPName, HostedZoneID: r.HostedZoneID, VPC: r.VPC, CreateDate: r.CreateDate, Revision: ns.modRev}
	if r.SOATTL != nil {
		info.SOATTL = *r.SOATTL
	}
	return info
}

func (p *partition) serviceInfo(s *service) ServiceInfo {
	r := &s.rec
	info := ServiceInfo{Account: p.key.account, Region: p.key.region, ID: r.ID, NamespaceID: r.NamespaceID, Name: r.Name,
		Type: r.Type, RoutingPolicy: r.RoutingPolicy, CustomHealth: r.CustomHealth, InstancesRevision: s.instancesRevision()}
	for _, d := range r.DNSRecords {
		info.DNSRecords = append(info.DNSRecords, DNSRecordInfo(d))
	}
	if hc := r.HealthCheck; hc != nil {
		info.HealthCheck = &HealthCheckInfo{Type: hc.Type, ResourcePath: hc.ResourcePath}
		if hc.FailureThreshold != nil {
			info.HealthCheck.FailureThreshold = int(*hc.FailureThreshold)
		}
	}
	return info
}

// SetHealth records the result of a health check (HealthCheckConfig) for an
// instance: status is HEALTHY or UNHEALTHY, and reason why (the last probe's
// failure, or why the target may not be probed; empty when healthy), for
// operators. instRev is the revision of the registration the check probed
// (InstanceInfo.Revision): a result about an older registration (the
// instance was registered again, maybe at another address, while the probe
// ran) is not recorded. It writes only when the status changes, never
// moves InstancesRevision, and fails with InstanceNotFound when the
// instance is gone or was registered again (a check racing a change) or
// InvalidInput when the service has no HealthCheckConfig.
func (b *Backend) SetHealth(ctx context.Context, account, region, svcID, instID string, instRev int64, status, reason string) error {
	if status != healthHealthy && status != healthUnhealthy {
		return fmt.Errorf("cloudmap: SetHealth: bad status %q", status)
	}
	pk := partKey{account, region}
	return b.update(ctx, pk, func(p *partition, t *txn) error {
		s := p.services[svcID]
		if s == nil {
			return serviceNotFound(svcID)
		}
		if s.rec.HealthCheck == nil {
			return invalidInput("service %s has no HealthCheckConfig", svcID)
		}
		inst := s.set.get(instID)
		if inst == nil || instRev != 0 && inst.modRev != instRev {
			return instanceNotFound(svcID, instID)
		}
		old := s.set.health[instID]
		if old != nil && old.Status == status && old.Pending == "" {
			return nil
		}
		var rev int64
		if old != nil {
			rev = old.modRev
		}
		t.cond(p.key.key(kindInstance, svcID, instID), inst.modRev)
		k := p.key.key(kindHealth, svcID, instID)
		t.cond(k, rev)
		if len(reason) > maxHealthReason {
			reason = reason[:maxHealthReason]
		}
		t.put(k, &healthRecord{V: 1, Status: status, Reason: reason})
		return nil
	})
}

// maxHealthReason bounds the reason a health record keeps.
const maxHealthReason = 256

// Revision returns the store revision the view reflects (its lag behind
// the store is a metric).
func (b *Backend) Revision() int64 { return b.view.Follower().Rev() }
