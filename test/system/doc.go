// Package system runs the real mapmesh binary as a process and drives every
// surface at once: the Cloud Map and App Mesh APIs through aws-sdk-go-v2,
// DNS through miekg/dns, and xDS through an ADS client that ACKs like Envoy,
// with the health checker probing listeners the tests open and close.
//
// The tests assert what a user relies on under load and faults: no call
// hangs (every call has a deadline; one that passes it is reported as
// hung) or answers 5xx; the final state equals what was acknowledged, in
// the API, in DNS and in xDS; acknowledged writes survive SIGKILL; reset,
// quotas, slow clients and a full disk get the documented answers.
//
// The binary is built once per run (or taken from MAPMESH_BIN). The mixed
// load runs 15 seconds; MAPMESH_SOAK=5m makes it run that long (and
// TestKill9MixedLoad run 10 rounds, and TestMirrorHang its slow case). The
// disk-full test needs root to mount a tmpfs and skips otherwise.
package system
