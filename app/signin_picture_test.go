package app

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"eserver/node/api"
)

// newProfileApp is a test app whose profile lives in dir with settings
// prefs, as one start of the program on that profile; the same dir and
// prefs again are the next start.
func newProfileApp(t *testing.T, fa fyne.App, dir string, prefs fyne.Preferences, more ...func(*Options)) (*App, *fakeAPI) {
	t.Helper()
	fake := newFakeAPI()
	opts := Options{DefaultServer: testServer, Profile: "test", ProfileDir: dir, Prefs: prefs}
	for _, f := range more {
		f(&opts)
	}
	a := New(fa, fake, opts)
	a.run = func(f func()) { f() }
	a.apply(api.Event{Snapshot: &api.Snapshot{}})
	return a, fake
}

// writePicture writes a square PNG of one colour, as the node's picture
// cache holds our display picture, and returns its path and bytes.
func writePicture(t *testing.T, c color.Color) (string, []byte) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, api.AvatarSize, api.AvatarSize))
	for y := range api.AvatarSize {
		for x := range api.AvatarSize {
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "picture.png")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, buf.Bytes()
}

// signInPictureBytes is what the sign-in window's picture shows, or nil
// for the default picture.
func signInPictureBytes(a *App) []byte {
	r := a.signIn.avatar.Resource
	if r == nil || r == avatarResource {
		return nil
	}
	return r.Content()
}

// TestSignInPicture: the sign-in window shows the display picture of the
// remembered account at the next start, before signing in — and the
// default picture for anyone else, or once "Remember me" is unchecked.
func TestSignInPicture(t *testing.T) {
	fa := test.NewTempApp(t)
	dir := t.TempDir()
	prefs := NewMemoryPrefs()
	a, _ := newProfileApp(t, fa, dir, prefs)
	if signInPictureBytes(a) != nil {
		t.Fatal("a new profile's sign-in window shows a picture")
	}
	a.signIn.username.SetText("alice")
	a.signIn.password.SetText("secret")
	a.signIn.remember.SetChecked(true)
	test.Tap(a.signIn.button)
	red, redPNG := writePicture(t, color.RGBA{R: 255, A: 255})
	a.apply(api.Event{Account: &api.Account{Username: "alice", AvatarPath: red}})

	// The next start: the node's cache is not read (its file may be gone).
	os.Remove(red)
	b, _ := newProfileApp(t, fa, dir, prefs)
	if got := signInPictureBytes(b); !bytes.Equal(got, redPNG) {
		t.Fatalf("the sign-in window shows %d bytes, want alice's picture (%d bytes)", len(got), len(redPNG))
	}

	// A new picture is kept too; typing someone else's name shows the
	// default, and alice's again when her name is back.
	b.signIn.password.SetText("secret")
	test.Tap(b.signIn.button)
	blue, bluePNG := writePicture(t, color.RGBA{B: 255, A: 255})
	b.apply(api.Event{Account: &api.Account{Username: "alice", AvatarPath: blue}})
	c, _ := newProfileApp(t, fa, dir, prefs)
	if got := signInPictureBytes(c); !bytes.Equal(got, bluePNG) {
		t.Fatalf("after a change the sign-in window shows %d bytes, want the new picture", len(got))
	}
	test.Type(c.signIn.username, "x") // "alicex"
	if signInPictureBytes(c) != nil {
		t.Error("another username still shows alice's picture")
	}
	c.signIn.username.SetText("alice")
	if !bytes.Equal(signInPictureBytes(c), bluePNG) {
		t.Error("alice's picture not back with her name")
	}

	// Going back to the default picture forgets the kept one.
	c.signIn.password.SetText("secret")
	test.Tap(c.signIn.button)
	c.apply(api.Event{Account: &api.Account{Username: "alice"}})
	if d, _ := newProfileApp(t, fa, dir, prefs); signInPictureBytes(d) != nil {
		t.Error("the default picture chosen, yet the sign-in window shows the old one")
	}
	c.apply(api.Event{Account: &api.Account{Username: "alice", AvatarPath: blue}})

	// Forgetting me forgets the picture: nothing of it stays in the profile.
	c.signIn.remember.SetChecked(false)
	if signInPictureBytes(c) != nil {
		t.Error("still showing the picture after Remember me was unchecked")
	}
	if _, err := os.Stat(filepath.Join(dir, signInPictureFile)); err == nil {
		t.Error("the kept picture stays in the profile after Remember me was unchecked")
	}
	if d, _ := newProfileApp(t, fa, dir, prefs); signInPictureBytes(d) != nil {
		t.Error("the next start shows a forgotten picture")
	}
}

// TestSignInPictureNotRemembered: without "Remember me" nothing is kept.
func TestSignInPictureNotRemembered(t *testing.T) {
	fa := test.NewTempApp(t)
	dir := t.TempDir()
	prefs := NewMemoryPrefs()
	a, _ := newProfileApp(t, fa, dir, prefs)
	a.signIn.username.SetText("alice")
	a.signIn.password.SetText("secret")
	test.Tap(a.signIn.button)
	red, _ := writePicture(t, color.RGBA{R: 255, A: 255})
	a.apply(api.Event{Account: &api.Account{Username: "alice", AvatarPath: red}})
	if _, err := os.Stat(filepath.Join(dir, signInPictureFile)); err == nil {
		t.Error("a picture kept for an account that is not remembered")
	}
}
