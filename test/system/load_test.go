//go:build e2e

package system

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	am "github.com/aws/aws-sdk-go-v2/service/appmesh"
	amtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	sdtypes "github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"
)

// The mixed load: Cloud Map and App Mesh writers, each owning the
// resources it writes so that what it was told is the truth to check
// against; readers; all on one set of shared parents (the world).

const (
	meshName   = "sys"
	pubNSName  = "sys.example"  // public DNS namespace: service "web", TCP health checks
	privNSName = "sys.internal" // private DNS namespace: service "db", custom health
	webPort    = 8080           // the virtual nodes' listener port
	// Each writer owns this many instances per service and extra nodes.
	instancesPerWriter = 6
	extrasPerWriter    = 3
)

// target is a TCP listener that health checks connect to.
type target struct {
	ln   net.Listener
	addr *net.TCPAddr
}

// listen opens a target on ip, a loopback address. The "web" targets
// use 127.0.0.2 to .5 so that DNS A answers tell them apart; Linux routes
// all of 127.0.0.0/8 to the loopback interface, other systems may not.
func listen(t testing.TB, ip string) *target {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		if ip != "127.0.0.1" {
			t.Skipf("needs the loopback address %s: %v", ip, err)
		}
		t.Fatalf("listen on %s: %v", ip, err)
	}
	tg := &target{ln: ln, addr: ln.Addr().(*net.TCPAddr)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return tg
}

func (tg *target) ip() string   { return tg.addr.IP.String() }
func (tg *target) port() string { return strconv.Itoa(tg.addr.Port) }

// world is the shared parents: two namespaces with a service each, a mesh
// whose virtual nodes find their endpoints in the "web" service, and the
// listeners the "web" instances point at.
type world struct {
	pubNSID, webID  string
	privNSID, dbID  string
	t1, t2, doomed  *target // fixed "web" instances t1, t2 (lane b), doomed
	writerLive      *target // live writer instances point here
	deadIP, deadPrt string  // dead writer instances point here: refused
	m               *model
}

// live reports whether a "web" instance's address has a listener, that is
// whether its health check passes.
func (w *world) live(attrs map[string]string) bool {
	addr := net.JoinHostPort(attrs["AWS_INSTANCE_IPV4"], attrs["AWS_INSTANCE_PORT"])
	for _, tg := range []*target{w.t1, w.t2, w.writerLive} {
		if tg.addr.String() == addr {
			return true
		}
	}
	if w.doomed.addr.String() == addr {
		w.m.mu.Lock()
		defer w.m.mu.Unlock()
		return !w.m.doomedClosed
	}
	return false
}

