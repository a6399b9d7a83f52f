package dnsserver

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mapmesh/mapmesh/internal/cloudmap"
)

// eventually polls f until it returns "" or 5 s pass, then fails with its
// last message.
func eventually(t *testing.T, f func() string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestRoutingPolicies(t *testing.T) {
	e := newEnv(t, envOptions{})
	ns := e.privateNS(e.ctx, "route.local", "vpc-1")
	multi := e.service(e.ctx, ns, "multi", svcOpts{records: []string{"A:60"}, custom: true})
	weighted := e.service(e.ctx, ns, "weighted", svcOpts{policy: "WEIGHTED", records: []string{"A:60", "AAAA:60"}, custom: true})
	srv := e.service(e.ctx, ns, "srv", svcOpts{records: []string{"SRV:60"}})
	for i := 1; i <= 12; i++ {
		e.register(e.ctx, multi, fmt.Sprintf("m%d", i), fmt.Sprintf("AWS_INSTANCE_IPV4=10.0.0.%d", i))
		e.register(e.ctx, srv, fmt.Sprintf("s%d", i), fmt.Sprintf("AWS_INSTANCE_IPV4=10.0.2.%d", i), "AWS_INSTANCE_PORT=80")
	}
	for i := 1; i <= 3; i++ {
		e.register(e.ctx, weighted, fmt.Sprintf("w%d", i), fmt.Sprintf("AWS_INSTANCE_IPV4=10.0.1.%d", i), fmt.Sprintf("AWS_INSTANCE_IPV6=fd00::%d", i))
	}
	e.sync()

	// MULTIVALUE, 12 healthy: 8 distinct records per answer, different
	// subsets, every record in some answer.
	seen := map[string]bool{}
	for range 200 {
		ips := answerIPs(e.query("udp", "multi.route.local.", dns.TypeA))
		if len(ips) != 8 || len(slices.Compact(slices.Clone(ips))) != 8 {
			t.Fatalf("MULTIVALUE with 12 healthy: answer %v; want 8 distinct", ips)
		}
		for _, ip := range ips {
			seen[ip] = true
		}
	}
	if len(seen) != 12 {
		t.Errorf("MULTIVALUE: %d of 12 records seen in 200 answers", len(seen))
	}
	seen = map[string]bool{}
	for range 200 {
		r := e.query("udp", "srv.route.local.", dns.TypeSRV)
		if len(r.Answer) != 8 || len(r.Extra) != 8 {
			t.Fatalf("SRV MULTIVALUE with 12: %d answers, %d additional; want 8 and 8", len(r.Answer), len(r.Extra))
		}
		for _, a := range r.Answer {
			seen[a.(*dns.SRV).Target] = true
		}
	}
	if len(seen) != 12 {
		t.Errorf("SRV MULTIVALUE: %d of 12 targets seen in 200 answers", len(seen))
	}

	// MULTIVALUE with 3 of 12 healthy: exactly those 3.
	for i := 4; i <= 12; i++ {
		e.setCustomHealth(e.ctx, multi, fmt.Sprintf("m%d", i), "UNHEALTHY")
	}
	e.sync()
	for range 20 {
		if got, want := answerIPs(e.query("udp", "multi.route.local.", dns.TypeA)), []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}; !slices.Equal(got, want) {
			t.Fatalf("MULTIVALUE, 3 healthy: %v; want %v", got, want)
		}
	}
	// None healthy: up to 8 of all.
	for i := 1; i <= 3; i++ {
		e.setCustomHealth(e.ctx, multi, fmt.Sprintf("m%d", i), "UNHEALTHY")
	}
	e.sync()
	if got := answerIPs(e.query("udp", "multi.route.local.", dns.TypeA)); len(got) != 8 {
		t.Errorf("MULTIVALUE, none healthy: %v; want 8 records", got)
	}

	// WEIGHTED: one record, each healthy one in turn, A and AAAA chosen
	// independently.
	seen = map[string]bool{}
	for range 100 {
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
			ips := answerIPs(e.query("udp", "weighted.route.local.", qt))
			if len(ips) != 1 {
				t.Fatalf("WEIGHTED: %v; want one record", ips)
			}
			seen[ips[0]] = true
		}
	}
	if len(seen) != 6 {
		t.Errorf("WEIGHTED: %d of 6 records seen in 100 answers per type", len(seen))
	}
	e.setCustomHealth(e.ctx, weighted, "w1", "UNHEALTHY")
	e.setCustomHealth(e.ctx, weighted, "w2", "UNHEALTHY")
	e.sync()
	for range 20 {
		if got := answerIPs(e.query("udp", "weighted.route.local.", dns.TypeA)); !slices.Equal(got, []string{"10.0.1.3"}) {
			t.Fatalf("WEIGHTED, one healthy: %v; want [10.0.1.3]", got)
		}
	}
	e.setCustomHealth(e.ctx, weighted, "w3", "UNHEALTHY")
	e.sync()
	seen = map[string]bool{}
	for range 100 {
		ips := answerIPs(e.query("udp", "weighted.route.local.", dns.TypeA))
		if len(ips) != 1 {
			t.Fatalf("WEIGHTED, none healthy: %v; want one record", ips)
		}
		seen[ips[0]] = true
	}
	if len(seen) != 3 {
		t.Errorf("WEIGHTED, none healthy: %d of 3 records seen; want all of them in turn", len(seen))
	}
}

