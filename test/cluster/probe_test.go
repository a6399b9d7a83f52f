//go:build etcd

package cluster

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	sdtypes "github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"

	"github.com/mapmesh/mapmesh/internal/store/etcdstore/etcdtest"
	"github.com/mapmesh/mapmesh/test/adsclient"
)

// target is a TCP listener that records when it accepts a connection: the
// probes of a TCP health check.
type target struct {
	id   string
	addr string // ip:port
	ln   net.Listener

	mu   sync.Mutex // guards hits
	hits []time.Time
}

// listenTarget opens a target on ip, port chosen by the kernel, until t
// ends.
func listenTarget(t *testing.T, id, ip string) *target {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{id: id, addr: ln.Addr().String(), ln: ln}
	t.Cleanup(tg.close)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tg.mu.Lock()
			tg.hits = append(tg.hits, time.Now())
			tg.mu.Unlock()
			c.Close()
		}
	}()
	return tg
}

// close stops accepting: the port refuses connections from now on.
func (tg *target) close() { tg.ln.Close() }

// probes returns the times of the probes in [from, to).
func (tg *target) probes(from, to time.Time) []time.Time {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	var out []time.Time
	for _, h := range tg.hits {
		if !h.Before(from) && h.Before(to) {
			out = append(out, h)
		}
	}
	return out
}

// Bounds on the probes of one target in a window of countWindow: about one
// per interval, and well under two (which two servers probing it would
// make).
const (
	countWindow = 10 * interval
	minProbes   = 8
	maxProbes   = 13
)

// checkProbeCounts checks that each target had between minProbes and
// maxProbes probes in [from, from+countWindow), and returns the counts.
func checkProbeCounts(t *testing.T, what string, targets []*target, from time.Time) string {
	t.Helper()
	var counts []string
	for _, tg := range targets {
		n := len(tg.probes(from, from.Add(countWindow)))
		counts = append(counts, fmt.Sprint(n))
		if n < minProbes || n > maxProbes {
			t.Errorf("%s: target %s (%s) was probed %d times in %v (interval %v); want %d to %d: once per interval, by one server",
				what, tg.id, tg.addr, n, countWindow, interval, minProbes, maxProbes)
		}
	}
	return strings.Join(counts, " ")
}

