//go:build !linux || !cgo || wayland

package app

import "time"

// x11 is unavailable in this build (another OS, no cgo, or Fyne's Wayland
// build): idle time and window focus come from our own windows instead.
type x11 struct{}

func openX11() *x11 { return nil }

func (*x11) Idle() (time.Duration, bool) { return 0, false }
func (*x11) hasIdle() bool               { return false }
func (*x11) focusedWindow() uint64       { return 0 }
