// Package xds is mapmesh's xDS control plane: it turns the App Mesh
// resources of internal/appmesh, with endpoints from the Cloud Map registry
// of internal/cloudmap, into Envoy configuration, and serves it over ADS
// (gRPC, v3, state of the world and delta) to Envoy sidecars and gateways
// and to proxyless gRPC clients.
//
// The pipeline is the one STYLE.md names:
//
//	appmesh / cloudmap read models (Subscribe, then read)
//	  -> Build(Input, Node): a pure function from one mesh and its registry
//	     to the listeners, routes, clusters and endpoints of one node
//	  -> a go-control-plane SnapshotCache per client kind, one snapshot per
//	     node key, each resource type versioned by the store revision at
//	     which it last changed for that node
//	  -> the ADS gRPC server (Server), which also records every client's
//	     ACKs and NACKs for GET /_mapmesh/xds/clients.
//
// A node is what a client's node.id names: mesh/<mesh>/virtualNode/<name>,
// mesh/<mesh>/virtualGateway/<name>, or the resource's ARN. Every replica of
// a virtual node shares one snapshot. Clients whose user agent is gRPC get
// the proxyless rendering (listeners named for the virtual services the node
// calls, each with an ApiListener); everything else gets the Envoy sidecar
// rendering with App Mesh's names (lds_ingress_0.0.0.0_15000,
// lds_egress_0.0.0.0_15001, rds_*_http_<port>, cds_*_<mesh>_<node>_<protocol>_<port>).
//
// With Config.Verifier (the server's --auth sigv4), every call is
// authenticated by the SigV4 signature in its metadata, as App Mesh's Envoy
// signs it, and its node is bound to the signer's account (auth.go); with
// Config.ClientCA, clients must present a certificate the CA signed.
//
// docs/xds.md describes the translation, authentication, and what is left
// out.
package xds
