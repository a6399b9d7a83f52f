// Package k8simport reads the Kubernetes manifests of the AWS App Mesh
// controller (aws/aws-app-mesh-controller-for-k8s, API group
// appmesh.k8s.aws/v1beta2: Mesh, VirtualNode, VirtualService,
// VirtualRouter, VirtualGateway, GatewayRoute) and makes or updates the
// App Mesh resources they stand for through the App Mesh API, as the
// controller does, so that a mesh run by the controller can move to
// mapmesh without Kubernetes.
//
// ReadPath and Parse read the objects (multi-document YAML or JSON, List
// objects, directories). Build turns them into a Plan: App Mesh resources
// in dependency order (meshes, virtual nodes, virtual routers, routes,
// virtual services, virtual gateways, gateway routes), each with its SDK
// spec, and notes on what was left out. Apply makes what does not exist
// and updates what differs, comparing specs first, so running it again on
// the same input changes nothing and no version moves.
//
// The controller's rules, from its source (webhooks/appmesh/*_mutator.go,
// pkg/mesh/membership_designator.go, pkg/virtualgateway/
// membership_designator.go, pkg/references) and docs/reference/
// api_design.md, at commit 7588d122c3c4:
//
//   - App Mesh names: spec.awsName when set; else a Mesh's name, a
//     VirtualService's "name.namespace", and for VirtualNode,
//     VirtualRouter, VirtualGateway and GatewayRoute "name_namespace".
//     Routes are named by spec.routes[].name.
//   - Mesh membership: spec.meshRef when set (objects exported from a
//     cluster carry it); else the one Mesh whose namespaceSelector matches
//     the labels of the object's Namespace. A missing namespaceSelector
//     selects nothing, an empty one everything. Namespace objects of the
//     input give the labels; Options.Mesh stands in when they cannot.
//   - A GatewayRoute's gateway: spec.virtualGatewayRef when set; else the
//     one VirtualGateway whose namespaceSelector matches the route's
//     Namespace's labels and whose gatewayRouteSelector (missing: all)
//     matches the route's labels. It must be in the route's mesh.
//   - References (virtualNodeRef, virtualServiceRef, virtualRouterRef,
//     virtualGatewayRef) name a Kubernetes object, in the referring
//     object's namespace unless they say otherwise, and stand for its App
//     Mesh name; the object must be in the same mesh. ARNs
//     (virtualNodeARN, ...) stand for the name in the ARN. An object that
//     is not in the input is taken to have the default name and must then
//     exist in the mesh.
//
// What is left out, with a note each time: podSelector (VirtualNode,
// VirtualGateway), backendGroups, a Mesh's namespaceSelector and
// meshOwner, a VirtualGateway's namespaceSelector and gatewayRouteSelector
// (used above, not part of App Mesh), objects of other kinds (used:
// Namespaces), and routes of an imported router that its manifest does not
// list (the controller deletes them; an import leaves them). A DNS
// service discovery hostname of the cluster's DNS (*.svc.cluster.local) is
// kept as it is, with a note: only Envoys that use the cluster's DNS
// resolve it. A field App Mesh does not have is an error, as are
// references to objects found neither in the input nor in the mesh.
package k8simport
