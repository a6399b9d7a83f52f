package server

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/mapmesh/mapmesh/internal/appmesh"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
	"github.com/mapmesh/mapmesh/internal/cluster"
	"github.com/mapmesh/mapmesh/internal/healthcheck"
	"github.com/mapmesh/mapmesh/internal/store/boltstore"
)

// Flags binds the command line to a Config. Every flag can also be set in
// the environment as MAPMESH_<FLAG> (upper case, dashes as underscores); a
// flag given on the command line wins.
type Flags struct {
	Config    Config
	LogFormat string
	LogLevel  string
	fs        *flag.FlagSet
}

// NewFlags defines mapmesh's flags on fs.
func NewFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs}
	c := &f.Config
	fs.StringVar(&c.APIAddr, "api-addr", DefaultAPIAddr, "host:port of the AWS API (Cloud Map)")
	fs.StringVar(&c.DNSAddr, "dns-addr", DefaultDNSAddr, "host:port of the DNS server (UDP and TCP) for DNS namespaces; empty disables it")
	fs.StringVar(&c.DNSSelfName, "dns-self-name", "", "a name DNS answers with the API's address, as it does \"data-\" + the name (the host SDKs send DiscoverInstances to): use http://NAME:PORT as the endpoint where clients resolve through mapmesh")
	fs.Func("dns-self-addr", "comma-separated IP addresses --dns-self-name answers with (default: the host of --api-addr, which must then be a specific address)", func(v string) error {
		c.DNSSelfAddrs = nil
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			a, err := netip.ParseAddr(s)
			if err != nil {
				return err
			}
			c.DNSSelfAddrs = append(c.DNSSelfAddrs, a)
		}
		return nil
	})
	fs.StringVar(&c.XDSAddr, "xds-addr", DefaultXDSAddr, "host:port of the xDS control plane (ADS over gRPC) for Envoy and proxyless gRPC; empty disables it")
	fs.StringVar(&c.XDSTLSCert, "xds-tls-cert", "", "PEM certificate (chain) to serve xDS over TLS with; needs --xds-tls-key")
	fs.StringVar(&c.XDSTLSKey, "xds-tls-key", "", "PEM private key of --xds-tls-cert")
	fs.StringVar(&c.Auth, "auth", "", "how API requests are authenticated: none (signatures not checked; the account is a 12-digit access key) or sigv4 (verified against --credentials-file); default: sigv4 when --credentials-file is given, else none")
	fs.StringVar(&c.CredentialsFile, "credentials-file", "", "identities the API accepts, in the AWS shared-credentials format with aws_account_id per section; reloaded when it changes")
	fs.BoolVar(&c.Insecure, "insecure", false, "allow --auth none on an address other machines can reach (API or xDS)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate (chain) to serve the API over TLS with; needs --tls-key; reloaded when it changes")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&c.Throttle, "throttle", "aws", "request throttling per account and operation: aws (AWS's rates) or off")
	fs.StringVar(&c.ThrottleRates, "throttle-rates", "", "rate overrides, comma-separated: servicediscovery:OPERATION=PERSECOND[:BURST] or appmesh:...; * for every other operation; 0 turns a limit off")
	fs.StringVar(&c.XDSClientCA, "xds-client-ca", "", "PEM CA certificate(s): xDS clients must present a certificate one of them signed (mutual TLS); needs --xds-tls-cert")
	fs.StringVar(&c.DataDir, "data-dir", DefaultDataDir, "directory of the embedded store (created if missing)")
	fs.StringVar(&c.Store, "store", StoreBolt, "where the state lives: bolt (the embedded store in --data-dir) or etcd (--etcd-endpoints; several mapmesh servers share it)")
	EtcdFlags(fs, c)
	fs.StringVar(&c.NodeID, "node-id", "", "name of this server among the cluster's members (random when empty)")
	fs.DurationVar(&c.ClusterTTL, "cluster-ttl", cluster.DefaultTTL, "membership lease of a server of an etcd cluster: how long a dead server's health checks wait for a new owner")
	fs.StringVar(&c.Region, "region", DefaultRegion, "region for requests that carry no SigV4 credential scope")
	fs.StringVar(&f.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&c.EnableReset, "enable-reset", false, "serve POST /_mapmesh/reset and POST /moto-api/reset, which wipe all state (tests only)")
	fs.DurationVar(&c.CustomHealthDelay, "custom-health-delay", 0, "delay before UpdateInstanceCustomHealthStatus takes effect (AWS: about 30s)")
	fs.DurationVar(&c.OperationRetention, "operation-retention", cloudmap.DefaultOperationRetention, "how long Cloud Map operations (and the request tokens they answer) are kept")
	fs.StringVar(&c.DebugAddr, "debug-addr", "", "host:port for Go's profiling endpoints (/debug/pprof/); empty disables")
	fs.DurationVar(&c.CommitDelay, "commit-delay", 0, "longest wait to group concurrent writes into one fsync (0: default 1ms; negative: never wait)")
	fs.Int64Var(&c.BoltCompactMinBytes, "bolt-compact-min-bytes", boltstore.DefaultCompactMinSize, "size from which the embedded store's file is compacted at startup when more than half of it is free (negative: never)")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", 1<<20, "largest API request body accepted")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", DefaultReadTimeout, "longest time to read one API request, headers and body (not the handler or the response); negative: headers only, 10s")
	fs.IntVar(&c.MaxConnections, "max-connections", DefaultMaxConnections, "most API connections open at once, idle keep-alive ones included; more wait to be accepted (negative: no limit)")
	fs.IntVar(&c.Quotas.NamespacesPerRegion, "quota-namespaces", cloudmap.DefaultQuotas.NamespacesPerRegion, "Cloud Map namespaces per account and region")
	fs.IntVar(&c.Quotas.ServicesPerNamespace, "quota-services-per-namespace", cloudmap.DefaultQuotas.ServicesPerNamespace, "Cloud Map services per namespace")
	fs.IntVar(&c.Quotas.InstancesPerService, "quota-instances-per-service", cloudmap.DefaultQuotas.InstancesPerService, "Cloud Map instances per service")
	fs.IntVar(&c.Quotas.InstancesPerNamespace, "quota-instances-per-namespace", cloudmap.DefaultQuotas.InstancesPerNamespace, "Cloud Map instances per namespace")
	fs.IntVar(&c.Quotas.HealthCheckedInstancesPerAccount, "quota-health-checked-instances", cloudmap.DefaultQuotas.HealthCheckedInstancesPerAccount, "instances of services with HealthCheckConfig per account, all regions: the probes one account can make mapmesh send (Route 53: 200 health checks)")
	aq, ad := &c.AppMeshQuotas, appmesh.DefaultQuotas
	fs.IntVar(&aq.MeshesPerAccount, "appmesh-quota-meshes", ad.MeshesPerAccount, "App Mesh meshes per account and region")
	fs.IntVar(&aq.VirtualNodesPerMesh, "appmesh-quota-virtual-nodes-per-mesh", ad.VirtualNodesPerMesh, "App Mesh virtual nodes per mesh")
	fs.IntVar(&aq.VirtualRoutersPerMesh, "appmesh-quota-virtual-routers-per-mesh", ad.VirtualRoutersPerMesh, "App Mesh virtual routers per mesh")
	fs.IntVar(&aq.VirtualServicesPerMesh, "appmesh-quota-virtual-services-per-mesh", ad.VirtualServicesPerMesh, "App Mesh virtual services per mesh")
	fs.IntVar(&aq.VirtualGatewaysPerMesh, "appmesh-quota-virtual-gateways-per-mesh", ad.VirtualGatewaysPerMesh, "App Mesh virtual gateways per mesh")
	fs.IntVar(&aq.RoutesPerVirtualRouter, "appmesh-quota-routes-per-virtual-router", ad.RoutesPerVirtualRouter, "App Mesh routes per virtual router")
	fs.IntVar(&aq.GatewayRoutesPerVirtualGateway, "appmesh-quota-gateway-routes-per-virtual-gateway", ad.GatewayRoutesPerVirtualGateway, "App Mesh gateway routes per virtual gateway")
	fs.IntVar(&aq.BackendsPerVirtualNode, "appmesh-quota-backends-per-virtual-node", ad.BackendsPerVirtualNode, "App Mesh backends per virtual node")
	fs.DurationVar(&c.HealthInterval, "health-interval", healthcheck.DefaultInterval, "interval between two health check probes of an instance (AWS: 30s)")
	fs.DurationVar(&c.HealthTimeout, "health-timeout", 0, "bound on each health check probe (0: Route 53's: HTTP/HTTPS connect 4s then answer 2s, TCP connect 10s)")
	fs.IntVar(&c.HealthConcurrency, "health-concurrency", healthcheck.DefaultConcurrency, "most health check probes in flight to targets that answer (slow targets get a quarter more, apart)")
	fs.Func("health-allowed-cidrs", "comma-separated CIDR prefixes that health checks may connect to: when set, only these, and they may include the loopback and link-local addresses denied by default (empty: any address but those)", func(v string) error {
		p, err := healthcheck.ParsePrefixes(v)
		c.HealthAllowedCIDRs = p
		return err
	})
	fs.Func("health-denied-cidrs", "comma-separated CIDR prefixes that health checks may never connect to, whatever --health-allowed-cidrs says (loopback, link-local and mapmesh's own listeners are denied by default)", func(v string) error {
		p, err := healthcheck.ParsePrefixes(v)
		c.HealthDeniedCIDRs = p
		return err
	})
	fs.BoolVar(&c.HealthChecksAllNamespaces, "health-checks-for-all-namespaces", false, "allow HealthCheckConfig in private DNS namespaces too (AWS: public DNS and HTTP only)")
	return f
}

