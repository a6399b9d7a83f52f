package console

import (
	"net/http"
	"slices"
	"strings"

	"github.com/mapmesh/mapmesh/internal/appmesh"
)

// MeshSummary is a mesh in the list of meshes.
type MeshSummary struct {
	Name         string         `json:"name"`
	ARN          string         `json:"arn"`
	Version      int64          `json:"version"`
	EgressFilter string         `json:"egressFilter"`
	Counts       map[string]int `json:"counts"`
}

// MeshResource is one App Mesh resource and its spec (the 2019-01-25
// shape, whichever API version wrote it).
type MeshResource struct {
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	Parent   string `json:"parent,omitempty"`
	ARN      string `json:"arn"`
	Version  int64  `json:"version"`
	Revision int64  `json:"revision"`
	Spec     any    `json:"spec"`
}

// Mesh is a mesh and everything in it, each list sorted by name (routes
// and gateway routes by parent, then name).
type Mesh struct {
	Mesh            MeshResource   `json:"mesh"`
	VirtualServices []MeshResource `json:"virtualServices"`
	VirtualRouters  []MeshResource `json:"virtualRouters"`
	Routes          []MeshResource `json:"routes"`
	VirtualNodes    []MeshResource `json:"virtualNodes"`
	VirtualGateways []MeshResource `json:"virtualGateways"`
	GatewayRoutes   []MeshResource `json:"gatewayRoutes"`
}

func resourceOf(r appmesh.Resource) MeshResource {
	out := MeshResource{Kind: r.Kind, Name: r.Name, Parent: r.Parent, ARN: r.ARN, Version: r.Version, Revision: r.Revision}
	switch {
	case r.MeshSpec != nil:
		out.Spec = r.MeshSpec
	case r.VirtualNode != nil:
		out.Spec = r.VirtualNode
	case r.VirtualRouter != nil:
		out.Spec = r.VirtualRouter
	case r.Route != nil:
		out.Spec = r.Route
	case r.VirtualService != nil:
		out.Spec = r.VirtualService
	case r.VirtualGateway != nil:
		out.Spec = r.VirtualGateway
	case r.GatewayRoute != nil:
		out.Spec = r.GatewayRoute
	default:
		out.Spec = struct{}{}
	}
	return out
}

func resourcesOf(rs []appmesh.Resource) []MeshResource {
	out := make([]MeshResource, len(rs))
	for i, r := range rs {
		out[i] = resourceOf(r)
	}
	return out
}

// meshes serves GET /console/api/meshes.
func (c *Console) meshes(w http.ResponseWriter, r *http.Request) {
	s, aerr := scopeOf(r)
	if aerr != nil {
		aerr.write(w)
		return
	}
	var names []string
	c.am.Meshes(func(account, region, mesh string) {
		if account == s.account && region == s.region {
			names = append(names, mesh)
		}
	})
	slices.Sort(names)
	out := make([]MeshSummary, 0, len(names))
	for _, name := range names {
		m, ok := c.am.Mesh(s.account, s.region, name)
		if !ok {
			continue // deleted since
		}
		sum := MeshSummary{Name: name, ARN: m.Mesh.ARN, Version: m.Mesh.Version, EgressFilter: "DROP_ALL",
			Counts: map[string]int{"virtualServices": len(m.VirtualServices), "virtualRouters": len(m.VirtualRouters),
				"routes": len(m.Routes), "virtualNodes": len(m.VirtualNodes), "virtualGateways": len(m.VirtualGateways),
				"gatewayRoutes": len(m.GatewayRoutes)}}
		if ms := m.Mesh.MeshSpec; ms != nil && ms.EgressFilter != nil && ms.EgressFilter.Type != nil {
			sum.EgressFilter = *ms.EgressFilter.Type
		}
		out = append(out, sum)
	}
	writeJSON(w, http.StatusOK, map[string]any{"meshes": out})
}

// mesh serves GET /console/api/meshes/{name}.
func (c *Console) mesh(w http.ResponseWriter, r *http.Request) {
	s, aerr := scopeOf(r)
	if aerr != nil {
		aerr.write(w)
		return
	}
	name := r.PathValue("name")
	m, ok := c.am.Mesh(s.account, s.region, name)
	if !ok {
		notFound("mesh", name).write(w)
		return
	}
	writeJSON(w, http.StatusOK, Mesh{Mesh: resourceOf(m.Mesh), VirtualServices: resourcesOf(m.VirtualServices),
		VirtualRouters: resourcesOf(m.VirtualRouters), Routes: resourcesOf(m.Routes), VirtualNodes: resourcesOf(m.VirtualNodes),
		VirtualGateways: resourcesOf(m.VirtualGateways), GatewayRoutes: resourcesOf(m.GatewayRoutes)})
}

// graph serves GET /console/api/meshes/{name}/graph.
func (c *Console) graph(w http.ResponseWriter, r *http.Request) {
	s, aerr := scopeOf(r)
	if aerr != nil {
		aerr.write(w)
		return
	}
	name := r.PathValue("name")
	m, ok := c.am.Mesh(s.account, s.region, name)
	if !ok {
		notFound("mesh", name).write(w)
		return
	}
	reg := &registry{cm: c.cm, account: s.account, region: s.region, nowMs: c.now().UnixMilli()}
	writeJSON(w, http.StatusOK, buildGraph(&m, reg))
}

// lowerTrim is how App Mesh names Cloud Map namespaces and services:
// case-insensitively, a trailing dot ignored (as xDS resolves them).
func lowerTrim(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) }