// setupWorld creates the parents through the API and records them in a
// new model.
func setupWorld(t testing.TB, sdc *sd.Client, amc *am.Client) *world {
	t.Helper()
	w := &world{m: newModel()}
	w.t1, w.t2, w.doomed = listen(t, "127.0.0.2"), listen(t, "127.0.0.3"), listen(t, "127.0.0.4")
	w.writerLive = listen(t, "127.0.0.1")
	dead := listen(t, "127.0.0.5")
	dead.ln.Close() // nothing listens there any more: connections are refused
	w.deadIP, w.deadPrt = dead.ip(), dead.port()

	nsID := func(opID *string) string {
		var id string
		must(t, "GetOperation", func(ctx context.Context) error {
			out, err := sdc.GetOperation(ctx, &sd.GetOperationInput{OperationId: opID})
			if err == nil {
				id = out.Operation.Targets["NAMESPACE"]
			}
			return err
		})
		return id
	}
	must(t, "CreatePublicDnsNamespace", func(ctx context.Context) error {
		out, err := sdc.CreatePublicDnsNamespace(ctx, &sd.CreatePublicDnsNamespaceInput{Name: aws.String(pubNSName)})
		if err == nil {
			w.pubNSID = nsID(out.OperationId)
		}
		return err
	})
	must(t, "CreatePrivateDnsNamespace", func(ctx context.Context) error {
		out, err := sdc.CreatePrivateDnsNamespace(ctx, &sd.CreatePrivateDnsNamespaceInput{Name: aws.String(privNSName), Vpc: aws.String("vpc-0123456789abcdef0")})
		if err == nil {
			w.privNSID = nsID(out.OperationId)
		}
		return err
	})
	must(t, "CreateService web", func(ctx context.Context) error {
		out, err := sdc.CreateService(ctx, &sd.CreateServiceInput{Name: aws.String("web"), NamespaceId: &w.pubNSID,
			DnsConfig: &sdtypes.DnsConfig{RoutingPolicy: sdtypes.RoutingPolicyMultivalue, DnsRecords: []sdtypes.DnsRecord{
				{Type: sdtypes.RecordTypeA, TTL: aws.Int64(5)}, {Type: sdtypes.RecordTypeSrv, TTL: aws.Int64(5)}}},
			HealthCheckConfig: &sdtypes.HealthCheckConfig{Type: sdtypes.HealthCheckTypeTcp, FailureThreshold: aws.Int32(1)}})
		if err == nil {
			w.webID = *out.Service.Id
		}
		return err
	})
	must(t, "CreateService db", func(ctx context.Context) error {
		out, err := sdc.CreateService(ctx, &sd.CreateServiceInput{Name: aws.String("db"), NamespaceId: &w.privNSID,
			DnsConfig: &sdtypes.DnsConfig{RoutingPolicy: sdtypes.RoutingPolicyMultivalue, DnsRecords: []sdtypes.DnsRecord{
				{Type: sdtypes.RecordTypeA, TTL: aws.Int64(5)}}},
			HealthCheckCustomConfig: &sdtypes.HealthCheckCustomConfig{}})
		if err == nil {
			w.dbID = *out.Service.Id
		}
		return err
	})
	for _, fixed := range []struct {
		id   string
		tg   *target
		lane string
	}{{"t1", w.t1, "a"}, {"t2", w.t2, "b"}, {"doomed", w.doomed, "a"}} {
		attrs := map[string]string{"AWS_INSTANCE_IPV4": fixed.tg.ip(), "AWS_INSTANCE_PORT": fixed.tg.port(), "lane": fixed.lane}
		must(t, "RegisterInstance "+fixed.id, func(ctx context.Context) error {
			out, err := sdc.RegisterInstance(ctx, &sd.RegisterInstanceInput{ServiceId: &w.webID, InstanceId: aws.String(fixed.id), Attributes: attrs})
			if err == nil {
				x := w.m.inst(w.webID, fixed.id)
				x.begin(instState{Present: true, Attrs: attrs})
				x.ack()
				w.m.op(*out.OperationId, "REGISTER_INSTANCE", w.webID, fixed.id)
			}
			return err
		})
	}

	must(t, "CreateMesh", func(ctx context.Context) error {
		_, err := amc.CreateMesh(ctx, &am.CreateMeshInput{MeshName: aws.String(meshName)})
		return err
	})
	createNode := func(name string, spec *amtypes.VirtualNodeSpec) {
		must(t, "CreateVirtualNode "+name, func(ctx context.Context) error {
			_, err := amc.CreateVirtualNode(ctx, &am.CreateVirtualNodeInput{MeshName: aws.String(meshName), VirtualNodeName: aws.String(name), Spec: spec})
			if err == nil {
				x := w.m.node(name)
				x.begin(nodeState{Exists: true, Spec: fingerprint(spec), Version: 1})
				x.ack()
			}
			return err
		})
	}
	createNode("web-a", webNodeSpec("", 1))
	createNode("web-b", webNodeSpec("b", 1))
	for i := range 3 {
		createNode(fmt.Sprintf("upd-%d", i), dnsNodeSpec(fmt.Sprintf("upd-%d-0.sys.local", i)))
	}
	must(t, "CreateVirtualRouter", func(ctx context.Context) error {
		_, err := amc.CreateVirtualRouter(ctx, &am.CreateVirtualRouterInput{MeshName: aws.String(meshName), VirtualRouterName: aws.String("web"),
			Spec: &amtypes.VirtualRouterSpec{Listeners: []amtypes.VirtualRouterListener{{PortMapping: &amtypes.PortMapping{Port: aws.Int32(webPort), Protocol: amtypes.PortProtocolHttp}}}}})
		return err
	})
	must(t, "CreateRoute", func(ctx context.Context) error {
		_, err := amc.CreateRoute(ctx, &am.CreateRouteInput{MeshName: aws.String(meshName), VirtualRouterName: aws.String("web"), RouteName: aws.String("split"),
			Spec: routeSpec(50)})
		if err == nil {
			w.m.route.begin(routeState{Exists: true, W1: 50, Version: 1})
			w.m.route.ack()
		}
		return err
	})
	must(t, "CreateVirtualService", func(ctx context.Context) error {
		_, err := amc.CreateVirtualService(ctx, &am.CreateVirtualServiceInput{MeshName: aws.String(meshName), VirtualServiceName: aws.String("web.sys.local"),
			Spec: &amtypes.VirtualServiceSpec{Provider: &amtypes.VirtualServiceProviderMemberVirtualRouter{Value: amtypes.VirtualRouterServiceProvider{VirtualRouterName: aws.String("web")}}}})
		return err
	})
	createNode("front", &amtypes.VirtualNodeSpec{Backends: []amtypes.Backend{&amtypes.BackendMemberVirtualService{Value: amtypes.VirtualServiceBackend{
		VirtualServiceName: aws.String("web.sys.local")}}}})
	return w
}

