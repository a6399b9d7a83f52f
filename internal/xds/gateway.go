package xds

import (
	"cmp"
	"regexp"
	"slices"
	"strconv"
	"strings"

	accesslog "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"

	"github.com/mapmesh/mapmesh/internal/appmesh"
)

func gatewayListenerName(port uint32) string { return "lds_ingress_0.0.0.0_" + strconv.Itoa(int(port)) }

// gateway renders the configuration of an Envoy serving virtual gateway
// vg: a listener lds_ingress_0.0.0.0_<port> per gateway listener, whose
// route configuration rds_egress_http_<port> holds the gateway routes.
// AWS forwards a matched request through a self_redirect cluster back into
// the gateway's own egress routes; mapmesh renders the same decision in one
// hop: each gateway route is combined with the routes of its target
// virtual service (match, then the target's weighted clusters), with the
// gateway route's rewrites (by default the Host becomes the virtual
// service's name and the matched prefix becomes "/").
func (b *builder) gateway(vg *appmesh.Resource) {
	spec := vg.VirtualGateway
	if spec == nil {
		return
	}
	var logs []*accesslog.AccessLog
	if spec.Logging != nil && spec.Logging.AccessLog != nil && spec.Logging.AccessLog.File != nil && spec.Logging.AccessLog.File.Path != nil {
		f := spec.Logging.AccessLog.File
		logs = b.fileAccessLog(*f.Path, f.Format)
	}
	var clientTLS *appmesh.ClientPolicyTLS
	if d := spec.BackendDefaults; d != nil && d.ClientPolicy != nil {
		clientTLS = gatewayClientTLS(d.ClientPolicy.TLS)
	}
	grs := slices.Clone(b.mesh.gatewayRoutes[vg.Name])
	slices.SortFunc(grs, gatewayRouteOrder)
	for i := range spec.Listeners {
		gl := &spec.Listeners[i]
		if gl.PortMapping == nil || gl.PortMapping.Port == nil {
			continue
		}
		pp := portProto{uint32(*gl.PortMapping.Port), deref(gl.PortMapping.Protocol)}
		if gl.ConnectionPool != nil || gl.HealthCheck != nil {
			b.notef("gateway listener %d: connection pool and health check are not translated", pp.port)
		}
		rn := routeConfigName("egress", pp.port)
		var rs []*route.Route
		for _, gr := range grs {
			rs = append(rs, b.gatewayRoute(gr, pp, len(spec.Listeners) == 1, clientTLS)...)
		}
		b.routes[rn] = &route.RouteConfiguration{Name: rn, VirtualHosts: []*route.VirtualHost{{Name: vg.Name, Domains: []string{"*"}, Routes: rs}}}
		l := &listener.Listener{Name: gatewayListenerName(pp.port), Address: socketAddress("0.0.0.0", pp.port), TrafficDirection: core.TrafficDirection_INBOUND}
		f := b.httpConnectionManager(ingressStatPrefix(pp), rn, pp.proto, logs)
		l.FilterChains = b.downstreamChains("ingress_"+pp.String(), nil, f, gatewayListenerTLS(gl.TLS), &l.ListenerFilters)
		b.listeners[l.Name] = l
	}
}

// gatewayRouteOrder: by priority (none last), then longest match first,
// then name.
func gatewayRouteOrder(a, c *appmesh.Resource) int {
	pa, pc := gatewayPriority(a.GatewayRoute), gatewayPriority(c.GatewayRoute)
	if pa != pc {
		return cmp.Compare(pa, pc)
	}
	sa, sc := gatewaySpecificity(a.GatewayRoute), gatewaySpecificity(c.GatewayRoute)
	if sa != sc {
		return cmp.Compare(sc, sa)
	}
	return cmp.Compare(a.Name, c.Name)
}

func gatewayPriority(g *appmesh.GatewayRouteSpec) int32 {
	if g == nil || g.Priority == nil {
		return 1001
	}
	return *g.Priority
}

