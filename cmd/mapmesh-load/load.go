package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A payloadFunc returns the body of the i-th request of a run and its
// payload hash. i counts from 0 over warm-up and measurement and all workers,
// so it can make ids unique. It is called from many goroutines.
type payloadFunc func(i int64) (body []byte, hash string)

// fixedPayload sends the same body every time; its hash is computed once.
func fixedPayload(body []byte) payloadFunc {
	hash := payloadHash(body)
	return func(int64) ([]byte, string) { return body, hash }
}

// warmup is the -warmup flag: a request count ("2000") or a duration ("1s").
type warmup struct {
	count    int64
	duration time.Duration
}

func (w *warmup) String() string {
	switch {
	case w == nil:
		return ""
	case w.count > 0:
		return strconv.FormatInt(w.count, 10)
	case w.duration > 0:
		return w.duration.String()
	}
	return ""
}

func (w *warmup) Set(s string) error {
	*w = warmup{}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		w.count = n
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("want a request count or a duration, got %q", s)
	}
	w.duration = d
	return nil
}

// loadConfig bounds a closed-loop run. The measured phase stops at whichever
// of Count and Duration comes first (zero disables one of them, not both).
type loadConfig struct {
	Concurrency int
	Count       int64
	Duration    time.Duration
	Warmup      warmup // not recorded; a count warm-up is also bounded by Duration
	ServerPID   int    // if > 0, report this process's CPU over the measured phase
}

// Result is the outcome of one measured phase. It is printed as text or,
// with -json, as JSON.
type Result struct {
	Scenario       string           `json:"scenario"`
	Endpoint       string           `json:"endpoint"`
	Concurrency    int              `json:"concurrency"`
	WarmupRequests int64            `json:"warmup_requests"`
	Requests       int64            `json:"requests"` // completed, successful or not
	OK             int64            `json:"ok"`       // 2xx responses
	Errors         map[string]int64 `json:"errors"`   // "400 ServiceNotFound", "transport: ..." -> count
	StoppedBy      string           `json:"stopped_by"`
	DurationSec    float64          `json:"duration_s"`
	ReqPerSec      float64          `json:"req_per_s"` // 2xx responses per second
	Latency        Latency          `json:"latency"`   // of 2xx responses
	BytesReceived  int64            `json:"bytes_received"`

	ClientCPUSec      float64 `json:"client_cpu_s"`
	ClientCPUUsPerReq float64 `json:"client_cpu_us_per_req"`

	ServerPID         int      `json:"server_pid,omitempty"`
	ServerCPUSec      *float64 `json:"server_cpu_s,omitempty"`
	ServerCPUUsPerReq *float64 `json:"server_cpu_us_per_req,omitempty"`
}

// workerStats is what one worker saw; workers share nothing while running.
type workerStats struct {
	lats  []time.Duration
	errs  map[string]int64
	ok    int64
	bytes int64
}

// runner drives one operation in a closed loop.
type runner struct {
	c       *client
	op      string
	payload payloadFunc
	seq     atomic.Int64 // next payload index
}

