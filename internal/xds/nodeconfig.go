package xds

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/mapmesh/mapmesh/internal/awsapi"
)

// NodeConfig is the Envoy configuration the xDS server serves a node, as
// GET /_mapmesh/xds/config shows it (mapmesh proxy-config).
type NodeConfig struct {
	ID NodeID
	// Connected tells that a stream of the node is open: Resources is then
	// the snapshot it is served, and Versions the version of each type
	// ("listeners", "routes", "clusters", "endpoints"). Otherwise
	// Resources is built now, as the node's first stream would be served.
	Connected bool
	Versions  map[string]string
	Resources *Resources
	// Found tells that the node's mesh has the virtual node or virtual
	// gateway the id names.
	Found bool
	// Message says why the configuration is empty, when it is.
	Message string
}

// NodeConfig returns the Envoy configuration of node id, connected or not.
// It uses Build, as streams do: a connected node's is its current snapshot;
// any other's is built from the App Mesh and Cloud Map views as they are
// now, without touching the caches of connected nodes.
func (s *Server) NodeConfig(id NodeID) NodeConfig {
	nc := NodeConfig{ID: id}
	mc, meshFound := s.am.Mesh(id.Account, id.Region, id.Mesh)
	if meshFound {
		rs := mc.VirtualNodes
		if id.Kind == KindVirtualGateway {
			rs = mc.VirtualGateways
		}
		for i := range rs {
			nc.Found = nc.Found || rs[i].Name == id.Name
		}
	}
	s.buildMu.Lock()
	if n := s.nodes[keyOf(id, false)]; n != nil && n.res != nil {
		nc.Connected, nc.Resources = true, n.res
		nc.Versions = map[string]string{}
		for i, v := range n.versions {
			nc.Versions[configTypes[i]] = v
		}
	}
	s.buildMu.Unlock()
	if !nc.Connected {
		var m *Mesh
		if meshFound {
			m = NewMesh(mc)
		}
		reg := &registryView{cm: s.cm, pk: partKey{id.Account, id.Region}, p: newCMPartition(), now: time.Now().UnixMilli(), deps: map[string]bool{}}
		nc.Resources = Build(Input{Mesh: m, Registry: reg}, Node{ID: id})
	}
	what := "virtual node"
	if id.Kind == KindVirtualGateway {
		what = "virtual gateway"
	}
	empty := len(nc.Resources.Listeners) == 0 && len(nc.Resources.Clusters) == 0
	switch {
	case !meshFound:
		nc.Message = fmt.Sprintf("account %s has no mesh %s in %s: mapmesh serves this node an empty configuration (no listeners, no clusters)",
			id.Account, id.Mesh, id.Region)
	case !nc.Found:
		nc.Message = fmt.Sprintf("mesh %s (account %s, %s) has no %s %s: mapmesh serves this node an empty configuration (no listeners, no clusters)",
			id.Mesh, id.Account, id.Region, what, id.Name)
	case empty:
		nc.Message = fmt.Sprintf("%s %s has no listeners and no backends: there is nothing to serve it", what, id.Name)
	}
	return nc
}

// configTypes name the resource types of GET /_mapmesh/xds/config?type=
// ("all" is every one), in the order of resourceTypes.
var configTypes = [len(resourceTypes)]string{"listeners", "routes", "clusters", "endpoints"}

// ConfigHandler serves GET /_mapmesh/xds/config?node=NODE[&type=TYPE]: the
// Envoy configuration mapmesh serves node NODE (an App Mesh ARN, or
// mesh/<mesh>/virtualNode/<name> or .../virtualGateway/<name>), connected
// or not, as JSON: the node, whether it is connected (and the versions it
// is served), whether its resource exists, why it is empty if it is, the
// build's notes, and each resource of TYPE (listeners, routes, clusters,
// endpoints, or all, the default) in protojson. A short-form node names
// the mesh in the account and region a verified caller's signature names
// (as the xDS server completes a signed stream's), else in the server's
// Config.Account and Config.Region. s may be nil (xDS disabled).
func ConfigHandler(s *Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s == nil {
			http.Error(w, "xDS is disabled (--xds-addr is empty)", http.StatusServiceUnavailable)
			return
		}
		q := r.URL.Query()
		typ := q.Get("type")
		if typ == "" {
			typ = "all"
		}
		if typ != "all" && !slices.Contains(configTypes[:], typ) {
			http.Error(w, fmt.Sprintf("type %q is not one of listeners, routes, clusters, endpoints, all", typ), http.StatusBadRequest)
			return
		}
		account, region := s.cfg.Account, s.cfg.Region
		if c, ok := awsapi.CallerFrom(r.Context()); ok && c.Verified {
			account, region = c.Account, c.Region
		}
		node := q.Get("node")
		id, ok := ParseNodeID(node, account, region)
		if !ok {
			http.Error(w, fmt.Sprintf("node %q is not mesh/<mesh>/virtualNode/<name>, mesh/<mesh>/virtualGateway/<name> or an App Mesh ARN", node),
				http.StatusBadRequest)
			return
		}
		nc := s.NodeConfig(id)
		body := map[string]any{"node": id.String(), "arn": nodeARN(id), "account": id.Account, "region": id.Region,
			"found": nc.Found, "connected": nc.Connected}
		if nc.Versions != nil {
			body["versions"] = nc.Versions
		}
		if nc.Message != "" {
			body["message"] = nc.Message
		}
		notes := nc.Resources.Notes
		if notes == nil {
			notes = []string{}
		}
		body["notes"] = notes
		for i, t := range configTypes {
			if typ != "all" && typ != t {
				continue
			}
			list := []json.RawMessage{}
			for _, res := range byType(nc.Resources, resourceTypes[i]) {
				b, err := protojson.Marshal(res)
				if err != nil {
					http.Error(w, "xds: marshal: "+err.Error(), http.StatusInternalServerError)
					return
				}
				list = append(list, b)
			}
			body[t] = list
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(body)
	})
}
