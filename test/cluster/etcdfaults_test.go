//go:build etcd

package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	am "github.com/aws/aws-sdk-go-v2/service/appmesh"
	amtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/smithy-go"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/mapmesh/mapmesh/internal/store/etcdstore/etcdtest"
	"github.com/mapmesh/mapmesh/test/adsclient"
)

// Instance quotas high enough for a write load of new instances.
var bigQuotas = []string{"--quota-instances-per-service", "1000000", "--quota-instances-per-namespace", "1000000"}

// etcdLeader returns the index of the etcd member that says it leads.
func etcdLeader(t *testing.T, etcd *etcdtest.Cluster) int {
	t.Helper()
	eps := etcd.Endpoints()
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	for i, ep := range eps {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := cli.Status(ctx, ep)
		cancel()
		if err == nil && st.Leader == st.Header.MemberId {
			return i
		}
	}
	t.Fatal("no etcd member says it leads")
	return -1
}

// etcdMembers returns the IDs of the servers whose membership keys etcd
// holds, sorted.
func etcdMembers(t *testing.T, etcd *etcdtest.Cluster) []string {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: etcd.Endpoints(), DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	const prefix = "/mapmesh.members/" // beside the default --etcd-prefix
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, kv := range resp.Kvs {
		ids = append(ids, strings.TrimPrefix(string(kv.Key), prefix))
	}
	slices.Sort(ids)
	return ids
}

// writeLoad registers new instances through several servers, each writer
// with its own sequence of IDs, as an SDK would: a call answered with a
// retryable 503 is sent again (the same instance, so at most once), and
// anything else but success is a failure.
type writeLoad struct {
	svcID string
	stop  chan struct{}
	wg    sync.WaitGroup

	mu        sync.Mutex        // guards the fields below
	acked     map[string]string // instance ID -> phase it was acknowledged in
	phase     string
	okIn      map[string]int // acknowledged writes by phase
	retryIn   map[string]int // 503s by phase
	failures  []string
	slowest   time.Duration
	slowestOp string
}

func startWrites(svcID string, servers []*proc, clients []*sd.Client, perServer int) *writeLoad {
	l := &writeLoad{svcID: svcID, stop: make(chan struct{}), acked: map[string]string{}, okIn: map[string]int{}, retryIn: map[string]int{},
		phase: "start"}
	for i, c := range clients {
		for k := range perServer {
			name := fmt.Sprintf("%s%d", servers[i].id, k)
			l.wg.Go(func() { l.write(name, c) })
		}
	}
	return l
}

func (l *writeLoad) write(name string, c *sd.Client) {
	for seq := 0; ; seq++ {
		id := fmt.Sprintf("%s-%06d", name, seq)
		addr := fmt.Sprintf("10.%d.%d.%d:%d", 100+len(name)%50, seq/250%250, seq%250+1, webPort)
		for {
			select {
			case <-l.stop:
				return
			default:
			}
			start := time.Now()
			err := call(func(ctx context.Context) error { _, err := register(ctx, c, l.svcID, id, addr); return err })
			took := time.Since(start)
			l.mu.Lock()
			if took > l.slowest {
				l.slowest, l.slowestOp = took, id
			}
			phase := l.phase
			switch {
			case err == nil:
				l.acked[id] = phase
				l.okIn[phase]++
			case retryable(err):
				l.retryIn[phase]++
			case hung(err):
				l.failures = append(l.failures, fmt.Sprintf("RegisterInstance %s hung: no answer within %v (phase %s)", id, callTimeout, phase))
			default:
				l.failures = append(l.failures, fmt.Sprintf("RegisterInstance %s: HTTP %d %s: %v (phase %s)", id, httpStatus(err), errorCode(err), err, phase))
			}
			l.mu.Unlock()
			if err == nil {
				break
			}
			if !retryable(err) {
				time.Sleep(100 * time.Millisecond) // a failure: recorded; do not spin
			}
		}
	}
}

// during runs f, then lets the load run for d, all as phase name.
func (l *writeLoad) during(name string, d time.Duration, f func()) {
	l.mu.Lock()
	l.phase = name
	l.mu.Unlock()
	f()
	time.Sleep(d)
}

func (l *writeLoad) end() {
	close(l.stop)
	l.wg.Wait()
}

