package etcdtest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

const memberPkg = "github.com/mapmesh/mapmesh/internal/store/etcdstore/etcdtest/member"

// readyTimeout bounds the wait for a member to serve.
const readyTimeout = 60 * time.Second

// Cluster is an etcd cluster of member processes on 127.0.0.1.
type Cluster struct {
	t       testing.TB
	bin     string
	members []*member
}

type member struct {
	name, dir, clientURL, peerURL, log string
	cmd                                *exec.Cmd
	exited                             chan struct{}
}

// StartCluster builds the member program and starts an n-member cluster of
// it, each member a child process with its data under t.TempDir(). It
// returns once every member serves; the members are stopped when the test
// ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	dir := t.TempDir()
	c := &Cluster{t: t, bin: filepath.Join(dir, "member")}
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	if out, err := exec.Command(gobin, "build", "-o", c.bin, memberPkg).CombinedOutput(); err != nil {
		t.Fatalf("etcdtest: go build %s: %v\n%s", memberPkg, err, out)
	}
	ports, err := FreePorts(2 * n)
	if err != nil {
		t.Fatal(err)
	}
	var initial []string
	for i := range n {
		m := &member{
			name:      fmt.Sprintf("m%d", i),
			dir:       filepath.Join(dir, fmt.Sprintf("m%d", i)),
			clientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]),
			peerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
			log:       filepath.Join(dir, fmt.Sprintf("m%d.log", i)),
		}
		c.members = append(c.members, m)
		initial = append(initial, m.name+"="+m.peerURL)
	}
	t.Cleanup(c.stop)
	// Members of a new cluster are ready only once they have a leader:
	// start them all, then wait.
	ready := make([]<-chan error, n)
	for i, m := range c.members {
		ready[i] = c.start(m, strings.Join(initial, ","))
	}
	for i, r := range ready {
		if err := <-r; err != nil {
			t.Fatalf("etcdtest: member %d: %v", i, err)
		}
	}
	return c
}

// Endpoints returns the members' client URLs.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.clientURL)
	}
	return eps
}

// Kill kills member i with SIGKILL and waits until it has exited.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	m := c.members[i]
	if m.cmd == nil {
		c.t.Fatalf("etcdtest: member %d is not running", i)
	}
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.exited
	m.cmd = nil
}

// Restart starts member i again on its data directory and waits until it
// serves.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.RestartMembers(i)
}

// RestartMembers starts the stopped members is at once, each on its data
// directory, and waits until all serve. A member serves only once the
// cluster has a leader: a cluster that lost its quorum needs enough of its
// members back together.
func (c *Cluster) RestartMembers(is ...int) {
	c.t.Helper()
	var initial []string
	for _, o := range c.members {
		initial = append(initial, o.name+"="+o.peerURL)
	}
	ready := make([]<-chan error, len(is))
	for k, i := range is {
		if c.members[i].cmd != nil {
			c.t.Fatalf("etcdtest: member %d is running", i)
		}
		ready[k] = c.start(c.members[i], strings.Join(initial, ","))
	}
	for k, r := range ready {
		if err := <-r; err != nil {
			c.t.Fatalf("etcdtest: restart member %d: %v", is[k], err)
		}
	}
}

// start starts m's process; the channel reports once it serves.
func (c *Cluster) start(m *member, initial string) <-chan error {
	ready := make(chan error, 1)
	logf, err := os.OpenFile(m.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		ready <- err
		return ready
	}
	cmd := exec.Command(c.bin, "-name", m.name, "-data-dir", m.dir,
		"-client-url", m.clientURL, "-peer-url", m.peerURL, "-initial-cluster", initial)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		_ = logf.Close()
		ready <- err
		return ready
	}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		ready <- err
		return ready
	}
	m.cmd = cmd
	exited := make(chan struct{})
	m.exited = exited
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	go func() {
		defer close(exited)
		defer logf.Close()
		timeout := time.After(readyTimeout)
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					ready <- fmt.Errorf("exited before serving (%v); log in %s:\n%s", cmd.Wait(), m.log, tail(m.log))
					return
				}
				if line == "ready" {
					ready <- nil
					for range lines {
					}
					_ = cmd.Wait()
					return
				}
			case <-timeout:
				ready <- fmt.Errorf("not serving after %v; log in %s:\n%s", readyTimeout, m.log, tail(m.log))
				_ = cmd.Process.Kill()
				for range lines {
				}
				_ = cmd.Wait()
				return
			}
		}
	}()
	return ready
}

// stop ends every running member with SIGTERM (SIGKILL after 10 s).
func (c *Cluster) stop() {
	for _, m := range c.members {
		if m.cmd != nil {
			_ = m.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, m := range c.members {
		if m.cmd == nil {
			continue
		}
		select {
		case <-m.exited:
		case <-time.After(10 * time.Second):
			_ = m.cmd.Process.Kill()
			<-m.exited
		}
		m.cmd = nil
	}
}

// tail returns the end of a log file.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}