// webNodeSpec is a virtual node whose endpoints are the "web" instances
// (with lane=lane, when set); maxConns tells updates apart.
func webNodeSpec(lane string, maxConns int32) *amtypes.VirtualNodeSpec {
	cm := amtypes.AwsCloudMapServiceDiscovery{NamespaceName: aws.String(pubNSName), ServiceName: aws.String("web")}
	if lane != "" {
		cm.Attributes = []amtypes.AwsCloudMapInstanceAttribute{{Key: aws.String("lane"), Value: aws.String(lane)}}
	}
	return &amtypes.VirtualNodeSpec{
		Listeners: []amtypes.Listener{{PortMapping: &amtypes.PortMapping{Port: aws.Int32(webPort), Protocol: amtypes.PortProtocolHttp},
			ConnectionPool: &amtypes.VirtualNodeConnectionPoolMemberHttp{Value: amtypes.VirtualNodeHttpConnectionPool{MaxConnections: aws.Int32(maxConns)}}}},
		ServiceDiscovery: &amtypes.ServiceDiscoveryMemberAwsCloudMap{Value: cm},
	}
}

func dnsNodeSpec(host string) *amtypes.VirtualNodeSpec {
	return &amtypes.VirtualNodeSpec{ServiceDiscovery: &amtypes.ServiceDiscoveryMemberDns{Value: amtypes.DnsServiceDiscovery{Hostname: aws.String(host)}}}
}

func routeSpec(w1 int32) *amtypes.RouteSpec {
	return &amtypes.RouteSpec{HttpRoute: &amtypes.HttpRoute{Match: &amtypes.HttpRouteMatch{Prefix: aws.String("/")},
		Action: &amtypes.HttpRouteAction{WeightedTargets: []amtypes.WeightedTarget{
			{VirtualNode: aws.String("web-a"), Weight: w1}, {VirtualNode: aws.String("web-b"), Weight: 100 - w1}}}}}
}

// fingerprint is what the checks compare of a virtual node's spec.
func fingerprint(spec *amtypes.VirtualNodeSpec) string {
	if spec == nil {
		return "<nil>"
	}
	s := ""
	switch d := spec.ServiceDiscovery.(type) {
	case *amtypes.ServiceDiscoveryMemberDns:
		s = "dns:" + aws.ToString(d.Value.Hostname)
	case *amtypes.ServiceDiscoveryMemberAwsCloudMap:
		s = "cloudmap:" + aws.ToString(d.Value.NamespaceName) + "/" + aws.ToString(d.Value.ServiceName)
		for _, a := range d.Value.Attributes {
			s += " " + aws.ToString(a.Key) + "=" + aws.ToString(a.Value)
		}
	}
	for _, l := range spec.Listeners {
		if l.PortMapping != nil {
			s += fmt.Sprintf(" listener:%d/%s", aws.ToInt32(l.PortMapping.Port), l.PortMapping.Protocol)
		}
		if cp, ok := l.ConnectionPool.(*amtypes.VirtualNodeConnectionPoolMemberHttp); ok {
			s += fmt.Sprintf(" maxConns=%d", aws.ToInt32(cp.Value.MaxConnections))
		}
	}
	for _, b := range spec.Backends {
		if vs, ok := b.(*amtypes.BackendMemberVirtualService); ok {
			s += " backend:" + aws.ToString(vs.Value.VirtualServiceName)
		}
	}
	return s
}

// tracked is what the server was told about one resource: the state of the
// last acknowledged write, and the state a write in flight (sent, not
// acknowledged) would leave, if any.
type tracked[T any] struct {
	acked    T
	inflight *T
}

func (x *tracked[T]) begin(v T) { x.inflight = &v }
func (x *tracked[T]) ack()      { x.acked, x.inflight = *x.inflight, nil }

// allowed returns the states the resource may be found in.
func (x *tracked[T]) allowed() []T {
	if x.inflight != nil {
		return []T{x.acked, *x.inflight}
	}
	return []T{x.acked}
}

type instState struct {
	Present bool
	Attrs   map[string]string
	Health  string // "db" (custom health): HEALTHY or UNHEALTHY
}

func (s instState) equal(o instState) bool {
	if !s.Present || !o.Present {
		return s.Present == o.Present
	}
	return maps.Equal(s.Attrs, o.Attrs) && s.Health == o.Health
}

func (s instState) String() string {
	if !s.Present {
		return "absent"
	}
	if s.Health != "" {
		return fmt.Sprintf("%v %s", s.Attrs, s.Health)
	}
	return fmt.Sprint(s.Attrs)
}

type nodeState struct {
	Exists  bool
	Spec    string // fingerprint
	Version int64
}

type routeState struct {
	Exists  bool
	W1      int32
	Version int64
}

// ackedOp is a Cloud Map operation the API acknowledged.
type ackedOp struct {
	id, typ, svc, inst string
	checked            bool // found once already
}

// model is what the test told the server, by resource.
type model struct {
	mu           sync.Mutex                     // guards everything below and the tracked values
	insts        map[string]*tracked[instState] // by service ID + "/" + instance ID
	nodes        map[string]*tracked[nodeState]
	route        tracked[routeState]
	svcAttrs     map[string]*tracked[string] // "web" service attributes; "" = absent
	ops          []ackedOp
	doomedClosed bool
}

func newModel() *model {
	return &model{insts: map[string]*tracked[instState]{}, nodes: map[string]*tracked[nodeState]{}, svcAttrs: map[string]*tracked[string]{}}
}

