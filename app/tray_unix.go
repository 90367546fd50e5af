//go:build linux || freebsd || openbsd || netbsd

package app

import "github.com/godbus/dbus/v5"

// probeTrayHost asks the session bus whether a StatusNotifierItem host
// (the freedesktop tray protocol Fyne's tray speaks) is running.
func probeTrayHost() bool {
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		return false
	}
	defer conn.Close()
	var has bool
	err = conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.kde.StatusNotifierWatcher").Store(&has)
	return err == nil && has
}
