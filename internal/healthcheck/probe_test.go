package healthcheck

import (
	"context"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// addrOf returns a test server's address.
func addrOf(t *testing.T, s *httptest.Server) netip.AddrPort {
	t.Helper()
	return netip.MustParseAddrPort(s.Listener.Addr().String())
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	return a
}

func TestNetProbeHTTP(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.Host+" "+r.URL.RequestURI()+" "+r.UserAgent())
		mu.Unlock()
		code, err := strconv.Atoi(r.URL.Query().Get("code"))
		if err != nil {
			code = 200
		}
		if code >= 300 && code < 400 {
			w.Header().Set("Location", "/?code=500")
		}
		w.WriteHeader(code)
	})
	plain := httptest.NewServer(h)
	defer plain.Close()
	tlsSrv := httptest.NewUnstartedServer(h)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the plain HTTP probe's handshake error
	tlsSrv.StartTLS()                                   // a self-signed certificate
	defer tlsSrv.Close()

	p := newNetProber(0)
	for _, tc := range []struct {
		name string
		t    target
		ok   bool
	}{
		{"HTTP 200", target{Type: "HTTP", Addr: addrOf(t, plain)}, true},
		{"HTTP 204", target{Type: "HTTP", Addr: addrOf(t, plain), Path: "/?code=204"}, true},
		{"HTTP 301 is not followed", target{Type: "HTTP", Addr: addrOf(t, plain), Path: "/?code=301"}, true},
		{"HTTP 399", target{Type: "HTTP", Addr: addrOf(t, plain), Path: "/?code=399"}, true},
		{"HTTP 400", target{Type: "HTTP", Addr: addrOf(t, plain), Path: "/?code=400"}, false},
		{"HTTP 404", target{Type: "HTTP", Addr: addrOf(t, plain), Path: "/?code=404"}, false},
		{"HTTP 503", target{Type: "HTTP", Addr: addrOf(t, plain), Path: "/?code=503"}, false},
		{"HTTP path without slash", target{Type: "HTTP", Addr: addrOf(t, plain), Path: "health"}, true},
		{"HTTP closed port", target{Type: "HTTP", Addr: closedPort(t)}, false},
		{"HTTP to a TLS server", target{Type: "HTTP", Addr: addrOf(t, tlsSrv)}, false},
		{"HTTPS self-signed 200", target{Type: "HTTPS", Addr: addrOf(t, tlsSrv)}, true},
		{"HTTPS 500", target{Type: "HTTPS", Addr: addrOf(t, tlsSrv), Path: "/?code=500"}, false},
		{"HTTPS to a plain server", target{Type: "HTTPS", Addr: addrOf(t, plain)}, false},
		{"TCP open", target{Type: "TCP", Addr: addrOf(t, plain)}, true},
		{"TCP closed", target{Type: "TCP", Addr: closedPort(t)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tc.t.timeout(0))
			defer cancel()
			err := p.probe(ctx, tc.t)
			if (err == nil) != tc.ok {
				t.Errorf("probe(%+v) = %v; want ok %v", tc.t, err, tc.ok)
			}
		})
	}

	// The request: GET of the path, the Host given, or the address.
	mu.Lock()
	seen = nil
	mu.Unlock()
	a := addrOf(t, plain)
	if err := p.probe(context.Background(), target{Type: "HTTP", Addr: a, Path: "/status?x=1", Host: "web.example.com:8080"}); err != nil {
		t.Fatal(err)
	}
	if err := p.probe(context.Background(), target{Type: "HTTP", Addr: a}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"GET web.example.com:8080 /status?x=1 " + userAgent, "GET " + a.String() + " / " + userAgent}
	if len(seen) != 2 || seen[0] != want[0] || seen[1] != want[1] {
		t.Errorf("requests = %q; want %q", seen, want)
	}
}

// TestNetProbeTimeout: a server that accepts but never answers fails the
// probe at its deadline.
func TestNetProbeTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns sync.WaitGroup
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				<-done
				c.Close()
			}()
		}
	}()
	a := netip.MustParseAddrPort(ln.Addr().String())
	for _, typ := range []string{"HTTP", "HTTPS"} {
		t.Run(typ, func(t *testing.T) {
			p := newNetProber(200 * time.Millisecond)
			tg := target{Type: typ, Addr: a}
			ctx, cancel := context.WithTimeout(context.Background(), tg.timeout(p.limit))
			defer cancel()
			start := time.Now()
			err := p.probe(ctx, tg)
			if took := time.Since(start); err == nil || took < 150*time.Millisecond || took > 2*time.Second {
				t.Errorf("probe of a silent server = %v after %v; want a timeout after about 200ms", err, took)
			}
		})
	}
	// Cancelling the context ends a probe at once.
	p := newNetProber(0)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	if err := p.probe(ctx, target{Type: "HTTP", Addr: a}); err == nil || time.Since(start) > time.Second {
		t.Errorf("cancelled probe = %v after %v; want an error within 1s", err, time.Since(start))
	}
}