// inst returns the tracked instance (callers hold no lock: each resource
// has one writer, and the checks run after the writers stop).
func (m *model) inst(svc, id string) *tracked[instState] {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := svc + "/" + id
	if m.insts[k] == nil {
		m.insts[k] = &tracked[instState]{}
	}
	return m.insts[k]
}

func (m *model) node(name string) *tracked[nodeState] {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.nodes[name] == nil {
		m.nodes[name] = &tracked[nodeState]{}
	}
	return m.nodes[name]
}

func (m *model) attr(k string) *tracked[string] {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.svcAttrs[k] == nil {
		m.svcAttrs[k] = &tracked[string]{}
	}
	return m.svcAttrs[k]
}

func (m *model) op(id, typ, svc, inst string) {
	m.mu.Lock()
	m.ops = append(m.ops, ackedOp{id: id, typ: typ, svc: svc, inst: inst})
	m.mu.Unlock()
}

// load runs writers and readers against one server until stop is closed.
type load struct {
	w   *world
	sd  *sd.Client
	am  *am.Client
	l   *ledger
	ctx context.Context
	// seed makes a round's choices reproducible (logged by the tests).
	seed uint64
}

// step runs one call; false means stop (the call failed, or is in doubt).
func (ld *load) step(op string, f func(ctx context.Context) error, expected ...string) (error, bool) {
	err := ld.l.do(ld.ctx, op, f, expected...)
	if err == nil {
		return nil, true
	}
	for _, e := range expected {
		if errorCode(err) == e {
			return err, true
		}
	}
	return err, false
}

// cloudMapWriter registers, re-registers (new attributes, so the health
// check starts over), deregisters and sets the custom health of the
// instances it owns in "web" and "db", and sets its own attribute of the
// "web" service.
func (ld *load) cloudMapWriter(wr int, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(ld.seed, uint64(100+wr)))
	w, m := ld.w, ld.w.m
	for gen := 1; ; gen++ {
		select {
		case <-stop:
			return
		default:
		}
		k := rng.IntN(instancesPerWriter)
		webID, dbID := fmt.Sprintf("w%d-%d", wr, k), fmt.Sprintf("d%d-%d", wr, k)
		webX, dbX := m.inst(w.webID, webID), m.inst(w.dbID, dbID)
		var ok bool
		switch r := rng.IntN(100); {
		case r < 35 || (r < 50 && !webX.acked.Present):
			attrs := map[string]string{"AWS_INSTANCE_IPV4": w.deadIP, "AWS_INSTANCE_PORT": w.deadPrt, "lane": "a", "gen": strconv.Itoa(gen)}
			if rng.IntN(10) < 6 {
				attrs["AWS_INSTANCE_IPV4"], attrs["AWS_INSTANCE_PORT"] = w.writerLive.ip(), w.writerLive.port()
			}
			if rng.IntN(2) == 0 {
				attrs["lane"] = "b"
			}
			webX.begin(instState{Present: true, Attrs: attrs})
			var out *sd.RegisterInstanceOutput
			_, ok = ld.step("RegisterInstance", func(ctx context.Context) (err error) {
				out, err = ld.sd.RegisterInstance(ctx, &sd.RegisterInstanceInput{ServiceId: &w.webID, InstanceId: &webID, Attributes: attrs})
				return err
			})
			if ok {
				webX.ack()
				m.op(*out.OperationId, "REGISTER_INSTANCE", w.webID, webID)
			}
		case r < 50:
			ok = ld.deregister(w.webID, webID, webX)
		case r < 70 || (r < 95 && !dbX.acked.Present):
			attrs := map[string]string{"AWS_INSTANCE_IPV4": fmt.Sprintf("10.9.%d.%d", wr, k), "gen": strconv.Itoa(gen)}
			health := dbX.acked.Health
			if !dbX.acked.Present {
				health = "HEALTHY"
			}
			if rng.IntN(5) == 0 {
				health = []string{"HEALTHY", "UNHEALTHY"}[rng.IntN(2)]
				attrs["AWS_INIT_HEALTH_STATUS"] = health
			}
			dbX.begin(instState{Present: true, Attrs: attrs, Health: health})
			var out *sd.RegisterInstanceOutput
			_, ok = ld.step("RegisterInstance", func(ctx context.Context) (err error) {
				out, err = ld.sd.RegisterInstance(ctx, &sd.RegisterInstanceInput{ServiceId: &w.dbID, InstanceId: &dbID, Attributes: attrs})
				return err
			})
			if ok {
				dbX.ack()
				m.op(*out.OperationId, "REGISTER_INSTANCE", w.dbID, dbID)
			}
		case r < 80:
			ok = ld.deregister(w.dbID, dbID, dbX)
		case r < 95:
			st := dbX.acked
			st.Health = []string{"HEALTHY", "UNHEALTHY"}[rng.IntN(2)]
			dbX.begin(st)
			_, ok = ld.step("UpdateInstanceCustomHealthStatus", func(ctx context.Context) error {
				_, err := ld.sd.UpdateInstanceCustomHealthStatus(ctx, &sd.UpdateInstanceCustomHealthStatusInput{ServiceId: &w.dbID, InstanceId: &dbID,
					Status: sdtypes.CustomHealthStatus(st.Health)})
				return err
			})
			if ok {
				dbX.ack()
			}
		default:
			key, val := fmt.Sprintf("w%d", wr), strconv.Itoa(gen)
			ax := m.attr(key)
			ax.begin(val)
			_, ok = ld.step("UpdateServiceAttributes", func(ctx context.Context) error {
				_, err := ld.sd.UpdateServiceAttributes(ctx, &sd.UpdateServiceAttributesInput{ServiceId: &w.webID, Attributes: map[string]string{key: val}})
				return err
			})
			if ok {
				ax.ack()
			}
		}
		if !ok {
			return
		}
	}
}