// TestProbedOnce: three servers share the health checks of one service,
// each instance probed by exactly one of them, about once per interval.
// The leader is killed (SIGKILL): its instances are probed again by a
// survivor within two intervals and the lease TTL, and from then on every
// instance is still probed once per interval. The survivors serve
// everything; a target that dies after the kill turns UNHEALTHY through
// them, in the API, DNS and xDS.
func TestProbedOnce(t *testing.T) {
	etcd := etcdtest.StartCluster(t, 3)
	ps := startServers(t, etcd, []string{"a", "b", "c"})
	a, survivors := ps[0], ps[1:]
	sdA, amA := a.clients()
	var sds []*sd.Client
	for _, p := range ps {
		c, _ := p.clients()
		sds = append(sds, c)
	}
	w := makeWorld(t, sdA, amA, "probe.test", true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ads []*adsclient.Client
	for _, p := range survivors {
		c, err := adsclient.Run(ctx, p.xdsAddr, w.node)
		if err != nil {
			t.Fatalf("ADS stream to %s: %v", p.id, err)
		}
		ads = append(ads, c)
	}

	// Twelve targets on distinct loopback addresses (so that DNS answers
	// tell them apart), registered through the three servers in turn.
	const n = 12
	var targets []*target
	healthy := map[string]string{}
	for i := range n {
		tg := listenTarget(t, fmt.Sprintf("t%02d", i), fmt.Sprintf("127.0.0.%d", i+2))
		targets = append(targets, tg)
		must(t, "RegisterInstance "+tg.id, func(ctx context.Context) error {
			_, err := register(ctx, sds[i%3], w.svcID, tg.id, tg.addr)
			return err
		})
		healthy[tg.id] = tg.addr
	}
	registered := time.Now()
	for _, tg := range targets {
		if took, err := eventually(3*interval, func() error {
			if len(tg.probes(registered.Add(-time.Minute), time.Now())) == 0 {
				return fmt.Errorf("not probed")
			}
			return nil
		}); err != nil {
			t.Fatalf("target %s: %v within %v of its registration", tg.id, err, took)
		}
	}

	// Before: once per interval, by one server. The window starts an
	// interval after the first probes, once the new checks settled.
	from := time.Now().Add(interval)
	time.Sleep(time.Until(from.Add(countWindow)))
	t.Logf("probes per target in %v, three servers: %s", countWindow, checkProbeCounts(t, "three servers", targets, from))

	// The leader dies.
	killed := time.Now()
	a.kill()
	var seen time.Duration
	for _, p := range survivors {
		seen = max(seen, p.waitMembers([]string{"b", "c"}, 3*ttl))
	}
	t.Logf("the survivors saw a gone %v after SIGKILL (--cluster-ttl %v)", seen.Round(time.Millisecond), ttl)
	bound := killed.Add(2*interval + ttl)
	time.Sleep(time.Until(bound.Add(countWindow)))

	// Every target is probed within 2 intervals + TTL of the kill. A
	// target whose probes paused for more than an interval and a half was
	// the dead server's.
	var moved []*target
	var takeovers []string
	for _, tg := range targets {
		hits := tg.probes(killed.Add(-2*interval), bound.Add(interval))
		var first time.Time
		for _, h := range hits {
			if h.After(killed) {
				first = h
				break
			}
		}
		if first.IsZero() || first.After(bound) {
			t.Errorf("target %s: no probe within %v (2 intervals + TTL) of the kill; probes around it: %v", tg.id, bound.Sub(killed), stamps(hits, killed))
			continue
		}
		var before time.Time
		for _, h := range hits {
			if h.Before(killed) {
				before = h
			}
		}
		if !before.IsZero() && first.Sub(before) > interval*3/2 {
			moved = append(moved, tg)
			takeovers = append(takeovers, fmt.Sprintf("%s %v", tg.id, first.Sub(killed).Round(time.Millisecond)))
		}
	}
	t.Logf("%d of %d targets were the dead server's; probed again after the kill at: %s (bound %v)", len(moved), n, strings.Join(takeovers, ", "),
		bound.Sub(killed))
	if len(moved) == 0 {
		t.Logf("the dead server probed no target (each has a 1/3 chance of being its): takeover not measured")
	}
	t.Logf("probes per target in %v, two survivors: %s", countWindow, checkProbeCounts(t, "two survivors", targets, bound))

	// The survivors serve everything: a write through each, read back
	// through the other, and DNS and xDS.
	for i, p := range survivors {
		other := survivors[1-i]
		tg := listenTarget(t, "new-"+p.id, fmt.Sprintf("127.0.1.%d", i+1))
		targets = append(targets, tg)
		must(t, "RegisterInstance on "+p.id, func(ctx context.Context) error {
			_, err := register(ctx, sds[1+i], w.svcID, tg.id, tg.addr)
			return err
		})
		healthy[tg.id] = tg.addr
		if took, err := eventually(5*time.Second, func() error {
			return call(func(ctx context.Context) error {
				_, err := sds[1+(1-i)].GetInstance(ctx, &sd.GetInstanceInput{ServiceId: aws.String(w.svcID), InstanceId: aws.String(tg.id)})
				return err
			})
		}); err != nil {
			t.Errorf("instance %s registered on %s: GetInstance on %s after %v: %v", tg.id, p.id, other.id, took, err)
		}
	}
	for i, p := range survivors {
		checkServes(t, p, sds[1+i], w, ads[i], healthy, 5*time.Second)
	}

	// A target dies: a survivor's probe finds it, and it leaves the API's
	// healthy instances, DNS and xDS.
	dead := targets[0]
	if len(moved) > 0 {
		dead = moved[0] // its prober is the one that took it over
	}
	dead.close()
	closed := time.Now()
	took, err := eventually(3*interval+time.Second, func() error {
		return call(func(ctx context.Context) error {
			out, err := sds[1].GetInstancesHealthStatus(ctx, &sd.GetInstancesHealthStatusInput{ServiceId: aws.String(w.svcID),
				Instances: []string{dead.id}})
			if err == nil && out.Status[dead.id] != sdtypes.HealthStatusUnhealthy {
				err = fmt.Errorf("status %s", out.Status[dead.id])
			}
			return err
		})
	})
	if err != nil {
		t.Fatalf("closed target %s: after %v, %v; want UNHEALTHY (FailureThreshold 1, interval %v)", dead.id, took, err, interval)
	}
	t.Logf("closed target %s turned UNHEALTHY %v after its listener closed", dead.id, time.Since(closed).Round(time.Millisecond))
	delete(healthy, dead.id)
	for i, p := range survivors {
		checkServes(t, p, sds[1+i], w, ads[i], healthy, 5*time.Second)
	}
}

// stamps shows times relative to ref, for messages.
func stamps(ts []time.Time, ref time.Time) []string {
	var out []string
	for _, x := range ts {
		out = append(out, x.Sub(ref).Round(time.Millisecond).String())
	}
	return out
}
