package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mapmesh/mapmesh/internal/appmesh"
	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
)

// Authentication modes (Config.Auth).
const (
	AuthNone  = "none"
	AuthSigV4 = "sigv4"
)

// reloadEvery is how often the credentials file and the TLS files are
// checked for changes.
const reloadEvery = 2 * time.Second

// authMode resolves Config.Auth: sigv4 when a credentials file is given,
// unless none is explicit.
func (c *Config) authMode() (string, error) {
	switch c.Auth {
	case "":
		if c.CredentialsFile != "" {
			return AuthSigV4, nil
		}
		return AuthNone, nil
	case AuthNone:
		return AuthNone, nil
	case AuthSigV4:
		if c.CredentialsFile == "" {
			return "", errors.New("--auth sigv4 needs --credentials-file")
		}
		return AuthSigV4, nil
	}
	return "", fmt.Errorf("--auth must be none or sigv4, not %q", c.Auth)
}

// loopbackOnly reports whether addr (host:port) can only be reached from
// this machine.
func loopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkOpen refuses to serve without authentication on an address others
// can reach, unless the operator said so (--insecure); then it says so in
// the log, loudly.
func checkOpen(cfg *Config, mode string, log *slog.Logger) error {
	if mode != AuthNone {
		return nil
	}
	var open []string
	for _, a := range []struct{ flag, addr string }{{"--api-addr", cfg.APIAddr}, {"--xds-addr", cfg.XDSAddr}} {
		if a.addr != "" && !loopbackOnly(a.addr) {
			open = append(open, a.flag+" "+a.addr)
		}
	}
	if len(open) == 0 {
		return nil
	}
	if !cfg.Insecure {
		return fmt.Errorf("refusing to serve without authentication on %s, which other machines can reach: "+
			"give --credentials-file (and --auth sigv4), or --insecure to accept that anyone who can connect acts as any account",
			strings.Join(open, " and "))
	}
	log.Warn("INSECURE: serving without authentication (--auth none) on an address other machines can reach: "+
		"anyone who can connect can read and change every account's state", "listen", strings.Join(open, ", "))
	return nil
}

// fileStamp identifies a version of a file.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stamp(paths ...string) ([]fileStamp, error) {
	out := make([]fileStamp, len(paths))
	for i, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		out[i] = fileStamp{fi.ModTime(), fi.Size()}
	}
	return out, nil
}

func sameStamps(a, b []fileStamp) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// watchFiles calls load whenever one of paths changes, until ctx ends. A
// failed load keeps what was loaded before and is logged; it is retried at
// the next change.
func watchFiles(ctx context.Context, log *slog.Logger, what string, load func() error, paths ...string) {
	last, _ := stamp(paths...)
	t := time.NewTicker(reloadEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur, err := stamp(paths...)
		if err != nil || sameStamps(cur, last) {
			continue
		}
		last = cur
		if err := load(); err != nil {
			log.Error(what+" changed but cannot be loaded; keeping the previous one", "err", err)
			continue
		}
		log.Info(what+" reloaded", "files", strings.Join(paths, ", "))
	}
}

// certReloader serves the certificate of a key pair, reloaded when its
// files change.
type certReloader struct {
	cert              atomic.Pointer[tls.Certificate]
	certFile, keyFile string
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) load() error {
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s, key %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert.Store(&c)
	return nil
}

func (r *certReloader) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return r.cert.Load(), nil
		},
	}
}

// throttles returns the Cloud Map and App Mesh throttles of cfg: AWS's
// rates, with the overrides of cfg.ThrottleRates, or none with "off".
func throttles(cfg *Config) (cm, am *awsapi.Throttle, err error) {
	switch cfg.Throttle {
	case "off":
		return nil, nil, nil
	case "", "aws":
	default:
		return nil, nil, fmt.Errorf("--throttle must be aws or off, not %q", cfg.Throttle)
	}
	cm, am = cloudmap.Throttle(), appmesh.Throttle()
	by := map[string]map[string]string{}
	for _, f := range strings.Split(cfg.ThrottleRates, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		svc, rate, ok := strings.Cut(f, ":")
		if !ok || (svc != cloudmap.SigningName && svc != appmesh.SigningName) {
			return nil, nil, fmt.Errorf("--throttle-rates: %q: want %s:OPERATION=PERSECOND[:BURST] (or %s:OPERATION=...)", f, cloudmap.SigningName, appmesh.SigningName)
		}
		if by[svc] == nil {
			by[svc] = map[string]string{}
		}
		op, _, _ := strings.Cut(rate, "=")
		by[svc][op] = rate
	}
	for svc, t := range map[string]*awsapi.Throttle{cloudmap.SigningName: cm, appmesh.SigningName: am} {
		var specs []string
		for _, r := range by[svc] {
			specs = append(specs, r)
		}
		rates, err := awsapi.ParseRates(strings.Join(specs, ","))
		if err != nil {
			return nil, nil, fmt.Errorf("--throttle-rates: %w", err)
		}
		t.Override(rates)
	}
	return cm, am, nil
}
