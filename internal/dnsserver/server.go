package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/netutil"
)

// DefaultInterval is the average least time between two rebuilds of the
// view: at most 200 rebuilds a second (after a burst of 4), however many
// changes arrive.
const DefaultInterval = 5 * time.Millisecond

// DefaultMaxTCPConnections bounds the DNS-over-TCP connections served at
// once unless Config says otherwise.
const DefaultMaxTCPConnections = 1024

// Bounds of a DNS-over-TCP connection (RFC 7766 section 6.2.3 leaves them to
// the server): a connection is closed when a query takes longer than
// tcpReadTimeout to arrive whole (the first) or tcpIdleTimeout (the next
// ones), when an answer takes longer than tcpWriteTimeout to write (a
// client that does not read), or after tcpMaxQueries queries. The read
// bounds and the query count are miekg/dns's defaults, set here so that a
// change of library default cannot unbound them; the write bound is ours
// (deadlineListener): miekg/dns documents Server.WriteTimeout but does not
// apply it.
const (
	tcpReadTimeout  = 2 * time.Second
	tcpIdleTimeout  = 8 * time.Second
	tcpWriteTimeout = 2 * time.Second
	tcpMaxQueries   = 128
)

// Config configures a Server.
type Config struct {
	// Interval is the average least time between two rebuilds of the
	// view (DefaultInterval when 0): changes that arrive faster are
	// applied together.
	Interval time.Duration
	// Now is the clock health is evaluated with (time.Now when nil); it
	// must be the clock the Cloud Map backend uses.
	Now func() time.Time
	// MaxTCPConnections bounds the TCP connections served at once
	// (DefaultMaxTCPConnections when 0; negative: no bound). Further
	// connections wait in the kernel's accept queue until one closes.
	MaxTCPConnections int
	// SelfNames are names answered with SelfAddrs (A and AAAA records,
	// TTL 60), each the apex of a zone of its own, ahead of every
	// namespace: mapmesh's own names, for clients that resolve through
	// it. Names CheckSelfName refuses are left out.
	SelfNames []string
	SelfAddrs []netip.Addr
	Logger    *slog.Logger
}

// Server answers DNS queries for the DNS namespaces of a Source. New builds
// its view and keeps it current; Listen serves it on UDP and TCP; Close stops
// both.
type Server struct {
	now     func() time.Time
	log     *slog.Logger
	view    atomic.Pointer[view]
	self    *view // the self names (nil: none); never changes
	b       *builder
	metrics Metrics
	cancel  context.CancelFunc
	done    chan struct{} // closed when the builder's run returns

	mu      sync.Mutex // guards servers, addr, closed
	servers []*dns.Server
	addr    net.Addr
	closed  bool

	maxTCP int
}

// New subscribes to src, builds the first view from it, and keeps the view
// current until Close. It does not listen: see Listen.
func New(src Source, cfg Config) *Server {
	s := &Server{now: cfg.Now, log: cfg.Logger, done: make(chan struct{}), maxTCP: cfg.MaxTCPConnections,
		self: newSelfView(cfg.SelfNames, cfg.SelfAddrs)}
	if s.maxTCP == 0 {
		s.maxTCP = DefaultMaxTCPConnections
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	s.b = newBuilder(src, s.now, s.log, cfg.Interval, s.view.Store)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		defer close(s.done)
		s.b.run(ctx)
	}()
	return s
}

// Listen serves DNS on addr (host:port) over UDP and TCP, on the same port;
// port 0 picks a free one (see Addr). It returns once both listeners
// serve, or an error when addr cannot be bound (a port taken, for one).
func (s *Server) Listen(addr string) error {
	pc, ln, err := listen(addr)
	if err != nil {
		return err
	}
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	accept := func(dh dns.Header) dns.MsgAcceptAction {
		a := dns.DefaultMsgAcceptFunc(dh)
		switch a {
		case dns.MsgReject:
			s.metrics.Observe(0, dns.RcodeFormatError)
		case dns.MsgRejectNotImplemented:
			s.metrics.Observe(0, dns.RcodeNotImplemented)
		}
		return a
	}
	udp := &dns.Server{PacketConn: pc, Handler: s, UDPSize: dns.DefaultMsgSize, NotifyStartedFunc: notify, MsgAcceptFunc: accept}
	ln = deadlineListener{ln}
	if s.maxTCP > 0 {
		ln = netutil.LimitListener(ln, s.maxTCP)
	}
	tcp := &dns.Server{Listener: ln, Handler: s, NotifyStartedFunc: notify, MsgAcceptFunc: accept,
		ReadTimeout: tcpReadTimeout, IdleTimeout: func() time.Duration { return tcpIdleTimeout }, MaxTCPQueries: tcpMaxQueries}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		pc.Close()
		ln.Close()
		return errors.New("dnsserver: server closed")
	}
	s.servers = append(s.servers, udp, tcp)
	s.addr = pc.LocalAddr()
	s.mu.Unlock()
	errs := make(chan error, 2)
	for _, srv := range []*dns.Server{udp, tcp} {
		go func() {
			if err := srv.ActivateAndServe(); err != nil {
				s.log.Error("dnsserver: serving stopped", "err", err)
				errs <- err
			}
		}()
	}
	for range 2 {
		select {
		case <-started:
		case err := <-errs:
			return fmt.Errorf("dnsserver: cannot serve on %s: %w", addr, err)
		}
	}
	return nil
}

// deadlineListener gives every write on its connections tcpWriteTimeout.
type deadlineListener struct{ net.Listener }

func (l deadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return deadlineConn{c}, nil
}

type deadlineConn struct{ net.Conn }

func (c deadlineConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(tcpWriteTimeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// listen binds addr for UDP and the same port for TCP.
func listen(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dnsserver: bad address %q: %w", addr, err)
	}
	for attempt := 0; ; attempt++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dnsserver: cannot listen on %s (udp): %w", addr, err)
		}
		p := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		// With port 0 the kernel picked a UDP port whose TCP twin is
		// taken: pick again.
		if port == "0" && errors.Is(err, syscall.EADDRINUSE) && attempt < 20 {
			continue
		}
		return nil, nil, fmt.Errorf("dnsserver: cannot listen on %s (tcp): %w", addr, err)
	}
}

// Addr returns the address Listen serves on (UDP; TCP has the same port),
// or nil before Listen.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Close stops serving and stops following the source. It is safe to call
// more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	servers := s.servers
	s.servers, s.closed = nil, true
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, srv := range servers {
		if err := srv.ShutdownContext(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	s.cancel()
	<-s.done
	s.b.close()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dnsserver: shutdown: %w", err)
	}
	return nil
}

// Metrics returns the query counters.
func (s *Server) Metrics() *Metrics { return &s.metrics }

// Stats describes the view, for tests and a console.
type Stats struct {
	// Revision is the store revision the view reflects.
	Revision int64
	// Zones is how many zones are served.
	Zones int
	// Rebuilds counts view rebuilds; ServiceBuilds counts the services
	// built in them (a burst of changes to one service builds it once per
	// rebuild, not once per change).
	Rebuilds, ServiceBuilds uint64
}

// Stats returns the current figures.
func (s *Server) Stats() Stats {
	v := s.view.Load()
	return Stats{Revision: v.rev, Zones: len(v.zones), Rebuilds: s.b.rebuilds.Load(), ServiceBuilds: s.b.serviceBuilds.Load()}
}
