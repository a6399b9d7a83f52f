package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/mapmesh/mapmesh/internal/server"
	"github.com/mapmesh/mapmesh/internal/xds"
)

const proxyConfigUsage = `Usage: mapmesh proxy-config [flags] NODE [listeners|routes|clusters|endpoints|all]

Prints the Envoy configuration a running mapmesh serves NODE, whether or not
it is connected: mesh/MESH/virtualNode/NAME, mesh/MESH/virtualGateway/NAME or
an App Mesh ARN. A short form names the mesh in the server's default account
and --region, or with --auth sigv4 in the signer's account and region, as
the xDS server reads an Envoy's. With AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY set the request is signed; a server with --auth sigv4
needs an admin identity. The configuration's notes (what mapmesh could not
translate) are in the output; why a configuration is empty goes to stderr.

Flags:
`

// proxyConfig runs "proxy-config": it asks a running server for the Envoy
// configuration it serves a node (GET /_mapmesh/xds/config, built by the
// xDS server's own Build) and prints it as Envoy's JSON or as tables.
func proxyConfig(e Env, args []string) int {
	fs := flag.NewFlagSet("mapmesh proxy-config", flag.ContinueOnError)
	endpoint := fs.String("endpoint", "http://"+server.DefaultAPIAddr, "URL of the server's API")
	format := fs.String("format", "json", "json (the resources as Envoy JSON) or table")
	region := fs.String("region", "", "region of the signature (default $AWS_REGION, else us-east-1)")
	timeout := fs.Duration("timeout", 30*time.Second, "bound on the request")
	fs.SetOutput(io.Discard)
	// Flags may come before or after the arguments.
	var pos []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(e.Stdout, proxyConfigUsage)
				fs.SetOutput(e.Stdout)
				fs.PrintDefaults()
				return exitOK
			}
			return usageError(e, "proxy-config: "+err.Error())
		}
		if fs.NArg() == 0 {
			break
		}
		pos, rest = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usageError(e, "proxy-config needs NODE and at most one of listeners, routes, clusters, endpoints, all")
	}
	node, typ := pos[0], "all"
	if len(pos) == 2 {
		typ = pos[1]
	}
	if _, ok := xds.ParseNodeID(node, "000000000000", "us-east-1"); !ok {
		return usageError(e, fmt.Sprintf("proxy-config: NODE %q is not mesh/MESH/virtualNode/NAME, mesh/MESH/virtualGateway/NAME or an App Mesh ARN", node))
	}
	if !slices.Contains([]string{"listeners", "routes", "clusters", "endpoints", "all"}, typ) {
		return usageError(e, fmt.Sprintf("proxy-config: %q is not one of listeners, routes, clusters, endpoints, all", typ))
	}
	if *format != "json" && *format != "table" {
		return usageError(e, fmt.Sprintf("proxy-config: --format %q is not json or table", *format))
	}
	// A table of clusters shows their endpoints: ask for everything.
	ask := typ
	if *format == "table" {
		ask = "all"
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	u := strings.TrimSuffix(*endpoint, "/") + "/_mapmesh/xds/config?" + url.Values{"node": {node}, "type": {ask}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fail(e, "proxy-config: %v", err)
	}
	if err := signAdmin(e, req, *region); err != nil {
		return fail(e, "proxy-config: sign: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fail(e, "proxy-config: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fail(e, "proxy-config: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fail(e, "proxy-config: %s answered %s: %s", *endpoint, resp.Status, errorText(resp, b))
	}
	var cfg proxyConfigBody
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fail(e, "proxy-config: %s answered something that is not a configuration: %v", *endpoint, err)
	}
	if cfg.Message != "" {
		fmt.Fprintf(e.Stderr, "mapmesh: %s\n", cfg.Message)
	}
	if *format == "json" {
		_, _ = e.Stdout.Write(b)
		return exitOK
	}
	if err := cfg.printTables(e.Stdout, typ); err != nil {
		return fail(e, "proxy-config: %v", err)
	}
	return exitOK
}

// errorText is an error answer as one line: the AWS error code and
// message of a refusal by the API's authentication, or the plain text of
// the endpoint's own errors.
func errorText(resp *http.Response, body []byte) string {
	text := strings.TrimSpace(string(body))
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		text = e.Message
	}
	if code := resp.Header.Get("X-Amzn-Errortype"); code != "" {
		text = code + ": " + text
	}
	return text
}

// proxyConfigBody is GET /_mapmesh/xds/config's answer.
type proxyConfigBody struct {
	Node      string            `json:"node"`
	ARN       string            `json:"arn"`
	Found     bool              `json:"found"`
	Connected bool              `json:"connected"`
	Versions  map[string]string `json:"versions"`
	Message   string            `json:"message"`
	Notes     []string          `json:"notes"`
	Listeners []json.RawMessage `json:"listeners"`
	Routes    []json.RawMessage `json:"routes"`
	Clusters  []json.RawMessage `json:"clusters"`
	Endpoints []json.RawMessage `json:"endpoints"`
}

