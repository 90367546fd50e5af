//go:build (dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd

package app

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/godbus/dbus/v5"
)

// secretsName is the Secret Service's name on the session bus.
const secretsName = "org.freedesktop.secrets"

// keyringAvailable reports whether a Secret Service runs on the session
// bus, or would start when asked. Without a session bus there is none: the
// bus is found as godbus finds it, but never started for us (a bus started
// just to find no keyring on it would outlive the app).
func keyringAvailable() bool {
	conn, err := dbus.SessionBusPrivateNoAutoStartup()
	if err != nil {
		return false
	}
	defer conn.Close()
	if err := conn.Auth(nil); err != nil {
		return false
	}
	if err := conn.Hello(); err != nil {
		return false
	}
	ok, err := hasSecretService(conn)
	return err == nil && ok
}

// hasSecretService asks the bus on conn whether the Secret Service is on
// it, or is a service the bus starts on demand (GNOME Keyring is, and
// starts at the first call).
func hasSecretService(conn *dbus.Conn) (bool, error) {
	// A wedged bus must not keep the sign-in window waiting.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	bus := conn.BusObject()
	var owned bool
	if err := bus.CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, secretsName).Store(&owned); err != nil {
		return false, fmt.Errorf("asking the session bus for the keyring: %w", err)
	}
	if owned {
		return true, nil
	}
	var activatable []string
	if err := bus.CallWithContext(ctx, "org.freedesktop.DBus.ListActivatableNames", 0).Store(&activatable); err != nil {
		return false, fmt.Errorf("asking the session bus for the keyring: %w", err)
	}
	return slices.Contains(activatable, secretsName), nil
}
