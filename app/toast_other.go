//go:build !(linux || freebsd || openbsd || netbsd)

package app

import (
	"context"

	"fyne.io/fyne/v2"
)

// desktopNotifier is Fyne's: on macOS and Windows notifications need no
// service that may be missing.
func desktopNotifier(app fyne.App) func(context.Context, *fyne.Notification) (uint32, error) {
	return appNotifier(app)
}

// desktopWithdraw is Fyne's: nothing to take a notification back with.
func desktopWithdraw() func(context.Context, uint32) error { return noWithdraw }
