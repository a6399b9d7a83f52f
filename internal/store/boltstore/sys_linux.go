package boltstore

import (
	"os"
	"syscall"
)

// fdatasync flushes f's data (and only the metadata needed to read it back).
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

// dropMapped tells the kernel that the process no longer needs the n bytes
// of the file mapped at addr in memory: they leave its RSS and stay in the
// page cache, and a later read maps them again without I/O. The pages of
// bbolt's read-only shared mapping are never dirty (bbolt writes with
// pwrite), so nothing is lost.
func dropMapped(addr uintptr, n int) error {
	if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, addr, uintptr(n), syscall.MADV_DONTNEED); e != 0 {
		return e
	}
	return nil
}
