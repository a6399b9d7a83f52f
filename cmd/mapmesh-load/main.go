// Command mapmesh-load is a closed-loop load generator for the AWS Cloud Map
// API (servicediscovery, AWS JSON 1.1). It drives mapmesh and any other
// server that speaks the API, such as moto, the same way.
//
// Usage:
//
//	mapmesh-load seed     -endpoint URL -namespace NS -service SVC -instances 100
//	mapmesh-load discover -endpoint URL -namespace NS -service SVC [-expect 100] [-c 8 -n 200000 -duration 10s -warmup 1s]
//	mapmesh-load register -endpoint URL -namespace NS -service SVC [load flags]
//	mapmesh-load revision -endpoint URL -namespace NS -service SVC [load flags]
//	mapmesh-load watch    -endpoint URL -namespace NS -service SVC [-n 10000 -server-pid PID]
//	mapmesh-load visibility -endpoint URL -read-endpoint URL2 -namespace NS -service SVC [-n 200]
//	mapmesh-load stub     -listen 127.0.0.1:0 (-body-file F | -endpoint URL -namespace NS -service SVC)
//	mapmesh-load populate -endpoint URL -instances N [-per-service 1000 -services-per-namespace 2 -c 16]
//	mapmesh-load churn    -endpoint URL -instances N -pairs P [-c 16]
//	mapmesh-load ops      -endpoint URL [-pages 20 -deep-depth 0 -walk-budget 1m]
//	mapmesh-load ready    -endpoint URL [-since-ns T -namespace scale-0000 -service svc-00 -any-answer]
//
// Every request is SigV4-signed with static fake credentials. c workers each
// send a request, read the whole answer, record the latency and repeat, until
// -n requests have been sent or -duration has passed, whichever comes first.
// With -server-pid the server's CPU time over the measured window is read
// from /proc and reported per request: on a shared, noisy machine that is the
// figure to trust. stub answers every POST with one canned body and does no
// other work: driving it with the same client gives the client-bound ceiling.
// visibility registers one instance at a time through one server of a
// cluster and reads each back through another (GetInstance every -poll)
// until it shows: the time from a write's acknowledgement to its being
// visible elsewhere.
//
// The scale commands work on a deterministic layout: instance g is
// i-<g in hex> in service svc-NN of HTTP namespace scale-NNNN, PerService
// instances to a service. populate creates what is missing; churn
// deregisters and registers again random instances of it (each call a
// retained Cloud Map operation); ops times ListOperations pages; ready
// times a (re)started server's first DiscoverInstances answer.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
)

var commands = []struct {
	name, summary string
	run           func(ctx context.Context, args []string) error
}{
	{"seed", "create an HTTP namespace, a service and N instances", runSeed},
	{"discover", "load: DiscoverInstances", runDiscover},
	{"register", "load: RegisterInstance, a new instance per request", runRegister},
	{"revision", "load: DiscoverInstancesRevision", runRevision},
	{"watch", "hold N blocking discovery queries, register once, time the answers", runWatch},
	{"visibility", "RegisterInstance on one server, then GetInstance on another until it shows", runVisibility},
	{"stub", "serve a canned answer to every POST (the client-bound ceiling)", runStub},
	{"populate", "scale: create namespaces, services and N instances in the scale layout", runPopulate},
	{"churn", "scale: deregister and register again P random instances of the layout", runChurn},
	{"ops", "scale: time ListOperations pages (first, deep, filtered)", runOps},
	{"ready", "scale: time a starting server's first DiscoverInstances answer", runReady},
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: mapmesh-load <command> [flags]   (mapmesh-load <command> -h for flags)")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", c.name, c.summary)
	}
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, c := range commands {
		if c.name == os.Args[1] {
			if err := c.run(ctx, os.Args[2:]); err != nil {
				fmt.Fprintf(os.Stderr, "mapmesh-load %s: %v\n", c.name, err)
				os.Exit(1)
			}
			return
		}
	}
	usage()
	os.Exit(2)
}

