package cloudmap

import (
	"context"
	"maps"
	"strings"
)

// Service types and routing policies.
const (
	svcHTTP    = "HTTP"
	svcDNSHTTP = "DNS_HTTP"

	routingMultivalue = "MULTIVALUE"
	routingWeighted   = "WEIGHTED"
)

// svcRecord is a service as stored.
type svcRecord struct {
	V           int    `json:"v"`
	ID          string `json:"id"`
	NamespaceID string `json:"namespaceId"`
	Name        string `json:"name"`
	// NameKey is the name as uniqueness compares it: lowercased in DNS
	// namespaces, where EXAMPLE and example are one DNS name.
	NameKey          string             `json:"nameKey"`
	Description      string             `json:"description,omitempty"`
	Type             string             `json:"type"`
	RoutingPolicy    string             `json:"routingPolicy,omitempty"`
	DNSRecords       []dnsRecord        `json:"dnsRecords,omitempty"`
	HealthCheck      *healthCheckRecord `json:"healthCheck,omitempty"`
	CustomHealth     bool               `json:"customHealth,omitempty"`
	CreateDate       int64              `json:"createDate"`
	CreatorRequestID string             `json:"creatorRequestId,omitempty"`
	CreatedByAccount string             `json:"createdByAccount"`
	Tags             []tagRecord        `json:"tags,omitempty"`
	Attributes       map[string]string  `json:"attributes,omitempty"`
}

type dnsRecord struct {
	Type string `json:"type"`
	TTL  int64  `json:"ttl"`
}

type healthCheckRecord struct {
	Type             string `json:"type"`
	ResourcePath     string `json:"resourcePath,omitempty"`
	FailureThreshold *int32 `json:"failureThreshold,omitempty"`
}

type service struct {
	rec       svcRecord
	modRev    int64
	createRev int64
	ns        *namespace
	set       *instanceSet
	// gen counts the changes applied to the service, its instances and
	// their health (for answerCache).
	gen uint64
}

func (s *service) nameKey() string { return s.rec.NamespaceID + "/" + s.rec.NameKey }

// hasRecord reports whether the service's DNS config has a record of type typ.
func (s *svcRecord) hasRecord(typ string) bool {
	for _, r := range s.DNSRecords {
		if r.Type == typ {
			return true
		}
	}
	return false
}

// healthChecked reports whether the service has any health check, Route 53
// style or custom. Services without one report UNKNOWN and ignore health
// filters.
func (s *svcRecord) healthChecked() bool { return s.HealthCheck != nil || s.CustomHealth }

func (p *partition) service(idOrARN string) (*service, error) {
	if s := p.services[p.resolveID(idOrARN, "service")]; s != nil {
		return s, nil
	}
	return nil, serviceNotFound(idOrARN)
}

// validDNSRecordSets are the record type combinations AWS accepts: the five
// documented ones and the A/AAAA+SRV combinations the service also takes.
var validDNSRecordSets = map[string]bool{
	"A": true, "AAAA": true, "A,AAAA": true, "SRV": true, "CNAME": true,
	"A,SRV": true, "AAAA,SRV": true, "A,AAAA,SRV": true,
}

// checkDNSRecords applies the DnsConfig rules to a list of records.
func checkDNSRecords(recs []DNSRecord, routing string, hc *HealthCheckConfig) ([]dnsRecord, error) {
	if len(recs) == 0 {
		return nil, invalidInput("DnsConfig.DnsRecords must contain at least one record")
	}
	seen := map[string]bool{}
	out := make([]dnsRecord, 0, len(recs))
	for _, r := range recs {
		if seen[*r.Type] {
			return nil, invalidInput("DnsConfig.DnsRecords contains more than one record of type %s", *r.Type)
		}
		seen[*r.Type] = true
		out = append(out, dnsRecord{Type: *r.Type, TTL: *r.TTL})
	}
	var types []string
	for _, t := range []string{"A", "AAAA", "CNAME", "SRV"} {
		if seen[t] {
			types = append(types, t)
		}
	}
	if !validDNSRecordSets[strings.Join(types, ",")] {
		return nil, invalidInput("DnsConfig.DnsRecords must be one of A, AAAA, A and AAAA, SRV, CNAME, or A and/or AAAA with SRV; got %s", strings.Join(types, " and "))
	}
	if seen["CNAME"] {
		if routing != routingWeighted {
			return nil, invalidInput("A CNAME record requires the WEIGHTED routing policy")
		}
		if hc != nil {
			return nil, invalidInput("You can't specify both a CNAME record and HealthCheckConfig")
		}
	}
	return out, nil
}

