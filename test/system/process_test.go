//go:build e2e

package system

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The binary under test: built once per run of the package, or
// MAPMESH_BIN.
var (
	buildOnce sync.Once
	buildDir  string
	builtBin  string
	buildErr  error
	helpText  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binary returns the mapmesh binary, building it on first use. Every test
// of this package runs real processes, so -short skips them.
func binary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the real mapmesh binary")
	}
	buildOnce.Do(func() {
		if b := os.Getenv("MAPMESH_BIN"); b != "" {
			builtBin = b
		} else {
			buildDir, buildErr = os.MkdirTemp("", "mapmesh-system-")
			if buildErr != nil {
				return
			}
			builtBin = filepath.Join(buildDir, "mapmesh")
			out, err := exec.Command("go", "build", "-o", builtBin, "github.com/mapmesh/mapmesh/cmd/mapmesh").CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go build ./cmd/mapmesh: %v\n%s", err, out)
				return
			}
		}
		out, _ := exec.Command(builtBin, "--help").CombinedOutput()
		helpText = string(out)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// requireFlags skips t when the binary does not know one of flags (named
// without dashes).
func requireFlags(t testing.TB, flags ...string) {
	t.Helper()
	binary(t)
	for _, f := range flags {
		if !strings.Contains(helpText, "-"+f+" ") && !strings.Contains(helpText, "-"+f+"\n") {
			t.Skipf("mapmesh does not know the flag --%s yet (not in `mapmesh --help`); this test needs it", f)
		}
	}
}

// proc is a running mapmesh process.
type proc struct {
	t       testing.TB
	bin     string
	args    []string
	dataDir string
	cmd     *exec.Cmd
	// API, DNS and xDS listen addresses, from the log.
	apiAddr, dnsAddr, xdsAddr string
	url                       string
	log                       *logTail
	exited                    chan struct{} // closed when the process has exited
	exitErr                   error         // set before exited is closed
}

// config says how to run mapmesh.
type config struct {
	dataDir string // t.TempDir() when empty
	dns     bool   // serve DNS on 127.0.0.1:0
	xds     bool   // serve xDS on 127.0.0.1:0
	args    []string
}

// start runs mapmesh and waits until it serves. The process is killed
// when t ends, and its log's tail is shown when t failed.
func start(t testing.TB, c config) *proc {
	t.Helper()
	p, err := startErr(t, c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startErr is start returning why mapmesh did not come up.
func startErr(t testing.TB, c config) (*proc, error) {
	t.Helper()
	bin := binary(t)
	if c.dataDir == "" {
		c.dataDir = t.TempDir()
	}
	args := []string{"--api-addr", "127.0.0.1:0", "--data-dir", c.dataDir, "--log-format", "text"}
	if c.dns {
		args = append(args, "--dns-addr", "127.0.0.1:0")
	} else {
		args = append(args, "--dns-addr", "")
	}
	if c.xds {
		args = append(args, "--xds-addr", "127.0.0.1:0")
	} else {
		args = append(args, "--xds-addr", "")
	}
	// The load is far above AWS's request rates; the throttling tests
	// turn it back on.
	args = append(args, "--throttle", "off")
	args = append(args, c.args...)
	p := &proc{t: t, bin: bin, args: args, dataDir: c.dataDir, log: &logTail{}}
	if err := p.run(); err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			p.logSummary()
		}
	})
	return p, nil
}

func (p *proc) run() error {
	cmd := exec.Command(p.bin, p.args...)
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
	case <-time.After(30 * time.Second):
		p.kill()
		return fmt.Errorf("mapmesh %s did not log that it listens within 30s\n%s", strings.Join(p.args, " "), p.log.tail(20))
	}
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
	msg := "mapmesh " + strings.Join(p.args, " ")
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

// restart starts the same command again (same data directory and flags;
// new ports) after the process exited.
func (p *proc) restart() {
	p.t.Helper()
	p.kill()
	p.log.add("---- restart ----")
	if err := p.run(); err != nil {
		p.t.Fatal(err)
	}
}

// alive reports whether the process is still running.
func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// logTail keeps the last lines of a process's log.
type logTail struct {
	mu    sync.Mutex // guards lines and n
	lines []string
	n     int
}

const logTailLines = 400

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

// tail returns the last n lines.
func (l *logTail) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	total := len(l.lines)
	for i := max(0, total-n); i < total; i++ {
		idx := i
		if l.n > logTailLines {
			idx = (l.n + i) % logTailLines
		}
		out = append(out, l.lines[idx])
	}
	return strings.Join(out, "\n")
}

// grep returns the kept lines containing s.
func (l *logTail) grep(s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}
