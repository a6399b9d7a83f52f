//go:build !linux

package boltstore

import "os"

// fdatasync flushes f; elsewhere than Linux, with a full fsync.
func fdatasync(f *os.File) error { return f.Sync() }

// dropMapped does nothing elsewhere than Linux.
func dropMapped(uintptr, int) error { return nil }