// checkHealthCheckConfig applies the HealthCheckConfig rules.
func (b *Backend) checkHealthCheckConfig(hc *HealthCheckConfig, ns *namespace) (*healthCheckRecord, error) {
	if hc == nil {
		return nil, nil
	}
	if ns.rec.Type == nsDNSPrivate && !b.cfg.HealthChecksAllNamespaces {
		return nil, invalidInput("HealthCheckConfig is supported only for services in public DNS and HTTP namespaces; use HealthCheckCustomConfig")
	}
	r := &healthCheckRecord{Type: *hc.Type, ResourcePath: deref(hc.ResourcePath), FailureThreshold: hc.FailureThreshold}
	if r.Type == "TCP" {
		if hc.ResourcePath != nil {
			return nil, invalidInput("ResourcePath must not be specified for a TCP health check")
		}
	} else if r.ResourcePath == "" {
		r.ResourcePath = "/"
	}
	return r, nil
}

// CreateService implements the operation of that name.
func (b *Backend) CreateService(ctx context.Context, in *CreateServiceInput) (*CreateServiceOutput, error) {
	c, pk := caller(ctx)
	req := *in
	req.CreatorRequestID = nil
	hash, token := requestHash(&req), deref(in.CreatorRequestID)
	nsRef := deref(in.NamespaceID)
	if nsRef == "" && in.DNSConfig != nil {
		nsRef = deref(in.DNSConfig.NamespaceID)
	}
	if nsRef == "" {
		return nil, invalidInput("NamespaceId is required")
	}
	var out *CreateServiceOutput
	var createdID string
	tok := newOpToken("CreateService", "", token, hash)
	err := b.updateTok(ctx, pk, tok, func(p *partition, t *txn, earlier *idemRecord) error {
		ns, err := p.namespace(nsRef)
		if err != nil {
			return err
		}
		if earlier != nil {
			id, err := tok.answer(earlier, func(string) error {
				return invalidInput("CreatorRequestId %s was already used for a different CreateService request", token)
			})
			if err != nil {
				return err
			}
			if s := p.services[id]; s != nil {
				out = &CreateServiceOutput{Service: p.serviceOutput(s)}
				return nil
			}
		}
		name := *in.Name
		nameKey := name
		if ns.isDNS() {
			nameKey = strings.ToLower(name)
		}
		if old := p.svcByName[ns.rec.ID+"/"+nameKey]; old != nil {
			return serviceAlreadyExists(old.rec.CreatorRequestID, old.rec.ID, p.arn("service", old.rec.ID))
		}
		if len(ns.services) >= b.cfg.Quotas.ServicesPerNamespace {
			return resourceLimitExceeded("The maximum number of services per namespace (%d) has been reached", b.cfg.Quotas.ServicesPerNamespace)
		}
		// A random ID, as AWS gives: a service deleted and created again
		// under the same name is a new service, and tools that kept the old
		// ID get ServiceNotFound instead of silently addressing the new one.
		id := "srv-" + randomID(16)
		rec := &svcRecord{V: 1, ID: id, NamespaceID: ns.rec.ID, Name: name, NameKey: nameKey, Description: deref(in.Description),
			Type: svcHTTP, CreateDate: ms(b.now()), CreatorRequestID: token, CreatedByAccount: c.Account}
		if in.HealthCheckConfig != nil && in.HealthCheckCustomConfig != nil {
			return invalidInput("You can specify either HealthCheckConfig or HealthCheckCustomConfig, not both")
		}
		if rec.HealthCheck, err = b.checkHealthCheckConfig(in.HealthCheckConfig, ns); err != nil {
			return err
		}
		rec.CustomHealth = in.HealthCheckCustomConfig != nil
		if dc := in.DNSConfig; dc != nil {
			switch {
			case !ns.isDNS():
				return invalidInput("DnsConfig is not supported for services in HTTP namespaces")
			case deref(in.Type) == svcHTTP:
				return invalidInput("DnsConfig can't be specified for a service of type HTTP")
			case dc.NamespaceID != nil && in.NamespaceID != nil && p.resolveID(*dc.NamespaceID, "namespace") != ns.rec.ID:
				return invalidInput("DnsConfig.NamespaceId and NamespaceId name different namespaces")
			}
			rec.RoutingPolicy = routingMultivalue
			if dc.RoutingPolicy != nil {
				rec.RoutingPolicy = *dc.RoutingPolicy
			}
			if rec.DNSRecords, err = checkDNSRecords(dc.DNSRecords, rec.RoutingPolicy, in.HealthCheckConfig); err != nil {
				return err
			}
			rec.Type = svcDNSHTTP
		}
		if rec.Tags, err = mergeTags(nil, in.Tags, b.cfg.Quotas.TagsPerResource, p.arn("service", id)); err != nil {
			return err
		}
		k := p.key.key(kindService, id)
		t.cond(p.key.key(kindNamespace, ns.rec.ID), ns.modRev)
		// The namespace's marker serializes service creation, so the quota
		// holds under concurrency.
		t.cond(p.key.key(kindNamespaceRev, ns.rec.ID), ns.markerRev)
		t.cond(k, 0)
		t.put(k, rec)
		t.cond(p.key.key(kindServiceName, ns.rec.ID, nameKey), 0)
		t.put(p.key.key(kindServiceName, ns.rec.ID, nameKey), id)
		t.touch(p.key.key(kindNamespaceRev, ns.rec.ID))
		t.touch(p.key.key(kindServiceRev, id))
		if tok.key != "" {
			// Conditional only on a new token: one whose service was
			// deleted since may create another.
			if earlier == nil {
				t.cond(pk.idemKey(tok.key), 0)
			}
			t.putData(pk.idemKey(tok.key), &idemRecord{V: 1, Hash: hash, Result: id, At: rec.CreateDate})
		}
		out, createdID = nil, id
		return nil
	})
	if err != nil || out != nil {
		return out, err
	}
	// Read back what was committed: the view reflects it now.
	g, err := b.GetService(ctx, &GetServiceInput{ID: &createdID})
	if err != nil {
		return nil, err
	}
	return &CreateServiceOutput{Service: g.Service}, nil
}

