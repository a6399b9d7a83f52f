package xds

import (
	"slices"
	"strconv"

	accesslog "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	filelog "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	routerfilter "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	originaldst "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	tlsinspector "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/mapmesh/mapmesh/internal/appmesh"
)

// App Mesh's fixed names and ports for sidecars: the ports ECS's
// proxyConfiguration (ProxyIngressPort, ProxyEgressPort) and the Kubernetes
// controller's proxyinit container (APPMESH_ENVOY_INGRESS_PORT,
// APPMESH_ENVOY_EGRESS_PORT) redirect the task's traffic to.
const (
	ingressListenerName = "lds_ingress_0.0.0.0_15000"
	egressListenerName  = "lds_egress_0.0.0.0_15001"
	ingressPort         = 15000
	egressPort          = 15001
)

// ingressStatPrefix is the stat prefix of the HTTP connection manager or
// TCP proxy of an inbound listener port: "ingress.<protocol>.<port>", the
// shape the stats tags of App Mesh's Envoy bootstrap
// (appmesh.listener_protocol, appmesh.listener_port,
// envoy_rds_route_config) extract, leaving the stat names of the older
// prefix "ingress" (http.ingress.downstream_rq_total) with the port and
// protocol as tags.
func ingressStatPrefix(pp portProto) string {
	return "ingress." + pp.proto + "." + strconv.Itoa(int(pp.port))
}

func ingressClusterName(mesh, vn string, pp portProto) string {
	return "cds_ingress_" + mesh + "_" + vn + "_" + pp.String()
}

func allowAllClusterName(mesh string) string  { return "cds_egress_" + mesh + "_mesh-allow-all" }
func amazonawsClusterName(mesh string) string { return "cds_egress_" + mesh + "_amazonaws" }
func routeConfigName(dir string, port uint32) string {
	return "rds_" + dir + "_http_" + strconv.Itoa(int(port))
}

func socketAddress(ip string, port uint32) *core.Address {
	return &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
		Address: ip, PortSpecifier: &core.SocketAddress_PortValue{PortValue: port}}}}
}

func adsSource() *core.ConfigSource {
	return &core.ConfigSource{ResourceApiVersion: core.ApiVersion_V3,
		ConfigSourceSpecifier: &core.ConfigSource_Ads{Ads: &core.AggregatedConfigSource{}}}
}

// sidecar renders the configuration of an Envoy serving virtual node vn.
func (b *builder) sidecar(vn *appmesh.Resource) {
	spec := vn.VirtualNode
	if spec == nil {
		return
	}
	logs := b.accessLogs(spec.Logging)
	b.ingress(vn, logs)
	b.egress(vn, logs)
}

// ingress renders lds_ingress_0.0.0.0_15000: one filter chain per listener
// of the node, to the local application on 127.0.0.1:<port>.
func (b *builder) ingress(vn *appmesh.Resource, logs []*accesslog.AccessLog) {
	ls := vn.VirtualNode.Listeners
	if len(ls) == 0 {
		return
	}
	l := &listener.Listener{Name: ingressListenerName, Address: socketAddress("0.0.0.0", ingressPort), TrafficDirection: core.TrafficDirection_INBOUND,
		ListenerFilters: []*listener.ListenerFilter{b.listenerFilter(wellknown.OriginalDestination, &originaldst.OriginalDst{})}}
	for i := range ls {
		vl := &ls[i]
		pp, ok := portMapping(vl.PortMapping)
		if !ok {
			continue
		}
		cn := ingressClusterName(b.mesh.Name, vn.Name, pp)
		b.clusters[cn] = b.localCluster(cn, pp, vl)
		match := &listener.FilterChainMatch{DestinationPort: u32(pp.port)}
		var filter *listener.Filter
		if isHTTP(pp.proto) {
			rn := routeConfigName("ingress", pp.port)
			filter = b.httpConnectionManager(ingressStatPrefix(pp), rn, pp.proto, logs)
			a := &route.RouteAction{ClusterSpecifier: &route.RouteAction_Cluster{Cluster: cn}}
			b.routeTimeouts(a, listenerTimeout(vl.Timeout, pp.proto))
			b.routes[rn] = &route.RouteConfiguration{Name: rn, VirtualHosts: []*route.VirtualHost{{
				Name: "ingress_" + pp.String(), Domains: []string{"*"},
				Routes: []*route.Route{{Name: "ingress", Match: prefixMatch("/"), Action: &route.Route_Route{Route: a}}}}}}
		} else {
			tp := &tcpproxy.TcpProxy{StatPrefix: ingressStatPrefix(pp), ClusterSpecifier: &tcpproxy.TcpProxy_Cluster{Cluster: cn}, AccessLog: logs}
			if vl.Timeout != nil && vl.Timeout.TCP != nil {
				tp.IdleTimeout, _ = duration(vl.Timeout.TCP.Idle)
			}
			filter = &listener.Filter{Name: wellknown.TCPProxy, ConfigType: &listener.Filter_TypedConfig{TypedConfig: b.typed(tp)}}
		}
		l.FilterChains = append(l.FilterChains, b.downstreamChains("ingress_"+pp.String(), match, filter, listenerTLS(vl.TLS), &l.ListenerFilters)...)
	}
	if len(l.FilterChains) > 0 {
		b.listeners[l.Name] = l
	}
}

