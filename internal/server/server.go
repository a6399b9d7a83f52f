// Package server wires mapmesh together and runs it: it opens the store,
// builds the services on it, serves the API port, and shuts everything down
// in order. It is the only package that imports everything.
package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"

	"github.com/mapmesh/mapmesh/internal/appmesh"
	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
	"github.com/mapmesh/mapmesh/internal/console"
	"github.com/mapmesh/mapmesh/internal/dnsserver"
	"github.com/mapmesh/mapmesh/internal/healthcheck"
	"github.com/mapmesh/mapmesh/internal/metrics"
	"github.com/mapmesh/mapmesh/internal/store"
	"github.com/mapmesh/mapmesh/internal/watch"
	"github.com/mapmesh/mapmesh/internal/xds"
)

// Defaults of the command line.
const (
	DefaultAPIAddr = "127.0.0.1:9711"
	// DefaultDNSAddr is where DNS is served (UDP and TCP) unless
	// --dns-addr says otherwise: loopback, and a port that needs no
	// privilege.
	DefaultDNSAddr = "127.0.0.1:9753"
	// DefaultXDSAddr is where the xDS control plane (ADS over gRPC) is
	// served unless --xds-addr says otherwise.
	DefaultXDSAddr = "127.0.0.1:9754"
	DefaultDataDir = "mapmesh-data"
	// DBFile is the embedded store's file in the data directory.
	DBFile        = "mapmesh.db"
	DefaultRegion = "us-east-1"
	// DefaultReadTimeout bounds reading one API request, headers and
	// body, unless --read-timeout says otherwise.
	DefaultReadTimeout = 30 * time.Second
	// DefaultMaxConnections bounds the API connections open at once
	// unless --max-connections says otherwise.
	DefaultMaxConnections = 4096
)

// Bounds of the API's HTTP server that have no flag.
const (
	// maxHeaderBytes bounds a request's header section (net/http adds
	// 4 KiB of slack). AWS SDK requests send under 2 KiB of headers.
	maxHeaderBytes = 64 << 10
	// headerTimeout bounds reading a request's header section (when the
	// read timeout is longer), and how long a new connection may send
	// nothing.
	headerTimeout = 10 * time.Second
	// idleTimeout is how long a keep-alive connection may wait for its
	// next request.
	idleTimeout = 2 * time.Minute
)

