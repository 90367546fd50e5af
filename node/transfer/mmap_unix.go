//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package transfer

import (
	"os"
	"syscall"
)

// mapFile maps length bytes of f from off (page-aligned) read-only, or
// returns nil.
func mapFile(f *os.File, off, length int64) []byte {
	if length <= 0 || int64(int(length)) != length {
		return nil
	}
	data, err := syscall.Mmap(int(f.Fd()), off, int(length), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil
	}
	adviseSequential(data)
	return data
}

func unmapFile(data []byte) { syscall.Munmap(data) }