func gatewaySpecificity(g *appmesh.GatewayRouteSpec) int {
	if g == nil {
		return 0
	}
	hr := g.HTTPRoute
	if hr == nil {
		hr = g.HTTP2Route
	}
	switch {
	case hr != nil && hr.Match != nil:
		m := hr.Match
		s := len(m.Headers) + len(m.QueryParameters)
		if m.Hostname != nil {
			s += 100
		}
		switch {
		case m.Path != nil && m.Path.Exact != nil:
			return 1000000 + s
		case m.Path != nil:
			return 500000 + s
		}
		return 1000*len(deref(m.Prefix)) + s
	case g.GRPCRoute != nil && g.GRPCRoute.Match != nil:
		m := g.GRPCRoute.Match
		s := len(m.Metadata)
		if m.Hostname != nil {
			s += 100
		}
		return 1000*len(deref(m.ServiceName)) + s
	}
	return 0
}

// gwMatch is a gateway route's match and rewrite, in a shape common to
// HTTP and gRPC gateway routes.
type gwMatch struct {
	// kind is prefix, exact or regex; value the prefix, path or regex.
	kind, value string
	// rewritten is what the prefix (kind prefix) or the path (kind exact,
	// or regex with an exact path rewrite) becomes; equal to value, or
	// empty for regex, without rewrite.
	rewritten string
	// trimSlash: the default rewrite of a prefix that does not end in "/"
	// also takes the "/" after it.
	trimSlash bool
	headers   []*route.HeaderMatcher
	query     []*route.QueryParameterMatcher
	host      string // the Host rewrite ("" keeps it)
	target    string
	port      *int32
	tport     *int32
}

func (b *builder) gatewayMatch(gr *appmesh.Resource) (*gwMatch, bool) {
	g := gr.GatewayRoute
	hr := g.HTTPRoute
	if hr == nil {
		hr = g.HTTP2Route
	}
	var (
		m        = &gwMatch{kind: "prefix", value: "/", rewritten: "/"}
		hostname *appmesh.GatewayRouteHostnameMatch
		target   *appmesh.GatewayRouteTarget
		hostRW   *appmesh.GatewayRouteHostnameRewrite
	)
	switch {
	case hr != nil:
		if hr.Action == nil {
			return nil, false
		}
		target = hr.Action.Target
		if mm := hr.Match; mm != nil {
			hostname, m.port = mm.Hostname, mm.Port
			switch {
			case mm.Path != nil && mm.Path.Exact != nil:
				m.kind, m.value, m.rewritten = "exact", *mm.Path.Exact, *mm.Path.Exact
			case mm.Path != nil && mm.Path.Regex != nil:
				m.kind, m.value, m.rewritten = "regex", *mm.Path.Regex, ""
			case mm.Prefix != nil:
				m.value, m.rewritten = *mm.Prefix, *mm.Prefix
			}
			for _, h := range mm.Headers {
				m.headers = append(m.headers, headerMatcher(deref(h.Name), deref(h.Invert), h.Match))
			}
			if mm.Method != nil {
				m.headers = append(m.headers, exactHeader(":method", *mm.Method))
			}
			m.query = queryMatchers(mm.QueryParameters)
		}
		rw := hr.Action.Rewrite
		if rw != nil {
			hostRW = rw.Hostname
		}
		switch {
		case rw != nil && rw.Path != nil && rw.Path.Exact != nil && m.kind != "prefix":
			m.rewritten = *rw.Path.Exact
		case m.kind != "prefix":
		case rw != nil && rw.Prefix != nil && rw.Prefix.Value != nil:
			m.rewritten = *rw.Prefix.Value
		case rw != nil && rw.Prefix != nil && deref(rw.Prefix.DefaultPrefix) == "DISABLED":
		default:
			// AWS's default: the matched prefix becomes "/".
			m.rewritten = "/"
			m.trimSlash = !strings.HasSuffix(m.value, "/")
		}
	case g.GRPCRoute != nil:
		gg := g.GRPCRoute
		if gg.Action == nil {
			return nil, false
		}
		target = gg.Action.Target
		if mm := gg.Match; mm != nil {
			hostname, m.port = mm.Hostname, mm.Port
			if mm.ServiceName != nil {
				m.value, m.rewritten = "/"+*mm.ServiceName+"/", "/"+*mm.ServiceName+"/"
			}
			for _, md := range mm.Metadata {
				var hm *appmesh.HeaderMatchMethod
				if md.Match != nil {
					hm = &appmesh.HeaderMatchMethod{Exact: md.Match.Exact, Prefix: md.Match.Prefix, Suffix: md.Match.Suffix, Regex: md.Match.Regex, Range: md.Match.Range}
				}
				m.headers = append(m.headers, headerMatcher(deref(md.Name), deref(md.Invert), hm))
			}
		}
		if gg.Action.Rewrite != nil {
			hostRW = gg.Action.Rewrite.Hostname
		}
	default:
		return nil, false
	}
	if target == nil || target.VirtualService == nil {
		return nil, false
	}
	m.target, m.tport = deref(target.VirtualService.VirtualServiceName), target.Port
	if hostRW == nil || deref(hostRW.DefaultTargetHostname) != "DISABLED" {
		m.host = m.target
	}
	if h := hostname; h != nil {
		port := `(:[0-9]+)?$`
		switch {
		case h.Exact != nil:
			m.headers = append(m.headers, regexHeader(":authority", "^"+regexp.QuoteMeta(*h.Exact)+port))
		case h.Suffix != nil:
			m.headers = append(m.headers, regexHeader(":authority", "^.*"+regexp.QuoteMeta(*h.Suffix)+port))
		}
	}
	return m, true
}