func listenerTimeout(t *appmesh.ListenerTimeout, proto string) *appmesh.HTTPTimeout {
	switch {
	case t == nil:
		return nil
	case proto == "http":
		return t.HTTP
	case proto == "http2":
		return t.HTTP2
	case proto == "grpc" && t.GRPC != nil:
		return &appmesh.HTTPTimeout{PerRequest: t.GRPC.PerRequest, Idle: t.GRPC.Idle}
	}
	return nil
}

func (b *builder) listenerFilter(name string, cfg proto.Message) *listener.ListenerFilter {
	return &listener.ListenerFilter{Name: name, ConfigType: &listener.ListenerFilter_TypedConfig{TypedConfig: b.typed(cfg)}}
}

func portRange(p uint32) *typev3.Int32Range {
	return &typev3.Int32Range{Start: int32(p), End: int32(p) + 1}
}

// httpConnectionManager returns an HCM filter that takes its routes from
// RDS over ADS. Tracing is on (tracing: {}, as in App Mesh's own
// listeners), so the tracer of the Envoy's bootstrap applies: App Mesh's
// image configures X-Ray, Datadog or Jaeger there (ENABLE_ENVOY_*_TRACING),
// and an HCM without tracing would trace nothing.
func (b *builder) httpConnectionManager(statPrefix, rds, proto string, logs []*accesslog.AccessLog) *listener.Filter {
	m := &hcm.HttpConnectionManager{StatPrefix: statPrefix, CodecType: hcm.HttpConnectionManager_AUTO,
		Tracing:        &hcm.HttpConnectionManager_Tracing{},
		RouteSpecifier: &hcm.HttpConnectionManager_Rds{Rds: &hcm.Rds{ConfigSource: adsSource(), RouteConfigName: rds}},
		HttpFilters:    []*hcm.HttpFilter{b.routerFilter()},
		NormalizePath:  wrapperspb.Bool(true), MergeSlashes: true, AccessLog: logs,
		UpgradeConfigs: []*hcm.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}}}
	if proto == "http2" || proto == "grpc" {
		m.CodecType = hcm.HttpConnectionManager_HTTP2
		m.UpgradeConfigs = nil
	}
	return &listener.Filter{Name: wellknown.HTTPConnectionManager, ConfigType: &listener.Filter_TypedConfig{TypedConfig: b.typed(m)}}
}

func (b *builder) routerFilter() *hcm.HttpFilter {
	return &hcm.HttpFilter{Name: wellknown.Router, ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: b.typed(&routerfilter.Router{})}}
}

// backendTLS returns the client TLS policy for calls from the node to the
// backend service on port, or nil.
func backendTLS(spec *appmesh.VirtualNodeSpec, backend *appmesh.VirtualServiceBackend, port uint32) *appmesh.ClientPolicyTLS {
	var t *appmesh.ClientPolicyTLS
	if backend != nil && backend.ClientPolicy != nil && backend.ClientPolicy.TLS != nil {
		t = backend.ClientPolicy.TLS
	} else if spec.BackendDefaults != nil && spec.BackendDefaults.ClientPolicy != nil {
		t = spec.BackendDefaults.ClientPolicy.TLS
	}
	return enforced(t, port)
}