// Config is everything Run needs.
type Config struct {
	// APIAddr is the host:port of the AWS API (Cloud Map).
	APIAddr string
	// DNSAddr is the host:port of the DNS server for DNS namespaces (UDP
	// and TCP); empty disables it.
	DNSAddr string
	// DNSReady, if set, is called with the DNS listen address once DNS
	// serves (before Ready).
	DNSReady func(dnsAddr net.Addr)
	// DNSSelfName, if set, is a name DNS answers with DNSSelfAddrs, and
	// so is "data-" + the name: the endpoint host for clients that
	// resolve through mapmesh, and the host SDKs send DiscoverInstances
	// to (its host prefix). DNSSelfAddrs defaults to the API listener's
	// address, which must then be a specific one.
	DNSSelfName  string
	DNSSelfAddrs []netip.Addr
	// XDSAddr is the host:port of the xDS control plane (ADS over gRPC);
	// empty disables it. XDSTLSCert and XDSTLSKey, if set, are PEM files
	// it serves TLS with. XDSReady, if set, is called with its listen
	// address once it serves (before Ready).
	XDSAddr, XDSTLSCert, XDSTLSKey string
	XDSReady                       func(xdsAddr net.Addr)
	// XDSClientCA, if set, is a PEM file of CAs: xDS then requires client
	// certificates they signed (mutual TLS; needs XDSTLSCert).
	XDSClientCA string
	// XDSAuth, if set (--auth sigv4), verifies the SigV4 signature of
	// every xDS call and binds its node to the signer's account (see
	// xds.Config.Verifier).
	XDSAuth *awsapi.Verifier
	// DataDir holds the embedded store (mapmesh.db). It is created if missing.
	DataDir string
	// Store is StoreBolt (the embedded store in DataDir; the default) or
	// StoreEtcd: an etcd cluster, shared with the other servers of a
	// mapmesh cluster, under EtcdPrefix (etcdstore.DefaultPrefix when
	// empty), with TLS from EtcdCACert, EtcdCert and EtcdKey, and the
	// dial and per-request timeouts (etcdstore's defaults when 0).
	Store                               string
	EtcdEndpoints                       []string
	EtcdPrefix                          string
	EtcdCACert, EtcdCert, EtcdKey       string
	EtcdDialTimeout, EtcdRequestTimeout time.Duration
	// NodeID names this server among the cluster's members (random when
	// empty); ClusterTTL is its membership lease (cluster.DefaultTTL when
	// 0): how long a dead server's health checks stay unowned.
	NodeID     string
	ClusterTTL time.Duration
	// Region is used for requests that carry no SigV4 credential scope.
	Region string
	// EnableReset serves POST /_mapmesh/reset and POST /moto-api/reset,
	// which wipe all state. For tests only.
	EnableReset bool
	// CustomHealthDelay delays UpdateInstanceCustomHealthStatus (AWS: ~30 s).
	CustomHealthDelay time.Duration
	// OperationRetention is how long Cloud Map operations are kept.
	OperationRetention time.Duration
	// CommitDelay bounds how long the store waits to group concurrent
	// writes into one fsync (0: the store's default; negative: never wait).
	CommitDelay time.Duration
	// BoltCompactMinBytes is the size from which the embedded store
	// compacts its file at startup when more than half of it is free (0:
	// the store's default, 64 MiB; negative: never).
	BoltCompactMinBytes int64
	// MaxBodyBytes bounds API request bodies.
	MaxBodyBytes int64
	// Auth is how API requests are authenticated: AuthNone (signatures
	// are not checked; the account is the access key when it is 12
	// digits) or AuthSigV4 (every request's signature is verified against
	// the identities of CredentialsFile, and acts in its identity's
	// account). Empty: sigv4 when CredentialsFile is set, else none.
	Auth string
	// CredentialsFile holds the identities, in the AWS shared-credentials
	// format with aws_account_id; it is reloaded when it changes.
	CredentialsFile string
	// Insecure lets Auth none listen on an address other machines can
	// reach (the API or xDS); without it Run refuses to.
	Insecure bool
	// TLSCert and TLSKey, if set, are PEM files the API is served over
	// TLS with; they are reloaded when they change.
	TLSCert, TLSKey string
	// Throttle is "aws" (AWS's request rates; the default) or "off";
	// ThrottleRates overrides rates: servicediscovery:OPERATION=RATE[:BURST]
	// or appmesh:..., comma-separated, * for every other operation.
	Throttle, ThrottleRates string
	// ReadTimeout bounds reading one API request, its headers and body,
	// from its first byte (DefaultReadTimeout when 0; negative: only the
	// headers are bounded, by 10 s). It does not bound the handler or the
	// response. A connection whose request is not read in time is closed.
	ReadTimeout time.Duration
	// MaxConnections bounds the API connections open at once, idle
	// keep-alive connections included (DefaultMaxConnections when 0;
	// negative: no bound). Further connections wait in the kernel's
	// accept queue until one closes.
	MaxConnections int
	// Health checks of HealthCheckConfig (see internal/healthcheck): the
	// interval between probes of an instance (0: 30 s), a bound on each
	// probe (0: Route 53's timeouts), a bound on probes in flight (0: the
	// default), the addresses that may be probed (empty: any), and whether
	// private DNS namespaces may have HealthCheckConfig.
	HealthInterval            time.Duration
	HealthTimeout             time.Duration
	HealthConcurrency         int
	HealthAllowedCIDRs        []netip.Prefix
	HealthDeniedCIDRs         []netip.Prefix
	HealthChecksAllNamespaces bool
	// AppMeshQuotas override AWS's default App Mesh quotas (zero fields keep them).
	AppMeshQuotas appmesh.Quotas
	// Quotas override AWS's default Cloud Map quotas (zero fields keep them).
	Quotas cloudmap.Quotas
	Logger *slog.Logger
	// DebugAddr, if set, serves Go's profiling endpoints (/debug/pprof/)
	// on that host:port.
	DebugAddr string
	// Ready, if set, is called with the API's listen address once it serves.
	Ready func(apiAddr net.Addr)
}

