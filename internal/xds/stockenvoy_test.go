package xds_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	am "github.com/aws/aws-sdk-go-v2/service/appmesh"
	amtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3" // the bootstraps' tracers
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpopts "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	"github.com/mapmesh/mapmesh/internal/xds"
)

// The stock App Mesh Envoy. testdata/appmesh-envoy-bootstrap-*.yaml are the
// bootstraps App Mesh's image writes when only APPMESH_XDS_ENDPOINT points it
// at mapmesh (testdata/appmesh-envoy-bootstrap.md has the sources). The test
// connects as the node each one describes, over TLS and signed as the
// bootstrap's aws_iam call credentials sign, in the order Envoy asks (CDS,
// EDS, LDS, RDS), and checks what it is served against Envoy's validation,
// Envoy's rules for how resources refer to each other and to the bootstrap,
// and what the image and its interception expect. No Envoy runs here.

// Interception ports: ECS proxyConfiguration ProxyIngressPort and
// ProxyEgressPort, the Kubernetes controller's APPMESH_ENVOY_INGRESS_PORT and
// APPMESH_ENVOY_EGRESS_PORT. The image's agent serves its management API on
// 9902 (APPNET_AGENT_HTTP_PORT) unless it is on a unix socket.
const (
	proxyIngressPort = 15000
	proxyEgressPort  = 15001
	agentHTTPPort    = 9902
)

// awsIAMConfig is envoy.config.grpc_credential.v3.AwsIamConfig, the call
// credentials config of the image's bootstrap. Envoy has since removed the
// extension, and go-control-plane with it (only v2alpha is left), so the
// test describes the message itself: service_name = 1, region = 2, as in
// Envoy's api/envoy/config/grpc_credential/v3/aws_iam.proto.
var awsIAMConfig = func() protoreflect.MessageType {
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name: proto.String("envoy/config/grpc_credential/v3/aws_iam.proto"), Package: proto.String("envoy.config.grpc_credential.v3"),
		Syntax: proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("AwsIamConfig"), Field: []*descriptorpb.FieldDescriptorProto{
			{Name: proto.String("service_name"), JsonName: proto.String("serviceName"), Number: proto.Int32(1),
				Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()},
			{Name: proto.String("region"), JsonName: proto.String("region"), Number: proto.Int32(2),
				Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()},
		}}},
	}, nil)
	if err != nil {
		panic(err)
	}
	return dynamicpb.NewMessageType(fd.Messages().ByName("AwsIamConfig"))
}()

// bootstrapTypes resolves the types of the image's bootstrap: the linked
// ones, and AwsIamConfig.
type bootstrapTypes struct{}

func (bootstrapTypes) FindMessageByName(n protoreflect.FullName) (protoreflect.MessageType, error) {
	if n == awsIAMConfig.Descriptor().FullName() {
		return awsIAMConfig, nil
	}
	return protoregistry.GlobalTypes.FindMessageByName(n)
}

func (r bootstrapTypes) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	return r.FindMessageByName(protoreflect.FullName(url[strings.LastIndex(url, "/")+1:]))
}

func (bootstrapTypes) FindExtensionByName(n protoreflect.FullName) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByName(n)
}

func (bootstrapTypes) FindExtensionByNumber(m protoreflect.FullName, f protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByNumber(m, f)
}

// loadBootstrap reads a bootstrap fixture (YAML, as the image writes it)
// and checks it against Envoy's validation.
func loadBootstrap(t *testing.T, name string) *bootstrapv3.Bootstrap {
	t.Helper()
	y, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	bs := &bootstrapv3.Bootstrap{}
	if err := (protojson.UnmarshalOptions{Resolver: bootstrapTypes{}}).Unmarshal(j, bs); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := bs.ValidateAll(); err != nil {
		t.Fatalf("%s does not validate: %v", name, err)
	}
	return bs
}

// adsSigning returns the ADS channel of a bootstrap: its target and the
// signing name and region of its aws_iam call credentials.
func adsSigning(t *testing.T, bs *bootstrapv3.Bootstrap) (target, service, region string) {
	t.Helper()
	ads := bs.GetDynamicResources().GetAdsConfig()
	if ads.GetApiType() != core.ApiConfigSource_GRPC || ads.GetTransportApiVersion() != core.ApiVersion_V3 || len(ads.GetGrpcServices()) != 1 {
		t.Fatalf("bootstrap ADS = %v; want one gRPC service, state of the world, v3", ads)
	}
	gg := ads.GetGrpcServices()[0].GetGoogleGrpc()
	cc := gg.GetCallCredentials()
	if gg.GetChannelCredentials().GetSslCredentials() == nil || len(cc) != 1 || cc[0].GetFromPlugin().GetName() != "envoy.grpc_credentials.aws_iam" {
		t.Fatalf("bootstrap ADS channel = %v; want TLS with aws_iam call credentials", gg)
	}
	m := dynamicpb.NewMessage(awsIAMConfig.Descriptor())
	if err := anypb.UnmarshalTo(cc[0].GetFromPlugin().GetTypedConfig(), m, proto.UnmarshalOptions{Resolver: bootstrapTypes{}}); err != nil {
		t.Fatal(err)
	}
	f := m.Descriptor().Fields()
	return gg.GetTargetUri(), m.Get(f.ByName("service_name")).String(), m.Get(f.ByName("region")).String()
}

// envoyConfigOf is everything one stream was served, by type.
type envoyConfigOf struct {
	listeners []*listener.Listener
	routes    []*route.RouteConfiguration
	clusters  []*cluster.Cluster
	endpoints []*endpoint.ClusterLoadAssignment
}

