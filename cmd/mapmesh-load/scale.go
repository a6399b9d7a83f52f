package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The scale commands: populate a server with many instances in a
// deterministic layout, churn them (each pair adds two retained
// operations), and wait for a restarted server's first answer.

// layout is where the g-th of N instances lives: services of PerService
// instances, ServicesPerNamespace services to an HTTP namespace. Instance g
// is in service g/PerService; service s is in namespace s/ServicesPerNamespace.
// Names and instance ids follow from the indexes, so a later command finds
// any instance again without listing.
type layout struct {
	Prefix               string `json:"prefix"`
	Instances            int64  `json:"instances"`
	PerService           int64  `json:"per_service"`
	ServicesPerNamespace int64  `json:"services_per_namespace"`
}

func (l layout) check() error {
	switch {
	case l.Prefix == "":
		return errors.New("layout: empty namespace prefix")
	case l.Instances < 0 || l.PerService < 1 || l.ServicesPerNamespace < 1:
		return fmt.Errorf("layout: want -instances >= 0, -per-service >= 1 and -services-per-namespace >= 1")
	}
	return nil
}

// services is how many services hold the instances.
func (l layout) services() int64 { return (l.Instances + l.PerService - 1) / l.PerService }

// namespaces is how many namespaces hold the services.
func (l layout) namespaces() int64 {
	return (l.services() + l.ServicesPerNamespace - 1) / l.ServicesPerNamespace
}

// namespaceName names namespace n: scale-0000, scale-0001, ...
func (l layout) namespaceName(n int64) string { return fmt.Sprintf("%s-%04d", l.Prefix, n) }

// serviceName names service s within its namespace: svc-00, svc-01, ...
func (l layout) serviceName(s int64) string { return fmt.Sprintf("svc-%02d", s%l.ServicesPerNamespace) }

// serviceOf is the service that holds instance g.
func (l layout) serviceOf(g int64) int64 { return g / l.PerService }

// namespaceOf is the namespace that holds service s.
func (l layout) namespaceOf(s int64) int64 { return s / l.ServicesPerNamespace }

// instancesOf is the range [lo, hi) of instances in service s.
func (l layout) instancesOf(s int64) (lo, hi int64) {
	return s * l.PerService, min((s+1)*l.PerService, l.Instances)
}

// scaleInstanceID is the id of instance g, like an EC2 instance's.
func scaleInstanceID(g int64) string { return seedInstanceID(g) }

// scaleAttributes are instance g's attributes: an address, a port and two
// custom attributes, the shape of an ECS task's registration.
func scaleAttributes(g int64) map[string]string {
	return map[string]string{
		"AWS_INSTANCE_IPV4": fmt.Sprintf("10.%d.%d.%d", g>>16&255, g>>8&255, g&255),
		"AWS_INSTANCE_PORT": fmt.Sprint(8080 + g%4),
		"az":                []string{"us-east-1a", "us-east-1b", "us-east-1c"}[g%3],
		"version":           fmt.Sprintf("2024.%d.%d", g%12+1, g%7),
	}
}

// scaleFlags are the flags of populate and churn.
type scaleFlags struct {
	clientFlags
	layout   layout
	conc     int
	duration time.Duration
	progress time.Duration
	json     bool
}

func newScaleFlags(name string) (*flag.FlagSet, *scaleFlags) {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	f := &scaleFlags{}
	f.clientFlags.register(fs, "http://127.0.0.1:8080")
	fs.StringVar(&f.layout.Prefix, "prefix", "scale", "namespace names are PREFIX-0000, PREFIX-0001, ...")
	fs.Int64Var(&f.layout.Instances, "instances", 10000, "instances in the layout")
	fs.Int64Var(&f.layout.PerService, "per-service", 1000, "instances per service")
	fs.Int64Var(&f.layout.ServicesPerNamespace, "services-per-namespace", 2, "services per HTTP namespace")
	fs.IntVar(&f.conc, "c", 16, "concurrent requests")
	fs.DurationVar(&f.duration, "duration", time.Hour, "give up after this long (the result says how far it got)")
	fs.DurationVar(&f.progress, "progress", 5*time.Second, "print progress to stderr this often (0: never)")
	fs.BoolVar(&f.json, "json", false, "print the result as JSON on stdout (the text summary goes to stderr)")
	return fs, f
}

