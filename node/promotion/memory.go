package promotion

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// ErrNoMemAvailable means /proc/meminfo has no MemAvailable line (a kernel
// older than 3.14, or not Linux).
var ErrNoMemAvailable = errors.New("promotion: no MemAvailable in /proc/meminfo")

// ProcMemAvailable is the default MemoryProbe: the kernel's MemAvailable,
// its estimate of the memory new work can take without swapping (free
// memory plus reclaimable cache), which is what a supernode's mailboxes and
// connections will need. MemFree would understate it on any machine that
// has been up a while.
func ProcMemAvailable() (uint64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("reading meminfo: %w", err)
	}
	return parseMemAvailable(b)
}

// parseMemAvailable finds "MemAvailable:  1234 kB" and returns bytes.
func parseMemAvailable(b []byte) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) < 2 || string(f[0]) != "MemAvailable:" {
			continue
		}
		n, err := strconv.ParseUint(string(f[1]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parsing MemAvailable %q: %w", f[1], err)
		}
		mul := uint64(1)
		if len(f) >= 3 {
			switch string(f[2]) {
			case "kB":
				mul = 1 << 10
			default:
				return 0, fmt.Errorf("parsing MemAvailable: unknown unit %q", f[2])
			}
		}
		return n * mul, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("reading meminfo: %w", err)
	}
	return 0, ErrNoMemAvailable
}