func (ld *load) deregister(svc, id string, x *tracked[instState]) bool {
	x.begin(instState{})
	var out *sd.DeregisterInstanceOutput
	_, ok := ld.step("DeregisterInstance", func(ctx context.Context) (err error) {
		out, err = ld.sd.DeregisterInstance(ctx, &sd.DeregisterInstanceInput{ServiceId: &svc, InstanceId: &id})
		return err
	})
	if ok {
		x.ack()
		ld.w.m.op(*out.OperationId, "DEREGISTER_INSTANCE", svc, id)
	}
	return ok
}

// appMeshWriter updates its own virtual node "upd-<wr>", creates, updates
// and deletes its extra nodes; writer 0 also moves the route's weights,
// writer 1 also updates "web-a".
func (ld *load) appMeshWriter(wr int, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(ld.seed, uint64(200+wr)))
	m := ld.w.m
	mesh := aws.String(meshName)
	update := func(name string, spec *amtypes.VirtualNodeSpec) bool {
		x := m.node(name)
		x.begin(nodeState{Exists: true, Spec: fingerprint(spec), Version: x.acked.Version + 1})
		_, ok := ld.step("UpdateVirtualNode", func(ctx context.Context) error {
			_, err := ld.am.UpdateVirtualNode(ctx, &am.UpdateVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String(name), Spec: spec})
			return err
		})
		if ok {
			x.ack()
		}
		return ok
	}
	for gen := 1; ; gen++ {
		select {
		case <-stop:
			return
		default:
		}
		extra := fmt.Sprintf("extra-%d-%d", wr, rng.IntN(extrasPerWriter))
		ex := m.node(extra)
		create := func() bool {
			spec := dnsNodeSpec(fmt.Sprintf("%s-%d.sys.local", extra, gen))
			ex.begin(nodeState{Exists: true, Spec: fingerprint(spec), Version: 1})
			_, ok := ld.step("CreateVirtualNode", func(ctx context.Context) error {
				_, err := ld.am.CreateVirtualNode(ctx, &am.CreateVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String(extra), Spec: spec})
				return err
			})
			if ok {
				ex.ack()
			}
			return ok
		}
		var ok bool
		switch r := rng.IntN(100); {
		case r < 35:
			ok = update(fmt.Sprintf("upd-%d", wr), dnsNodeSpec(fmt.Sprintf("upd-%d-%d.sys.local", wr, gen)))
		case r < 65 && !ex.acked.Exists:
			ok = create()
		case r < 50:
			ok = update(extra, dnsNodeSpec(fmt.Sprintf("%s-%d.sys.local", extra, gen)))
		case r < 65:
			ex.begin(nodeState{})
			_, ok = ld.step("DeleteVirtualNode", func(ctx context.Context) error {
				_, err := ld.am.DeleteVirtualNode(ctx, &am.DeleteVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String(extra)})
				return err
			})
			if ok {
				ex.ack()
			}
		case wr == 0:
			w1 := int32(1 + rng.IntN(99))
			x := &m.route
			x.begin(routeState{Exists: true, W1: w1, Version: x.acked.Version + 1})
			_, ok = ld.step("UpdateRoute", func(ctx context.Context) error {
				_, err := ld.am.UpdateRoute(ctx, &am.UpdateRouteInput{MeshName: mesh, VirtualRouterName: aws.String("web"), RouteName: aws.String("split"), Spec: routeSpec(w1)})
				return err
			})
			if ok {
				x.ack()
			}
		case wr == 1:
			ok = update("web-a", webNodeSpec("", int32(1+gen)))
		default:
			ok = update(fmt.Sprintf("upd-%d", wr), dnsNodeSpec(fmt.Sprintf("upd-%d-%d.sys.local", wr, gen)))
		}
		if !ok {
			return
		}
	}
}