func (p *partition) serviceOutput(s *service) *Service {
	r := &s.rec
	return &Service{
		ID:                      str(r.ID),
		ARN:                     str(p.arn("service", r.ID)),
		ResourceOwner:           str(p.key.account),
		Name:                    str(r.Name),
		NamespaceID:             str(r.NamespaceID),
		Description:             optStr(r.Description),
		InstanceCount:           int32p(s.instanceCount()),
		DNSConfig:               r.dnsConfigOutput(true),
		Type:                    str(r.Type),
		HealthCheckConfig:       r.healthCheckOutput(),
		HealthCheckCustomConfig: r.customHealthOutput(),
		CreateDate:              timeOf(r.CreateDate),
		CreatorRequestID:        optStr(r.CreatorRequestID),
		CreatedByAccount:        str(r.CreatedByAccount),
	}
}

func (s *service) instanceCount() int {
	if s.set == nil {
		return 0
	}
	return len(s.set.list)
}

// dnsConfigOutput renders DnsConfig: {} for HTTP services; with the
// namespace ID in Create/GetService, without it in ListServices.
func (r *svcRecord) dnsConfigOutput(withNamespace bool) *DNSConfig {
	dc := &DNSConfig{}
	if r.Type != svcDNSHTTP {
		return dc
	}
	if withNamespace {
		dc.NamespaceID = str(r.NamespaceID)
	}
	dc.RoutingPolicy = str(r.RoutingPolicy)
	dc.DNSRecords = make([]DNSRecord, len(r.DNSRecords))
	for i, d := range r.DNSRecords {
		ttl := d.TTL
		dc.DNSRecords[i] = DNSRecord{Type: str(d.Type), TTL: &ttl}
	}
	return dc
}