func regexHeader(name, re string) *route.HeaderMatcher {
	return &route.HeaderMatcher{Name: name, HeaderMatchSpecifier: stringMatch(&matcher.StringMatcher{
		MatchPattern: &matcher.StringMatcher_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: re}}})}
}

// gatewayRoute renders one gateway route on gateway port pp.
func (b *builder) gatewayRoute(gr *appmesh.Resource, pp portProto, single bool, tls *appmesh.ClientPolicyTLS) []*route.Route {
	m, ok := b.gatewayMatch(gr)
	if !ok || (m.port != nil && uint32(*m.port) != pp.port && !single) {
		return nil
	}
	vs := b.virtualService(m.target)
	if vs == nil {
		b.notef("gateway route %s: target virtual service %s does not exist", gr.Name, m.target)
		return nil
	}
	pps := b.serviceListeners(vs)
	if len(pps) == 0 {
		b.notef("gateway route %s: target virtual service %s has no provider with a listener", gr.Name, m.target)
		return nil
	}
	tpp := pps[0]
	if m.tport != nil {
		found := false
		for _, p := range pps {
			if p.port == uint32(*m.tport) {
				tpp, found = p, true
			}
		}
		if !found {
			b.notef("gateway route %s: virtual service %s does not answer on port %d", gr.Name, m.target, *m.tport)
			return nil
		}
	}
	if !isHTTP(tpp.proto) {
		b.notef("gateway route %s: virtual service %s is TCP on port %d", gr.Name, m.target, tpp.port)
		return nil
	}
	var out []*route.Route
	for _, r := range b.serviceRoutes(vs, tpp, enforced(tls, tpp.port)) {
		c, ok := b.combine(gr.Name, m, r)
		if ok {
			out = append(out, c)
		}
	}
	return out
}

