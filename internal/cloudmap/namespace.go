package cloudmap

import (
	"context"
	"crypto/rand"
	"strings"
)

// Namespace types.
const (
	nsHTTP       = "HTTP"
	nsDNSPrivate = "DNS_PRIVATE"
	nsDNSPublic  = "DNS_PUBLIC"
)

// defaultSOATTL is the negative-caching TTL of a DNS namespace created
// without Properties; AWS shows 15 for new namespaces.
const defaultSOATTL = 15

// nsRecord is a namespace as stored.
type nsRecord struct {
	V                int         `json:"v"`
	ID               string      `json:"id"`
	Name             string      `json:"name"`
	Type             string      `json:"type"`
	Description      string      `json:"description,omitempty"`
	HTTPName         string      `json:"httpName"`
	HostedZoneID     string      `json:"hostedZoneId,omitempty"`
	VPC              string      `json:"vpc,omitempty"`
	SOATTL           *int64      `json:"soaTtl,omitempty"`
	CreateDate       int64       `json:"createDate"`
	CreatorRequestID string      `json:"creatorRequestId,omitempty"`
	Tags             []tagRecord `json:"tags,omitempty"`
}

type namespace struct {
	rec    nsRecord
	modRev int64
	// markerRev is the ModRevision of the nsrev marker (0: never written).
	markerRev int64
	// services are the namespace's services, by ID.
	services map[string]*service
}

func (ns *namespace) isDNS() bool { return ns.rec.Type != nsHTTP }

// dnsName is the form in which DNS names are compared.
func dnsName(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) }

// arnPartition returns the ARN partition of a region.
func arnPartition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

func (p *partition) arn(kind, id string) string {
	return "arn:" + arnPartition(p.key.region) + ":servicediscovery:" + p.key.region + ":" + p.key.account + ":" + kind + "/" + id
}

// resolveID accepts a resource ID or its ARN and returns the ID; an ARN of
// another account, region or kind resolves to "" (not found here).
func (p *partition) resolveID(idOrARN, kind string) string { return p.key.resolveID(idOrARN, kind) }

// resolveID returns the ID an ID or ARN names in the partition, "" for an
// ARN of another account, region or kind.
func (p partKey) resolveID(idOrARN, kind string) string {
	if !strings.HasPrefix(idOrARN, "arn:") {
		return idOrARN
	}
	parts := strings.SplitN(idOrARN, ":", 6)
	if len(parts) != 6 || parts[2] != "servicediscovery" || parts[3] != p.region || parts[4] != p.account {
		return ""
	}
	id, ok := strings.CutPrefix(parts[5], kind+"/")
	if !ok {
		return ""
	}
	return id
}

func (p *partition) namespace(idOrARN string) (*namespace, error) {
	if ns := p.namespaces[p.resolveID(idOrARN, "namespace")]; ns != nil {
		return ns, nil
	}
	return nil, namespaceNotFound(idOrARN)
}

// nsCreate is what the three Create*Namespace calls have in common.
type nsCreate struct {
	op, name, typ, description, vpc, token, hash string
	soaTTL                                       *int64
	tags                                         []Tag
}

// CreateHttpNamespace implements the operation of that name.
func (b *Backend) CreateHttpNamespace(ctx context.Context, in *CreateHttpNamespaceInput) (*CreateHttpNamespaceOutput, error) {
	req := *in
	req.CreatorRequestID = nil
	id, err := b.createNamespace(ctx, nsCreate{op: "CreateHttpNamespace", name: *in.Name, typ: nsHTTP,
		description: deref(in.Description), token: deref(in.CreatorRequestID), tags: in.Tags, hash: requestHash(&req)})
	if err != nil {
		return nil, err
	}
	return &CreateHttpNamespaceOutput{OperationID: &id}, nil
}

