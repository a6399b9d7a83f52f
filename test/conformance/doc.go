// Package conformance holds mapmesh's black-box tests: each test boots a real
// server in-process on 127.0.0.1 and drives it the way users do, with the
// aws-sdk-go-v2 servicediscovery client (host prefix injection left on) and
// with raw HTTP for the wire details the SDK hides. The assertions are AWS's
// behaviour as documented (API reference, SDK model) or observed, not
// mapmesh's choices; errors_test.go maps every modeled error of every
// operation to the test that produces it.
package conformance