// enforced returns a client TLS policy if it applies to port, else nil.
func enforced(t *appmesh.ClientPolicyTLS, port uint32) *appmesh.ClientPolicyTLS {
	if t == nil || (t.Enforce != nil && !*t.Enforce) || (len(t.Ports) > 0 && !slices.Contains(t.Ports, int32(port))) {
		return nil
	}
	return t
}

// egress renders lds_egress_0.0.0.0_15001 with a filter chain per port the
// node's backends answer on, their route configurations and the mesh's
// egress filter.
func (b *builder) egress(vn *appmesh.Resource, logs []*accesslog.AccessLog) {
	spec := vn.VirtualNode
	httpHosts := map[uint32][]*route.VirtualHost{}
	tcpPorts := map[uint32]*listener.Filter{}
	for _, be := range backends(spec) {
		name := deref(be.VirtualServiceName)
		vs := b.virtualService(name)
		if vs == nil {
			b.notef("backend virtual service %s does not exist", name)
			continue
		}
		pps := b.serviceListeners(vs)
		if len(pps) == 0 {
			b.notef("backend virtual service %s has no provider with a listener", name)
		}
		for _, pp := range pps {
			tls := backendTLS(spec, be, pp.port)
			if isHTTP(pp.proto) {
				rs := b.serviceRoutes(vs, pp, tls)
				if len(rs) == 0 {
					b.notef("backend virtual service %s routes nothing on port %d", name, pp.port)
					continue
				}
				httpHosts[pp.port] = append(httpHosts[pp.port], &route.VirtualHost{Name: name,
					Domains: []string{name, name + ":" + strconv.Itoa(int(pp.port))}, Routes: rs})
				continue
			}
			if tcpPorts[pp.port] != nil {
				b.notef("backend virtual service %s: port %d already carries another TCP service; a TCP port serves one", name, pp.port)
				continue
			}
			if f := b.tcpFilter(vs, pp, tls, logs); f != nil {
				tcpPorts[pp.port] = f
			}
		}
	}
	allowAll := egressAllowAll(b.mesh.Spec)
	l := &listener.Listener{Name: egressListenerName, Address: socketAddress("0.0.0.0", egressPort), TrafficDirection: core.TrafficDirection_OUTBOUND,
		ListenerFilters: []*listener.ListenerFilter{b.listenerFilter(wellknown.OriginalDestination, &originaldst.OriginalDst{})}}
	var ports []uint32
	for p := range httpHosts {
		ports = append(ports, p)
	}
	for p := range tcpPorts {
		if httpHosts[p] == nil {
			ports = append(ports, p)
		} else {
			b.notef("port %d carries both HTTP and TCP backends; the TCP one is left out", p)
		}
	}
	slices.Sort(ports)
	for _, p := range ports {
		match := &listener.FilterChainMatch{DestinationPort: u32(p)}
		if hosts := httpHosts[p]; hosts != nil {
			slices.SortFunc(hosts, func(a, c *route.VirtualHost) int { return compareStrings(a.Name, c.Name) })
			hosts = append(hosts, b.egressFilterHosts(allowAll)...)
			rn := routeConfigName("egress", p)
			b.routes[rn] = &route.RouteConfiguration{Name: rn, VirtualHosts: hosts}
			l.FilterChains = append(l.FilterChains, &listener.FilterChain{Name: "egress_http_" + strconv.Itoa(int(p)),
				FilterChainMatch: match, Filters: []*listener.Filter{b.httpConnectionManager("egress", rn, "http", logs)}})
			continue
		}
		l.FilterChains = append(l.FilterChains, &listener.FilterChain{Name: "egress_tcp_" + strconv.Itoa(int(p)),
			FilterChainMatch: match, Filters: []*listener.Filter{tcpPorts[p]}})
	}
	if allowAll {
		cn := allowAllClusterName(b.mesh.Name)
		b.clusters[cn] = passthroughCluster(cn)
		l.DefaultFilterChain = &listener.FilterChain{Name: "egress_allow_all", Filters: []*listener.Filter{b.tcpProxy("egress", cn, logs)}}
	} else {
		cn := amazonawsClusterName(b.mesh.Name)
		b.clusters[cn] = passthroughCluster(cn)
		// Only TLS to AWS's APIs leaves the mesh. The TLS inspector reads
		// SNI; it is off on the backends' ports, so server-first
		// protocols there never wait for it.
		ti := b.listenerFilter(wellknown.TlsInspector, &tlsinspector.TlsInspector{})
		if len(ports) > 0 {
			var rules []*listener.ListenerFilterChainMatchPredicate
			for _, p := range ports {
				rules = append(rules, &listener.ListenerFilterChainMatchPredicate{Rule: &listener.ListenerFilterChainMatchPredicate_DestinationPortRange{
					DestinationPortRange: portRange(p)}})
			}
			if len(rules) == 1 {
				ti.FilterDisabled = rules[0]
			} else {
				ti.FilterDisabled = &listener.ListenerFilterChainMatchPredicate{Rule: &listener.ListenerFilterChainMatchPredicate_OrMatch{
					OrMatch: &listener.ListenerFilterChainMatchPredicate_MatchSet{Rules: rules}}}
			}
		}
		l.ListenerFilters = append(l.ListenerFilters, ti)
		l.FilterChains = append(l.FilterChains, &listener.FilterChain{Name: "egress_amazonaws",
			FilterChainMatch: &listener.FilterChainMatch{ServerNames: []string{"*.amazonaws.com"}, TransportProtocol: "tls"},
			Filters:          []*listener.Filter{b.tcpProxy("egress", cn, logs)}})
	}
	b.listeners[l.Name] = l
}