// reader calls the read operations of both APIs and checks what must
// never go backwards: a service's InstancesRevision, a node's version.
func (ld *load) reader(rd int, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(ld.seed, uint64(300+rd)))
	w := ld.w
	lastRev := map[string]int64{}
	lastVersion := map[string]int64{}
	mesh := aws.String(meshName)
	forward := func(what string, last map[string]int64, k string, v int64) {
		if v < last[k] {
			ld.l.fail("unexpected", "%s of %s went back from %d to %d", what, k, last[k], v)
		}
		last[k] = v
	}
	reads := []func() (error, bool){
		func() (error, bool) {
			svc := []string{"web", "db"}[rng.IntN(2)]
			ns := map[string]string{"web": pubNSName, "db": privNSName}[svc]
			return ld.step("DiscoverInstancesRevision", func(ctx context.Context) error {
				out, err := ld.sd.DiscoverInstancesRevision(ctx, &sd.DiscoverInstancesRevisionInput{NamespaceName: aws.String(ns), ServiceName: aws.String(svc)})
				if err == nil {
					forward("InstancesRevision", lastRev, svc, aws.ToInt64(out.InstancesRevision))
				}
				return err
			})
		},
		func() (error, bool) {
			hs := []sdtypes.HealthStatusFilter{sdtypes.HealthStatusFilterAll, sdtypes.HealthStatusFilterHealthy, sdtypes.HealthStatusFilterHealthyOrElseAll}[rng.IntN(3)]
			return ld.step("DiscoverInstances", func(ctx context.Context) error {
				_, err := ld.sd.DiscoverInstances(ctx, &sd.DiscoverInstancesInput{NamespaceName: aws.String(pubNSName), ServiceName: aws.String("web"),
					HealthStatus: hs, MaxResults: aws.Int32(100)})
				return err
			})
		},
		func() (error, bool) {
			return ld.step("DiscoverInstances", func(ctx context.Context) error {
				_, err := ld.sd.DiscoverInstances(ctx, &sd.DiscoverInstancesInput{NamespaceName: aws.String(privNSName), ServiceName: aws.String("db"),
					QueryParameters: map[string]string{"gen": "1"}})
				return err
			})
		},
		func() (error, bool) {
			return ld.step("ListInstances", func(ctx context.Context) error {
				_, err := ld.sd.ListInstances(ctx, &sd.ListInstancesInput{ServiceId: &w.webID})
				return err
			})
		},
		func() (error, bool) {
			return ld.step("GetService", func(ctx context.Context) error {
				_, err := ld.sd.GetService(ctx, &sd.GetServiceInput{Id: &w.dbID})
				return err
			})
		},
		func() (error, bool) {
			return ld.step("GetInstancesHealthStatus", func(ctx context.Context) error {
				_, err := ld.sd.GetInstancesHealthStatus(ctx, &sd.GetInstancesHealthStatusInput{ServiceId: &w.webID})
				return err
			})
		},
		func() (error, bool) {
			return ld.step("ListNamespaces", func(ctx context.Context) error {
				_, err := ld.sd.ListNamespaces(ctx, &sd.ListNamespacesInput{})
				return err
			})
		},
		func() (error, bool) {
			name := []string{"upd-0", "upd-1", "upd-2", "web-a", "front"}[rng.IntN(5)]
			return ld.step("DescribeVirtualNode", func(ctx context.Context) error {
				out, err := ld.am.DescribeVirtualNode(ctx, &am.DescribeVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String(name)})
				if err == nil {
					forward("version", lastVersion, name, aws.ToInt64(out.VirtualNode.Metadata.Version))
				}
				return err
			})
		},
		func() (error, bool) {
			return ld.step("DescribeRoute", func(ctx context.Context) error {
				out, err := ld.am.DescribeRoute(ctx, &am.DescribeRouteInput{MeshName: mesh, VirtualRouterName: aws.String("web"), RouteName: aws.String("split")})
				if err == nil {
					forward("version", lastVersion, "route split", aws.ToInt64(out.Route.Metadata.Version))
				}
				return err
			})
		},
		func() (error, bool) {
			return ld.step("ListVirtualNodes", func(ctx context.Context) error {
				_, err := ld.am.ListVirtualNodes(ctx, &am.ListVirtualNodesInput{MeshName: mesh})
				return err
			})
		},
		func() (error, bool) {
			return ld.step("DescribeMesh", func(ctx context.Context) error {
				_, err := ld.am.DescribeMesh(ctx, &am.DescribeMeshInput{MeshName: mesh})
				return err
			})
		},
	}
	for {
		select {
		case <-stop:
			return
		default:
		}
		if _, ok := reads[rng.IntN(len(reads))](); !ok {
			return
		}
	}
}

// run starts nCM Cloud Map writers, nAM App Mesh writers and nR readers,
// and returns a function that stops them and waits for them.
func (ld *load) run(nCM, nAM, nR int) (stop func()) {
	ch := make(chan struct{})
	var wg sync.WaitGroup
	for i := range nCM {
		wg.Go(func() { ld.cloudMapWriter(i, ch) })
	}
	for i := range nAM {
		wg.Go(func() { ld.appMeshWriter(i, ch) })
	}
	for i := range nR {
		wg.Go(func() { ld.reader(i, ch) })
	}
	var once sync.Once
	return func() {
		once.Do(func() { close(ch) })
		wg.Wait()
	}
}