// decodeAll reads Envoy JSON resources into messages made by newMsg.
func decodeAll[T proto.Message](raws []json.RawMessage, newMsg func() T) ([]T, error) {
	var out []T
	for _, r := range raws {
		m := newMsg()
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(r, m); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// printTables prints the sections of typ: a listener's filter chains (port,
// matches, where they go), a route configuration's virtual hosts and routes
// (domains, matches, clusters with their share of the weight), clusters
// (type and endpoints with their health), endpoints by locality.
func (c *proxyConfigBody) printTables(w io.Writer, typ string) error {
	ls, err := decodeAll(c.Listeners, func() *listener.Listener { return &listener.Listener{} })
	if err != nil {
		return err
	}
	rs, err := decodeAll(c.Routes, func() *route.RouteConfiguration { return &route.RouteConfiguration{} })
	if err != nil {
		return err
	}
	cs, err := decodeAll(c.Clusters, func() *cluster.Cluster { return &cluster.Cluster{} })
	if err != nil {
		return err
	}
	es, err := decodeAll(c.Endpoints, func() *endpoint.ClusterLoadAssignment { return &endpoint.ClusterLoadAssignment{} })
	if err != nil {
		return err
	}
	state := "not connected: built now, as its first stream would be served"
	if c.Connected {
		var vs []string
		for _, t := range []string{"listeners", "routes", "clusters", "endpoints"} {
			vs = append(vs, t+" "+c.Versions[t])
		}
		state = "connected, versions " + strings.Join(vs, ", ")
	}
	fmt.Fprintf(w, "NODE %s (%s), %s\n", c.Node, c.ARN, state)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	section := func(header string) {
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, header)
	}
	none := func(n int) {
		if n == 0 {
			fmt.Fprintln(tw, "(none)")
		}
	}
	if typ == "all" || typ == "listeners" {
		section("LISTENER\tADDRESS\tDIRECTION\tCHAIN\tMATCH\tTO")
		none(len(ls))
		for _, l := range ls {
			sa := l.GetAddress().GetSocketAddress()
			first := l.Name + "\t" + sa.GetAddress() + ":" + strconv.Itoa(int(sa.GetPortValue())) + "\t" + l.TrafficDirection.String()
			fcs := l.FilterChains
			if l.DefaultFilterChain != nil {
				fcs = append(slices.Clone(fcs), l.DefaultFilterChain)
			}
			for i, fc := range fcs {
				lead := "\t\t"
				if i == 0 {
					lead = first
				}
				name := fc.Name
				if fc == l.DefaultFilterChain {
					name += " (default)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", lead, name, chainMatch(fc.FilterChainMatch), chainTarget(fc))
			}
			if len(fcs) == 0 {
				fmt.Fprintln(tw, first+"\t\t\t")
			}
		}
	}
	if typ == "all" || typ == "routes" {
		section("ROUTE CONFIG\tVIRTUAL HOST\tDOMAINS\tMATCH\tCLUSTERS")
		none(len(rs))
		for _, rc := range rs {
			lead := rc.Name
			for _, vh := range rc.VirtualHosts {
				host := vh.Name + "\t" + strings.Join(vh.Domains, ",")
				for _, rt := range vh.Routes {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", lead, host, routeMatch(rt.Match), routeTarget(rt))
					lead, host = "", "\t"
				}
			}
		}
	}
	byCluster := map[string]*endpoint.ClusterLoadAssignment{}
	for _, e := range es {
		byCluster[e.ClusterName] = e
	}
	if typ == "all" || typ == "clusters" {
		section("CLUSTER\tTYPE\tENDPOINTS")
		none(len(cs))
		for _, cl := range cs {
			kind := cl.GetType().String()
			cla := cl.LoadAssignment
			if cl.GetType() == cluster.Cluster_EDS {
				cla = byCluster[cl.Name]
			}
			eps := endpointList(cla, cl.GetType())
			if cl.GetType() == cluster.Cluster_ORIGINAL_DST {
				eps = "(the connection's original destination)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", cl.Name, kind, eps)
		}
	}
	if typ == "endpoints" {
		section("CLUSTER\tLOCALITY\tENDPOINT\tHEALTH\tWEIGHT")
		none(len(es))
		for _, e := range es {
			lead := e.ClusterName
			if len(e.Endpoints) == 0 {
				fmt.Fprintf(tw, "%s\t(no endpoints)\t\t\t\n", lead)
			}
			for _, le := range e.Endpoints {
				loc := strings.Trim(le.GetLocality().GetRegion()+"/"+le.GetLocality().GetZone(), "/")
				for _, ep := range le.LbEndpoints {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", lead, loc, address(ep.GetEndpoint().GetAddress()), ep.HealthStatus, le.GetLoadBalancingWeight().GetValue())
					lead = ""
				}
			}
		}
	}
	if len(c.Notes) > 0 {
		section("NOTES")
		for _, n := range c.Notes {
			fmt.Fprintln(tw, n)
		}
	}
	return tw.Flush()
}

func address(a *core.Address) string {
	sa := a.GetSocketAddress()
	if sa == nil {
		return a.GetPipe().GetPath()
	}
	host := sa.GetAddress()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(int(sa.GetPortValue()))
}

// endpointList lists a load assignment's endpoints with their health (an
// EDS cluster's) or as DNS names (a DNS cluster's).
func endpointList(cla *endpoint.ClusterLoadAssignment, t cluster.Cluster_DiscoveryType) string {
	var out []string
	for _, le := range cla.GetEndpoints() {
		for _, ep := range le.LbEndpoints {
			s := address(ep.GetEndpoint().GetAddress())
			switch t {
			case cluster.Cluster_EDS:
				s += " " + ep.HealthStatus.String()
			case cluster.Cluster_LOGICAL_DNS, cluster.Cluster_STRICT_DNS:
				s += " (DNS)"
			}
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return "(none)"
	}
	return strings.Join(out, ", ")
}

func chainMatch(m *listener.FilterChainMatch) string {
	var out []string
	if p := m.GetDestinationPort(); p != nil {
		out = append(out, "port "+strconv.Itoa(int(p.Value)))
	}
	if t := m.GetTransportProtocol(); t != "" {
		out = append(out, t)
	}
	if sn := m.GetServerNames(); len(sn) > 0 {
		out = append(out, "sni "+strings.Join(sn, ","))
	}
	if len(out) == 0 {
		return "*"
	}
	return strings.Join(out, " ")
}

// chainTarget says where a filter chain sends what it accepts: an HTTP
// connection manager's route configuration, or a TCP proxy's clusters.
func chainTarget(fc *listener.FilterChain) string {
	var out []string
	for _, f := range fc.Filters {
		m, err := f.GetTypedConfig().UnmarshalNew()
		if err != nil {
			out = append(out, f.Name)
			continue
		}
		switch m := m.(type) {
		case *hcm.HttpConnectionManager:
			out = append(out, "http → "+m.GetRds().GetRouteConfigName())
		case *tcpproxy.TcpProxy:
			if c := m.GetCluster(); c != "" {
				out = append(out, "tcp → "+c)
				continue
			}
			var names []string
			var weights []uint32
			for _, c := range m.GetWeightedClusters().GetClusters() {
				names, weights = append(names, c.Name), append(weights, c.Weight)
			}
			out = append(out, "tcp → "+weighted(names, weights))
		default:
			out = append(out, f.Name)
		}
	}
	if fc.TransportSocket != nil {
		out = append(out, "(TLS)")
	}
	return strings.Join(out, "; ")
}

func routeMatch(m *route.RouteMatch) string {
	var s string
	switch {
	case m.GetPrefix() != "":
		s = "prefix " + m.GetPrefix()
	case m.GetPath() != "":
		s = "path " + m.GetPath()
	case m.GetSafeRegex() != nil:
		s = "regex " + m.GetSafeRegex().GetRegex()
	case m.GetPathSeparatedPrefix() != "":
		s = "prefix " + m.GetPathSeparatedPrefix()
	default:
		s = "*"
	}
	var hs []string
	for _, h := range m.Headers {
		hs = append(hs, h.Name)
	}
	if len(hs) > 0 {
		s += " headers " + strings.Join(hs, ",")
	}
	var qs []string
	for _, q := range m.QueryParameters {
		qs = append(qs, q.Name)
	}
	if len(qs) > 0 {
		s += " query " + strings.Join(qs, ",")
	}
	return s
}

func routeTarget(rt *route.Route) string {
	a := rt.GetRoute()
	switch {
	case a == nil && rt.GetDirectResponse() != nil:
		return "(direct response " + strconv.Itoa(int(rt.GetDirectResponse().Status)) + ")"
	case a == nil:
		return "(no route action)"
	case a.GetCluster() != "":
		return a.GetCluster()
	}
	var names []string
	var weights []uint32
	for _, c := range a.GetWeightedClusters().GetClusters() {
		names, weights = append(names, c.Name), append(weights, c.GetWeight().GetValue())
	}
	return weighted(names, weights)
}

// weighted lists clusters with their share of the total weight.
func weighted(names []string, weights []uint32) string {
	total := uint64(0)
	for _, w := range weights {
		total += uint64(w)
	}
	var out []string
	for i, n := range names {
		share := "0%"
		if total > 0 {
			pct := float64(weights[i]) * 100 / float64(total)
			share = strconv.FormatFloat(pct, 'f', -1, 64)
			if pct != float64(int(pct)) {
				share = strconv.FormatFloat(pct, 'f', 1, 64)
			}
			share += "%"
		}
		out = append(out, n+" "+share)
	}
	return strings.Join(out, ", ")
}
