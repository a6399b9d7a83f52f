//go:build !cgo

package sdk_test

// haveCgo: Go resolves names itself (static binaries).
const haveCgo = false
