package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The watch scenario: N blocking discovery queries held on one service,
// then one registration; how long until every query has answered, and what
// the held queries cost the server in memory.

// WatchResult is the outcome of the watch scenario.
type WatchResult struct {
	Scenario string  `json:"scenario"`
	Endpoint string  `json:"endpoint"`
	Held     int     `json:"held"`   // queries the server held before the change
	HoldSec  float64 `json:"hold_s"` // time to open them all

	// From just before the registration was sent.
	RegisterMs    float64          `json:"register_ms"`     // until the registration was acknowledged
	AllAnsweredMs float64          `json:"all_answered_ms"` // until the last query answered
	Answers       Latency          `json:"answers"`         // of each query's answer
	Answered      int              `json:"answered"`        // 200 answers with a new index
	Unchanged     int              `json:"unchanged"`       // 200 answers with the old index
	Errors        map[string]int64 `json:"errors"`
	ClientCPUMs   float64          `json:"client_cpu_ms"`           // this tool's CPU from the registration on
	ServerCPUMs   *float64         `json:"server_cpu_ms,omitempty"` // the server's (-server-pid), from the registration on

	// Server memory while the queries were held, minus before (from
	// /metrics and, with -server-pid, /proc), per held query.
	HeapStackBytesPerQuery float64  `json:"heap_stack_bytes_per_query"`
	GoroutinesPerQuery     float64  `json:"goroutines_per_query"`
	RSSBytesPerQuery       *float64 `json:"rss_bytes_per_query,omitempty"`
	ServerPID              int      `json:"server_pid,omitempty"`
}