func unpack[T proto.Message](t *testing.T, anys []*anypb.Any) []T {
	t.Helper()
	var out []T
	for _, a := range anys {
		m, err := a.UnmarshalNew()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m.(T))
	}
	return out
}

// fetchAsEnvoy drives one state-of-the-world ADS stream as Envoy does at
// start-up: CDS (wildcard), then EDS for its EDS clusters, then LDS
// (wildcard), then RDS for the route configurations its listeners name,
// ACKing each response once it has asked for what the response needs.
func fetchAsEnvoy(t *testing.T, cc *grpc.ClientConn, node *core.Node) envoyConfigOf {
	t.Helper()
	c := newADS(t, cc, t.Context(), node.Id)
	c.node = node
	var got envoyConfigOf
	c.send(resource.ClusterType, "", "")
	cds := c.recv(resource.ClusterType)
	got.clusters = unpack[*cluster.Cluster](t, cds.Resources)
	var eds []string
	for _, cl := range got.clusters {
		if cl.GetType() == cluster.Cluster_EDS {
			eds = append(eds, cmpOr(cl.GetEdsClusterConfig().GetServiceName(), cl.Name))
		}
	}
	if len(eds) > 0 {
		c.send(resource.EndpointType, "", "", eds...)
	}
	c.send(resource.ClusterType, cds.VersionInfo, cds.Nonce)
	if len(eds) > 0 {
		r := c.recv(resource.EndpointType)
		got.endpoints = unpack[*endpoint.ClusterLoadAssignment](t, r.Resources)
		c.send(resource.EndpointType, r.VersionInfo, r.Nonce, eds...)
	}
	c.send(resource.ListenerType, "", "")
	lds := c.recv(resource.ListenerType)
	got.listeners = unpack[*listener.Listener](t, lds.Resources)
	var rds []string
	for _, l := range got.listeners {
		for _, h := range connectionManagers(l) {
			if n := h.GetRds().GetRouteConfigName(); n != "" && !slices.Contains(rds, n) {
				rds = append(rds, n)
			}
		}
	}
	slices.Sort(rds)
	if len(rds) > 0 {
		c.send(resource.RouteType, "", "", rds...)
	}
	c.send(resource.ListenerType, lds.VersionInfo, lds.Nonce)
	if len(rds) > 0 {
		r := c.recv(resource.RouteType)
		got.routes = unpack[*route.RouteConfiguration](t, r.Resources)
		c.send(resource.RouteType, r.VersionInfo, r.Nonce, rds...)
	}
	c.quiet(100 * time.Millisecond)
	return got
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// connectionManagers returns the HTTP connection managers of a listener's
// filter chains, default chain included.
func connectionManagers(l *listener.Listener) []*hcm.HttpConnectionManager {
	var out []*hcm.HttpConnectionManager
	for _, fc := range chains(l) {
		for _, f := range fc.Filters {
			if m, ok := unpackAny(f.GetTypedConfig()).(*hcm.HttpConnectionManager); ok {
				out = append(out, m)
			}
		}
	}
	return out
}

func chains(l *listener.Listener) []*listener.FilterChain {
	fcs := slices.Clone(l.FilterChains)
	if l.DefaultFilterChain != nil {
		fcs = append(fcs, l.DefaultFilterChain)
	}
	return fcs
}

func unpackAny(a *anypb.Any) proto.Message {
	if a == nil {
		return nil
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		return nil
	}
	return m
}

// stockExpect is what a fixture's node must be served.
type stockExpect struct {
	listeners, routes, clusters []string
	// appPorts are the virtual node's listener ports (ECS AppPorts,
	// APPMESH_APP_PORTS); nil for a gateway.
	appPorts []uint32
	// gatewayPorts are the virtual gateway's listener ports.
	gatewayPorts []uint32
	// sds: the node's configuration uses SDS (the bootstrap must define
	// its cluster).
	sds bool
}

// stockEnvoyProblems checks a node's configuration against the bootstrap
// it was served to and Envoy's rules, and returns what does not fit, one
// sentence each.
func stockEnvoyProblems(bs *bootstrapv3.Bootstrap, want stockExpect, got envoyConfigOf) []string {
	var p []string
	bad := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }

	// Every resource, and every typed config packed in one, passes
	// Envoy's proto validation; every extension carries its typed config
	// (the bootstrap's runtime sets no_extension_lookup_by_name, so Envoy
	// looks extensions up by type only).
	var all []types.Resource
	for _, l := range got.listeners {
		all = append(all, l)
	}
	for _, r := range got.routes {
		all = append(all, r)
	}
	for _, c := range got.clusters {
		all = append(all, c)
	}
	for _, e := range got.endpoints {
		all = append(all, e)
	}
	byName := runtimeFlags(bs)
	if v, ok := byName["envoy.reloadable_features.no_extension_lookup_by_name"]; !ok || v != true {
		bad("the bootstrap's runtime does not set no_extension_lookup_by_name (the fixture is wrong)")
	}
	var sdsClusters []string
	for _, r := range all {
		walk(r, func(m protoreflect.Message) {
			if v, ok := m.Interface().(interface{ ValidateAll() error }); ok {
				if err := v.ValidateAll(); err != nil {
					bad("%s: %v", m.Descriptor().FullName(), err)
				}
			}
			fields := m.Descriptor().Fields()
			name, typed := fields.ByName("name"), fields.ByName("typed_config")
			if name != nil && typed != nil && name.Kind() == protoreflect.StringKind && m.Get(name).String() != "" && !m.Has(typed) {
				bad("%s %q has no typed_config: Envoy (no_extension_lookup_by_name) will not find it", m.Descriptor().FullName(), m.Get(name).String())
			}
			if s, ok := m.Interface().(*tlsv3.SdsSecretConfig); ok {
				for _, g := range s.GetSdsConfig().GetApiConfigSource().GetGrpcServices() {
					sdsClusters = append(sdsClusters, g.GetEnvoyGrpc().GetClusterName())
				}
			}
		})
	}

	// The bootstrap's own clusters: xDS must not redefine them, and the
	// SDS cluster of a gRPC config source must be one of them (Envoy wants
	// a statically defined, non-EDS cluster there).
	static := map[string]bool{}
	for _, c := range bs.GetStaticResources().GetClusters() {
		static[c.Name] = true
	}
	for _, n := range sdsClusters {
		if !static[n] {
			bad("SDS uses cluster %q, which the bootstrap does not define", n)
		}
	}
	if want.sds != (len(sdsClusters) > 0) {
		bad("SDS in use = %v; want %v", len(sdsClusters) > 0, want.sds)
	}

	// Names as App Mesh's (stats, dashboards and the agent's metrics
	// depend on them), and exactly the expected resources.
	mesh := meshOf(bs.Node.Id)
	lre := regexp.MustCompile(`^lds_(ingress|egress)_0\.0\.0\.0_([0-9]+)$`)
	rre := regexp.MustCompile(`^rds_(ingress|egress)_http_[0-9]+$`)
	cre := regexp.MustCompile(`^cds_(ingress|egress)_` + regexp.QuoteMeta(mesh) + `_(.+_(http|http2|grpc|tcp)_[0-9]+|amazonaws|mesh-allow-all)$`)
	var ln, rn, cn []string
	for _, l := range got.listeners {
		ln = append(ln, l.Name)
	}
	for _, r := range got.routes {
		rn = append(rn, r.Name)
	}
	for _, c := range got.clusters {
		cn = append(cn, c.Name)
	}
	for _, c := range []struct {
		what      string
		got, want []string
		re        *regexp.Regexp
	}{{"listeners", ln, want.listeners, lre}, {"route configurations", rn, want.routes, rre}, {"clusters", cn, want.clusters, cre}} {
		slices.Sort(c.got)
		if !slices.Equal(c.got, c.want) {
			bad("%s = %v; want %v", c.what, c.got, c.want)
		}
		for _, n := range c.got {
			if !c.re.MatchString(n) {
				bad("%s: %q is not an App Mesh name (%s)", c.what, n, c.re)
			}
		}
	}

	// Listeners: addresses as their names say, no port the pod already
	// uses, one listener per address, distinct filter chain matches,
	// listener filters the matches need, interception and draining.
	adminPort := bs.GetAdmin().GetAddress().GetSocketAddress().GetPortValue()
	addrs := map[string]string{}
	tags := statsTags(bs)
	for _, l := range got.listeners {
		sa := l.GetAddress().GetSocketAddress()
		port := sa.GetPortValue()
		if m := lre.FindStringSubmatch(l.Name); m != nil && (sa.GetAddress() != "0.0.0.0" || m[2] != strconv.Itoa(int(port))) {
			bad("listener %s binds %s:%d, not what its name says", l.Name, sa.GetAddress(), port)
		}
		if port == adminPort || port == agentHTTPPort {
			bad("listener %s binds port %d, which the image's Envoy admin or agent uses", l.Name, port)
		}
		addr := sa.GetAddress() + ":" + strconv.Itoa(int(port))
		if other, ok := addrs[addr]; ok {
			bad("listeners %s and %s both bind %s", other, l.Name, addr)
		}
		addrs[addr] = l.Name
		filters := map[string]bool{}
		for _, lf := range l.ListenerFilters {
			filters[lf.Name] = true
		}
		var matches []*listener.FilterChainMatch
		var destPorts []uint32
		for _, fc := range l.FilterChains {
			for _, m := range matches {
				if proto.Equal(m, fc.FilterChainMatch) {
					bad("listener %s: two filter chains match %v (Envoy rejects the listener)", l.Name, fc.FilterChainMatch)
				}
			}
			matches = append(matches, fc.FilterChainMatch)
			fm := fc.GetFilterChainMatch()
			if (len(fm.GetServerNames()) > 0 || fm.GetTransportProtocol() == "tls") && !filters[wellknown.TlsInspector] {
				bad("listener %s: chain %s matches TLS without a TLS inspector", l.Name, fc.Name)
			}
			if p := fm.GetDestinationPort(); p != nil && !slices.Contains(destPorts, p.Value) {
				destPorts = append(destPorts, p.Value)
			}
		}
		slices.Sort(destPorts)
		switch {
		case port == proxyIngressPort && want.appPorts != nil:
			if l.TrafficDirection != core.TrafficDirection_INBOUND {
				bad("listener %s: traffic_direction %v; want INBOUND (the agent drains with /drain_listeners?inboundonly)", l.Name, l.TrafficDirection)
			}
			if !filters[wellknown.OriginalDestination] {
				bad("listener %s receives redirected traffic but has no original_dst listener filter", l.Name)
			}
			if !slices.Equal(destPorts, want.appPorts) {
				bad("listener %s matches destination ports %v; want the application's ports %v", l.Name, destPorts, want.appPorts)
			}
		case port == proxyEgressPort && want.appPorts != nil:
			if l.TrafficDirection != core.TrafficDirection_OUTBOUND {
				bad("listener %s: traffic_direction %v; want OUTBOUND", l.Name, l.TrafficDirection)
			}
			if !filters[wellknown.OriginalDestination] {
				bad("listener %s receives redirected traffic but has no original_dst listener filter", l.Name)
			}
		case slices.Contains(want.gatewayPorts, port):
			if l.TrafficDirection != core.TrafficDirection_INBOUND {
				bad("gateway listener %s: traffic_direction %v; want INBOUND", l.Name, l.TrafficDirection)
			}
		default:
			bad("listener %s on port %d is neither an interception port nor a gateway port", l.Name, port)
		}
		for _, fc := range chains(l) {
			for _, f := range fc.Filters {
				var prefix, kind string
				switch m := unpackAny(f.GetTypedConfig()).(type) {
				case *hcm.HttpConnectionManager:
					prefix, kind = m.StatPrefix, "http"
					hf := m.HttpFilters
					if len(hf) == 0 || hf[len(hf)-1].Name != wellknown.Router {
						bad("listener %s: the last HTTP filter of chain %s is not the router", l.Name, fc.Name)
					}
					if src := m.GetRds().GetConfigSource(); src.GetAds() == nil || src.GetResourceApiVersion() != core.ApiVersion_V3 {
						bad("listener %s: RDS of chain %s is not over ADS, v3", l.Name, fc.Name)
					}
					if bs.Tracing.GetHttp() != nil && m.Tracing == nil {
						bad("listener %s: chain %s does not trace, so the bootstrap's %s never does", l.Name, fc.Name, bs.Tracing.Http.Name)
					}
				case *tcpproxy.TcpProxy:
					prefix, kind = m.StatPrefix, "tcp"
				default:
					continue
				}
				if l.TrafficDirection != core.TrafficDirection_INBOUND {
					continue
				}
				// The bootstrap's stats tags take the inbound port and
				// protocol out of the stat names.
				wantPort := port
				if p := fc.GetFilterChainMatch().GetDestinationPort(); p != nil {
					wantPort = p.Value
				}
				stat := kind + "." + prefix + ".downstream_rq_total"
				if got := tags["appmesh.listener_port"](stat); got != strconv.Itoa(int(wantPort)) {
					bad("listener %s: stat %s gets appmesh.listener_port %q; want %d", l.Name, stat, got, wantPort)
				}
				if got := tags["appmesh.listener_protocol"](stat); !slices.Contains([]string{"http", "http2", "grpc", "tcp"}, got) {
					bad("listener %s: stat %s gets appmesh.listener_protocol %q", l.Name, stat, got)
				}
			}
		}
	}

	// Every route configuration a listener names is served and every one
	// served is named; routes only use clusters that exist; domains are
	// unique within a route configuration; weights add up to something.
	served := map[string]*route.RouteConfiguration{}
	for _, r := range got.routes {
		served[r.Name] = r
	}
	named := map[string]bool{}
	for _, l := range got.listeners {
		for _, m := range connectionManagers(l) {
			n := m.GetRds().GetRouteConfigName()
			named[n] = true
			if served[n] == nil {
				bad("listener %s names route configuration %s, which is not served (Envoy waits for it for ever: initialFetchTimeout 0s)", l.Name, n)
			}
		}
	}
	clusters := map[string]*cluster.Cluster{}
	for _, c := range got.clusters {
		clusters[c.Name] = c
		if static[c.Name] {
			bad("cluster %s is also one of the bootstrap's static clusters", c.Name)
		}
	}
	used := map[string]bool{}
	for _, r := range got.routes {
		if !named[r.Name] {
			bad("route configuration %s is named by no listener", r.Name)
		}
		domains := map[string]string{}
		for _, vh := range r.VirtualHosts {
			for _, d := range vh.Domains {
				if other, ok := domains[d]; ok {
					bad("route configuration %s: domain %q in virtual hosts %s and %s (Envoy rejects it)", r.Name, d, other, vh.Name)
				}
				domains[d] = vh.Name
			}
			for _, rt := range vh.Routes {
				a := rt.GetRoute()
				if a == nil {
					continue
				}
				if c := a.GetCluster(); c != "" {
					used[c] = true
				}
				if wc := a.GetWeightedClusters(); wc != nil {
					total := uint32(0)
					for _, c := range wc.Clusters {
						used[c.Name] = true
						total += c.GetWeight().GetValue()
					}
					if total == 0 {
						bad("route configuration %s: route %s has weights that add up to 0", r.Name, rt.Name)
					}
				}
			}
		}
	}
	for _, l := range got.listeners {
		for _, fc := range chains(l) {
			for _, f := range fc.Filters {
				if tp, ok := unpackAny(f.GetTypedConfig()).(*tcpproxy.TcpProxy); ok {
					if c := tp.GetCluster(); c != "" {
						used[c] = true
					}
					for _, c := range tp.GetWeightedClusters().GetClusters() {
						used[c.Name] = true
					}
				}
			}
		}
	}
	for c := range used {
		if clusters[c] == nil && !static[c] {
			bad("cluster %s is used but not served", c)
		}
	}

	// Clusters: each discovery type as Envoy requires it; HTTP/2 to
	// HTTP/2 and gRPC upstreams; every EDS cluster's endpoints served.
	cla := map[string]bool{}
	for _, e := range got.endpoints {
		cla[e.ClusterName] = true
		if clusters[e.ClusterName].GetType() != cluster.Cluster_EDS {
			bad("endpoints %s have no EDS cluster", e.ClusterName)
		}
	}
	for _, c := range got.clusters {
		switch c.GetType() {
		case cluster.Cluster_EDS:
			if src := c.GetEdsClusterConfig().GetEdsConfig(); src.GetAds() == nil || src.GetResourceApiVersion() != core.ApiVersion_V3 {
				bad("cluster %s: EDS is not over ADS, v3", c.Name)
			}
			if !cla[c.Name] {
				bad("EDS cluster %s has no endpoints served (Envoy waits for them for ever)", c.Name)
			}
		case cluster.Cluster_LOGICAL_DNS:
			eps := c.GetLoadAssignment().GetEndpoints()
			if len(eps) != 1 || len(eps[0].LbEndpoints) != 1 {
				bad("LOGICAL_DNS cluster %s must have exactly one endpoint", c.Name)
			}
		case cluster.Cluster_STATIC, cluster.Cluster_STRICT_DNS:
			if len(c.GetLoadAssignment().GetEndpoints()) == 0 {
				bad("cluster %s (%v) has no load assignment", c.Name, c.GetType())
			}
		case cluster.Cluster_ORIGINAL_DST:
			if c.LbPolicy != cluster.Cluster_CLUSTER_PROVIDED || c.LoadAssignment != nil {
				bad("ORIGINAL_DST cluster %s needs lb_policy CLUSTER_PROVIDED and no endpoints", c.Name)
			}
		}
		if strings.Contains(c.Name, "_http2_") || strings.Contains(c.Name, "_grpc_") {
			o, _ := unpackAny(c.TypedExtensionProtocolOptions["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]).(*httpopts.HttpProtocolOptions)
			if o.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
				bad("cluster %s speaks HTTP/2 upstream but has no HTTP/2 protocol options", c.Name)
			}
		}
	}
	return p
}

// runtimeFlags returns the static layer of a bootstrap's runtime.
func runtimeFlags(bs *bootstrapv3.Bootstrap) map[string]any {
	for _, l := range bs.GetLayeredRuntime().GetLayers() {
		if s := l.GetStaticLayer(); s != nil {
			return s.AsMap()
		}
	}
	return nil
}

// statsTags returns the bootstrap's regex stats tags as Envoy applies them:
// the tag's value is the second capture group, the part of the name the
// first one matched is taken out of the name.
func statsTags(bs *bootstrapv3.Bootstrap) map[string]func(string) string {
	out := map[string]func(string) string{}
	for _, st := range bs.GetStatsConfig().GetStatsTags() {
		if st.GetRegex() == "" {
			continue
		}
		re := regexp.MustCompile(st.GetRegex())
		out[st.TagName] = func(name string) string {
			m := re.FindStringSubmatch(name)
			if len(m) < 3 {
				return ""
			}
			return m[2]
		}
	}
	return out
}

// walk calls fn on m and on every message under it, typed configs (Any)
// unpacked.
func walk(m proto.Message, fn func(protoreflect.Message)) {
	var visit func(protoreflect.Message)
	visit = func(rm protoreflect.Message) {
		if a, ok := rm.Interface().(*anypb.Any); ok {
			if inner := unpackAny(a); inner != nil {
				visit(inner.ProtoReflect())
			}
			return
		}
		fn(rm)
		rm.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsList() && fd.Kind() == protoreflect.MessageKind:
				for i := 0; i < v.List().Len(); i++ {
					visit(v.List().Get(i).Message())
				}
			case fd.IsMap() && fd.MapValue().Kind() == protoreflect.MessageKind:
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					visit(mv.Message())
					return true
				})
			case !fd.IsList() && !fd.IsMap() && fd.Kind() == protoreflect.MessageKind:
				visit(v.Message())
			}
			return true
		})
	}
	visit(m.ProtoReflect())
}