func (f *scaleFlags) parse(fs *flag.FlagSet, args []string) (*client, error) {
	fs.Parse(args)
	if err := f.layout.check(); err != nil {
		return nil, err
	}
	if f.conc < 1 {
		return nil, errors.New("want -c >= 1")
	}
	return f.client(f.conc)
}

// retryable says whether a failed call may be sent again: transport errors,
// 5xx answers and throttling.
func retryable(err error) bool {
	var ae *apiError
	if !errors.As(err, &ae) {
		return !errors.Is(err, context.Canceled)
	}
	return ae.Status >= 500 || ae.Type == "ThrottlingException" || ae.Type == "RequestLimitExceeded"
}

// errKey is how a failed call is counted: "400 InstanceNotFound", "transport: EOF".
func errKey(err error) string {
	if ae := (*apiError)(nil); errors.As(err, &ae) {
		return ae.key()
	}
	return transportErrKey(err)
}

// tally collects the latencies and errors of one kind of call from many
// goroutines.
type tally struct {
	mu   sync.Mutex
	lats []time.Duration  // guarded by mu
	errs map[string]int64 // guarded by mu
}

func (t *tally) add(d time.Duration, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		if t.errs == nil {
			t.errs = map[string]int64{}
		}
		t.errs[errKey(err)]++
		return
	}
	t.lats = append(t.lats, d)
}

// resultInto returns the latency distribution and adds the error counts to
// errs, their keys prefixed.
func (t *tally) resultInto(errs map[string]int64, prefix string) Latency {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, n := range t.errs {
		errs[prefix+k] += n
	}
	return summarize(t.lats)
}

