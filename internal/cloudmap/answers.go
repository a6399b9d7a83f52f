package cloudmap

import (
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
// An entry is the answer to one query (service, health filter, MaxResults,
// parameters) as the service stood at one generation (service.gen, bumped
// by every change the view applies to the service, its instances or their
// health). It is used at most answerReuse times, so the random order (and,
// past MaxResults, the random subset) of the answers still changes every
// few requests; until a delayed custom health status matures; and never
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
	body     []byte
	uses     int
	lastUse  uint64
}

// answerReuse is how many requests one encoded answer serves.
const answerReuse = 32

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

// get returns the encoded answer to query on s at generation gen, or nil.
// Called with the view's read lock held (gen is current).
func (c *answerCache) get(s *service, query string, gen uint64, now int64) []byte {
	if c.max == 0 {
		return nil
	}
	k := answerKey{s, query}
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.m[k]
	if a == nil {
		return nil
	}
	if a.gen != gen || (a.healthAt != 0 && now >= a.healthAt) || a.uses >= answerReuse {
		c.drop(k, a)
		return nil
	}
	a.uses++
	c.clock++
	a.lastUse = c.clock
	return a.body
}

// put keeps body as the answer to query on s at generation gen.
func (c *answerCache) put(s *service, query string, gen uint64, healthAt int64, body []byte) {
	if c.max == 0 || len(body) > c.max/4 {
		return
	}
	k := answerKey{s, query}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[k]; old != nil {
		c.drop(k, old)
	}
	for c.bytes+len(body) > c.max && len(c.m) > 0 {
		c.evictOldest()
	}
	if c.m == nil {
		c.m = map[answerKey]*answer{}
	}
	c.clock++
	c.m[k] = &answer{gen: gen, healthAt: healthAt, body: body, uses: 1, lastUse: c.clock}
	c.bytes += len(body)
}

// evictOldest drops the least recently used entry. Eviction is rare (the
// cache is sized for the services being polled), so a scan is enough.
func (c *answerCache) evictOldest() {
	var oldest answerKey
	var oa *answer
	for k, a := range c.m {
		if oa == nil || a.lastUse < oa.lastUse {
			oldest, oa = k, a
		}
	}
	c.drop(oldest, oa)
}

func (c *answerCache) drop(k answerKey, a *answer) {
	delete(c.m, k)
	c.bytes -= len(a.body)
}

// reset empties the cache (the view was reloaded: every service is new).
func (c *answerCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m, c.bytes = nil, 0
}
