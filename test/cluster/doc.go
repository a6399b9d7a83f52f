// Package cluster runs mapmesh in cluster mode as a user would: a 3-member
// etcd cluster of processes (etcdtest.StartCluster, built from the pinned
// etcd server module) and several real mapmesh processes on it (--store
// etcd), driven from outside through the Cloud Map and App Mesh APIs
// (aws-sdk-go-v2), DNS (miekg/dns) and xDS (an ADS client that ACKs like
// Envoy), with the health checker probing TCP listeners the tests own.
//
// The tests show what the cluster promises: every server serves every
// surface from its own watch-fed projections, and a write on one is visible
// on the others within milliseconds; idempotency tokens, operations and
// InstancesRevision agree across servers; each health-checked instance is
// probed by one live server, and a dead server's probes move to a survivor
// within the lease TTL and an interval or two; an etcd member that dies
// under load loses no acknowledged write, and an etcd without a quorum makes
// writes fail with a retryable 503 while reads keep answering, until it
// comes back.
//
// They need -tags etcd (make test-cluster): they build the mapmesh binary
// (or use MAPMESH_BIN) and etcd's member program (which fsyncs, as etcd
// does), and run for about three minutes.
package cluster
