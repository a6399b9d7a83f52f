//go:build e2e

package system

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	am "github.com/aws/aws-sdk-go-v2/service/appmesh"
	amtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/smithy-go"
)

// httpNamespace creates an HTTP namespace and returns its ID.
func httpNamespace(t testing.TB, sdc *sd.Client, name string) string {
	t.Helper()
	var id string
	must(t, "CreateHttpNamespace "+name, func(ctx context.Context) error {
		out, err := sdc.CreateHttpNamespace(ctx, &sd.CreateHttpNamespaceInput{Name: aws.String(name)})
		if err != nil {
			return err
		}
		op, err := sdc.GetOperation(ctx, &sd.GetOperationInput{OperationId: out.OperationId})
		if err == nil {
			id = op.Operation.Targets["NAMESPACE"]
		}
		return err
	})
	return id
}

func service(t testing.TB, sdc *sd.Client, nsID, name string) string {
	t.Helper()
	var id string
	must(t, "CreateService "+name, func(ctx context.Context) error {
		out, err := sdc.CreateService(ctx, &sd.CreateServiceInput{Name: aws.String(name), NamespaceId: &nsID})
		if err == nil {
			id = *out.Service.Id
		}
		return err
	})
	return id
}

// TestSlowBodies: clients that declare a large body and send it a byte
// every 5 s hold a connection each; with --read-timeout 2s and
// --max-connections 100, 300 of them are each closed within a few seconds,
// and a normal API call still answers meanwhile.
func TestSlowBodies(t *testing.T) {
	requireFlags(t, "read-timeout", "max-connections")
	p := start(t, config{args: []string{"--read-timeout", "2s", "--max-connections", "100"}})
	sdc, _ := p.clients()
	const n = 300
	began := time.Now()
	closedAt := make([]atomic.Int64, n) // nanoseconds after began; -1 while open
	for i := range closedAt {
		closedAt[i].Store(-1)
	}
	closed := func(i int) { closedAt[i].Store(int64(time.Since(began))) }
	var wg sync.WaitGroup
	var dialFailed atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range n {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", p.apiAddr, 10*time.Second)
			if err != nil {
				dialFailed.Add(1)
				closed(i)
				return
			}
			defer c.Close()
			head := "POST / HTTP/1.1\r\nHost: " + p.apiAddr + "\r\nContent-Type: application/x-amz-json-1.1\r\n" +
				"X-Amz-Target: Route53AutoNaming_v20170314.ListNamespaces\r\nContent-Length: 100000\r\n\r\n{"
			if _, err := io.WriteString(c, head); err != nil {
				closed(i)
				return
			}
			// A byte every 5 s, until the server closes the connection
			// (a read ends, or a write fails).
			readDone := make(chan struct{})
			go func() {
				_, _ = io.Copy(io.Discard, c)
				close(readDone)
			}()
			for {
				select {
				case <-readDone:
					closed(i)
					return
				case <-ctx.Done():
					return
				case <-time.After(5 * time.Second):
				}
				if _, err := c.Write([]byte(" ")); err != nil {
					closed(i)
					return
				}
			}
		})
	}
	stillOpen := func() int {
		k := 0
		for i := range closedAt {
			if closedAt[i].Load() < 0 {
				k++
			}
		}
		return k
	}
	// A normal call, once the slow clients hold every slot.
	time.Sleep(500 * time.Millisecond)
	callStart := time.Now()
	l := newLedger()
	_ = l.do(context.Background(), "ListNamespaces beside 300 slow clients", func(ctx context.Context) error {
		_, err := sdc.ListNamespaces(ctx, &sd.ListNamespacesInput{})
		return err
	})
	took := time.Since(callStart)
	// Every slow connection is closed within 3 waves of the read timeout
	// and some slack; give up at 20 s.
	const limit = 12 * time.Second
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && stillOpen() > 0; {
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	var late []string
	for i := range closedAt {
		switch d := time.Duration(closedAt[i].Load()); {
		case d < 0:
			late = append(late, fmt.Sprintf("#%d still open", i))
		case d > limit:
			late = append(late, fmt.Sprintf("#%d closed after %v", i, d.Round(time.Millisecond)))
		}
	}
	if len(late) > 0 {
		t.Errorf("%d of %d slow connections were not closed within %v of opening (waited 20 s): %s", len(late), n, limit, strings.Join(late[:min(10, len(late))], ", "))
	}
	if l.failedCount() > 0 || took > 10*time.Second {
		t.Errorf("a normal call beside the slow clients took %v: %s", took.Round(time.Millisecond), l.summary())
	}
	if !p.alive() {
		t.Errorf("mapmesh exited")
	}
	t.Logf("normal call answered in %v; %d dials failed", took.Round(time.Millisecond), dialFailed.Load())
}

