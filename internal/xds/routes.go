package xds

import (
	"cmp"
	"slices"
	"strings"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mapmesh/mapmesh/internal/appmesh"
)

// AWS's defaults for routes (App Mesh user guide, "Envoy defaults"): a 15 s
// per-request timeout, and 2 retries on connection failures, resets,
// refused streams, gateway errors and 503 (gRPC: UNAVAILABLE).
const (
	defaultPerRequestSeconds = 15
	defaultRetries           = 2
)

// clusterName is App Mesh's name of the cluster of a virtual node's
// listener as seen by a caller.
func egressClusterName(mesh, vn string, pp portProto) string {
	return "cds_egress_" + mesh + "_" + vn + "_" + pp.String()
}

// clusterRef is an upstream cluster a route sends to: a virtual node's
// listener (or, when vn is nil, a pass-through cluster already rendered).
type clusterRef struct {
	vn *appmesh.Resource
	pp portProto
	// tls is the client policy of the backend through which the node
	// reaches vn (nil: none).
	tls *appmesh.ClientPolicyTLS
}

// target resolves a weighted target to its cluster. The port is the
// target's port, else the node's listener on the router's port, else its
// first listener.
func (b *builder) target(t appmesh.WeightedTarget, rpp portProto, tls *appmesh.ClientPolicyTLS) (string, bool) {
	name := deref(t.VirtualNode)
	vn := b.virtualNode(name)
	if vn == nil {
		b.notef("route target virtual node %s does not exist", name)
		return "", false
	}
	pp := rpp
	ls := nodeListeners(vn)
	want := rpp.port
	if t.Port != nil {
		want = uint32(*t.Port)
		pp.port = want
	}
	found := false
	for _, l := range ls {
		if l.port == want {
			pp, found = l, true
			break
		}
	}
	if !found && t.Port == nil && len(ls) > 0 {
		pp = ls[0]
	}
	cn := egressClusterName(b.mesh.Name, name, pp)
	if _, ok := b.clusterRefs[cn]; !ok {
		b.clusterRefs[cn] = clusterRef{vn: vn, pp: pp, tls: tls}
	}
	return cn, true
}

// action turns weighted targets into a route action; nil when no target
// has a weight (App Mesh then routes nothing).
func (b *builder) action(ts []appmesh.WeightedTarget, rpp portProto, tls *appmesh.ClientPolicyTLS) *route.RouteAction {
	var ws []*route.WeightedCluster_ClusterWeight
	for _, t := range ts {
		cn, ok := b.target(t, rpp, tls)
		if !ok || deref(t.Weight) <= 0 {
			continue
		}
		ws = append(ws, &route.WeightedCluster_ClusterWeight{Name: cn, Weight: u32(uint32(*t.Weight))})
	}
	switch len(ws) {
	case 0:
		return nil
	case 1:
		return &route.RouteAction{ClusterSpecifier: &route.RouteAction_Cluster{Cluster: ws[0].Name}}
	}
	return &route.RouteAction{ClusterSpecifier: &route.RouteAction_WeightedClusters{WeightedClusters: &route.WeightedCluster{Clusters: ws}}}
}

// routeOrder sorts routes the way App Mesh matches them: by priority (0 is
// first; routes without one after all that have one), then most specific
// match first (exact path, regex, longer prefix; gRPC method, then
// service), then by name.
func routeOrder(a, c *appmesh.Resource) int {
	pa, pc := priority(a.Route), priority(c.Route)
	if pa != pc {
		return cmp.Compare(pa, pc)
	}
	sa, sc := specificity(a.Route), specificity(c.Route)
	if sa != sc {
		return cmp.Compare(sc, sa)
	}
	return cmp.Compare(a.Name, c.Name)
}

func priority(r *appmesh.RouteSpec) int32 {
	if r == nil || r.Priority == nil {
		return 1001
	}
	return *r.Priority
}

func specificity(r *appmesh.RouteSpec) int {
	var m *appmesh.HTTPRouteMatch
	switch {
	case r == nil:
		return 0
	case r.HTTPRoute != nil:
		m = r.HTTPRoute.Match
	case r.HTTP2Route != nil:
		m = r.HTTP2Route.Match
	case r.GRPCRoute != nil && r.GRPCRoute.Match != nil:
		s := 0
		if r.GRPCRoute.Match.ServiceName != nil {
			s += 10000
		}
		if r.GRPCRoute.Match.MethodName != nil {
			s += 10000
		}
		return s + len(r.GRPCRoute.Match.Metadata)
	}
	if m == nil {
		return 0
	}
	s := len(m.Headers) + len(m.QueryParameters)
	if m.Method != nil {
		s++
	}
	switch {
	case m.Path != nil && m.Path.Exact != nil:
		return 1000000 + s
	case m.Path != nil:
		return 500000 + s
	}
	return 1000*len(deref(m.Prefix)) + s
}

