//go:build !linux && !freebsd && !openbsd && !netbsd

package app

// probeTrayHost: Windows and macOS always have a notification area.
func probeTrayHost() bool { return true }
