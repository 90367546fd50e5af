package app

import (
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"

	"fyne.io/fyne/v2"

	"eserver/node/api"
)

// The sign-in window shows the display picture of the remembered account,
// as MSN's did, before anyone signs in. The node cannot tell it then: its
// profile.json remembers only the server and the last username, and which
// of the cached pictures (pictures/own/<hash>.png, shared by every account
// of the profile) is the account's own is known only from that account's
// database, which the node opens at sign-in and the app never reads
// (it talks to the node through api.API alone). So the app keeps a copy of
// the picture — already a small thumbnail, api.AvatarSize pixels square —
// beside the profile's settings file whenever the remembered account's
// picture is set or changes, and forgets it with "Remember me".

const (
	// signInPictureFile is the copy of the remembered account's picture,
	// in the profile directory beside PrefsFile.
	signInPictureFile = "signin-picture.png"
	// prefPictureOf names the account whose picture the copy is.
	prefPictureOf = "signin.pictureOf"
)

// signInPicturePath is where the copy is kept, or "" when the app knows no
// profile directory (then nothing is kept).
func (a *App) signInPicturePath() string {
	if a.opts.ProfileDir == "" {
		return ""
	}
	return filepath.Join(a.opts.ProfileDir, signInPictureFile)
}

// showSignInPicture shows, in the sign-in window, the kept picture when the
// username typed is the remembered account's, else the default picture.
func (a *App) showSignInPicture() {
	s := a.signIn
	var res fyne.Resource = avatarResource
	user := foldUsername(s.username.Text)
	if path := a.signInPicturePath(); path != "" && user != "" && a.prefs.Bool(prefRemember) &&
		a.prefs.String(prefPictureOf) == user {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			// Named by content: Fyne caches decoded images by name, and a
			// new picture under the old name would show the old one.
			res = fyne.NewStaticResource(fmt.Sprintf("signin-%x.png", hashOf(b)), b)
		}
	}
	if s.avatar.Resource == res || s.avatar.Resource != nil && s.avatar.Resource.Name() == res.Name() {
		return
	}
	s.avatar.File, s.avatar.Resource = "", res
	s.avatar.Refresh()
}

// keepSignInPicture keeps a copy of acc's picture for the sign-in window
// when acc is the remembered account: at sign-in and whenever the picture
// changes. The default picture removes the copy.
func (a *App) keepSignInPicture(acc api.Account) {
	path := a.signInPicturePath()
	if path == "" || !a.prefs.Bool(prefRemember) || a.prefs.String(prefUsername) != acc.Username {
		return
	}
	s := a.signIn
	if acc.AvatarPath == "" {
		if a.prefs.String(prefPictureOf) != "" {
			a.forgetSignInPicture()
		}
		return
	}
	if acc.AvatarPath == s.pictureFrom && a.prefs.String(prefPictureOf) == acc.Username {
		return // the account changed, its picture did not
	}
	s.pictureFrom = acc.AvatarPath
	b, err := os.ReadFile(acc.AvatarPath)
	if err == nil && len(b) > api.MaxAvatarBytes {
		err = fmt.Errorf("%d bytes, more than a display picture has", len(b))
	}
	if err == nil {
		err = writeFileAtomic(path, b)
	}
	if err != nil {
		// The sign-in window then shows the default picture: worth a log
		// line, not a word to the person.
		fyne.LogError("keeping the display picture for the sign-in window", err)
		return
	}
	a.prefs.SetString(prefPictureOf, acc.Username)
}

// forgetSignInPicture removes the kept picture.
func (a *App) forgetSignInPicture() {
	a.prefs.RemoveValue(prefPictureOf)
	a.signIn.pictureFrom = ""
	if path := a.signInPicturePath(); path != "" {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			fyne.LogError("forgetting the sign-in window's picture", err)
		}
	}
	a.showSignInPicture()
}

// writeFileAtomic writes b to path through a temporary file renamed over
// it, so a reader (the next start) sees the old picture or the new one,
// never half of one.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// hashOf is a short fingerprint of b, to name a resource by its content.
func hashOf(b []byte) uint64 {
	h := fnv.New64a() // no security needed: a different name for different bytes
	h.Write(b)
	return h.Sum64()
}
