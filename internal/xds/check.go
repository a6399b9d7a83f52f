package xds

import (
	"fmt"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// Check verifies that a node's resources reference each other completely
// and exactly: every route configuration a listener names exists and every
// one that exists is named; every cluster a route or TCP proxy names
// exists; every EDS cluster has its endpoints and every endpoint resource
// its cluster. It replaces go-control-plane's Snapshot.Consistent, which
// misreads ApiListener listeners (proxyless gRPC).
func Check(r *Resources) error {
	rds := map[string]bool{}
	used := map[string]bool{}
	for _, l := range r.Listeners {
		l := l.(*listener.Listener)
		var filters []*listener.Filter
		for _, fc := range l.FilterChains {
			filters = append(filters, fc.Filters...)
		}
		if l.DefaultFilterChain != nil {
			filters = append(filters, l.DefaultFilterChain.Filters...)
		}
		var anys []*anypb.Any
		for _, f := range filters {
			anys = append(anys, f.GetTypedConfig())
		}
		if l.ApiListener != nil {
			anys = append(anys, l.ApiListener.ApiListener)
		}
		for _, a := range anys {
			m, err := a.UnmarshalNew()
			if err != nil {
				return fmt.Errorf("listener %s: %w", l.Name, err)
			}
			switch m := m.(type) {
			case *hcm.HttpConnectionManager:
				rds[m.GetRds().GetRouteConfigName()] = true
			case *tcpproxy.TcpProxy:
				used[m.GetCluster()] = true
				for _, c := range m.GetWeightedClusters().GetClusters() {
					used[c.Name] = true
				}
			}
		}
	}
	delete(used, "")
	have := map[string]bool{}
	for _, rc := range r.Routes {
		rc := rc.(*route.RouteConfiguration)
		have[rc.Name] = true
		if !rds[rc.Name] {
			return fmt.Errorf("route configuration %s is named by no listener", rc.Name)
		}
		for _, vh := range rc.VirtualHosts {
			for _, rt := range vh.Routes {
				a := rt.GetRoute()
				used[a.GetCluster()] = true
				for _, c := range a.GetWeightedClusters().GetClusters() {
					used[c.Name] = true
				}
			}
		}
	}
	for n := range rds {
		if !have[n] {
			return fmt.Errorf("route configuration %s is missing", n)
		}
	}
	delete(used, "")
	clusters := map[string]bool{}
	eds := map[string]bool{}
	for _, c := range r.Clusters {
		c := c.(*cluster.Cluster)
		clusters[c.Name] = true
		if c.GetType() == cluster.Cluster_EDS {
			eds[c.Name] = true
		}
	}
	for n := range used {
		if !clusters[n] {
			return fmt.Errorf("cluster %s is used but missing", n)
		}
	}
	for _, e := range r.Endpoints {
		n := e.(interface{ GetClusterName() string }).GetClusterName()
		if !eds[n] {
			return fmt.Errorf("endpoints %s have no EDS cluster", n)
		}
		delete(eds, n)
	}
	for n := range eds {
		return fmt.Errorf("EDS cluster %s has no endpoints", n)
	}
	return nil
}