// meshOf returns the mesh a node id names (as the image's agent reads it:
// the second "/"-separated part).
func meshOf(id string) string {
	parts := strings.Split(id, "/")
	if len(parts) < 4 {
		return ""
	}
	mesh, _, _ := strings.Cut(parts[1], "@")
	return mesh
}

// shopMesh makes, in the account of m's access key, mesh "shop": a router
// with weighted routes in front of two Cloud Map-backed virtual nodes, a
// gRPC and a TCP virtual node found by DNS, the virtual services they
// provide, the sidecar node "front" that calls all three, and a virtual
// gateway whose listener takes its certificate from SDS, with gateway
// routes to two of the services.
func shopMesh(t *testing.T, m *mesh) {
	t.Helper()
	ctx := context.Background()
	op, err := m.sd.CreateHttpNamespace(ctx, &sd.CreateHttpNamespaceInput{Name: aws.String("shop.local")})
	m.check(err)
	got, err := m.sd.GetOperation(ctx, &sd.GetOperationInput{OperationId: op.OperationId})
	m.check(err)
	svc, err := m.sd.CreateService(ctx, &sd.CreateServiceInput{Name: aws.String("web"), NamespaceId: aws.String(got.Operation.Targets["NAMESPACE"])})
	m.check(err)
	for i, v := range []string{"v1", "v1", "v2"} {
		_, err := m.sd.RegisterInstance(ctx, &sd.RegisterInstanceInput{ServiceId: svc.Service.Id, InstanceId: aws.String(fmt.Sprintf("web-%d", i+1)),
			Attributes: map[string]string{"AWS_INSTANCE_IPV4": fmt.Sprintf("10.0.2.%d", i+1), "AWS_INSTANCE_PORT": "9080", "version": v}})
		m.check(err)
	}
	mesh := aws.String("shop")
	_, err = m.am.CreateMesh(ctx, &am.CreateMeshInput{MeshName: mesh})
	m.check(err)
	listeners := func(port int32, p amtypes.PortProtocol) []amtypes.Listener {
		return []amtypes.Listener{{PortMapping: &amtypes.PortMapping{Port: aws.Int32(port), Protocol: p}}}
	}
	dns := func(host string, rt amtypes.DnsResponseType) amtypes.ServiceDiscovery {
		return &amtypes.ServiceDiscoveryMemberDns{Value: amtypes.DnsServiceDiscovery{Hostname: aws.String(host), ResponseType: rt}}
	}
	for _, v := range []string{"v1", "v2"} {
		_, err := m.am.CreateVirtualNode(ctx, &am.CreateVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String("web-" + v), Spec: &amtypes.VirtualNodeSpec{
			Listeners: listeners(9080, amtypes.PortProtocolHttp),
			ServiceDiscovery: &amtypes.ServiceDiscoveryMemberAwsCloudMap{Value: amtypes.AwsCloudMapServiceDiscovery{NamespaceName: aws.String("shop.local"),
				ServiceName: aws.String("web"), Attributes: []amtypes.AwsCloudMapInstanceAttribute{{Key: aws.String("version"), Value: aws.String(v)}}}}}})
		m.check(err)
	}
	_, err = m.am.CreateVirtualNode(ctx, &am.CreateVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String("api"), Spec: &amtypes.VirtualNodeSpec{
		Listeners: listeners(50051, amtypes.PortProtocolGrpc), ServiceDiscovery: dns("api.shop.internal", "")}})
	m.check(err)
	_, err = m.am.CreateVirtualNode(ctx, &am.CreateVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String("db"), Spec: &amtypes.VirtualNodeSpec{
		Listeners: listeners(5432, amtypes.PortProtocolTcp), ServiceDiscovery: dns("db.shop.internal", amtypes.DnsResponseTypeEndpoints)}})
	m.check(err)
	_, err = m.am.CreateVirtualRouter(ctx, &am.CreateVirtualRouterInput{MeshName: mesh, VirtualRouterName: aws.String("web"), Spec: &amtypes.VirtualRouterSpec{
		Listeners: []amtypes.VirtualRouterListener{{PortMapping: &amtypes.PortMapping{Port: aws.Int32(80), Protocol: amtypes.PortProtocolHttp}}}}})
	m.check(err)
	for name, spec := range map[string]*amtypes.RouteSpec{
		"split": {HttpRoute: &amtypes.HttpRoute{Match: &amtypes.HttpRouteMatch{Prefix: aws.String("/")},
			Action: &amtypes.HttpRouteAction{WeightedTargets: []amtypes.WeightedTarget{{VirtualNode: aws.String("web-v1"), Weight: 80}, {VirtualNode: aws.String("web-v2"), Weight: 20}}}}},
		"canary": {Priority: aws.Int32(1), HttpRoute: &amtypes.HttpRoute{
			Match: &amtypes.HttpRouteMatch{Prefix: aws.String("/"), Headers: []amtypes.HttpRouteHeader{{Name: aws.String("x-canary"),
				Match: &amtypes.HeaderMatchMethodMemberExact{Value: "yes"}}}},
			Action: &amtypes.HttpRouteAction{WeightedTargets: []amtypes.WeightedTarget{{VirtualNode: aws.String("web-v2"), Weight: 100}}}}},
	} {
		_, err := m.am.CreateRoute(ctx, &am.CreateRouteInput{MeshName: mesh, VirtualRouterName: aws.String("web"), RouteName: aws.String(name), Spec: spec})
		m.check(err)
	}
	for name, p := range map[string]amtypes.VirtualServiceProvider{
		"web.shop.local": &amtypes.VirtualServiceProviderMemberVirtualRouter{Value: amtypes.VirtualRouterServiceProvider{VirtualRouterName: aws.String("web")}},
		"api.shop.local": &amtypes.VirtualServiceProviderMemberVirtualNode{Value: amtypes.VirtualNodeServiceProvider{VirtualNodeName: aws.String("api")}},
		"db.shop.local":  &amtypes.VirtualServiceProviderMemberVirtualNode{Value: amtypes.VirtualNodeServiceProvider{VirtualNodeName: aws.String("db")}},
	} {
		_, err := m.am.CreateVirtualService(ctx, &am.CreateVirtualServiceInput{MeshName: mesh, VirtualServiceName: aws.String(name),
			Spec: &amtypes.VirtualServiceSpec{Provider: p}})
		m.check(err)
	}
	var backends []amtypes.Backend
	for _, vs := range []string{"web.shop.local", "api.shop.local", "db.shop.local"} {
		backends = append(backends, &amtypes.BackendMemberVirtualService{Value: amtypes.VirtualServiceBackend{VirtualServiceName: aws.String(vs)}})
	}
	fl := listeners(8080, amtypes.PortProtocolHttp)
	fl[0].HealthCheck = &amtypes.HealthCheckPolicy{Protocol: amtypes.PortProtocolHttp, Path: aws.String("/ping"), HealthyThreshold: aws.Int32(2),
		UnhealthyThreshold: aws.Int32(3), IntervalMillis: aws.Int64(5000), TimeoutMillis: aws.Int64(2000)}
	_, err = m.am.CreateVirtualNode(ctx, &am.CreateVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String("front"), Spec: &amtypes.VirtualNodeSpec{
		Listeners: fl, Backends: backends, ServiceDiscovery: dns("front.shop.internal", "")}})
	m.check(err)
	_, err = m.am.CreateVirtualGateway(ctx, &am.CreateVirtualGatewayInput{MeshName: mesh, VirtualGatewayName: aws.String("ingress-gw"), Spec: &amtypes.VirtualGatewaySpec{
		Listeners: []amtypes.VirtualGatewayListener{{PortMapping: &amtypes.VirtualGatewayPortMapping{Port: aws.Int32(8088), Protocol: amtypes.VirtualGatewayPortProtocolHttp},
			Tls: &amtypes.VirtualGatewayListenerTls{Mode: amtypes.VirtualGatewayListenerTlsModeStrict,
				Certificate: &amtypes.VirtualGatewayListenerTlsCertificateMemberSds{Value: amtypes.VirtualGatewayListenerTlsSdsCertificate{
					SecretName: aws.String("spiffe://shop.local/ingress-gw")}}}}}}})
	m.check(err)
	for name, target := range map[string][2]string{"web": {"/web/", "web.shop.local"}, "api": {"/api/", "api.shop.local"}} {
		_, err := m.am.CreateGatewayRoute(ctx, &am.CreateGatewayRouteInput{MeshName: mesh, VirtualGatewayName: aws.String("ingress-gw"),
			GatewayRouteName: aws.String(name), Spec: &amtypes.GatewayRouteSpec{HttpRoute: &amtypes.HttpGatewayRoute{
				Match: &amtypes.HttpGatewayRouteMatch{Prefix: aws.String(target[0])},
				Action: &amtypes.HttpGatewayRouteAction{Target: &amtypes.GatewayRouteTarget{VirtualService: &amtypes.GatewayRouteVirtualService{
					VirtualServiceName: aws.String(target[1])}}}}}})
		m.check(err)
	}
	_, err = m.am.ListMeshes(ctx, &am.ListMeshesInput{})
	m.check(err)
	_, err = m.sd.ListInstances(ctx, &sd.ListInstancesInput{ServiceId: svc.Service.Id})
	m.check(err)
}

