package app

import (
	"errors"
	"fmt"

	gokeyring "github.com/zalando/go-keyring"
)

// Keyring keeps the password for "Sign me in automatically": the desktop's
// keyring (SystemKeyring), never a file of ours. Its methods may talk to
// the desktop (D-Bus) and wait for it, even for an unlock prompt: call them
// off Fyne's goroutine.
type Keyring interface {
	// Available reports whether the desktop has a keyring to keep
	// passwords in.
	Available() bool
	// Password returns the password kept for username, or ErrNoPassword.
	Password(username string) (string, error)
	// SetPassword keeps password for username, replacing one kept before.
	SetPassword(username, password string) error
	// DeletePassword forgets the password of username; forgetting one
	// that is not kept is no error.
	DeletePassword(username string) error
}

// ErrNoPassword: the keyring keeps no password for that user.
var ErrNoPassword = errors.New("no password kept in the keyring")

// SystemKeyring is the desktop's keyring — the Secret Service over D-Bus on
// Linux and the BSDs (GNOME Keyring, KWallet, KeePassXC), the Keychain on
// macOS, the Credential Manager on Windows — holding the passwords of the
// profile in profileDir: each profile is its own "service", so two profiles
// with the same username (at two servers, say) keep two passwords.
func SystemKeyring(profileDir string) Keyring {
	return systemKeyring{service: "EServer (" + profileDir + ")"} // not translated: the keyring entry's name, which must not change with the language
}

type systemKeyring struct{ service string }

// Available asks the desktop whether a keyring answers (keyring_unix.go):
// on a bare X server or a headless session there is none, and trying one
// would fail every time — or, with no session bus, start one.
func (k systemKeyring) Available() bool { return keyringAvailable() }

func (k systemKeyring) Password(username string) (string, error) {
	pw, err := gokeyring.Get(k.service, username)
	if errors.Is(err, gokeyring.ErrNotFound) {
		return "", ErrNoPassword
	}
	if err != nil {
		return "", fmt.Errorf("reading the password from the keyring: %w", err)
	}
	return pw, nil
}

func (k systemKeyring) SetPassword(username, password string) error {
	if err := gokeyring.Set(k.service, username, password); err != nil {
		return fmt.Errorf("keeping the password in the keyring: %w", err)
	}
	return nil
}

func (k systemKeyring) DeletePassword(username string) error {
	err := gokeyring.Delete(k.service, username)
	if err != nil && !errors.Is(err, gokeyring.ErrNotFound) {
		return fmt.Errorf("removing the password from the keyring: %w", err)
	}
	return nil
}
