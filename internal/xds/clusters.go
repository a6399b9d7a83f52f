package xds

import (
	"math"
	"slices"
	"strconv"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	httpopts "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/mapmesh/mapmesh/internal/appmesh"
)

// Cloud Map attributes mapmesh reads.
const (
	attrIPv4 = "AWS_INSTANCE_IPV4"
	attrIPv6 = "AWS_INSTANCE_IPV6"
	attrPort = "AWS_INSTANCE_PORT"
	attrAZ   = "AVAILABILITY_ZONE"
	attrReg  = "REGION"
)

// Envoy's circuit breaker defaults are replaced by no limit, as App Mesh
// does, unless a connection pool says otherwise.
const noLimit = math.MaxInt32

// renderClusters renders every cluster the routes use, with its endpoints.
func (b *builder) renderClusters() {
	names := make([]string, 0, len(b.clusterRefs))
	for n := range b.clusterRefs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		b.upstream(n, b.clusterRefs[n])
	}
}

// upstream renders the cluster of a virtual node's listener as its callers
// see it, and its endpoints.
func (b *builder) upstream(name string, ref clusterRef) {
	vn, pp := ref.vn, ref.pp
	c := &cluster.Cluster{Name: name, LbPolicy: cluster.Cluster_ROUND_ROBIN}
	if !b.node.Proxyless {
		c.ConnectTimeout = seconds(1)
		c.CircuitBreakers = thresholds(nil)
		if pp.proto == "http2" || pp.proto == "grpc" {
			c.TypedExtensionProtocolOptions = b.http2Options()
		}
		if ref.tls != nil {
			c.TransportSocket = b.upstreamTLS(ref.tls, "", "backend "+vn.Name)
		}
	} else if ref.tls != nil {
		b.notef("gRPC clients get no TLS from the mesh for %s: configure their channel credentials", vn.Name)
	}
	if l := nodeListener(vn, pp.port); l != nil && l.OutlierDetection != nil {
		c.OutlierDetection = outlierDetection(l.OutlierDetection)
	}
	var sd *appmesh.ServiceDiscovery
	if vn.VirtualNode != nil {
		sd = vn.VirtualNode.ServiceDiscovery
	}
	pref := ipPreference(b.mesh.Spec, sd)
	switch {
	case sd != nil && sd.AwsCloudMap != nil:
		cm := sd.AwsCloudMap
		b.eds(c, b.cloudMapEndpoints(name, deref(cm.NamespaceName), deref(cm.ServiceName), cm.Attributes, pref, pp.port))
	case sd != nil && sd.DNS != nil:
		host := deref(sd.DNS.Hostname)
		if b.node.Proxyless {
			if ns, svc, ok := b.reg.DNSService(host); ok {
				b.eds(c, b.cloudMapEndpoints(name, ns, svc, nil, pref, pp.port))
				break
			}
		}
		c.ClusterDiscoveryType = &cluster.Cluster_Type{Type: cluster.Cluster_LOGICAL_DNS}
		if deref(sd.DNS.ResponseType) == "ENDPOINTS" && !b.node.Proxyless {
			c.ClusterDiscoveryType = &cluster.Cluster_Type{Type: cluster.Cluster_STRICT_DNS}
		}
		c.DnsLookupFamily = dnsFamily(pref)
		c.LoadAssignment = &endpoint.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpoint.LocalityLbEndpoints{{
			Locality: &core.Locality{Region: b.mesh.Region}, LoadBalancingWeight: u32(1),
			LbEndpoints: []*endpoint.LbEndpoint{lbEndpoint(host, pp.port)}}}}
	default:
		b.notef("virtual node %s has no service discovery: its cluster has no endpoints", vn.Name)
		b.eds(c, &endpoint.ClusterLoadAssignment{ClusterName: name})
	}
	b.clusters[name] = c
}

func (b *builder) eds(c *cluster.Cluster, cla *endpoint.ClusterLoadAssignment) {
	c.ClusterDiscoveryType = &cluster.Cluster_Type{Type: cluster.Cluster_EDS}
	c.EdsClusterConfig = &cluster.Cluster_EdsClusterConfig{EdsConfig: adsSource()}
	b.endpoints[cla.ClusterName] = cla
}

func (b *builder) http2Options() map[string]*anypb.Any {
	o := &httpopts.HttpProtocolOptions{UpstreamProtocolOptions: &httpopts.HttpProtocolOptions_ExplicitHttpConfig_{
		ExplicitHttpConfig: &httpopts.HttpProtocolOptions_ExplicitHttpConfig{ProtocolConfig: &httpopts.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
			Http2ProtocolOptions: &core.Http2ProtocolOptions{}}}}}
	return map[string]*anypb.Any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": b.typed(o)}
}