// TestStockAppMeshEnvoy: the node of each of App Mesh's bootstraps, over TLS
// and signed as the bootstrap signs, is served configuration that Envoy
// accepts and that fits the bootstrap, the image's agent and the
// interception of its task or pod.
func TestStockAppMeshEnvoy(t *testing.T) {
	s := newAuthStack(t, xds.Config{})
	shopMesh(t, s.a)
	webClusters := []string{"cds_egress_shop_web-v1_http_9080", "cds_egress_shop_web-v2_http_9080"}
	for _, tc := range []struct {
		file string
		want stockExpect
		// arn is the node's id as the server records it: bound to the
		// signer's account.
		arn string
	}{
		{"appmesh-envoy-bootstrap-virtualnode.yaml", stockExpect{
			listeners: []string{"lds_egress_0.0.0.0_15001", "lds_ingress_0.0.0.0_15000"},
			routes:    []string{"rds_egress_http_50051", "rds_egress_http_80", "rds_ingress_http_8080"},
			clusters: append([]string{"cds_egress_shop_amazonaws", "cds_egress_shop_api_grpc_50051", "cds_egress_shop_db_tcp_5432"},
				append(webClusters, "cds_ingress_shop_front_http_8080")...),
			appPorts: []uint32{8080},
		}, "arn:aws:appmesh:us-east-1:111111111111:mesh/shop/virtualNode/front"},
		{"appmesh-envoy-bootstrap-virtualgateway.yaml", stockExpect{
			listeners:    []string{"lds_ingress_0.0.0.0_8088"},
			routes:       []string{"rds_egress_http_8088"},
			clusters:     append([]string{"cds_egress_shop_api_grpc_50051"}, webClusters...),
			gatewayPorts: []uint32{8088},
			sds:          true,
		}, "arn:aws:appmesh:us-east-1:111111111111:mesh/shop/virtualGateway/ingress-gw"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			bs := loadBootstrap(t, tc.file)
			target, service, region := adsSigning(t, bs)
			if service != "appmesh" || target != "mapmesh.internal:9754" {
				t.Fatalf("bootstrap signs for %q and dials %q; want appmesh and mapmesh.internal:9754", service, target)
			}
			// The channel the bootstrap describes: TLS to target, whose
			// name the server's certificate must carry and whose
			// authority the signature covers, every call signed by the
			// aws_iam plugin with the task's credentials.
			cc, err := grpc.NewClient(s.xs.Addr().String(), grpc.WithAuthority(target),
				grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: s.certPool})),
				grpc.WithPerRPCCredentials(envoyIAM{key: "AKIAACCOUNTA", secret: "secret-a", region: region, service: service}))
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			node := proto.Clone(bs.Node).(*core.Node)
			node.UserAgentName = "envoy"
			node.UserAgentVersionType = &core.Node_UserAgentBuildVersion{UserAgentBuildVersion: &core.BuildVersion{
				Version: &typev3.SemanticVersion{MajorNumber: 1, MinorNumber: 34, Patch: 13}}}
			node.ClientFeatures = []string{"envoy.lb.does_not_support_overprovisioning", "envoy.lrs.supports_send_all_clusters"}
			got := fetchAsEnvoy(t, cc, node)
			for _, p := range stockEnvoyProblems(bs, tc.want, got) {
				t.Error(p)
			}
			// Checked with mapmesh's own exactness check too.
			res := &xds.Resources{}
			for _, l := range got.listeners {
				res.Listeners = append(res.Listeners, l)
			}
			for _, r := range got.routes {
				res.Routes = append(res.Routes, r)
			}
			for _, c := range got.clusters {
				res.Clusters = append(res.Clusters, c)
			}
			for _, e := range got.endpoints {
				res.Endpoints = append(res.Endpoints, e)
			}
			if err := xds.Check(res); err != nil {
				t.Errorf("xds.Check = %v; want nil", err)
			}
			var found bool
			for _, c := range s.xs.Clients() {
				if c.NodeID == tc.arn {
					found = true
					if c.SigV4 == nil || !c.SigV4.Verified || c.SigV4.Account != "111111111111" || c.UserAgent != "envoy" || c.Proxyless || c.NACKs != 0 {
						t.Errorf("client %s = %+v; want a verified SigV4 stream of 111111111111, Envoy rendering, no NACK", c.NodeID, c)
					}
				}
			}
			if !found {
				t.Errorf("no client with node %s among %+v", tc.arn, s.xs.Clients())
			}
		})
	}
	t.Run("weights", func(t *testing.T) {
		bs := loadBootstrap(t, "appmesh-envoy-bootstrap-virtualnode.yaml")
		cc := s.conn(t, signerA)
		got := fetchAsEnvoy(t, cc, bs.Node)
		var split []string
		for _, r := range got.routes {
			for _, vh := range r.VirtualHosts {
				for _, rt := range vh.Routes {
					for _, c := range rt.GetRoute().GetWeightedClusters().GetClusters() {
						split = append(split, fmt.Sprintf("%s %s=%d", vh.Name, c.Name, c.Weight.GetValue()))
					}
				}
			}
		}
		want := []string{"web.shop.local cds_egress_shop_web-v1_http_9080=80", "web.shop.local cds_egress_shop_web-v2_http_9080=20"}
		if !slices.Equal(split, want) {
			t.Errorf("weighted clusters = %v; want %v", split, want)
		}
	})
}