// CreatePrivateDnsNamespace implements the operation of that name.
func (b *Backend) CreatePrivateDnsNamespace(ctx context.Context, in *CreatePrivateDnsNamespaceInput) (*CreatePrivateDnsNamespaceOutput, error) {
	req := *in
	req.CreatorRequestID = nil
	var ttl *int64
	if in.Properties != nil {
		ttl = in.Properties.DNSProperties.SOA.TTL
	}
	id, err := b.createNamespace(ctx, nsCreate{op: "CreatePrivateDnsNamespace", name: *in.Name, typ: nsDNSPrivate,
		description: deref(in.Description), vpc: *in.VPC, token: deref(in.CreatorRequestID), tags: in.Tags,
		soaTTL: ttl, hash: requestHash(&req)})
	if err != nil {
		return nil, err
	}
	return &CreatePrivateDnsNamespaceOutput{OperationID: &id}, nil
}

// CreatePublicDnsNamespace implements the operation of that name.
func (b *Backend) CreatePublicDnsNamespace(ctx context.Context, in *CreatePublicDnsNamespaceInput) (*CreatePublicDnsNamespaceOutput, error) {
	req := *in
	req.CreatorRequestID = nil
	var ttl *int64
	if in.Properties != nil {
		ttl = in.Properties.DNSProperties.SOA.TTL
	}
	id, err := b.createNamespace(ctx, nsCreate{op: "CreatePublicDnsNamespace", name: *in.Name, typ: nsDNSPublic,
		description: deref(in.Description), token: deref(in.CreatorRequestID), tags: in.Tags,
		soaTTL: ttl, hash: requestHash(&req)})
	if err != nil {
		return nil, err
	}
	return &CreatePublicDnsNamespaceOutput{OperationID: &id}, nil
}

func (b *Backend) createNamespace(ctx context.Context, req nsCreate) (string, error) {
	_, pk := caller(ctx)
	var opID string
	tok := newOpToken(req.op, "", req.token, req.hash)
	err := b.updateTok(ctx, pk, tok, func(p *partition, t *txn, earlier *idemRecord) error {
		if earlier != nil {
			var err error
			opID, err = tok.answer(earlier, tokenReused(req.token))
			return err
		}
		id := "ns-" + randomID(16)
		arn := p.arn("namespace", id)
		tags, err := mergeTags(nil, req.tags, b.cfg.Quotas.TagsPerResource, arn)
		if err != nil {
			return err
		}
		if len(p.namespaces) >= b.cfg.Quotas.NamespacesPerRegion {
			return resourceLimitExceeded("The maximum number of namespaces per account per Region (%d) has been reached", b.cfg.Quotas.NamespacesPerRegion)
		}
		now := ms(b.now())
		targets := map[string]string{targetNamespace: id}
		httpName := req.name
		if req.typ == nsHTTP {
			if old := p.nsByHTTPName[httpName]; old != nil {
				return namespaceAlreadyExists(old.rec.CreatorRequestID, old.rec.ID)
			}
		} else {
			for _, old := range p.namespaces {
				if old.rec.Type != req.typ || dnsName(old.rec.Name) != dnsName(req.name) {
					continue
				}
				if req.typ == nsDNSPublic {
					return namespaceAlreadyExists(old.rec.CreatorRequestID, old.rec.ID)
				}
				if old.rec.VPC == req.vpc {
					// Route 53 refuses two private zones with one name in one
					// VPC; AWS accepts the call and fails the operation.
					opID = p.newOperation(t, now, opCreateNamespace, targets, tok, statusFail, "CANNOT_CREATE_HOSTED_ZONE",
						"The VPC "+req.vpc+" is already associated with another private hosted zone that has an overlapping name space, "+
							old.rec.Name+". Error Code: ConflictingDomainExists")
					return nil
				}
			}
			if p.nsByHTTPName[httpName] != nil {
				// The name is taken as an HTTP name: AWS adds a generated
				// hash to the HTTP name of the new namespace.
				httpName = req.name + "-" + hashID(8, id)
			}
		}
		rec := &nsRecord{V: 1, ID: id, Name: req.name, Type: req.typ, Description: req.description, HTTPName: httpName,
			VPC: req.vpc, CreateDate: now, CreatorRequestID: req.token, Tags: tags}
		if req.typ != nsHTTP {
			rec.HostedZoneID = hostedZoneID()
			rec.SOATTL = req.soaTTL
			if rec.SOATTL == nil {
				ttl := int64(defaultSOATTL)
				rec.SOATTL = &ttl
			}
		}
		t.cond(p.key.key(kindNamespace, id), 0)
		t.put(p.key.key(kindNamespace, id), rec)
		// The partition's marker serializes namespace creation, so the
		// quota holds under concurrency.
		t.cond(p.key.key(kindNamespaceRev, allNamespaces), p.nsAllRev)
		t.touch(p.key.key(kindNamespaceRev, allNamespaces))
		t.cond(p.key.key(kindNamespaceName, httpName), 0)
		t.put(p.key.key(kindNamespaceName, httpName), id)
		opID = p.newOperation(t, now, opCreateNamespace, targets, tok, statusSuccess, "", "")
		return nil
	})
	return opID, err
}