// TestQuotaUnderConcurrency: with --quota-instances-per-service 100, 400
// concurrent RegisterInstance calls with distinct IDs leave exactly 100
// instances; each of the others is refused with ResourceLimitExceeded
// (HTTP 400), none with a 5xx. The calls are raw HTTP requests written at
// once on 400 open connections (the SDK's per-call work, under -race,
// would spread them out); three times, on three services.
func TestQuotaUnderConcurrency(t *testing.T) {
	t.Parallel()
	p := start(t, config{args: []string{"--quota-instances-per-service", "100"}})
	sdc, _ := p.clients()
	nsID := httpNamespace(t, sdc, "quota")
	for round := range 3 {
		quotaBurst(t, p, sdc, service(t, sdc, nsID, fmt.Sprintf("svc%d", round)))
	}
}

// quotaBurst sends the 400 registrations to svc and checks the outcome.
func quotaBurst(t *testing.T, p *proc, sdc *sd.Client, svc string) {
	const n = 400
	conns := make([]net.Conn, n)
	reqs := make([][]byte, n)
	for i := range n {
		c, err := net.DialTimeout("tcp", p.apiAddr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close() // at the end of this burst
		conns[i] = c
		body := fmt.Sprintf(`{"ServiceId":%q,"InstanceId":"i-%03d","Attributes":{"AWS_INSTANCE_IPV4":"10.0.%d.%d"}}`, svc, i, i/250, i%250)
		reqs[i] = []byte("POST / HTTP/1.1\r\nHost: " + p.apiAddr + "\r\nContent-Type: application/x-amz-json-1.1\r\n" +
			"X-Amz-Target: Route53AutoNaming_v20170314.RegisterInstance\r\n" + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body)
	}
	outcome := make([]string, n) // "ok", an error code, or what went wrong
	status := make([]int, n)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-gate
			c := conns[i]
			_ = c.SetDeadline(time.Now().Add(callTimeout))
			if _, err := c.Write(reqs[i]); err != nil {
				outcome[i] = "write: " + err.Error()
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					outcome[i] = fmt.Sprintf("hung: no answer within %v", callTimeout)
				} else {
					outcome[i] = "read: " + err.Error()
				}
				return
			}
			defer resp.Body.Close()
			status[i] = resp.StatusCode
			if resp.StatusCode == http.StatusOK {
				outcome[i] = "ok"
				return
			}
			var e struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&e)
			outcome[i] = e.Type[strings.LastIndex(e.Type, "#")+1:]
		})
	}
	close(gate)
	wg.Wait()
	counts := map[string]int{}
	for i, o := range outcome {
		counts[fmt.Sprintf("%d %s", status[i], o)]++
	}
	var listed int
	var count int32
	must(t, "ListInstances", func(ctx context.Context) error {
		listed = 0
		pg := sd.NewListInstancesPaginator(sdc, &sd.ListInstancesInput{ServiceId: &svc})
		for pg.HasMorePages() {
			out, err := pg.NextPage(ctx)
			if err != nil {
				return err
			}
			listed += len(out.Instances)
		}
		g, err := sdc.GetService(ctx, &sd.GetServiceInput{Id: &svc})
		if err == nil {
			count = aws.ToInt32(g.Service.InstanceCount)
		}
		return err
	})
	want := map[string]int{"200 ok": 100, "400 ResourceLimitExceeded": n - 100}
	if !maps.Equal(counts, want) || listed != 100 || count != 100 {
		t.Errorf("%d concurrent registrations in %s with a quota of 100: answers %v, ListInstances has %d, InstanceCount %d; want answers %v, 100 instances",
			n, svc, counts, listed, count, want)
	}
}

