//go:build e2e

package system

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/miekg/dns"

	"github.com/mapmesh/mapmesh/test/adsclient"
)

// loadDuration is how long TestMixedLoad runs: 15 s, or MAPMESH_SOAK.
func loadDuration(t *testing.T) time.Duration {
	t.Helper()
	s := os.Getenv("MAPMESH_SOAK")
	if s == "" {
		return 15 * time.Second
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		t.Fatalf("MAPMESH_SOAK=%q: want a duration such as 5m", s)
	}
	return d
}

// TestMixedLoad runs both APIs, DNS, xDS and the health checker at once
// on shared parents: three Cloud Map writers (register, re-register with
// new attributes, deregister, custom health, service attributes), three
// App Mesh writers (UpdateVirtualNode, UpdateRoute, create and delete
// virtual nodes), three readers, a DNS client and an ADS client that
// ACKs; a health-checked target is closed a third of the way in. Then:
// no call hung or failed; the state read back equals what was
// acknowledged; counts and discovery agree; every acknowledged operation
// exists; the closed target's instance turned UNHEALTHY within a few
// intervals; DNS answers and xDS endpoints are exactly the healthy
// instances.
func TestMixedLoad(t *testing.T) {
	duration := loadDuration(t)
	const interval = time.Second
	p := start(t, config{dns: true, xds: true, args: []string{"--health-interval", interval.String(), "--health-allowed-cidrs", "127.0.0.0/8", "--enable-reset"}})
	sdc, amc := p.clients()
	w := setupWorld(t, sdc, amc)
	seed := uint64(time.Now().UnixNano())
	t.Logf("load for %v, seed %d", duration, seed)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ads, err := adsclient.Run(ctx, p.xdsAddr, "mesh/"+meshName+"/virtualNode/front")
	if err != nil {
		t.Fatalf("ADS stream: %v", err)
	}
	l := newLedger()
	ld := &load{w: w, sd: sdc, am: amc, l: l, ctx: ctx, seed: seed}
	stopLoad := ld.run(3, 3, 3)

	var side sync.WaitGroup
	sideStop := make(chan struct{})
	dnsQueries := 0
	side.Go(func() { dnsQueries = dnsClient(l, p.dnsAddr, sideStop) })
	var doomedAfter time.Duration // how long the closed target stayed HEALTHY
	side.Go(func() {
		doomedAfter = closeDoomed(ld, p.dnsAddr, min(duration/3, 10*time.Second), 5*interval+3*time.Second, sideStop)
	})

	began := time.Now()
	for time.Since(began) < duration && l.failedCount() == 0 {
		time.Sleep(100 * time.Millisecond)
	}
	if n := l.failedCount(); n > 0 {
		t.Logf("a call failed after %v; stopping the load", time.Since(began).Round(time.Millisecond))
	}
	stopLoad()
	close(sideStop)
	side.Wait()
	if l.failedCount() > 0 {
		t.Fatalf("under mixed load (seed %d), calls failed (hung = no answer within %v): %s\nafterwards: %s", seed, callTimeout, l.summary(), probe(sdc, amc))
	}
	t.Logf("load: %s; %d DNS queries; the closed target turned UNHEALTHY after %v", l.summary(), dnsQueries, doomedAfter.Round(time.Millisecond))

	t.Run("acknowledged state", func(t *testing.T) {
		ld.compare(t, ld.read(t))
		ld.checkCounts(t)
		ld.checkOperations(t, 0)
	})
	healthy := settleHealth(t, ld, 5*interval+3*time.Second)
	t.Run("DNS", func(t *testing.T) { checkDNS(t, ld, p.dnsAddr, healthy) })
	t.Run("xDS", func(t *testing.T) { checkXDS(t, ld, p, ads, healthy) })
}

// dnsClient asks for the services' records until stop, and records a
// failure for a query without an answer or with an unexpected code.
func dnsClient(l *ledger, addr string, stop <-chan struct{}) int {
	qs := []struct {
		name  string
		qtype uint16
		codes []int
	}{
		{"web." + pubNSName, dns.TypeA, []int{dns.RcodeSuccess}},
		{"web." + pubNSName, dns.TypeSRV, []int{dns.RcodeSuccess}},
		{"db." + privNSName, dns.TypeA, []int{dns.RcodeSuccess, dns.RcodeNameError}},
	}
	n := 0
	for i := 0; ; i++ {
		select {
		case <-stop:
			return n
		case <-time.After(2 * time.Millisecond):
		}
		q := qs[i%len(qs)]
		r, err := query(addr, q.name, q.qtype)
		n++
		if err != nil {
			l.fail("dns", "%v", err)
			return n
		}
		if !slices.Contains(q.codes, r.Rcode) {
			l.fail("dns", "DNS %s %s: %s", q.name, dns.TypeToString[q.qtype], dns.RcodeToString[r.Rcode])
			return n
		}
	}
}

