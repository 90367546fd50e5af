//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package transfer

// adviseSequential does nothing where package syscall has no madvise.
func adviseSequential([]byte) {}