// TestChangesVisible: registrations, deregistrations, TTL and SOA changes
// and deletions show in DNS, and the SOA serial follows the store revision.
func TestChangesVisible(t *testing.T) {
	e := newEnv(t, envOptions{})
	ns := e.privateNS(e.ctx, "live.local", "vpc-1")
	svc := e.service(e.ctx, ns, "app", svcOpts{records: []string{"A:60"}})
	e.sync()
	ips := func() []string { return answerIPs(e.query("udp", "app.live.local.", dns.TypeA)) }
	if r := e.query("udp", "app.live.local.", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("service without instances: %s; want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	serial0 := e.query("udp", "live.local.", dns.TypeSOA).Answer[0].(*dns.SOA).Serial

	e.register(e.ctx, svc, "i1", "AWS_INSTANCE_IPV4=10.0.0.1")
	e.sync()
	if got := ips(); !slices.Equal(got, []string{"10.0.0.1"}) {
		t.Errorf("after a registration: %v", got)
	}
	serial1 := e.query("udp", "live.local.", dns.TypeSOA).Answer[0].(*dns.SOA).Serial
	if serial1 <= serial0 || int64(serial1) != e.srv.Stats().Revision {
		t.Errorf("SOA serial %d -> %d (view revision %d); want it to move to the revision", serial0, serial1, e.srv.Stats().Revision)
	}
	e.register(e.ctx, svc, "i1", "AWS_INSTANCE_IPV4=10.0.0.9") // re-registration replaces
	e.register(e.ctx, svc, "i2", "AWS_INSTANCE_IPV4=10.0.0.2")
	e.sync()
	if got := ips(); !slices.Equal(got, []string{"10.0.0.2", "10.0.0.9"}) {
		t.Errorf("after re-registration: %v", got)
	}
	must(e.cm.UpdateService(e.ctx, &cloudmap.UpdateServiceInput{ID: &svc, Service: &cloudmap.ServiceChange{
		DNSConfig: &cloudmap.DNSConfigChange{DNSRecords: []cloudmap.DNSRecord{{Type: str("A"), TTL: i64(5)}}}}}))
	e.sync()
	if r := e.query("udp", "app.live.local.", dns.TypeA); r.Answer[0].Header().Ttl != 5 {
		t.Errorf("after UpdateService TTL 5: TTL %d", r.Answer[0].Header().Ttl)
	}
	must(e.cm.UpdatePrivateDnsNamespace(e.ctx, &cloudmap.UpdatePrivateDnsNamespaceInput{ID: &ns, Namespace: &cloudmap.PrivateDNSNamespaceChange{
		Properties: &cloudmap.PrivateDNSNamespacePropertiesChange{DNSProperties: &cloudmap.PrivateDNSPropertiesMutableChange{SOA: &cloudmap.SOAChange{TTL: i64(100000)}}}}}))
	e.sync()
	if r := e.query("udp", "nope.live.local.", dns.TypeA); len(r.Ns) != 1 || r.Ns[0].Header().Ttl != soaMinimum {
		t.Errorf("SOA TTL 100000: negative answer authority %v; want the SOA with TTL %d (its MINIMUM)", r.Ns, soaMinimum)
	}
	if r := e.query("udp", "live.local.", dns.TypeSOA); r.Answer[0].Header().Ttl != 100000 {
		t.Errorf("SOA TTL 100000: SOA answered with TTL %d", r.Answer[0].Header().Ttl)
	}
	e.deregister(e.ctx, svc, "i1")
	e.deregister(e.ctx, svc, "i2")
	e.sync()
	if r := e.query("udp", "app.live.local.", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("after the last deregistration: %s; want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	must(e.cm.DeleteService(e.ctx, &cloudmap.DeleteServiceInput{ID: &svc}))
	must(e.cm.DeleteNamespace(e.ctx, &cloudmap.DeleteNamespaceInput{ID: &ns}))
	e.sync()
	if r := e.query("udp", "live.local.", dns.TypeSOA); r.Rcode != dns.RcodeRefused {
		t.Errorf("after DeleteNamespace: %s; want REFUSED", dns.RcodeToString[r.Rcode])
	}
}

// TestSameNameZones: namespaces with one name in several accounts, regions
// and VPCs; the first created is served, alone, until it is deleted.
func TestSameNameZones(t *testing.T) {
	e := newEnv(t, envOptions{})
	type nsDef struct {
		ctxAccount, region, vpc, ip string
		public                      bool
	}
	defs := []nsDef{
		{"222222222222", "us-east-1", "vpc-a", "10.2.0.1", false},
		{"111111111111", "us-east-1", "vpc-b", "10.1.0.1", false},
		{"222222222222", "us-east-1", "vpc-c", "10.3.0.1", false},
		{"333333333333", "eu-west-1", "", "10.4.0.1", true},
	}
	var ids, svcs []string
	for _, d := range defs {
		ctx := as(d.ctxAccount, d.region)
		var ns string
		if d.public {
			ns = e.publicNS(ctx, "shared.example")
		} else {
			ns = e.privateNS(ctx, "shared.example", d.vpc)
		}
		svc := e.service(ctx, ns, "db", svcOpts{records: []string{"A:60"}})
		e.register(ctx, svc, "i", "AWS_INSTANCE_IPV4="+d.ip)
		ids, svcs = append(ids, ns), append(svcs, svc)
		time.Sleep(2 * time.Millisecond) // distinct creation times
	}
	e.sync()
	for i := range defs {
		want := []string{defs[i].ip}
		for range 5 {
			if got := answerIPs(e.query("udp", "db.shared.example.", dns.TypeA)); !slices.Equal(got, want) {
				t.Fatalf("with namespaces %d.. left: %v; want %v (the first created only)", i, got, want)
			}
		}
		ctx := as(defs[i].ctxAccount, defs[i].region)
		e.deregister(ctx, svcs[i], "i")
		must(e.cm.DeleteService(ctx, &cloudmap.DeleteServiceInput{ID: &svcs[i]}))
		must(e.cm.DeleteNamespace(ctx, &cloudmap.DeleteNamespaceInput{ID: &ids[i]}))
		e.sync()
	}
	if r := e.query("udp", "db.shared.example.", dns.TypeA); r.Rcode != dns.RcodeRefused {
		t.Errorf("all deleted: %s; want REFUSED", dns.RcodeToString[r.Rcode])
	}
}

// TestNestedZones: the deepest zone answers for its names.
func TestNestedZones(t *testing.T) {
	e := newEnv(t, envOptions{})
	outer := e.privateNS(e.ctx, "corp.local", "vpc-1")
	inner := e.privateNS(e.ctx, "team.corp.local", "vpc-1")
	a := e.service(e.ctx, outer, "team", svcOpts{records: []string{"A:60"}})
	e.register(e.ctx, a, "i", "AWS_INSTANCE_IPV4=10.0.0.1")
	b := e.service(e.ctx, inner, "app", svcOpts{records: []string{"A:60"}})
	e.register(e.ctx, b, "i", "AWS_INSTANCE_IPV4=10.0.0.2")
	e.sync()
	if got := answerIPs(e.query("udp", "team.corp.local.", dns.TypeA)); len(got) != 0 {
		t.Errorf("team.corp.local A = %v; want the inner zone's apex (NODATA)", got)
	}
	if got := answerIPs(e.query("udp", "app.team.corp.local.", dns.TypeA)); !slices.Equal(got, []string{"10.0.0.2"}) {
		t.Errorf("app.team.corp.local A = %v", got)
	}
}

// TestHealthFromSetHealth: the health checker's path (SetHealth, a store
// write) reaches DNS through Subscribe like every other change.
func TestHealthFromSetHealth(t *testing.T) {
	e := newEnv(t, envOptions{})
	ns := e.publicNS(e.ctx, "checked.example.com")
	svc := e.service(e.ctx, ns, "web", svcOpts{records: []string{"A:60"}, check: "TCP"})
	e.register(e.ctx, svc, "a", "AWS_INSTANCE_IPV4=10.0.0.1", "AWS_INSTANCE_PORT=80")
	e.register(e.ctx, svc, "b", "AWS_INSTANCE_IPV4=10.0.0.2", "AWS_INSTANCE_PORT=80")
	e.sync()
	if got := answerIPs(e.query("udp", "web.checked.example.com.", dns.TypeA)); len(got) != 2 {
		t.Fatalf("before any probe: %v; want both (healthy until checked)", got)
	}
	if err := e.cm.SetHealth(e.ctx, testAccount, testRegion, svc, "a", 0, "UNHEALTHY", ""); err != nil {
		t.Fatal(err)
	}
	e.sync()
	if got := answerIPs(e.query("udp", "web.checked.example.com.", dns.TypeA)); !slices.Equal(got, []string{"10.0.0.2"}) {
		t.Errorf("after SetHealth(a, UNHEALTHY): %v; want [10.0.0.2]", got)
	}
}

// TestDelayedCustomHealth: a custom status set with a delay changes the
// answers at the moment it takes effect (on the shared clock), with no
// store write.
func TestDelayedCustomHealth(t *testing.T) {
	clock := newTestClock()
	e := newEnv(t, envOptions{clock: clock, customHealthDelay: 30 * time.Second})
	ns := e.privateNS(e.ctx, "delay.local", "vpc-1")
	svc := e.service(e.ctx, ns, "db", svcOpts{records: []string{"A:60"}, custom: true})
	e.register(e.ctx, svc, "a", "AWS_INSTANCE_IPV4=10.0.0.1")
	e.register(e.ctx, svc, "b", "AWS_INSTANCE_IPV4=10.0.0.2")
	e.setCustomHealth(e.ctx, svc, "a", "UNHEALTHY")
	e.sync()
	ips := func() []string { return answerIPs(e.query("udp", "db.delay.local.", dns.TypeA)) }
	if got := ips(); len(got) != 2 {
		t.Fatalf("inside the delay: %v; want both", got)
	}
	clock.Advance(30*time.Second - time.Millisecond)
	if got := ips(); len(got) != 2 {
		t.Fatalf("1 ms before the change: %v; want both", got)
	}
	clock.Advance(time.Millisecond)
	if got := ips(); !slices.Equal(got, []string{"10.0.0.2"}) {
		t.Fatalf("when the change takes effect: %v; want [10.0.0.2]", got)
	}
}

// TestDelayedCustomHealthRebuild: on the real clock the service is rebuilt
// when the pending status matures, so answers stop evaluating it per query.
func TestDelayedCustomHealthRebuild(t *testing.T) {
	e := newEnv(t, envOptions{customHealthDelay: 300 * time.Millisecond})
	ns := e.privateNS(e.ctx, "delay.local", "vpc-1")
	svc := e.service(e.ctx, ns, "db", svcOpts{records: []string{"A:60"}, custom: true})
	e.register(e.ctx, svc, "a", "AWS_INSTANCE_IPV4=10.0.0.1")
	e.register(e.ctx, svc, "b", "AWS_INSTANCE_IPV4=10.0.0.2")
	e.sync()
	set := time.Now() // the delay runs from the server's time of the change, before the call returns
	e.setCustomHealth(e.ctx, svc, "a", "UNHEALTHY")
	e.sync()
	if got := answerIPs(e.query("udp", "db.delay.local.", dns.TypeA)); len(got) != 2 {
		t.Fatalf("inside the delay: %v; want both", got)
	}
	pending := func() int64 {
		z := e.srv.view.Load().zones["delay.local."]
		return z.services["db"].node.set(dns.TypeA).validUntil
	}
	if pending() == 0 {
		t.Fatal("no pending health change in the view")
	}
	eventually(t, func() string {
		if got := answerIPs(e.query("udp", "db.delay.local.", dns.TypeA)); !slices.Equal(got, []string{"10.0.0.2"}) {
			return fmt.Sprintf("after the delay: %v; want [10.0.0.2]", got)
		}
		if pending() != 0 {
			return "the service was not rebuilt when the change matured"
		}
		return ""
	})
	// The server keeps the change's time in whole milliseconds, up to one
	// before set.
	if d := time.Since(set); d < 299*time.Millisecond {
		t.Errorf("change visible after %v; want not before the 300ms delay", d)
	}
}

// TestCoalescing: a burst of registrations into one service rebuilds it
// far fewer times than there are registrations, and the result is whole.
func TestCoalescing(t *testing.T) {
	e := newEnv(t, envOptions{})
	ns := e.privateNS(e.ctx, "burst.local", "vpc-1")
	svc := e.service(e.ctx, ns, "svc", svcOpts{records: []string{"SRV:60"}})
	e.sync()
	before := e.srv.Stats()
	const n, workers = 1000, 8
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				id := fmt.Sprintf("i%d", i)
				attrs := map[string]string{"AWS_INSTANCE_IPV4": fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), "AWS_INSTANCE_PORT": "80"}
				if _, err := e.cm.RegisterInstance(e.ctx, &cloudmap.RegisterInstanceInput{ServiceID: &svc, InstanceID: &id, Attributes: attrs}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	e.sync()
	after := e.srv.Stats()
	builds := after.ServiceBuilds - before.ServiceBuilds
	// At most one build per interval, after a burst.
	limit := uint64(elapsed/DefaultInterval) + burst + 1
	t.Logf("%d registrations in %v: %d service builds in %d rebuilds (limit %d)", n, elapsed, builds, after.Rebuilds-before.Rebuilds, limit)
	if builds > limit {
		t.Errorf("%d registrations in %v built the service %d times; want at most %d", n, elapsed, builds, limit)
	}
	if elapsed < n*DefaultInterval/4 && builds > n/2 { // registrations at least 4 times faster than the interval
		t.Errorf("%d registrations in %v built the service %d times; want far fewer", n, elapsed, builds)
	}
	r := e.query("tcp", "i999.svc.burst.local.", dns.TypeA)
	if got := answerIPs(r); !slices.Equal(got, []string{"10.0.3.231"}) {
		t.Errorf("last instance: %v", got)
	}
	z := e.srv.view.Load().zones["burst.local."]
	if got := len(z.services["svc"].targets); got != n {
		t.Errorf("view has %d SRV targets; want %d", got, n)
	}
}

// TestUnservableNames: namespace and service names that are not domain
// names get no records and break nothing.
func TestUnservableNames(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"example.local", "example.local."}, {"Example.LOCAL.", "example.local."}, {"a b", ""}, {"a\\b", ""},
		{"..", ""}, {"a..b", ""}, {"we!rd", ""}, {strings.Repeat("a", 64) + ".local", ""}, {strings.Repeat("a.", 127) + "a", ""},
	} {
		if got := zoneName(tc.in); got != tc.want {
			t.Errorf("zoneName(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"web", "web"}, {"_http._TCP", "_http._tcp"}, {".", ""}, {"a..b", ""}, {"", ""},
	} {
		if got := relName(tc.in); got != tc.want {
			t.Errorf("relName(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
	e := newEnv(t, envOptions{})
	ns := e.privateNS(e.ctx, "we!rd(name)", "vpc-1")
	svc := e.service(e.ctx, ns, "web", svcOpts{records: []string{"A:60"}})
	e.register(e.ctx, svc, "i", "AWS_INSTANCE_IPV4=10.0.0.1")
	e.sync()
	if r := e.query("udp", `web.we!rd\(name\).`, dns.TypeA); r.Rcode != dns.RcodeRefused {
		t.Errorf("a namespace whose name is no domain name: %s; want REFUSED", dns.RcodeToString[r.Rcode])
	}
}