// tokenReused is the error for a token used before for a different
// request.
func tokenReused(token string) func(result string) error {
	return func(result string) error {
		return duplicateRequest(result, "The request token "+token+" was already used for a different request")
	}
}

// hostedZoneID returns an ID shaped like Route 53's: Z and 20 characters of
// uppercase letters and digits.
func hostedZoneID() string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	var buf [20]byte
	_, _ = rand.Read(buf[:])
	for i := range buf {
		buf[i] = alphabet[int(buf[i])%len(alphabet)]
	}
	return "Z" + string(buf[:])
}

// DeleteNamespace implements the operation of that name. Like AWS, it does
// not cascade: a namespace with services is ResourceInUse.
func (b *Backend) DeleteNamespace(ctx context.Context, in *DeleteNamespaceInput) (*DeleteNamespaceOutput, error) {
	_, pk := caller(ctx)
	var opID string
	err := b.update(ctx, pk, func(p *partition, t *txn) error {
		ns, err := p.namespace(*in.ID)
		if err != nil {
			return err
		}
		if len(ns.services) > 0 {
			return resourceInUse("Namespace has associated services; delete the services before deleting the namespace")
		}
		id := ns.rec.ID
		t.cond(p.key.key(kindNamespace, id), ns.modRev)
		t.cond(p.key.key(kindNamespaceRev, id), ns.markerRev)
		t.del(p.key.key(kindNamespace, id))
		t.del(p.key.key(kindNamespaceName, ns.rec.HTTPName))
		t.del(p.key.key(kindNamespaceRev, id))
		opID = p.newOperation(t, ms(b.now()), opDeleteNamespace, map[string]string{targetNamespace: id}, opToken{}, statusSuccess, "", "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &DeleteNamespaceOutput{OperationID: &opID}, nil
}

// GetNamespace implements the operation of that name.
func (b *Backend) GetNamespace(ctx context.Context, in *GetNamespaceInput) (*GetNamespaceOutput, error) {
	_, pk := caller(ctx)
	var out *GetNamespaceOutput
	var err error
	if werr := b.read(ctx, pk, func(p *partition) {
		var ns *namespace
		if ns, err = p.namespace(*in.ID); err == nil {
			out = &GetNamespaceOutput{Namespace: p.namespaceOutput(ns)}
		}
	}); werr != nil {
		return nil, werr
	}
	return out, err
}

func (p *partition) namespaceOutput(ns *namespace) *Namespace {
	r := &ns.rec
	return &Namespace{
		ID:               str(r.ID),
		ARN:              str(p.arn("namespace", r.ID)),
		ResourceOwner:    str(p.key.account),
		Name:             str(r.Name),
		Type:             str(r.Type),
		Description:      optStr(r.Description),
		ServiceCount:     int32p(len(ns.services)),
		Properties:       ns.properties(),
		CreateDate:       timeOf(r.CreateDate),
		CreatorRequestID: optStr(r.CreatorRequestID),
	}
}

func (ns *namespace) properties() *NamespaceProperties {
	r := &ns.rec
	props := &NamespaceProperties{DNSProperties: &DNSProperties{}, HTTPProperties: &HTTPProperties{HTTPName: str(r.HTTPName)}}
	if ns.isDNS() {
		props.DNSProperties.HostedZoneID = str(r.HostedZoneID)
		props.DNSProperties.SOA = &SOA{TTL: r.SOATTL}
	}
	return props
}

func int32p(n int) *int32 { v := int32(n); return &v }

// ListNamespaces implements the operation of that name.
func (b *Backend) ListNamespaces(ctx context.Context, in *ListNamespacesInput) (*ListNamespacesOutput, error) {
	_, pk := caller(ctx)
	filters, err := parseNamespaceFilters(in.Filters)
	if err != nil {
		return nil, err
	}
	var items []NamespaceSummary
	if werr := b.read(ctx, pk, func(p *partition) {
	next:
		for _, ns := range p.namespaces {
			for _, f := range filters {
				if !f(ns) {
					continue next
				}
			}
			n := p.namespaceOutput(ns)
			items = append(items, NamespaceSummary{ID: n.ID, ARN: n.ARN, ResourceOwner: n.ResourceOwner, Name: n.Name,
				Type: n.Type, Description: n.Description, ServiceCount: n.ServiceCount, Properties: n.Properties,
				CreateDate: n.CreateDate})
		}
	}); werr != nil {
		return nil, werr
	}
	page, tok, err := paginate(items, func(s NamespaceSummary) string { return *s.ID }, in.MaxResults, 100, in.NextToken)
	if err != nil {
		return nil, err
	}
	return &ListNamespacesOutput{Namespaces: nonNil(page), NextToken: tok}, nil
}

func parseNamespaceFilters(fs []NamespaceFilter) ([]func(*namespace) bool, error) {
	var out []func(*namespace) bool
	for _, f := range fs {
		name, cond := *f.Name, "EQ"
		if f.Condition != nil {
			cond = *f.Condition
		}
		if len(f.Values) == 0 {
			return nil, invalidInput("Filter %s needs at least one value", name)
		}
		vals := f.Values
		var field func(*namespace) string
		switch name {
		case "TYPE":
			field = func(ns *namespace) string { return ns.rec.Type }
		case "NAME":
			field = func(ns *namespace) string { return ns.rec.Name }
		case "HTTP_NAME":
			field = func(ns *namespace) string { return ns.rec.HTTPName }
		case "RESOURCE_OWNER":
			if cond != "EQ" || len(vals) != 1 || (vals[0] != "SELF" && vals[0] != "OTHER_ACCOUNTS") {
				return nil, invalidInput("Filter RESOURCE_OWNER takes the EQ condition and one value, SELF or OTHER_ACCOUNTS")
			}
			self := vals[0] == "SELF"
			// Namespaces are never shared into another account here.
			out = append(out, func(*namespace) bool { return self })
			continue
		default:
			return nil, invalidInput("Unknown filter %s", name)
		}
		switch cond {
		case "EQ", "BEGINS_WITH":
			if len(vals) != 1 {
				return nil, invalidInput("Filter %s with condition %s takes exactly one value", name, cond)
			}
			v, prefix := vals[0], cond == "BEGINS_WITH"
			out = append(out, func(ns *namespace) bool {
				if prefix {
					return strings.HasPrefix(field(ns), v)
				}
				return field(ns) == v
			})
		case "IN":
			if name != "TYPE" {
				return nil, invalidInput("Filter %s does not support the IN condition", name)
			}
			out = append(out, func(ns *namespace) bool { return contains(vals, field(ns)) })
		default:
			return nil, invalidInput("Filter %s does not support the %s condition", name, cond)
		}
	}
	return out, nil
}

// nonNil returns an empty, non-nil slice for nil, so lists encode as [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// updateNamespace applies change to the namespace idOrARN, which must be of
// type typ, as an UPDATE_NAMESPACE operation.
func (b *Backend) updateNamespace(ctx context.Context, op, idOrARN, typ, token, hash string, change func(r *nsRecord)) (string, error) {
	_, pk := caller(ctx)
	var opID string
	tok := newOpToken(op, pk.resolveID(idOrARN, "namespace"), token, hash)
	err := b.updateTok(ctx, pk, tok, func(p *partition, t *txn, earlier *idemRecord) error {
		ns, err := p.namespace(idOrARN)
		if err != nil {
			return err
		}
		if earlier != nil {
			opID, err = tok.answer(earlier, tokenReused(token))
			return err
		}
		if ns.rec.Type != typ {
			return invalidInput("Namespace %s is of type %s; %s updates only %s namespaces", ns.rec.ID, ns.rec.Type, op, typ)
		}
		rec := ns.rec
		rec.Tags = append([]tagRecord(nil), ns.rec.Tags...)
		change(&rec)
		k := p.key.key(kindNamespace, rec.ID)
		t.cond(k, ns.modRev)
		t.put(k, &rec)
		opID = p.newOperation(t, ms(b.now()), opUpdateNamespace, map[string]string{targetNamespace: rec.ID}, tok, statusSuccess, "", "")
		return nil
	})
	return opID, err
}

// UpdateHttpNamespace implements the operation of that name.
func (b *Backend) UpdateHttpNamespace(ctx context.Context, in *UpdateHttpNamespaceInput) (*UpdateHttpNamespaceOutput, error) {
	req := *in
	req.UpdaterRequestID = nil
	id, err := b.updateNamespace(ctx, "UpdateHttpNamespace", *in.ID, nsHTTP, deref(in.UpdaterRequestID), requestHash(&req),
		func(r *nsRecord) { r.Description = *in.Namespace.Description })
	if err != nil {
		return nil, err
	}
	return &UpdateHttpNamespaceOutput{OperationID: &id}, nil
}

// UpdatePrivateDnsNamespace implements the operation of that name.
func (b *Backend) UpdatePrivateDnsNamespace(ctx context.Context, in *UpdatePrivateDnsNamespaceInput) (*UpdatePrivateDnsNamespaceOutput, error) {
	req := *in
	req.UpdaterRequestID = nil
	var soa *SOAChange
	if p := in.Namespace.Properties; p != nil {
		soa = p.DNSProperties.SOA
	}
	id, err := b.updateNamespace(ctx, "UpdatePrivateDnsNamespace", *in.ID, nsDNSPrivate, deref(in.UpdaterRequestID), requestHash(&req),
		dnsNamespaceChange(in.Namespace.Description, soa))
	if err != nil {
		return nil, err
	}
	return &UpdatePrivateDnsNamespaceOutput{OperationID: &id}, nil
}

// UpdatePublicDnsNamespace implements the operation of that name.
func (b *Backend) UpdatePublicDnsNamespace(ctx context.Context, in *UpdatePublicDnsNamespaceInput) (*UpdatePublicDnsNamespaceOutput, error) {
	req := *in
	req.UpdaterRequestID = nil
	var soa *SOAChange
	if p := in.Namespace.Properties; p != nil {
		soa = p.DNSProperties.SOA
	}
	id, err := b.updateNamespace(ctx, "UpdatePublicDnsNamespace", *in.ID, nsDNSPublic, deref(in.UpdaterRequestID), requestHash(&req),
		dnsNamespaceChange(in.Namespace.Description, soa))
	if err != nil {
		return nil, err
	}
	return &UpdatePublicDnsNamespaceOutput{OperationID: &id}, nil
}

// dnsNamespaceChange applies the change of an Update*DnsNamespace call: a
// description or an SOA TTL given replaces the old one.
func dnsNamespaceChange(desc *string, soa *SOAChange) func(r *nsRecord) {
	return func(r *nsRecord) {
		if desc != nil {
			r.Description = *desc
		}
		if soa != nil {
			r.SOATTL = soa.TTL
		}
	}
}
