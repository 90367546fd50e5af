package node

import (
	"os"
	"syscall"
)

// fdatasync is what SQLite calls to commit on Linux.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