func (r *svcRecord) healthCheckOutput() *HealthCheckConfig {
	if r.HealthCheck == nil {
		return nil
	}
	return &HealthCheckConfig{Type: str(r.HealthCheck.Type), ResourcePath: optStr(r.HealthCheck.ResourcePath),
		FailureThreshold: r.HealthCheck.FailureThreshold}
}

// customHealthOutput renders HealthCheckCustomConfig, whose deprecated
// FailureThreshold AWS always reports as 1.
func (r *svcRecord) customHealthOutput() *HealthCheckCustomConfig {
	if !r.CustomHealth {
		return nil
	}
	one := int32(1)
	return &HealthCheckCustomConfig{FailureThreshold: &one}
}

// GetService implements the operation of that name.
func (b *Backend) GetService(ctx context.Context, in *GetServiceInput) (*GetServiceOutput, error) {
	_, pk := caller(ctx)
	var out *GetServiceOutput
	var err error
	if werr := b.read(ctx, pk, func(p *partition) {
		var s *service
		if s, err = p.service(*in.ID); err == nil {
			out = &GetServiceOutput{Service: p.serviceOutput(s)}
		}
	}); werr != nil {
		return nil, werr
	}
	return out, err
}

// ListServices implements the operation of that name.
func (b *Backend) ListServices(ctx context.Context, in *ListServicesInput) (*ListServicesOutput, error) {
	_, pk := caller(ctx)
	var filters []func(*service) bool
	for _, f := range in.Filters {
		name, cond := *f.Name, "EQ"
		if f.Condition != nil {
			cond = *f.Condition
		}
		if cond != "EQ" || len(f.Values) != 1 {
			return nil, invalidInput("Filter %s supports only the EQ condition, with one value", name)
		}
		v := f.Values[0]
		switch name {
		case "NAMESPACE_ID":
			nsID := (&partition{key: pk}).resolveID(v, "namespace") // an ID or an ARN
			filters = append(filters, func(s *service) bool { return s.rec.NamespaceID == nsID })
		case "RESOURCE_OWNER":
			if v != "SELF" && v != "OTHER_ACCOUNTS" {
				return nil, invalidInput("Filter RESOURCE_OWNER takes SELF or OTHER_ACCOUNTS")
			}
			self := v == "SELF"
			filters = append(filters, func(*service) bool { return self })
		default:
			return nil, invalidInput("Unknown filter %s", name)
		}
	}
	var items []ServiceSummary
	if werr := b.read(ctx, pk, func(p *partition) {
	next:
		for _, s := range p.services {
			for _, f := range filters {
				if !f(s) {
					continue next
				}
			}
			r := &s.rec
			items = append(items, ServiceSummary{
				ID: str(r.ID), ARN: str(p.arn("service", r.ID)), ResourceOwner: str(p.key.account), Name: str(r.Name),
				Type: str(r.Type), Description: optStr(r.Description), InstanceCount: int32p(s.instanceCount()),
				DNSConfig: r.dnsConfigOutput(false), HealthCheckConfig: r.healthCheckOutput(),
				HealthCheckCustomConfig: r.customHealthOutput(), CreateDate: timeOf(r.CreateDate),
				CreatedByAccount: str(r.CreatedByAccount),
			})
		}
	}); werr != nil {
		return nil, werr
	}
	page, tok, err := paginate(items, func(s ServiceSummary) string { return *s.ID }, in.MaxResults, 100, in.NextToken)
	if err != nil {
		return nil, err
	}
	return &ListServicesOutput{Services: nonNil(page), NextToken: tok}, nil
}

