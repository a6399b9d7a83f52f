//go:build e2e

// Package durability runs the real mapmesh binary as a process: it kills it
// with SIGKILL in the middle of a write load and checks, after a restart on
// the same data directory, that every acknowledged write is there and
// nothing is half-applied; and it checks how the process starts and stops.
package durability

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"
)

// binary builds cmd/mapmesh once per test binary (or takes MAPMESH_BIN).
func binary(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("MAPMESH_BIN"); b != "" {
		return b
	}
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "mapmesh-durability-")
		if built.err != nil {
			return
		}
		out := filepath.Join(built.dir, "mapmesh")
		cmd := exec.Command("go", "build", "-o", out, "github.com/mapmesh/mapmesh/cmd/mapmesh")
		cmd.Stderr = os.Stderr
		if built.err = cmd.Run(); built.err == nil {
			built.path = out
		}
	})
	if built.err != nil {
		t.Fatalf("go build: %v", built.err)
	}
	return built.path
}

var built struct {
	once      sync.Once
	dir, path string
	err       error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// proc is a running mapmesh process.
type proc struct {
	cmd *exec.Cmd
	url string
}

func start(t *testing.T, bin, dataDir string, extra ...string) *proc {
	t.Helper()
	// DNS and xDS off: their default ports would collide between tests.
	args := append([]string{"--api-addr", "127.0.0.1:0", "--dns-addr", "", "--xds-addr", "", "--data-dir", dataDir, "--log-format", "text",
		"--throttle", "off", "--quota-instances-per-namespace", "100000"}, extra...)
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if i := strings.Index(line, "api_addr="); i >= 0 && strings.Contains(line, "listening") {
				f := strings.Fields(line[i+len("api_addr="):])
				addr <- f[0]
			}
		}
	}()
	select {
	case a := <-addr:
		return &proc{cmd: cmd, url: "http://" + a}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("mapmesh did not log its address within 30s")
	}
	return nil
}

func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
}

// client returns an SDK client with its default retries: the SDK retries
// "use of closed network connection" read errors, which Go's transport
// produces now and then on a healthy keep-alive connection
// (aws/aws-sdk-go-v2#2737); RegisterInstance's CreatorRequestId makes the
// retry safe.
func client(url string) *sd.Client {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", strings.TrimPrefix(url, "http://"))
		}}}
	return sd.New(sd.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDDURABILITY", "secret", ""),
		HTTPClient:   hc,
	})
}

func TestKillDuringWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a real process")
	}
	bin := binary(t)
	dataDir := t.TempDir()
	ctx := context.Background()

	p := start(t, bin, dataDir)
	c := client(p.url)
	nsOp, err := c.CreateHttpNamespace(ctx, &sd.CreateHttpNamespaceInput{Name: aws.String("durable")})
	if err != nil {
		t.Fatal(err)
	}
	op, err := c.GetOperation(ctx, &sd.GetOperationInput{OperationId: nsOp.OperationId})
	if err != nil {
		t.Fatal(err)
	}
	nsID := op.Operation.Targets["NAMESPACE"]
	const services = 4
	var svcIDs []string
	for i := range services {
		s, err := c.CreateService(ctx, &sd.CreateServiceInput{Name: aws.String(fmt.Sprintf("svc%d", i)), NamespaceId: &nsID})
		if err != nil {
			t.Fatal(err)
		}
		svcIDs = append(svcIDs, *s.Service.Id)
	}

	// Eight writers register instances (re-registering a few, deregistering
	// some) and record what was acknowledged, until the process dies.
	type ack struct {
		svc, inst, opID string
		deregistered    bool
		// uncertain: a deregistration was sent but not acknowledged, so
		// the instance may or may not be there.
		uncertain bool
	}
	var mu sync.Mutex
	var acks []ack
	// Each service stays under DiscoverInstances' 1,000 cap.
	const perWriter = 400
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				select {
				case <-stop:
					return
				default:
				}
				svc := svcIDs[(w+i)%services]
				inst := fmt.Sprintf("w%d-%d", w, i)
				out, err := c.RegisterInstance(ctx, &sd.RegisterInstanceInput{ServiceId: &svc, InstanceId: &inst,
					Attributes: map[string]string{"AWS_INSTANCE_IPV4": fmt.Sprintf("10.%d.%d.%d", w, i/250%250, i%250), "writer": fmt.Sprint(w)}})
				if err != nil {
					return // the server died
				}
				a := ack{svc: svc, inst: inst, opID: *out.OperationId}
				if i%5 == 4 {
					d, err := c.DeregisterInstance(ctx, &sd.DeregisterInstanceInput{ServiceId: &svc, InstanceId: &inst})
					if err != nil {
						a.uncertain = true // the registration was acknowledged
						mu.Lock()
						acks = append(acks, a)
						mu.Unlock()
						return
					}
					a.deregistered, a.opID = true, *d.OperationId
				}
				mu.Lock()
				acks = append(acks, a)
				mu.Unlock()
			}
		}()
	}
	// Kill once the load is well under way, whatever the machine's speed.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(acks)
		mu.Unlock()
		if n >= 600 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	p.kill(t)
	close(stop)
	wg.Wait()
	if len(acks) < 50 {
		t.Fatalf("only %d writes acknowledged before the kill; the load did not run", len(acks))
	}
	t.Logf("%d writes acknowledged before SIGKILL", len(acks))

	p = start(t, bin, dataDir)
	defer p.kill(t)
	c = client(p.url)

	// Every acknowledged write is there.
	present := map[string]map[string]bool{}
	for _, svc := range svcIDs {
		present[svc] = map[string]bool{}
		pg := sd.NewListInstancesPaginator(c, &sd.ListInstancesInput{ServiceId: aws.String(svc)})
		for pg.HasMorePages() {
			out, err := pg.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range out.Instances {
				present[svc][*in.Id] = true
			}
		}
	}
	for _, a := range acks {
		if got := present[a.svc][a.inst]; got == a.deregistered && !a.uncertain {
			t.Errorf("instance %s/%s present=%v after restart; acknowledged deregistered=%v", a.svc, a.inst, got, a.deregistered)
		}
		if _, err := c.GetOperation(ctx, &sd.GetOperationInput{OperationId: &a.opID}); err != nil {
			t.Errorf("acknowledged operation %s missing after restart: %v", a.opID, err)
		}
	}

	// Nothing is half-applied: every instance present (acknowledged or
	// not) came with its REGISTER_INSTANCE operation in the same
	// transaction, and the counts and discovery agree with the list.
	registered := map[string]bool{}
	pg := sd.NewListOperationsPaginator(c, &sd.ListOperationsInput{Filters: []types.OperationFilter{
		{Name: types.OperationFilterNameType, Condition: types.FilterConditionEq, Values: []string{"REGISTER_INSTANCE"}}}})
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Operations {
			g, err := c.GetOperation(ctx, &sd.GetOperationInput{OperationId: o.Id})
			if err != nil {
				t.Fatal(err)
			}
			registered[g.Operation.Targets["SERVICE"]+"/"+g.Operation.Targets["INSTANCE"]] = true
		}
	}
	for i, svc := range svcIDs {
		for inst := range present[svc] {
			if !registered[svc+"/"+inst] {
				t.Errorf("instance %s/%s is present without its REGISTER_INSTANCE operation", svc, inst)
			}
		}
		g, err := c.GetService(ctx, &sd.GetServiceInput{Id: &svc})
		if err != nil {
			t.Fatal(err)
		}
		if int(*g.Service.InstanceCount) != len(present[svc]) {
			t.Errorf("service %s InstanceCount = %d; ListInstances has %d", svc, *g.Service.InstanceCount, len(present[svc]))
		}
		d, err := c.DiscoverInstances(ctx, &sd.DiscoverInstancesInput{NamespaceName: aws.String("durable"),
			ServiceName: aws.String(fmt.Sprintf("svc%d", i)), MaxResults: aws.Int32(1000)})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Instances) != len(present[svc]) {
			t.Errorf("DiscoverInstances(svc%d) = %d instances; ListInstances has %d", i, len(d.Instances), len(present[svc]))
		}
	}
	// The restarted server keeps working.
	if _, err := c.RegisterInstance(ctx, &sd.RegisterInstanceInput{ServiceId: &svcIDs[0], InstanceId: aws.String("after-restart"),
		Attributes: map[string]string{}}); err != nil {
		var ae interface{ ErrorCode() string }
		if errors.As(err, &ae) {
			t.Fatalf("register after restart: %s", ae.ErrorCode())
		}
		t.Fatal(err)
	}
}