// egressFilterHosts are the virtual hosts every egress route configuration
// ends with: everything else to its original destination (ALLOW_ALL), or
// only AWS's APIs (DROP_ALL).
func (b *builder) egressFilterHosts(allowAll bool) []*route.VirtualHost {
	if allowAll {
		a := &route.RouteAction{ClusterSpecifier: &route.RouteAction_Cluster{Cluster: allowAllClusterName(b.mesh.Name)}}
		return []*route.VirtualHost{{Name: "allow_all", Domains: []string{"*"},
			Routes: []*route.Route{{Name: "allow_all", Match: prefixMatch("/"), Action: &route.Route_Route{Route: a}}}}}
	}
	a := &route.RouteAction{ClusterSpecifier: &route.RouteAction_Cluster{Cluster: amazonawsClusterName(b.mesh.Name)}}
	return []*route.VirtualHost{{Name: "amazonaws", Domains: []string{"*.amazonaws.com"},
		Routes: []*route.Route{{Name: "amazonaws", Match: prefixMatch("/"), Action: &route.Route_Route{Route: a}}}}}
}

func egressAllowAll(m *appmesh.MeshSpec) bool {
	return m != nil && m.EgressFilter != nil && deref(m.EgressFilter.Type) == "ALLOW_ALL"
}

// backends returns the node's virtual service backends, sorted by name.
func backends(spec *appmesh.VirtualNodeSpec) []*appmesh.VirtualServiceBackend {
	var out []*appmesh.VirtualServiceBackend
	for _, be := range spec.Backends {
		if be.VirtualService != nil && be.VirtualService.VirtualServiceName != nil {
			out = append(out, be.VirtualService)
		}
	}
	slices.SortFunc(out, func(a, c *appmesh.VirtualServiceBackend) int {
		return compareStrings(*a.VirtualServiceName, *c.VirtualServiceName)
	})
	return slices.CompactFunc(out, func(a, c *appmesh.VirtualServiceBackend) bool { return *a.VirtualServiceName == *c.VirtualServiceName })
}

func compareStrings(a, c string) int {
	switch {
	case a < c:
		return -1
	case a > c:
		return 1
	}
	return 0
}

