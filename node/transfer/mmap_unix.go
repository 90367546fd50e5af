//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package transfer

import (
	"os"
	"syscall"
)

// mapFile maps size bytes of f read-only, or returns nil.
func mapFile(f *os.File, size int64) []byte {
	if size <= 0 || int64(int(size)) != size {
		return nil
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil
	}
	adviseSequential(data)
	return data
}

func unmapFile(data []byte) { syscall.Munmap(data) }