// callRetry sends op, timing each attempt into t, and sends it again (up to
// 5 attempts, with backoff) while the error is retryable.
func callRetry(ctx context.Context, c *client, t *tally, op string, in, out any) error {
	var err error
	for attempt := range 5 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Duration(50<<attempt) * time.Millisecond):
			}
		}
		t0 := time.Now()
		err = c.call(ctx, op, in, out)
		t.add(time.Since(t0), err)
		if err == nil || !retryable(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// progress prints done/total and the rate every interval until stop is
// called.
func progress(name string, interval time.Duration, total int64, done *atomic.Int64) (stop func()) {
	if interval <= 0 {
		return func() {}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		start, last, lastN := time.Now(), time.Now(), int64(0)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case now := <-t.C:
				n := done.Load()
				fmt.Fprintf(os.Stderr, "%s: %d/%d after %.0fs, %.0f/s now\n",
					name, n, total, now.Sub(start).Seconds(), float64(n-lastN)/now.Sub(last).Seconds())
				last, lastN = now, n
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}

// resolveLayout returns the ids of the layout's services, indexed by service
// number. With create, missing namespaces and services are created; fresh
// says which services were, and nsCreated counts the namespaces.
func resolveLayout(ctx context.Context, c *client, l layout, conc int, create bool, t *tally) (ids []string, fresh []bool, nsCreated int64, err error) {
	existing := map[string]string{} // namespace name -> id
	token := ""
	for {
		var out struct {
			Namespaces []struct{ Id, Name string }
			NextToken  string
		}
		in := map[string]any{"MaxResults": 100}
		if token != "" {
			in["NextToken"] = token
		}
		if err := callRetry(ctx, c, t, "ListNamespaces", in, &out); err != nil {
			return nil, nil, 0, err
		}
		for _, ns := range out.Namespaces {
			existing[ns.Name] = ns.Id
		}
		if token = out.NextToken; token == "" {
			break
		}
	}

	ids, fresh = make([]string, l.services()), make([]bool, l.services())
	var next, nsNew atomic.Int64
	errs := make([]error, conc)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			for n := next.Add(1) - 1; n < l.namespaces() && errs[w] == nil && ctx.Err() == nil; n = next.Add(1) - 1 {
				var created bool
				created, errs[w] = resolveNamespace(ctx, c, l, n, existing[l.namespaceName(n)], create, t, ids, fresh)
				if created {
					nsNew.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(append(errs, ctx.Err())...); err != nil {
		return nil, nil, 0, err
	}
	return ids, fresh, nsNew.Load(), nil
}

// resolveNamespace fills ids (and fresh) for the services of namespace n,
// whose id is nsID, or "" if it does not exist yet. It reports whether it
// created the namespace.
func resolveNamespace(ctx context.Context, c *client, l layout, n int64, nsID string, create bool, t *tally, ids []string, fresh []bool) (created bool, err error) {
	name := l.namespaceName(n)
	if nsID == "" {
		if !create {
			return false, fmt.Errorf("scale: namespace %s not found (run populate first)", name)
		}
		var out struct{ OperationId string }
		in := map[string]string{"Name": name, "CreatorRequestId": "mapmesh-load-scale-ns-" + name}
		if err := callRetry(ctx, c, t, "CreateHttpNamespace", in, &out); err != nil {
			return false, err
		}
		targets, err := waitOperation(ctx, c, out.OperationId, time.Minute)
		if err != nil {
			return false, err
		}
		if nsID = targets["NAMESPACE"]; nsID == "" {
			return false, fmt.Errorf("scale: operation %s has no NAMESPACE target", out.OperationId)
		}
		created = true
	}
	found := map[string]string{}
	token := ""
	for {
		var out struct {
			Services  []struct{ Id, Name string }
			NextToken string
		}
		in := map[string]any{"MaxResults": 100, "Filters": []filter{{Name: "NAMESPACE_ID", Values: []string{nsID}, Condition: "EQ"}}}
		if token != "" {
			in["NextToken"] = token
		}
		if err := callRetry(ctx, c, t, "ListServices", in, &out); err != nil {
			return created, err
		}
		for _, s := range out.Services {
			found[s.Name] = s.Id
		}
		if token = out.NextToken; token == "" {
			break
		}
	}
	lo := n * l.ServicesPerNamespace
	for s := lo; s < min(lo+l.ServicesPerNamespace, l.services()); s++ {
		svc := l.serviceName(s)
		if id := found[svc]; id != "" {
			ids[s] = id
			continue
		}
		if !create {
			return created, fmt.Errorf("scale: service %s not found in namespace %s (run populate first)", svc, name)
		}
		var out struct{ Service struct{ Id string } }
		in := map[string]string{"Name": svc, "NamespaceId": nsID, "CreatorRequestId": "mapmesh-load-scale-svc-" + nsID + "-" + svc}
		if err := callRetry(ctx, c, t, "CreateService", in, &out); err != nil {
			return created, err
		}
		ids[s], fresh[s] = out.Service.Id, true
	}
	return created, nil
}

// listInstanceIDs returns the ids of the instances of service id.
func listInstanceIDs(ctx context.Context, c *client, t *tally, id string) (map[string]bool, error) {
	have := map[string]bool{}
	token := ""
	for {
		var out struct {
			Instances []struct{ Id string }
			NextToken string
		}
		in := map[string]any{"ServiceId": id, "MaxResults": 100}
		if token != "" {
			in["NextToken"] = token
		}
		if err := callRetry(ctx, c, t, "ListInstances", in, &out); err != nil {
			return nil, err
		}
		for _, i := range out.Instances {
			have[i.Id] = true
		}
		if token = out.NextToken; token == "" {
			return have, nil
		}
	}
}

// ScaleResult is what populate and churn print.
type ScaleResult struct {
	Scenario    string  `json:"scenario"`
	Endpoint    string  `json:"endpoint"`
	Layout      layout  `json:"layout"`
	Concurrency int     `json:"concurrency"`
	StoppedBy   string  `json:"stopped_by"` // "count", "duration" or "interrupted"
	Seconds     float64 `json:"seconds"`    // the whole command
	SetupSec    float64 `json:"setup_s"`    // finding (populate: creating) namespaces and services, listing existing instances

	// populate
	NamespacesCreated int64 `json:"namespaces_created,omitempty"`
	ServicesCreated   int64 `json:"services_created,omitempty"`
	Skipped           int64 `json:"skipped,omitempty"` // instances that already existed

	// Work units: registrations (populate) or pairs (churn).
	Want      int64   `json:"want"`
	Done      int64   `json:"done"`
	WorkSec   float64 `json:"work_s"`
	PerSecond float64 `json:"per_s"` // Done / WorkSec

	Register   Latency          `json:"register"`             // RegisterInstance attempts that succeeded
	Deregister *Latency         `json:"deregister,omitempty"` // churn
	Errors     map[string]int64 `json:"errors"`               // failed attempts, retried or not
}

func (r *ScaleResult) writeText(w io.Writer) {
	unit := "instances"
	if r.Scenario == "churn" {
		unit = "pairs"
	}
	fmt.Fprintf(w, "%s %s c=%d: %d of %d %s in %.1fs (%.0f/s), stopped by %s; setup %.1fs, whole run %.1fs\n",
		r.Scenario, r.Endpoint, r.Concurrency, r.Done, r.Want, unit, r.WorkSec, r.PerSecond, r.StoppedBy, r.SetupSec, r.Seconds)
	if r.Scenario == "populate" {
		fmt.Fprintf(w, "  layout %d instances, %d per service, %d services per namespace: %d namespaces (%d created), %d services (%d created); %d instances already there\n",
			r.Layout.Instances, r.Layout.PerService, r.Layout.ServicesPerNamespace, r.Layout.namespaces(), r.NamespacesCreated,
			r.Layout.services(), r.ServicesCreated, r.Skipped)
	}
	fmt.Fprintf(w, "  RegisterInstance ms p50 %.2f p99 %.2f max %.1f", r.Register.P50, r.Register.P99, r.Register.Max)
	if d := r.Deregister; d != nil {
		fmt.Fprintf(w, "; DeregisterInstance ms p50 %.2f p99 %.2f max %.1f", d.P50, d.P99, d.Max)
	}
	fmt.Fprintln(w)
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		fmt.Fprintf(w, "  error %s: %d\n", k, r.Errors[k])
	}
}

// finish fills in the totals and prints r; a run that did not do all its
// work is an error.
func (r *ScaleResult) finish(start, workStart time.Time, asJSON bool) error {
	r.Seconds = time.Since(start).Seconds()
	r.WorkSec = time.Since(workStart).Seconds()
	if r.WorkSec > 0 {
		r.PerSecond = float64(r.Done) / r.WorkSec
	}
	if err := printResult(r, asJSON, r.writeText); err != nil {
		return err
	}
	if r.Done < r.Want {
		return fmt.Errorf("%s: did %d of %d (stopped by %s)", r.Scenario, r.Done, r.Want, r.StoppedBy)
	}
	return nil
}

func stoppedBy(parent, ctx context.Context) string {
	switch {
	case parent.Err() != nil:
		return "interrupted"
	case ctx.Err() != nil:
		return "duration"
	}
	return "count"
}

func runPopulate(parent context.Context, args []string) error {
	fs, f := newScaleFlags("populate")
	c, err := f.parse(fs, args)
	if err != nil {
		return err
	}
	ctx := parent
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(parent, f.duration)
		defer cancel()
	}
	res, err := populate(ctx, c, f.layout, f.conc, f.progress)
	if err != nil {
		return err
	}
	res.StoppedBy = stoppedBy(parent, ctx)
	return res.finish(res.start, res.workStart, f.json)
}

// scaleRun is a ScaleResult being filled in.
type scaleRun struct {
	*ScaleResult
	start, workStart time.Time
}

// populate makes the layout's namespaces and services exist and registers
// every instance that does not exist yet, conc at a time.
func populate(ctx context.Context, c *client, l layout, conc int, every time.Duration) (*scaleRun, error) {
	r := &scaleRun{ScaleResult: &ScaleResult{Scenario: "populate", Endpoint: c.endpoint, Layout: l, Concurrency: conc}, start: time.Now()}
	var setup, reg tally
	ids, fresh, nsNew, err := resolveLayout(ctx, c, l, conc, true, &setup)
	if err != nil {
		return nil, err
	}
	r.NamespacesCreated = nsNew
	for _, f := range fresh {
		if f {
			r.ServicesCreated++
		}
	}

	// Instances of services that existed before may exist already.
	var old []int64
	for s := range int64(len(ids)) {
		if !fresh[s] {
			old = append(old, s)
		}
	}
	have := make([]map[string]bool, len(ids))
	listErrs := make([]error, conc)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(old)) && listErrs[w] == nil && ctx.Err() == nil; i = next.Add(1) - 1 {
				have[old[i]], listErrs[w] = listInstanceIDs(ctx, c, &setup, ids[old[i]])
			}
		})
	}
	wg.Wait()
	if err := errors.Join(append(listErrs, ctx.Err())...); err != nil {
		return nil, err
	}
	var work []int64 // instance numbers to register
	for g := range l.Instances {
		if have[l.serviceOf(g)][scaleInstanceID(g)] {
			r.Skipped++
			continue
		}
		work = append(work, g)
	}
	r.Want = int64(len(work))
	r.SetupSec = time.Since(r.start).Seconds()

	// A retried call repeats its CreatorRequestId; another run does not, so
	// that an instance that an interrupted churn left deregistered is
	// registered again rather than answered with the old operation.
	run := runID()
	r.workStart = time.Now()
	var done atomic.Int64
	stop := progress("populate", every, r.Want, &done)
	next.Store(0)
	errs := make([]error, conc)
	for w := range conc {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(work)) && errs[w] == nil && ctx.Err() == nil; i = next.Add(1) - 1 {
				g := work[i]
				in := registerInput{
					ServiceId:        ids[l.serviceOf(g)],
					InstanceId:       scaleInstanceID(g),
					CreatorRequestId: fmt.Sprintf("mapmesh-load-scale-%s-%d", run, g),
					Attributes:       scaleAttributes(g),
				}
				if errs[w] = callRetry(ctx, c, &reg, "RegisterInstance", in, nil); errs[w] == nil {
					done.Add(1)
				}
			}
		})
	}
	wg.Wait()
	stop()
	r.Done = done.Load()
	r.Errors = map[string]int64{}
	r.Register = reg.resultInto(r.Errors, "RegisterInstance ")
	setup.resultInto(r.Errors, "setup ")
	if err := errors.Join(errs...); err != nil && ctx.Err() == nil {
		return nil, err
	}
	return r, nil
}

