package awsapi

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate is a token bucket: Burst tokens, refilled at PerSecond. A zero
// PerSecond means no limit.
type Rate struct {
	PerSecond float64
	Burst     int
}

// Throttle limits the requests of each account, region and operation with
// token buckets, the way AWS throttles its APIs. A request over its
// operation's rate is refused with the service's throttling error; the SDKs
// retry them with backoff.
type Throttle struct {
	// Rates holds the rate of each operation; Default applies to the
	// others (no limit when zero).
	Rates   map[string]Rate
	Default Rate
	// Refusal is the error of a throttled request (Status 400 when 0);
	// Refusals overrides it for some operations (Cloud Map's data plane
	// answers RequestLimitExceeded, its control plane ThrottlingException).
	Refusal  Error
	Refusals map[string]Error

	mu      sync.Mutex // guards buckets and swept
	buckets map[bucketKey]*rate.Limiter
	swept   time.Time
}

type bucketKey struct{ account, region, op string }

// rateOf returns the rate of op.
func (t *Throttle) rateOf(op string) Rate {
	if r, ok := t.Rates[op]; ok {
		return r
	}
	return t.Default
}

// Allow takes a token for op in c's account and region, and returns the
// error to answer when there is none (nil Throttle: no limit). The Mux
// calls it for every operation; other endpoints that count as an
// operation call it too.
func (t *Throttle) Allow(c Caller, op string, now time.Time) *Error { return t.allow(c, op, now) }

func (t *Throttle) allow(c Caller, op string, now time.Time) *Error {
	if t == nil {
		return nil
	}
	r := t.rateOf(op)
	if r.PerSecond <= 0 {
		return nil
	}
	k := bucketKey{c.Account, c.Region, op}
	t.mu.Lock()
	if now.Sub(t.swept) > time.Minute {
		t.sweepLocked(now)
	}
	b := t.buckets[k]
	if b == nil {
		if t.buckets == nil {
			t.buckets = map[bucketKey]*rate.Limiter{}
		}
		b = rate.NewLimiter(rate.Limit(r.PerSecond), max(1, r.Burst))
		t.buckets[k] = b
	}
	t.mu.Unlock()
	if b.AllowN(now, 1) {
		return nil
	}
	e := t.Refusal
	if r, ok := t.Refusals[op]; ok {
		e = r
	}
	return &e
}

// Override sets the rates of rates: an operation's own, or the default
// for "*".
func (t *Throttle) Override(rates map[string]Rate) {
	for op, r := range rates {
		if op == "*" {
			t.Default = r
			continue
		}
		if t.Rates == nil {
			t.Rates = map[string]Rate{}
		}
		t.Rates[op] = r
	}
}

// sweepLocked forgets the buckets that are full again: they would behave
// the same as new ones, and the map must not grow with every account and
// operation ever seen.
func (t *Throttle) sweepLocked(now time.Time) {
	t.swept = now
	for k, b := range t.buckets {
		if b.TokensAt(now) >= float64(b.Burst()) {
			delete(t.buckets, k)
		}
	}
}

// ParseRates reads rate overrides: a comma-separated list of
// OPERATION=PERSECOND[:BURST] (BURST defaults to PERSECOND); the
// operation * sets the default. PERSECOND 0 turns an operation's limit
// off.
func ParseRates(s string) (map[string]Rate, error) {
	out := map[string]Rate{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		op, spec, ok := strings.Cut(f, "=")
		if !ok || op == "" {
			return nil, fmt.Errorf("awsapi: rate %q: want OPERATION=PERSECOND[:BURST]", f)
		}
		ps, bs, hasBurst := strings.Cut(spec, ":")
		per, err := strconv.ParseFloat(ps, 64)
		if err != nil || per < 0 {
			return nil, fmt.Errorf("awsapi: rate %q: bad requests per second %q", f, ps)
		}
		burst := int(per + 0.5)
		if hasBurst {
			if burst, err = strconv.Atoi(bs); err != nil || burst < 1 {
				return nil, fmt.Errorf("awsapi: rate %q: bad burst %q", f, bs)
			}
		}
		out[op] = Rate{PerSecond: per, Burst: max(1, burst)}
	}
	return out, nil
}
