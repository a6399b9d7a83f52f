// Command healthscale measures whether the health checker keeps its
// schedule at scale: it registers N instances (10,000 by default) of a
// health-checked service in a real Cloud Map backend (bbolt in a temporary
// directory), points them at local listeners served by a child process,
// runs the checker at a 1 s interval, and reports the probe lag (how late
// each probe started after its slot), the probes run against the probes
// due, the slots skipped, and the CPU of the checker's process and of the
// listeners' process. test/bench/health.sh runs it and writes the result to
// docs/benchmarks.md.
//
//	healthscale [-instances 10000] [-interval 1s] [-duration 60s] [-scenarios HTTP,TCP,HTTP+blackholed]
//	            [-docs docs/benchmarks.md]
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
	"github.com/mapmesh/mapmesh/internal/healthcheck"
	"github.com/mapmesh/mapmesh/internal/store/boltstore"
)

func main() {
	serve := flag.Bool("serve", false, "child mode: serve the listeners, print their ports, run until stdin closes")
	listeners := flag.Int("listeners", 200, "listeners (loopback ports) the instances are spread over")
	instances := flag.Int("instances", 10000, "instances to check")
	interval := flag.Duration("interval", time.Second, "probe interval")
	duration := flag.Duration("duration", 60*time.Second, "measured time per scenario")
	warmup := flag.Duration("warmup", 5*time.Second, "unmeasured time after the last registration")
	concurrency := flag.Int("concurrency", healthcheck.DefaultConcurrency, "the checker's concurrency bound")
	blackholed := flag.Int("blackholed", 100, "instances pointed at a listener that never answers, in the +blackholed scenario")
	scenarios := flag.String("scenarios", "HTTP,TCP,HTTP+blackholed", "comma-separated: HTTP, HTTPS, TCP, optionally +blackholed")
	docs := flag.String("docs", "", "write the report between <!-- health:begin --> and <!-- health:end --> of this file")
	note := flag.String("note", "", "a line about the machine, added to the report")
	quietWait := flag.Duration("quiet-wait", 0, "before each scenario, wait up to this long for the machine to be quiet (other processes under half a CPU over 3 s)")
	verbose = flag.Bool("v", false, "print the probes and lags of every second of the window")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the checker's process to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if *serve {
		serveListeners(*listeners)
		return
	}
	var rows []result
	for _, sc := range strings.Split(*scenarios, ",") {
		typ, holes := strings.CutSuffix(strings.TrimSpace(sc), "+blackholed")
		nHoles := 0
		if holes {
			nHoles = *blackholed
		}
		waited, quiet := waitQuiet(*quietWait)
		r, err := run(typ, *instances, nHoles, *listeners, *interval, *warmup, *duration, *concurrency)
		r.waited, r.quiet = waited, quiet
		if err != nil {
			log.Printf("healthscale: %s: %v", sc, err)
			return
		}
		r.name = sc
		if *verbose {
			for i, ps := range r.perSecond {
				var others time.Duration
				if i < len(r.othersPerSecond) {
					others = r.othersPerSecond[i]
				}
				fmt.Printf("  second %d: %d probes, mean lag %v, max %v; other processes %.2f cores\n", i, ps.probes,
					ps.sumLag/time.Duration(max(1, ps.probes)), ps.maxLag.Round(time.Millisecond), others.Seconds())
			}
		}
		fmt.Println(r.summary())
		rows = append(rows, r)
	}
	report := markdown(rows, *instances, *interval, *warmup, *duration, *concurrency, *note)
	if *docs != "" {
		if err := replaceSection(*docs, report); err != nil {
			log.Printf("healthscale: %v", err)
		}
	}
}

// serveListeners is the child: minimal HTTP/1.1 responders (which TCP
// probes connect to as well) and one black hole that accepts and never
// answers. It prints "ports P1,P2,... hole P" and serves until stdin
// closes. The responders read the request head and answer 200 with
// Connection: close; they stand for targets on other machines, so they do
// as little as an HTTP server can (net/http's server costs about twice the
// CPU per connection, which on a shared 2-CPU machine the checker would
// compete with).
func serveListeners(n int) {
	var ports []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		_, p, _ := net.SplitHostPort(ln.Addr().String())
		ports = append(ports, p)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go respond(c)
			}
		}()
	}
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		var held []net.Conn
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // never read, never answered
			if len(held) > 10000 {
				held[0].Close()
				held = held[1:]
			}
		}
	}()
	_, hp, _ := net.SplitHostPort(hole.Addr().String())
	fmt.Printf("ports %s hole %s\n", strings.Join(ports, ","), hp)
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// okResponse is every responder's answer.
var okResponse = []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

