package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"fyne.io/fyne/v2/test"

	"eserver/node/api"
)

// TestProfilesKeepTheirOwnSettings: two profiles running at once, in one
// process here as two Apps, keep their settings in their own profile
// directories. Neither writes the Fyne app's shared preferences, where they
// used to tear each other's file (issue 14, item 10).
func TestProfilesKeepTheirOwnSettings(t *testing.T) {
	fa := test.NewTempApp(t)
	dirs := map[string]string{"alice": t.TempDir(), "bob": t.TempDir()}
	apps := map[string]*App{}
	for name, dir := range dirs {
		prefs, err := OpenPrefs(dir, fa.Preferences(), name)
		if err != nil {
			t.Fatal(err)
		}
		a := New(fa, newFakeAPI(), Options{DefaultServer: testServer, Profile: name, ProfileDir: dir, Prefs: prefs})
		a.run = func(f func()) { f() }
		a.apply(api.Event{Snapshot: &api.Snapshot{}})
		apps[name] = a
	}
	for name, a := range apps {
		a.signIn.remember.SetChecked(true)
		a.signIn.username.SetText(name)
		a.signIn.password.SetText("secret-" + name)
		test.Tap(a.signIn.button)
		if a.account == nil {
			t.Fatalf("%s not signed in: %q", name, a.signIn.errText.Text)
		}
	}
	apps["alice"].setTheme(themeDark)

	for name, dir := range dirs {
		if got := fa.Preferences().String(legacyKey(name, prefUsername)) + fa.Preferences().String(prefUsername); got != "" {
			t.Errorf("%s's username went to Fyne's shared preferences: %q", name, got)
		}
		// The next start of the profile reads its own file.
		again, err := OpenPrefs(dir, nil, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := again.String(prefUsername); got != name {
			t.Errorf("%s's profile remembers username %q", name, got)
		}
		wantTheme := themeLight
		if name == "alice" {
			wantTheme = themeDark
		}
		if got := newTheme(again.String(prefTheme)).name; got != wantTheme {
			t.Errorf("%s's profile has theme %q, want %q", name, got, wantTheme)
		}
		b, err := os.ReadFile(filepath.Join(dir, PrefsFile))
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(b) {
			t.Errorf("%s's settings file is not JSON: %q", name, b)
		}
	}
}

// TestPrefsWrittenAtomically: a reader of the settings file while settings
// change always finds a whole file, the old one or the new one — never an
// empty or half-written one.
func TestPrefsWrittenAtomically(t *testing.T) {
	dir := t.TempDir()
	p, err := OpenPrefs(dir, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	p.SetString("padding", string(make([]byte, 64<<10))) // a file that takes more than one write
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 200 {
			p.SetInt("counter", i)
		}
	}()
	for range 500 {
		b, err := os.ReadFile(filepath.Join(dir, PrefsFile))
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(b) {
			t.Fatalf("read a torn settings file (%d bytes)", len(b))
		}
	}
	wg.Wait()
	again, err := OpenPrefs(dir, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Int("counter"); got != 199 {
		t.Errorf("counter %d after reopening, want 199", got)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".app-settings-*")); len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

// TestPrefsFromEarlierVersions: a profile without a settings file gets what
// earlier versions kept for it in Fyne's shared preferences, and only that:
// another profile's values and unset defaults stay out.
func TestPrefsFromEarlierVersions(t *testing.T) {
	legacy := test.NewTempApp(t).Preferences()
	legacy.SetString(legacyKey("bob", prefUsername), "bob")
	legacy.SetBool(legacyKey("bob", prefRemember), true)
	legacy.SetBool(legacyKey("bob", prefSounds), false)
	legacy.SetInt(legacyKey("bob", prefListenPort), 4242)
	legacy.SetStringList(legacyKey("bob", prefCollapsed), []string{"offline"})
	legacy.SetString(legacyKey("carol", prefTheme), themeDark)

	dir := t.TempDir()
	p, err := OpenPrefs(dir, legacy, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if p.String(prefUsername) != "bob" || !p.Bool(prefRemember) || p.BoolWithFallback(prefSounds, true) ||
		ReadStartSettings(p).ListenPort != 4242 || len(p.StringList(prefCollapsed)) != 1 {
		t.Errorf("not brought over: username %q remember %v sounds %v port %d collapsed %v", p.String(prefUsername),
			p.Bool(prefRemember), p.BoolWithFallback(prefSounds, true), ReadStartSettings(p).ListenPort, p.StringList(prefCollapsed))
	}
	if !p.BoolWithFallback(prefNotifyMessages, true) {
		t.Error("an unset default was brought over as false")
	}
	if p.String(prefTheme) != "" {
		t.Errorf("another profile's theme came along: %q", p.String(prefTheme))
	}
	// Once the profile has its file, the shared preferences are not read.
	legacy.SetString(legacyKey("bob", prefUsername), "changed")
	if again, _ := OpenPrefs(dir, legacy, "bob"); again.String(prefUsername) != "bob" {
		t.Errorf("read the shared preferences again: %q", again.String(prefUsername))
	}
}

// TestPrefsBadFile: a settings file that is not JSON (edited by hand) does
// not stop the profile starting; it is kept aside for its owner.
func TestPrefsBadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, PrefsFile)
	if err := os.WriteFile(path, []byte(`{"signin.username": "al`), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := OpenPrefs(dir, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if p.String(prefUsername) != "" {
		t.Errorf("username %q from a broken file", p.String(prefUsername))
	}
	if _, err := os.Stat(path + ".bad"); err != nil {
		t.Errorf("broken file not kept: %v", err)
	}
	p.SetString(prefUsername, "alice")
	if again, _ := OpenPrefs(dir, nil, ""); again.String(prefUsername) != "alice" {
		t.Errorf("after a broken file, settings are not saved: %q", again.String(prefUsername))
	}
}