// combine returns the route that matches what the gateway route matches and
// then, after its rewrites, what r matches, and does what r does.
func (b *builder) combine(grName string, g *gwMatch, r *route.Route) (*route.Route, bool) {
	out := proto.Clone(r).(*route.Route)
	out.Name = grName + "/" + r.Name
	rm := r.Match
	var prefixRW string
	var regexRW *matcher.RegexMatchAndSubstitute
	gwOnly := func() {
		switch {
		case g.kind == "prefix" && g.trimSlash && g.value != "/":
			regexRW = &matcher.RegexMatchAndSubstitute{Pattern: &matcher.RegexMatcher{Regex: "^" + regexp.QuoteMeta(g.value) + "/?"}, Substitution: "/"}
		case g.rewritten != g.value:
			prefixRW = g.rewritten
		}
	}
	rewriting := g.rewritten != g.value
	switch g.kind {
	case "prefix":
		p1, p1r := g.value, g.rewritten
		join := func(rest string) string {
			if g.trimSlash && g.value != "/" {
				return p1 + "/" + strings.TrimPrefix(rest, "/")
			}
			return p1 + rest
		}
		switch {
		case rm.GetPrefix() != "":
			p2 := rm.GetPrefix()
			switch {
			case strings.HasPrefix(p1r, p2):
				out.Match.PathSpecifier = &route.RouteMatch_Prefix{Prefix: p1}
				gwOnly()
			case strings.HasPrefix(p2, p1r):
				out.Match.PathSpecifier = &route.RouteMatch_Prefix{Prefix: join(p2[len(p1r):])}
				if rewriting {
					prefixRW = p2
				}
			default:
				return nil, false
			}
		case rm.GetPath() != "":
			e2 := rm.GetPath()
			if !strings.HasPrefix(e2, p1r) {
				return nil, false
			}
			out.Match.PathSpecifier = &route.RouteMatch_Path{Path: join(e2[len(p1r):])}
			if rewriting {
				prefixRW = e2
			}
		case rm.GetSafeRegex() != nil:
			if p1 != "/" || rewriting {
				b.notef("gateway route %s: route %s matches a path regex, which mapmesh cannot combine with the gateway route's prefix", grName, r.Name)
				return nil, false
			}
		}
	case "exact", "regex":
		x := g.rewritten
		switch {
		case x != "":
			if !pathMatches(rm, x) {
				return nil, false
			}
		case rm.GetPrefix() == "/":
		default:
			b.notef("gateway route %s: route %s matches a path, which mapmesh cannot combine with the gateway route's regex", grName, r.Name)
			return nil, false
		}
		if g.kind == "exact" {
			out.Match.PathSpecifier = &route.RouteMatch_Path{Path: g.value}
			if x != g.value {
				prefixRW = x
			}
		} else {
			out.Match.PathSpecifier = &route.RouteMatch_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: g.value}}
			if x != "" {
				regexRW = &matcher.RegexMatchAndSubstitute{Pattern: &matcher.RegexMatcher{Regex: "^.*$"}, Substitution: x}
			}
		}
	}
	out.Match.Headers = append(slices.Clone(g.headers), out.Match.Headers...)
	out.Match.QueryParameters = append(slices.Clone(g.query), out.Match.QueryParameters...)
	if a := out.GetRoute(); a != nil {
		a.PrefixRewrite = prefixRW
		a.RegexRewrite = regexRW
		if g.host != "" {
			a.HostRewriteSpecifier = &route.RouteAction_HostRewriteLiteral{HostRewriteLiteral: g.host}
		}
	}
	return out, true
}

// pathMatches evaluates a route's path match on a known path.
func pathMatches(m *route.RouteMatch, path string) bool {
	switch {
	case m.GetPrefix() != "":
		return strings.HasPrefix(path, m.GetPrefix())
	case m.GetPath() != "":
		return path == m.GetPath()
	case m.GetSafeRegex() != nil:
		re, err := regexp.Compile("^(?:" + m.GetSafeRegex().GetRegex() + ")$")
		return err == nil && re.MatchString(path)
	}
	return false
}