// respond answers one connection: 200 once the request head is in, or
// nothing when the peer closes first (a TCP probe).
func respond(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1024)
	n := 0
	for {
		m, err := c.Read(buf[n:])
		n += m
		if bytes.Contains(buf[:n], []byte("\r\n\r\n")) {
			_, _ = c.Write(okResponse)
			return
		}
		if err != nil || n == len(buf) {
			return
		}
	}
}

// verbose prints per-second figures.
var verbose *bool

// second is one second of the window.
type second struct {
	probes int
	maxLag time.Duration
	sumLag time.Duration
}

type result struct {
	// waited is how long the run waited for a quiet machine; quiet says
	// whether it found one.
	waited    time.Duration
	quiet     bool
	perSecond []second
	// othersPerSecond is the CPU other processes used in each second.
	othersPerSecond         []time.Duration
	name                    string
	typ                     string
	instances, holes        int
	window                  time.Duration
	probes, due             int // probes of answering targets in the window; slots due
	holeProbes              int
	lags, tooks             []time.Duration
	skipped                 uint64
	failures                int
	checkerCPU, listenerCPU time.Duration
	// busyCPU is the whole machine's busy CPU time over the window.
	busyCPU               time.Duration
	heapMB                float64
	goroutines            int
	registerTook          time.Duration
	loadBefore, loadAfter string
	maxInFlight           int
	// gaps counts slots an answering instance went without a probe.
	gaps int
}

