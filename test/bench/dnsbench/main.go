// Command dnsbench prepares and measures mapmesh's DNS for test/bench/dns.sh
// (dnsperf does the query load; this program does the rest):
//
//	dnsbench seed -api URL
//	    creates the private DNS namespace bench.local and the service backend
//	    (A and SRV records, MULTIVALUE) with 5 instances, which dnsperf queries.
//	dnsbench latency -api URL -dns HOST:PORT [-n 1000] [-churn-workers 8]
//	    measures how long a registration takes to show in DNS: it registers
//	    an instance, and from the moment RegisterInstance returns it queries
//	    the instance's SRV target name (<id>.lat.bench.local A) until the
//	    answer comes. First on an idle server (a pause of -idle-gap between
//	    registrations), then while churn workers re-register 1,000 instances
//	    of the same service as fast as they can. It prints the figures as
//	    JSON.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"
	"github.com/miekg/dns"
)

const (
	namespace = "bench.local"
	ttl       = 60
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dnsbench seed|latency [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	api := fs.String("api", "http://127.0.0.1:9711", "mapmesh API URL")
	dnsAddr := fs.String("dns", "127.0.0.1:9753", "mapmesh DNS address")
	n := fs.Int("n", 1000, "registrations measured in each phase")
	workers := fs.Int("churn-workers", 8, "concurrent re-registrations during the churn phase")
	gap := fs.Duration("idle-gap", 20*time.Millisecond, "pause between two registrations of the idle phase")
	_ = fs.Parse(os.Args[2:])
	c := sd.New(sd.Options{Region: "us-east-1", BaseEndpoint: aws.String(*api),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient:  &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}})
	ctx := context.Background()
	var err error
	switch os.Args[1] {
	case "seed":
		err = seed(ctx, c)
	case "latency":
		err = latency(ctx, c, *dnsAddr, *n, *workers, *gap)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dnsbench:", err)
		os.Exit(1)
	}
}

func seed(ctx context.Context, c *sd.Client) error {
	op, err := c.CreatePrivateDnsNamespace(ctx, &sd.CreatePrivateDnsNamespaceInput{Name: aws.String(namespace), Vpc: aws.String("vpc-bench")})
	if err != nil {
		return err
	}
	got, err := c.GetOperation(ctx, &sd.GetOperationInput{OperationId: op.OperationId})
	if err != nil {
		return err
	}
	nsID := got.Operation.Targets[string(types.OperationTargetTypeNamespace)]
	svc, err := createService(ctx, c, nsID, "backend", types.RecordTypeA, types.RecordTypeSrv)
	if err != nil {
		return err
	}
	for i := 1; i <= 5; i++ {
		if err := register(ctx, c, svc, fmt.Sprintf("i-%d", i), fmt.Sprintf("10.0.0.%d", i)); err != nil {
			return err
		}
	}
	return nil
}

func createService(ctx context.Context, c *sd.Client, nsID, name string, recs ...types.RecordType) (string, error) {
	cfg := &types.DnsConfig{RoutingPolicy: types.RoutingPolicyMultivalue}
	for _, r := range recs {
		cfg.DnsRecords = append(cfg.DnsRecords, types.DnsRecord{Type: r, TTL: aws.Int64(ttl)})
	}
	out, err := c.CreateService(ctx, &sd.CreateServiceInput{Name: aws.String(name), NamespaceId: &nsID, DnsConfig: cfg})
	if err != nil {
		return "", err
	}
	return *out.Service.Id, nil
}

func register(ctx context.Context, c *sd.Client, svc, id, ip string) error {
	_, err := c.RegisterInstance(ctx, &sd.RegisterInstanceInput{ServiceId: &svc, InstanceId: &id,
		Attributes: map[string]string{"AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": "8080"}})
	return err
}

// phase is the result of one measured phase.
type phase struct {
	N      int     `json:"n"`
	Missed int     `json:"missed"`
	P50    float64 `json:"p50_ms"`
	P90    float64 `json:"p90_ms"`
	P99    float64 `json:"p99_ms"`
	Max    float64 `json:"max_ms"`
	// ChurnPerSec is the rate of the background re-registrations.
	ChurnPerSec float64 `json:"churn_registrations_per_s,omitempty"`
}

