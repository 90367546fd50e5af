package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"fyne.io/fyne/v2"
)

// Each profile keeps its settings (remembered sign-in, theme, notifications,
// folded groups, the node's start settings) in its own profile directory,
// not in the one preferences file Fyne keeps per app ID: two profiles
// running side by side wrote that shared file at once, and one of them
// found it torn ("Preferences load error: EOF") and lost its settings.
// Every change is written to a temporary file that is then renamed over the
// old one, so a reader — or a crash — sees the old file or the new one,
// never half of one.

// PrefsFile is the name of the settings file in a profile directory.
const PrefsFile = "app-settings.json"

// Prefs is a profile's settings: fyne.Preferences kept in one JSON file in
// the profile directory. Create it with OpenPrefs, or NewMemoryPrefs for
// settings that last as long as the process (tests). It is safe for
// concurrent use.
type Prefs struct {
	path string // "": in memory only

	mu        sync.Mutex
	values    map[string]json.RawMessage
	listeners []func()
	saveErr   error // the last save's error, logged once
}

var _ fyne.Preferences = (*Prefs)(nil)

// legacyKeys are the settings earlier versions kept in Fyne's shared
// preferences file, under the profile's prefix; OpenPrefs copies them into
// a profile that has no settings file yet, so nobody loses a setting on
// upgrading.
var legacyKeys = []struct {
	name string
	copy func(from, to fyne.Preferences, key, name string)
}{
	{prefRemember, copyBool}, {prefUsername, copyString}, {prefServer, copyString}, {prefStatus, copyString},
	{prefCollapsed, copyStringList}, {prefTheme, copyString}, {prefAwayMinutes, copyInt},
	{prefNotifySignIn, copyBool}, {prefNotifyMessages, copyBool}, {prefSounds, copyBool},
	{prefListenPort, copyInt}, {prefDownloadDir, copyString},
}

// legacyKey is the key under which earlier versions kept name for profile
// in Fyne's shared preferences.
func legacyKey(profile, name string) string {
	if profile == "" {
		return name
	}
	return "profile." + profile + "." + name
}

// A legacy value is copied only when it was set: Fyne's preferences answer
// a missing key with the type's zero value, which must not override a
// default such as "notifications on".
func copyBool(from, to fyne.Preferences, key, name string) {
	if v := from.BoolWithFallback(key, false); v == from.BoolWithFallback(key, true) {
		to.SetBool(name, v)
	}
}

func copyString(from, to fyne.Preferences, key, name string) {
	if v := from.String(key); v != "" {
		to.SetString(name, v)
	}
}

func copyInt(from, to fyne.Preferences, key, name string) {
	if v := from.IntWithFallback(key, -1); v == from.IntWithFallback(key, -2) {
		to.SetInt(name, v)
	}
}

func copyStringList(from, to fyne.Preferences, key, name string) {
	if v := from.StringList(key); len(v) > 0 {
		to.SetStringList(name, v)
	}
}

// OpenPrefs opens the settings of the profile in dir (creating dir if
// needed). The first time — no settings file yet — it copies the profile's
// settings from legacy, Fyne's shared preferences of earlier versions, if
// legacy is not nil; legacy is only read, never written. A settings file
// that cannot be parsed (edited by hand) is set aside as .bad and the
// profile starts from the defaults rather than not at all.
func OpenPrefs(dir string, legacy fyne.Preferences, profile string) (*Prefs, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	p := &Prefs{path: filepath.Join(dir, PrefsFile), values: map[string]json.RawMessage{}}
	b, err := os.ReadFile(p.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if legacy != nil {
			for _, k := range legacyKeys {
				k.copy(legacy, p, legacyKey(profile, k.name), k.name)
			}
		}
		return p, nil
	case err != nil:
		return nil, fmt.Errorf("settings: %w", err)
	}
	if err := json.Unmarshal(b, &p.values); err != nil {
		fyne.LogError("settings file "+p.path+" is not valid JSON; starting from the defaults", err)
		_ = os.Rename(p.path, p.path+".bad")
		p.values = map[string]json.RawMessage{}
	}
	return p, nil
}

// NewMemoryPrefs returns empty settings that are never written anywhere.
func NewMemoryPrefs() *Prefs { return &Prefs{values: map[string]json.RawMessage{}} }

// Path is the settings file, or "" for settings kept in memory.
func (p *Prefs) Path() string { return p.path }

// get decodes key's value into v and reports whether it was there and of
// v's type.
func (p *Prefs) get(key string, v any) bool {
	p.mu.Lock()
	raw, ok := p.values[key]
	p.mu.Unlock()
	return ok && json.Unmarshal(raw, v) == nil
}