// debugMux serves net/http/pprof.
func debugMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("/debug/pprof/", pprof.Index)
	m.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	m.HandleFunc("/debug/pprof/profile", pprof.Profile)
	m.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	m.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return m
}

// apiServer returns the HTTP server of the API port. Reading a request,
// headers and body, is bounded by readTimeout (DefaultReadTimeout when 0,
// unbounded when negative), and its headers by headerTimeout too: a slow
// client cannot hold a connection (and its file descriptor) longer than
// that per request. net/http clears the deadline once the body is read, so
// neither the handler nor the response is bounded by it. A body read that
// times out fails in the handler, which answers 400 if it still can; the
// connection is then closed.
func apiServer(h http.Handler, readTimeout time.Duration, log *slog.Logger) *http.Server {
	readTimeout = cmp.Or(readTimeout, DefaultReadTimeout)
	header := headerTimeout
	switch {
	case readTimeout < 0:
		readTimeout = 0 // net/http: no bound
	case readTimeout < header:
		header = readTimeout
	}
	return &http.Server{Handler: h, ReadTimeout: readTimeout, ReadHeaderTimeout: header, MaxHeaderBytes: maxHeaderBytes,
		IdleTimeout: idleTimeout, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
}

// Run serves until ctx ends, then shuts down in order: stop accepting API
// requests and finish those in flight, stop the projections, close the
// store. It returns an error when something cannot start (an unusable data
// directory, a taken port) or fails while serving.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.APIAddr == "" {
		cfg.APIAddr = DefaultAPIAddr
	}
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if !awsapi.ValidRegion(cfg.Region) {
		return fmt.Errorf("server: --region %q is not a region name (lowercase words and a number, dash-separated, like us-east-1)", cfg.Region)
	}
	selfNames, err := dnsSelfNames(&cfg)
	if err != nil {
		return err
	}
	opened, err := openStore(ctx, &cfg, log)
	if err != nil {
		return err
	}
	defer opened.close()
	st, members := opened.st, opened.members

	cm, err := cloudmap.New(ctx, st, cloudmap.Config{CustomHealthDelay: cfg.CustomHealthDelay, Quotas: cfg.Quotas,
		OperationRetention: cfg.OperationRetention, Logger: log, HealthChecksAllNamespaces: cfg.HealthChecksAllNamespaces,
		Leader: members.Leader})
	if err != nil {
		return err
	}
	defer cm.Close()

	am, err := appmesh.New(ctx, st, appmesh.Config{Quotas: cfg.AppMeshQuotas, Logger: log, Leader: members.Leader})
	if err != nil {
		return err
	}
	defer am.Close()
	// Loading the views read every record once: give the memory that
	// took back to the OS now, rather than over the next minutes, and drop
	// the pages of the bbolt file it mapped (they stay in the page cache).
	debug.FreeOSMemory()
	if opened.bolt != nil {
		opened.bolt.ReleaseMapped()
	}

	hc, err := healthcheck.Start(cm, healthcheck.Config{Interval: cfg.HealthInterval, Timeout: cfg.HealthTimeout,
		Concurrency: cfg.HealthConcurrency, AllowedCIDRs: cfg.HealthAllowedCIDRs, DeniedCIDRs: cfg.HealthDeniedCIDRs, Logger: log,
		Owner: members})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	defer hc.Close()
	var own []net.Addr // mapmesh's listeners, which health checks may not probe

	mode, err := cfg.authMode()
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if err := checkOpen(&cfg, mode, log); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	var verifier *awsapi.Verifier
	if mode == AuthSigV4 {
		keys, err := awsapi.LoadCredentials(cfg.CredentialsFile)
		if err != nil {
			return fmt.Errorf("server: %w", err)
		}
		verifier = awsapi.NewVerifier(keys)
		go watchFiles(ctx, log, "credentials file", func() error {
			keys, err := awsapi.LoadCredentials(cfg.CredentialsFile)
			if err == nil {
				verifier.SetKeyring(keys)
			}
			return err
		}, cfg.CredentialsFile)
		log.Info("API requests are authenticated (SigV4)", "identities", keys.Len(), "credentials_file", cfg.CredentialsFile)
	}
	cmThrottle, amThrottle, err := throttles(&cfg)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	var tlsConf *tls.Config
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return errors.New("server: --tls-cert needs --tls-key, and --tls-key needs --tls-cert")
	}
	if cfg.TLSCert != "" {
		certs, err := newCertReloader(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("server: %w", err)
		}
		tlsConf = certs.config()
		go watchFiles(ctx, log, "API TLS certificate", certs.load, cfg.TLSCert, cfg.TLSKey)
	}

	reg := metrics.New()
	observe := func(o awsapi.Observation) {
		reg.ObserveAPI(o.Service, o.Operation, o.Code, o.Duration)
		// The access log, at debug level. Asked first: the arguments
		// would be boxed for every request even when the level is off.
		if !log.Enabled(context.Background(), slog.LevelDebug) {
			return
		}
		log.Debug("request", "service", o.Service, "operation", o.Operation, "account", o.Account, "status", o.Status,
			"code", o.Code, "ms", float64(o.Duration.Microseconds())/1000, "request_id", o.RequestID)
	}
	mux := awsapi.NewMux(awsapi.MuxConfig{DefaultRegion: cfg.Region, MaxBodyBytes: cfg.MaxBodyBytes, Auth: verifier,
		Observe: observe, Logger: log})
	cmAPI := cm.API()
	cmAPI.Throttle = cmThrottle
	mux.HandleJSON(cmAPI)
	for _, s := range am.API() {
		s.Throttle = amThrottle
		mux.HandleREST(s)
	}
	// Readiness: the store answers, the projections keep up with it, and
	// DNS and xDS listen (once they do; see below).
	var dnsUp, xdsUp atomic.Bool
	ready := map[string]checker{storePart: checkFunc(func(ctx context.Context) error { _, err := st.Rev(ctx); return err }),
		"cloudmap": followsStore{cm}, "appmesh": followsStore{am}}
	if cfg.DNSAddr != "" {
		ready["dns"] = listening(&dnsUp)
	}
	if cfg.XDSAddr != "" {
		ready["xds"] = listening(&xdsUp)
	}
	mux.Handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	}))
	mux.Handle("GET /readyz", healthHandler(ready))
	mux.Handle("GET /metrics", reg.Handler())
	registerStoreMetrics(reg, st, opened.bolt, cm, am)
	registerHealthMetrics(reg, hc)
	mux.Handle("GET /_mapmesh/health", healthHandler(ready))
	mux.HandleAdmin("GET /_mapmesh/snapshot", snapshotHandler(st, log))
	// Blocking discovery; closing watchDone answers every held query before
	// Shutdown (which would wait for them).
	watchDone := make(chan struct{})
	watcher := &watch.Handler{CloudMap: cm, Throttle: cmThrottle, Done: watchDone}
	mux.HandleSigned("GET /_mapmesh/v1/discover", watcher)
	registerWatchMetrics(reg, watcher)
	if cfg.EnableReset {
		reset := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := errors.Join(cm.Reset(r.Context()), am.Reset(r.Context())); err != nil {
				log.Error("reset failed", "err", err)
				http.Error(w, "reset failed", http.StatusInternalServerError)
				return
			}
			log.Info("state reset")
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
		})
		mux.HandleAdmin("POST /_mapmesh/reset", reset)
		mux.HandleAdmin("POST /moto-api/reset", reset)
	}

	if cfg.DebugAddr != "" {
		dln, err := net.Listen("tcp", cfg.DebugAddr)
		if err != nil {
			return fmt.Errorf("server: cannot listen on debug address %s: %w", cfg.DebugAddr, err)
		}
		dm := debugMux()
		if opened.bolt != nil {
			dm.HandleFunc("/debug/store", func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(opened.bolt.Stats())
			})
		}
		dsrv := &http.Server{Handler: dm, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = dsrv.Serve(dln) }()
		defer dsrv.Close()
		log.Info("debug endpoints listening", "debug_addr", dln.Addr().String())
		own = append(own, dln.Addr())
	}

	ln, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("server: cannot listen on API address %s: %w", cfg.APIAddr, err)
	}
	// DNS binds once the API port is ours, and serves before the API does.
	if cfg.DNSAddr != "" {
		selfAddrs := cfg.DNSSelfAddrs
		if len(selfNames) > 0 && len(selfAddrs) == 0 {
			a := ln.Addr().(*net.TCPAddr).AddrPort().Addr().Unmap()
			if a.IsUnspecified() {
				ln.Close()
				return fmt.Errorf("server: --dns-self-name needs --dns-self-addr: the API listens on every address (--api-addr %s), so it has no one address to answer with", cfg.APIAddr)
			}
			selfAddrs = []netip.Addr{a}
		}
		ds := dnsserver.New(cm, dnsserver.Config{Logger: log, SelfNames: selfNames, SelfAddrs: selfAddrs})
		defer ds.Close() // before the backend and the store close
		if err := ds.Listen(cfg.DNSAddr); err != nil {
			ln.Close()
			return fmt.Errorf("server: cannot serve DNS (--dns-addr %s; empty disables DNS): %w", cfg.DNSAddr, err)
		}
		log.Info("DNS listening", "dns_addr", ds.Addr().String())
		if len(selfNames) > 0 {
			log.Info("DNS answers for mapmesh itself", "names", strings.Join(selfNames, ","), "addrs", fmt.Sprint(selfAddrs))
		}
		registerDNSMetrics(reg, ds)
		dnsUp.Store(true)
		own = append(own, ds.Addr())
		if cfg.DNSReady != nil {
			cfg.DNSReady(ds.Addr())
		}
	}
	// xDS binds after DNS, and serves before the API does; it stops
	// (deferred) before the backends and the store close.
	var xs *xds.Server
	if cfg.XDSAddr != "" {
		if cfg.XDSAuth == nil {
			cfg.XDSAuth = verifier // --auth sigv4 covers xDS too, with the same identities
		}
		xs, err = xds.New(am, cm, xds.Config{Account: awsapi.DefaultAccount, Region: cfg.Region, TLSCert: cfg.XDSTLSCert,
			TLSKey: cfg.XDSTLSKey, ClientCA: cfg.XDSClientCA, Verifier: cfg.XDSAuth, Logger: log})
		if err != nil {
			ln.Close()
			return fmt.Errorf("server: %w", err)
		}
		defer xs.Close()
		if err := xs.Listen(cfg.XDSAddr); err != nil {
			ln.Close()
			return fmt.Errorf("server: cannot serve xDS (--xds-addr %s; empty disables xDS): %w", cfg.XDSAddr, err)
		}
		log.Info("xDS listening", "xds_addr", xs.Addr().String(), "tls", cfg.XDSTLSCert != "", "client_ca", cfg.XDSClientCA != "",
			"sigv4", cfg.XDSAuth != nil)
		registerXDSMetrics(reg, xs)
		xdsUp.Store(true)
		own = append(own, xs.Addr())
		if cfg.XDSReady != nil {
			cfg.XDSReady(xs.Addr())
		}
	}
	mux.HandleAdmin("GET /_mapmesh/xds/clients", xds.ClientsHandler(xs))
	mux.HandleAdmin("GET /_mapmesh/xds/config", xds.ConfigHandler(xs))
	// The web console at /console/, from the views; Close ends its event
	// streams (before Shutdown, which would wait for them).
	cons := console.New(console.Config{CloudMap: cm, AppMesh: am, XDS: xdsClients(xs), Logger: log})
	cons.Register(mux)
	defer cons.Close()
	srv := apiServer(mux, cfg.ReadTimeout, log)
	if n := cmp.Or(cfg.MaxConnections, DefaultMaxConnections); n > 0 {
		ln = netutil.LimitListener(ln, n)
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	own = append(own, ln.Addr())
	hc.SetOwnAddrs(own...) // never probed
	log.Info("mapmesh listening", "api_addr", ln.Addr().String(), "store", opened.where, "region", cfg.Region, "reset_enabled", cfg.EnableReset,
		"auth", mode, "tls", tlsConf != nil, "throttle", cmp.Or(cfg.Throttle, "aws"))
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr())
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("server: API: %w", err)
	case <-ctx.Done():
	}
	log.Info("mapmesh shutting down")
	hc.Close()   // first: no probe writes while the rest stops
	cons.Close() // the console's event streams would hold Shutdown
	close(watchDone)
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("API shutdown", "err", err)
	}
	return nil
}