// tcpFilter renders a TCP backend: the first TCP route of its router (or
// its virtual node) as a tcp_proxy.
func (b *builder) tcpFilter(vs *appmesh.Resource, pp portProto, tls *appmesh.ClientPolicyTLS, logs []*accesslog.AccessLog) *listener.Filter {
	p := provider(vs)
	var ts []appmesh.WeightedTarget
	var idle *appmesh.Duration
	switch {
	case p.VirtualNode != nil:
		name := deref(p.VirtualNode.VirtualNodeName)
		ts = []appmesh.WeightedTarget{{VirtualNode: &name, Weight: ptr(int32(1)), Port: ptr(int32(pp.port))}}
	case p.VirtualRouter != nil:
		vr := b.virtualRouter(deref(p.VirtualRouter.VirtualRouterName))
		if vr == nil {
			return nil
		}
		rs := b.routesOf(vr, pp, len(b.routerListeners(vr)) == 1)
		if len(rs) == 0 {
			b.notef("virtual service %s: no TCP route on port %d", vs.Name, pp.port)
			return nil
		}
		if len(rs) > 1 {
			b.notef("virtual service %s: only the first TCP route on port %d (%s) is used", vs.Name, pp.port, rs[0].Name)
		}
		tr := rs[0].Route.TCPRoute
		if tr.Action != nil {
			ts = tr.Action.WeightedTargets
		}
		if tr.Timeout != nil {
			idle = tr.Timeout.Idle
		}
	}
	a := b.action(ts, pp, tls)
	if a == nil {
		return nil
	}
	tp := &tcpproxy.TcpProxy{StatPrefix: "egress", AccessLog: logs}
	tp.IdleTimeout, _ = duration(idle)
	if wc := a.GetWeightedClusters(); wc != nil {
		var cs []*tcpproxy.TcpProxy_WeightedCluster_ClusterWeight
		for _, c := range wc.Clusters {
			cs = append(cs, &tcpproxy.TcpProxy_WeightedCluster_ClusterWeight{Name: c.Name, Weight: c.Weight.GetValue()})
		}
		tp.ClusterSpecifier = &tcpproxy.TcpProxy_WeightedClusters{WeightedClusters: &tcpproxy.TcpProxy_WeightedCluster{Clusters: cs}}
	} else {
		tp.ClusterSpecifier = &tcpproxy.TcpProxy_Cluster{Cluster: a.GetCluster()}
	}
	return &listener.Filter{Name: wellknown.TCPProxy, ConfigType: &listener.Filter_TypedConfig{TypedConfig: b.typed(tp)}}
}

func (b *builder) tcpProxy(statPrefix, cluster string, logs []*accesslog.AccessLog) *listener.Filter {
	tp := &tcpproxy.TcpProxy{StatPrefix: statPrefix, ClusterSpecifier: &tcpproxy.TcpProxy_Cluster{Cluster: cluster}, AccessLog: logs}
	return &listener.Filter{Name: wellknown.TCPProxy, ConfigType: &listener.Filter_TypedConfig{TypedConfig: b.typed(tp)}}
}

// accessLogs renders a node's or gateway's file access log.
func (b *builder) accessLogs(l *appmesh.Logging) []*accesslog.AccessLog {
	if l == nil || l.AccessLog == nil || l.AccessLog.File == nil || l.AccessLog.File.Path == nil {
		return nil
	}
	return b.fileAccessLog(*l.AccessLog.File.Path, l.AccessLog.File.Format)
}

func (b *builder) fileAccessLog(path string, format *appmesh.LoggingFormat) []*accesslog.AccessLog {
	fl := &filelog.FileAccessLog{Path: path}
	switch {
	case format != nil && format.Text != nil:
		fl.AccessLogFormat = &filelog.FileAccessLog_LogFormat{LogFormat: &core.SubstitutionFormatString{
			Format: &core.SubstitutionFormatString_TextFormatSource{TextFormatSource: &core.DataSource{
				Specifier: &core.DataSource_InlineString{InlineString: *format.Text + "\n"}}}}}
	case format != nil && len(format.JSON) > 0:
		fields := map[string]*structpb.Value{}
		for _, kv := range format.JSON {
			fields[deref(kv.Key)] = structpb.NewStringValue(deref(kv.Value))
		}
		fl.AccessLogFormat = &filelog.FileAccessLog_LogFormat{LogFormat: &core.SubstitutionFormatString{
			Format: &core.SubstitutionFormatString_JsonFormat{JsonFormat: &structpb.Struct{Fields: fields}}}}
	}
	return []*accesslog.AccessLog{{Name: "envoy.access_loggers.file", ConfigType: &accesslog.AccessLog_TypedConfig{TypedConfig: b.typed(fl)}}}
}