func lbEndpoint(host string, port uint32) *endpoint.LbEndpoint {
	return &endpoint.LbEndpoint{HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{Address: socketAddress(host, port)}}}
}

// cloudMapEndpoints returns the endpoints of a Cloud Map service: its
// instances that match every attribute, are not UNHEALTHY and have an
// address of the preferred family, grouped by locality (the REGION and
// AVAILABILITY_ZONE attributes; the mesh's region otherwise), each
// locality weighted by its number of endpoints. An instance Cloud Map
// knows to be HEALTHY has that health status; one without a health check
// has none (UNKNOWN).
func (b *builder) cloudMapEndpoints(name, ns, svc string, attrs []appmesh.AwsCloudMapInstanceAttribute, pref string, port uint32) *endpoint.ClusterLoadAssignment {
	cla := &endpoint.ClusterLoadAssignment{ClusterName: name}
	insts, ok := b.reg.Instances(ns, svc)
	if !ok {
		b.notef("Cloud Map service %s in namespace %s does not exist", svc, ns)
		return cla
	}
	byLoc := map[[2]string][]*endpoint.LbEndpoint{}
	var locs [][2]string
	slices.SortFunc(insts, func(a, c Instance) int { return compareStrings(a.ID, c.ID) })
next:
	for _, in := range insts {
		for _, a := range attrs {
			if in.Attributes.Value(deref(a.Key)) != deref(a.Value) {
				continue next
			}
		}
		if in.Health == "UNHEALTHY" {
			continue
		}
		addr := in.Attributes.Address(pref)
		if addr == "" {
			continue
		}
		p := port
		if v, err := strconv.ParseUint(in.Attributes.Value(attrPort), 10, 16); err == nil && v > 0 {
			p = uint32(v)
		}
		loc := [2]string{in.Attributes.Value(attrReg), in.Attributes.Value(attrAZ)}
		if loc[0] == "" {
			loc[0] = b.mesh.Region
		}
		if byLoc[loc] == nil {
			locs = append(locs, loc)
		}
		ep := lbEndpoint(addr, p)
		if in.Health == "HEALTHY" {
			// Envoy balances over HEALTHY and UNKNOWN alike; the status
			// shows what Cloud Map knows (config_dump, proxy-config).
			ep.HealthStatus = core.HealthStatus_HEALTHY
		}
		byLoc[loc] = append(byLoc[loc], ep)
	}
	slices.SortFunc(locs, func(a, c [2]string) int {
		if a[0] != c[0] {
			return compareStrings(a[0], c[0])
		}
		return compareStrings(a[1], c[1])
	})
	for _, l := range locs {
		eps := byLoc[l]
		cla.Endpoints = append(cla.Endpoints, &endpoint.LocalityLbEndpoints{Locality: &core.Locality{Region: l[0], Zone: l[1]},
			LoadBalancingWeight: u32(uint32(len(eps))), LbEndpoints: eps})
	}
	return cla
}

// ipPreference is the node's, else the mesh's, else IPv4_PREFERRED.
func ipPreference(m *appmesh.MeshSpec, sd *appmesh.ServiceDiscovery) string {
	switch {
	case sd != nil && sd.AwsCloudMap != nil && sd.AwsCloudMap.IPPreference != nil:
		return *sd.AwsCloudMap.IPPreference
	case sd != nil && sd.DNS != nil && sd.DNS.IPPreference != nil:
		return *sd.DNS.IPPreference
	case m != nil && m.ServiceDiscovery != nil && m.ServiceDiscovery.IPPreference != nil:
		return *m.ServiceDiscovery.IPPreference
	}
	return "IPv4_PREFERRED"
}

func dnsFamily(pref string) cluster.Cluster_DnsLookupFamily {
	switch pref {
	case "IPv4_ONLY":
		return cluster.Cluster_V4_ONLY
	case "IPv6_ONLY":
		return cluster.Cluster_V6_ONLY
	case "IPv6_PREFERRED":
		return cluster.Cluster_AUTO
	}
	return cluster.Cluster_V4_PREFERRED
}