// xdsClients is the console's view of the xDS clients: nil when xDS is
// off (never a nil *xds.Server in an interface).
func xdsClients(xs *xds.Server) console.XDS {
	if xs == nil {
		return nil
	}
	return xs
}

// checker is a part of the server that can say whether it keeps up with the
// store (cloudmap.Backend, appmesh.Backend).
type checker interface {
	Check(ctx context.Context) error
}

// checkFunc is a checker made of a function.
type checkFunc func(ctx context.Context) error

func (f checkFunc) Check(ctx context.Context) error { return f(ctx) }

// listening checks that a listener is up.
func listening(up *atomic.Bool) checker {
	return checkFunc(func(context.Context) error {
		if !up.Load() {
			return errors.New("not listening yet")
		}
		return nil
	})
}

// healthCheckTimeout bounds how long a health request waits for the store
// and for a lagging projection.
const healthCheckTimeout = 2 * time.Second

// storePart is the name of the store's part of readiness.
const storePart = "store"

// followsStore marks a part of readiness that compares itself with the
// store's current revision (a projection): while the store does not
// answer, it cannot be judged, and is not asked.
type followsStore struct{ checker }

// healthHandler serves GET /readyz (and its older name
// /_mapmesh/health): 200 "ok" when every part is ready (the store answers,
// every projection reflects the store's current revision, DNS and xDS
// listen), else 503 with one line per part that is not. The store is asked
// first; when it does not answer, the projections are reported as unknown
// instead of waiting for it too.
func healthHandler(parts map[string]checker) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), healthCheckTimeout)
		defer cancel()
		var bad []string
		var storeErr error
		if c, ok := parts[storePart]; ok {
			if storeErr = c.Check(ctx); storeErr != nil {
				msg := "does not answer: " + storeErr.Error()
				if errors.Is(storeErr, context.DeadlineExceeded) {
					msg = fmt.Sprintf("does not answer within %v", healthCheckTimeout)
				}
				bad = append(bad, storePart+": "+msg)
			}
		}
		for _, name := range slices.Sorted(maps.Keys(parts)) {
			if name == storePart {
				continue
			}
			if _, ok := parts[name].(followsStore); ok && storeErr != nil {
				bad = append(bad, name+": unknown: the store does not answer")
				continue
			}
			err := parts[name].Check(ctx)
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("behind: has not reached the store's revision within %v", healthCheckTimeout)
			}
			if err != nil {
				bad = append(bad, name+": "+err.Error())
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if len(bad) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(strings.Join(bad, "\n") + "\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
}

// snapshotHandler serves GET /_mapmesh/snapshot: every key of the store at
// one revision (store.WriteSnapshot), for "mapmesh snapshot save".
func snapshotHandler(st store.Store, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kvs, rev, err := st.List(r.Context(), "")
		if err != nil {
			log.Error("snapshot: reading the store", "err", err)
			http.Error(w, "the store cannot be read: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("X-Mapmesh-Revision", strconv.FormatInt(rev, 10))
		if err := store.WriteSnapshot(w, rev, kvs); err != nil {
			log.Warn("snapshot: writing", "err", err)
			return
		}
		log.Info("snapshot served", "revision", rev, "keys", len(kvs))
	})
}

// dnsSelfNames returns the names DNS answers with mapmesh's own address
// (Config.DNSSelfName and its data- twin), or nil.
func dnsSelfNames(cfg *Config) ([]string, error) {
	if cfg.DNSSelfName == "" {
		if len(cfg.DNSSelfAddrs) > 0 {
			return nil, errors.New("server: --dns-self-addr needs --dns-self-name")
		}
		return nil, nil
	}
	if cfg.DNSAddr == "" {
		return nil, errors.New("server: --dns-self-name needs DNS (--dns-addr is empty)")
	}
	names := []string{strings.TrimSuffix(cfg.DNSSelfName, "."), "data-" + strings.TrimSuffix(cfg.DNSSelfName, ".")}
	for _, n := range names {
		if err := dnsserver.CheckSelfName(n); err != nil {
			return nil, fmt.Errorf("server: --dns-self-name %q: %w", cfg.DNSSelfName, err)
		}
	}
	return names, nil
}
