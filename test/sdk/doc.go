// Package sdk shows and checks how the AWS SDK for Go v2 reaches mapmesh:
// the endpoint forms and the client option of README's table ("The data-
// host prefix"). Its examples run against a mapmesh started in-process
// with --dns-self-name mapmesh.internal; TestSystemResolver runs the
// forms that depend on the machine's name resolution, with no client
// option at all, inside test/netns/run (make test-endpoints) and skips
// elsewhere.
package sdk
