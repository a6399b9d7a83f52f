package console

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/mapmesh/mapmesh/internal/cloudmap"
)

// Namespace is a Cloud Map namespace as the console shows it.
type Namespace struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Type         string `json:"type"`
	HTTPName     string `json:"httpName,omitempty"`
	HostedZoneID string `json:"hostedZoneId,omitempty"`
	VPC          string `json:"vpc,omitempty"`
	CreateDate   int64  `json:"createDate"` // epoch milliseconds
	Services     int    `json:"services"`
}

// Service is a Cloud Map service: in a namespace's list, with instance
// counts; alone, with its instances.
type Service struct {
	ID                string       `json:"id"`
	Name              string       `json:"name"`
	NamespaceID       string       `json:"namespaceId"`
	NamespaceName     string       `json:"namespaceName,omitempty"`
	Type              string       `json:"type,omitempty"`
	RoutingPolicy     string       `json:"routingPolicy,omitempty"`
	DNSRecords        []DNSRecord  `json:"dnsRecords,omitempty"`
	HealthCheck       *HealthCheck `json:"healthCheck,omitempty"`
	CustomHealth      bool         `json:"customHealth,omitempty"`
	InstancesRevision int64        `json:"instancesRevision"`
	// Counts by health status (HEALTHY, UNHEALTHY, UNKNOWN).
	Instances int            `json:"instances"`
	Health    map[string]int `json:"health"`
	// List is set for one service.
	List []Instance `json:"list,omitempty"`
}

// DNSRecord is one record type of a service's DnsConfig.
type DNSRecord struct {
	Type string `json:"type"`
	TTL  int64  `json:"ttl"`
}

// HealthCheck is a service's HealthCheckConfig.
type HealthCheck struct {
	Type             string `json:"type"`
	ResourcePath     string `json:"resourcePath,omitempty"`
	FailureThreshold int    `json:"failureThreshold,omitempty"`
}

// Instance is a registered instance and its health.
type Instance struct {
	ID         string            `json:"id"`
	Attributes map[string]string `json:"attributes"`
	// Address is the instance's IPv4 (else IPv6) address and port, or its
	// CNAME, as the well-known attributes give them.
	Address string `json:"address,omitempty"`
	// Health is HEALTHY, UNHEALTHY or UNKNOWN (no health check); Reason
	// says why a health check found it UNHEALTHY.
	Health string `json:"health"`
	Reason string `json:"reason,omitempty"`
	// HealthChangesAt is when a delayed custom health status takes
	// effect (epoch milliseconds), or 0.
	HealthChangesAt int64 `json:"healthChangesAt,omitempty"`
	Revision        int64 `json:"revision"`
}

func namespaceOf(ns cloudmap.NamespaceInfo, services int) Namespace {
	return Namespace{ID: ns.ID, Name: ns.Name, Type: ns.Type, HTTPName: ns.HTTPName, HostedZoneID: ns.HostedZoneID,
		VPC: ns.VPC, CreateDate: ns.CreateDate, Services: services}
}

func serviceOf(s cloudmap.ServiceInfo) Service {
	out := Service{ID: s.ID, Name: s.Name, NamespaceID: s.NamespaceID, Type: s.Type, RoutingPolicy: s.RoutingPolicy,
		CustomHealth: s.CustomHealth, InstancesRevision: s.InstancesRevision, Health: map[string]int{}}
	for _, d := range s.DNSRecords {
		out.DNSRecords = append(out.DNSRecords, DNSRecord(d))
	}
	if hc := s.HealthCheck; hc != nil {
		check := HealthCheck(*hc)
		out.HealthCheck = &check
	}
	return out
}

// instanceOf returns an instance as the console shows it, its health as
// of nowMs.
func instanceOf(in *cloudmap.InstanceInfo, nowMs int64) Instance {
	return Instance{ID: in.ID, Attributes: in.Attributes.Map(), Address: addressOf(in.Attributes), Health: in.HealthAt(nowMs),
		Reason: in.HealthReason(), HealthChangesAt: in.HealthChangesAt(), Revision: in.Revision}
}

// addressOf returns host:port from the well-known attributes.
func addressOf(attrs cloudmap.Attributes) string {
	host := attrs.Value("AWS_INSTANCE_IPV4")
	if host == "" {
		if v6 := attrs.Value("AWS_INSTANCE_IPV6"); v6 != "" {
			host = "[" + v6 + "]"
		}
	}
	if host == "" {
		return attrs.Value("AWS_INSTANCE_CNAME")
	}
	if p := attrs.Value("AWS_INSTANCE_PORT"); p != "" {
		return host + ":" + p
	}
	return host
}

// namespaces serves GET /console/api/namespaces.
func (c *Console) namespaces(w http.ResponseWriter, r *http.Request) {
	s, aerr := scopeOf(r)
	if aerr != nil {
		aerr.write(w)
		return
	}
	var infos []cloudmap.NamespaceInfo
	c.cm.Namespaces(func(ns cloudmap.NamespaceInfo) {
		if ns.Account == s.account && ns.Region == s.region {
			infos = append(infos, ns)
		}
	})
	out := make([]Namespace, 0, len(infos))
	for _, ns := range infos {
		out = append(out, namespaceOf(ns, len(c.cm.Services(s.account, s.region, ns.ID))))
	}
	slices.SortFunc(out, func(a, b Namespace) int { return strings.Compare(a.Name+"\x00"+a.ID, b.Name+"\x00"+b.ID) })
	writeJSON(w, http.StatusOK, map[string]any{"namespaces": out})
}

