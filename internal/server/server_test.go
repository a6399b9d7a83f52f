package server_test

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mapmesh/mapmesh/internal/server"
	"github.com/mapmesh/mapmesh/internal/server/servertest"
)

// listNamespaces makes one Cloud Map call on a connection of its own and
// returns its status.
func listNamespaces(t *testing.T, url string, timeout time.Duration) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "Route53AutoNaming_v20170314.ListNamespaces")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("ListNamespaces: %v", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// slowRequest sends a request that never finishes: its headers and then a
// declared 100 KB body one byte a second (or, with slowHeaders, its
// headers one byte a second). It returns how long the server took to close
// the connection, and the status line of the answer, if any.
func slowRequest(addr string, slowHeaders bool, wait time.Duration) (time.Duration, string, error) {
	start := time.Now()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	head := "POST / HTTP/1.1\r\nHost: mapmesh\r\nX-Amz-Target: Route53AutoNaming_v20170314.ListNamespaces\r\n" +
		"Content-Type: application/x-amz-json-1.1\r\nContent-Length: 102400\r\n\r\n{"
	drip := `"Pad":"` + strings.Repeat("x", 102400)
	if slowHeaders {
		drip = "X-Pad: " + strings.Repeat("x", 102400)
		head = "POST / HTTP/1.1\r\nHost: mapmesh\r\n"
	}
	if _, err := io.WriteString(c, head); err != nil {
		return 0, "", err
	}
	closed := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			select {
			case <-closed:
				return
			case <-time.After(time.Second):
			}
			if _, err := io.WriteString(c, drip[i:i+1]); err != nil {
				return
			}
		}
	}()
	defer close(closed)
	_ = c.SetReadDeadline(start.Add(wait))
	status, err := bufio.NewReader(c).ReadString('\n')
	if err == nil {
		_, err = io.Copy(io.Discard, c) // the rest of the answer, then the close
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return time.Since(start), status, fmt.Errorf("connection still open after %v", wait)
	}
	return time.Since(start), strings.TrimSpace(status), nil // EOF or reset: closed
}

// TestSlowRequestsAreCutOff: requests whose headers or body trickle in are
// cut off once --read-timeout has passed, never answered with a 5xx, and
// the API answers other clients meanwhile.
func TestSlowRequestsAreCutOff(t *testing.T) {
	if testing.Short() {
		t.Skip("holds hundreds of connections for seconds")
	}
	const (
		// readTimeout is long enough that ListNamespaces answers while
		// the slow requests are open even on a loaded machine.
		readTimeout = 5 * time.Second
		n           = 400
		// bound is how soon every slow request must be cut off. Without
		// the read timeout a slow body is never cut off. The slack is
		// for timers firing late on a loaded machine under -race (seen:
		// 5 s late at a load average of 12 on 2 cores); the log shows
		// the real figure, about readTimeout.
		bound = readTimeout + 10*time.Second
	)
	s := servertest.Start(t, server.Config{ReadTimeout: readTimeout})
	type result struct {
		after  time.Duration
		status string
		err    error
	}
	results := make(chan result, n)
	for i := range n {
		go func() {
			after, status, err := slowRequest(s.Addr, i%4 == 0, 3*bound)
			results <- result{after, status, err}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := os.Stat("/proc/net/tcp"); err == nil {
		_, p, _ := net.SplitHostPort(s.Addr)
		port, _ := strconv.Atoi(p)
		t.Logf("the server holds %d connections", heldAtOnce(t, port))
	}
	start := time.Now()
	if got := listNamespaces(t, s.URL, 10*time.Second); got != http.StatusOK {
		t.Errorf("ListNamespaces beside %d slow requests = %d; want 200", n, got)
	}
	if cut := len(results); cut == n {
		t.Errorf("every slow request was cut off before ListNamespaces answered (after %v); want it answered while they are open", time.Since(start))
	} else {
		t.Logf("ListNamespaces answered in %v while %d slow requests were open", time.Since(start), n-cut)
	}
	worst := time.Duration(0)
	answers := map[string]int{} // status line ("" when closed without one) -> count
	for range n {
		r := <-results
		if r.err != nil {
			t.Errorf("slow request: %v", r.err)
			continue
		}
		worst = max(worst, r.after)
		answers[r.status]++
		if r.after > bound {
			t.Errorf("slow request cut off after %v; want within %v of --read-timeout %v", r.after, bound, readTimeout)
		}
		if strings.HasPrefix(r.status, "HTTP/1.1 5") {
			t.Errorf("slow request answered %q; want the connection closed, or a 400", r.status)
		}
	}
	t.Logf("%d slow requests cut off within %v (--read-timeout %v); answers: %v", n, worst, readTimeout, answers)
	if got := listNamespaces(t, s.URL, 10*time.Second); got != http.StatusOK {
		t.Errorf("ListNamespaces after the slow requests = %d; want 200", got)
	}
}

// heldConnections returns the inodes of the TCP connections on local port
// that the process has accepted: /proc/net/tcp lists connections still
// waiting in the accept queue with inode 0. The file is read in pieces,
// not as a snapshot: a socket can be listed twice, or a socket closed
// during the read listed beside one accepted after it.
func heldConnections(t *testing.T, port int) map[string]bool {
	t.Helper()
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	suffix := fmt.Sprintf(":%04X", port)
	held := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		if len(f) < 10 || !strings.HasSuffix(f[1], suffix) || f[3] == "0A" || f[9] == "0" {
			continue
		}
		held[f[9]] = true
	}
	return held
}

// heldAtOnce returns how many connections on local port the process
// holds at one instant: two reads of heldConnections that list the same
// sockets. A socket lives once (its inode is not reused while it lives),
// so every socket both reads list was open between them.
func heldAtOnce(t *testing.T, port int) int {
	t.Helper()
	prev := heldConnections(t, port)
	for {
		cur := heldConnections(t, port)
		if maps.Equal(prev, cur) {
			return len(cur)
		}
		prev = cur
	}
}

// TestMaxConnections: with --max-connections, the API never holds more
// connections than that; the others wait to be accepted, and are served
// once slots free.
func TestMaxConnections(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("needs Linux's /proc/net/tcp to count accepted connections")
	}
	const limit = 4
	s := servertest.Start(t, server.Config{MaxConnections: limit, ReadTimeout: time.Second})
	_, p, _ := net.SplitHostPort(s.Addr)
	port, _ := strconv.Atoi(p)

	// Three times the limit of connections that send nothing: the server
	// takes them limit at a time and drops each after the read timeout.
	var idle []net.Conn
	for range 3 * limit {
		c, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()

	var mu sync.Mutex
	peak := 0
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			n := heldAtOnce(t, port)
			mu.Lock()
			peak = max(peak, n)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	// A call queued behind them is answered once they are gone.
	start := time.Now()
	got := listNamespaces(t, s.URL, 20*time.Second)
	waited := time.Since(start)
	close(stop)
	<-sampled
	if got != http.StatusOK {
		t.Errorf("ListNamespaces behind %d idle connections = %d; want 200", len(idle), got)
	}
	if peak != limit {
		t.Errorf("most API connections held at once = %d; want --max-connections %d", peak, limit)
	}
	t.Logf("ListNamespaces answered after %v behind %d idle connections; at most %d held", waited, len(idle), peak)
}
