package healthcheck

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Route 53's timeouts: an HTTP or HTTPS check must connect within 4 s and
// get its status within 2 s after that; a TCP check must connect within
// 10 s.
const (
	httpConnectTimeout  = 4 * time.Second
	httpResponseTimeout = 2 * time.Second
	tcpConnectTimeout   = 10 * time.Second
)

// userAgent is sent by HTTP and HTTPS probes.
const userAgent = "mapmesh-health-check/1"

// errRefused is wrapped by the result of a probe whose target may not be
// probed (see policy): it fails without connecting, and makes the instance
// UNHEALTHY at once.
var errRefused = errors.New("healthcheck: target may not be probed")

// target is what one probe checks.
type target struct {
	Type string // HTTP, HTTPS or TCP
	Addr netip.AddrPort
	// Path is the ResourcePath ("/" when empty); Host the Host header
	// (the address when empty). Both unused by TCP.
	Path, Host string
}

// timeout is how long a probe of t may take in all.
func (t *target) timeout(limit time.Duration) time.Duration {
	d := httpConnectTimeout + httpResponseTimeout
	if t.Type == "TCP" {
		d = tcpConnectTimeout
	}
	if limit > 0 && limit < d {
		d = limit
	}
	return d
}

// prober runs one probe; nil means healthy. The context carries the
// probe's deadline. It is called on the probe's own goroutine.
type prober func(ctx context.Context, t target) error

// netProber probes over the network.
type netProber struct {
	// limit, if positive, bounds every phase (and the whole probe).
	limit time.Duration
	tls   *tls.Config
}

func newNetProber(limit time.Duration) *netProber {
	return &netProber{limit: limit, tls: &tls.Config{
		// Route 53 does not validate certificates, and accepts TLS 1.0.
		InsecureSkipVerify: true, //nolint:gosec // as Route 53 does; documented in docs/health.md
		MinVersion:         tls.VersionTLS10,
	}}
}

func (p *netProber) phase(d time.Duration) time.Duration {
	if p.limit > 0 && p.limit < d {
		return p.limit
	}
	return d
}

// probe implements prober.
func (p *netProber) probe(ctx context.Context, t target) error {
	switch t.Type {
	case "TCP":
		return p.tcp(ctx, t)
	case "HTTP", "HTTPS":
		return p.http(ctx, t)
	}
	return fmt.Errorf("healthcheck: unknown health check type %q", t.Type)
}

func (p *netProber) tcp(ctx context.Context, t target) error {
	d := net.Dialer{Timeout: p.phase(tcpConnectTimeout), KeepAlive: -1}
	c, err := d.DialTCP(ctx, "tcp", netip.AddrPort{}, t.Addr)
	if err != nil {
		return err
	}
	return closeReset(c)
}