func run(typ string, instances, holes, listeners int, interval, warmup, duration time.Duration, concurrency int) (result, error) {
	r := result{typ: typ, instances: instances, holes: holes}
	// The listeners, in a child process so their CPU is counted apart.
	self, err := os.Executable()
	if err != nil {
		return r, err
	}
	child := exec.Command(self, "-serve", "-listeners", strconv.Itoa(listeners))
	stdin, err := child.StdinPipe()
	if err != nil {
		return r, err
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		return r, err
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		return r, err
	}
	defer func() {
		stdin.Close()
		_ = child.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return r, fmt.Errorf("child: %w", err)
	}
	var portList, hole string
	if _, err := fmt.Sscanf(line, "ports %s hole %s", &portList, &hole); err != nil {
		return r, fmt.Errorf("child said %q: %w", line, err)
	}
	ports := strings.Split(portList, ",")

	dir, err := os.MkdirTemp("", "healthscale")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	st, err := boltstore.Open(filepath.Join(dir, "mapmesh.db"), boltstore.Options{})
	if err != nil {
		return r, err
	}
	defer st.Close()
	ctx := awsapi.WithCaller(context.Background(), awsapi.Caller{Account: "123456789012", Region: "us-east-1"})
	b, err := cloudmap.New(ctx, st, cloudmap.Config{Quotas: cloudmap.Quotas{InstancesPerService: instances, InstancesPerNamespace: instances}})
	if err != nil {
		return r, err
	}
	defer b.Close()

	var mu sync.Mutex
	var measuring bool
	var from time.Time
	lastDue := map[string]time.Time{}
	// The targets listen on 127.0.0.0/8, which health checks may not probe
	// by default.
	c, err := healthcheck.Start(b, healthcheck.Config{Interval: interval, Concurrency: concurrency,
		AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Observe: func(res healthcheck.Result) {
			mu.Lock()
			defer mu.Unlock()
			prev, seen := lastDue[res.InstanceID]
			lastDue[res.InstanceID] = res.Due
			if !measuring || res.Due.Before(from) {
				return
			}
			if strings.HasPrefix(res.InstanceID, "hole") {
				r.holeProbes++
				return
			}
			if seen && res.Due.Sub(prev) > interval*3/2 {
				r.gaps += int(res.Due.Sub(prev)/interval) - 1
			}
			r.probes++
			if res.Err != nil {
				r.failures++
			}
			r.lags = append(r.lags, res.Start.Sub(res.Due))
			if sec := int(res.Start.Sub(from) / time.Second); sec >= 0 {
				for len(r.perSecond) <= sec {
					r.perSecond = append(r.perSecond, second{})
				}
				ps := &r.perSecond[sec]
				ps.probes++
				ps.sumLag += res.Start.Sub(res.Due)
				ps.maxLag = max(ps.maxLag, res.Start.Sub(res.Due))
			}
			r.tooks = append(r.tooks, res.Took)
		}})
	if err != nil {
		return r, err
	}
	defer c.Close()

	if _, err := b.CreatePublicDnsNamespace(ctx, &cloudmap.CreatePublicDnsNamespaceInput{Name: ptr("bench.example.com")}); err != nil {
		return r, err
	}
	ns, err := b.ListNamespaces(ctx, &cloudmap.ListNamespacesInput{})
	if err != nil {
		return r, err
	}
	hc := &cloudmap.HealthCheckConfig{Type: ptr(typ)}
	svc, err := b.CreateService(ctx, &cloudmap.CreateServiceInput{Name: ptr("web"), NamespaceID: ns.Namespaces[0].ID,
		DNSConfig:         &cloudmap.DNSConfig{DNSRecords: []cloudmap.DNSRecord{{Type: ptr("A"), TTL: new(int64(60))}}},
		HealthCheckConfig: hc})
	if err != nil {
		return r, err
	}
	// Register the instances with 8 clients, as an API load would.
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < instances; i += 8 {
				id, port := fmt.Sprintf("i-%05d", i), ports[i%len(ports)]
				if i < holes {
					id, port = fmt.Sprintf("hole-%05d", i), hole
				}
				_, err := b.RegisterInstance(ctx, &cloudmap.RegisterInstanceInput{ServiceID: svc.Service.ID, InstanceID: &id,
					Attributes: map[string]string{"AWS_INSTANCE_IPV4": "127.0.0.1", "AWS_INSTANCE_PORT": port}})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return r, err
	}
	r.registerTook = time.Since(start)
	time.Sleep(warmup)

	r.loadBefore = loadavg()
	skipped0 := c.Stats().Skipped
	cpu0, child0, busy0 := selfCPU(), procCPU(child.Process.Pid), machineBusy()
	mu.Lock()
	measuring, from = true, time.Now()
	mu.Unlock()
	// Sample the probes in flight, and every second the CPU that other
	// processes used, while measuring.
	stopSampling := make(chan struct{})
	sampled := make(chan int)
	go func() {
		m := 0
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		lastSelf, lastChild, lastBusy := cpu0, child0, busy0
		for i := 1; ; i++ {
			select {
			case <-stopSampling:
				sampled <- m
				return
			case <-t.C:
				m = max(m, c.Stats().InFlight)
				if i%20 != 0 {
					continue
				}
				self, ch, busy := selfCPU(), procCPU(child.Process.Pid), machineBusy()
				others := (busy - lastBusy) - (self - lastSelf) - (ch - lastChild)
				lastSelf, lastChild, lastBusy = self, ch, busy
				mu.Lock()
				r.othersPerSecond = append(r.othersPerSecond, max(0, others))
				mu.Unlock()
			}
		}
	}()
	time.Sleep(duration)
	mu.Lock()
	measuring = false
	to := time.Now()
	mu.Unlock()
	close(stopSampling)
	r.maxInFlight = <-sampled
	r.checkerCPU, r.listenerCPU, r.busyCPU = selfCPU()-cpu0, procCPU(child.Process.Pid)-child0, machineBusy()-busy0
	r.loadAfter = loadavg()
	r.skipped = c.Stats().Skipped - skipped0
	r.window = to.Sub(from)
	// Slots due in the window, one per answering instance per interval
	// (probes whose slot fell in the window but ended after it are not
	// counted, so the count can fall short by up to one slot each).
	r.due = int(float64(instances-holes) * r.window.Seconds() / interval.Seconds())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.heapMB = float64(ms.HeapInuse) / (1 << 20)
	r.goroutines = runtime.NumGoroutine()
	return r, nil
}