// snapshot is the state read back through the API.
type snapshot struct {
	insts    map[string]instState // by service ID + "/" + instance ID
	nodes    map[string]nodeState
	route    routeState
	svcAttrs map[string]string
}

// read reads back, through the API, every resource the model tracks.
func (ld *load) read(t testing.TB) *snapshot {
	t.Helper()
	w := ld.w
	s := &snapshot{insts: map[string]instState{}, nodes: map[string]nodeState{}, svcAttrs: map[string]string{}}
	for _, svc := range []string{w.webID, w.dbID} {
		health := map[string]string{}
		if svc == w.dbID {
			for _, h := range ld.health(t, svc) {
				health[h[0]] = h[1]
			}
		}
		for _, in := range ld.instances(t, svc) {
			st := instState{Present: true, Attrs: in.Attributes}
			if svc == w.dbID {
				st.Health = health[*in.Id]
			}
			s.insts[svc+"/"+*in.Id] = st
		}
	}
	var names []string
	ld.readCall(t, "ListVirtualNodes", func(ctx context.Context) error {
		p := am.NewListVirtualNodesPaginator(ld.am, &am.ListVirtualNodesInput{MeshName: aws.String(meshName)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, r := range out.VirtualNodes {
				names = append(names, *r.VirtualNodeName)
			}
		}
		return nil
	})
	for _, n := range names {
		ld.readCall(t, "DescribeVirtualNode", func(ctx context.Context) error {
			out, err := ld.am.DescribeVirtualNode(ctx, &am.DescribeVirtualNodeInput{MeshName: aws.String(meshName), VirtualNodeName: aws.String(n)})
			if err == nil {
				s.nodes[n] = nodeState{Exists: true, Spec: fingerprint(out.VirtualNode.Spec), Version: aws.ToInt64(out.VirtualNode.Metadata.Version)}
			}
			return err
		})
	}
	ld.readCall(t, "DescribeRoute", func(ctx context.Context) error {
		out, err := ld.am.DescribeRoute(ctx, &am.DescribeRouteInput{MeshName: aws.String(meshName), VirtualRouterName: aws.String("web"), RouteName: aws.String("split")})
		if err == nil {
			var w1 int32
			if hr := out.Route.Spec.HttpRoute; hr != nil && hr.Action != nil {
				for _, wt := range hr.Action.WeightedTargets {
					if aws.ToString(wt.VirtualNode) == "web-a" {
						w1 = wt.Weight
					}
				}
			}
			s.route = routeState{Exists: true, W1: w1, Version: aws.ToInt64(out.Route.Metadata.Version)}
		}
		return err
	})
	ld.readCall(t, "GetServiceAttributes", func(ctx context.Context) error {
		out, err := ld.sd.GetServiceAttributes(ctx, &sd.GetServiceAttributesInput{ServiceId: &w.webID})
		if err == nil {
			s.svcAttrs = out.ServiceAttributes.Attributes
		}
		return err
	})
	return s
}

// readCall runs one read of the checks; a failure stops the test.
func (ld *load) readCall(t testing.TB, op string, f func(ctx context.Context) error) {
	t.Helper()
	if err := ld.l.do(context.Background(), op, f); err != nil {
		t.Fatalf("%s: %v", op, err)
	}
}

func (ld *load) instances(t testing.TB, svc string) []sdtypes.InstanceSummary {
	t.Helper()
	var out []sdtypes.InstanceSummary
	ld.readCall(t, "ListInstances", func(ctx context.Context) error {
		out = nil
		p := sd.NewListInstancesPaginator(ld.sd, &sd.ListInstancesInput{ServiceId: &svc})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			out = append(out, page.Instances...)
		}
		return nil
	})
	return out
}

// health returns [instance ID, status] pairs of a service.
func (ld *load) health(t testing.TB, svc string) [][2]string {
	t.Helper()
	var out [][2]string
	ld.readCall(t, "GetInstancesHealthStatus", func(ctx context.Context) error {
		out = nil
		p := sd.NewGetInstancesHealthStatusPaginator(ld.sd, &sd.GetInstancesHealthStatusInput{ServiceId: &svc})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			for id, st := range page.Status {
				out = append(out, [2]string{id, string(st)})
			}
		}
		return nil
	})
	return out
}