func runChurn(parent context.Context, args []string) error {
	fs, f := newScaleFlags("churn")
	pairs := fs.Int64("pairs", 1000, "deregister+register pairs to do")
	seed := fs.Uint64("seed", 0, "random seed for picking instances (0: a random one)")
	c, err := f.parse(fs, args)
	if err != nil {
		return err
	}
	if *pairs < 0 || f.layout.Instances < 1 {
		return errors.New("want -pairs >= 0 and -instances >= 1")
	}
	ctx := parent
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(parent, f.duration)
		defer cancel()
	}
	if *seed == 0 {
		n, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
		*seed = n.Uint64()
	}
	r, err := churn(ctx, c, f.layout, *pairs, f.conc, *seed, f.progress)
	if err != nil {
		return err
	}
	r.StoppedBy = stoppedBy(parent, ctx)
	return r.finish(r.start, r.workStart, f.json)
}

// picker hands out random instance numbers, never one that another worker
// is churning.
type picker struct {
	mu       sync.Mutex
	rng      *mrand.Rand    // guarded by mu
	inFlight map[int64]bool // guarded by mu
	n        int64
}

func (p *picker) pick() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		g := p.rng.Int64N(p.n)
		if !p.inFlight[g] {
			p.inFlight[g] = true
			return g
		}
	}
}

