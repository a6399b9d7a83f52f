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

// scope names what a quota counts in: a service or a namespace of a
// partition, or an account's probed instances (region empty).
type scope struct {
	part partKey
	id   string
}

// limit is one quota a new instance counts against.
type limit struct {
	scope scope
	have  int // instances the view holds in the scope
	max   int
}

// reservation is one new instance being added, by its store key.
type reservation struct {
	scopes []scope
	refs   int   // registrations of the same new instance in flight
	rev    int64 // the revision that added it, once committed
}

// reservations counts the new instances this process is adding that the
// view does not hold yet. Its methods are safe for concurrent use; arrived
// and the reload are called with the view's write lock held, reserve with
// its read lock, so the counts it gives a decision agree with the view the
// decision reads.
type reservations struct {
	mu    sync.Mutex // guards the fields below
	byKey map[string]*reservation
	count map[scope]int
}

// reserve adds the instance at key to the count of every limit's scope
// unless that would take one past its quota. It returns -1 when it
// reserved, else the index of the first limit reached. The same key
// reserved twice (a retried registration racing itself) counts once.
func (r *reservations) reserve(key string, limits []limit) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if res := r.byKey[key]; res != nil {
		res.refs++
		return -1
	}
	for i, l := range limits {
		if l.have+r.count[l.scope] >= l.max {
			return i
		}
	}
	if r.byKey == nil {
		r.byKey, r.count = map[string]*reservation{}, map[scope]int{}
	}
	res := &reservation{refs: 1}
	for _, l := range limits {
		res.scopes = append(res.scopes, l.scope)
		r.count[l.scope]++
	}
	r.byKey[key] = res
	return -1
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
	for _, sc := range res.scopes {
		if r.count[sc]--; r.count[sc] <= 0 {
			delete(r.count, sc)
		}
	}
}

// held returns the number of reservations (for tests).
func (r *reservations) held() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byKey)
}