// compare reports every resource whose state read back is none of the
// states the model allows, and adopts what was read as acknowledged (for
// the next round of a test that goes on).
func (ld *load) compare(t testing.TB, s *snapshot) {
	t.Helper()
	m := ld.w.m
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, x := range m.insts {
		got, found := s.insts[k], false
		for _, want := range x.allowed() {
			found = found || want.equal(got)
		}
		if !found {
			t.Errorf("instance %s: found %v; want %v (acknowledged) %s", k, got, x.acked, inflightNote(x.inflight))
		}
		x.acked, x.inflight = got, nil
	}
	for k, got := range s.insts {
		if m.insts[k] == nil {
			t.Errorf("instance %s: found %v; no write ever made it", k, got)
		}
	}
	for name, x := range m.nodes {
		got, found := s.nodes[name], false
		for _, want := range x.allowed() {
			found = found || want == got
		}
		if !found {
			t.Errorf("virtual node %s: found %+v; want %+v (acknowledged) %s", name, got, x.acked, inflightNote(x.inflight))
		}
		x.acked, x.inflight = got, nil
	}
	for name, got := range s.nodes {
		if m.nodes[name] == nil {
			t.Errorf("virtual node %s: found %+v; no write ever made it", name, got)
		}
	}
	found := false
	for _, want := range m.route.allowed() {
		found = found || want == s.route
	}
	if !found {
		t.Errorf("route split: found %+v; want %+v (acknowledged) %s", s.route, m.route.acked, inflightNote(m.route.inflight))
	}
	m.route.acked, m.route.inflight = s.route, nil
	for k, x := range m.svcAttrs {
		got, found := s.svcAttrs[k], false
		for _, want := range x.allowed() {
			found = found || want == got
		}
		if !found {
			t.Errorf("service attribute %s: found %q; want %q (acknowledged) %s", k, got, x.acked, inflightNote(x.inflight))
		}
		x.acked, x.inflight = got, nil
	}
}

func inflightNote[T any](v *T) string {
	if v == nil {
		return "(no write in flight)"
	}
	return fmt.Sprintf("or %+v (in flight)", *v)
}

// checkCounts: GetService's InstanceCount and DiscoverInstances (all
// health statuses) agree with ListInstances, for both services.
func (ld *load) checkCounts(t testing.TB) {
	t.Helper()
	for _, c := range []struct{ svcID, ns, name string }{{ld.w.webID, pubNSName, "web"}, {ld.w.dbID, privNSName, "db"}} {
		ids := map[string]bool{}
		for _, in := range ld.instances(t, c.svcID) {
			ids[*in.Id] = true
		}
		ld.readCall(t, "GetService", func(ctx context.Context) error {
			out, err := ld.sd.GetService(ctx, &sd.GetServiceInput{Id: &c.svcID})
			if err == nil && int(aws.ToInt32(out.Service.InstanceCount)) != len(ids) {
				t.Errorf("GetService(%s).InstanceCount = %d; ListInstances has %d", c.name, aws.ToInt32(out.Service.InstanceCount), len(ids))
			}
			return err
		})
		ld.readCall(t, "DiscoverInstances", func(ctx context.Context) error {
			out, err := ld.sd.DiscoverInstances(ctx, &sd.DiscoverInstancesInput{NamespaceName: aws.String(c.ns), ServiceName: aws.String(c.name),
				HealthStatus: sdtypes.HealthStatusFilterAll, MaxResults: aws.Int32(1000)})
			if err != nil {
				return err
			}
			got := map[string]bool{}
			for _, in := range out.Instances {
				got[*in.InstanceId] = true
			}
			if !maps.Equal(got, ids) {
				t.Errorf("DiscoverInstances(%s, ALL) = %v; ListInstances = %v", c.name, keys(got), keys(ids))
			}
			return nil
		})
	}
}

// checkOperations: every acknowledged operation is there, SUCCESS, with
// its type and targets. Operations found by an earlier check are checked
// again only in part (a sample of 100), to keep the rounds of a long test
// quick.
func (ld *load) checkOperations(t testing.TB, seed int) {
	t.Helper()
	m := ld.w.m
	m.mu.Lock()
	var ops []ackedOp
	var old []int
	for i := range m.ops {
		if m.ops[i].checked {
			old = append(old, i)
			continue
		}
		ops = append(ops, m.ops[i])
		m.ops[i].checked = true
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	rng.Shuffle(len(old), func(i, j int) { old[i], old[j] = old[j], old[i] })
	for _, i := range old[:min(100, len(old))] {
		ops = append(ops, m.ops[i])
	}
	m.mu.Unlock()
	var mu sync.Mutex
	bad := 0
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, o := range ops {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			err := ld.l.do(context.Background(), "GetOperation", func(ctx context.Context) error {
				out, err := ld.sd.GetOperation(ctx, &sd.GetOperationInput{OperationId: &o.id})
				if err != nil {
					return err
				}
				op := out.Operation
				if string(op.Type) != o.typ || op.Status != sdtypes.OperationStatusSuccess || op.Targets["SERVICE"] != o.svc || op.Targets["INSTANCE"] != o.inst {
					return fmt.Errorf("operation %s = %s %s %v; want %s SUCCESS for %s/%s", o.id, op.Type, op.Status, op.Targets, o.typ, o.svc, o.inst)
				}
				return nil
			})
			if err != nil {
				mu.Lock()
				if bad++; bad <= 5 {
					t.Errorf("acknowledged operation %s (%s %s/%s): %v", o.id, o.typ, o.svc, o.inst, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if bad > 5 {
		t.Errorf("... %d acknowledged operations wrong or missing in all, of %d", bad, len(ops))
	}
}

func keys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
