//go:build !linux

package node

import "os"

func fdatasync(f *os.File) error { return f.Sync() }
