package awsapi

import (
	"testing"
	"time"
)

// TestThrottle: each account, region and operation has its own bucket of
// Burst tokens refilled at PerSecond; over it, the service's code.
func TestThrottle(t *testing.T) {
	th := &Throttle{Rates: map[string]Rate{"DiscoverInstances": {PerSecond: 1000, Burst: 2000}}, Default: Rate{PerSecond: 5, Burst: 10},
		Refusal: Error{Code: "ThrottlingException", Message: "Rate exceeded"}, Refusals: map[string]Error{"DiscoverInstances": {Code: "RequestLimitExceeded"}}}
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	a, b := Caller{Account: "111111111111", Region: "us-east-1"}, Caller{Account: "222222222222", Region: "us-east-1"}
	count := func(c Caller, op string, n int, at time.Time) (ok int, code string) {
		for range n {
			if e := th.allow(c, op, at); e != nil {
				code = e.Code
			} else {
				ok++
			}
		}
		return ok, code
	}
	if ok, code := count(a, "DiscoverInstances", 2500, now); ok != 2000 || code != "RequestLimitExceeded" {
		t.Errorf("2,500 DiscoverInstances at once: %d allowed, then %q; want the burst of 2,000, then RequestLimitExceeded", ok, code)
	}
	if ok, _ := count(b, "DiscoverInstances", 2000, now); ok != 2000 {
		t.Errorf("another account: %d allowed; want its own 2,000", ok)
	}
	if ok, _ := count(a, "DiscoverInstances", 1500, now.Add(time.Second)); ok != 1000 {
		t.Errorf("one second later: %d allowed; want the 1,000 refilled", ok)
	}
	if ok, code := count(a, "CreateService", 20, now); ok != 10 || code != "ThrottlingException" {
		t.Errorf("20 CreateService at once: %d allowed, then %q; want the default burst 10, then ThrottlingException", ok, code)
	}
	// Full buckets are forgotten: the map does not grow with history.
	th.mu.Lock()
	th.sweepLocked(now.Add(time.Hour))
	n := len(th.buckets)
	th.mu.Unlock()
	if n != 0 {
		t.Errorf("%d buckets kept after an hour idle; want 0", n)
	}
	var off *Throttle
	if e := off.allow(a, "DiscoverInstances", now); e != nil {
		t.Errorf("a nil Throttle refused a request: %v", e)
	}
}

func TestParseRates(t *testing.T) {
	got, err := ParseRates("DiscoverInstances=2000:4000, *=50,CreateService=0")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Rate{"DiscoverInstances": {2000, 4000}, "*": {50, 50}, "CreateService": {0, 1}}
	if d := len(got) - len(want); d != 0 {
		t.Fatalf("ParseRates = %v; want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("ParseRates[%s] = %+v; want %+v", k, got[k], v)
		}
	}
	for _, bad := range []string{"x", "=5", "A=-1", "A=1:0", "A=b"} {
		if _, err := ParseRates(bad); err == nil {
			t.Errorf("ParseRates(%q) = nil error; want one", bad)
		}
	}
}

// BenchmarkThrottle measures the limiter's cost per request.
func BenchmarkThrottle(b *testing.B) {
	th := &Throttle{Default: Rate{PerSecond: 1e9, Burst: 1e9}, Refusal: Error{Code: "ThrottlingException"}}
	c := Caller{Account: "111111111111", Region: "us-east-1"}
	b.ReportAllocs()
	for b.Loop() {
		_ = th.allow(c, "DiscoverInstances", time.Now())
	}
}
