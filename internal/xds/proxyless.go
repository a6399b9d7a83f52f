package xds

import (
	"slices"
	"strconv"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/mapmesh/mapmesh/internal/appmesh"
)

// proxyless renders the configuration of a gRPC xDS client acting as
// virtual node vn: for every backend virtual service S answering on port P,
// listeners "S:P" and (for its first port) "S", each an ApiListener whose
// routes come from RDS rds_egress_http_<P>, where S's virtual host holds
// the mesh's routes to EDS (or LOGICAL_DNS) clusters. A client reaches S
// with grpc.NewClient("xds:///S") or "xds:///S:P".
func (b *builder) proxyless(vn *appmesh.Resource) {
	spec := vn.VirtualNode
	if spec == nil {
		return
	}
	hosts := map[uint32][]*route.VirtualHost{}
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
		first := true
		for _, pp := range pps {
			if !isHTTP(pp.proto) {
				b.notef("backend virtual service %s: port %d is TCP, which gRPC clients cannot use", name, pp.port)
				continue
			}
			rs := b.serviceRoutes(vs, pp, backendTLS(spec, be, pp.port))
			if len(rs) == 0 {
				b.notef("backend virtual service %s routes nothing on port %d", name, pp.port)
				continue
			}
			withPort := name + ":" + strconv.Itoa(int(pp.port))
			hosts[pp.port] = append(hosts[pp.port], &route.VirtualHost{Name: name, Domains: []string{name, withPort}, Routes: rs})
			rn := routeConfigName("egress", pp.port)
			b.listeners[withPort] = b.apiListener(withPort, rn)
			if first {
				b.listeners[name] = b.apiListener(name, rn)
				first = false
			}
		}
	}
	for port, hs := range hosts {
		slices.SortFunc(hs, func(a, c *route.VirtualHost) int { return compareStrings(a.Name, c.Name) })
		rn := routeConfigName("egress", port)
		b.routes[rn] = &route.RouteConfiguration{Name: rn, VirtualHosts: hs}
	}
}

// apiListener is a listener for gRPC's xDS client: an ApiListener with an
// HTTP connection manager that ends with the router filter and takes its
// routes from RDS over ADS.
func (b *builder) apiListener(name, rds string) *listener.Listener {
	m := &hcm.HttpConnectionManager{StatPrefix: "grpc",
		RouteSpecifier: &hcm.HttpConnectionManager_Rds{Rds: &hcm.Rds{ConfigSource: adsSource(), RouteConfigName: rds}},
		HttpFilters:    []*hcm.HttpFilter{b.routerFilter()}}
	return &listener.Listener{Name: name, ApiListener: &listener.ApiListener{ApiListener: b.typed(m)}}
}
