//go:build cgo

package sdk_test

// haveCgo: Go may leave name resolution to the C library (glibc).
const haveCgo = true