func ptr(s string) *string { return &s }

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is a process's user+system CPU time from /proc (clock ticks of
// 10 ms).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	stt, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+stt) * 10 * time.Millisecond
}

// waitQuiet waits up to max for a 3 s window in which the machine used
// less than half a CPU, and returns how long it waited and whether it found
// one.
func waitQuiet(limit time.Duration) (time.Duration, bool) {
	if limit <= 0 {
		return 0, false
	}
	start := time.Now()
	for time.Since(start) < limit {
		b0 := machineBusy()
		time.Sleep(3 * time.Second)
		if (machineBusy()-b0).Seconds()/3 < 0.5 {
			return time.Since(start), true
		}
	}
	return time.Since(start), false
}

// machineBusy is the CPU time all CPUs spent not idle, from /proc/stat.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest time is already in user
			break
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * 10 * time.Millisecond
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p / 100 * float64(len(s)-1))
	return s[i]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

func (r *result) cores(d time.Duration) float64 { return d.Seconds() / r.window.Seconds() }

func (r *result) summary() string {
	return fmt.Sprintf("%s: %d instances (%d black-holed), %d probes of %d slots due in %v, skipped %d (all), %d (answering), failures %d; lag p50 %sms p90 %sms p99 %sms p99.9 %sms max %sms; probe p50 %sms p99 %sms; checker CPU %.2f cores (%.1f µs/probe), listeners %.2f cores; max in flight %d; heap %.0f MB, %d goroutines; load %s -> %s",
		r.name, r.instances, r.holes, r.probes, r.due, r.window.Round(time.Millisecond), r.skipped, r.gaps, r.failures,
		ms(pct(r.lags, 50)), ms(pct(r.lags, 90)), ms(pct(r.lags, 99)), ms(pct(r.lags, 99.9)), ms(pct(r.lags, 100)),
		ms(pct(r.tooks, 50)), ms(pct(r.tooks, 99)), r.cores(r.checkerCPU), r.perProbe(), r.cores(r.listenerCPU),
		r.maxInFlight, r.heapMB, r.goroutines, r.loadBefore, r.loadAfter)
}

// lateSeconds returns how many seconds of the window had a probe start
// 100 ms or more after its slot, and the mean CPU (cores) other processes
// used in those seconds and in the others.
func (r *result) lateSeconds() (n int, othersLate, othersRest float64) {
	var late, rest time.Duration
	nRest := 0
	for i, ps := range r.perSecond {
		if i >= len(r.othersPerSecond) {
			break
		}
		if ps.maxLag >= 100*time.Millisecond {
			n++
			late += r.othersPerSecond[i]
		} else {
			nRest++
			rest += r.othersPerSecond[i]
		}
	}
	if n > 0 {
		othersLate = late.Seconds() / float64(n)
	}
	if nRest > 0 {
		othersRest = rest.Seconds() / float64(nRest)
	}
	return n, othersLate, othersRest
}

func (r *result) perProbe() float64 {
	n := r.probes + r.holeProbes
	if n == 0 {
		return 0
	}
	return float64(r.checkerCPU.Microseconds()) / float64(n)
}

// kept reports whether the schedule was kept: every answering instance
// probed in every slot (allowing one slot each at the window's end), none
// of their slots skipped, none of their probes failed, p99 lag under
// 100 ms.
func (r *result) kept() bool {
	return r.probes >= r.due-(r.instances-r.holes) && r.gaps == 0 && r.failures == 0 && pct(r.lags, 99) < 100*time.Millisecond
}