// set stores v under key (removes key when remove is set), writes the file
// and tells the listeners.
func (p *Prefs) set(key string, v any, remove bool) {
	p.mu.Lock()
	if remove {
		if _, ok := p.values[key]; !ok {
			p.mu.Unlock()
			return
		}
		delete(p.values, key)
	} else {
		raw, err := json.Marshal(v)
		if err != nil { // only NaN and infinities fail; keep the old value
			p.mu.Unlock()
			fyne.LogError("settings: "+key, err)
			return
		}
		p.values[key] = raw
	}
	err := p.saveLocked()
	logIt := err != nil && (p.saveErr == nil || p.saveErr.Error() != err.Error())
	p.saveErr = err
	listeners := slices.Clone(p.listeners)
	p.mu.Unlock()
	if logIt {
		fyne.LogError("saving settings", err)
	}
	for _, l := range listeners {
		l()
	}
}

// saveLocked writes the settings to a temporary file beside the real one,
// flushes it to disk and renames it over the real one. The caller holds mu.
func (p *Prefs) saveLocked() error {
	if p.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(p.values, "", "\t")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p.path), ".app-settings-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p.path)
}

// Bool implements fyne.Preferences.
func (p *Prefs) Bool(key string) bool { return p.BoolWithFallback(key, false) }

// BoolWithFallback implements fyne.Preferences.
func (p *Prefs) BoolWithFallback(key string, fallback bool) bool {
	var v bool
	if p.get(key, &v) {
		return v
	}
	return fallback
}

// SetBool implements fyne.Preferences.
func (p *Prefs) SetBool(key string, value bool) { p.set(key, value, false) }

// BoolList implements fyne.Preferences.
func (p *Prefs) BoolList(key string) []bool { return p.BoolListWithFallback(key, nil) }

// BoolListWithFallback implements fyne.Preferences.
func (p *Prefs) BoolListWithFallback(key string, fallback []bool) []bool {
	var v []bool
	if p.get(key, &v) {
		return v
	}
	return fallback
}

// SetBoolList implements fyne.Preferences.
func (p *Prefs) SetBoolList(key string, value []bool) { p.set(key, value, false) }

// Float implements fyne.Preferences.
func (p *Prefs) Float(key string) float64 { return p.FloatWithFallback(key, 0) }

// FloatWithFallback implements fyne.Preferences.
func (p *Prefs) FloatWithFallback(key string, fallback float64) float64 {
	var v float64
	if p.get(key, &v) {
		return v
	}
	return fallback
}

// SetFloat implements fyne.Preferences.
func (p *Prefs) SetFloat(key string, value float64) { p.set(key, value, false) }

// FloatList implements fyne.Preferences.
func (p *Prefs) FloatList(key string) []float64 { return p.FloatListWithFallback(key, nil) }

// FloatListWithFallback implements fyne.Preferences.
func (p *Prefs) FloatListWithFallback(key string, fallback []float64) []float64 {
	var v []float64
	if p.get(key, &v) {
		return v
	}
	return fallback
}

// SetFloatList implements fyne.Preferences.
func (p *Prefs) SetFloatList(key string, value []float64) { p.set(key, value, false) }

// Int implements fyne.Preferences.
func (p *Prefs) Int(key string) int { return p.IntWithFallback(key, 0) }

// IntWithFallback implements fyne.Preferences.
func (p *Prefs) IntWithFallback(key string, fallback int) int {
	var v int
	if p.get(key, &v) {
		return v
	}
	return fallback
}

// SetInt implements fyne.Preferences.
func (p *Prefs) SetInt(key string, value int) { p.set(key, value, false) }

// IntList implements fyne.Preferences.
func (p *Prefs) IntList(key string) []int { return p.IntListWithFallback(key, nil) }

// IntListWithFallback implements fyne.Preferences.
func (p *Prefs) IntListWithFallback(key string, fallback []int) []int {
	var v []int
	if p.get(key, &v) {
		return v
	}
	return fallback
}

// SetIntList implements fyne.Preferences.
func (p *Prefs) SetIntList(key string, value []int) { p.set(key, value, false) }

// String implements fyne.Preferences.
func (p *Prefs) String(key string) string { return p.StringWithFallback(key, "") }

// StringWithFallback implements fyne.Preferences.
func (p *Prefs) StringWithFallback(key, fallback string) string {
	var v string
	if p.get(key, &v) {
		return v
	}
	return fallback
}

// SetString implements fyne.Preferences.
func (p *Prefs) SetString(key string, value string) { p.set(key, value, false) }

// StringList implements fyne.Preferences.
func (p *Prefs) StringList(key string) []string { return p.StringListWithFallback(key, nil) }

// StringListWithFallback implements fyne.Preferences.
func (p *Prefs) StringListWithFallback(key string, fallback []string) []string {
	var v []string
	if p.get(key, &v) {
		return v
	}
	return fallback
}

// SetStringList implements fyne.Preferences.
func (p *Prefs) SetStringList(key string, value []string) { p.set(key, value, false) }

// RemoveValue implements fyne.Preferences.
func (p *Prefs) RemoveValue(key string) { p.set(key, nil, true) }

// AddChangeListener implements fyne.Preferences.
func (p *Prefs) AddChangeListener(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.listeners = append(p.listeners, f)
}

// ChangeListeners implements fyne.Preferences.
func (p *Prefs) ChangeListeners() []func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.listeners)
}