// routesOf returns the routes of a router that serve port pp, in match
// order.
func (b *builder) routesOf(vr *appmesh.Resource, pp portProto, single bool) []*appmesh.Resource {
	var out []*appmesh.Resource
	for _, r := range b.mesh.routes[vr.Name] {
		rs := r.Route
		if rs == nil {
			continue
		}
		var port *int32
		switch {
		case rs.TCPRoute != nil:
			if pp.proto != "tcp" {
				continue
			}
			if rs.TCPRoute.Match != nil {
				port = rs.TCPRoute.Match.Port
			}
		case !isHTTP(pp.proto):
			continue
		case rs.HTTPRoute != nil && rs.HTTPRoute.Match != nil:
			port = rs.HTTPRoute.Match.Port
		case rs.HTTP2Route != nil && rs.HTTP2Route.Match != nil:
			port = rs.HTTP2Route.Match.Port
		case rs.GRPCRoute != nil && rs.GRPCRoute.Match != nil:
			port = rs.GRPCRoute.Match.Port
		}
		if port != nil && uint32(*port) != pp.port && !single {
			continue
		}
		out = append(out, r)
	}
	slices.SortFunc(out, routeOrder)
	return out
}

// httpRoutes translates the routes of the service vs on HTTP port pp.
func (b *builder) serviceRoutes(vs *appmesh.Resource, pp portProto, tls *appmesh.ClientPolicyTLS) []*route.Route {
	p := provider(vs)
	switch {
	case p == nil:
		return nil
	case p.VirtualNode != nil:
		name := deref(p.VirtualNode.VirtualNodeName)
		a := b.action([]appmesh.WeightedTarget{{VirtualNode: &name, Weight: ptr(int32(1)), Port: ptr(int32(pp.port))}}, pp, tls)
		if a == nil {
			return nil
		}
		r := &route.Route{Name: "virtualNode_" + name, Match: prefixMatch("/"), Action: &route.Route_Route{Route: a}}
		b.routeDefaults(r, a, pp.proto == "grpc")
		return []*route.Route{r}
	case p.VirtualRouter != nil:
		vr := b.virtualRouter(deref(p.VirtualRouter.VirtualRouterName))
		if vr == nil {
			return nil
		}
		var out []*route.Route
		for _, r := range b.routesOf(vr, pp, len(b.routerListeners(vr)) == 1) {
			if er := b.route(r, pp, tls); er != nil {
				out = append(out, er)
			}
		}
		return out
	}
	return nil
}

// route translates one App Mesh route; nil when it routes nothing.
func (b *builder) route(r *appmesh.Resource, pp portProto, tls *appmesh.ClientPolicyTLS) *route.Route {
	rs := r.Route
	var (
		m       *route.RouteMatch
		ts      []appmesh.WeightedTarget
		timeout *appmesh.HTTPTimeout
		grpc    bool
		retry   *appmesh.GRPCRetryPolicy
	)
	switch {
	case rs.HTTPRoute != nil, rs.HTTP2Route != nil:
		hr := rs.HTTPRoute
		if hr == nil {
			hr = rs.HTTP2Route
		}
		m = httpMatch(hr.Match)
		if hr.Action != nil {
			ts = hr.Action.WeightedTargets
		}
		timeout = hr.Timeout
		if rp := hr.RetryPolicy; rp != nil {
			retry = &appmesh.GRPCRetryPolicy{HTTPRetryEvents: rp.HTTPRetryEvents, TCPRetryEvents: rp.TCPRetryEvents,
				MaxRetries: rp.MaxRetries, PerRetryTimeout: rp.PerRetryTimeout}
		}
		if b.node.Proxyless && hr.Match != nil && len(hr.Match.QueryParameters) > 0 {
			b.notef("route %s matches query parameters, which gRPC ignores (so does its xDS client: the route never matches)", r.Name)
		}
	case rs.GRPCRoute != nil:
		gr := rs.GRPCRoute
		m = grpcMatch(gr.Match)
		if gr.Action != nil {
			ts = gr.Action.WeightedTargets
		}
		if gr.Timeout != nil {
			timeout = &appmesh.HTTPTimeout{PerRequest: gr.Timeout.PerRequest, Idle: gr.Timeout.Idle}
		}
		grpc, retry = true, gr.RetryPolicy
	default:
		return nil
	}
	a := b.action(ts, pp, tls)
	out := &route.Route{Name: r.Name, Match: m}
	if a == nil {
		if b.node.Proxyless {
			b.notef("route %s has no target with a weight: left out", r.Name)
			return nil
		}
		out.Action = &route.Route_DirectResponse{DirectResponse: &route.DirectResponseAction{Status: 503}}
		return out
	}
	out.Action = &route.Route_Route{Route: a}
	b.routeTimeouts(a, timeout)
	if retry != nil {
		a.RetryPolicy = b.retryPolicy(retry, r.Name)
	} else {
		b.defaultRetry(a, grpc || pp.proto == "grpc")
	}
	return out
}