func (r *WatchResult) writeText(w io.Writer) {
	fmt.Fprintf(w, "watch %s: %d queries held (opened in %.1fs); one registration (acknowledged in %.1f ms)\n",
		r.Endpoint, r.Held, r.HoldSec, r.RegisterMs)
	fmt.Fprintf(w, "  all answered %.1f ms after it was sent; answers p50 %.1f ms p99 %.1f ms max %.1f ms\n",
		r.AllAnsweredMs, r.Answers.P50, r.Answers.P99, r.Answers.Max)
	fmt.Fprintf(w, "  %d with a new index, %d unchanged, errors %v; CPU from the registration on: client %.0f ms",
		r.Answered, r.Unchanged, r.Errors, r.ClientCPUMs)
	if r.ServerCPUMs != nil {
		fmt.Fprintf(w, ", server %.0f ms", *r.ServerCPUMs)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  server memory per held query: %.0f B heap+stack, %.2f goroutines", r.HeapStackBytesPerQuery, r.GoroutinesPerQuery)
	if r.RSSBytesPerQuery != nil {
		fmt.Fprintf(w, ", %.0f B RSS", *r.RSSBytesPerQuery)
	}
	fmt.Fprintln(w)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func runWatch(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("watch", flag.ExitOnError)
	var f clientFlags
	f.register(fs, "http://127.0.0.1:8080")
	namespace := fs.String("namespace", "bench", "namespace name")
	service := fs.String("service", "svc", "service name")
	n := fs.Int("n", 10000, "blocking queries to hold (one connection each)")
	dials := fs.Int("dial-concurrency", 256, "queries being opened at once")
	pid := fs.Int("server-pid", 0, "read the server's RSS from /proc before and while the queries are held")
	answerTimeout := fs.Duration("answer-timeout", 60*time.Second, "how long to wait for every query to answer")
	settle := fs.Duration("settle", 0, "wait this long between holding the queries and the registration (to attach a profiler)")
	asJSON := fs.Bool("json", false, "print the result as JSON on stdout")
	fs.Parse(args)
	if *n < 1 || *dials < 1 {
		return errors.New("want -n >= 1 and -dial-concurrency >= 1")
	}
	c, err := f.client(1)
	if err != nil {
		return err
	}
	base := strings.TrimSuffix(c.endpoint, "/")
	serviceID, err := resolveService(ctx, c, *namespace, *service)
	if err != nil {
		return err
	}
	q := url.Values{"namespace": {*namespace}, "service": {*service}}
	status, index, err := c.watch(ctx, c.hc, q)
	if err != nil || status != 200 || index == "" {
		return fmt.Errorf("watch: first query: HTTP %d index %q: %v", status, index, err)
	}
	before, err := serverMemory(ctx, c, base, *pid)
	if err != nil {
		return err
	}

	// The held queries: a transport of their own, a connection each.
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConnsPerHost: *n,
		DisableCompression:  true,
		Protocols:           new(http.Protocols),
	}
	tr.Protocols.SetHTTP1(true)
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 15 * time.Minute}
	hq := url.Values{"namespace": q["namespace"], "service": q["service"], "index": {index}, "wait": {"10m"}}
	type answer struct {
		at     time.Time
		status int
		index  string
		err    error
	}
	answers := make(chan answer, *n)
	sem := make(chan struct{}, *dials)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range *n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var once sync.Once
			release := func() { once.Do(func() { <-sem }) }
			defer release()
			tctx := httptrace.WithClientTrace(wctx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { release() }})
			st, idx, err := c.watch(tctx, hc, hq)
			answers <- answer{time.Now(), st, idx, err}
		}()
	}
	// Wait until the server holds them all.
	for {
		held, err := metricValue(ctx, c.hc, base, "mapmesh_discover_watches")
		if err != nil {
			return err
		}
		if int(held) >= *n {
			break
		}
		if len(answers) > 0 {
			a := <-answers
			return fmt.Errorf("watch: a query answered before the change: HTTP %d index %q: %v", a.status, a.index, a.err)
		}
		if time.Since(start) > 2*time.Minute {
			return fmt.Errorf("watch: the server holds %v of %d queries after 2 minutes", held, *n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	res := &WatchResult{Scenario: "watch", Endpoint: base, Held: *n, HoldSec: time.Since(start).Seconds(),
		Errors: map[string]int64{}, ServerPID: *pid}
	during, err := serverMemory(ctx, c, base, *pid)
	if err != nil {
		return err
	}
	res.HeapStackBytesPerQuery = (during.heapStack - before.heapStack) / float64(*n)
	res.GoroutinesPerQuery = (during.goroutines - before.goroutines) / float64(*n)
	if *pid > 0 {
		v := (during.rss - before.rss) / float64(*n)
		res.RSSBytesPerQuery = &v
	}

	// One registration.
	time.Sleep(*settle)
	cpu0 := selfCPU()
	var ticks0, hz int64
	if *pid > 0 {
		hz = clockTicks()
		if ticks0, err = procTicks(*pid); err != nil {
			return err
		}
	}
	sent := time.Now()
	body := fmt.Sprintf(`{"ServiceId":%q,"InstanceId":"watch-%d","Attributes":{"AWS_INSTANCE_IPV4":"10.9.9.9"}}`, serviceID, sent.UnixNano())
	if _, err := c.rawCall(ctx, "RegisterInstance", []byte(body)); err != nil {
		return err
	}
	res.RegisterMs = ms(time.Since(sent))
	lats := make([]time.Duration, 0, *n)
	timeout := time.After(*answerTimeout)
	for len(lats)+int(sumValues(res.Errors)) < *n {
		select {
		case a := <-answers:
			switch {
			case a.err != nil:
				res.Errors["transport: "+transportErrKey(a.err)]++
				continue
			case a.status != 200:
				res.Errors[strconv.Itoa(a.status)]++
				continue
			case a.index == index:
				res.Unchanged++
			default:
				res.Answered++
			}
			lats = append(lats, a.at.Sub(sent))
		case <-timeout:
			cancel()
			return fmt.Errorf("watch: %d of %d queries answered within %v", len(lats), *n, *answerTimeout)
		}
	}
	wg.Wait()
	res.Answers = summarize(lats)
	res.ClientCPUMs = ms(selfCPU() - cpu0)
	if *pid > 0 {
		ticks, err := procTicks(*pid)
		if err != nil {
			return err
		}
		v := float64(ticks-ticks0) * 1000 / float64(hz)
		res.ServerCPUMs = &v
	}
	if len(lats) > 0 {
		res.AllAnsweredMs = ms(lats[len(lats)-1])
	}
	if err := printResult(res, *asJSON, res.writeText); err != nil {
		return err
	}
	if res.Answered != *n {
		return fmt.Errorf("watch: %d of %d queries answered with the new answer", res.Answered, *n)
	}
	return nil
}

// watch sends one signed GET /_mapmesh/v1/discover and returns the status
// and index of its answer.
func (c *client) watch(ctx context.Context, hc *http.Client, q url.Values) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.endpoint, "/")+"/_mapmesh/v1/discover?"+q.Encode(), nil)
	if err != nil {
		return 0, "", err
	}
	if c.host != "" {
		req.Host = c.host
	}
	if err := c.signer.SignHTTP(ctx, c.creds, req, payloadHash(nil), signingService, c.region, time.Now()); err != nil {
		return 0, "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Mapmesh-Index"), err
}

// memory is what the server uses, from its /metrics and /proc.
type memory struct{ heapStack, goroutines, rss float64 }

func serverMemory(ctx context.Context, c *client, base string, pid int) (memory, error) {
	var m memory
	for _, name := range []string{"go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes"} {
		v, err := metricValue(ctx, c.hc, base, name)
		if err != nil {
			return m, err
		}
		m.heapStack += v
	}
	var err error
	if m.goroutines, err = metricValue(ctx, c.hc, base, "go_goroutines"); err != nil {
		return m, err
	}
	if pid > 0 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return m, err
		}
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				m.rss = kb * 1024
			}
		}
	}
	return m, nil
}

// metricValue reads one unlabelled sample from the server's /metrics.
func metricValue(ctx context.Context, hc *http.Client, base, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("watch: %s/metrics has no %s", base, name)
}
