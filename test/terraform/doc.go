// Package terraform drives a mapmesh server with the real Terraform CLI and
// the hashicorp/aws provider, offline: the provider comes from a filesystem
// mirror (TF_MIRROR, default /opt/tf-plugins). Its test has the build tag
// e2e and runs with `make test-terraform` (two to three minutes, most of it the
// provider starting); without terraform on PATH or the mirror it skips.
package terraform