// http connects within 4 s, then needs a status line with a 2xx or 3xx
// status within 2 s: a GET of the resource path on a fresh connection,
// closed once the status line is in. Only the status line is read (Route 53
// reads no more unless it searches the body for a string), and redirects
// are not followed.
func (p *netProber) http(ctx context.Context, t target) error {
	req, err := probeRequest(t)
	if err != nil {
		return err
	}
	d := net.Dialer{Timeout: p.phase(httpConnectTimeout), KeepAlive: -1}
	tc, err := d.DialTCP(ctx, "tcp", netip.AddrPort{}, t.Addr)
	if err != nil {
		return err
	}
	defer closeReset(tc) // the TCP connection: no TLS close_notify, the answer is in
	var c net.Conn = tc
	deadline := time.Now().Add(p.phase(httpResponseTimeout))
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	if err := c.SetDeadline(deadline); err != nil {
		return err
	}
	// The deadline ends the exchange when ctx ends early too.
	stop := context.AfterFunc(ctx, func() { _ = tc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if t.Type == "HTTPS" {
		sc := tls.Client(c, p.tls)
		c = sc
		if err := sc.Handshake(); err != nil {
			return err
		}
	}
	if _, err := io.WriteString(c, req); err != nil {
		return err
	}
	code, err := readStatus(c)
	if err != nil {
		return err
	}
	if code < 200 || code > 399 {
		return fmt.Errorf("healthcheck: status %d", code)
	}
	return nil
}

// closeReset closes a probe's connection with a reset (SO_LINGER 0), as
// HAProxy's health checks do: the probe has its answer, and no socket is
// left in TIME_WAIT (at 10,000 probes a second a normal close would keep
// some 600,000 of them on the checker's host).
func closeReset(c *net.TCPConn) error {
	_ = c.SetLinger(0)
	return c.Close()
}

// probeRequest returns the request of an HTTP or HTTPS probe: a GET of the
// resource path (escaped; "/" when empty) with the check's Host header.
func probeRequest(t target) (string, error) {
	path := t.Path
	if path == "" {
		path = "/"
	} else if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u, err := url.Parse(path)
	if err != nil {
		return "", fmt.Errorf("healthcheck: resource path %q: %w", t.Path, err)
	}
	host := t.Host
	if host == "" {
		host = t.Addr.String()
	}
	return "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: " + userAgent +
		"\r\nConnection: close\r\n\r\n", nil
}

// statusLineMax bounds the bytes read looking for the status line.
const statusLineMax = 512

// readStatus reads an HTTP/1.x status line and returns its code.
func readStatus(r io.Reader) (int, error) {
	var buf [statusLineMax]byte
	n := 0
	for {
		m, err := r.Read(buf[n:])
		n += m
		if i := bytes.Index(buf[:n], []byte("\r\n")); i >= 0 {
			return parseStatusLine(buf[:i])
		}
		if n == len(buf) {
			return 0, errors.New("healthcheck: no status line in the first 512 bytes")
		}
		if err != nil {
			return 0, fmt.Errorf("healthcheck: reading the status line: %w", err)
		}
	}
}

// parseStatusLine returns the code of "HTTP/1.x NNN reason".
func parseStatusLine(line []byte) (int, error) {
	proto, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok || !bytes.HasPrefix(proto, []byte("HTTP/1.")) || len(rest) < 3 || (len(rest) > 3 && rest[3] != ' ') {
		return 0, fmt.Errorf("healthcheck: malformed status line %q", line)
	}
	code := 0
	for _, c := range rest[:3] {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("healthcheck: malformed status line %q", line)
		}
		code = code*10 + int(c-'0')
	}
	return code, nil
}

// hostHeader is the Host header of a check: the service's DNS name in a DNS
// namespace (with the port unless it is the scheme's default), as Route 53
// sends "the DNS name for the service"; empty (the address) otherwise.
func hostHeader(typ, dnsName string, port uint16) string {
	if dnsName == "" {
		return ""
	}
	if (typ == "HTTP" && port == 80) || (typ == "HTTPS" && port == 443) {
		return dnsName
	}
	return net.JoinHostPort(dnsName, strconv.Itoa(int(port)))
}

// targetAddr returns the address a check probes: AWS_INSTANCE_IPV4 (or
// AWS_INSTANCE_IPV6 when there is no IPv4) at AWS_INSTANCE_PORT, and false
// when the instance has none (an alias, an EC2 instance ID, or attributes
// from before the service had a health check).
func targetAddr(attrs cloudmap.Attributes) (netip.AddrPort, bool) {
	ps, ok := attrs.Get("AWS_INSTANCE_PORT")
	if !ok {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, false
	}
	ip, ok := attrs.Get("AWS_INSTANCE_IPV4")
	if !ok {
		ip, ok = attrs.Get("AWS_INSTANCE_IPV6")
	}
	if !ok {
		return netip.AddrPort{}, false
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), true
}

// ParsePrefixes parses a comma-separated list of CIDR prefixes or single
// addresses (the --health-allowed-cidrs flag). Empty means any address.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("healthcheck: %q is neither a CIDR prefix nor an address", f)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
