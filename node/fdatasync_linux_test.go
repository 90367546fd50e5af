package node

import (
	"os"
	"syscall"
	"time"
)

// fdatasync is what SQLite calls to commit on Linux.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

// cpuTime is the CPU time (user and system) the process has used: the
// benchmarks' steadier figure on a shared machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