// EtcdFlags defines the flags that reach etcd (--etcd-endpoints,
// --etcd-prefix, TLS and timeouts) on fs, bound to c. NewFlags defines
// them; so does "mapmesh snapshot restore --store etcd".
func EtcdFlags(fs *flag.FlagSet, c *Config) {
	fs.Func("etcd-endpoints", "comma-separated etcd client URLs, for --store etcd (http://10.0.0.1:2379,...)", func(v string) error {
		c.EtcdEndpoints = nil
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" {
				c.EtcdEndpoints = append(c.EtcdEndpoints, e)
			}
		}
		return nil
	})
	fs.StringVar(&c.EtcdPrefix, "etcd-prefix", "/mapmesh/", "key prefix of this mapmesh cluster in etcd (several clusters can share one etcd); must end with /")
	fs.StringVar(&c.EtcdCACert, "etcd-cacert", "", "PEM CA certificate that verifies etcd's servers (https endpoints)")
	fs.StringVar(&c.EtcdCert, "etcd-cert", "", "PEM client certificate for etcd (needs --etcd-key)")
	fs.StringVar(&c.EtcdKey, "etcd-key", "", "PEM key of --etcd-cert")
	fs.DurationVar(&c.EtcdDialTimeout, "etcd-dial-timeout", 5*time.Second, "bound on connecting to etcd")
	fs.DurationVar(&c.EtcdRequestTimeout, "etcd-request-timeout", 5*time.Second, "bound on each etcd request; past it a write fails with a retryable error")
}

// Parse parses args, then fills every flag not given from the environment,
// and builds the logger.
func (f *Flags) Parse(args []string, getenv func(string) string, stderr io.Writer) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	var err error
	f.fs.VisitAll(func(fl *flag.Flag) {
		env := "MAPMESH_" + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		if v := getenv(env); v != "" && !given[fl.Name] && err == nil {
			if e := fl.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %w", env, v, e)
			}
		}
	})
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.LogLevel)); err != nil {
		return fmt.Errorf("--log-level %q: %w", f.LogLevel, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch f.LogFormat {
	case "text":
		f.Config.Logger = slog.New(slog.NewTextHandler(stderr, opts))
	case "json":
		f.Config.Logger = slog.New(slog.NewJSONHandler(stderr, opts))
	default:
		return fmt.Errorf("--log-format must be text or json, not %q", f.LogFormat)
	}
	return nil
}