// TestEtcdMemberDies: a write load through both servers while etcd's
// leader, then a follower, is killed with SIGKILL and restarted. Writes go
// on in every phase; the only errors are retryable 503s, and no call hangs;
// every acknowledged registration is read back through both servers.
func TestEtcdMemberDies(t *testing.T) {
	etcd := etcdtest.StartCluster(t, 3)
	ps := startServers(t, etcd, []string{"a", "b"}, bigQuotas...)
	var sds []*sd.Client
	for _, p := range ps {
		c, _ := p.clients()
		sds = append(sds, c)
	}
	_, amA := ps[0].clients()
	w := makeWorld(t, sds[0], amA, "faults.test", false)

	l := startWrites(w.svcID, ps, sds, 2)
	var killed int
	l.during("all up", 3*time.Second, func() {})
	l.during("leader killed", 4*time.Second, func() {
		killed = etcdLeader(t, etcd)
		t.Logf("killing etcd member m%d, the leader", killed)
		etcd.Kill(killed)
	})
	l.during("leader back", 3*time.Second, func() { etcd.Restart(killed) })
	l.during("follower killed", 4*time.Second, func() {
		leader := etcdLeader(t, etcd)
		killed = (leader + 1) % 3
		t.Logf("killing etcd member m%d, a follower (the leader is m%d)", killed, leader)
		etcd.Kill(killed)
	})
	l.during("follower back", 3*time.Second, func() { etcd.Restart(killed) })
	l.end()

	l.mu.Lock()
	defer l.mu.Unlock()
	phases := []string{"all up", "leader killed", "leader back", "follower killed", "follower back"}
	var report []string
	for _, ph := range phases {
		report = append(report, fmt.Sprintf("%s: %d acknowledged, %d retryable 503s", ph, l.okIn[ph], l.retryIn[ph]))
		if l.okIn[ph] == 0 {
			t.Errorf("phase %q: no write acknowledged; want writes to go on while two members serve", ph)
		}
	}
	t.Logf("writes by phase: %s; slowest call %v (%s)", strings.Join(report, "; "), l.slowest.Round(time.Millisecond), l.slowestOp)
	if len(l.failures) > 0 {
		t.Errorf("%d calls failed otherwise than with a retryable 503 (the first %d): %s", len(l.failures), min(len(l.failures), 10),
			strings.Join(l.failures[:min(len(l.failures), 10)], "\n  "))
	}

	// Every acknowledged write is there, through both servers.
	for i, p := range ps {
		var got map[string]string
		took, err := eventually(10*time.Second, func() error {
			var err error
			got, err = listedAt(sds[i], w.svcID)
			if err != nil {
				return err
			}
			for id := range l.acked {
				if _, ok := got[id]; !ok {
					return fmt.Errorf("acknowledged instance %s (phase %s) is missing", id, l.acked[id])
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("server %s: ListInstances after %v: %v (%d listed, %d acknowledged)", p.id, took, err, len(got), len(l.acked))
		} else {
			t.Logf("server %s lists all %d acknowledged instances (%d in all, with writes answered 503 that were applied)", p.id, len(l.acked), len(got))
		}
	}
	revs := map[string]int64{}
	for i, p := range ps {
		r, err := callRevision(sds[i], w)
		if err != nil {
			t.Fatalf("server %s: DiscoverInstancesRevision: %v", p.id, err)
		}
		revs[p.id] = r
	}
	if revs["a"] != revs["b"] {
		t.Errorf("InstancesRevision: %v; want the same on both", revs)
	}
}

// get fetches url and returns its status and body.
func get(url string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestEtcdDown: etcd loses its quorum (two members of three killed), then
// every member: writes through either server fail within the request
// timeout with a retryable 503 (ServiceUnavailable for Cloud Map,
// ServiceUnavailableException for App Mesh); reads keep answering from the
// projections (the API, DNS, xDS); /readyz says the store does not answer
// and /healthz is 200. When the members are back, writes succeed again,
// /readyz is 200, and both servers agree.
func TestEtcdDown(t *testing.T) {
	etcd := etcdtest.StartCluster(t, 3)
	ps := startServers(t, etcd, []string{"a", "b"})
	var sds []*sd.Client
	var ams []*am.Client
	for _, p := range ps {
		s, a := p.clients()
		sds, ams = append(sds, s), append(ams, a)
	}
	w := makeWorld(t, sds[0], ams[0], "down.test", false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ads []*adsclient.Client
	for _, p := range ps {
		c, err := adsclient.Run(ctx, p.xdsAddr, w.node)
		if err != nil {
			t.Fatalf("ADS stream to %s: %v", p.id, err)
		}
		ads = append(ads, c)
	}
	insts := map[string]string{}
	var opID string
	for i := range 4 {
		id, addr := fmt.Sprintf("web-%d", i), fmt.Sprintf("10.4.0.%d:%d", i+1, webPort)
		must(t, "RegisterInstance "+id, func(ctx context.Context) (err error) {
			opID, err = register(ctx, sds[i%2], w.svcID, id, addr)
			return err
		})
		insts[id] = addr
	}
	for i, p := range ps {
		checkServes(t, p, sds[i], w, ads[i], insts, 5*time.Second)
	}

	var seq atomic.Int64
	outage := func(t *testing.T) {
		for i, p := range ps {
			// Writes: a retryable 503 within the request timeout.
			id := fmt.Sprintf("down-%d", seq.Add(1))
			start := time.Now()
			err := call(func(ctx context.Context) error {
				_, err := register(ctx, sds[i], w.svcID, id, "10.4.1.1:8080")
				return err
			})
			took := time.Since(start)
			if !retryable(err) || took > etcdBound+time.Second {
				t.Errorf("server %s: RegisterInstance with etcd down: %v (HTTP %d %s) after %v; want a retryable 503 within %v",
					p.id, err, httpStatus(err), errorCode(err), took.Round(time.Millisecond), etcdBound+time.Second)
			}
			start = time.Now()
			err = call(func(ctx context.Context) error {
				_, err := ams[i].CreateVirtualNode(ctx, &am.CreateVirtualNodeInput{MeshName: aws.String(meshName), VirtualNodeName: aws.String(id), Spec: &amtypes.VirtualNodeSpec{}})
				return err
			})
			took2 := time.Since(start)
			if !retryable(err) || took2 > etcdBound+time.Second {
				t.Errorf("server %s: CreateVirtualNode with etcd down: %v (HTTP %d %s) after %v; want a retryable 503 within %v",
					p.id, err, httpStatus(err), errorCode(err), took2.Round(time.Millisecond), etcdBound+time.Second)
			}
			// Reads: answered from the projections, at once.
			start = time.Now()
			reads := []struct {
				name string
				f    func(ctx context.Context) error
			}{
				{"GetService", func(ctx context.Context) error {
					_, err := sds[i].GetService(ctx, &sd.GetServiceInput{Id: aws.String(w.svcID)})
					return err
				}},
				{"DiscoverInstances", func(ctx context.Context) error {
					got, err := discovered(ctx, sds[i], w.nsName, w.svcName, "")
					if err == nil && !slices.Equal(got, slices.Sorted(maps.Keys(insts))) {
						err = fmt.Errorf("found %v", got)
					}
					return err
				}},
				{"DescribeVirtualNode", func(ctx context.Context) error {
					_, err := ams[i].DescribeVirtualNode(ctx, &am.DescribeVirtualNodeInput{MeshName: aws.String(meshName), VirtualNodeName: aws.String("web")})
					return err
				}},
			}
			for _, r := range reads {
				if err := call(r.f); err != nil {
					t.Errorf("server %s: %s with etcd down: %v; want an answer from the projection", p.id, r.name, err)
				}
			}
			readTook := time.Since(start)
			// Operations are not in the projections (they live in the
			// store only, so that memory does not grow with them):
			// GetOperation needs the store and says so, retryably.
			opStart := time.Now()
			err = call(func(ctx context.Context) error {
				_, err := sds[i].GetOperation(ctx, &sd.GetOperationInput{OperationId: aws.String(opID)})
				return err
			})
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "ServiceUnavailable" || time.Since(opStart) > 10*time.Second {
				t.Errorf("server %s: GetOperation with etcd down = %v after %v; want ServiceUnavailable (503) within the request timeout", p.id, err, time.Since(opStart))
			}
			checkServes(t, p, sds[i], w, ads[i], insts, 2*time.Second)
			// Health endpoints.
			code, body, err := get(p.url + "/readyz")
			if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, "store:") {
				t.Errorf("server %s: GET /readyz with etcd down = %d %q, %v; want 503 naming the store", p.id, code, body, err)
			}
			readyz := strings.ReplaceAll(strings.TrimSpace(body), "\n", "; ")
			if code, body, err := get(p.url + "/healthz"); err != nil || code != http.StatusOK {
				t.Errorf("server %s: GET /healthz with etcd down = %d %q, %v; want 200", p.id, code, body, err)
			}
			t.Logf("server %s: RegisterInstance 503 after %v, CreateVirtualNode 503 after %v; %d API reads in %v; /readyz: %s", p.id,
				took.Round(time.Millisecond), took2.Round(time.Millisecond), len(reads), readTook.Round(time.Millisecond), readyz)
		}
	}

	// Quorum lost: two members of three killed, the leader among them.
	leader := etcdLeader(t, etcd)
	down := []int{leader, (leader + 1) % 3}
	etcd.Kill(down[0])
	etcd.Kill(down[1])
	lost := time.Now()
	t.Run("quorum lost", outage)
	// Longer than the membership lease: the servers keep serving.
	time.Sleep(time.Until(lost.Add(2 * ttl)))
	t.Run("quorum lost for longer than the lease", outage)
	etcd.Kill(3 - down[0] - down[1])
	t.Run("every member down", outage)

	etcd.RestartMembers(0, 1, 2)
	back := time.Now()
	for i, p := range ps {
		took, err := eventually(30*time.Second, func() error {
			return call(func(ctx context.Context) error {
				_, err := register(ctx, sds[i], w.svcID, "back-"+p.id, fmt.Sprintf("10.4.2.%d:%d", i+1, webPort))
				return err
			})
		})
		if err != nil {
			t.Fatalf("server %s: RegisterInstance after etcd came back: %v after %v", p.id, err, took)
		}
		insts["back-"+p.id] = fmt.Sprintf("10.4.2.%d:%d", i+1, webPort)
		took, err = eventually(30*time.Second, func() error {
			code, body, err := get(p.url + "/readyz")
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("%d %q", code, body)
			}
			return err
		})
		if err != nil {
			t.Errorf("server %s: GET /readyz after etcd came back: %v after %v", p.id, err, took)
		}
		t.Logf("server %s: writes succeed and /readyz is 200 %v after the members restarted", p.id, time.Since(back).Round(time.Millisecond))
		must(t, "CreateVirtualNode on "+p.id, func(ctx context.Context) error {
			_, err := ams[i].CreateVirtualNode(ctx, &am.CreateVirtualNodeInput{MeshName: aws.String(meshName), VirtualNodeName: aws.String("back-" + p.id), Spec: &amtypes.VirtualNodeSpec{}})
			return err
		})
	}
	// Both agree: the instances (what was answered 503 may or may not have
	// been applied), the revision, and DNS and xDS.
	all, err := listedAt(sds[0], w.svcID)
	if err != nil {
		t.Fatal(err)
	}
	for id, addr := range insts {
		if all[id] != addr {
			t.Errorf("instance %s: a lists %q; want %s", id, all[id], addr)
		}
	}
	for i, p := range ps {
		took, err := eventually(5*time.Second, func() error {
			got, err := listedAt(sds[i], w.svcID)
			if err == nil && !maps.Equal(got, all) {
				err = fmt.Errorf("%d instances, a has %d", len(got), len(all))
			}
			return err
		})
		if err != nil {
			t.Errorf("server %s: ListInstances after %v: %v", p.id, took, err)
		}
		checkServes(t, p, sds[i], w, ads[i], all, 5*time.Second)
		for _, q := range ps {
			if err := call(func(ctx context.Context) error {
				_, err := ams[i].DescribeVirtualNode(ctx, &am.DescribeVirtualNodeInput{MeshName: aws.String(meshName), VirtualNodeName: aws.String("back-" + q.id)})
				return err
			}); err != nil {
				t.Errorf("server %s: DescribeVirtualNode back-%s: %v", p.id, q.id, err)
			}
		}
	}
	revA, errA := callRevision(sds[0], w)
	revB, errB := callRevision(sds[1], w)
	if errA != nil || errB != nil || revA != revB {
		t.Errorf("InstancesRevision: a %d (%v), b %d (%v); want the same", revA, errA, revB, errB)
	}
	// Both servers joined again (their leases were lost in the outage),
	// and stay members once the old leases have expired.
	time.Sleep(time.Until(back.Add(2 * ttl)))
	if got := etcdMembers(t, etcd); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("membership keys in etcd %v after the outage; want [a b]", got)
	}
	for _, p := range ps {
		if got := p.members(); !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("server %s last logged members %v; want [a b]", p.id, got)
		}
	}
}
