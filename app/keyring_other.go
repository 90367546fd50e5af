//go:build !((dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd)

package app

// keyringAvailable: macOS's Keychain and Windows' Credential Manager are
// always there.
func keyringAvailable() bool { return true }
