package main

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", []time.Duration{7}, 99.9, 7},
		{"p50 of 100", hundred, 50, 50 * time.Millisecond},
		{"p90 of 100", hundred, 90, 90 * time.Millisecond},
		{"p99 of 100", hundred, 99, 99 * time.Millisecond},
		{"p99.9 of 100 is the max", hundred, 99.9, 100 * time.Millisecond},
		{"p100", hundred, 100, 100 * time.Millisecond},
		{"tiny p rounds up to the first", hundred, 0.001, time.Millisecond},
		{"p50 of 4 is the 2nd", []time.Duration{1, 2, 3, 4}, 50, 2},
		{"p51 of 4 is the 3rd", []time.Duration{1, 2, 3, 4}, 51, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("percentile(%d values, %v) = %v; want %v", len(tc.sorted), tc.p, got, tc.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	lats := []time.Duration{4 * time.Millisecond, time.Millisecond, 3 * time.Millisecond, 2 * time.Millisecond}
	got := summarize(lats)
	want := Latency{P50: 2, P90: 4, P99: 4, P999: 4, Max: 4, Mean: 2.5}
	if got != want {
		t.Errorf("summarize(1..4ms) = %+v; want %+v", got, want)
	}
}

func TestParseStatTicks(t *testing.T) {
	tests := []struct {
		name, stat string
		want       int64
		wantErr    bool
	}{
		{"plain", "1234 (mapmesh) S 1 1234 1234 0 -1 4194560 2948 0 0 0 150 42 0 0 20 0 9 0 12345 1000000 3000 18446744073709551615", 192, false},
		{"command with spaces and parens", "99 (a) b (c)) R 1 99 99 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 1 1", 10, false},
		{"short", "99 (x) R 1 2 3", 0, true},
		{"no command", "garbage", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatTicks(tc.stat)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseStatTicks(%q) = %d, %v; want %d, error %v", tc.stat, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestWarmupFlag(t *testing.T) {
	tests := []struct {
		in      string
		want    warmup
		wantErr bool
	}{
		{"2000", warmup{count: 2000}, false},
		{"1.5s", warmup{duration: 1500 * time.Millisecond}, false},
		{"0", warmup{}, false},
		{"-1s", warmup{}, true},
		{"soon", warmup{}, true},
	}
	for _, tc := range tests {
		var w warmup
		err := w.Set(tc.in)
		if (err != nil) != tc.wantErr || (err == nil && w != tc.want) {
			t.Errorf("warmup.Set(%q) = %+v, %v; want %+v, error %v", tc.in, w, err, tc.want, tc.wantErr)
		}
	}
}

func TestProcTicksSelf(t *testing.T) {
	if _, err := procTicks(1); err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if hz := clockTicks(); hz <= 0 {
		t.Errorf("clockTicks() = %d; want > 0", hz)
	}
}