// routeDefaults gives a route without App Mesh route settings AWS's
// defaults.
func (b *builder) routeDefaults(r *route.Route, a *route.RouteAction, grpc bool) {
	b.routeTimeouts(a, nil)
	b.defaultRetry(a, grpc)
}

func (b *builder) routeTimeouts(a *route.RouteAction, t *appmesh.HTTPTimeout) {
	var perRequest, idle *durationpb.Duration
	if t != nil {
		perRequest, _ = duration(t.PerRequest)
		idle, _ = duration(t.Idle)
	}
	if b.node.Proxyless {
		if perRequest != nil && perRequest.AsDuration() > 0 {
			a.MaxStreamDuration = &route.RouteAction_MaxStreamDuration{MaxStreamDuration: perRequest}
		}
		return
	}
	if perRequest == nil {
		perRequest = seconds(defaultPerRequestSeconds)
	}
	a.Timeout = perRequest
	a.IdleTimeout = idle
}

func (b *builder) defaultRetry(a *route.RouteAction, grpc bool) {
	if b.node.Proxyless {
		a.RetryPolicy = &route.RetryPolicy{RetryOn: "unavailable", NumRetries: u32(defaultRetries)}
		return
	}
	on := "gateway-error,reset,refused-stream,connect-failure,retriable-status-codes"
	if grpc {
		on += ",unavailable"
	}
	a.RetryPolicy = &route.RetryPolicy{RetryOn: on, NumRetries: u32(defaultRetries), RetriableStatusCodes: []uint32{503}}
}

var (
	httpRetryOn = map[string]string{"server-error": "5xx", "gateway-error": "gateway-error", "client-error": "retriable-4xx",
		"stream-error": "refused-stream"}
	tcpRetryOn = map[string]string{"connection-error": "connect-failure"}
)

// retryPolicy translates an App Mesh retry policy. gRPC's xDS client
// honours only gRPC status events and at least one retry.
func (b *builder) retryPolicy(rp *appmesh.GRPCRetryPolicy, name string) *route.RetryPolicy {
	var on []string
	if !b.node.Proxyless {
		for _, e := range rp.HTTPRetryEvents {
			if v, ok := httpRetryOn[e]; ok {
				on = append(on, v)
			}
		}
		for _, e := range rp.TCPRetryEvents {
			if v, ok := tcpRetryOn[e]; ok {
				on = append(on, v)
			}
		}
	}
	// App Mesh's gRPC events are Envoy's names already.
	on = append(on, rp.GRPCRetryEvents...)
	n := deref(rp.MaxRetries)
	if len(on) == 0 || (b.node.Proxyless && n < 1) {
		if b.node.Proxyless && (len(rp.HTTPRetryEvents) > 0 || len(rp.TCPRetryEvents) > 0) {
			b.notef("route %s: gRPC clients retry on gRPC status events only", name)
		}
		return nil
	}
	p := &route.RetryPolicy{RetryOn: strings.Join(on, ","), NumRetries: u32(uint32(min(n, 1<<31)))}
	if d, ok := duration(rp.PerRetryTimeout); ok && !b.node.Proxyless {
		p.PerTryTimeout = d
	}
	return p
}

func prefixMatch(p string) *route.RouteMatch {
	return &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: p}}
}

// httpMatch translates an HTTP route match.
func httpMatch(m *appmesh.HTTPRouteMatch) *route.RouteMatch {
	if m == nil {
		return prefixMatch("/")
	}
	out := pathMatch(m.Prefix, m.Path)
	for _, h := range m.Headers {
		out.Headers = append(out.Headers, headerMatcher(deref(h.Name), deref(h.Invert), h.Match))
	}
	if m.Method != nil {
		out.Headers = append(out.Headers, exactHeader(":method", *m.Method))
	}
	if m.Scheme != nil {
		out.Headers = append(out.Headers, exactHeader(":scheme", *m.Scheme))
	}
	out.QueryParameters = queryMatchers(m.QueryParameters)
	return out
}