// run does the optional warm-up, then the measured phase.
func (r *runner) run(ctx context.Context, scenario string, cfg loadConfig) (*Result, error) {
	if cfg.Concurrency < 1 {
		return nil, errors.New("load: concurrency must be at least 1")
	}
	if cfg.Count <= 0 && cfg.Duration <= 0 {
		return nil, errors.New("load: need a request count or a duration bound")
	}
	res := &Result{Scenario: scenario, Endpoint: r.c.endpoint, Concurrency: cfg.Concurrency, ServerPID: cfg.ServerPID}
	if w := cfg.Warmup; w.count > 0 || w.duration > 0 {
		d := w.duration
		if w.count > 0 {
			d = cfg.Duration
		}
		ws, _, _ := r.phase(ctx, cfg.Concurrency, w.count, d, false)
		for _, s := range ws {
			res.WarmupRequests += s.ok + sumValues(s.errs)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	var ticks0, hz int64
	if cfg.ServerPID > 0 {
		hz = clockTicks()
		t, err := procTicks(cfg.ServerPID)
		if err != nil {
			return nil, fmt.Errorf("load: server CPU: %w", err)
		}
		ticks0 = t
	}
	cpu0 := selfCPU()
	ws, elapsed, stoppedBy := r.phase(ctx, cfg.Concurrency, cfg.Count, cfg.Duration, true)
	cpu := selfCPU() - cpu0
	var ticks int64
	if cfg.ServerPID > 0 {
		t, err := procTicks(cfg.ServerPID)
		if err != nil {
			return nil, fmt.Errorf("load: server CPU (did the server exit?): %w", err)
		}
		ticks = t - ticks0
	}

	var lats []time.Duration
	res.Errors = map[string]int64{}
	for _, s := range ws {
		lats = append(lats, s.lats...)
		res.OK += s.ok
		res.BytesReceived += s.bytes
		for k, n := range s.errs {
			res.Errors[k] += n
		}
	}
	res.Requests = res.OK + sumValues(res.Errors)
	res.StoppedBy = stoppedBy
	res.DurationSec = elapsed.Seconds()
	res.ReqPerSec = float64(res.OK) / elapsed.Seconds()
	res.Latency = summarize(lats)
	res.ClientCPUSec = cpu.Seconds()
	if res.Requests > 0 {
		res.ClientCPUUsPerReq = float64(cpu.Microseconds()) / float64(res.Requests)
	}
	if cfg.ServerPID > 0 {
		sec := float64(ticks) / float64(hz)
		res.ServerCPUSec = &sec
		if res.Requests > 0 {
			us := sec * 1e6 / float64(res.Requests)
			res.ServerCPUUsPerReq = &us
		}
	}
	return res, nil
}

// phase runs conc workers until count requests have been started (if
// count > 0), d has passed (if d > 0), or ctx is done. Requests in flight
// at the deadline are finished and counted.
func (r *runner) phase(ctx context.Context, conc int, count int64, d time.Duration, record bool) ([]*workerStats, time.Duration, string) {
	var tickets atomic.Int64
	start := time.Now()
	deadline := start.Add(d)
	stats := make([]*workerStats, conc)
	var wg sync.WaitGroup
	for w := range conc {
		s := &workerStats{errs: map[string]int64{}}
		if record && count > 0 {
			s.lats = make([]time.Duration, 0, min(count/int64(conc)+1, 1<<16))
		}
		stats[w] = s
		wg.Go(func() { r.work(ctx, s, &tickets, count, d, deadline, record) })
	}
	wg.Wait()
	elapsed := time.Since(start)

	stoppedBy := "duration"
	switch {
	case ctx.Err() != nil:
		stoppedBy = "interrupted"
	case count > 0 && tickets.Load() >= count:
		stoppedBy = "count"
	}
	return stats, elapsed, stoppedBy
}

func (r *runner) work(ctx context.Context, s *workerStats, tickets *atomic.Int64, count int64, d time.Duration, deadline time.Time, record bool) {
	var buf bytes.Buffer
	for ctx.Err() == nil {
		if d > 0 && !time.Now().Before(deadline) {
			return
		}
		if count > 0 && tickets.Add(1) > count {
			return
		}
		body, hash := r.payload(r.seq.Add(1) - 1)
		req, err := r.c.newRequest(ctx, r.op, body, hash)
		if err != nil {
			s.errs["sign: "+err.Error()]++
			continue
		}
		t0 := time.Now()
		status, hdr, err := r.c.do(req, &buf)
		lat := time.Since(t0)
		s.bytes += int64(buf.Len())
		switch {
		case err != nil:
			s.errs[transportErrKey(err)]++
		case status/100 != 2:
			s.errs[parseAPIError(status, hdr, buf.Bytes()).key()]++
		default:
			s.ok++
			if record {
				s.lats = append(s.lats, lat)
			}
		}
	}
}

// transportErrKey names a transport error without the parts that differ per
// connection (ports), so that errors group.
func transportErrKey(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var errno syscall.Errno
	var oe *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err):
		return "transport: timeout"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "transport: EOF"
	case errors.As(err, &oe) && errors.As(err, &errno):
		return "transport: " + oe.Op + ": " + errno.Error()
	}
	return "transport: " + err.Error()
}

func sumValues(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// writeText prints r for people.
func (r *Result) writeText(w io.Writer) {
	fmt.Fprintf(w, "%s %s c=%d: %d requests (%d ok) in %.2fs, stopped by %s; warm-up %d\n",
		r.Scenario, r.Endpoint, r.Concurrency, r.Requests, r.OK, r.DurationSec, r.StoppedBy, r.WarmupRequests)
	l := r.Latency
	fmt.Fprintf(w, "  %.0f req/s  latency ms p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
		r.ReqPerSec, l.P50, l.P90, l.P99, l.P999, l.Max)
	perReq := 0.0
	if r.Requests > 0 {
		perReq = float64(r.BytesReceived) / float64(r.Requests)
	}
	fmt.Fprintf(w, "  received %d bytes (%.0f B/request); client CPU %.2fs (%.1f µs/request)\n",
		r.BytesReceived, perReq, r.ClientCPUSec, r.ClientCPUUsPerReq)
	if r.ServerCPUSec != nil {
		us := 0.0
		if r.ServerCPUUsPerReq != nil {
			us = *r.ServerCPUUsPerReq
		}
		fmt.Fprintf(w, "  server pid %d CPU %.2fs (%.1f µs/request)\n", r.ServerPID, *r.ServerCPUSec, us)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		fmt.Fprintf(w, "  error %s: %d\n", k, r.Errors[k])
	}
}