// UpdateService implements the operation of that name: TTLs of existing
// record types change, record types left out are removed, HealthCheckConfig
// is replaced (removed when left out), a description given replaces the old.
func (b *Backend) UpdateService(ctx context.Context, in *UpdateServiceInput) (*UpdateServiceOutput, error) {
	_, pk := caller(ctx)
	var opID string
	err := b.update(ctx, pk, func(p *partition, t *txn) error {
		s, err := p.service(*in.ID)
		if err != nil {
			return err
		}
		ns := p.namespaces[s.rec.NamespaceID]
		if ns == nil {
			return serviceNotFound(*in.ID)
		}
		if !ns.isDNS() {
			return invalidInput("You can't call UpdateService for a service in an HTTP namespace")
		}
		rec := s.rec
		rec.Tags = append([]tagRecord(nil), s.rec.Tags...)
		rec.Attributes = maps.Clone(s.rec.Attributes)
		ch := in.Service
		if ch.Description != nil {
			rec.Description = *ch.Description
		}
		if ch.HealthCheckConfig != nil && rec.CustomHealth {
			return invalidInput("You can't add HealthCheckConfig to a service with HealthCheckCustomConfig")
		}
		if ch.HealthCheckConfig != nil && rec.HealthCheck != nil && *ch.HealthCheckConfig.Type != rec.HealthCheck.Type {
			return invalidInput("You can't change the Type of a health check (%s) after the service is created", rec.HealthCheck.Type)
		}
		if rec.HealthCheck, err = b.checkHealthCheckConfig(ch.HealthCheckConfig, ns); err != nil {
			return err
		}
		if s.rec.HealthCheck == nil && rec.HealthCheck != nil {
			// The service's instances start being probed: they count
			// against the account's quota of probed instances.
			q := b.cfg.Quotas.HealthCheckedInstancesPerAccount
			if k := s.instanceCount(); k > 0 && b.dom.probed[p.key.account]+k > q {
				return resourceLimitExceeded("The maximum number of instances with a health check (HealthCheckConfig) per account (%d) would be exceeded", q)
			}
			t.cond(p.key.key(kindServiceRev, s.rec.ID), s.set.rev)
		}
		if ch.DNSConfig != nil {
			if s.rec.Type != svcDNSHTTP {
				return invalidInput("Service %s has no DNS configuration to update", s.rec.ID)
			}
			for _, r := range ch.DNSConfig.DNSRecords {
				if !s.rec.hasRecord(*r.Type) {
					return invalidInput("UpdateService can't add a %s record; the service has %s", *r.Type, recordTypes(s.rec.DNSRecords))
				}
			}
			if rec.DNSRecords, err = checkDNSRecords(ch.DNSConfig.DNSRecords, rec.RoutingPolicy, ch.HealthCheckConfig); err != nil {
				return err
			}
		} else if rec.HealthCheck != nil && rec.hasRecord("CNAME") {
			return invalidInput("You can't specify both a CNAME record and HealthCheckConfig")
		}
		k := p.key.key(kindService, rec.ID)
		t.cond(k, s.modRev)
		t.put(k, &rec)
		opID = p.newOperation(t, ms(b.now()), opUpdateService, map[string]string{targetService: rec.ID}, opToken{}, statusSuccess, "", "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &UpdateServiceOutput{OperationID: &opID}, nil
}

func recordTypes(recs []dnsRecord) string {
	var ts []string
	for _, r := range recs {
		ts = append(ts, r.Type)
	}
	return strings.Join(ts, ", ")
}

// DeleteService implements the operation of that name. Like AWS, it does not
// cascade: a service with instances is ResourceInUse.
func (b *Backend) DeleteService(ctx context.Context, in *DeleteServiceInput) (*DeleteServiceOutput, error) {
	_, pk := caller(ctx)
	err := b.update(ctx, pk, func(p *partition, t *txn) error {
		s, err := p.service(*in.ID)
		if err != nil {
			return err
		}
		if s.instanceCount() > 0 {
			return resourceInUse("Service contains registered instances; delete the instances before deleting the service")
		}
		id := s.rec.ID
		t.cond(p.key.key(kindService, id), s.modRev)
		t.cond(p.key.key(kindServiceRev, id), s.set.rev)
		t.del(p.key.key(kindService, id))
		t.del(p.key.key(kindServiceName, s.rec.NamespaceID, s.rec.NameKey))
		t.del(p.key.key(kindServiceRev, id))
		t.touch(p.key.key(kindNamespaceRev, s.rec.NamespaceID))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &DeleteServiceOutput{}, nil
}

// changeService commits change to the record of service idOrARN with a
// CAS on it. change edits a copy (maps and slices cloned) and reports
// whether anything changed; nothing is written when not.
func (b *Backend) changeService(ctx context.Context, idOrARN string, change func(rec *svcRecord) (bool, error)) error {
	_, pk := caller(ctx)
	return b.update(ctx, pk, func(p *partition, t *txn) error {
		s, err := p.service(idOrARN)
		if err != nil {
			return err
		}
		rec := s.rec
		rec.Tags = append([]tagRecord(nil), s.rec.Tags...)
		rec.Attributes = maps.Clone(s.rec.Attributes)
		if changed, err := change(&rec); err != nil || !changed {
			return err
		}
		k := p.key.key(kindService, rec.ID)
		t.cond(k, s.modRev)
		t.put(k, &rec)
		return nil
	})
}

// UpdateServiceAttributes implements the operation of that name: the given
// attributes are added or replaced.
func (b *Backend) UpdateServiceAttributes(ctx context.Context, in *UpdateServiceAttributesInput) (*UpdateServiceAttributesOutput, error) {
	err := b.changeService(ctx, *in.ServiceID, func(rec *svcRecord) (bool, error) {
		if rec.Attributes == nil {
			rec.Attributes = map[string]string{}
		}
		maps.Copy(rec.Attributes, in.Attributes)
		if len(rec.Attributes) > b.cfg.Quotas.ServiceAttributes {
			return false, serviceAttributesLimitExceeded(b.cfg.Quotas.ServiceAttributes)
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &UpdateServiceAttributesOutput{}, nil
}

// GetServiceAttributes implements the operation of that name.
func (b *Backend) GetServiceAttributes(ctx context.Context, in *GetServiceAttributesInput) (*GetServiceAttributesOutput, error) {
	_, pk := caller(ctx)
	var out *GetServiceAttributesOutput
	var err error
	if werr := b.read(ctx, pk, func(p *partition) {
		var s *service
		if s, err = p.service(*in.ServiceID); err == nil {
			attrs := maps.Clone(s.rec.Attributes)
			if attrs == nil {
				attrs = map[string]string{}
			}
			out = &GetServiceAttributesOutput{ServiceAttributes: &ServiceAttributes{
				ServiceARN: str(p.arn("service", s.rec.ID)), ResourceOwner: str(p.key.account), Attributes: attrs}}
		}
	}); werr != nil {
		return nil, werr
	}
	return out, err
}

// DeleteServiceAttributes implements the operation of that name. Keys that
// are not present are ignored.
func (b *Backend) DeleteServiceAttributes(ctx context.Context, in *DeleteServiceAttributesInput) (*DeleteServiceAttributesOutput, error) {
	err := b.changeService(ctx, *in.ServiceID, func(rec *svcRecord) (bool, error) {
		n := len(rec.Attributes)
		for _, k := range in.Attributes {
			delete(rec.Attributes, k)
		}
		return len(rec.Attributes) != n, nil
	})
	if err != nil {
		return nil, err
	}
	return &DeleteServiceAttributesOutput{}, nil
}