func latency(ctx context.Context, c *sd.Client, dnsAddr string, n, workers int, gap time.Duration) error {
	var nsID string
	p := sd.NewListNamespacesPaginator(c, &sd.ListNamespacesInput{})
	for p.HasMorePages() && nsID == "" {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, ns := range page.Namespaces {
			if *ns.Name == namespace {
				nsID = *ns.Id
			}
		}
	}
	if nsID == "" {
		return errors.New("namespace bench.local not found; run dnsbench seed first")
	}
	svc, err := createService(ctx, c, nsID, "lat", types.RecordTypeSrv)
	if err != nil {
		return err
	}
	conn, err := dns.DialTimeout("udp", dnsAddr, 2*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()

	idle, err := measure(ctx, c, conn, svc, "idle", n, gap)
	if err != nil {
		return err
	}

	// Churn: workers re-register instances bg-0..bg-999 with a new address
	// each time, into the service the probes register into.
	cctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var churned atomic.Int64
	var churnErr atomic.Value
	for w := range workers {
		wg.Go(func() {
			for i := w; cctx.Err() == nil; i += workers {
				id := fmt.Sprintf("bg-%d", i%1000)
				if err := register(cctx, c, svc, id, fmt.Sprintf("10.2.%d.%d", i>>8&255, i&255)); err != nil {
					if cctx.Err() == nil {
						churnErr.Store(err)
					}
					return
				}
				churned.Add(1)
			}
		})
	}
	time.Sleep(time.Second) // let the churn reach its pace
	start, before := time.Now(), churned.Load()
	churn, err := measure(ctx, c, conn, svc, "churn", n, 0)
	rate := float64(churned.Load()-before) / time.Since(start).Seconds()
	stop()
	wg.Wait()
	if err != nil {
		return err
	}
	if e, ok := churnErr.Load().(error); ok {
		return fmt.Errorf("churn: %w", e)
	}
	churn.ChurnPerSec = rate
	return json.NewEncoder(os.Stdout).Encode(map[string]phase{"idle": idle, "churn": churn})
}

// measure registers n new instances one after the other, gap apart, and
// times each from RegisterInstance's return to the first DNS answer that
// has it.
func measure(ctx context.Context, c *sd.Client, conn *dns.Conn, svc, prefix string, n int, gap time.Duration) (phase, error) {
	var ms []float64
	missed := 0
	for i := range n {
		time.Sleep(gap)
		id := fmt.Sprintf("%s-%d", prefix, i)
		if err := register(ctx, c, svc, id, fmt.Sprintf("10.1.%d.%d", i>>8&255, i&255)); err != nil {
			return phase{}, err
		}
		t0 := time.Now()
		q := new(dns.Msg)
		q.SetQuestion(id+".lat."+namespace+".", dns.TypeA)
		seen := false
		for time.Since(t0) < 5*time.Second {
			r, err := exchange(conn, q)
			if err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0 {
				seen = true
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
		if !seen {
			missed++
			continue
		}
		ms = append(ms, float64(time.Since(t0).Microseconds())/1000)
	}
	slices.Sort(ms)
	pct := func(p float64) float64 {
		if len(ms) == 0 {
			return 0
		}
		return ms[min(len(ms)-1, int(p*float64(len(ms))))]
	}
	return phase{N: n, Missed: missed, P50: pct(0.50), P90: pct(0.90), P99: pct(0.99), Max: pct(1)}, nil
}

// exchange sends q on conn and reads its answer, skipping stale answers
// to earlier queries that timed out.
func exchange(conn *dns.Conn, q *dns.Msg) (*dns.Msg, error) {
	q.Id = dns.Id()
	if err := conn.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return nil, err
	}
	if err := conn.WriteMsg(q); err != nil {
		return nil, err
	}
	for {
		r, err := conn.ReadMsg()
		if err != nil {
			return nil, err
		}
		if r.Id == q.Id {
			return r, nil
		}
	}
}