func pathMatch(prefix *string, path *appmesh.HTTPPathMatch) *route.RouteMatch {
	switch {
	case path != nil && path.Exact != nil:
		return &route.RouteMatch{PathSpecifier: &route.RouteMatch_Path{Path: *path.Exact}}
	case path != nil && path.Regex != nil:
		return &route.RouteMatch{PathSpecifier: &route.RouteMatch_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: *path.Regex}}}
	case prefix != nil:
		return prefixMatch(*prefix)
	}
	return prefixMatch("/")
}

func queryMatchers(qs []appmesh.HTTPQueryParameter) []*route.QueryParameterMatcher {
	var out []*route.QueryParameterMatcher
	for _, q := range qs {
		qm := &route.QueryParameterMatcher{Name: deref(q.Name)}
		if q.Match != nil && q.Match.Exact != nil {
			qm.QueryParameterMatchSpecifier = &route.QueryParameterMatcher_StringMatch{StringMatch: &matcher.StringMatcher{
				MatchPattern: &matcher.StringMatcher_Exact{Exact: *q.Match.Exact}}}
		} else {
			qm.QueryParameterMatchSpecifier = &route.QueryParameterMatcher_PresentMatch{PresentMatch: true}
		}
		out = append(out, qm)
	}
	return out
}

// grpcMatch translates a gRPC route match: service and method become the
// path /<service>/<method> (a prefix /<service>/ without a method), and
// metadata becomes header matchers.
func grpcMatch(m *appmesh.GRPCRouteMatch) *route.RouteMatch {
	if m == nil {
		return prefixMatch("/")
	}
	out := grpcPath(deref(m.ServiceName), deref(m.MethodName))
	for _, md := range m.Metadata {
		var mm *appmesh.HeaderMatchMethod
		if md.Match != nil {
			mm = &appmesh.HeaderMatchMethod{Exact: md.Match.Exact, Prefix: md.Match.Prefix, Suffix: md.Match.Suffix, Regex: md.Match.Regex, Range: md.Match.Range}
		}
		out.Headers = append(out.Headers, headerMatcher(deref(md.Name), deref(md.Invert), mm))
	}
	return out
}

func grpcPath(svc, method string) *route.RouteMatch {
	switch {
	case svc != "" && method != "":
		return &route.RouteMatch{PathSpecifier: &route.RouteMatch_Path{Path: "/" + svc + "/" + method}}
	case svc != "":
		return prefixMatch("/" + svc + "/")
	}
	return prefixMatch("/")
}

func exactHeader(name, v string) *route.HeaderMatcher {
	return &route.HeaderMatcher{Name: name, HeaderMatchSpecifier: &route.HeaderMatcher_StringMatch{StringMatch: &matcher.StringMatcher{
		MatchPattern: &matcher.StringMatcher_Exact{Exact: v}}}}
}

// headerMatcher translates an App Mesh header (or gRPC metadata) match; no
// match method means the header must be present.
func headerMatcher(name string, invert bool, mm *appmesh.HeaderMatchMethod) *route.HeaderMatcher {
	h := &route.HeaderMatcher{Name: strings.ToLower(name), InvertMatch: invert}
	switch {
	case mm == nil:
		h.HeaderMatchSpecifier = &route.HeaderMatcher_PresentMatch{PresentMatch: true}
	case mm.Exact != nil:
		h.HeaderMatchSpecifier = stringMatch(&matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: *mm.Exact}})
	case mm.Prefix != nil:
		h.HeaderMatchSpecifier = stringMatch(&matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Prefix{Prefix: *mm.Prefix}})
	case mm.Suffix != nil:
		h.HeaderMatchSpecifier = stringMatch(&matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Suffix{Suffix: *mm.Suffix}})
	case mm.Regex != nil:
		h.HeaderMatchSpecifier = stringMatch(&matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: *mm.Regex}}})
	case mm.Range != nil:
		h.HeaderMatchSpecifier = &route.HeaderMatcher_RangeMatch{RangeMatch: &typev3.Int64Range{Start: deref(mm.Range.Start), End: deref(mm.Range.End)}}
	default:
		h.HeaderMatchSpecifier = &route.HeaderMatcher_PresentMatch{PresentMatch: true}
	}
	return h
}

func stringMatch(m *matcher.StringMatcher) *route.HeaderMatcher_StringMatch {
	return &route.HeaderMatcher_StringMatch{StringMatch: m}
}

func ptr[T any](v T) *T { return &v }
