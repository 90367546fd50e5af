package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	gokeyring "github.com/zalando/go-keyring"

	"eserver/node/api"
)

// memKeyring is a keyring in memory: tests never touch the user's own.
type memKeyring struct {
	mu        sync.Mutex
	missing   bool // no keyring on this desktop
	passwords map[string]string
}

func newMemKeyring() *memKeyring { return &memKeyring{passwords: map[string]string{}} }

func (k *memKeyring) Available() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return !k.missing
}

func (k *memKeyring) Password(user string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.missing {
		return "", errors.New("no keyring")
	}
	pw, ok := k.passwords[user]
	if !ok {
		return "", ErrNoPassword
	}
	return pw, nil
}

func (k *memKeyring) SetPassword(user, pw string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.missing {
		return errors.New("no keyring")
	}
	k.passwords[user] = pw
	return nil
}

func (k *memKeyring) DeletePassword(user string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.passwords, user)
	return nil
}

func (k *memKeyring) kept(user string) (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	pw, ok := k.passwords[user]
	return pw, ok
}

// start starts a as the program does, and stops it when the test ends.
func start(t *testing.T, a *App) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a.Start(ctx)
	t.Cleanup(func() { cancel(); a.Wait() })
}

func withKeyring(kr Keyring) func(*Options) { return func(o *Options) { o.Keyring = kr } }

// TestSignInAutomatically: with "Sign me in automatically" checked, a
// successful sign-in keeps the password in the keyring, and the next start
// signs in by itself; signing out removes the password and the choice.
func TestSignInAutomatically(t *testing.T) {
	fa := test.NewTempApp(t)
	dir, prefs, kr := t.TempDir(), NewMemoryPrefs(), newMemKeyring()

	a, _ := newProfileApp(t, fa, dir, prefs, withKeyring(kr))
	start(t, a)
	if a.signIn.keyringNote.Visible() || a.signIn.auto.Disabled() {
		t.Fatalf("keyring present, yet the window says %q (box disabled %v)", a.signIn.keyringNote.Text, a.signIn.auto.Disabled())
	}
	a.signIn.auto.SetChecked(true)
	if !a.signIn.remember.Checked {
		t.Error("signing in automatically without remembering the username")
	}
	a.signIn.username.SetText("alice")
	a.signIn.password.SetText("secret")
	test.Tap(a.signIn.button)
	if pw, ok := kr.kept("alice"); !ok || pw != "secret" {
		t.Fatalf("keyring keeps %q (%v), want alice's password", pw, ok)
	}
	assertNoPasswordOnDisk(t, dir, prefs, "secret")

	// The next start signs in by itself.
	b, fake := newProfileApp(t, fa, dir, prefs, withKeyring(kr))
	start(t, b)
	if b.account == nil || b.account.Username != "alice" {
		t.Fatalf("not signed in automatically: calls %v, error %q", fake.Calls(), b.signIn.errText.Text)
	}
	if got := fake.LoginRequest(); got.Username != "alice" || got.Password != "secret" || got.Server != testServer {
		t.Errorf("signed in with %+v", got)
	}
	if b.signIn.password.Text != "" {
		t.Error("the kept password stays in the sign-in window")
	}
	if !b.signIn.auto.Checked {
		t.Error("the box is unchecked after signing in automatically")
	}

	// Signing out forgets the password and the choice.
	b.main.signOutItem.Action()
	if _, ok := kr.kept("alice"); ok {
		t.Error("the password stays in the keyring after signing out")
	}
	if b.signIn.auto.Checked {
		t.Error("still set to sign in automatically after signing out")
	}
	c, fake := newProfileApp(t, fa, dir, prefs, withKeyring(kr))
	start(t, c)
	if c.account != nil || fake.Called("Login") {
		t.Errorf("signed in automatically after signing out: %v", fake.Calls())
	}
	if c.signIn.username.Text != "alice" {
		t.Errorf("the username is no longer remembered: %q", c.signIn.username.Text)
	}
}

// TestSignInAutomaticallyWrongPassword: a kept password that no longer
// works (changed on another computer) is forgotten, and the sign-in
// window says so; a server that cannot be reached keeps it for next time,
// and unchecking the box then forgets it.
func TestSignInAutomaticallyWrongPassword(t *testing.T) {
	fa := test.NewTempApp(t)
	dir, prefs, kr := t.TempDir(), NewMemoryPrefs(), newMemKeyring()
	prefs.SetBool(prefRemember, true)
	prefs.SetString(prefUsername, "alice")
	prefs.SetBool(prefAutoSignIn, true)
	kr.SetPassword("alice", "old")

	// Unreachable: nothing is forgotten.
	a, fake := newProfileApp(t, fa, dir, prefs, withKeyring(kr))
	fake.Fail("Login", fmt.Errorf("dial: %w", api.ErrUnreachable))
	start(t, a)
	if a.account != nil || !fake.Called("Login") {
		t.Fatalf("calls %v", fake.Calls())
	}
	if !strings.Contains(a.signIn.errText.Text, "could not be reached") {
		t.Errorf("error %q", a.signIn.errText.Text)
	}
	if _, ok := kr.kept("alice"); !ok || !a.signIn.auto.Checked {
		t.Error("an unreachable server made the app forget the password")
	}
	if a.signIn.password.Text != "" {
		t.Error("the kept password is left in the password box")
	}
	a.signIn.auto.SetChecked(false)
	if _, ok := kr.kept("alice"); ok {
		t.Error("unchecking the box leaves the password in the keyring")
	}

	// Wrong: forgotten, and said.
	prefs.SetBool(prefAutoSignIn, true)
	kr.SetPassword("alice", "old")
	b, fake := newProfileApp(t, fa, dir, prefs, withKeyring(kr))
	fake.Fail("Login", fmt.Errorf("login: %w", api.ErrLoginFailed))
	start(t, b)
	if b.account != nil {
		t.Fatal("signed in with a wrong password")
	}
	if got := b.signIn.errText.Text; !b.signIn.errText.Visible() || !strings.Contains(got, "no longer right") {
		t.Errorf("the sign-in window says %q", got)
	}
	if _, ok := kr.kept("alice"); ok || b.signIn.auto.Checked || prefs.Bool(prefAutoSignIn) {
		t.Error("the wrong password is still kept to sign in with")
	}
	if b.signIn.username.Text != "alice" {
		t.Errorf("username %q", b.signIn.username.Text)
	}
}