// namespace serves GET /console/api/namespaces/{id}: the namespace and its
// services, each with its instances counted by health.
func (c *Console) namespace(w http.ResponseWriter, r *http.Request) {
	s, aerr := scopeOf(r)
	if aerr != nil {
		aerr.write(w)
		return
	}
	id := r.PathValue("id")
	ns, ok := c.cm.Namespace(s.account, s.region, id)
	if !ok {
		notFound("namespace", id).write(w)
		return
	}
	nowMs := c.now().UnixMilli()
	infos := c.cm.Services(s.account, s.region, id)
	services := make([]Service, 0, len(infos))
	for _, si := range infos {
		info, insts, ok := c.cm.Service(s.account, s.region, si.ID)
		if !ok {
			continue // deleted since
		}
		svc := serviceOf(info)
		svc.Instances = len(insts)
		for i := range insts {
			svc.Health[insts[i].HealthAt(nowMs)]++
		}
		services = append(services, svc)
	}
	slices.SortFunc(services, func(a, b Service) int { return strings.Compare(a.Name+"\x00"+a.ID, b.Name+"\x00"+b.ID) })
	writeJSON(w, http.StatusOK, map[string]any{"namespace": namespaceOf(ns, len(services)), "services": services})
}

// service serves GET /console/api/services/{id}: the service and its
// instances with their health.
func (c *Console) service(w http.ResponseWriter, r *http.Request) {
	s, aerr := scopeOf(r)
	if aerr != nil {
		aerr.write(w)
		return
	}
	id := r.PathValue("id")
	info, insts, ok := c.cm.Service(s.account, s.region, id)
	if !ok {
		notFound("service", id).write(w)
		return
	}
	nowMs := c.now().UnixMilli()
	svc := serviceOf(info)
	if ns, ok := c.cm.Namespace(s.account, s.region, info.NamespaceID); ok {
		svc.NamespaceName = ns.Name
	}
	svc.Instances = len(insts)
	svc.List = make([]Instance, 0, len(insts))
	for i := range insts {
		in := instanceOf(&insts[i], nowMs)
		svc.Health[in.Health]++
		svc.List = append(svc.List, in)
	}
	slices.SortFunc(svc.List, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	writeJSON(w, http.StatusOK, map[string]any{"service": svc})
}

// Operation is a Cloud Map operation.
type Operation struct {
	ID           string            `json:"id"`
	Type         string            `json:"type"`
	Status       string            `json:"status"`
	ErrorCode    string            `json:"errorCode,omitempty"`
	ErrorMessage string            `json:"errorMessage,omitempty"`
	CreateDate   int64             `json:"createDate"` // epoch milliseconds
	UpdateDate   int64             `json:"updateDate"`
	Targets      map[string]string `json:"targets"`
}

// Operation pages: DefaultOperations per page unless ?limit= says
// otherwise, up to MaxOperations.
const (
	DefaultOperations = 50
	MaxOperations     = 100
)

// operations serves GET /console/api/operations: a page of operations,
// newest first, starting after the operation ?before= names (the first
// page without it). next names the last operation of the page when older
// ones follow. It reads a page of the store, whatever the number kept.
func (c *Console) operations(w http.ResponseWriter, r *http.Request) {
	s, aerr := scopeOf(r)
	if aerr != nil {
		aerr.write(w)
		return
	}
	limit := DefaultOperations
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxOperations {
			writeError(w, http.StatusBadRequest, "InvalidParameter", "limit must be a number from 1 to "+strconv.Itoa(MaxOperations))
			return
		}
		limit = n
	}
	ops, more, err := c.cm.OperationsPage(r.Context(), s.account, s.region, r.URL.Query().Get("before"), limit)
	if err != nil {
		c.log.Warn("console: operations", "err", err)
		writeError(w, http.StatusServiceUnavailable, "Unavailable", "the operations could not be read; try again")
		return
	}
	out := struct {
		Operations []Operation `json:"operations"`
		Next       string      `json:"next,omitempty"`
	}{Operations: make([]Operation, 0, len(ops))}
	for _, op := range ops {
		out.Operations = append(out.Operations, operationOf(op))
	}
	if more && len(out.Operations) > 0 {
		out.Next = out.Operations[len(out.Operations)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
}

func operationOf(op *cloudmap.Operation) Operation {
	o := Operation{ID: deref(op.ID), Type: deref(op.Type), Status: deref(op.Status), ErrorCode: deref(op.ErrorCode),
		ErrorMessage: deref(op.ErrorMessage), Targets: op.Targets}
	if op.CreateDate != nil {
		o.CreateDate = op.CreateDate.UnixMilli()
	}
	if op.UpdateDate != nil {
		o.UpdateDate = op.UpdateDate.UnixMilli()
	}
	return o
}