func markdown(rows []result, instances int, interval, warmup, duration time.Duration, concurrency int, note string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Health checks: %s instances at a %v interval\n\n", num(instances), interval)
	b.WriteString("Written by `test/bench/health.sh` (run it to refresh this section); do not edit by hand.\n\n")
	fmt.Fprintf(&b, "- Date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	if note != "" {
		fmt.Fprintf(&b, "- %s\n", note)
	}
	fmt.Fprintf(&b, "- Setup: one health-checked service with %s instances in a real Cloud Map backend (bbolt), checker "+
		"`--health-interval %v`, `--health-concurrency %d`, Route 53's timeouts; the instances are spread over 200 "+
		"HTTP listeners on 127.0.0.1 in a child process (TCP probes connect to the same listeners); each probe is a "+
		"new connection. Measured for %v after the registrations and a %v warm-up. %s\n\n", num(instances), interval, concurrency, duration,
		warmup, "Lag is how late a probe started after its slot.")
	b.WriteString("| Scenario | probes / slots due | slots skipped (answering / all) | lag p50 ms | p90 | p99 | p99.9 | max | probe p50 ms | p99 | checker CPU (cores) | µs/probe | listeners CPU (cores) | other processes' CPU (cores) | in flight (max) | schedule kept |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, r := range rows {
		kept := "yes"
		if !r.kept() {
			kept = "**no**"
		}
		fmt.Fprintf(&b, "| %s | %s / %s | %s / %s | %s | %s | %s | %s | %s | %s | %s | %.2f | %.1f | %.2f | %.2f | %d | %s |\n", r.label(),
			num(r.probes), num(r.due), num(r.gaps), num(int(r.skipped)),
			ms(pct(r.lags, 50)), ms(pct(r.lags, 90)), ms(pct(r.lags, 99)), ms(pct(r.lags, 99.9)), ms(pct(r.lags, 100)),
			ms(pct(r.tooks, 50)), ms(pct(r.tooks, 99)), r.cores(r.checkerCPU), r.perProbe(), r.cores(r.listenerCPU),
			max(0, r.cores(r.busyCPU-r.checkerCPU-r.listenerCPU)), r.maxInFlight, kept)
	}
	b.WriteString("\n")
	for _, r := range rows {
		n, late, rest := r.lateSeconds()
		fmt.Fprintf(&b, "- %s: %d of %d seconds had a probe start 100 ms or more late", r.label(), n, len(r.perSecond))
		if n > 0 {
			fmt.Fprintf(&b, " (other processes used %.2f cores on average in those seconds, %.2f in the others)", late, rest)
		}
		switch {
		case r.quiet:
			fmt.Fprintf(&b, "; started after waiting %v for a quiet machine", r.waited.Round(time.Second))
		case r.waited > 0:
			fmt.Fprintf(&b, "; started after waiting %v for a quiet machine in vain", r.waited.Round(time.Second))
		}
		fmt.Fprintf(&b, "; registering took %v; load average %s at the start, %s at the end; heap in use %.0f MB, %d goroutines.\n",
			r.registerTook.Round(time.Millisecond), r.loadBefore, r.loadAfter, r.heapMB, r.goroutines)
	}
	b.WriteString("\n\"Schedule kept\" means: every answering instance probed in every slot of the window (the count may " +
		"fall short by one slot per instance at the window's end), no slot of theirs skipped, no failed probe of theirs, " +
		"and p99 lag under 100 ms. Probes and lags count the answering instances only. In the black-holed row, " +
		"those instances point at a listener that accepts and never answers, so each of their probes holds a probe " +
		"slot for Route 53's 6 s; after their first probe they are in the slow lane, and their own slots are skipped " +
		"while they time out (the \"all\" count). CPU is user+system time over the window, from getrusage (the " +
		"checker, with the Cloud Map backend, in one process), /proc/PID/stat (the listeners) and /proc/stat (the " +
		"whole machine, less those two: other developers' builds and tests share this machine). The checker's and " +
		"the listeners' CPU is mostly the kernel's TCP work: every probe is a connect, a request, an answer and a close " +
		"on loopback, and both ends of it run here.\n")
	return b.String()
}

// num formats n with thousands separators.
func num(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func (r *result) label() string {
	if r.holes > 0 {
		return fmt.Sprintf("%s, %d of them black-holed", r.typ, r.holes)
	}
	return r.typ
}

// replaceSection writes body between the health markers of path, adding
// the markers at the end when they are missing.
func replaceSection(path, body string) error {
	const begin, end = "<!-- health:begin -->", "<!-- health:end -->"
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		if !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		s += "\n" + begin + "\n" + end + "\n"
		i, j = strings.Index(s, begin), strings.Index(s, end)
	}
	s = s[:i+len(begin)] + "\n" + body + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}
