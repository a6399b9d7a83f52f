//go:build etcd

package cluster

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mapmesh/mapmesh/internal/store/etcdstore/etcdtest"
)

// The binary under test: built once per run of the package, or
// MAPMESH_BIN.
var (
	buildOnce sync.Once
	buildDir  string
	builtBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binary returns the mapmesh binary, building it on first use.
func binary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs etcd and the real mapmesh binary")
	}
	buildOnce.Do(func() {
		if b := os.Getenv("MAPMESH_BIN"); b != "" {
			builtBin = b
			return
		}
		buildDir, buildErr = os.MkdirTemp("", "mapmesh-cluster-")
		if buildErr != nil {
			return
		}
		builtBin = filepath.Join(buildDir, "mapmesh")
		out, err := exec.Command("go", "build", "-o", builtBin, "github.com/mapmesh/mapmesh/cmd/mapmesh").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/mapmesh: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// Settings of every server of these tests.
const (
	interval   = time.Second     // --health-interval
	ttl        = 2 * time.Second // --cluster-ttl
	etcdBound  = 2 * time.Second // --etcd-request-timeout
	startBound = 60 * time.Second
)

// proc is a running mapmesh server of the cluster.
type proc struct {
	t    testing.TB
	id   string // --node-id
	args []string
	cmd  *exec.Cmd
	// API, DNS and xDS listen addresses, from the log.
	apiAddr, dnsAddr, xdsAddr string
	url                       string
	log                       *logTail
	exited                    chan struct{} // closed when the process has exited
	exitErr                   error         // set before exited is closed
}

// startServer runs a mapmesh server named id on the etcd cluster, with
// its API, DNS and xDS on free loopback ports, and waits until it serves.
// The process is killed when t ends, and its log's warnings and tail are
// shown when t failed.
func startServer(t testing.TB, etcd *etcdtest.Cluster, id string, extra ...string) *proc {
	t.Helper()
	args := []string{"--store", "etcd", "--etcd-endpoints", strings.Join(etcd.Endpoints(), ","),
		"--node-id", id, "--data-dir", t.TempDir(),
		"--api-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0", "--xds-addr", "127.0.0.1:0",
		"--throttle", "off", "--health-interval", interval.String(), "--health-allowed-cidrs", "127.0.0.0/8",
		"--cluster-ttl", ttl.String(), "--etcd-request-timeout", etcdBound.String(), "--log-format", "text"}
	args = append(args, extra...)
	p := &proc{t: t, id: id, args: args, log: &logTail{}}
	if err := p.run(binary(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			p.logSummary()
		}
	})
	return p
}

// startServers starts one server per id, and waits until each sees all of
// them as members.
func startServers(t testing.TB, etcd *etcdtest.Cluster, ids []string, extra ...string) []*proc {
	t.Helper()
	var ps []*proc
	for _, id := range ids {
		ps = append(ps, startServer(t, etcd, id, extra...))
	}
	for _, p := range ps {
		p.waitMembers(ids, 30*time.Second)
	}
	return ps
}

func (p *proc) run(bin string) error {
	cmd := exec.Command(bin, p.args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return err
	}
	p.cmd = cmd
	p.exited = make(chan struct{})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			p.log.add(line)
			if signalled {
				continue
			}
			if v := field(line, "dns_addr="); v != "" && strings.Contains(line, "DNS listening") {
				p.dnsAddr = v
			}
			if v := field(line, "xds_addr="); v != "" && strings.Contains(line, "xDS listening") {
				p.xdsAddr = v
			}
			if v := field(line, "api_addr="); v != "" && strings.Contains(line, "mapmesh listening") {
				p.apiAddr = v
				signalled = true
				close(ready)
			}
		}
		p.exitErr = cmd.Wait()
		close(p.exited)
	}()
	select {
	case <-ready:
		p.url = "http://" + p.apiAddr
		return nil
	case <-p.exited:
		return fmt.Errorf("mapmesh %s exited before serving: %v\n%s", strings.Join(p.args, " "), p.exitErr, p.log.tail(20))
	case <-time.After(startBound):
		p.kill()
		return fmt.Errorf("mapmesh %s did not log that it listens within %v\n%s", strings.Join(p.args, " "), startBound, p.log.tail(20))
	}
}

// members returns the members the server last logged, sorted: from
// "joined the cluster ... members=a,b" and "cluster: members changed
// members=a,b".
func (p *proc) members() []string {
	var last string
	for _, line := range p.log.grep("members=") {
		if strings.Contains(line, "joined the cluster") || strings.Contains(line, "members changed") {
			last = field(line, "members=")
		}
	}
	if last == "" {
		return nil
	}
	ms := strings.Split(last, ",")
	slices.Sort(ms)
	return ms
}

// waitMembers waits until the server's log says its members are ids.
func (p *proc) waitMembers(ids []string, timeout time.Duration) time.Duration {
	p.t.Helper()
	want := slices.Sorted(slices.Values(ids))
	start := time.Now()
	for !slices.Equal(p.members(), want) {
		if time.Since(start) > timeout {
			p.t.Fatalf("server %s sees members %v after %v; want %v", p.id, p.members(), timeout, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// logSummary logs the process's warnings and errors (the first 20 kept)
// and its last lines.
func (p *proc) logSummary() {
	p.t.Helper()
	var warn []string
	for _, lvl := range []string{"level=WARN", "level=ERROR"} {
		warn = append(warn, p.log.grep(lvl)...)
	}
	if len(warn) > 20 {
		warn = append(warn[:20], fmt.Sprintf("... %d more", len(warn)-20))
	}
	msg := "mapmesh " + p.id
	if len(warn) > 0 {
		msg += "\nlog warnings and errors:\n" + strings.Join(warn, "\n")
	}
	if tail := p.log.tail(8); tail != "" {
		msg += "\nlast log lines:\n" + tail
	}
	p.t.Log(msg)
}

// field returns the value of key (like "api_addr=") in a text log line.
func field(line, key string) string {
	i := strings.Index(line, key)
	if i < 0 {
		return ""
	}
	f := strings.Fields(line[i+len(key):])
	if len(f) == 0 {
		return ""
	}
	return strings.Trim(f[0], `"`)
}

// kill sends SIGKILL and waits for the process to exit.
func (p *proc) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// logTail keeps the last lines of a process's log.
type logTail struct {
	mu    sync.Mutex // guards lines and n
	lines []string
	n     int
}

const logTailLines = 2000

func (l *logTail) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) < logTailLines {
		l.lines = append(l.lines, line)
	} else {
		l.lines[l.n%logTailLines] = line
	}
	l.n++
}

// orderedLocked returns the kept lines, oldest first. Called with mu held.
func (l *logTail) orderedLocked() []string {
	if l.n <= logTailLines {
		return slices.Clone(l.lines)
	}
	i := l.n % logTailLines
	return append(slices.Clone(l.lines[i:]), l.lines[:i]...)
}

// tail returns the last n lines.
func (l *logTail) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := l.orderedLocked()
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// grep returns the kept lines containing s, oldest first.
func (l *logTail) grep(s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.orderedLocked() {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}