func (p *picker) release(g int64) {
	p.mu.Lock()
	delete(p.inFlight, g)
	p.mu.Unlock()
}

// churn deregisters and registers again pairs random instances of the
// layout, conc at a time. Every request is a new Cloud Map operation.
func churn(ctx context.Context, c *client, l layout, pairs int64, conc int, seed uint64, every time.Duration) (*scaleRun, error) {
	r := &scaleRun{ScaleResult: &ScaleResult{Scenario: "churn", Endpoint: c.endpoint, Layout: l, Concurrency: conc, Want: pairs}, start: time.Now()}
	var setup, reg, dereg tally
	ids, _, _, err := resolveLayout(ctx, c, l, conc, false, &setup)
	if err != nil {
		return nil, err
	}
	r.SetupSec = time.Since(r.start).Seconds()
	// The picker needs a free instance per worker.
	conc = int(min(int64(conc), l.Instances))
	run := runID() // this run's CreatorRequestIds
	p := &picker{rng: mrand.New(mrand.NewPCG(seed, seed>>1^0x9e3779b97f4a7c15)), inFlight: map[int64]bool{}, n: l.Instances}

	r.workStart = time.Now()
	var next, done atomic.Int64
	stop := progress("churn", every, pairs, &done)
	errs := make([]error, conc)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < pairs && errs[w] == nil && ctx.Err() == nil; i = next.Add(1) - 1 {
				g := p.pick()
				errs[w] = churnOne(ctx, c, ids[l.serviceOf(g)], g, fmt.Sprintf("mapmesh-load-churn-%s-%d", run, i), &reg, &dereg)
				p.release(g)
				if errs[w] == nil {
					done.Add(1)
				}
			}
		})
	}
	wg.Wait()
	stop()
	r.Done = done.Load()
	var d Latency
	r.Errors = map[string]int64{}
	r.Register = reg.resultInto(r.Errors, "RegisterInstance ")
	d = dereg.resultInto(r.Errors, "DeregisterInstance ")
	r.Deregister = &d
	setup.resultInto(r.Errors, "setup ")
	if err := errors.Join(errs...); err != nil && ctx.Err() == nil {
		return nil, err
	}
	return r, nil
}

// runID is a random tag that makes one run's CreatorRequestIds its own.
func runID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// churnOne deregisters instance g of service id and registers it again.
// A retried deregistration may find the instance gone already: that is done.
func churnOne(ctx context.Context, c *client, id string, g int64, requestID string, reg, dereg *tally) error {
	err := callRetry(ctx, c, dereg, "DeregisterInstance", map[string]string{"ServiceId": id, "InstanceId": scaleInstanceID(g)}, nil)
	if ae := (*apiError)(nil); errors.As(err, &ae) && ae.Type == "InstanceNotFound" {
		err = nil // gone already (a retried call), or left deregistered by an interrupted churn
	}
	if err != nil {
		return err
	}
	in := registerInput{ServiceId: id, InstanceId: scaleInstanceID(g), CreatorRequestId: requestID, Attributes: scaleAttributes(g)}
	return callRetry(ctx, c, reg, "RegisterInstance", in, nil)
}
