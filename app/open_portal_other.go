//go:build !linux

package app

import "errors"

// portalOpen: the freedesktop portal exists on Linux desktops only.
func portalOpen(string, bool) error { return errors.New("no desktop portal") }
