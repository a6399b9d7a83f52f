// Package adsclient is the ADS client the end-to-end suites (test/system,
// test/cluster) drive mapmesh's xDS with: it follows a node's stream as an
// Envoy would, validates and ACKs every response, and keeps the endpoints
// it was last sent.
package adsclient

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Client is an ADS stream driven like Envoy drives it: wildcard LDS and
// CDS, RDS for the route configurations the listeners name, EDS for the
// EDS clusters; every response is validated with the Envoy protos' rules
// and ACKed (or NACKed, which the test reports as a failure). It keeps the
// endpoints of every cluster as last received.
type Client struct {
	node string

	mu        sync.Mutex // guards the fields below
	endpoints map[string][]string
	versions  map[string]string // last ACKed version by type URL
	responses map[string]int    // by type URL
	nacks     []string
	streamErr error
}

// Run connects to addr as node and follows the stream until ctx ends.
func Run(ctx context.Context, addr, node string) (*Client, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", a)
		}))
	if err != nil {
		return nil, err
	}
	st, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		conn.Close()
		return nil, err
	}
	c := &Client{node: node, endpoints: map[string][]string{}, versions: map[string]string{}, responses: map[string]int{}}
	go func() {
		defer conn.Close()
		err := c.follow(st)
		c.mu.Lock()
		if ctx.Err() == nil {
			c.streamErr = err
		}
		c.mu.Unlock()
	}()
	return c, nil
}

func (c *Client) follow(st discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient) error {
	n := &core.Node{Id: c.node, Cluster: c.node, UserAgentName: "envoy"}
	send := func(typeURL, version, nonce string, names []string, nack error) error {
		req := &discovery.DiscoveryRequest{Node: n, TypeUrl: typeURL, VersionInfo: version, ResponseNonce: nonce, ResourceNames: names}
		if nack != nil {
			req.ErrorDetail = status.New(codes.InvalidArgument, nack.Error()).Proto()
		}
		return st.Send(req)
	}
	if err := send(resource.ListenerType, "", "", nil, nil); err != nil {
		return err
	}
	if err := send(resource.ClusterType, "", "", nil, nil); err != nil {
		return err
	}
	subscribed := map[string][]string{} // RDS and EDS names asked for
	nonces := map[string]string{}
	for {
		r, err := st.Recv()
		if err != nil {
			return err
		}
		var names []string // what the response asks to subscribe to
		var nack error
		eps := map[string][]string{}
		for _, a := range r.Resources {
			m, err := a.UnmarshalNew()
			if err != nil {
				nack = err
				break
			}
			if v, ok := m.(interface{ ValidateAll() error }); ok {
				if err := v.ValidateAll(); err != nil {
					nack = fmt.Errorf("%s: %w", a.TypeUrl, err)
					break
				}
			}
			switch m := m.(type) {
			case *listener.Listener:
				names = append(names, rdsNames(m)...)
			case *cluster.Cluster:
				if m.GetType() == cluster.Cluster_EDS {
					names = append(names, m.GetName())
				}
			case *endpoint.ClusterLoadAssignment:
				eps[m.GetClusterName()] = lbEndpoints(m)
			case *route.RouteConfiguration:
			default:
				nack = fmt.Errorf("unexpected resource %T in a %s response", m, r.TypeUrl)
			}
		}
		c.mu.Lock()
		c.responses[r.TypeUrl]++
		version := r.VersionInfo
		if nack != nil {
			c.nacks = append(c.nacks, fmt.Sprintf("%s version %s: %v", r.TypeUrl, r.VersionInfo, nack))
			version = c.versions[r.TypeUrl]
		} else {
			c.versions[r.TypeUrl] = r.VersionInfo
			if r.TypeUrl == resource.EndpointType {
				for k, v := range eps {
					c.endpoints[k] = v
				}
			}
		}
		c.mu.Unlock()
		nonces[r.TypeUrl] = r.Nonce
		var own []string
		if r.TypeUrl == resource.EndpointType || r.TypeUrl == resource.RouteType {
			own = subscribed[r.TypeUrl]
		}
		if err := send(r.TypeUrl, version, r.Nonce, own, nack); err != nil {
			return err
		}
		if nack != nil {
			continue
		}
		// New listeners name route configurations, new clusters EDS
		// clusters: (re)subscribe, as Envoy does after applying them.
		next := ""
		switch r.TypeUrl {
		case resource.ListenerType:
			next = resource.RouteType
		case resource.ClusterType:
			next = resource.EndpointType
		}
		if next != "" {
			slices.Sort(names)
			names = slices.Compact(names)
			if !slices.Equal(names, subscribed[next]) {
				subscribed[next] = names
				c.mu.Lock()
				v := c.versions[next]
				c.mu.Unlock()
				if err := send(next, v, nonces[next], names, nil); err != nil {
					return err
				}
			}
		}
	}
}

// rdsNames returns the route configurations a listener's HTTP connection
// managers load over RDS.
func rdsNames(l *listener.Listener) []string {
	var out []string
	chains := l.GetFilterChains()
	if l.GetDefaultFilterChain() != nil {
		chains = append(chains, l.GetDefaultFilterChain())
	}
	for _, fc := range chains {
		for _, f := range fc.GetFilters() {
			var m hcm.HttpConnectionManager
			if tc := f.GetTypedConfig(); tc != nil && tc.MessageIs(&m) {
				if err := tc.UnmarshalTo(&m); err == nil && m.GetRds() != nil {
					out = append(out, m.GetRds().GetRouteConfigName())
				}
			}
		}
	}
	return out
}

// lbEndpoints returns a load assignment's endpoints as sorted "ip:port".
func lbEndpoints(cla *endpoint.ClusterLoadAssignment) []string {
	out := []string{}
	for _, le := range cla.GetEndpoints() {
		for _, lb := range le.GetLbEndpoints() {
			sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
			out = append(out, net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue()))))
		}
	}
	sort.Strings(out)
	return out
}

// clusterEndpoints returns the last endpoints received for a cluster.
func (c *Client) clusterEndpoints(name string) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.endpoints[name]
	return v, ok
}

// Status describes the stream: responses by type, NACKs, stream error.
func (c *Client) Status() (responses map[string]int, nacks []string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := map[string]int{}
	for k, v := range c.responses {
		r[k] = v
	}
	return r, slices.Clone(c.nacks), c.streamErr
}

// WaitEndpoints waits until cluster's endpoints are want (sorted), or
// timeout, and returns the last seen.
func (c *Client) WaitEndpoints(name string, want []string, timeout time.Duration) ([]string, bool) {
	deadline := time.Now().Add(timeout)
	for {
		got, ok := c.clusterEndpoints(name)
		if ok && slices.Equal(got, want) {
			return got, true
		}
		if time.Now().After(deadline) {
			return got, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
