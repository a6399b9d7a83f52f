package cloudmap

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// answerCache keeps encoded DiscoverInstances answers, so that a service
// polled by many clients is encoded once per few requests instead of once
// per request: a thousand instances are a few hundred kilobytes of JSON,
// and encoding them cost more than sending them.
//
// An entry holds answers to one query (service, health filter, MaxResults,
// parameters) as the service stood at one generation (service.gen, bumped
// by every change the view applies to the service, its instances or their
// health): answerSlots encodings, each in its own random order (and, past
// MaxResults, its own random subset). A request takes a slot at random, so
// consecutive answers still come in different orders, as AWS's
// "randomized list" does; a slot is encoded anew once it has served
// answerReuse requests and is answerMinAge old.
// An entry holds until a delayed custom health status matures, and never
// after the service changed. The cache is bounded in bytes (the least
// recently used entries go first) and emptied when the view is reloaded.
type answerCache struct {
	mu    sync.Mutex
	max   int // bytes; 0 disables the cache
	bytes int
	m     map[answerKey]*answer
	clock uint64 // counts lookups; an entry's last use is its clock value
}

type answerKey struct {
	svc   *service
	query string
}

type answer struct {
	gen      uint64
	healthAt int64 // epoch ms when a pending health status matures; 0: none
	bodies   [answerSlots][]byte
	uses     [answerSlots]int
	born     [answerSlots]int64 // epoch ms when each slot was encoded
	lastUse  uint64
}

const (
	// answerSlots is how many differently ordered encodings an entry keeps.
	answerSlots = 4
	// An encoding serves at least answerReuse requests, and for at least
	// answerMinAge ms: a query asked a few times a second gets a new order
	// every answerReuse requests, one asked thousands of times a second is
	// encoded at most answerSlots times per answerMinAge (encoding 1,000
	// instances costs far more than sending them; docs/benchmarks.md).
	answerReuse  = 32
	answerMinAge = 250
)

// DefaultAnswerCacheBytes bounds the encoded DiscoverInstances answers kept.
const DefaultAnswerCacheBytes = 32 << 20

// queryKey returns the cache key of a DiscoverInstances request's
// parameters: the same for requests that must get the same kind of answer.
func queryKey(in *DiscoverInstancesInput, filter string, max int) string {
	var b strings.Builder
	b.WriteString(filter)
	b.WriteByte(0)
	b.WriteString(strconv.Itoa(max))
	for _, m := range []map[string]string{in.QueryParameters, in.OptionalParameters} {
		b.WriteByte(1)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b.WriteString(k)
			b.WriteByte(0)
			b.WriteString(m[k])
			b.WriteByte(0)
		}
	}
	return b.String()
}

// get returns an encoded answer to query on s at generation gen, from a
// random slot, or nil and the slot to fill (put). Called with the view's
// read lock held (gen is current).
func (c *answerCache) get(s *service, query string, gen uint64, now int64) ([]byte, int) {
	slot := rand.IntN(answerSlots)
	if c.max == 0 {
		return nil, slot
	}
	k := answerKey{s, query}
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.m[k]
	if a == nil {
		return nil, slot
	}
	if a.gen != gen || (a.healthAt != 0 && now >= a.healthAt) {
		c.drop(k, a)
		return nil, slot
	}
	if a.bodies[slot] == nil || a.uses[slot] >= answerReuse && now-a.born[slot] >= answerMinAge {
		return nil, slot
	}
	a.uses[slot]++
	c.clock++
	a.lastUse = c.clock
	return a.bodies[slot], slot
}

// put keeps body, encoded at now (epoch ms), in slot of the answers to
// query on s at generation gen.
func (c *answerCache) put(s *service, query string, gen uint64, healthAt, now int64, slot int, body []byte) {
	if c.max == 0 || len(body) > c.max/(2*answerSlots) {
		return
	}
	k := answerKey{s, query}
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.m[k]
	if a != nil && (a.gen != gen || a.healthAt != healthAt) {
		c.drop(k, a)
		a = nil
	}
	if a != nil {
		c.bytes -= len(a.bodies[slot])
		a.bodies[slot] = nil
	}
	for c.bytes+len(body) > c.max && len(c.m) > 0 {
		if c.evictOldest() == a {
			a = nil
		}
	}
	if c.m == nil {
		c.m = map[answerKey]*answer{}
	}
	if a == nil {
		a = &answer{gen: gen, healthAt: healthAt}
		c.m[k] = a
	}
	c.clock++
	a.bodies[slot], a.uses[slot], a.born[slot], a.lastUse = body, 1, now, c.clock
	c.bytes += len(body)
}

// evictOldest drops the least recently used entry and returns it.
// Eviction is rare (the cache is sized for the services being polled), so
// a scan is enough.
func (c *answerCache) evictOldest() *answer {
	var oldest answerKey
	var oa *answer
	for k, a := range c.m {
		if oa == nil || a.lastUse < oa.lastUse {
			oldest, oa = k, a
		}
	}
	c.drop(oldest, oa)
	return oa
}

func (c *answerCache) drop(k answerKey, a *answer) {
	delete(c.m, k)
	for _, b := range a.bodies {
		c.bytes -= len(b)
	}
}

// reset empties the cache (the view was reloaded: every service is new).
func (c *answerCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m, c.bytes = nil, 0
}
