package cloudmap

import "sync"

// Instance quotas are checked in the transaction that adds the instance,
// exactly, whatever the concurrency. Two things make it so:
//
//   - In this process, concurrent registrations decide on the same view,
//     so each new instance is reserved (reservations) from the moment its
//     registration decides until the view holds it: a decision counts the
//     view's instances plus the reservations, and reserving is one atomic
//     step with that check.
//   - Near a quota (quotaSlack), a new instance also puts conditions on the
//     markers every registration writes, so that writers in other
//     processes sharing the store (a cluster) retry against a fresh count.

// scope names a service or a namespace of a partition.
type scope struct {
	part partKey
	id   string
}

// reservation is one new instance being added, by its store key.
type reservation struct {
	svc, ns scope
	refs    int   // registrations of the same new instance in flight
	rev     int64 // the revision that added it, once committed
}

// reservations counts the new instances this process is adding that the
// view does not hold yet. Its methods are safe for concurrent use; arrived
// and the reload are called with the view's write lock held, reserve with
// its read lock, so the counts it gives a decision agree with the view the
// decision reads.
type reservations struct {
	mu    sync.Mutex // guards the fields below
	byKey map[string]*reservation
	svc   map[scope]int
	ns    map[scope]int
}

// reserve adds the instance at key to the counts of svc and ns unless that
// would take a count past its quota; the view holds have and haveNS
// instances of them. It reports whether it reserved. The same key
// reserved twice (a retried registration racing itself) counts once.
func (r *reservations) reserve(key string, svc, ns scope, have, haveNS, quota, quotaNS int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if res := r.byKey[key]; res != nil {
		res.refs++
		return true
	}
	if have+r.svc[svc] >= quota || haveNS+r.ns[ns] >= quotaNS {
		return false
	}
	if r.byKey == nil {
		r.byKey, r.svc, r.ns = map[string]*reservation{}, map[scope]int{}, map[scope]int{}
	}
	r.byKey[key] = &reservation{svc: svc, ns: ns, refs: 1}
	r.svc[svc]++
	r.ns[ns]++
	return true
}

// done ends one registration's hold on key: a failed one releases it, a
// committed one leaves it until the view holds the instance (arrived).
func (r *reservations) done(key string, committed bool, rev int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := r.byKey[key]
	if res == nil {
		return
	}
	if committed {
		res.rev = max(res.rev, rev)
		return
	}
	if res.refs--; res.refs <= 0 && res.rev == 0 {
		r.dropLocked(key, res)
	}
}

// arrived says the view now holds the instance at key.
func (r *reservations) arrived(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if res := r.byKey[key]; res != nil {
		r.dropLocked(key, res)
	}
}

// reload drops the reservations of instances committed at or before rev:
// a reload of the store's contents at rev holds them, if they still exist.
func (r *reservations) reload(rev int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, res := range r.byKey {
		if res.rev != 0 && res.rev <= rev {
			r.dropLocked(key, res)
		}
	}
}

func (r *reservations) dropLocked(key string, res *reservation) {
	delete(r.byKey, key)
	if r.svc[res.svc]--; r.svc[res.svc] <= 0 {
		delete(r.svc, res.svc)
	}
	if r.ns[res.ns]--; r.ns[res.ns] <= 0 {
		delete(r.ns, res.ns)
	}
}

// held returns the number of reservations (for tests).
func (r *reservations) held() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byKey)
}

// count returns the reservations of a service.
func (r *reservations) count(svc scope) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.svc[svc]
}