// clientFlags are the flags every command has for reaching the server.
type clientFlags struct {
	endpoint, host, region, accessKey, secretKey string
	timeout                                      time.Duration
}

func (f *clientFlags) register(fs *flag.FlagSet, endpoint string) {
	fs.StringVar(&f.endpoint, "endpoint", endpoint, "server `URL`; the data- host prefix is not added")
	fs.StringVar(&f.host, "host-header", "", "Host header to send and sign instead of the endpoint's, e.g. data-localhost:8080")
	fs.StringVar(&f.region, "region", "us-east-1", "SigV4 region")
	fs.StringVar(&f.accessKey, "access-key", "AKIAIOSFODNN7EXAMPLE", "static access key id; a 12-digit key is taken as the account id by moto")
	fs.StringVar(&f.secretKey, "secret-key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "static secret key")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "per-request timeout")
}

func (f *clientFlags) client(conns int) (*client, error) {
	u, err := url.Parse(f.endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("-endpoint %q: want http://host:port", f.endpoint)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return newClient(u.String(), f.host, f.region, f.accessKey, f.secretKey, conns, f.timeout), nil
}

// loadFlags are the flags of the load commands.
type loadFlags struct {
	clientFlags
	cfg                loadConfig
	namespace, service string
	json               bool
}

func newLoadFlags(name string) (*flag.FlagSet, *loadFlags) {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	f := &loadFlags{}
	f.clientFlags.register(fs, "http://127.0.0.1:8080")
	fs.IntVar(&f.cfg.Concurrency, "c", 8, "concurrent workers (connections)")
	fs.Int64Var(&f.cfg.Count, "n", 200000, "stop after this many requests (0: no count bound)")
	fs.DurationVar(&f.cfg.Duration, "duration", 10*time.Second, "stop after this long (0: no time bound)")
	fs.Var(&f.cfg.Warmup, "warmup", "unrecorded warm-up first: a request `count or duration`")
	fs.IntVar(&f.cfg.ServerPID, "server-pid", 0, "report this process's CPU time over the measured window")
	fs.StringVar(&f.namespace, "namespace", "bench", "namespace name")
	fs.StringVar(&f.service, "service", "svc", "service name")
	fs.BoolVar(&f.json, "json", false, "print the result as JSON on stdout (the text summary goes to stderr)")
	return fs, f
}

// runLoad runs the load and prints the result.
func (f *loadFlags) runLoad(ctx context.Context, c *client, scenario, op string, p payloadFunc) error {
	r := &runner{c: c, op: op, payload: p}
	res, err := r.run(ctx, scenario, f.cfg)
	if err != nil {
		return err
	}
	return printResult(res, f.json, res.writeText)
}

// printResult writes text for people on stdout, or, with asJSON, v as JSON on
// stdout and the text on stderr.
func printResult(v any, asJSON bool, text func(io.Writer)) error {
	if !asJSON {
		text(os.Stdout)
		return nil
	}
	text(os.Stderr)
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runDiscover(ctx context.Context, args []string) error {
	fs, f := newLoadFlags("discover")
	maxResults := fs.Int("max-results", 1000, "MaxResults (1000 returns every instance of a seeded service)")
	expect := fs.Int("expect", -1, "fail unless the first answer holds this many instances (-1: any)")
	save := fs.String("save-body", "", "write the first answer to this `file` (a canned body for stub)")
	health := fs.String("health-status", "", "HealthStatus to send (HEALTHY, UNHEALTHY, ALL, HEALTHY_OR_ELSE_ALL; empty: none)")
	fs.Parse(args)
	c, err := f.client(f.cfg.Concurrency)
	if err != nil {
		return err
	}
	in := discoverInput{NamespaceName: f.namespace, ServiceName: f.service, MaxResults: *maxResults, HealthStatus: *health}
	p, err := discoverPayload(ctx, c, in, *expect, *save)
	if err != nil {
		return err
	}
	return f.runLoad(ctx, c, "discover", "DiscoverInstances", p)
}

func runRevision(ctx context.Context, args []string) error {
	fs, f := newLoadFlags("revision")
	fs.Parse(args)
	c, err := f.client(f.cfg.Concurrency)
	if err != nil {
		return err
	}
	p, err := revisionPayload(ctx, c, f.namespace, f.service)
	if err != nil {
		return err
	}
	return f.runLoad(ctx, c, "revision", "DiscoverInstancesRevision", p)
}

func runRegister(ctx context.Context, args []string) error {
	fs, f := newLoadFlags("register")
	serviceID := fs.String("service-id", "", "service id to register into (default: look up -namespace/-service)")
	idSpace := fs.Int64("id-space", 0, "cycle instance ids over this many (re-registering updates); 0: every id is new")
	fs.Parse(args)
	c, err := f.client(f.cfg.Concurrency)
	if err != nil {
		return err
	}
	if *serviceID == "" {
		if *serviceID, err = resolveService(ctx, c, f.namespace, f.service); err != nil {
			return err
		}
	}
	return f.runLoad(ctx, c, "register", "RegisterInstance", registerPayload(*serviceID, *idSpace))
}

func runSeed(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("seed", flag.ExitOnError)
	var f clientFlags
	f.register(fs, "http://127.0.0.1:8080")
	namespace := fs.String("namespace", "bench", "HTTP namespace name (created if missing)")
	service := fs.String("service", "svc", "service name (created if missing)")
	n := fs.Int("instances", 100, "instances to register (at most 1000, so DiscoverInstances returns them all)")
	conc := fs.Int("c", 8, "concurrent registrations")
	opTimeout := fs.Duration("op-timeout", 60*time.Second, "how long to wait for operations and for instances to show")
	asJSON := fs.Bool("json", false, "print the result as JSON on stdout")
	fs.Parse(args)
	if *n < 0 || *n > 1000 || *conc < 1 {
		return fmt.Errorf("want 0 <= -instances <= 1000 and -c >= 1")
	}
	c, err := f.client(*conc)
	if err != nil {
		return err
	}
	res, err := seed(ctx, c, *namespace, *service, *n, *conc, *opTimeout)
	if err != nil {
		return err
	}
	return printResult(res, *asJSON, func(w io.Writer) {
		fmt.Fprintf(w, "seeded %s: namespace %s (%s) service %s (%s) with %d instances in %.1fs\n",
			f.endpoint, *namespace, res.NamespaceID, *service, res.ServiceID, res.Instances, res.Seconds)
	})
}

func runStub(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("stub", flag.ExitOnError)
	var f clientFlags
	f.register(fs, "")
	listen := fs.String("listen", "127.0.0.1:0", "address to serve on")
	bodyFile := fs.String("body-file", "", "canned answer `file` (e.g. from discover -save-body)")
	namespace := fs.String("namespace", "bench", "without -body-file: namespace of the DiscoverInstances call whose answer is captured from -endpoint")
	service := fs.String("service", "svc", "without -body-file: service of that call")
	maxResults := fs.Int("max-results", 1000, "without -body-file: MaxResults of that call")
	fs.Parse(args)

	var body []byte
	var err error
	switch {
	case *bodyFile != "":
		body, err = os.ReadFile(*bodyFile)
	case f.endpoint != "":
		var c *client
		if c, err = f.client(1); err == nil {
			in, _ := json.Marshal(discoverInput{NamespaceName: *namespace, ServiceName: *service, MaxResults: *maxResults})
			body, err = c.rawCall(ctx, "DiscoverInstances", in)
		}
	default:
		err = fmt.Errorf("need -body-file or -endpoint to capture the answer from")
	}
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Printf("stub listening on http://%s (%d-byte answer)\n", ln.Addr(), len(body))
	return serveStub(ctx, ln, body)
}
