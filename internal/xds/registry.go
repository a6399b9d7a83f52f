package xds

import (
	"strings"

	"github.com/mapmesh/mapmesh/internal/cloudmap"
)

// CloudMap is the Cloud Map read model the control plane uses
// (*cloudmap.Backend). Calls come from the control plane's goroutine and
// from stream goroutines, never with a lock of the backend's held.
type CloudMap interface {
	Subscribe(fn func(rev int64, changes []cloudmap.Change))
	Namespaces(fn func(cloudmap.NamespaceInfo))
	Services(account, region, nsID string) []cloudmap.ServiceInfo
	ServiceInfo(account, region, id string) (cloudmap.ServiceInfo, bool)
	Service(account, region, id string) (cloudmap.ServiceInfo, []cloudmap.InstanceInfo, bool)
}

var _ CloudMap = (*cloudmap.Backend)(nil)

type partKey struct{ account, region string }

// cmPartition caches what builds read from one account and region of the
// Cloud Map view. Entries are dropped when a change touches them (see
// Server.applyCloudMap), and read again on the next use.
type cmPartition struct {
	// namespaces by name; nil until read.
	namespaces map[string]cloudmap.NamespaceInfo
	// serviceIDs by namespace ID, then service name; a namespace is
	// missing until read.
	serviceIDs map[string]map[string]string
	// known maps the service IDs of serviceIDs to their namespace.
	known map[string]string
	// services by ID: the service and its instances (ok false: gone).
	services map[string]*cmService
}

type cmService struct {
	insts []cloudmap.InstanceInfo
	ok    bool
}

func newCMPartition() *cmPartition {
	return &cmPartition{serviceIDs: map[string]map[string]string{}, known: map[string]string{}, services: map[string]*cmService{}}
}

// registryView is the Registry one Build reads: the cached partition, the
// health of instances at now, and a record of what was read (the build's
// Cloud Map dependencies) and of the next pending health change.
type registryView struct {
	cm   CloudMap
	pk   partKey
	p    *cmPartition
	now  int64
	deps map[string]bool
	// healthAt is the earliest pending custom health change among the
	// instances read (epoch ms; 0: none).
	healthAt int64
}

// Dependency names of Cloud Map reads (Resources.Deps holds the App Mesh
// ones): any namespace lookup, the names of a namespace's services, one
// service's instances and health.
const (
	depNamespaces = "cm:namespaces"
	depNames      = "cm:names:"
	depService    = "cm:service:"
)

func (r *registryView) namespace(name string) (cloudmap.NamespaceInfo, bool) {
	r.deps[depNamespaces] = true
	if r.p.namespaces == nil {
		r.p.namespaces = map[string]cloudmap.NamespaceInfo{}
		r.cm.Namespaces(func(ns cloudmap.NamespaceInfo) {
			if ns.Account == r.pk.account && ns.Region == r.pk.region {
				r.p.namespaces[strings.ToLower(ns.Name)] = ns
			}
		})
	}
	ns, ok := r.p.namespaces[strings.ToLower(strings.TrimSuffix(name, "."))]
	return ns, ok
}

func (r *registryView) serviceID(nsID, name string) (string, bool) {
	r.deps[depNames+nsID] = true
	ids := r.p.serviceIDs[nsID]
	if ids == nil {
		ids = map[string]string{}
		for _, s := range r.cm.Services(r.pk.account, r.pk.region, nsID) {
			ids[strings.ToLower(s.Name)] = s.ID
			r.p.known[s.ID] = nsID
		}
		r.p.serviceIDs[nsID] = ids
	}
	id, ok := ids[strings.ToLower(name)]
	return id, ok
}

// Instances implements Registry.
func (r *registryView) Instances(namespace, service string) ([]Instance, bool) {
	ns, ok := r.namespace(namespace)
	if !ok {
		return nil, false
	}
	id, ok := r.serviceID(ns.ID, service)
	if !ok {
		return nil, false
	}
	r.deps[depService+id] = true
	s := r.p.services[id]
	if s == nil {
		_, insts, ok := r.cm.Service(r.pk.account, r.pk.region, id)
		s = &cmService{insts: insts, ok: ok}
		r.p.services[id] = s
	}
	if !s.ok {
		return nil, false
	}
	out := make([]Instance, len(s.insts))
	for i := range s.insts {
		in := &s.insts[i]
		out[i] = Instance{ID: in.ID, Attributes: in.Attributes, Health: in.HealthAt(r.now)}
		if at := in.HealthChangesAt(); at > 0 && (r.healthAt == 0 || at < r.healthAt) {
			r.healthAt = at
		}
	}
	return out, true
}

// DNSService implements Registry: hostname is <service>.<namespace> for a
// DNS namespace.
func (r *registryView) DNSService(hostname string) (string, string, bool) {
	h := strings.TrimSuffix(hostname, ".")
	for i := strings.IndexByte(h, '.'); i > 0; {
		if ns, ok := r.namespace(h[i+1:]); ok && strings.HasPrefix(ns.Type, "DNS_") {
			return ns.Name, h[:i], true
		}
		j := strings.IndexByte(h[i+1:], '.')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return "", "", false
}
