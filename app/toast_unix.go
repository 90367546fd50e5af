//go:build linux || freebsd || openbsd || netbsd

package app

import (
	"context"
	"fmt"
	"os"

	"fyne.io/fyne/v2"
	"github.com/godbus/dbus/v5"
)

// desktopNotifier sends notifications to the freedesktop notification
// service over the session bus itself rather than through Fyne, whose
// SendNotification reports no failure (it logs a line for each one): the
// app must know, to show a toast instead (toast.go).
func desktopNotifier(app fyne.App) func(context.Context, *fyne.Notification) (uint32, error) {
	if os.Getenv("FLATPAK_ID") != "" { // not translated: environment
		return appNotifier(app) // Fyne goes through the sandbox's portal there
	}
	return func(ctx context.Context, n *fyne.Notification) (uint32, error) {
		conn, err := dbus.SessionBus() // shared: not ours to close
		if err != nil {
			return 0, fmt.Errorf("connecting to the session bus: %w", err)
		}
		obj := conn.Object("org.freedesktop.Notifications", "/org/freedesktop/Notifications")
		// app name, id to replace (none), icon, summary, body, actions,
		// hints, timeout (-1: the server's default).
		call := obj.CallWithContext(ctx, "org.freedesktop.Notifications.Notify", 0, "EServer", uint32(0), "",
			n.Title, n.Content, []string{}, map[string]dbus.Variant{}, int32(-1))
		if call.Err != nil {
			return 0, fmt.Errorf("sending a desktop notification: %w", call.Err)
		}
		var id uint32
		if err := call.Store(&id); err != nil {
			return 0, nil // shown; only it cannot be taken back
		}
		return id, nil
	}
}

// desktopWithdraw takes a notification back from the freedesktop service
// (CloseNotification): a conversation read on any device leaves no popup
// behind. Under Flatpak, where Fyne's portal showed it, there is no ID.
func desktopWithdraw() func(context.Context, uint32) error {
	if os.Getenv("FLATPAK_ID") != "" { // not translated: environment
		return noWithdraw
	}
	return func(ctx context.Context, id uint32) error {
		conn, err := dbus.SessionBus()
		if err != nil {
			return fmt.Errorf("connecting to the session bus: %w", err)
		}
		obj := conn.Object("org.freedesktop.Notifications", "/org/freedesktop/Notifications")
		if call := obj.CallWithContext(ctx, "org.freedesktop.Notifications.CloseNotification", 0, id); call.Err != nil {
			return fmt.Errorf("withdrawing a desktop notification: %w", call.Err)
		}
		return nil
	}
}