func outlierDetection(o *appmesh.OutlierDetection) *cluster.OutlierDetection {
	out := &cluster.OutlierDetection{}
	if o.MaxServerErrors != nil {
		out.Consecutive_5Xx = u32(uint32(min(*o.MaxServerErrors, math.MaxUint32)))
	}
	out.Interval, _ = duration(o.Interval)
	out.BaseEjectionTime, _ = duration(o.BaseEjectionDuration)
	if o.MaxEjectionPercent != nil {
		out.MaxEjectionPercent = u32(uint32(*o.MaxEjectionPercent))
	}
	return out
}

// thresholds renders a listener's connection pool as circuit breakers.
func thresholds(cp *appmesh.VirtualNodeConnectionPool) *cluster.CircuitBreakers {
	t := &cluster.CircuitBreakers_Thresholds{MaxConnections: u32(noLimit), MaxPendingRequests: u32(noLimit),
		MaxRequests: u32(noLimit), MaxRetries: u32(noLimit)}
	set := func(dst **wrapperspb.UInt32Value, v *int32) {
		if v != nil {
			*dst = u32(uint32(*v))
		}
	}
	if cp != nil {
		switch {
		case cp.HTTP != nil:
			set(&t.MaxConnections, cp.HTTP.MaxConnections)
			set(&t.MaxPendingRequests, cp.HTTP.MaxPendingRequests)
		case cp.HTTP2 != nil:
			set(&t.MaxRequests, cp.HTTP2.MaxRequests)
		case cp.GRPC != nil:
			set(&t.MaxRequests, cp.GRPC.MaxRequests)
		case cp.TCP != nil:
			set(&t.MaxConnections, cp.TCP.MaxConnections)
		}
	}
	return &cluster.CircuitBreakers{Thresholds: []*cluster.CircuitBreakers_Thresholds{t}}
}

// localCluster renders cds_ingress_<mesh>_<node>_<protocol>_<port>: the
// local application on 127.0.0.1:<port>, with the listener's health check
// and connection pool.
func (b *builder) localCluster(name string, pp portProto, l *appmesh.Listener) *cluster.Cluster {
	ep := lbEndpoint("127.0.0.1", pp.port)
	c := &cluster.Cluster{Name: name, ConnectTimeout: seconds(0.25), LbPolicy: cluster.Cluster_ROUND_ROBIN,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_STATIC}, CircuitBreakers: thresholds(l.ConnectionPool),
		LoadAssignment: &endpoint.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpoint.LocalityLbEndpoints{{LbEndpoints: []*endpoint.LbEndpoint{ep}}}}}
	if pp.proto == "http2" || pp.proto == "grpc" {
		c.TypedExtensionProtocolOptions = b.http2Options()
	}
	if hc := l.HealthCheck; hc != nil {
		c.HealthChecks = []*core.HealthCheck{healthCheck(deref(hc.Protocol), deref(hc.Path), deref(hc.TimeoutMillis),
			deref(hc.IntervalMillis), deref(hc.HealthyThreshold), deref(hc.UnhealthyThreshold))}
		if hc.Port != nil && uint32(*hc.Port) != pp.port {
			ep.GetEndpoint().HealthCheckConfig = &endpoint.Endpoint_HealthCheckConfig{PortValue: uint32(*hc.Port)}
		}
	}
	return c
}

func healthCheck(proto, path string, timeoutMs, intervalMs int64, healthy, unhealthy int32) *core.HealthCheck {
	h := &core.HealthCheck{Timeout: millis(timeoutMs), Interval: millis(intervalMs),
		HealthyThreshold: u32(uint32(max(healthy, 0))), UnhealthyThreshold: u32(uint32(max(unhealthy, 0)))}
	switch proto {
	case "http", "http2":
		if path == "" {
			path = "/"
		}
		hh := &core.HealthCheck_HttpHealthCheck{Path: path}
		if proto == "http2" {
			hh.CodecClientType = typev3.CodecClientType_HTTP2
		}
		h.HealthChecker = &core.HealthCheck_HttpHealthCheck_{HttpHealthCheck: hh}
	case "grpc":
		h.HealthChecker = &core.HealthCheck_GrpcHealthCheck_{GrpcHealthCheck: &core.HealthCheck_GrpcHealthCheck{}}
	default:
		h.HealthChecker = &core.HealthCheck_TcpHealthCheck_{TcpHealthCheck: &core.HealthCheck_TcpHealthCheck{}}
	}
	return h
}

// passthroughCluster sends connections to their original destination.
func passthroughCluster(name string) *cluster.Cluster {
	return &cluster.Cluster{Name: name, ConnectTimeout: seconds(1), LbPolicy: cluster.Cluster_CLUSTER_PROVIDED,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_ORIGINAL_DST}}
}