// TestNoKeyring: where the desktop has no keyring the box cannot be
// checked, the window says why in words, and the password is kept
// nowhere.
func TestNoKeyring(t *testing.T) {
	for _, tt := range []struct {
		name string
		kr   Keyring
	}{
		{"none given", nil},
		{"desktop without one", &memKeyring{missing: true, passwords: map[string]string{}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, prefs := t.TempDir(), NewMemoryPrefs()
			prefs.SetBool(prefAutoSignIn, true) // chosen on a desktop that had one
			a, fake := newProfileApp(t, test.NewTempApp(t), dir, prefs, withKeyring(tt.kr))
			start(t, a)
			if !a.signIn.keyringNote.Visible() || a.signIn.keyringNote.Text != noKeyringText() {
				t.Errorf("note %q (visible %v)", a.signIn.keyringNote.Text, a.signIn.keyringNote.Visible())
			}
			if !a.signIn.auto.Disabled() || a.signIn.auto.Checked {
				t.Error("the box can be checked without a keyring")
			}
			if fake.Called("Login") {
				t.Error("signed in automatically without a keyring")
			}
			a.signIn.remember.SetChecked(true)
			a.signIn.username.SetText("alice")
			a.signIn.password.SetText("secret")
			test.Tap(a.signIn.button)
			if a.account == nil {
				t.Fatal("not signed in")
			}
			assertNoPasswordOnDisk(t, dir, prefs, "secret")
		})
	}
}

// assertNoPasswordOnDisk fails if the password is in the profile's files
// or settings.
func assertNoPasswordOnDisk(t *testing.T, dir string, prefs fyne.Preferences, pw string) {
	t.Helper()
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if b, _ := os.ReadFile(path); strings.Contains(string(b), pw) {
				t.Errorf("%s holds the password", path)
			}
		}
		return nil
	})
	for _, k := range []string{prefUsername, prefServer, prefStatus, prefPictureOf} {
		if strings.Contains(prefs.String(k), pw) {
			t.Errorf("setting %s holds the password", k)
		}
	}
}

// TestSystemKeyringMock: the desktop keyring's adapter over go-keyring's
// in-memory provider (never the user's keyring): a missing password is
// ErrNoPassword, forgetting one that is not there is no error, and two
// profiles keep two passwords for one username.
func TestSystemKeyringMock(t *testing.T) {
	gokeyring.MockInit()
	one, two := SystemKeyring("/profiles/one"), SystemKeyring("/profiles/two")
	if _, err := one.Password("alice"); !errors.Is(err, ErrNoPassword) {
		t.Fatalf("no password: %v", err)
	}
	if err := one.SetPassword("alice", "pw-one"); err != nil {
		t.Fatal(err)
	}
	if err := two.SetPassword("alice", "pw-two"); err != nil {
		t.Fatal(err)
	}
	if pw, err := one.Password("alice"); err != nil || pw != "pw-one" {
		t.Errorf("profile one: %q, %v", pw, err)
	}
	if err := one.DeletePassword("alice"); err != nil {
		t.Fatal(err)
	}
	if err := one.DeletePassword("alice"); err != nil {
		t.Errorf("forgetting twice: %v", err)
	}
	if pw, err := two.Password("alice"); err != nil || pw != "pw-two" {
		t.Errorf("profile two after one forgot: %q, %v", pw, err)
	}
}

// TestNoSecretServiceOnBus: a real session bus of our own (dbus-daemon)
// with no keyring on it, as on a bare Xvfb: the desktop keyring reports
// none, and the sign-in window says so.
func TestNoSecretServiceOnBus(t *testing.T) {
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		t.Skipf("dbus-daemon not installed: %v", err)
	}
	cmd := exec.Command("dbus-daemon", "--session", "--nofork", "--print-address")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", strings.TrimSpace(addr))

	kr := SystemKeyring(t.TempDir())
	if kr.Available() {
		t.Fatal("a keyring reported on a bus without one")
	}
	a, _ := newProfileApp(t, test.NewTempApp(t), t.TempDir(), NewMemoryPrefs(), withKeyring(kr))
	start(t, a)
	if !a.signIn.keyringNote.Visible() || !a.signIn.auto.Disabled() {
		t.Error("the sign-in window offers to remember the password without a keyring")
	}
}
