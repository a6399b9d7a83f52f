package cloudmap

import "strings"

// Store key layout. Everything of one account and region lives under
// /cloudmap/<account>/<region>/:
//
//	ns/<nsID>                    namespace record
//	nsname/<httpName>            HttpName uniqueness index -> nsID
//	nsrev/<nsID>                 marker written whenever a service is created or deleted in the namespace, and by registrations near its instance quota
//	nsrev/_all                   marker written whenever a namespace is created
//	svc/<svcID>                  service record (with its tags and service attributes)
//	svcname/<nsID>/<nameKey>     service name uniqueness index -> svcID
//	svcrev/<svcID>               marker written by every register/deregister: its ModRevision is InstancesRevision
//	inst/<svcID>/<instanceID>    instance record
//	health/<svcID>/<instanceID>  health record (custom health or probe result), apart so health never rewrites the instance
//
// Operations and idempotency records are under opsRoot (operation.go); the
// op/ and idem/ kinds here are where they were before, moved by migrateOps.
//
// The markers carry no data. Writers put them without conditions, so
// concurrent registrations never conflict on them, and deleters put a
// condition on them, so a delete never races a create it did not see.
const keyRoot = "/cloudmap/"

const (
	kindNamespace     = "ns"
	kindNamespaceName = "nsname"
	kindNamespaceRev  = "nsrev"
	kindService       = "svc"
	kindServiceName   = "svcname"
	kindServiceRev    = "svcrev"
	kindInstance      = "inst"
	kindHealth        = "health"
	kindOperation     = "op"
	kindIdempotency   = "idem"
)

// allNamespaces is the nsrev marker of the whole partition.
const allNamespaces = "_all"

// partKey names the state of one account and region.
type partKey struct{ account, region string }

func (p partKey) prefix() string { return keyRoot + p.account + "/" + p.region + "/" }

func (p partKey) key(kind string, parts ...string) string {
	var b strings.Builder
	b.WriteString(p.prefix())
	b.WriteString(kind)
	for _, s := range parts {
		b.WriteByte('/')
		b.WriteString(s)
	}
	return b.String()
}

// parseRest splits what follows a partition's prefix in a store key into
// its kind and the rest.
func parseRest(s string) (kind string, rest []string, ok bool) {
	kind, tail, ok := strings.Cut(s, "/")
	if !ok {
		return "", nil, false
	}
	switch kind {
	case kindInstance, kindHealth, kindServiceName:
		a, b, ok := strings.Cut(tail, "/")
		if !ok {
			return "", nil, false
		}
		return kind, []string{a, b}, true
	}
	return kind, []string{tail}, true
}