// TestStockEnvoyProblemsCatches: the checks of TestStockAppMeshEnvoy find
// what they look for.
func TestStockEnvoyProblemsCatches(t *testing.T) {
	bs := loadBootstrap(t, "appmesh-envoy-bootstrap-virtualnode.yaml")
	s := newAuthStack(t, xds.Config{})
	shopMesh(t, s.a)
	base := fetchAsEnvoy(t, s.conn(t, signerA), bs.Node)
	want := stockExpect{listeners: []string{"lds_egress_0.0.0.0_15001", "lds_ingress_0.0.0.0_15000"},
		routes: []string{"rds_egress_http_50051", "rds_egress_http_80", "rds_ingress_http_8080"}, appPorts: []uint32{8080}}
	for _, c := range base.clusters {
		want.clusters = append(want.clusters, c.Name)
	}
	slices.Sort(want.clusters)
	if p := stockEnvoyProblems(bs, want, base); len(p) != 0 {
		t.Fatalf("unchanged configuration: %v", p)
	}
	clone := func(g envoyConfigOf) envoyConfigOf {
		var out envoyConfigOf
		for _, l := range g.listeners {
			out.listeners = append(out.listeners, proto.Clone(l).(*listener.Listener))
		}
		for _, r := range g.routes {
			out.routes = append(out.routes, proto.Clone(r).(*route.RouteConfiguration))
		}
		for _, c := range g.clusters {
			out.clusters = append(out.clusters, proto.Clone(c).(*cluster.Cluster))
		}
		for _, e := range g.endpoints {
			out.endpoints = append(out.endpoints, proto.Clone(e).(*endpoint.ClusterLoadAssignment))
		}
		return out
	}
	listenerNamed := func(g envoyConfigOf, n string) *listener.Listener {
		for _, l := range g.listeners {
			if l.Name == n {
				return l
			}
		}
		t.Fatalf("no listener %s", n)
		return nil
	}
	for _, tc := range []struct {
		name, want string
		mutate     func(g *envoyConfigOf)
	}{
		{"no traffic direction", "want INBOUND", func(g *envoyConfigOf) {
			listenerNamed(*g, "lds_ingress_0.0.0.0_15000").TrafficDirection = core.TrafficDirection_UNSPECIFIED
		}},
		{"plain stat prefix", "appmesh.listener_port", func(g *envoyConfigOf) {
			l := listenerNamed(*g, "lds_ingress_0.0.0.0_15000")
			m := connectionManagers(l)[0]
			m.StatPrefix = "ingress"
			l.FilterChains[0].Filters[0].ConfigType = &listener.Filter_TypedConfig{TypedConfig: mustAny(t, m)}
		}},
		{"no tracing", "does not trace", func(g *envoyConfigOf) {
			l := listenerNamed(*g, "lds_egress_0.0.0.0_15001")
			m := connectionManagers(l)[0]
			m.Tracing = nil
			l.FilterChains[0].Filters[0].ConfigType = &listener.Filter_TypedConfig{TypedConfig: mustAny(t, m)}
		}},
		{"missing route configuration", "not served", func(g *envoyConfigOf) { g.routes = g.routes[1:] }},
		{"missing endpoints", "no endpoints served", func(g *envoyConfigOf) { g.endpoints = g.endpoints[1:] }},
		{"admin port", "Envoy admin", func(g *envoyConfigOf) {
			listenerNamed(*g, "lds_egress_0.0.0.0_15001").Address.GetSocketAddress().PortSpecifier = &core.SocketAddress_PortValue{PortValue: 9901}
		}},
		{"duplicate domain", "Envoy rejects it", func(g *envoyConfigOf) {
			vh := g.routes[1].VirtualHosts
			vh[len(vh)-1].Domains = append(vh[len(vh)-1].Domains, vh[0].Domains[0])
		}},
		{"extension by name", "no typed_config", func(g *envoyConfigOf) {
			listenerNamed(*g, "lds_ingress_0.0.0.0_15000").ListenerFilters[0].ConfigType = nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := clone(base)
			tc.mutate(&g)
			p := stockEnvoyProblems(bs, want, g)
			if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, tc.want) }) {
				t.Errorf("problems = %q; want one mentioning %q", p, tc.want)
			}
		})
	}
}

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