// TestRecreatedServiceGetsNewID: a service deleted and created again with
// the same name is a new service, with a new random ID, as on AWS; the old
// ID is gone.
func TestRecreatedServiceGetsNewID(t *testing.T) {
	t.Parallel()
	p := start(t, config{})
	sdc, _ := p.clients()
	nsID := httpNamespace(t, sdc, "recreate")
	first := service(t, sdc, nsID, "svc")
	must(t, "DeleteService", func(ctx context.Context) error {
		_, err := sdc.DeleteService(ctx, &sd.DeleteServiceInput{Id: &first})
		return err
	})
	second := service(t, sdc, nsID, "svc")
	if second == first {
		t.Errorf("CreateService(svc) after DeleteService(%s) = %s, the same ID; want a new one", first, second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if _, err := sdc.GetService(ctx, &sd.GetServiceInput{Id: &first}); second != first && errorCode(err) != "ServiceNotFound" {
		t.Errorf("GetService(%s) of the deleted service: %v; want ServiceNotFound", first, err)
	}
}

// TestDiskFull: mapmesh on a small tmpfs (48 MB, most of it taken by a
// ballast file); both APIs write until the disk is full. Then a write is refused with HTTP 503 (Cloud Map
// ServiceUnavailable, App Mesh ServiceUnavailableException) and a message
// saying "no space left on device"; the server stays up and answers
// reads; once the tmpfs is grown, writes succeed again; after a restart,
// every acknowledged write is there.
func TestDiskFull(t *testing.T) {
	binary(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs as the data directory")
	}
	if _, err := exec.LookPath("mount"); err != nil {
		t.Skip("needs mount(8)")
	}
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs on %s: %v %s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v %s; unmounting lazily", dir, err, out)
			_ = exec.Command("umount", "-l", dir).Run()
		}
	})
	p := start(t, config{dataDir: dir, args: []string{"--quota-instances-per-service", "1000000", "--quota-instances-per-namespace", "1000000",
		"--appmesh-quota-virtual-nodes-per-mesh", "1000000"}})
	sdc, amc := p.clients()
	nsID := httpNamespace(t, sdc, "disk")
	var svcs []string
	for i := range 4 {
		svcs = append(svcs, service(t, sdc, nsID, fmt.Sprintf("svc%d", i)))
	}
	must(t, "CreateMesh", func(ctx context.Context) error {
		_, err := amc.CreateMesh(ctx, &am.CreateMeshInput{MeshName: aws.String("disk")})
		return err
	})
	// Another tenant of the file system takes all but 8 MB, so that the
	// API writes fill it in a second or two.
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	if free := int64(fs.Bavail) * fs.Bsize; free > 8<<20 {
		if err := writeBallast(filepath.Join(dir, "ballast"), free-8<<20); err != nil {
			t.Fatalf("ballast: %v", err)
		}
	}

	// Writers: Cloud Map registrations with about 4.5 KB of attributes,
	// App Mesh virtual nodes with 50 long backend names (about 10 KB).
	pad := strings.Repeat("x", 900)
	register := func(ctx context.Context, svc, id string) error {
		attrs := map[string]string{"AWS_INSTANCE_IPV4": "10.1.2.3"}
		for k := range 5 {
			attrs[fmt.Sprintf("pad%d", k)] = pad
		}
		_, err := sdc.RegisterInstance(ctx, &sd.RegisterInstanceInput{ServiceId: &svc, InstanceId: &id, Attributes: attrs})
		return err
	}
	createNode := func(ctx context.Context, name string) error {
		spec := &amtypes.VirtualNodeSpec{}
		for k := range 50 {
			spec.Backends = append(spec.Backends, &amtypes.BackendMemberVirtualService{Value: amtypes.VirtualServiceBackend{
				VirtualServiceName: aws.String(fmt.Sprintf("%s-backend-%02d.%s.disk.local", name, k, pad[:150]))}})
		}
		_, err := amc.CreateVirtualNode(ctx, &am.CreateVirtualNodeInput{MeshName: aws.String("disk"), VirtualNodeName: aws.String(name), Spec: spec})
		return err
	}
	type refusal struct {
		err  error
		when time.Time
	}
	var mu sync.Mutex
	ackedInst := map[string][]string{} // by service
	var ackedNodes []string
	refusals := map[string]refusal{} // first refusal by API
	var hung []string
	var wg sync.WaitGroup
	stop := make(chan struct{})
	writer := func(api string, f func(ctx context.Context, i int) (ack func(), err error)) {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			ack, err := f(ctx, i)
			cancel()
			mu.Lock()
			switch {
			case err == nil:
				ack()
			case errors.Is(err, context.DeadlineExceeded):
				hung = append(hung, api)
			case refusals[api].err == nil:
				refusals[api] = refusal{err, time.Now()}
			}
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}
	for w := range 4 {
		wg.Add(1)
		go writer("Cloud Map", func(ctx context.Context, i int) (func(), error) {
			svc, id := svcs[w], fmt.Sprintf("w%d-%06d", w, i)
			return func() { ackedInst[svc] = append(ackedInst[svc], id) }, register(ctx, svc, id)
		})
	}
	// One App Mesh writer: two would race for the mesh (harmless, but
	// not what this test is about).
	for w := range 1 {
		wg.Add(1)
		go writer("App Mesh", func(ctx context.Context, i int) (func(), error) {
			name := fmt.Sprintf("n%d-%06d", w, i)
			return func() { ackedNodes = append(ackedNodes, name) }, createNode(ctx, name)
		})
	}
	// Until a writer of each API was refused (they all stop at their
	// first error), or 90 s.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		close(stop)
		<-done
	}
	total := len(ackedNodes)
	for _, ids := range ackedInst {
		total += len(ids)
	}
	t.Logf("%d writes acknowledged before the disk was full (%d virtual nodes)", total, len(ackedNodes))
	if len(hung) > 0 {
		t.Fatalf("writes hung on a full disk (no answer within %v): %v", callTimeout, hung)
	}
	if len(refusals) < 2 {
		t.Fatalf("the disk never filled up: refusals %v", refusals)
	}

	// The refusals say what is wrong, in the protocol's error shape.
	wantCode := map[string]string{"Cloud Map": "ServiceUnavailable", "App Mesh": "ServiceUnavailableException"}
	for api, r := range refusals {
		checkDiskFullError(t, api+" write on a full disk", r.err, wantCode[api])
	}
	// Writes refused again (not hung), reads answered, the process up.
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	// Another write now may find room the failed one left (a write is
	// all or nothing, not the file system); if it is refused, it is
	// refused the same way.
	if err := register(ctx, svcs[0], "again"); err == nil {
		ackedInst[svcs[0]] = append(ackedInst[svcs[0]], "again")
	} else {
		checkDiskFullError(t, "RegisterInstance on a full disk, again", err, wantCode["Cloud Map"])
	}
	if err := createNode(ctx, "again"); err == nil {
		ackedNodes = append(ackedNodes, "again")
	} else {
		checkDiskFullError(t, "CreateVirtualNode on a full disk, again", err, wantCode["App Mesh"])
	}
	l := newLedger()
	for _, r := range []struct {
		op string
		f  func(ctx context.Context) error
	}{
		{"ListInstances", func(ctx context.Context) error {
			_, err := sdc.ListInstances(ctx, &sd.ListInstancesInput{ServiceId: &svcs[0]})
			return err
		}},
		{"DiscoverInstances", func(ctx context.Context) error {
			_, err := sdc.DiscoverInstances(ctx, &sd.DiscoverInstancesInput{NamespaceName: aws.String("disk"), ServiceName: aws.String("svc1")})
			return err
		}},
		{"ListVirtualNodes", func(ctx context.Context) error {
			_, err := amc.ListVirtualNodes(ctx, &am.ListVirtualNodesInput{MeshName: aws.String("disk")})
			return err
		}},
		{"DescribeMesh", func(ctx context.Context) error {
			_, err := amc.DescribeMesh(ctx, &am.DescribeMeshInput{MeshName: aws.String("disk")})
			return err
		}},
	} {
		_ = l.do(context.Background(), r.op+" on a full disk", r.f)
	}
	if l.failedCount() > 0 {
		t.Errorf("reads on a full disk: %s", l.summary())
	}
	if !p.alive() {
		t.Fatalf("mapmesh exited on a full disk: %v", p.exitErr)
	}

	// Room again: writes succeed (allowing the server a few seconds to
	// notice).
	if out, err := exec.Command("mount", "-o", "remount,size=512m", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s with size=512m: %v %s", dir, err, out)
	}
	for _, w := range []struct {
		what string
		f    func(ctx context.Context) error
		ack  func()
	}{
		{"RegisterInstance after the disk grew", func(ctx context.Context) error { return register(ctx, svcs[0], "after-remount") },
			func() { ackedInst[svcs[0]] = append(ackedInst[svcs[0]], "after-remount") }},
		{"CreateVirtualNode after the disk grew", func(ctx context.Context) error { return createNode(ctx, "after-remount") },
			func() { ackedNodes = append(ackedNodes, "after-remount") }},
	} {
		var err error
		for deadline := time.Now().Add(5 * time.Second); ; {
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			err = w.f(ctx)
			cancel()
			if err == nil || errors.Is(err, context.DeadlineExceeded) || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("%s: %v", w.what, err)
			continue
		}
		w.ack()
	}

	// After a restart, every acknowledged write is there.
	p.restart()
	sdc, amc = p.clients()
	for svc, ids := range ackedInst {
		present := map[string]bool{}
		must(t, "ListInstances after restart", func(ctx context.Context) error {
			pg := sd.NewListInstancesPaginator(sdc, &sd.ListInstancesInput{ServiceId: &svc})
			for pg.HasMorePages() {
				out, err := pg.NextPage(ctx)
				if err != nil {
					return err
				}
				for _, in := range out.Instances {
					present[*in.Id] = true
					if len(in.Attributes["pad4"]) != len(pad) {
						return fmt.Errorf("instance %s has attributes of sizes pad4=%d; want %d", *in.Id, len(in.Attributes["pad4"]), len(pad))
					}
				}
			}
			return nil
		})
		missing := 0
		for _, id := range ids {
			if !present[id] {
				if missing++; missing <= 5 {
					t.Errorf("acknowledged instance %s/%s missing after the restart", svc, id)
				}
			}
		}
		if missing > 5 {
			t.Errorf("... %d acknowledged instances of %s missing in all", missing, svc)
		}
	}
	nodes := map[string]bool{}
	must(t, "ListVirtualNodes after restart", func(ctx context.Context) error {
		pg := am.NewListVirtualNodesPaginator(amc, &am.ListVirtualNodesInput{MeshName: aws.String("disk")})
		for pg.HasMorePages() {
			out, err := pg.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, r := range out.VirtualNodes {
				nodes[*r.VirtualNodeName] = true
			}
		}
		return nil
	})
	missing := 0
	for _, n := range ackedNodes {
		if !nodes[n] {
			if missing++; missing <= 5 {
				t.Errorf("acknowledged virtual node %s missing after the restart", n)
			}
		}
	}
	if missing > 5 {
		t.Errorf("... %d acknowledged virtual nodes missing in all", missing)
	}
}

// writeBallast writes a file of n bytes.
func writeBallast(path string, n int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for n > 0 {
		k := min(n, int64(len(buf)))
		if _, err := f.Write(buf[:k]); err != nil {
			f.Close()
			return err
		}
		n -= k
	}
	return f.Close()
}

// checkDiskFullError requires the documented answer to a write on a full
// disk: HTTP 503, the code, and a message naming the cause.
func checkDiskFullError(t *testing.T, what string, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	switch {
	case err == nil:
		t.Errorf("%s succeeded; want %s (503)", what, code)
	case errors.Is(err, context.DeadlineExceeded):
		t.Errorf("%s hung: no answer within %v", what, callTimeout)
	case !errors.As(err, &ae):
		t.Errorf("%s: %v; want the API error %s (503)", what, err, code)
	case httpStatus(err) != 503 || ae.ErrorCode() != code || !strings.Contains(ae.ErrorMessage(), "no space left on device"):
		t.Errorf("%s: HTTP %d %s %q; want HTTP 503 %s with a message containing \"no space left on device\"", what, httpStatus(err), ae.ErrorCode(), ae.ErrorMessage(), code)
	}
}