// closeDoomed closes the "doomed" target after delay and waits until its
// instance is UNHEALTHY, then until DNS no longer answers its address; it
// records a failure if either takes longer than limit. It returns how long
// the instance took to turn UNHEALTHY.
func closeDoomed(ld *load, dnsAddr string, delay, limit time.Duration, stop <-chan struct{}) time.Duration {
	select {
	case <-stop:
		return 0
	case <-time.After(delay):
	}
	ld.w.m.mu.Lock()
	ld.w.m.doomedClosed = true
	ld.w.m.mu.Unlock()
	ld.w.doomed.ln.Close()
	closed := time.Now()
	for {
		var status string
		if _, ok := ld.step("GetInstancesHealthStatus", func(ctx context.Context) error {
			out, err := ld.sd.GetInstancesHealthStatus(ctx, &sd.GetInstancesHealthStatusInput{ServiceId: &ld.w.webID, Instances: []string{"doomed"}})
			if err == nil {
				status = string(out.Status["doomed"])
			}
			return err
		}); !ok {
			return time.Since(closed)
		}
		if status == "UNHEALTHY" {
			took := time.Since(closed)
			for unhealthy := time.Now(); ; {
				seen, _, err := union(dnsAddr, "web."+pubNSName, dns.TypeA, 10)
				switch {
				case err != nil:
					ld.l.fail("dns", "%v", err)
				case !seen[ld.w.doomed.ip()]:
					return took
				case time.Since(unhealthy) > limit:
					ld.l.fail("unexpected", "DNS still answers %s, the address of instance doomed, %v after it turned UNHEALTHY", ld.w.doomed.ip(), limit)
				default:
					time.Sleep(50 * time.Millisecond)
					continue
				}
				return took
			}
		}
		if time.Since(closed) > limit {
			ld.l.fail("unexpected", "instance doomed is still %s %v after its target closed (health interval 1s, FailureThreshold 1)", status, limit)
			return time.Since(closed)
		}
		select {
		case <-stop:
			return time.Since(closed)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// webInstance is a "web" instance read back, with its expected health.
type webInstance struct {
	id, ip, port, lane string
	healthy            bool
}

// settleHealth waits until every "web" instance's health is what its
// target says (HEALTHY iff something listens), and returns the instances.
func settleHealth(t *testing.T, ld *load, limit time.Duration) []webInstance {
	t.Helper()
	var insts []webInstance
	for _, in := range ld.instances(t, ld.w.webID) {
		insts = append(insts, webInstance{id: *in.Id, ip: in.Attributes["AWS_INSTANCE_IPV4"], port: in.Attributes["AWS_INSTANCE_PORT"],
			lane: in.Attributes["lane"], healthy: ld.w.live(in.Attributes)})
	}
	deadline := time.Now().Add(limit)
	for {
		got := map[string]string{}
		for _, h := range ld.health(t, ld.w.webID) {
			got[h[0]] = h[1]
		}
		var wrong []string
		for _, in := range insts {
			want := map[bool]string{true: "HEALTHY", false: "UNHEALTHY"}[in.healthy]
			if got[in.id] != want {
				wrong = append(wrong, fmt.Sprintf("%s (%s:%s) is %s, want %s", in.id, in.ip, in.port, got[in.id], want))
			}
		}
		if len(wrong) == 0 {
			return insts
		}
		if time.Now().After(deadline) {
			t.Fatalf("health did not settle within %v after the load: %s", limit, strings.Join(wrong, "; "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkDNS: the A and SRV answers of "web" are the healthy instances (DNS
// answers up to 8 at random: asked 60 times, every healthy one shows and
// nothing else does); "db"'s A answers are the instances whose custom
// health is HEALTHY.
func checkDNS(t *testing.T, ld *load, addr string, web []webInstance) {
	wantA, wantSRV := map[string]bool{}, map[string]bool{}
	for _, in := range web {
		if in.healthy {
			wantA[in.ip] = true
			wantSRV[in.port+" "+strings.ToLower(in.id)+".web."+pubNSName+"."] = true
		}
	}
	if got, _, err := union(addr, "web."+pubNSName, dns.TypeA, 60); err != nil || !maps.Equal(got, wantA) {
		t.Errorf("DNS web A answers = %v (%v); want the healthy instances' addresses %v", keys(got), err, keys(wantA))
	}
	if got, _, err := union(addr, "web."+pubNSName, dns.TypeSRV, 60); err != nil || !maps.Equal(got, wantSRV) {
		t.Errorf("DNS web SRV answers = %v (%v); want the healthy instances %v", keys(got), err, keys(wantSRV))
	}
	if got, _, _ := union(addr, "web."+pubNSName, dns.TypeA, 20); got[ld.w.doomed.ip()] {
		t.Errorf("DNS web A answers %s, the closed target's address (instance doomed is UNHEALTHY)", ld.w.doomed.ip())
	}

	health := map[string]string{}
	for _, h := range ld.health(t, ld.w.dbID) {
		health[h[0]] = h[1]
	}
	all, healthyIPs := map[string]bool{}, map[string]bool{}
	for _, in := range ld.instances(t, ld.w.dbID) {
		ip := in.Attributes["AWS_INSTANCE_IPV4"]
		all[ip] = true
		if health[*in.Id] == "HEALTHY" {
			healthyIPs[ip] = true
		}
	}
	want, wantCode := healthyIPs, dns.RcodeSuccess
	switch {
	case len(all) == 0:
		wantCode = dns.RcodeNameError
	case len(healthyIPs) == 0:
		want = all // none healthy: Route 53 answers with all of them
	}
	got, code, err := union(addr, "db."+privNSName, dns.TypeA, 60)
	if err != nil || code != wantCode || !maps.Equal(got, want) {
		t.Errorf("DNS db A = %s %v (%v); want %s %v (instances with custom health HEALTHY)", dns.RcodeToString[code], keys(got), err, dns.RcodeToString[wantCode], keys(want))
	}
}

// checkXDS: the ADS client NACKed nothing and its endpoints of the two
// Cloud Map-backed clusters are the healthy instances (web-b: those with
// lane=b); mapmesh saw every version it sent ACKed.
func checkXDS(t *testing.T, ld *load, p *proc, ads *adsclient.Client, web []webInstance) {
	wantA, wantB := []string{}, []string{}
	for _, in := range web {
		if in.healthy {
			ep := net.JoinHostPort(in.ip, in.port)
			wantA = append(wantA, ep)
			if in.lane == "b" {
				wantB = append(wantB, ep)
			}
		}
	}
	slices.Sort(wantA)
	slices.Sort(wantB)
	for _, c := range []struct {
		cluster string
		want    []string
	}{
		{"cds_egress_" + meshName + "_web-a_http_8080", wantA},
		{"cds_egress_" + meshName + "_web-b_http_8080", wantB},
	} {
		if got, ok := ads.WaitEndpoints(c.cluster, c.want, 10*time.Second); !ok {
			t.Errorf("xDS endpoints of %s = %v; want the healthy instances %v", c.cluster, got, c.want)
		}
	}
	responses, nacks, err := ads.Status()
	if err != nil {
		t.Errorf("ADS stream ended: %v", err)
	}
	if len(nacks) > 0 {
		t.Errorf("the ADS client NACKed %d responses (resources failing Envoy's validation): %v", len(nacks), nacks)
	}
	t.Logf("ADS responses by type: %v", responses)

	// mapmesh's view of the stream: the last version of each type sent
	// is the last ACKed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var body struct {
			Clients []struct {
				NodeID    string `json:"nodeId"`
				Resources map[string]struct {
					Sent, Acked string
					LastNACK    any `json:"lastNack"`
				} `json:"resources"`
			} `json:"clients"`
		}
		ld.readCall(t, "GET /_mapmesh/xds/clients", func(ctx context.Context) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/_mapmesh/xds/clients", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			return json.NewDecoder(resp.Body).Decode(&body)
		})
		var bad []string
		for _, c := range body.Clients {
			for typ, rs := range c.Resources {
				if rs.Sent != rs.Acked || rs.LastNACK != nil {
					bad = append(bad, fmt.Sprintf("%s %s: sent %s, acked %s, last NACK %v", c.NodeID, typ, rs.Sent, rs.Acked, rs.LastNACK))
				}
			}
		}
		if len(body.Clients) != 1 {
			bad = append(bad, fmt.Sprintf("%d clients listed; want 1", len(body.Clients)))
		}
		if len(bad) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("GET /_mapmesh/xds/clients: %s", strings.Join(bad, "; "))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