func TestTimeouts(t *testing.T) {
	for _, tc := range []struct {
		typ   string
		limit time.Duration
		want  time.Duration
	}{
		{"HTTP", 0, 6 * time.Second},
		{"HTTPS", 0, 6 * time.Second},
		{"TCP", 0, 10 * time.Second},
		{"HTTP", time.Second, time.Second},
		{"TCP", time.Minute, 10 * time.Second},
	} {
		tg := target{Type: tc.typ}
		if got := tg.timeout(tc.limit); got != tc.want {
			t.Errorf("timeout(%s, limit %v) = %v; want %v", tc.typ, tc.limit, got, tc.want)
		}
	}
}

func TestTargetAddr(t *testing.T) {
	for _, tc := range []struct {
		attrs map[string]string
		want  string // "" when there is nothing to probe
	}{
		{map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "80"}, "10.0.0.1:80"},
		{map[string]string{"AWS_INSTANCE_IPV6": "2001:db8::1", "AWS_INSTANCE_PORT": "443"}, "[2001:db8::1]:443"},
		{map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_IPV6": "2001:db8::1", "AWS_INSTANCE_PORT": "80"}, "10.0.0.1:80"},
		{map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1"}, ""},
		{map[string]string{"AWS_INSTANCE_PORT": "80"}, ""},
		{map[string]string{"AWS_ALIAS_DNS_NAME": "lb.example.com"}, ""},
		{map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "0"}, ""},
		{map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "65536"}, ""},
		{map[string]string{"AWS_INSTANCE_IPV4": "bogus", "AWS_INSTANCE_PORT": "80"}, ""},
	} {
		a, ok := targetAddr(cloudmap.EncodeAttributes(tc.attrs))
		got := ""
		if ok {
			got = a.String()
		}
		if got != tc.want {
			t.Errorf("targetAddr(%v) = %q; want %q", tc.attrs, got, tc.want)
		}
	}
}

func TestHostHeader(t *testing.T) {
	for _, tc := range []struct {
		typ, name string
		port      uint16
		want      string
	}{
		{"HTTP", "web.example.com", 80, "web.example.com"},
		{"HTTP", "web.example.com", 8080, "web.example.com:8080"},
		{"HTTPS", "web.example.com", 443, "web.example.com"},
		{"HTTPS", "web.example.com", 80, "web.example.com:80"},
		{"HTTP", "", 80, ""},
	} {
		if got := hostHeader(tc.typ, tc.name, tc.port); got != tc.want {
			t.Errorf("hostHeader(%s, %q, %d) = %q; want %q", tc.typ, tc.name, tc.port, got, tc.want)
		}
	}
}

