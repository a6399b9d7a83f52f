//go:build e2e

package durability

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
)

// TestChurnStaysFlat: register/deregister churn on a fixed set of instances,
// with operations kept for a few seconds, reaches a plateau once the
// retention is reached: the server's memory and its data directory stop
// growing, however long the churn goes on, and the operations older than
// the retention are gone. (With the default retention, seven days, the
// plateau is seven days of operations on disk; memory does not hold them.)
func TestChurnStaysFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real process under churn for half a minute")
	}
	const retention = 3 * time.Second
	churnFor := 30 * time.Second
	if d, err := time.ParseDuration(os.Getenv("MAPMESH_CHURN")); err == nil {
		churnFor = d
	}
	bin := binary(t)
	dataDir := t.TempDir()
	p := start(t, bin, dataDir, "--operation-retention", retention.String())
	defer p.kill(t)
	ctx := context.Background()
	c := client(p.url)
	nsOp, err := c.CreateHttpNamespace(ctx, &sd.CreateHttpNamespaceInput{Name: aws.String("churn")})
	if err != nil {
		t.Fatal(err)
	}
	op, err := c.GetOperation(ctx, &sd.GetOperationInput{OperationId: nsOp.OperationId})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := c.CreateService(ctx, &sd.CreateServiceInput{Name: aws.String("web"), NamespaceId: aws.String(op.Operation.Targets["NAMESPACE"])})
	if err != nil {
		t.Fatal(err)
	}
	const instances = 200
	register := func(id int) error {
		_, err := c.RegisterInstance(ctx, &sd.RegisterInstanceInput{ServiceId: svc.Service.Id, InstanceId: aws.String(fmt.Sprint("i-", id)),
			Attributes: map[string]string{"AWS_INSTANCE_IPV4": fmt.Sprintf("10.0.%d.%d", id/250, id%250), "AWS_INSTANCE_PORT": "8080", "stage": "prod"}})
		return err
	}
	for i := range instances {
		if err := register(i); err != nil {
			t.Fatal(err)
		}
	}

	type sample struct {
		at        time.Duration
		rss, heap float64 // bytes
		disk      int64
	}
	var (
		samples []sample
		pairs   atomic.Int64
		failed  atomic.Value
		wg      sync.WaitGroup
	)
	start := time.Now()
	stop := make(chan struct{})
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				id := r.IntN(instances)
				_, err := c.DeregisterInstance(ctx, &sd.DeregisterInstanceInput{ServiceId: svc.Service.Id, InstanceId: aws.String(fmt.Sprint("i-", id))})
				if err == nil {
					err = register(id)
				} else if strings.Contains(err.Error(), "InstanceNotFound") {
					err = register(id) // another worker has it between its two calls
				}
				if err != nil {
					failed.Store(err)
					return
				}
				pairs.Add(1)
			}
		}()
	}
	for time.Since(start) < churnFor {
		time.Sleep(time.Second)
		samples = append(samples, sample{at: time.Since(start), rss: procRSS(t, p.cmd.Process.Pid), heap: metric(t, p.url, "go_memstats_heap_inuse_bytes"),
			disk: dirSize(t, dataDir)})
	}
	close(stop)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("churn failed: %v", err)
	}
	n := pairs.Load()
	t.Logf("%d register/deregister pairs in %v (%.0f/s); %d operations in any %v", n, churnFor, float64(n)/churnFor.Seconds(),
		int64(float64(2*n)*retention.Seconds()/churnFor.Seconds()), retention)
	for _, s := range samples {
		t.Logf("%5.1fs  rss %6.1f MiB  heap %6.1f MiB  data dir %6.1f MiB", s.at.Seconds(), s.rss/(1<<20), s.heap/(1<<20), float64(s.disk)/(1<<20))
	}
	// The plateau: compare the last third of the run with the middle third
	// (the first third holds the ramp to the retention).
	third := len(samples) / 3
	peak := func(ss []sample, f func(sample) float64) float64 {
		m := 0.0
		for _, s := range ss {
			m = max(m, f(s))
		}
		return m
	}
	mid, last := samples[third:2*third], samples[2*third:]
	for _, m := range []struct {
		name  string
		f     func(sample) float64
		slack float64 // relative, plus an absolute allowance below
		abs   float64
	}{
		{"RSS", func(s sample) float64 { return s.rss }, 1.25, 16 << 20},
		{"heap in use", func(s sample) float64 { return s.heap }, 1.5, 16 << 20},
		{"data dir", func(s sample) float64 { return float64(s.disk) }, 1.1, 2 << 20},
	} {
		a, b := peak(mid, m.f), peak(last, m.f)
		if b > a*m.slack+m.abs {
			t.Errorf("%s kept growing under churn: peak %.1f MiB in the middle third, %.1f MiB in the last", m.name, a/(1<<20), b/(1<<20))
		}
	}
	// Once the churn stops, every operation expires.
	deadline := time.Now().Add(retention + 30*time.Second)
	for {
		out, err := c.ListOperations(ctx, &sd.ListOperationsInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Operations) == 0 && out.NextToken == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d operations (and more: %v) left %v after the churn stopped; want none after the retention (%v)",
				len(out.Operations), out.NextToken != nil, retention+30*time.Second, retention)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// procRSS reads a process's resident set size.
func procRSS(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb * 1024
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// metric reads one unlabelled sample from the server's /metrics.
func metric(t *testing.T, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

// dirSize is the bytes of the files under dir (their apparent sizes).
func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