func TestParsePrefixes(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{"10.0.0.0/8", []string{"10.0.0.0/8"}, false},
		{" 10.1.2.3/8 , 192.0.2.7,2001:db8::/32 ", []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"}, false},
		{"10.0.0.0/33", nil, true},
		{"example.com", nil, true},
	} {
		got, err := ParsePrefixes(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParsePrefixes(%q) error = %v; want error %v", tc.in, err, tc.wantErr)
			continue
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if len(s) != len(tc.want) {
			t.Errorf("ParsePrefixes(%q) = %v; want %v", tc.in, s, tc.want)
			continue
		}
		for i := range s {
			if s[i] != tc.want[i] {
				t.Errorf("ParsePrefixes(%q) = %v; want %v", tc.in, s, tc.want)
			}
		}
	}
}

// TestPolicy: which targets health checks may contact, by precedence: own
// listeners, denied, allowed, the default denied, then the allowed list.
func TestPolicy(t *testing.T) {
	ten, _ := ParsePrefixes("10.0.0.0/8")
	lo, _ := ParsePrefixes("127.0.0.0/8,::1")
	deny, _ := ParsePrefixes("10.9.0.0/16")
	for _, tc := range []struct {
		name            string
		allowed, denied []netip.Prefix
		own             []net.Addr
		target          string
		want            bool
	}{
		{"public address, no lists", nil, nil, nil, "192.0.2.1:80", true},
		{"private address, no lists", nil, nil, nil, "10.1.2.3:80", true},
		{"loopback by default", nil, nil, nil, "127.0.0.1:22", false},
		{"IPv4-mapped loopback", nil, nil, nil, "[::ffff:127.0.0.1]:22", false},
		{"IPv6 loopback", nil, nil, nil, "[::1]:80", false},
		{"instance metadata", nil, nil, nil, "169.254.169.254:80", false},
		{"IPv6 instance metadata", nil, nil, nil, "[fd00:ec2::254]:80", false},
		{"link-local", nil, nil, nil, "[fe80::1]:80", false},
		{"this network", nil, nil, nil, "0.0.0.0:80", false},
		{"allowed list: inside", ten, nil, nil, "10.9.9.9:80", true},
		{"allowed list: outside", ten, nil, nil, "192.0.2.1:80", false},
		{"allowed list widens loopback", lo, nil, nil, "127.0.0.1:8080", true},
		{"denied inside allowed", ten, deny, nil, "10.9.1.1:80", false},
		{"denied alone", nil, deny, nil, "10.9.1.1:80", false},
		{"own listener even when loopback is allowed", lo, nil, []net.Addr{tcpAddr("127.0.0.1:9711")}, "127.0.0.1:9711", false},
		{"own listener's other port", lo, nil, []net.Addr{tcpAddr("127.0.0.1:9711")}, "127.0.0.1:9712", true},
		{"own listener on all addresses", lo, nil, []net.Addr{tcpAddr("0.0.0.0:9754")}, "127.0.0.2:9754", false},
		{"own listener on all addresses, IPv6", lo, nil, []net.Addr{tcpAddr("[::]:9753")}, "[::1]:9753", false},
	} {
		p := &policy{allowed: tc.allowed, denied: tc.denied}
		if tc.own != nil {
			p.setOwn(tc.own)
		}
		why := p.refusal(netip.MustParseAddrPort(tc.target))
		if (why == "") != tc.want {
			t.Errorf("%s: refusal(%s) = %q; want allowed %v", tc.name, tc.target, why, tc.want)
		}
	}
}

func tcpAddr(s string) net.Addr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		panic(err)
	}
	return a
}

func TestParseStatusLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		want int // -1: an error
	}{
		{"HTTP/1.1 200 OK", 200},
		{"HTTP/1.0 302 Found", 302},
		{"HTTP/1.1 204", 204},
		{"HTTP/1.1 399 Whatever", 399},
		{"HTTP/2 200 OK", -1},
		{"HTTP/1.1 20 OK", -1},
		{"HTTP/1.1 2000 OK", -1},
		{"HTTP/1.1 2x0 OK", -1},
		{"SSH-2.0-OpenSSH_9.6", -1},
		{"", -1},
	} {
		got, err := parseStatusLine([]byte(tc.line))
		if err != nil {
			got = -1
		}
		if got != tc.want {
			t.Errorf("parseStatusLine(%q) = %d, %v; want %d", tc.line, got, err, tc.want)
		}
	}
}

func TestProbeRequest(t *testing.T) {
	a := netip.MustParseAddrPort("10.0.0.1:8080")
	for _, tc := range []struct {
		path, host string
		want       string // "" for an error
	}{
		{"", "", "GET / HTTP/1.1\r\nHost: 10.0.0.1:8080\r\n"},
		{"/health?full=1", "web.example.com:8080", "GET /health?full=1 HTTP/1.1\r\nHost: web.example.com:8080\r\n"},
		{"status", "", "GET /status HTTP/1.1\r\n"},
		{"/a b", "", "GET /a%20b HTTP/1.1\r\n"},
		{"/x\r\nX-Injected: 1", "", ""},
	} {
		got, err := probeRequest(target{Type: "HTTP", Addr: a, Path: tc.path, Host: tc.host})
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("probeRequest(%q) = %q; want an error", tc.path, got)
		case tc.want != "" && (err != nil || !strings.HasPrefix(got, tc.want) || !strings.HasSuffix(got, "\r\nConnection: close\r\n\r\n")):
			t.Errorf("probeRequest(%q, %q) = %q, %v; want it to start with %q", tc.path, tc.host, got, err, tc.want)
		}
	}
}
